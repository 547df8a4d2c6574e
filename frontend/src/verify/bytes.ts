// Byte helpers shared by the encoders and the verifier.
//
// SHA-256 comes from @noble/hashes (the implementation @icp-sdk/core itself uses) rather
// than WebCrypto: it is synchronous, and WebCrypto's `subtle` exists only in secure
// contexts, which a page served over plain HTTP from a LAN address is not.

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
