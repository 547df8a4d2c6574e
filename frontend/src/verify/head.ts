// The certified head of the log (docs/provenance.md; the Rust original is
// crates/verify/src/head.rs, and the witness check is `check_witness` in verifier.rs). The
// canister's certified data is the root hash of the IC hash tree
//
//   fork ─┬─ labeled "log_root" ── leaf  MTH of the log               (32 bytes)
//         └─ labeled "log_size" ── leaf  number of entries, unsigned LEB128
//
// and `log_head` serves that whole tree, unpruned, as CBOR tagged 55799: the witness.
// testdata/hashing.json pins LEB128, the commitment and the witness bytes.

import { type HashTree, LookupPathStatus, lookup_path, reconstruct } from '@icp-sdk/core/agent';
import type { LogHead } from '../bindings/inference';
import { bytesEqual, decodeIcCbor, sha256, utf8 } from './bytes';

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

export type WitnessReason = 'malformed-witness' | 'witness-not-certified' | 'head-mismatch';

export class WitnessError extends Error {
  constructor(
    readonly reason: WitnessReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The (size, root) the head's witness certifies: the witness must hash to `certifiedData`,
 * label a 32-byte root and a canonical LEB128 size, have exactly the head tree's shape, and
 * name the size and root the head claims. Throws WitnessError otherwise.
 */
export async function checkWitness(
  head: LogHead,
  certifiedData: Uint8Array,
): Promise<{ treeSize: bigint; root: Uint8Array }> {
  let tree: HashTree;
  let digest: Uint8Array;
  try {
    tree = decodeIcCbor<HashTree>(head.witness);
    digest = await reconstruct(tree);
  } catch (e) {
    throw new WitnessError('malformed-witness', `malformed witness: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!bytesEqual(digest, certifiedData)) {
    throw new WitnessError('witness-not-certified', "the witness does not hash to the canister's certified data");
  }
  const mismatch = (why: string) =>
    new WitnessError('head-mismatch', `the witness certifies a different log size or root than claimed: ${why}`);
  const found = (label: string): Uint8Array => {
    const result = lookup_path([label], tree);
    if (result.status !== LookupPathStatus.Found) throw mismatch(`it has no "${label}" leaf (${result.status})`);
    return result.value;
  };
  const root = found(ROOT_LABEL);
  if (root.length !== 32) throw mismatch(`"${ROOT_LABEL}" is ${root.length} bytes, not 32`);
  const treeSize = decodeLeb128(found(SIZE_LABEL));
  if (treeSize === null) throw mismatch(`"${SIZE_LABEL}" is not a canonical LEB128 number`);
  // The witness is a function of (size, root): recomputing its hash pins its shape too.
  if (!bytesEqual(headCommitment(treeSize, root), certifiedData)) {
    throw mismatch('it has another shape than fork(log_root, log_size)');
  }
  if (treeSize !== head.tree_size || !bytesEqual(root, head.root_hash)) {
    throw mismatch(`it labels log_size = ${treeSize}, the head claims ${head.tree_size} (or another root)`);
  }
  return { treeSize, root };
}
