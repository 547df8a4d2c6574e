// The canonical encoding of a provenance log entry: what the canister stores and the bytes
// of the entry's Merkle leaf (docs/hashing.md, "Log entry encoding"; the Rust original is
// crates/verify/src/entry.rs). Version 1, and version 2 (written since jobs):
//
//   version:u8 (= 1) | seq:u64 | timestamp_ns:u64 | caller_len:u8 | caller
//   | model_id_len:u8 | model_id | model_sha256 (32) | input_hash (32) | output_hash (32)
//   | flags:u8 (bit 0: input salted) | instructions:u64          integers little-endian
//
//   version:u8 (= 2) | kind:u8 (1 = inference, 2 = generation) | seq:u64 | timestamp_ns:u64
//   | caller_len:u8 | caller | instructions:u64 | messages:u64 | model_id_len:u8 | model_id
//   | model_sha256 | input_hash | output_hash | flags:u8
//   then, for a generation (input_hash: the prompt commitment, output_hash: the completion's):
//   | tokenizer_sha256 (32) | completion_tokens_sha256 (32) | prompt_tokens:u32
//   | generated_tokens:u32 | stop_reason:u8 (1 max_new_tokens, 2 eos, 3 stop_sequence,
//   4 context_full) | sampling: 0 (greedy) | 1 temperature:f32 (0 | 1 top_k:u32)
//   (0 | 1 top_p:f32) seed (32)                             f32 as IEEE 754 bits, finite
//
// A v2 entry of another kind (added by later releases) is refused, not guessed at. In the
// Candid record, `messages` is undefined for a v1 entry and set for a v2 one; `kind` is
// undefined for an inference (and an inference entry decodes with it undefined).
// Decoding accepts exactly the bytes encoding produces, so every entry has one encoding and
// the leaf hash identifies the entry. testdata/hashing.json pins the encodings and the bytes
// that must not decode.

import { Principal } from '@icp-sdk/core/principal';
import {
  DeploymentMode,
  type CodeEpoch,
  type GenerationReceipt,
  type LogEntry,
  type Sampling,
  type StopReason,
} from '../bindings/inference';
import { bytesEqual, concatBytes, u32le, u64le, utf8 } from './bytes';

export const ENTRY_VERSION = 2;
export const ENTRY_VERSION_1 = 1;
export const KIND_INFERENCE = 1;
export const KIND_GENERATION = 2;
export const KIND_CODE_EPOCH = 3;
const MAX_EPOCH_CONTROLLERS = 32;
const MODES: DeploymentMode[] = [DeploymentMode.install, DeploymentMode.reinstall, DeploymentMode.upgrade];
const MAX_PRINCIPAL_BYTES = 29;
export const SEED_BYTES = 32;

/** stop_reason's byte in the encoding (1 to 4), in the order docs/hashing.md lists them. */
const STOP_CODES = ['max_new_tokens', 'eos', 'stop_sequence', 'context_full'] as StopReason[];

/** Why an entry has no canonical encoding (the Rust EncodeError's cases). */
export class EntryEncodeError extends Error {
  constructor(
    readonly reason: 'digest-length' | 'model-id-too-long' | 'not-canonical' | 'too-many-controllers' | 'kind-needs-version-2' | 'sampling',
    message: string,
  ) {
    super(message);
  }
}

const EMPTY_DIGEST = new Uint8Array(32);

/** A code epoch's inference fields are empty: not encoded, so nothing else has an encoding. */
function hasEmptyInferenceFields(entry: LogEntry): boolean {
  return (
    entry.model_id === '' &&
    !entry.input_salted &&
    [entry.model_sha256, entry.input_hash, entry.output_hash].every((d) => bytesEqual(d, EMPTY_DIGEST))
  );
}

function encodeCodeEpoch(entry: LogEntry, epoch: CodeEpoch): Uint8Array {
  if (entry.messages === undefined || !hasEmptyInferenceFields(entry)) {
    throw new EntryEncodeError('not-canonical', 'a code epoch entry must have empty model, input and output fields and a messages count');
  }
  if (epoch.module_hash.length !== 32) {
    throw new EntryEncodeError('digest-length', `module_hash must be a 32-byte SHA-256, got ${epoch.module_hash.length} bytes`);
  }
  if (epoch.controllers.length > MAX_EPOCH_CONTROLLERS) {
    throw new EntryEncodeError('too-many-controllers', `a code epoch of ${epoch.controllers.length} controllers`);
  }
  const caller = entry.caller.toUint8Array();
  return concatBytes(
    Uint8Array.of(ENTRY_VERSION, KIND_CODE_EPOCH),
    u64le(entry.seq),
    u64le(entry.timestamp_ns),
    Uint8Array.of(caller.length),
    caller,
    u64le(entry.instructions),
    u64le(entry.messages),
    u64le(epoch.first_index),
    u64le(epoch.canister_version),
    u64le(epoch.started_ns),
    epoch.module_hash,
    Uint8Array.of(MODES.indexOf(epoch.mode) + 1),
    u64le(epoch.deployed_version),
    u64le(epoch.deployed_ns),
    u64le(epoch.total_num_changes),
    Uint8Array.of(epoch.controllers.length),
    ...epoch.controllers.flatMap((c) => [Uint8Array.of(c.toUint8Array().length), c.toUint8Array()]),
  );
}

export function encodeEntry(entry: LogEntry): Uint8Array {
  if (entry.kind?.__kind__ === 'code_epoch') return encodeCodeEpoch(entry, entry.kind.code_epoch);
  const caller = entry.caller.toUint8Array();
  const modelId = utf8(entry.model_id);
  if (modelId.length > 255) {
    throw new EntryEncodeError('model-id-too-long', `model id of ${modelId.length} bytes does not fit its length byte`);
  }
  const digests: Array<[string, Uint8Array]> = [
    ['model_sha256', entry.model_sha256],
    ['input_hash', entry.input_hash],
    ['output_hash', entry.output_hash],
  ];
  for (const [field, digest] of digests) {
    if (digest.length !== 32) {
      throw new EntryEncodeError('digest-length', `${field} must be a 32-byte SHA-256, got ${digest.length} bytes`);
    }
  }
  const body = [
    Uint8Array.of(modelId.length),
    modelId,
    ...digests.map(([, digest]) => digest),
    Uint8Array.of(entry.input_salted ? 1 : 0),
  ];
  const seqTimeCaller = [u64le(entry.seq), u64le(entry.timestamp_ns), Uint8Array.of(caller.length), caller];
  const generation = entry.kind?.__kind__ === 'generation' ? entry.kind.generation : undefined;
  if (entry.messages === undefined) {
    if (generation) throw new EntryEncodeError('kind-needs-version-2', 'a generation entry must record its messages');
    return concatBytes(Uint8Array.of(ENTRY_VERSION_1), ...seqTimeCaller, ...body, u64le(entry.instructions));
  }
  return concatBytes(
    Uint8Array.of(ENTRY_VERSION, generation ? KIND_GENERATION : KIND_INFERENCE),
    ...seqTimeCaller,
    u64le(entry.instructions),
    u64le(entry.messages),
    ...body,
    ...(generation ? [encodeGeneration(generation)] : []),
  );
}

function encodeGeneration(receipt: GenerationReceipt): Uint8Array {
  const digests: Array<[string, Uint8Array]> = [
    ['tokenizer_sha256', receipt.tokenizer_sha256],
    ['completion_tokens_sha256', receipt.completion_tokens_sha256],
  ];
  for (const [field, digest] of digests) {
    if (digest.length !== 32) {
      throw new EntryEncodeError('digest-length', `${field} must be a 32-byte SHA-256, got ${digest.length} bytes`);
    }
  }
  const head = [
    ...digests.map(([, digest]) => digest),
    u32le(receipt.prompt_tokens),
    u32le(receipt.generated_tokens),
    Uint8Array.of(STOP_CODES.indexOf(receipt.stop_reason) + 1),
  ];
  return concatBytes(...head, encodeSampling(receipt.sampling));
}

function encodeSampling(sampling: Sampling): Uint8Array {
  if (sampling.__kind__ === 'greedy') return Uint8Array.of(0);
  const { temperature, top_k, top_p, seed } = sampling.sample;
  const finite = Number.isFinite(temperature) && (top_p === undefined || Number.isFinite(top_p));
  if (!seed || seed.length !== SEED_BYTES || !finite) {
    throw new EntryEncodeError('sampling', "a sampled generation's receipt needs its 32-byte seed and finite settings");
  }
  return concatBytes(
    Uint8Array.of(1),
    f32le(temperature),
    top_k === undefined ? Uint8Array.of(0) : concatBytes(Uint8Array.of(1), u32le(top_k)),
    top_p === undefined ? Uint8Array.of(0) : concatBytes(Uint8Array.of(1), f32le(top_p)),
    seed,
  );
}

function f32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setFloat32(0, value, true);
  return out;
}

/** Decodes bytes written by encodeEntry; null on anything malformed, trailing bytes included. */
export function decodeEntry(bytes: Uint8Array): LogEntry | null {
  let at = 0;
  const take = (n: number): Uint8Array | null => {
    if (bytes.length - at < n) return null;
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const u64 = (): bigint | null => {
    const raw = take(8);
    return raw && new DataView(raw.buffer).getBigUint64(0, true);
  };
  const version = take(1);
  if (!version || (version[0] !== ENTRY_VERSION_1 && version[0] !== ENTRY_VERSION)) return null;
  const v2 = version[0] === ENTRY_VERSION;
  let isGeneration = false;
  if (v2) {
    const kind = take(1);
    if (kind && kind[0] === KIND_CODE_EPOCH) return decodeCodeEpoch(take, u64, () => at === bytes.length);
    if (!kind || (kind[0] !== KIND_INFERENCE && kind[0] !== KIND_GENERATION)) return null;
    isGeneration = kind[0] === KIND_GENERATION;
  }
  const seq = u64();
  const timestamp_ns = u64();
  if (seq === null || timestamp_ns === null) return null;
  const callerLen = take(1);
  if (!callerLen || callerLen[0] > MAX_PRINCIPAL_BYTES) return null;
  const callerBytes = take(callerLen[0]);
  const v2Costs = v2 ? [u64(), u64()] : null;
  if (v2Costs && (v2Costs[0] === null || v2Costs[1] === null)) return null;
  const idLen = take(1);
  const idBytes = idLen && take(idLen[0]);
  if (!callerBytes || !idBytes) return null;
  let model_id: string;
  try {
    model_id = new TextDecoder('utf-8', { fatal: true }).decode(idBytes);
  } catch {
    return null;
  }
  const model_sha256 = take(32);
  const input_hash = take(32);
  const output_hash = take(32);
  const flags = take(1);
  const instructions = v2Costs ? v2Costs[0] : u64();
  if (!model_sha256 || !input_hash || !output_hash || !flags || instructions === null) return null;
  if (flags[0] > 1) return null;
  let generation: GenerationReceipt | null = null;
  if (isGeneration) {
    generation = decodeGeneration(take);
    if (!generation) return null;
  }
  if (at !== bytes.length) return null;
  return {
    seq,
    timestamp_ns,
    caller: Principal.fromUint8Array(callerBytes),
    model_id,
    model_sha256,
    input_hash,
    output_hash,
    input_salted: flags[0] === 1,
    instructions,
    messages: v2Costs ? v2Costs[1]! : undefined,
    kind: generation ? { __kind__: 'generation', generation } : undefined,
  };
}

/** The rest of a version 2 entry of kind 3 (crates/verify: `code_epoch_entry`). */
function decodeCodeEpoch(
  take: (n: number) => Uint8Array | null,
  u64: () => bigint | null,
  atEnd: () => boolean,
): LogEntry | null {
  const principal = (): Principal | null => {
    const len = take(1);
    if (!len || len[0] > MAX_PRINCIPAL_BYTES) return null;
    const raw = take(len[0]);
    return raw && Principal.fromUint8Array(raw);
  };
  const seq = u64();
  const timestamp_ns = u64();
  const caller = principal();
  const numbers = [u64(), u64(), u64(), u64(), u64()];
  const module_hash = take(32);
  const mode = take(1);
  const rest = [u64(), u64(), u64()];
  const count = take(1);
  if (seq === null || timestamp_ns === null || !caller || !module_hash || !mode || !count) return null;
  if (numbers.some((n) => n === null) || rest.some((n) => n === null)) return null;
  if (mode[0] < 1 || mode[0] > 3 || count[0] > MAX_EPOCH_CONTROLLERS) return null;
  const controllers: Principal[] = [];
  for (let i = 0; i < count[0]; i++) {
    const c = principal();
    if (!c) return null;
    controllers.push(c);
  }
  if (!atEnd()) return null;
  const [instructions, messages, first_index, canister_version, started_ns] = numbers as bigint[];
  const [deployed_version, deployed_ns, total_num_changes] = rest as bigint[];
  return {
    seq,
    timestamp_ns,
    caller,
    model_id: '',
    model_sha256: new Uint8Array(32),
    input_hash: new Uint8Array(32),
    output_hash: new Uint8Array(32),
    input_salted: false,
    instructions,
    messages,
    kind: {
      __kind__: 'code_epoch',
      code_epoch: {
        first_index,
        canister_version,
        started_ns,
        module_hash,
        mode: MODES[mode[0] - 1],
        deployed_version,
        deployed_ns,
        total_num_changes,
        controllers,
      },
    },
  };
}

function kindsEqual(a: LogEntry['kind'], b: LogEntry['kind']): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.__kind__ !== b.__kind__) return false;
  if (a.__kind__ === 'generation' && b.__kind__ === 'generation') return generationsEqual(a.generation, b.generation);
  if (a.__kind__ !== 'code_epoch' || b.__kind__ !== 'code_epoch') return true;
  const [x, y] = [a.code_epoch, b.code_epoch];
  return (
    x.first_index === y.first_index &&
    x.canister_version === y.canister_version &&
    x.started_ns === y.started_ns &&
    bytesEqual(x.module_hash, y.module_hash) &&
    x.mode === y.mode &&
    x.deployed_version === y.deployed_version &&
    x.deployed_ns === y.deployed_ns &&
    x.total_num_changes === y.total_num_changes &&
    x.controllers.length === y.controllers.length &&
    x.controllers.every((c, i) => c.toText() === y.controllers[i].toText())
  );
}

/** A generation's fields after the inference body; null on anything malformed. */
function decodeGeneration(take: (n: number) => Uint8Array | null): GenerationReceipt | null {
  const view = (raw: Uint8Array) => new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u32 = (): number | null => {
    const raw = take(4);
    return raw && view(raw).getUint32(0, true);
  };
  const finiteF32 = (): number | null => {
    const raw = take(4);
    const value = raw && view(raw).getFloat32(0, true);
    return value !== null && Number.isFinite(value) ? value : null;
  };
  /** 0: absent (undefined), 1: the value follows; null for any other flag or a bad value. */
  const optional = <T>(value: () => T | null): T | undefined | null => {
    const flag = take(1);
    if (!flag || flag[0] > 1) return null;
    return flag[0] === 0 ? undefined : value();
  };
  const tokenizer_sha256 = take(32);
  const completion_tokens_sha256 = take(32);
  const prompt_tokens = u32();
  const generated_tokens = u32();
  const stop = take(1);
  if (!tokenizer_sha256 || !completion_tokens_sha256 || prompt_tokens === null || generated_tokens === null || !stop) return null;
  const stop_reason = STOP_CODES[stop[0] - 1];
  const kind = take(1);
  if (!stop_reason || !kind || kind[0] > 1) return null;
  let sampling: Sampling;
  if (kind[0] === 0) {
    sampling = { __kind__: 'greedy', greedy: null };
  } else {
    const temperature = finiteF32();
    if (temperature === null) return null;
    const top_k = optional(u32);
    if (top_k === null) return null;
    const top_p = optional(finiteF32);
    if (top_p === null) return null;
    const seed = take(SEED_BYTES);
    if (!seed) return null;
    sampling = { __kind__: 'sample', sample: { temperature, top_k, top_p, seed } };
  }
  return { tokenizer_sha256, completion_tokens_sha256, prompt_tokens, generated_tokens, stop_reason, sampling };
}

export function entriesEqual(a: LogEntry, b: LogEntry): boolean {
  return (
    a.seq === b.seq &&
    a.timestamp_ns === b.timestamp_ns &&
    bytesEqual(a.caller.toUint8Array(), b.caller.toUint8Array()) &&
    a.model_id === b.model_id &&
    bytesEqual(a.model_sha256, b.model_sha256) &&
    bytesEqual(a.input_hash, b.input_hash) &&
    bytesEqual(a.output_hash, b.output_hash) &&
    a.input_salted === b.input_salted &&
    a.instructions === b.instructions &&
    a.messages === b.messages &&
    kindsEqual(a.kind, b.kind)
  );
}

/** The generation receipt of an entry; undefined for an inference (kind absent or inference). */
export function generationOf(entry: LogEntry): GenerationReceipt | undefined {
  return entry.kind?.__kind__ === 'generation' ? entry.kind.generation : undefined;
}

function generationsEqual(a: GenerationReceipt | undefined, b: GenerationReceipt | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    bytesEqual(a.tokenizer_sha256, b.tokenizer_sha256) &&
    bytesEqual(a.completion_tokens_sha256, b.completion_tokens_sha256) &&
    a.prompt_tokens === b.prompt_tokens &&
    a.generated_tokens === b.generated_tokens &&
    a.stop_reason === b.stop_reason &&
    samplingsEqual(a.sampling, b.sampling)
  );
}

function samplingsEqual(a: Sampling, b: Sampling): boolean {
  if (a.__kind__ === 'greedy' || b.__kind__ === 'greedy') return a.__kind__ === b.__kind__;
  const [x, y] = [a.sample, b.sample];
  const sameSeed = x.seed && y.seed ? bytesEqual(x.seed, y.seed) : x.seed === y.seed;
  return x.temperature === y.temperature && x.top_k === y.top_k && x.top_p === y.top_p && sameSeed;
}
