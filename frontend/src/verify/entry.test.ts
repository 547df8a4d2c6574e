// The entry encoding pinned by docs/hashing.md and crates/verify/src/entry.rs.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../bindings/inference';
import { toHex } from './bytes';
import { decodeEntry, encodeEntry, entriesEqual } from './entry';

export function sampleEntry(seq: bigint): LogEntry {
  return {
    seq,
    timestamp_ns: 1_700_000_000_000_000_000n + seq,
    caller: Principal.anonymous(),
    model_id: 'digits',
    model_sha256: new Uint8Array(32).fill(0xaa),
    input_hash: new Uint8Array(32).fill(0xbb),
    output_hash: new Uint8Array(32).fill(0xcc),
    input_salted: seq % 2n === 1n,
    instructions: 123_456n + seq,
  };
}

describe('log entry encoding', () => {
  it('is pinned (docs/hashing.md example)', () => {
    const entry: LogEntry = {
      seq: 1n,
      timestamp_ns: 2n,
      caller: Principal.anonymous(),
      model_id: 'm',
      model_sha256: new Uint8Array(32).fill(0x11),
      input_hash: new Uint8Array(32).fill(0x22),
      output_hash: new Uint8Array(32).fill(0x33),
      input_salted: true,
      instructions: 3n,
    };
    const bytes = encodeEntry(entry);
    expect(toHex(bytes)).toBe(
      '01' + '0100000000000000' + '0200000000000000' + '0104' + '016d' +
        '11'.repeat(32) + '22'.repeat(32) + '33'.repeat(32) + '01' + '0300000000000000',
    );
    const decoded = decodeEntry(bytes);
    expect(decoded).not.toBeNull();
    expect(entriesEqual(decoded!, entry)).toBe(true);
  });

  it('round-trips a 29-byte principal and large numbers', () => {
    const entry = {
      ...sampleEntry(3n),
      caller: Principal.fromUint8Array(new Uint8Array(29).fill(0xa1)),
      seq: 2n ** 64n - 1n,
      instructions: 2n ** 63n,
    };
    expect(entriesEqual(decodeEntry(encodeEntry(entry))!, entry)).toBe(true);
  });

  it('refuses malformed bytes: truncated, extended, other version, unknown flags', () => {
    const bytes = encodeEntry(sampleEntry(0n));
    for (let cut = 0; cut < bytes.length; cut++) expect(decodeEntry(bytes.slice(0, cut))).toBeNull();
    expect(decodeEntry(Uint8Array.from([...bytes, 0]))).toBeNull();
    const version = bytes.slice();
    version[0] = 2;
    expect(decodeEntry(version)).toBeNull();
    const flags = bytes.slice();
    flags[bytes.length - 9] = 2;
    expect(decodeEntry(flags)).toBeNull();
    const longCaller = bytes.slice();
    longCaller[17] = 30;
    expect(decodeEntry(longCaller)).toBeNull();
  });

  it('refuses entries without a canonical form', () => {
    expect(() => encodeEntry({ ...sampleEntry(0n), output_hash: new Uint8Array(31) })).toThrow(/output_hash/);
    expect(() => encodeEntry({ ...sampleEntry(0n), model_id: 'm'.repeat(256) })).toThrow(/model id/);
  });

  it('sees every field in entriesEqual', () => {
    const base = sampleEntry(4n);
    const changes: Array<Partial<LogEntry>> = [
      { seq: 5n },
      { timestamp_ns: 1n },
      { caller: Principal.fromUint8Array(Uint8Array.of(1)) },
      { model_id: 'other' },
      { model_sha256: new Uint8Array(32) },
      { input_hash: new Uint8Array(32) },
      { output_hash: new Uint8Array(32) },
      { input_salted: true },
      { instructions: 0n },
    ];
    for (const change of changes) expect(entriesEqual(base, { ...base, ...change })).toBe(false);
  });
});
