// The canonical encoding of a provenance log entry: what the canister stores and the bytes
// of the entry's Merkle leaf (docs/hashing.md, "Log entry encoding"; the Rust original is
// crates/verify/src/entry.rs). Version 1, and version 2 (written since jobs):
//
//   version:u8 (= 1) | seq:u64 | timestamp_ns:u64 | caller_len:u8 | caller
//   | model_id_len:u8 | model_id | model_sha256 (32) | input_hash (32) | output_hash (32)
//   | flags:u8 (bit 0: input salted) | instructions:u64          integers little-endian
//
//   version:u8 (= 2) | kind:u8 (1 = inference) | seq:u64 | timestamp_ns:u64 | caller_len:u8
//   | caller | instructions:u64 | messages:u64 | model_id_len:u8 | model_id | model_sha256
//   | input_hash | output_hash | flags:u8
//
// A v2 entry of another kind (added by later releases) is refused, not guessed at. In the
// Candid record, `messages` is undefined for a v1 entry and set for a v2 one.
// Decoding accepts exactly the bytes encoding produces, so every entry has one encoding and
// the leaf hash identifies the entry. testdata/hashing.json pins the encodings and the bytes
// that must not decode.

import { Principal } from '@icp-sdk/core/principal';
import { DeploymentMode, type CodeEpoch, type LogEntry } from '../bindings/inference';
import { bytesEqual, concatBytes, u64le, utf8 } from './bytes';

export const ENTRY_VERSION = 2;
export const ENTRY_VERSION_1 = 1;
export const KIND_INFERENCE = 1;
export const KIND_CODE_EPOCH = 3;
const MAX_EPOCH_CONTROLLERS = 32;
const MODES: DeploymentMode[] = [DeploymentMode.install, DeploymentMode.reinstall, DeploymentMode.upgrade];
const MAX_PRINCIPAL_BYTES = 29;

/** Why an entry has no canonical encoding (the Rust EncodeError's cases). */
export class EntryEncodeError extends Error {
  constructor(
    readonly reason: 'digest-length' | 'model-id-too-long' | 'not-canonical' | 'too-many-controllers',
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
  if (entry.messages === undefined) {
    return concatBytes(Uint8Array.of(ENTRY_VERSION_1), ...seqTimeCaller, ...body, u64le(entry.instructions));
  }
  return concatBytes(
    Uint8Array.of(ENTRY_VERSION, KIND_INFERENCE),
    ...seqTimeCaller,
    u64le(entry.instructions),
    u64le(entry.messages),
    ...body,
  );
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
  if (v2) {
    const kind = take(1);
    if (kind && kind[0] === KIND_CODE_EPOCH) return decodeCodeEpoch(take, u64, () => at === bytes.length);
    if (!kind || kind[0] !== KIND_INFERENCE) return null;
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
  if (flags[0] > 1 || at !== bytes.length) return null;
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
  if (a.__kind__ === 'inference' || b.__kind__ === 'inference') return true;
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
