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
// Kind 4, a model entry (what a model was finalized with; decoded, never written here):
//   header as kind 3 | model_id_len:u8 | model_id | model_sha256 (32) | n:u16 | n × fact
//   | 0, or 1 language model          (module docs of crates/verify/src/entry/model.rs)
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
  DType,
  type CodeEpoch,
  type Dim,
  type LanguageModel,
  type ModelDeclaration,
  type TensorFact,
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
export const KIND_MODEL = 4;
/** A model entry's dtype codes, from 1, in the order of the Rust `DType::ALL`. */
const DTYPES: DType[] = [DType.f32, DType.f64, DType.i64, DType.i32, DType.i8, DType.u8, DType.bool];
const MAX_EPOCH_CONTROLLERS = 32;
const MODES: DeploymentMode[] = [DeploymentMode.install, DeploymentMode.reinstall, DeploymentMode.upgrade];
const MAX_PRINCIPAL_BYTES = 29;
export const SEED_BYTES = 32;

/** stop_reason's byte in the encoding (1 to 4), in the order docs/hashing.md lists them. */
const STOP_CODES = ['max_new_tokens', 'eos', 'stop_sequence', 'context_full'] as StopReason[];

/** Why an entry has no canonical encoding (the Rust EncodeError's cases). */
export class EntryEncodeError extends Error {
  constructor(
    readonly reason: 'digest-length' | 'model-id-too-long' | 'not-canonical' | 'too-many-controllers' | 'kind-needs-version-2' | 'sampling' | 'declaration',
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

/** Kind 4, to check a decoded model entry's bytes (crates/verify: `encode_model_entry`). */
function encodeModelEntry(entry: LogEntry, declaration: ModelDeclaration): Uint8Array {
  const empty = (d: Uint8Array) => bytesEqual(d, EMPTY_DIGEST);
  if (entry.messages === undefined || entry.input_salted || !empty(entry.input_hash) || !empty(entry.output_hash)) {
    throw new EntryEncodeError('not-canonical', 'a model entry has empty input and output fields and a messages count');
  }
  const fits = (n: number, max: number) => {
    if (n > max) throw new EntryEncodeError('declaration', "a model entry's declaration does not fit its length fields");
  };
  const u16 = (n: number) => (fits(n, 0xffff), Uint8Array.of(n & 0xff, n >> 8));
  const name = (text: string) => {
    const raw = utf8(text);
    return concatBytes(u16(raw.length), raw);
  };
  const optional = (value: Uint8Array | undefined) => (value === undefined ? Uint8Array.of(0) : concatBytes(Uint8Array.of(1), value));
  const dim = (d: Dim) => {
    if (d.__kind__ === 'fixed') return concatBytes(Uint8Array.of(0), u64le(d.fixed));
    const raw = utf8(d.symbol);
    fits(raw.length, 0xff);
    return concatBytes(Uint8Array.of(1, raw.length), raw);
  };
  const fact = (f: TensorFact) => (
    fits(f.shape.length, 0xff),
    concatBytes(name(f.name), Uint8Array.of(DTYPES.indexOf(f.dtype) + 1, f.shape.length), ...f.shape.map(dim))
  );
  const lm = declaration.language_model;
  const caller = entry.caller.toUint8Array();
  const modelId = utf8(entry.model_id);
  fits(modelId.length, 0xff);
  if (entry.model_sha256.length !== 32 || (lm && lm.tokenizer.sha256.length !== 32)) {
    throw new EntryEncodeError('digest-length', 'a model entry needs 32-byte digests');
  }
  return concatBytes(
    Uint8Array.of(ENTRY_VERSION, KIND_MODEL),
    u64le(entry.seq),
    u64le(entry.timestamp_ns),
    Uint8Array.of(caller.length),
    caller,
    u64le(entry.instructions),
    u64le(entry.messages),
    Uint8Array.of(modelId.length),
    modelId,
    entry.model_sha256,
    u16(declaration.input_facts.length),
    ...declaration.input_facts.map(fact),
    optional(
      lm &&
        concatBytes(
          name(lm.input_ids),
          name(lm.logits),
          optional(lm.attention_mask === undefined ? undefined : name(lm.attention_mask)),
          optional(lm.position_ids === undefined ? undefined : name(lm.position_ids)),
          u16(lm.past.length),
          ...lm.past.flatMap((p) => [name(p.input), name(p.output)]),
          u32le(lm.context_length),
          optional(lm.eos_token === undefined ? undefined : u32le(lm.eos_token)),
          lm.tokenizer.sha256,
          u64le(lm.tokenizer.size_bytes),
        ),
    ),
  );
}

export function encodeEntry(entry: LogEntry): Uint8Array {
  if (entry.kind?.__kind__ === 'code_epoch') return encodeCodeEpoch(entry, entry.kind.code_epoch);
  if (entry.kind?.__kind__ === 'model') return encodeModelEntry(entry, entry.kind.model);
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
    if (kind && kind[0] === KIND_MODEL) return decodeModelEntry(take, u64, () => at === bytes.length);
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

/** The rest of a version 2 entry of kind 4 (crates/verify: `model_entry`). */
function decodeModelEntry(
  take: (n: number) => Uint8Array | null,
  u64: () => bigint | null,
  atEnd: () => boolean,
): LogEntry | null {
  const byte = (): number | null => take(1)?.[0] ?? null;
  const u16 = (): number | null => {
    const raw = take(2);
    return raw && raw[0] | (raw[1] << 8);
  };
  const u32 = (): number | null => {
    const raw = take(4);
    return raw && new DataView(raw.buffer).getUint32(0, true);
  };
  const text = (len: number | null): string | null => {
    const raw = len === null ? null : take(len);
    if (!raw) return null;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return null;
    }
  };
  const name = (): string | null => text(u16());
  /** A presence byte, then the value: undefined when absent, null when malformed. */
  const optional = <T>(value: () => T | null): T | undefined | null => {
    const tag = byte();
    if (tag === 0) return undefined;
    return tag === 1 ? value() : null;
  };
  const fact = (): TensorFact | null => {
    const factName = name();
    const code = byte();
    const rank = byte();
    if (factName === null || code === null || rank === null || code < 1 || code > DTYPES.length) return null;
    const shape: Dim[] = [];
    for (let i = 0; i < rank; i++) {
      const tag = byte();
      if (tag === 0) {
        const n = u64();
        if (n === null) return null;
        shape.push({ __kind__: 'fixed', fixed: n });
      } else if (tag === 1) {
        const symbol = text(byte());
        if (symbol === null) return null;
        shape.push({ __kind__: 'symbol', symbol });
      } else return null;
    }
    return { name: factName, dtype: DTYPES[code - 1], shape };
  };
  const languageModel = (): LanguageModel | null => {
    const input_ids = name();
    const logits = name();
    const attention_mask = optional(name);
    const position_ids = optional(name);
    const pairs = u16();
    if (input_ids === null || logits === null || attention_mask === null || position_ids === null || pairs === null) return null;
    const past: LanguageModel['past'] = [];
    for (let i = 0; i < pairs; i++) {
      const input = name();
      const output = name();
      if (input === null || output === null) return null;
      past.push({ input, output });
    }
    const context_length = u32();
    const eos_token = optional(u32);
    const sha256 = take(32);
    const size_bytes = u64();
    if (context_length === null || eos_token === null || !sha256 || size_bytes === null) return null;
    return { input_ids, logits, attention_mask, position_ids, past, context_length, eos_token, tokenizer: { sha256, size_bytes } };
  };
  const seq = u64();
  const timestamp_ns = u64();
  const callerLen = byte();
  const caller = callerLen === null || callerLen > MAX_PRINCIPAL_BYTES ? null : take(callerLen);
  const instructions = u64();
  const messages = u64();
  const model_id = text(byte());
  const model_sha256 = take(32);
  const count = u16();
  if (seq === null || timestamp_ns === null || !caller || instructions === null || messages === null) return null;
  if (model_id === null || !model_sha256 || count === null) return null;
  const input_facts: TensorFact[] = [];
  for (let i = 0; i < count; i++) {
    const f = fact();
    if (!f) return null;
    input_facts.push(f);
  }
  const language_model = optional(languageModel);
  if (language_model === null || !atEnd()) return null;
  return {
    seq,
    timestamp_ns,
    caller: Principal.fromUint8Array(caller),
    model_id,
    model_sha256,
    input_hash: new Uint8Array(32),
    output_hash: new Uint8Array(32),
    input_salted: false,
    instructions,
    messages,
    kind: { __kind__: 'model', model: { input_facts, language_model } },
  };
}

/** Model declarations compare as their canonical JSON (bigints as text). */
function declarationsEqual(a: ModelDeclaration, b: ModelDeclaration): boolean {
  const json = (d: ModelDeclaration) =>
    JSON.stringify(d, (_, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Array.from(v) : v));
  return json(a) === json(b);
}

function kindsEqual(a: LogEntry['kind'], b: LogEntry['kind']): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.__kind__ !== b.__kind__) return false;
  if (a.__kind__ === 'model' && b.__kind__ === 'model') return declarationsEqual(a.model, b.model);
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
