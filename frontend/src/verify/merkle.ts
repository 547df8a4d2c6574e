// RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof verification, a
// port of crates/verify/src/merkle.rs, step for step:
//
// - 2.1.1  MTH({}) = SHA-256(), leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || l || r)
// - 2.1.3.2 verifying an inclusion proof: rootFromInclusionProof, verifyInclusion
// - 2.1.4.2 verifying a consistency proof: verifyConsistency
//
// Indices and sizes are u64 on the canister, so they are bigint here. testdata/merkle.json
// holds the known answers and mutation probes both implementations are tested against.

import { bytesEqual, sha256, toHex } from './bytes';

/** MTH({}), the root of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT = sha256();

/** A tree of 2^64 - 1 leaves has proofs of at most 64 nodes; longer ones are refused unhashed. */
export const MAX_PROOF_NODES = 65;

export function leafHash(leaf: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x00), leaf);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x01), left, right);
}

/** Why a proof does not verify: the reason codes of the Rust ProofError (`reason()`). */
export type ProofReason =
  | 'index-out-of-range'
  | 'sizes-out-of-order'
  | 'proof-too-long'
  | 'proof-too-short'
  | 'proof-not-empty'
  | 'malformed-node'
  | 'root-mismatch';

export class ProofError extends Error {
  constructor(
    readonly reason: ProofReason,
    message: string,
  ) {
    super(message);
  }
}

const tooLong = () => new ProofError('proof-too-long', 'the proof has more nodes than the tree needs');
const tooShort = () => new ProofError('proof-too-short', 'the proof has fewer nodes than the tree needs');

/** Checks that proof nodes as they travel over Candid (vec blob) are 32-byte hashes. */
export function proofNodes(nodes: readonly Uint8Array[]): Uint8Array[] {
  if (nodes.length > MAX_PROOF_NODES) {
    throw tooLong();
  }
  nodes.forEach((node, position) => {
    if (node.length !== 32) {
      throw new ProofError('malformed-node', `proof node ${position} is ${node.length} bytes, not 32`);
    }
  });
  return [...nodes];
}

/**
 * The root that an inclusion proof of leaf `index` in a tree of `treeSize` leaves leads to
 * (RFC 9162 2.1.3.2). The caller compares it with a root it trusts.
 */
export function rootFromInclusionProof(
  index: bigint,
  treeSize: bigint,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  if (index < 0n || index >= treeSize) {
    throw new ProofError('index-out-of-range', `leaf ${index} is not in a tree of ${treeSize} leaves`);
  }
  if (proof.length > MAX_PROOF_NODES) {
    throw tooLong();
  }
  // `node` walks up from the leaf and `last` from the tree's last leaf; where they meet a
  // right edge, the right subtree is incomplete and the level is skipped.
  let node = index;
  let last = treeSize - 1n;
  let hash = leaf;
  for (const sibling of proof) {
    if (last === 0n) throw tooLong();
    if ((node & 1n) === 1n || node === last) {
      hash = nodeHash(sibling, hash);
      while ((node & 1n) === 0n && node !== 0n) {
        node >>= 1n;
        last >>= 1n;
      }
    } else {
      hash = nodeHash(hash, sibling);
    }
    node >>= 1n;
    last >>= 1n;
  }
  if (last !== 0n) throw tooShort();
  return hash;
}

function rootsEqual(expected: Uint8Array, computed: Uint8Array): void {
  if (!bytesEqual(expected, computed)) {
    throw new ProofError(
      'root-mismatch',
      `the proof leads to root ${toHex(computed)}, not ${toHex(expected)}`,
    );
  }
}

/** Verifies that `leaf` is leaf `index` of the tree of `treeSize` leaves with root `root`. */
export function verifyInclusion(
  index: bigint,
  treeSize: bigint,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  rootsEqual(root, rootFromInclusionProof(index, treeSize, leaf, proof));
}

const isPowerOfTwo = (n: bigint): boolean => n > 0n && (n & (n - 1n)) === 0n;

/**
 * Verifies that the tree of `fromSize` leaves with root `fromRoot` is a prefix of the tree
 * of `toSize` leaves with root `toRoot` (RFC 9162 2.1.4.2): the log only grew.
 *
 * Equal sizes need an empty proof and equal roots; the empty tree is a prefix of every
 * tree, with an empty proof (RFC 9162 leaves size 0 undefined; this is the usual reading).
 */
export function verifyConsistency(
  fromSize: bigint,
  toSize: bigint,
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  if (fromSize > toSize) {
    throw new ProofError('sizes-out-of-order', `tree size ${fromSize} is larger than ${toSize}`);
  }
  if (proof.length > MAX_PROOF_NODES) {
    throw tooLong();
  }
  if (fromSize === toSize || fromSize === 0n) {
    if (proof.length !== 0) throw new ProofError('proof-not-empty', 'the proof must be empty');
    if (fromSize === 0n) rootsEqual(EMPTY_ROOT, fromRoot);
    else rootsEqual(fromRoot, toRoot);
    return;
  }
  // A complete old tree is itself a node of the new one, so the prover leaves it out.
  let first: Uint8Array;
  let rest: readonly Uint8Array[];
  if (isPowerOfTwo(fromSize)) {
    first = fromRoot;
    rest = proof;
  } else {
    if (proof.length === 0) throw tooShort();
    [first, ...rest] = proof;
  }
  let node = fromSize - 1n;
  let last = toSize - 1n;
  while ((node & 1n) === 1n) {
    node >>= 1n;
    last >>= 1n;
  }
  let oldHash = first;
  let newHash = first;
  for (const sibling of rest) {
    if (last === 0n) throw tooLong();
    if ((node & 1n) === 1n || node === last) {
      oldHash = nodeHash(sibling, oldHash);
      newHash = nodeHash(sibling, newHash);
      while ((node & 1n) === 0n && node !== 0n) {
        node >>= 1n;
        last >>= 1n;
      }
    } else {
      newHash = nodeHash(newHash, sibling);
    }
    node >>= 1n;
    last >>= 1n;
  }
  if (last !== 0n) throw tooShort();
  rootsEqual(fromRoot, oldHash);
  rootsEqual(toRoot, newHash);
}
