// RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof verification, a
// port of crates/verify/src/merkle.rs, step for step:
//
// - 2.1.1  MTH({}) = SHA-256(), leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || l || r)
// - 2.1.3.2 verifying an inclusion proof: rootFromInclusionProof, verifyInclusion
// - 2.1.4.2 verifying a consistency proof: verifyConsistency
//
// Indices and sizes are u64 on the canister, so they are bigint here.

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

export type ProofErrorKind =
  | 'IndexOutOfRange'
  | 'SizesOutOfOrder'
  | 'TooLong'
  | 'TooShort'
  | 'NotEmpty'
  | 'MalformedNode'
  | 'RootMismatch';

/** Why a proof does not verify; `kind` names the case of the Rust ProofError. */
export class ProofError extends Error {
  constructor(
    readonly kind: ProofErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Checks that proof nodes as they travel over Candid (vec blob) are 32-byte hashes. */
export function proofNodes(nodes: readonly Uint8Array[]): Uint8Array[] {
  if (nodes.length > MAX_PROOF_NODES) {
    throw new ProofError('TooLong', 'the proof has more nodes than the tree needs');
  }
  nodes.forEach((node, position) => {
    if (node.length !== 32) {
      throw new ProofError('MalformedNode', `proof node ${position} is ${node.length} bytes, not 32`);
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
    throw new ProofError('IndexOutOfRange', `leaf ${index} is not in a tree of ${treeSize} leaves`);
  }
  if (proof.length > MAX_PROOF_NODES) {
    throw new ProofError('TooLong', 'the proof has more nodes than the tree needs');
  }
  // `node` walks up from the leaf and `last` from the tree's last leaf; where they meet a
  // right edge, the right subtree is incomplete and the level is skipped.
  let node = index;
  let last = treeSize - 1n;
  let hash = leaf;
  for (const sibling of proof) {
    if (last === 0n) throw new ProofError('TooLong', 'the proof has more nodes than the tree needs');
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
  if (last !== 0n) throw new ProofError('TooShort', 'the proof has fewer nodes than the tree needs');
  return hash;
}

function rootsEqual(expected: Uint8Array, computed: Uint8Array): void {
  if (!bytesEqual(expected, computed)) {
    throw new ProofError(
      'RootMismatch',
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
    throw new ProofError('SizesOutOfOrder', `tree size ${fromSize} is larger than ${toSize}`);
  }
  if (proof.length > MAX_PROOF_NODES) {
    throw new ProofError('TooLong', 'the proof has more nodes than the tree needs');
  }
  if (fromSize === toSize || fromSize === 0n) {
    if (proof.length !== 0) throw new ProofError('NotEmpty', 'the proof must be empty');
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
    if (proof.length === 0) throw new ProofError('TooShort', 'the proof has fewer nodes than the tree needs');
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
    if (last === 0n) throw new ProofError('TooLong', 'the proof has more nodes than the tree needs');
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
  if (last !== 0n) throw new ProofError('TooShort', 'the proof has fewer nodes than the tree needs');
  rootsEqual(fromRoot, oldHash);
  rootsEqual(toRoot, newHash);
}

// --- A reference tree, for tests and for building fixtures ---------------------------------

/** MTH(D[n]) computed recursively from the leaf data (RFC 9162 2.1.1). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leafHash(leaves[0]);
  const k = largestPowerOfTwoBelow(leaves.length);
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 2.1.3.1, leaf to root. */
export function inclusionProof(index: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  return index < k
    ? [...inclusionProof(index, leaves.slice(0, k)), merkleRoot(leaves.slice(k))]
    : [...inclusionProof(index - k, leaves.slice(k)), merkleRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) of RFC 9162 2.1.4.1. */
export function consistencyProof(fromSize: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (fromSize === 0 || fromSize === leaves.length) return [];
  const subproof = (m: number, d: readonly Uint8Array[], complete: boolean): Uint8Array[] => {
    if (m === d.length) return complete ? [] : [merkleRoot(d)];
    const k = largestPowerOfTwoBelow(d.length);
    return m <= k
      ? [...subproof(m, d.slice(0, k), complete), merkleRoot(d.slice(k))]
      : [...subproof(m - k, d.slice(k), false), merkleRoot(d.slice(0, k))];
  };
  return subproof(fromSize, leaves, true);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
