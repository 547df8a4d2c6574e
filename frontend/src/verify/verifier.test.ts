// The verifier end to end on certificates signed here by test keys as the IC signs them:
// valid proofs pass with every check stated; every tampering is rejected by the check that
// should catch it, and the checks after it are not run.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogProof } from '../bindings/inference';
import { toHex } from './bytes';
import { tamperWith, TAMPERINGS, type Tampering } from './tamper';
import {
  canister,
  inputs,
  logProof,
  MINUTE_NS,
  NONCE,
  NOW_MS,
  NOW_NS,
  outputs,
  TestKey,
} from './testkit';
import { DEFAULT_MAX_AGE_MS, verifyLogProof, type CheckKey, type Opening, type Report, type Trust } from './verifier';

const ROOT = new TestKey(1);
const SUBNET = new TestKey(2);

const trust = (overrides: Partial<Trust> = {}): Trust => ({
  rootKey: ROOT.der(),
  rootKeySource: 'test root key',
  canisterId: canister(),
  nowMs: NOW_MS,
  maxAgeMs: DEFAULT_MAX_AGE_MS,
  ...overrides,
});

const opening = (): Opening => ({ inputs: inputs(), nonce: NONCE, outputs: outputs() });

const statuses = (report: Report) => Object.fromEntries(report.checks.map((c) => [c.key, c.status]));

function expectFailureAt(report: Report, key: CheckKey, reason: RegExp) {
  expect(report.verified).toBe(false);
  expect(report.failure?.key).toBe(key);
  expect(report.failure?.detail).toMatch(reason);
  const at = report.checks.findIndex((c) => c.key === key);
  expect(report.checks.slice(0, at).every((c) => c.status === 'passed')).toBe(true);
  expect(report.checks.slice(at + 1).every((c) => c.status === 'not-run')).toBe(true);
}

describe('a valid log proof', () => {
  it('passes every check, with the tensors the page kept', async () => {
    const proof = await logProof({ logSize: 5, index: 3, root: ROOT });
    const report = await verifyLogProof(proof, trust(), opening());
    expect(report.checks.map((c) => [c.key, c.status])).toEqual([
      ['certificate', 'passed'],
      ['freshness', 'passed'],
      ['witness', 'passed'],
      ['entry', 'passed'],
      ['inclusion', 'passed'],
      ['consistency', 'passed'],
      ['input-hash', 'passed'],
      ['output-hash', 'passed'],
    ]);
    expect(report.verified).toBe(true);
    expect(report.rootKeyHex).toBe(toHex(ROOT.der()));
    expect(report.statement).toMatch(/holds 5 entries/);
    expect(report.statement).toMatch(/Entry #3 is in that log/);
    const detail = (key: CheckKey) => report.checks.find((c) => c.key === key)!.detail;
    expect(detail('certificate')).toMatch(/root key directly/);
    expect(detail('freshness')).toMatch(/0 s ago/);
    expect(detail('inclusion')).toMatch(/3 nodes lead from leaf #3/);
    expect(detail('input-hash')).toMatch(/32-byte nonce/);
  });

  it('skips the tensor checks when the page holds no opening', async () => {
    const report = await verifyLogProof(await logProof({ logSize: 2, index: 0, root: ROOT }), trust());
    expect(report.verified).toBe(true);
    expect(statuses(report)['input-hash']).toBe('skipped');
    expect(statuses(report)['output-hash']).toBe('skipped');
    expect(report.statement).toMatch(/No tensors were checked/);
  });

  it('passes for every index and every earlier tree size (consistency to the head)', async () => {
    for (const logSize of [1, 2, 3, 6]) {
      for (let index = 0; index < logSize; index++) {
        for (let treeSize = index + 1; treeSize <= logSize; treeSize++) {
          const report = await verifyLogProof(await logProof({ logSize, index, treeSize, root: ROOT }), trust());
          expect(report.verified, `${index} in ${treeSize} of ${logSize}`).toBe(true);
        }
      }
    }
  }, 60_000);

  it('passes through a delegation whose canister ranges contain the canister', async () => {
    const proof = await logProof({ logSize: 3, index: 1, root: ROOT, subnetKey: SUBNET });
    const report = await verifyLogProof(proof, trust(), opening());
    expect(report.verified).toBe(true);
    expect(report.checks[0].detail).toMatch(/subnet .* whose canister ranges contain/);
  });
});

describe('a proof that must be rejected', () => {
  const demo = async (kind: Tampering, logSize = 3): Promise<Report> =>
    verifyLogProof(tamperWith(await logProof({ logSize, index: 1, root: ROOT }), kind), trust(), opening());

  it('offers every tampering, and "none" changes nothing', async () => {
    expect(TAMPERINGS.map((t) => t.kind)).toEqual([
      'none',
      'inclusion-proof',
      'entry-bytes',
      'forged-entry',
      'witness',
      'certificate',
    ]);
    expect((await demo('none')).verified).toBe(true);
  });

  it('tampers with a copy: the fetched proof stays valid', async () => {
    const proof = await logProof({ logSize: 3, index: 1, root: ROOT });
    for (const { kind } of TAMPERINGS) tamperWith(proof, kind);
    expect((await verifyLogProof(proof, trust(), opening())).verified).toBe(true);
  });

  it('a flipped inclusion-proof node: the proof leads elsewhere', async () => {
    expectFailureAt(await demo('inclusion-proof'), 'inclusion', /leads to root .*, not to the tree root/);
  });

  it('an extra node where a one-entry tree has none', async () => {
    const proof = tamperWith(await logProof({ logSize: 1, index: 0, root: ROOT }), 'inclusion-proof');
    expectFailureAt(await verifyLogProof(proof, trust()), 'inclusion', /more nodes than the tree needs/);
  });

  it('flipped entry bytes: not the encoding of the entry shown', async () => {
    expectFailureAt(await demo('entry-bytes'), 'entry', /not the canonical encoding/);
  });

  it('a forged entry, bytes and fields alike: not in the certified tree', async () => {
    expectFailureAt(await demo('forged-entry'), 'inclusion', /leads to root/);
  });

  it('a flipped witness: not the certified data', async () => {
    expectFailureAt(await demo('witness'), 'witness', /does not hash to the canister's certified data/);
  });

  it('a flipped signature: the certificate does not verify', async () => {
    expectFailureAt(await demo('certificate'), 'certificate', /signature/i);
  });

  it('the wrong root key', async () => {
    const report = await verifyLogProof(await logProof({ logSize: 2, index: 0, root: ROOT }), trust({ rootKey: SUBNET.der() }));
    expectFailureAt(report, 'certificate', /signature/i);
  });

  it('a certificate for another canister', async () => {
    const other = Principal.fromUint8Array(Uint8Array.of(0, 0, 0, 0, 0, 0x30, 0, 0x08, 1, 1));
    const proof = await logProof({ logSize: 2, index: 0, root: ROOT, certifiedFor: other });
    expectFailureAt(await verifyLogProof(proof, trust()), 'certificate', /certified_data/);
  });

  it('a delegation to a subnet whose ranges do not contain the canister', async () => {
    const elsewhere = Principal.fromUint8Array(Uint8Array.of(0, 0, 0, 0, 0, 0x40, 0, 0x00, 1, 1));
    const proof = await logProof({ logSize: 2, index: 0, root: ROOT, subnetKey: SUBNET, range: [elsewhere, elsewhere] });
    expectFailureAt(await verifyLogProof(proof, trust()), 'certificate', /not authorized|range/i);
  });

  it('a stale certificate, and one from the future', async () => {
    const stale = await logProof({ logSize: 2, index: 0, root: ROOT, timeNs: NOW_NS - 6n * MINUTE_NS });
    expectFailureAt(await verifyLogProof(stale, trust()), 'freshness', /6 min ago/);
    const future = await logProof({ logSize: 2, index: 0, root: ROOT, timeNs: NOW_NS + 6n * MINUTE_NS });
    expectFailureAt(await verifyLogProof(future, trust()), 'freshness', /in the future/);
  });

  it('a head without a certificate (an update call)', async () => {
    const proof = await logProof({ logSize: 2, index: 0, root: ROOT });
    const report = await verifyLogProof({ ...proof, head: { ...proof.head, certificate: undefined } }, trust());
    expectFailureAt(report, 'certificate', /no certificate/);
  });

  it('a head that claims another size than the witness', async () => {
    const proof = await logProof({ logSize: 2, index: 0, root: ROOT });
    const report = await verifyLogProof({ ...proof, head: { ...proof.head, tree_size: 3n } }, trust());
    expectFailureAt(report, 'witness', /different log size or root/);
  });

  it('an entry whose seq is not its position', async () => {
    const proof = await logProof({ logSize: 4, index: 1, root: ROOT });
    const moved: LogProof = { ...proof, inclusion_proof: (await logProof({ logSize: 4, index: 2, root: ROOT })).inclusion_proof };
    expectFailureAt(await verifyLogProof(moved, trust()), 'inclusion', /leads to root/);
  });

  it('a tampered consistency proof', async () => {
    const proof = await logProof({ logSize: 5, index: 1, treeSize: 3, root: ROOT });
    expect(proof.consistency_proof.length).toBeGreaterThan(0);
    const flipped = proof.consistency_proof.map((n) => n.slice());
    flipped[0][5] ^= 1;
    expectFailureAt(await verifyLogProof({ ...proof, consistency_proof: flipped }, trust()), 'consistency', /leads to root/);
  });

  it('an entry other than the receipt infer returned', async () => {
    const proof = await logProof({ logSize: 2, index: 1, root: ROOT });
    const ok = await verifyLogProof(proof, trust(), { ...opening(), receipt: proof.entry });
    expect(ok.verified).toBe(true);
    expect(ok.checks[3].detail).toMatch(/It is the receipt infer returned/);
    const otherReceipt = { ...proof.entry, timestamp_ns: proof.entry.timestamp_ns + 1n };
    expectFailureAt(await verifyLogProof(proof, trust(), { ...opening(), receipt: otherReceipt }), 'entry', /not the receipt/);
  });

  it('tensors or a nonce other than the inference had', async () => {
    const proof = await logProof({ logSize: 2, index: 1, root: ROOT });
    const otherNonce = { ...opening(), nonce: new Uint8Array(32).fill(8) };
    expectFailureAt(await verifyLogProof(proof, trust(), otherNonce), 'input-hash', /not to the entry's input_hash/);
    const noNonce = { ...opening(), nonce: undefined };
    expectFailureAt(await verifyLogProof(proof, trust(), noNonce), 'input-hash', /no nonce/);
    const otherOutputs = { ...opening(), outputs: outputs().slice(0, 1) };
    expectFailureAt(await verifyLogProof(proof, trust(), otherOutputs), 'output-hash', /output_hash/);
  });
});
