// Byte helpers shared by the encoders and the verifier.
//
// SHA-256 comes from @noble/hashes (the implementation @icp-sdk/core itself uses) rather
// than WebCrypto: it is synchronous, and WebCrypto's `subtle` exists only in secure
// contexts, which a page served over plain HTTP from a LAN address is not.

import { Cbor } from '@icp-sdk/core/agent';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hasher = nobleSha256.create();
  for (const part of parts) hasher.update(part);
  return hasher.digest();
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** Parses hex (either case, optional 0x, spaces ignored); throws on anything else. */
export function fromHex(text: string): Uint8Array {
  const clean = text.trim().replace(/^0x/i, '').replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) {
    throw new Error(`not hex: "${text.length > 40 ? `${text.slice(0, 40)}…` : text}"`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The first and last bytes of a digest, for tables; the full value goes in a title. */
export function shortHex(bytes: Uint8Array, each = 4): string {
  const hex = toHex(bytes);
  return hex.length <= 4 * each + 1 ? hex : `${hex.slice(0, 2 * each)}…${hex.slice(-2 * each)}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Bytewise lexicographic order, the order docs/hashing.md sorts tensor names in. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Little-endian fixed-width integers, as every integer in docs/hashing.md is. */
export function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

export function u64le(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return out;
}

/** The self-describing CBOR tag 55799 the IC puts in front of its CBOR. */
const SELF_DESCRIBING_TAG = Uint8Array.of(0xd9, 0xd9, 0xf7);

/**
 * Decodes IC CBOR as the Rust verifier does (certificate.rs, `decode_cbor`): optionally
 * tagged 55799, no other tag in front, exactly one well-formed data item. Throws on anything
 * else. (The decoder agent-js uses reads a length past the end as "the rest", and ignores
 * trailing bytes: the byte sweeps of testdata/verifier.json found it.)
 */
export function decodeIcCbor<T>(bytes: Uint8Array): T {
  const tagged = bytes.length >= 3 && bytesEqual(bytes.subarray(0, 3), SELF_DESCRIBING_TAG);
  const body = tagged ? bytes.subarray(3) : bytes;
  if (body.length > 0 && body[0] >> 5 === 6) throw new Error('unexpected CBOR tag');
  if (cborItemEnd(body, 0, 0) !== body.length) throw new Error('trailing bytes after the CBOR item');
  return Cbor.decode<T>(body);
}

const BREAK = 0xff;

/** Where the CBOR data item (RFC 8949) at `at` ends; throws if it is not well formed. */
function cborItemEnd(bytes: Uint8Array, at: number, depth: number): number {
  if (depth > 64) throw new Error('CBOR nested too deeply');
  if (at >= bytes.length) throw new Error('CBOR ends early');
  const major = bytes[at] >> 5;
  const info = bytes[at] & 31;
  at += 1;
  let arg = info;
  if (info >= 24 && info <= 27) {
    const size = 1 << (info - 24);
    if (at + size > bytes.length) throw new Error('CBOR ends early');
    arg = 0;
    for (let i = 0; i < size; i++) arg = arg * 256 + bytes[at + i];
    at += size;
  } else if (info >= 28 && (info !== 31 || major < 2 || major > 5)) {
    throw new Error(`malformed CBOR head ${bytes[at - 1].toString(16)}`);
  }
  const indefinite = info === 31;
  const items = (count: number, each: (at: number) => number): number => {
    if (indefinite) {
      while (bytes[at] !== BREAK) at = each(at);
      return at + 1;
    }
    for (let i = 0; i < count; i++) at = each(at);
    return at;
  };
  switch (major) {
    case 2:
    case 3:
      if (indefinite) return items(0, (at) => cborItemEnd(bytes, at, depth + 1));
      if (at + arg > bytes.length) throw new Error('a CBOR string runs past the end');
      return at + arg;
    case 4:
      return items(arg, (at) => cborItemEnd(bytes, at, depth + 1));
    case 5:
      return items(arg, (at) => cborItemEnd(bytes, cborItemEnd(bytes, at, depth + 1), depth + 1));
    case 6:
      return cborItemEnd(bytes, at, depth + 1);
    default:
      return at;
  }
}
