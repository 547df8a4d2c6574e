// The shared corpus in testdata/ (testdata/README.md), read by the *.test.ts files only,
// never by the page: the JSON forms of the API types (bytes as hex, u64 as decimal strings,
// principals as text) turned into the bindings' types. crates/verify/tests/corpus/json.rs
// writes and reads the same forms. Entries, heads and proofs are read by ./json (bundles use
// them too).

export { entryFrom, proofFrom, type JsonEntry, type JsonGeneration, type JsonProof } from './json';

import { Principal } from '@icp-sdk/core/principal';
import type { Tensor, TensorData } from '../bindings/inference';
// As text, parsed here: Vite's JSON import re-serialises large files, which turns -0 into 0.
import hashingText from '../../../testdata/hashing.json?raw';
import hostText from '../../../testdata/host-log-proof.json?raw';
import merkleText from '../../../testdata/merkle.json?raw';
import verifierText from '../../../testdata/verifier.json?raw';
import { fromHex } from './bytes';
import { entryFrom, proofFrom, type JsonEntry, type JsonProof } from './json';
import { DEFAULT_MAX_AGE_MS, type CheckKey, type CheckStatus, type Held, type Trust } from './verifier';

export interface JsonTensor {
  name: string;
  dtype: TensorData['__kind__'];
  shape: string[];
  data: Array<number | string | boolean>;
}

interface JsonTrust {
  root_key: string;
  canister_id: string;
  now_ns: string;
  max_age_ns: string;
}

interface JsonHeld {
  opening: { inputs: JsonTensor[]; nonce: string | null; outputs: JsonTensor[] } | null;
  receipt: JsonEntry | null;
  model_sha256: string | null;
  code_certificate?: string | null;
  expected_module_hashes?: string[];
}

export interface ExpectedCheck {
  check: CheckKey;
  status: CheckStatus;
  reason?: string;
}

export interface LogProofCase {
  name: string;
  trust: JsonTrust;
  held: JsonHeld;
  proof: JsonProof;
  expected: { verified: boolean; checks: ExpectedCheck[] };
}

export interface HashingCorpus {
  tensor_lists: Array<{
    name: string;
    tensors: JsonTensor[];
    encoding: string;
    input_hash: string;
    output_hash: string;
    salted: Array<{ nonce: string; input_hash: string | null }>;
  }>;
  entries: Array<{ name: string; entry: JsonEntry; bytes: string; leaf_hash: string }>;
  code_epoch_entries: Array<{ name: string; entry: JsonEntry; bytes: string; leaf_hash: string }>;
  generation_entries: Array<{ name: string; entry: JsonEntry; bytes: string; leaf_hash: string }>;
  model_entries: Array<{ name: string; entry: JsonEntry; bytes: string; leaf_hash: string }>;
  model_entry_bytes_that_do_not_decode: Array<{ name: string; bytes: string }>;
  entries_without_encoding: Array<{ name: string; entry: JsonEntry; reason: string }>;
  entry_bytes_that_do_not_decode: Array<{ name: string; bytes: string }>;
  leb128: Array<{ value: string; bytes: string }>;
  leb128_invalid: Array<{ name: string; bytes: string }>;
  heads: Array<{ size: string; root: string; commitment: string; witness: string }>;
  leaf_hashes: Array<{ data: string; hash: string }>;
  node_hashes: Array<{ left: string; right: string; hash: string }>;
}

export interface InclusionProbe {
  name: string;
  index: string;
  size: string;
  leaf_hash: string;
  proof: string[];
  root: string;
  reason: string;
}

export interface MerkleCorpus {
  trees: Array<{
    name: string;
    leaves: string[];
    roots: string[];
    inclusion: Array<{ index: string; size: string; proof: string[] }>;
    consistency: Array<{ from_size: string; to_size: string; proof: string[] }>;
  }>;
  inclusion_probes: InclusionProbe[];
  consistency_probes: Array<{
    name: string;
    from_size: string;
    to_size: string;
    from_root: string;
    to_root: string;
    proof: string[];
    reason: string;
  }>;
  u64_scale: { index: string; size: string; root: string; probes: InclusionProbe[] };
}

export interface VerifierCorpus {
  log_proofs: LogProofCase[];
  sweeps: Array<{ case: string; field: string; xor: number; check: CheckKey }>;
}

export const hashing = JSON.parse(hashingText) as HashingCorpus;
export const merkle = JSON.parse(merkleText) as MerkleCorpus;
export const verifier = JSON.parse(verifierText) as VerifierCorpus;

export function tensorFrom(t: JsonTensor): Tensor {
  const numbers = () => t.data.map(Number);
  const dataOf = (): TensorData => {
    switch (t.dtype) {
      case 'f32':
        return { __kind__: 'f32', f32: numbers() };
      case 'f64':
        return { __kind__: 'f64', f64: numbers() };
      case 'i64':
        return { __kind__: 'i64', i64: BigInt64Array.from(t.data, (v) => BigInt(v as string)) };
      case 'i32':
        return { __kind__: 'i32', i32: Int32Array.from(numbers()) };
      case 'i8':
        return { __kind__: 'i8', i8: Int8Array.from(numbers()) };
      case 'u8':
        return { __kind__: 'u8', u8: Uint8Array.from(numbers()) };
      case 'bool':
        return { __kind__: 'bool', bool: t.data.map((v) => v === true) };
    }
  };
  return { name: t.name, shape: BigUint64Array.from(t.shape, (d) => BigInt(d)), data: dataOf() };
}

/** The corpus's trust in nanoseconds, on the page's millisecond clock (times are ms-aligned). */
export function trustFrom(t: JsonTrust): Trust {
  return {
    rootKey: fromHex(t.root_key),
    rootKeySource: 'the corpus',
    canisterId: Principal.fromText(t.canister_id),
    nowMs: Number(BigInt(t.now_ns) / 1_000_000n),
    maxAgeMs: Number(BigInt(t.max_age_ns) / 1_000_000n),
  };
}

export function heldFrom(h: JsonHeld): Held {
  const held: Held = {};
  if (h.opening) {
    held.opening = {
      inputs: h.opening.inputs.map(tensorFrom),
      outputs: h.opening.outputs.map(tensorFrom),
      ...(h.opening.nonce === null ? {} : { nonce: fromHex(h.opening.nonce) }),
    };
  }
  if (h.receipt) held.receipt = entryFrom(h.receipt);
  if (h.model_sha256) held.modelSha256 = fromHex(h.model_sha256);
  if (h.code_certificate) held.codeCertificate = fromHex(h.code_certificate);
  if (h.expected_module_hashes?.length) held.expectedModuleHashes = h.expected_module_hashes.map(fromHex);
  return held;
}

interface HostFixture {
  root_key: string;
  canister_id: string;
  opening: { inputs: JsonTensor[]; nonce: string; outputs: JsonTensor[]; receipt: JsonEntry };
  proof: JsonProof;
}

const hostJson = JSON.parse(hostText) as HostFixture;

/** testdata/host-log-proof.json: a proof `icinfer serve` made, with what its caller kept. */
export const host = {
  proof: proofFrom(hostJson.proof),
  held: heldFrom({ opening: hostJson.opening, receipt: hostJson.opening.receipt, model_sha256: null }),
  /** Trust in the host's root key, `afterMs` after the entry (its certificate came a moment after). */
  trust: (afterMs = 1_000, overrides: Partial<Trust> = {}): Trust => ({
    rootKey: fromHex(hostJson.root_key),
    rootKeySource: 'the host that made the fixture',
    canisterId: Principal.fromText(hostJson.canister_id),
    nowMs: Number(BigInt(hostJson.proof.entry.timestamp_ns) / 1_000_000n) + afterMs,
    maxAgeMs: DEFAULT_MAX_AGE_MS,
    ...overrides,
  }),
};
