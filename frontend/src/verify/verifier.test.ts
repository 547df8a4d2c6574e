// testdata/verifier.json, which crates/verify writes: for every log_proof case (certificates
// signed by test keys as the IC signs them, valid and tampered), the TS verifier must make
// the report the Rust verifier makes: every check's status, and the failed check's reason.
// Then the byte sweeps, the page's demonstration tamperings, and a proof `icinfer serve` made.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogProof } from '../bindings/inference';
import { host, heldFrom, proofFrom, trustFrom, verifier, type ExpectedCheck, type LogProofCase } from './corpus';
import { tamperWith, TAMPERINGS, type Tampering } from './tamper';
import { verifyLogProof, type Report } from './verifier';

const summary = (report: Report): ExpectedCheck[] =>
  report.checks.map(({ key, status, reason }) => (reason ? { check: key, status, reason } : { check: key, status }));

const named = (name: string): LogProofCase => {
  const found = verifier.log_proofs.find((c) => c.name === name);
  if (!found) throw new Error(`no case "${name}" in testdata/verifier.json`);
  return found;
};

const run = (c: LogProofCase, proof: LogProof = proofFrom(c.proof)) =>
  verifyLogProof(proof, trustFrom(c.trust), heldFrom(c.held));

describe('every log_proof case of the corpus', () => {
  for (const c of verifier.log_proofs) {
    it(c.name, async () => {
      const report = await run(c);
      expect(summary(report)).toEqual(c.expected.checks);
      expect(report.verified).toBe(c.expected.verified);
      expect(Boolean(report.statement)).toBe(c.expected.verified);
    });
  }
});

describe('byte sweeps: every byte of the field flipped, the named check fails', () => {
  type Field = (p: LogProof) => Uint8Array;
  const fields: Record<string, Field> = {
    'head.certificate': (p) => p.head.certificate!,
    'head.witness': (p) => p.head.witness,
    entry_bytes: (p) => p.entry_bytes,
    'inclusion_proof.0': (p) => p.inclusion_proof[0],
    'consistency_proof.0': (p) => p.consistency_proof[0],
  };
  for (const sweep of verifier.sweeps) {
    it(`${sweep.field}: ${sweep.check}`, async () => {
      const c = named(sweep.case);
      const field = fields[sweep.field];
      const length = field(proofFrom(c.proof)).length;
      for (let at = 0; at < length; at++) {
        const proof = proofFrom(c.proof);
        field(proof)[at] ^= sweep.xor;
        const report = await run(c, proof);
        expect(report.failure?.key, `${sweep.field} byte ${at}`).toBe(sweep.check);
      }
    }, 120_000);
  }
});

describe("the page's demonstration tamperings", () => {
  const valid = verifier.log_proofs[0].name;
  const demonstrations: Array<[Tampering, string, string]> = [
    ['inclusion-proof', valid, "inclusion proof: a node's last bit flipped"],
    ['entry-bytes', valid, "an entry byte flipped (the page's demonstration)"],
    ['forged-entry', valid, "the output hash forged in the entry and its bytes alike (the page's demonstration)"],
    ['witness', valid, "the witness's last byte flipped (the page's demonstration)"],
    ['certificate', valid, "the signature's last bit flipped (the page's demonstration)"],
    ['inclusion-proof', 'a one-entry log: empty inclusion and consistency proofs', 'a one-entry tree with an inclusion node added (the page\'s demonstration)'],
  ];

  it('offers every tampering, and "none" and every tampering leave the fetched proof as it was', async () => {
    expect(TAMPERINGS.map((t) => t.kind).sort()).toEqual([...new Set(demonstrations.map(([kind]) => kind)), 'none'].sort());
    const c = named(valid);
    const proof = proofFrom(c.proof);
    for (const { kind } of TAMPERINGS) tamperWith(proof, kind);
    expect((await run(c, tamperWith(proof, 'none'))).verified).toBe(true);
  });

  for (const [kind, base, expected] of demonstrations) {
    it(`${kind} on "${base}" is caught as "${expected}" is`, async () => {
      const tampered = tamperWith(proofFrom(named(base).proof), kind);
      const c = named(expected);
      expect(summary(await run(c, tampered))).toEqual(c.expected.checks);
    });
  }
});

describe('a proof from icinfer serve (testdata/host-log-proof.json)', () => {
  it('verifies with the tensors, nonce and receipt its caller kept', async () => {
    const report = await verifyLogProof(host.proof, host.trust(), host.held);
    expect(report.failure).toBeUndefined();
    expect(report.checks.map((c) => c.status)).toEqual([...Array(8).fill('passed'), ...Array(3).fill('skipped')]);
    expect(report.checks.find((c) => c.key === 'consistency')!.detail).toBe(
      '1 node proves the tree of 1 entry a prefix of the certified tree of 2 entries.',
    );
    expect(report.statement).toMatch(/holds 2 entries/);
  });

  it('is rejected when tampered with, stale, or checked against another key or canister', async () => {
    for (const { kind } of TAMPERINGS.filter((t) => t.kind !== 'none')) {
      expect((await verifyLogProof(tamperWith(host.proof, kind), host.trust(), host.held)).verified, kind).toBe(false);
    }
    const stale = await verifyLogProof(host.proof, host.trust(10 * 60_000));
    expect(stale.failure?.reason).toBe('not-fresh');
    const otherKey = await verifyLogProof(host.proof, host.trust(1_000, { rootKey: trustFrom(verifier.log_proofs[0].trust).rootKey }));
    expect(otherKey.failure?.reason).toBe('invalid-signature');
    const otherCanister = Principal.fromText('rrkah-fqaaa-aaaaa-aaaaq-cai');
    const elsewhere = await verifyLogProof(host.proof, host.trust(1_000, { canisterId: otherCanister }));
    expect(elsewhere.failure?.reason).toBe('missing-certified-data');
  });
});

describe('what the page shows', () => {
  it('states each check and the claim in words', async () => {
    const report = await run(named(verifier.log_proofs[0].name));
    const detail = (key: string) => report.checks.find((c) => c.key === key)!.detail;
    expect(detail('certificate')).toMatch(/root key directly/);
    expect(detail('freshness')).toMatch(/60 s ago/);
    expect(detail('entry')).toMatch(/It is the receipt infer returned/);
    expect(detail('inclusion')).toMatch(/1 node leads from leaf #1/);
    expect(detail('input-hash')).toMatch(/32-byte nonce/);
    expect(report.statement).toMatch(/holds 3 entries/);
    expect(report.statement).toMatch(/Entry #1 is in that log/);
    const skipped = await run(named('the same, nothing held: the tensor and model checks are skipped'));
    expect(skipped.statement).toMatch(/No tensors were checked/);
  });
});
