// testdata/bundle.json, which crates/verify writes: for every provenance bundle case, the TS
// verifier must make the report the Rust verifier makes (each check of the entry's and the
// code epoch's proofs, the attribution, the content, the first failure and the module that
// wrote the entry); every unreadable file is refused for the same reason.

import { describe, expect, it } from 'vitest';
// As text, parsed here: Vite's JSON import re-serialises large files.
import bundleText from '../../../testdata/bundle.json?raw';
import { fromHex, toHex } from './bytes';
import { BundleError, checkContent, parseBundle, verifyBundle, type BundleReport, type Outcome } from './bundle';
import type { Report } from './verifier';

interface ExpectedOutcome {
  check: string;
  status: string;
  reason?: string;
}

interface BundleCase {
  name: string;
  root_key: string;
  content: string | null;
  expected_module_hashes: string[];
  bundle: unknown;
  expected: {
    verified: boolean;
    failure: { part: string; reason: string } | null;
    entry: ExpectedOutcome[];
    code_epoch: ExpectedOutcome[] | null;
    attribution: ExpectedOutcome;
    content: ExpectedOutcome;
    module_hash: string | null;
  };
}

const corpus = JSON.parse(bundleText) as {
  bundles: BundleCase[];
  unreadable: Array<{ name: string; text: string; reason: string }>;
};

const checks = (report: Report): ExpectedOutcome[] =>
  report.checks.map(({ key, status, reason }) => (reason ? { check: key, status, reason } : { check: key, status }));

const outcome = (check: string, o: Outcome): ExpectedOutcome =>
  o.reason ? { check, status: o.status, reason: o.reason } : { check, status: o.status };

/** The report in the corpus's form (tests/corpus/bundle.rs `report_json`). */
const summary = (r: BundleReport) => ({
  verified: r.verified,
  failure: r.failure ? { part: r.failure.part, reason: r.failure.reason } : null,
  entry: checks(r.entry),
  code_epoch: r.epoch ? checks(r.epoch) : null,
  attribution: outcome('attribution', r.attribution),
  content: outcome('content', r.content),
  module_hash: r.writtenBy ? toHex(r.writtenBy.epoch.module_hash) : null,
});

const run = (c: BundleCase, content = c.content === null ? undefined : fromHex(c.content)) =>
  verifyBundle(
    parseBundle(JSON.stringify(c.bundle)),
    { rootKey: fromHex(c.root_key), rootKeySource: 'the corpus' },
    content,
    c.expected_module_hashes.map(fromHex),
  );

describe('every bundle case of the corpus', () => {
  for (const c of corpus.bundles) {
    it(c.name, async () => {
      expect(summary(await run(c))).toEqual(c.expected);
    });
  }
});

describe('files that are no bundle', () => {
  for (const c of corpus.unreadable) {
    it(c.name, () => {
      expect(() => parseBundle(c.text)).toThrow(BundleError);
      try {
        parseBundle(c.text);
      } catch (e) {
        expect((e as BundleError).reason).toBe(c.reason);
      }
    });
  }
  it('a file over the bound', () => {
    expect(() => parseBundle(' '.repeat((8 << 20) + 1))).toThrow(/at most/);
  });
});

describe('a changed content byte', () => {
  // Through the whole report for the first byte; through the check itself for the others
  // (the proofs' checks do not depend on the content).
  for (const c of corpus.bundles.filter((b) => b.expected.verified && b.content !== null)) {
    it(c.name, async () => {
      const content = fromHex(c.content!);
      const flipped = (i: number) => {
        const changed = content.slice();
        changed[i] ^= 0x01;
        return changed;
      };
      const report = await run(c, flipped(0));
      expect(report.failure).toMatchObject({ part: 'content', reason: 'output-hash-mismatch' });
      const entry = parseBundle(JSON.stringify(c.bundle)).entry.entry;
      for (let i = 0; i < content.length; i++) {
        expect(checkContent(entry, flipped(i))).toMatchObject({ status: 'failed', reason: 'output-hash-mismatch' });
      }
    });
  }
});
