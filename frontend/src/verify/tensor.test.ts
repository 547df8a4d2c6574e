// Golden vectors from docs/hashing.md (made by docs/reference/hashing.py and pinned by
// crates/verify/src/tensor.rs): the TS encoder must reproduce the canister's bytes.

import { describe, expect, it } from 'vitest';
import type { Tensor, TensorData } from '../bindings/inference';
import { toHex } from './bytes';
import { encodeTensorList, inputHash, outputHash } from './tensor';

export function tensor(name: string, shape: number[], data: TensorData): Tensor {
  return { name, shape: BigUint64Array.from(shape.map(BigInt)), data };
}

const golden = (): Tensor[] => [
  tensor('b', [1, 2], { __kind__: 'i64', i64: BigInt64Array.from([3n, 4n]) }),
  tensor('a', [3], { __kind__: 'f32', f32: [0.5, 0.25, -1.0] }),
];

describe('tensor list encoding', () => {
  it('is pinned byte for byte (docs/hashing.md)', () => {
    const bytes = encodeTensorList([tensor('x', [2], { __kind__: 'f32', f32: [1.0, -2.5] })]);
    expect(toHex(bytes)).toBe(
      '01000000' + '01000000' + '78' + '01' + '01000000' + '0200000000000000' + '0800000000000000' + '0000803f' + '000020c0',
    );
  });

  it('encodes every dtype little-endian with its code', () => {
    const cases: Array<[TensorData, number, string]> = [
      [{ __kind__: 'f64', f64: [1.0] }, 2, '000000000000f03f'],
      [{ __kind__: 'i64', i64: BigInt64Array.from([-2n]) }, 3, 'feffffffffffffff'],
      [{ __kind__: 'i32', i32: Int32Array.from([258]) }, 4, '02010000'],
      [{ __kind__: 'i8', i8: Int8Array.from([-1]) }, 5, 'ff'],
      [{ __kind__: 'u8', u8: Uint8Array.from([7]) }, 6, '07'],
      [{ __kind__: 'bool', bool: [true] }, 7, '01'],
    ];
    for (const [data, code, dataHex] of cases) {
      const bytes = encodeTensorList([tensor('t', [1], data)]);
      expect(bytes[9]).toBe(code);
      expect(toHex(bytes).endsWith(dataHex)).toBe(true);
    }
  });

  it('encodes an empty list as four zero bytes', () => {
    expect(toHex(encodeTensorList([]))).toBe('00000000');
  });

  it('sorts names by their UTF-8 bytes, not by UTF-16 code units', () => {
    // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
    const first = tensor('\uff21', [1], { __kind__: 'u8', u8: Uint8Array.of(1) });
    const second = tensor('\u{1f600}', [1], { __kind__: 'u8', u8: Uint8Array.of(2) });
    const bytes = encodeTensorList([second, first]);
    expect(toHex(bytes.slice(8, 11))).toBe('efbca1');
  });
});

describe('input and output hashes', () => {
  it('match the golden vectors', () => {
    expect(toHex(inputHash(golden()))).toBe('abf1302de9d89cadd63e069e1f896dd9a4a8f2e2b7e551ea82eeee4708f05368');
    expect(toHex(inputHash(golden(), new Uint8Array(16).fill(0x42)))).toBe(
      '37f44f3f87b48296a9eb7b03a99a7e54705c45e388cd6c7636a804faacc76506',
    );
    expect(toHex(outputHash(golden()))).toBe('b75da9fa8ee474829df1e70cac86cd89c1417ef5ae6b3d51f12c28437fbdbd9a');
  });

  it('do not depend on tensor order, but on everything else', () => {
    const a = tensor('a', [2], { __kind__: 'f32', f32: [1, 2] });
    const b = tensor('b', [1], { __kind__: 'i32', i32: Int32Array.of(7) });
    const base = toHex(inputHash([a, b]));
    expect(toHex(inputHash([b, a]))).toBe(base);
    expect(toHex(outputHash([a, b]))).not.toBe(base);
    expect(toHex(inputHash([a, b], new Uint8Array(16)))).not.toBe(base);
    expect(toHex(inputHash([{ ...a, shape: BigUint64Array.of(1n, 2n) }, b]))).not.toBe(base);
    expect(toHex(inputHash([a, tensor('b', [1], { __kind__: 'f32', f32: [7] })]))).not.toBe(base);
    expect(toHex(inputHash([a, { ...b, name: 'c' }]))).not.toBe(base);
    expect(toHex(inputHash([tensor('a', [2], { __kind__: 'f32', f32: [1, -0] }), b]))).not.toBe(
      toHex(inputHash([tensor('a', [2], { __kind__: 'f32', f32: [1, 0] }), b])),
    );
  });

  it('refuse a nonce too long to encode', () => {
    expect(() => inputHash([], new Uint8Array(256))).toThrow();
    expect(inputHash([], new Uint8Array(255))).toHaveLength(32);
  });
});
