// What the views share: the connection, the models, and what the page holds of the
// inferences made in it (their openings: inputs, nonce, outputs; and receipts, by log
// sequence number). They live in memory only: the nonce is the secret that keeps a salted
// input hash hiding.

import type { ModelInfo } from './bindings/inference';
import type { PageConfig } from './config';
import type { Connection } from './connection';
import type { Release } from './verify/release';
import type { Held } from './verify/verifier';

export interface App {
  readonly config: PageConfig;
  connection: Connection;
  models: ModelInfo[];
  readonly openings: Map<bigint, Held>;
  /** Release manifests known to the page (release.json beside it, or dropped): they name a module's release. */
  readonly releases: Release[];
  /** Shows the verification of log entry `seq` (fetches its proof). */
  verify(seq: bigint): void;
  /** Re-reads the log (after an inference). */
  refreshLog(): void;
  /** Selects a model in the inference view. */
  useModel(id: string): void;
}
