// The verifier on a proof made by the real thing: `icinfer serve` (crates/host signing as
// the IC does, crates/http serving it) answered `log_proof` for entry 0 in the tree of one
// entry, with a consistency proof to its certified head of two. So the TS encoders, the
// certificate check and the proofs are pinned against the Rust side's bytes, offline.
//
// Regenerate (only if the encodings or the host's certificate format change): start
// `icinfer serve` with a fresh --state, upload models/digits/digits.onnx as `digits`, infer
// models/digits/reference/case0 with a nonce of 32 bytes 0x5a, then once without a nonce,
// and write the answer of log_proof({ index: 0, tree_size: [1] }) in this file's format.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogEntry, LogProof, Tensor, TensorData } from '../bindings/inference';
import fixture from './fixtures/host-log-proof.json';
import { fromHex, toHex } from './bytes';
import { encodeEntry } from './entry';
import { encodeHeadWitness } from './head';
import { tamperWith, TAMPERINGS } from './tamper';
import { inputHash, outputHash } from './tensor';
import { TestKey } from './testkit';
import { DEFAULT_MAX_AGE_MS, verifyLogProof, type Opening, type Trust } from './verifier';

type JsonEntry = typeof fixture.proof.entry;
type JsonTensor = { name: string; shape: string[]; dtype: string; data: Array<number | string> };

function entry(e: JsonEntry): LogEntry {
  return {
    seq: BigInt(e.seq),
    timestamp_ns: BigInt(e.timestamp_ns),
    caller: Principal.fromText(e.caller),
    model_id: e.model_id,
    model_sha256: fromHex(e.model_sha256),
    input_hash: fromHex(e.input_hash),
    output_hash: fromHex(e.output_hash),
    input_salted: e.input_salted,
    instructions: BigInt(e.instructions),
  };
}

function tensor(t: JsonTensor): Tensor {
  const data: TensorData =
    t.dtype === 'f32'
      ? { __kind__: 'f32', f32: t.data.map(Number) }
      : { __kind__: 'i64', i64: BigInt64Array.from(t.data, (v) => BigInt(v)) };
  return { name: t.name, shape: BigUint64Array.from(t.shape, (d) => BigInt(d)), data };
}

const p = fixture.proof;
const proof: LogProof = {
  entry: entry(p.entry),
  entry_bytes: fromHex(p.entry_bytes),
  tree_size: BigInt(p.tree_size),
  tree_root: fromHex(p.tree_root),
  inclusion_proof: p.inclusion_proof.map(fromHex),
  consistency_proof: p.consistency_proof.map(fromHex),
  head: {
    tree_size: BigInt(p.head.tree_size),
    root_hash: fromHex(p.head.root_hash),
    certificate: fromHex(p.head.certificate),
    witness: fromHex(p.head.witness),
  },
};

const opening: Opening = {
  inputs: fixture.opening.inputs.map(tensor),
  nonce: fromHex(fixture.opening.nonce),
  outputs: fixture.opening.outputs.map(tensor),
  receipt: entry(fixture.opening.receipt),
};

// The certificate was made a moment after the entry.
const certifiedAround = Number(proof.entry.timestamp_ns / 1_000_000n);

const trust = (overrides: Partial<Trust> = {}): Trust => ({
  rootKey: fromHex(fixture.root_key),
  rootKeySource: 'the host that made the fixture',
  canisterId: Principal.fromText(fixture.canister_id),
  nowMs: certifiedAround + 1_000,
  maxAgeMs: DEFAULT_MAX_AGE_MS,
  ...overrides,
});

describe('a proof from icinfer serve', () => {
  it('verifies: certificate, witness, entry, inclusion, consistency 1 → 2, and the hashes', async () => {
    const report = await verifyLogProof(proof, trust(), opening);
    expect(report.failure).toBeUndefined();
    expect(report.checks.every((c) => c.status === 'passed')).toBe(true);
    expect(report.checks.find((c) => c.key === 'consistency')!.detail).toBe(
      '1 node proves the tree of 1 entry a prefix of the certified tree of 2 entries.',
    );
    expect(report.statement).toMatch(/holds 2 entries/);
  });

  it('has the bytes the TS encoders make', () => {
    expect(toHex(encodeEntry(proof.entry))).toBe(p.entry_bytes);
    expect(toHex(encodeHeadWitness(proof.head.tree_size, proof.head.root_hash))).toBe(p.head.witness);
    expect(toHex(inputHash(opening.inputs, opening.nonce))).toBe(p.entry.input_hash);
    expect(toHex(outputHash(opening.outputs))).toBe(p.entry.output_hash);
  });

  it('is rejected when tampered with, stale, or checked against another root key', async () => {
    for (const { kind } of TAMPERINGS.filter((t) => t.kind !== 'none')) {
      // Entry 0 of a one-entry tree: its inclusion proof is empty, so that tampering adds a node.
      const report = await verifyLogProof(tamperWith(proof, kind), trust(), opening);
      expect(report.verified, kind).toBe(false);
    }
    const stale = await verifyLogProof(proof, trust({ nowMs: certifiedAround + 10 * 60_000 }));
    expect(stale.failure?.key).toBe('freshness');
    const otherKey = await verifyLogProof(proof, trust({ rootKey: new TestKey(9).der() }));
    expect(otherKey.failure?.key).toBe('certificate');
    const otherCanister = await verifyLogProof(proof, trust({ canisterId: Principal.fromText('rrkah-fqaaa-aaaaa-aaaaq-cai') }));
    expect(otherCanister.failure?.key).toBe('certificate');
  });
});
