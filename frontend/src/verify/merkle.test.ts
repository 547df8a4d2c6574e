// testdata/merkle.json, which crates/verify writes: every RFC 9162 known-answer proof must
// verify, and every mutation probe be rejected for the reason it gives.

import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes';
import { merkle, type InclusionProbe } from './corpus';
import { leafHash, ProofError, proofNodes, rootFromInclusionProof, verifyConsistency, verifyInclusion } from './merkle';

/** The reason a check throws, or 'accepted'. */
function reasonOf(check: () => void): string {
  try {
    check();
  } catch (e) {
    if (e instanceof ProofError) return e.reason;
    throw e;
  }
  return 'accepted';
}

describe('known answers', () => {
  for (const tree of merkle.trees) {
    it(tree.name, () => {
      const roots = tree.roots.map(fromHex);
      for (const c of tree.inclusion) {
        const leaf = leafHash(fromHex(tree.leaves[Number(c.index)]));
        verifyInclusion(BigInt(c.index), BigInt(c.size), leaf, c.proof.map(fromHex), roots[Number(c.size)]);
      }
      for (const c of tree.consistency) {
        const [m, n] = [Number(c.from_size), Number(c.to_size)];
        verifyConsistency(BigInt(m), BigInt(n), roots[m], roots[n], c.proof.map(fromHex));
      }
    });
  }
});

describe('mutation probes', () => {
  const inclusion = (p: InclusionProbe) => () =>
    verifyInclusion(BigInt(p.index), BigInt(p.size), fromHex(p.leaf_hash), p.proof.map(fromHex), fromHex(p.root));

  it('every damaged inclusion proof is rejected for its reason', () => {
    expect(merkle.inclusion_probes.length).toBeGreaterThan(100);
    for (const probe of merkle.inclusion_probes) expect(reasonOf(inclusion(probe)), probe.name).toBe(probe.reason);
  });

  it('every damaged consistency proof is rejected for its reason', () => {
    for (const p of merkle.consistency_probes) {
      const check = () =>
        verifyConsistency(BigInt(p.from_size), BigInt(p.to_size), fromHex(p.from_root), fromHex(p.to_root), p.proof.map(fromHex));
      expect(reasonOf(check), p.name).toBe(p.reason);
    }
  });

  it('work at u64 scale', () => {
    const scale = merkle.u64_scale;
    const zeros = Array.from({ length: 63 }, () => new Uint8Array(32));
    expect(toHex(rootFromInclusionProof(BigInt(scale.index), BigInt(scale.size), new Uint8Array(32), zeros))).toBe(scale.root);
    for (const probe of scale.probes) expect(reasonOf(inclusion(probe)), probe.name).toBe(probe.reason);
  });
});

describe('proof nodes as they travel over Candid', () => {
  it('must be 32-byte hashes, at most 65 of them', () => {
    expect(reasonOf(() => proofNodes([new Uint8Array(32), new Uint8Array(31)]))).toBe('malformed-node');
    expect(reasonOf(() => proofNodes(Array.from({ length: 66 }, () => new Uint8Array(32))))).toBe('proof-too-long');
    expect(proofNodes([new Uint8Array(32)])).toHaveLength(1);
  });
});
