// The canonical encoding of tensor lists and the input and output hashes of the provenance
// log (docs/hashing.md; the Rust original is crates/verify/src/tensor.rs):
//
//   tensor list := count:u32 | tensor*            (tensors sorted by name, bytewise)
//   tensor      := name_len:u32 | name:utf8 | dtype:u8 | rank:u32 | dim:u64 * rank
//                  | data_len:u64 | data          (elements little-endian, bool as 0/1)
//   input hash  := SHA-256("icinfer/v1/inputs\0" | tensor list)
//                | SHA-256("icinfer/v1/inputs-salted\0" | nonce_len:u8 | nonce | tensor list)
//   output hash := SHA-256("icinfer/v1/outputs\0" | tensor list)
//
// These hash whatever they are given, exactly as the canister does after validating; a
// verifier only needs to reproduce the canister's bytes. testdata/hashing.json pins them.

import type { Tensor, TensorData } from '../bindings/inference';
import { compareBytes, concatBytes, sha256, u32le, u64le, utf8 } from './bytes';

export const INPUTS_DOMAIN = utf8('icinfer/v1/inputs\0');
export const SALTED_INPUTS_DOMAIN = utf8('icinfer/v1/inputs-salted\0');
export const OUTPUTS_DOMAIN = utf8('icinfer/v1/outputs\0');

export type DTypeName = TensorData['__kind__'];

/** Codes are never reused (docs/hashing.md). */
export const DTYPE_CODES: Record<DTypeName, number> = {
  f32: 1,
  f64: 2,
  i64: 3,
  i32: 4,
  i8: 5,
  u8: 6,
  bool: 7,
};

export const DTYPE_SIZES: Record<DTypeName, number> = {
  f32: 4,
  f64: 8,
  i64: 8,
  i32: 4,
  i8: 1,
  u8: 1,
  bool: 1,
};

/** The elements of a tensor, whatever its dtype, as a plain list (for display). */
export function tensorValues(data: TensorData): ArrayLike<number | bigint | boolean> {
  switch (data.__kind__) {
    case 'f32':
      return data.f32;
    case 'f64':
      return data.f64;
    case 'i64':
      return data.i64;
    case 'i32':
      return data.i32;
    case 'i8':
      return data.i8;
    case 'u8':
      return data.u8;
    case 'bool':
      return data.bool;
  }
}

/**
 * The elements' bytes, each little-endian. Floats are written bit for bit through a
 * DataView: an f32 that came over Candid is a JS number holding the exact binary32 value,
 * so writing it back as binary32 is lossless (NaN payloads aside, which JS does not keep).
 */
export function encodeData(data: TensorData): Uint8Array {
  const values = tensorValues(data);
  const size = DTYPE_SIZES[data.__kind__];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const at = i * size;
    switch (data.__kind__) {
      case 'f32':
        view.setFloat32(at, data.f32[i], true);
        break;
      case 'f64':
        view.setFloat64(at, data.f64[i], true);
        break;
      case 'i64':
        view.setBigInt64(at, data.i64[i], true);
        break;
      case 'i32':
        view.setInt32(at, data.i32[i], true);
        break;
      case 'i8':
        view.setInt8(at, data.i8[i]);
        break;
      case 'u8':
        view.setUint8(at, data.u8[i]);
        break;
      case 'bool':
        view.setUint8(at, data.bool[i] ? 1 : 0);
        break;
    }
  }
  return out;
}

export function encodeTensorList(tensors: readonly Tensor[]): Uint8Array {
  const named = tensors.map((tensor) => ({ tensor, name: utf8(tensor.name) }));
  named.sort((a, b) => compareBytes(a.name, b.name));
  const parts: Uint8Array[] = [u32le(named.length)];
  for (const { tensor, name } of named) {
    const data = encodeData(tensor.data);
    parts.push(u32le(name.length), name, Uint8Array.of(DTYPE_CODES[tensor.data.__kind__]));
    parts.push(u32le(tensor.shape.length), ...Array.from(tensor.shape, (dim) => u64le(BigInt(dim))));
    parts.push(u64le(BigInt(data.length)), data);
  }
  return concatBytes(...parts);
}

/**
 * The input commitment: salted when a nonce is given. A nonce longer than 255 bytes cannot
 * be encoded (the canister accepts 16–64), so it has no hash: null.
 */
export function inputHash(inputs: readonly Tensor[], nonce?: Uint8Array): Uint8Array | null {
  const list = encodeTensorList(inputs);
  if (nonce === undefined) return sha256(INPUTS_DOMAIN, list);
  if (nonce.length > 255) return null;
  return sha256(SALTED_INPUTS_DOMAIN, Uint8Array.of(nonce.length), nonce, list);
}

export function outputHash(outputs: readonly Tensor[]): Uint8Array {
  return sha256(OUTPUTS_DOMAIN, encodeTensorList(outputs));
}
