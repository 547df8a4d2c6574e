// The certified head: LEB128, the commitment and the witness bytes, pinned by
// crates/verify/src/head.rs and docs/reference/hashing.py.

import { Cbor } from '@icp-sdk/core/agent';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from './bytes';
import { decodeLeb128, encodeHeadWitness, headCommitment, leb128, readWitness, WitnessError } from './head';
import { EMPTY_ROOT } from './merkle';

describe('LEB128', () => {
  it('round-trips and refuses non-canonical forms', () => {
    for (const value of [0n, 1n, 127n, 128n, 300n, 624_485n, 2n ** 63n - 1n, 2n ** 64n - 1n]) {
      expect(decodeLeb128(leb128(value))).toBe(value);
    }
    expect(toHex(leb128(624_485n))).toBe('e58e26');
    expect(decodeLeb128(new Uint8Array())).toBeNull();
    expect(decodeLeb128(Uint8Array.of(0x80))).toBeNull();
    expect(decodeLeb128(Uint8Array.of(0x81, 0x00))).toBeNull();
    expect(decodeLeb128(Uint8Array.of(0x01, 0x01))).toBeNull();
    const tooBig = leb128(2n ** 64n - 1n);
    tooBig[9] = 0x02;
    expect(decodeLeb128(tooBig)).toBeNull();
  });
});

describe('head commitment and witness', () => {
  it('match the reference vectors', () => {
    expect(toHex(headCommitment(300n, new Uint8Array(32).fill(0xab)))).toBe(
      '849169d60495ab34158b1c201d75a15e477a4f247c28e4295b0e6e7bdaa02ed1',
    );
    expect(toHex(headCommitment(0n, EMPTY_ROOT))).toBe('85caad52d1dccb636d3a848114e49656fdd87ac06be337b9c98691b0b7b7baa2');
  });

  it('has the pinned witness layout', () => {
    const expected =
      'd9d9f78301' + '830248' + toHex(utf8('log_root')) + '82035820' + 'ab'.repeat(32) +
      '830248' + toHex(utf8('log_size')) + '820342ac02';
    expect(toHex(encodeHeadWitness(300n, new Uint8Array(32).fill(0xab)))).toBe(expected);
  });

  it('reads a witness: its digest is the commitment', async () => {
    const root = new Uint8Array(32).fill(0xab);
    const reading = await readWitness(encodeHeadWitness(300n, root));
    expect(reading.treeSize).toBe(300n);
    expect(toHex(reading.root)).toBe(toHex(root));
    expect(toHex(reading.digest)).toBe(toHex(headCommitment(300n, root)));
  });

  it('refuses witnesses that are not the head tree', async () => {
    const root = new Uint8Array(32).fill(0xab);
    const good = encodeHeadWitness(300n, root);
    await expect(readWitness(good.slice(0, -1))).rejects.toBeInstanceOf(WitnessError);
    // A size in a padded (non-canonical) LEB128 form.
    const padded = concatBytes(good.slice(0, -3), fromHex('43ac8200'));
    await expect(readWitness(padded)).rejects.toThrow(/LEB128/);
    // A root that is not 32 bytes.
    const shortRoot = Cbor.encode([1, [2, utf8('log_root'), [3, new Uint8Array(31)]], [2, utf8('log_size'), [3, leb128(1n)]]]);
    await expect(readWitness(new Uint8Array(shortRoot))).rejects.toThrow(/not 32/);
    // Labels missing, or an extra subtree that changes the shape.
    const noSize = Cbor.encode([2, utf8('log_root'), [3, root]]);
    await expect(readWitness(new Uint8Array(noSize))).rejects.toThrow(/log_size/);
    const extra = Cbor.encode([1, [1, [2, utf8('log_root'), [3, root]], [2, utf8('log_size'), [3, leb128(300n)]]], [2, utf8('zzz'), [3, root]]]);
    await expect(readWitness(new Uint8Array(extra))).rejects.toThrow(/shape/);
  });
});
