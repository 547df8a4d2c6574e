// The certified head of the log (docs/provenance.md; the Rust original is
// crates/verify/src/head.rs). The canister's certified data is the root hash of the IC hash
// tree
//
//   fork ─┬─ labeled "log_root" ── leaf  MTH of the log               (32 bytes)
//         └─ labeled "log_size" ── leaf  number of entries, unsigned LEB128
//
// and `log_head` serves that whole tree, unpruned, as CBOR tagged 55799: the witness.

import {
  Cbor,
  type HashTree,
  LookupPathStatus,
  lookup_path,
  reconstruct,
} from '@icp-sdk/core/agent';
import { bytesEqual, concatBytes, sha256, utf8 } from './bytes';

export const ROOT_LABEL = 'log_root';
export const SIZE_LABEL = 'log_size';

/** Unsigned LEB128, as the IC encodes numbers in certified trees. */
export function leb128(value: bigint): Uint8Array {
  if (value < 0n) throw new Error('LEB128 of a negative number');
  const out: number[] = [];
  for (;;) {
    const byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value === 0n) {
      out.push(byte);
      return Uint8Array.from(out);
    }
    out.push(byte | 0x80);
  }
}

/** Decodes a LEB128 number that fills `bytes` exactly, in its shortest form, and fits u64. */
export function decodeLeb128(bytes: Uint8Array): bigint | null {
  if (bytes.length === 0 || bytes.length > 10) return null;
  let value = 0n;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    const last = i + 1 === bytes.length;
    // Nine bytes carry 63 bits: a tenth may only add the top bit.
    if (i === 9 && byte > 1) return null;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (((byte & 0x80) === 0) !== last) return null;
    if (last && byte === 0 && i > 0) return null;
  }
  return value;
}

function domainHash(domain: string, ...parts: Uint8Array[]): Uint8Array {
  const tag = utf8(domain);
  return sha256(Uint8Array.of(tag.length), tag, ...parts);
}

/** The certified data for a log of `size` entries with Merkle root `root`. */
export function headCommitment(size: bigint, root: Uint8Array): Uint8Array {
  const labeledLeaf = (label: string, value: Uint8Array) =>
    domainHash('ic-hashtree-labeled', utf8(label), domainHash('ic-hashtree-leaf', value));
  return domainHash(
    'ic-hashtree-fork',
    labeledLeaf(ROOT_LABEL, root),
    labeledLeaf(SIZE_LABEL, leb128(size)),
  );
}

/** The witness bytes the canister serves (pinned by head.rs): for tests and fixtures. */
export function encodeHeadWitness(size: bigint, root: Uint8Array): Uint8Array {
  const bytes = (value: Uint8Array) =>
    concatBytes(value.length < 24 ? Uint8Array.of(0x40 | value.length) : Uint8Array.of(0x58, value.length), value);
  const labeledLeaf = (label: string, value: Uint8Array) =>
    concatBytes(Uint8Array.of(0x83, 0x02), bytes(utf8(label)), Uint8Array.of(0x82, 0x03), bytes(value));
  return concatBytes(
    Uint8Array.of(0xd9, 0xd9, 0xf7, 0x83, 0x01),
    labeledLeaf(ROOT_LABEL, root),
    labeledLeaf(SIZE_LABEL, leb128(size)),
  );
}

/** What a witness says: its root hash, and the size and root it labels. */
export interface WitnessReading {
  digest: Uint8Array;
  treeSize: bigint;
  root: Uint8Array;
}

export class WitnessError extends Error {}

/**
 * Decodes a witness and reads it. Throws WitnessError when it is not a hash tree, or does
 * not label exactly one 32-byte root and one canonical LEB128 size.
 */
export async function readWitness(witness: Uint8Array): Promise<WitnessReading> {
  let tree: HashTree;
  try {
    tree = Cbor.decode<HashTree>(witness);
  } catch (e) {
    throw new WitnessError(`the witness is not CBOR: ${(e as Error).message}`);
  }
  let digest: Uint8Array;
  try {
    digest = await reconstruct(tree);
  } catch (e) {
    throw new WitnessError(`the witness is not a hash tree: ${(e as Error).message}`);
  }
  const found = (label: string): Uint8Array => {
    const result = lookup_path([label], tree);
    if (result.status !== LookupPathStatus.Found) {
      throw new WitnessError(`the witness has no "${label}" leaf (${result.status})`);
    }
    return result.value;
  };
  const root = found(ROOT_LABEL);
  if (root.length !== 32) throw new WitnessError(`"${ROOT_LABEL}" is ${root.length} bytes, not 32`);
  const treeSize = decodeLeb128(found(SIZE_LABEL));
  if (treeSize === null) throw new WitnessError(`"${SIZE_LABEL}" is not a canonical LEB128 number`);
  // The witness is a function of (size, root): recomputing its hash pins its shape too.
  if (!bytesEqual(headCommitment(treeSize, root), digest)) {
    throw new WitnessError('the witness has a different shape than fork(log_root, log_size)');
  }
  return { digest, treeSize, root };
}
