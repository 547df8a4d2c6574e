// Provenance bundles (docs/provenance.md, "Content labels"): one JSON file beside a generated
// file that proves, from the IC root key alone, which log entry the file is the output of
// and which code wrote that entry. A port of crates/verify/src/bundle.rs: the same form, the
// same checks (verifyLogProof on each proof the bundle holds, then the attribution and the
// content), the same reason codes, held to the same cases (testdata/bundle.json).

import type { Principal } from '@icp-sdk/core/principal';
import type { VerifyFunc } from '@icp-sdk/core/agent';
import type { CodeEpoch, LogEntry, LogProof } from '../bindings/inference';
import { bytesEqual, sha256, shortHex, toHex } from './bytes';
import { bytes, field, JsonError, principal, proofFrom, text, u64 } from './json';
import { OUTPUTS_DOMAIN } from './tensor';
import { verifyLogProof, type CheckStatus, type Report } from './verifier';

export const FORMAT = 'icinfer-provenance-bundle';
export const VERSION = 1;
/** As bundle.rs: two proofs and three certificates, as hex. */
export const MAX_BUNDLE_BYTES = 8 << 20;
/** How far each certificate's time may be from the bundle's created_ns. */
export const MAX_SKEW_MS = 5 * 60 * 1000;

export interface Bundle {
  canisterId: Principal;
  network: string;
  createdNs: bigint;
  entry: LogProof;
  codeEpoch?: LogProof;
  codeCertificate?: Uint8Array;
  contentFile?: string;
}

export type BundleReason = 'bundle-too-large' | 'not-json' | 'not-a-bundle' | 'unsupported-bundle-version' | 'malformed-bundle';

export class BundleError extends Error {
  constructor(
    readonly reason: BundleReason,
    message: string,
  ) {
    super(message);
  }
}

export function parseBundle(textValue: string): Bundle {
  // Characters, not bytes: a bundle is ASCII (hex, decimal, principals), so the same bound.
  if (textValue.length > MAX_BUNDLE_BYTES) {
    throw new BundleError('bundle-too-large', `the bundle is ${textValue.length} bytes; a bundle is at most ${MAX_BUNDLE_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch {
    throw new BundleError('not-json', 'the bundle is not JSON');
  }
  if (field(value, 'format') !== FORMAT) throw new BundleError('not-a-bundle', `the file's format is not "${FORMAT}"`);
  const version = field(value, 'version');
  if (version !== VERSION) {
    throw new BundleError(
      'unsupported-bundle-version',
      `bundle version ${JSON.stringify(version)}: this page reads version ${VERSION} (a later release reads later ones)`,
    );
  }
  try {
    const epoch = field(value, 'code_epoch');
    const certificate = field(value, 'code_certificate');
    const file = field(field(value, 'content'), 'file');
    return {
      canisterId: principal(field(value, 'canister_id'), 'canister_id'),
      network: text(field(value, 'network'), 'network'),
      createdNs: u64(field(value, 'created_ns'), 'created_ns'),
      entry: proofFrom(field(value, 'entry'), 'entry'),
      ...(epoch === null ? {} : { codeEpoch: proofFrom(epoch, 'code_epoch') }),
      ...(certificate === null ? {} : { codeCertificate: bytes(certificate, 'code_certificate') }),
      ...(file === null ? {} : { contentFile: text(file, 'content.file') }),
    };
  } catch (e) {
    if (e instanceof JsonError) throw new BundleError('malformed-bundle', `malformed bundle: ${e.message}`);
    throw e;
  }
}

export type ContentHashing = 'completion-bytes' | 'output-tensor-list';

/** How a content file hashes to the entry's output hash, by its kind; none for a code epoch. */
export function contentHashing(entry: LogEntry): ContentHashing | undefined {
  switch (entry.kind?.__kind__) {
    case undefined:
    case 'inference':
      return 'output-tensor-list';
    case 'generation':
      return 'completion-bytes';
    default:
      return undefined;
  }
}

export function contentHash(hashing: ContentHashing, content: Uint8Array): Uint8Array {
  return hashing === 'output-tensor-list' ? sha256(OUTPUTS_DOMAIN, content) : sha256(content);
}

export interface Outcome {
  status: CheckStatus;
  detail: string;
  reason?: string;
}

export type BundlePart = 'entry' | 'code-epoch' | 'attribution' | 'content';

export interface BundleReport {
  verified: boolean;
  entry: Report;
  epoch?: Report;
  attribution: Outcome;
  content: Outcome;
  /** The first failure: which part, and why. */
  failure?: { part: BundlePart; reason: string; detail: string };
  /** The epoch that wrote the entry, once proven. */
  writtenBy?: { epochSeq: bigint; epoch: CodeEpoch };
}

const NO_EPOCH =
  'The bundle holds no code epoch (the entry predates code epochs, or its epoch was not recorded yet): the entry is not attributed to a module.';
const NO_CONTENT = 'No content file was given.';
const NOT_RUN = 'Not checked: an earlier check failed.';

export interface BundleTrust {
  rootKey: Uint8Array;
  rootKeySource: string;
  /** Replaces BLS verification (tests only). */
  blsVerify?: VerifyFunc;
}

function provenEntry(report: Report | undefined, proof: LogProof | undefined): LogEntry | undefined {
  return report?.verified && proof ? proof.entry : undefined;
}

export async function verifyBundle(
  bundle: Bundle,
  trust: BundleTrust,
  content?: Uint8Array,
  expectedModuleHashes: Uint8Array[] = [],
): Promise<BundleReport> {
  const logTrust = {
    rootKey: trust.rootKey,
    rootKeySource: trust.rootKeySource,
    canisterId: bundle.canisterId,
    nowMs: Number(bundle.createdNs / 1_000_000n),
    maxAgeMs: MAX_SKEW_MS,
    ...(trust.blsVerify ? { blsVerify: trust.blsVerify } : {}),
  };
  const entryReport = await verifyLogProof(bundle.entry, logTrust, {
    ...(bundle.codeCertificate ? { codeCertificate: bundle.codeCertificate } : {}),
    expectedModuleHashes,
  });
  const epochReport = bundle.codeEpoch ? await verifyLogProof(bundle.codeEpoch, logTrust, {}) : undefined;
  // A proven entry is the one its bytes decode to, which the entry check made equal to the
  // entry shown.
  const entry = provenEntry(entryReport, bundle.entry);
  const epochEntry = provenEntry(epochReport, bundle.codeEpoch);

  let attribution: Outcome;
  let writtenBy: BundleReport['writtenBy'];
  if (!bundle.codeEpoch) {
    attribution = { status: 'skipped', detail: NO_EPOCH };
  } else if (!entry || !epochEntry) {
    attribution = { status: 'not-run', detail: NOT_RUN };
  } else {
    ({ outcome: attribution, writtenBy } = checkAttribution(entry, epochEntry));
  }

  let contentOutcome: Outcome;
  if (!content) {
    contentOutcome = { status: 'skipped', detail: NO_CONTENT };
  } else if (!entry) {
    contentOutcome = { status: 'not-run', detail: NOT_RUN };
  } else {
    contentOutcome = checkContent(entry, content);
  }

  const failure = firstFailure(entryReport, epochReport, attribution, contentOutcome);
  return {
    verified: !failure,
    entry: entryReport,
    ...(epochReport ? { epoch: epochReport } : {}),
    attribution,
    content: contentOutcome,
    ...(failure ? { failure } : {}),
    ...(writtenBy && !failure ? { writtenBy } : {}),
  };
}

/** That a proven code epoch entry covers a proven entry: the code that wrote it. */
export function checkAttribution(
  entry: LogEntry,
  epochEntry: LogEntry,
): { outcome: Outcome; writtenBy?: { epochSeq: bigint; epoch: CodeEpoch } } {
  if (epochEntry.kind?.__kind__ !== 'code_epoch') {
    return {
      outcome: { status: 'failed', reason: 'not-a-code-epoch', detail: `entry #${epochEntry.seq}, named as the code epoch, is not a code epoch` },
    };
  }
  const epoch = epochEntry.kind.code_epoch;
  if (epoch.first_index > entry.seq) {
    return {
      outcome: {
        status: 'failed',
        reason: 'epoch-after-entry',
        detail: `the code epoch begins at entry #${epoch.first_index}, after entry #${entry.seq}: it did not write it`,
      },
    };
  }
  return {
    writtenBy: { epochSeq: epochEntry.seq, epoch },
    outcome: {
      status: 'passed',
      detail: `Entry #${entry.seq} falls in the code epoch that began at entry #${epoch.first_index} (recorded as entry #${epochEntry.seq}, proven): written by module ${toHex(epoch.module_hash)} (${epoch.mode} at canister version ${epoch.deployed_version}).`,
    },
  };
}

/** The content's bytes against the entry's output hash, hashed by the entry's kind. */
export function checkContent(entry: LogEntry, content: Uint8Array): Outcome {
  const hashing = contentHashing(entry);
  if (!hashing) {
    return { status: 'failed', reason: 'no-content', detail: "the entry is a code epoch's: it has no output to hash content against" };
  }
  const hash = contentHash(hashing, content);
  if (!bytesEqual(hash, entry.output_hash)) {
    return {
      status: 'failed',
      reason: 'output-hash-mismatch',
      detail: `the content hashes to ${toHex(hash)}, not to the entry's output_hash ${toHex(entry.output_hash)}`,
    };
  }
  const how = hashing === 'completion-bytes' ? 'a completion, hashed as they are' : "the outputs' canonical tensor list";
  return {
    status: 'passed',
    detail: `The content's ${content.length} bytes (${how}) hash to the entry's output_hash ${shortHex(hash)}.`,
  };
}

function firstFailure(
  entry: Report,
  epoch: Report | undefined,
  attribution: Outcome,
  content: Outcome,
): BundleReport['failure'] {
  if (entry.failure) return { part: 'entry', reason: entry.failure.reason ?? 'unexpected', detail: entry.failure.detail };
  if (epoch?.failure) return { part: 'code-epoch', reason: epoch.failure.reason ?? 'unexpected', detail: epoch.failure.detail };
  for (const [part, outcome] of [
    ['attribution', attribution],
    ['content', content],
  ] as const) {
    if (outcome.status === 'failed') return { part, reason: outcome.reason ?? 'unexpected', detail: outcome.detail };
  }
  return undefined;
}
