// The RFC 9162 port against the recursive definitions (merkleRoot, inclusionProof,
// consistencyProof, written from the RFC's text) for every size and index up to a bound,
// roots pinned by an independent Python implementation, and every mutation rejected.

import { describe, expect, it } from 'vitest';
import { toHex } from './bytes';
import {
  EMPTY_ROOT,
  ProofError,
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  proofNodes,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => Uint8Array.of(i));

function flipped(proof: Uint8Array[], node: number, byte = 0): Uint8Array[] {
  return proof.map((p, i) => {
    if (i !== node) return p;
    const copy = p.slice();
    copy[byte] ^= 1;
    return copy;
  });
}

function rejects(kind: ProofError['kind'] | undefined, f: () => void) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProofError);
    if (kind) expect((e as ProofError).kind).toBe(kind);
    return;
  }
  throw new Error('expected a ProofError');
}

describe('Merkle tree hashes', () => {
  it('match the independent Python implementation', () => {
    const expected: Record<number, string> = {
      0: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      1: '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      2: 'a20bf9a7cc2dc8a08f5f415a71b19f6ac427bab54d24eec868b5d3103449953a',
      3: '3b6cccd7e3e023ff393006f030315ee7ad9eb111b022b41fba7e5b7a3973f688',
      7: '3560191803028444b232018ac047fdb561c09c23a7a6876c85e08b5e4d48e9f3',
      8: 'ef7f49b620f6c7ea9b963a214da34b5021c6ded8ed57734380a311ab726aa907',
      13: 'df5ee130e5a247600d190c31074458de3c0dc58f0b0d8a6a2b3dd4fd7e569501',
    };
    for (const [n, root] of Object.entries(expected)) expect(toHex(merkleRoot(leaves(Number(n))))).toBe(root);
    expect(toHex(EMPTY_ROOT)).toBe(expected[0]);
  });
});

describe('inclusion proofs', () => {
  it('verify for every leaf of every tree up to 70 leaves', () => {
    for (let n = 1; n <= 70; n++) {
      const data = leaves(n);
      const root = merkleRoot(data);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(i, data);
        verifyInclusion(BigInt(i), BigInt(n), leafHash(data[i]), proof, root);
      }
    }
  });

  it('reject every flipped node, a wrong leaf, index or tree, and a short or long proof', () => {
    for (const n of [2, 3, 5, 8, 13, 33]) {
      const data = leaves(n);
      const root = merkleRoot(data);
      for (let i = 0; i < n; i++) {
        const leaf = leafHash(data[i]);
        const proof = inclusionProof(i, data);
        proof.forEach((_, node) =>
          rejects('RootMismatch', () => verifyInclusion(BigInt(i), BigInt(n), leaf, flipped(proof, node, 31), root)),
        );
        rejects('RootMismatch', () => verifyInclusion(BigInt(i), BigInt(n), leafHash(Uint8Array.of(0xff)), proof, root));
        if (n > 1) {
          rejects(undefined, () => verifyInclusion(BigInt((i + 1) % n), BigInt(n), leaf, proof, root));
          rejects('TooShort', () => verifyInclusion(BigInt(i), BigInt(n), leaf, proof.slice(0, -1), root));
        }
        rejects(undefined, () => verifyInclusion(BigInt(i), BigInt(n), leaf, [...proof, new Uint8Array(32)], root));
        // The size is bound by the root: the same path against a larger tree's root fails.
        const larger = merkleRoot(leaves(n + 1));
        rejects(undefined, () => verifyInclusion(BigInt(i), BigInt(n + 1), leaf, proof, larger));
      }
    }
    rejects('IndexOutOfRange', () => rootFromInclusionProof(3n, 3n, new Uint8Array(32), []));
    rejects('TooLong', () => rootFromInclusionProof(0n, 1n, new Uint8Array(32), [new Uint8Array(32)]));
  });

  it('work at u64 scale: the last leaf of a tree of 2^64 - 1 leaves takes 63 nodes', () => {
    const size = 2n ** 64n - 1n;
    const proof = Array.from({ length: 63 }, () => new Uint8Array(32));
    expect(rootFromInclusionProof(size - 1n, size, new Uint8Array(32), proof)).toHaveLength(32);
    rejects('TooShort', () => rootFromInclusionProof(size - 1n, size, new Uint8Array(32), proof.slice(1)));
  });
});

describe('consistency proofs', () => {
  it('verify between every pair of sizes up to 40', () => {
    for (let n = 1; n <= 40; n++) {
      const data = leaves(n);
      const root = merkleRoot(data);
      for (let m = 0; m <= n; m++) {
        const proof = consistencyProof(m, data);
        verifyConsistency(BigInt(m), BigInt(n), merkleRoot(data.slice(0, m)), root, proof);
      }
    }
  });

  it('reject every flipped node, other roots, swapped sizes and wrong lengths', () => {
    for (const [m, n] of [[1, 2], [3, 7], [4, 8], [5, 13], [6, 6], [7, 33], [16, 40]]) {
      const data = leaves(n);
      const oldRoot = merkleRoot(data.slice(0, m));
      const newRoot = merkleRoot(data);
      const proof = consistencyProof(m, data);
      proof.forEach((_, node) =>
        rejects('RootMismatch', () => verifyConsistency(BigInt(m), BigInt(n), oldRoot, newRoot, flipped(proof, node))),
      );
      rejects('RootMismatch', () => verifyConsistency(BigInt(m), BigInt(n), leafHash(Uint8Array.of(9)), newRoot, proof));
      rejects('RootMismatch', () => verifyConsistency(BigInt(m), BigInt(n), oldRoot, leafHash(Uint8Array.of(9)), proof));
      if (m !== n) {
        rejects(undefined, () => verifyConsistency(BigInt(m), BigInt(n), oldRoot, newRoot, proof.slice(0, -1)));
        rejects('SizesOutOfOrder', () => verifyConsistency(BigInt(n), BigInt(m), newRoot, oldRoot, proof));
      }
      rejects(undefined, () => verifyConsistency(BigInt(m), BigInt(n), oldRoot, newRoot, [...proof, new Uint8Array(32)]));
    }
    rejects('NotEmpty', () => verifyConsistency(0n, 3n, EMPTY_ROOT, merkleRoot(leaves(3)), [new Uint8Array(32)]));
    rejects('RootMismatch', () => verifyConsistency(0n, 3n, new Uint8Array(32), merkleRoot(leaves(3)), []));
  });
});

describe('proof nodes', () => {
  it('must be 32-byte hashes, at most 65 of them', () => {
    rejects('MalformedNode', () => proofNodes([new Uint8Array(32), new Uint8Array(31)]));
    rejects('TooLong', () => proofNodes(Array.from({ length: 66 }, () => new Uint8Array(32))));
    expect(proofNodes([new Uint8Array(32)])).toHaveLength(1);
  });
});
