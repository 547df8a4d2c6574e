import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import { DType, type Dim, type ModelInfo, type TensorFact } from '../bindings/inference';
import { imageInputShape, inputModes, jsonTemplate, parseJsonTensors } from './tensors';

const fixed = (n: number): Dim => ({ __kind__: 'fixed', fixed: BigInt(n) });
const symbol = (s: string): Dim => ({ __kind__: 'symbol', symbol: s });
const fact = (name: string, dtype: DType, shape: Dim[]): TensorFact => ({ name, dtype, shape });

function model(id: string, inputs: TensorFact[]): ModelInfo {
  return {
    id,
    sha256: new Uint8Array(32),
    size_bytes: 1n,
    state: { __kind__: 'ready', ready: null },
    created_at_ns: 0n,
    created_by: Principal.anonymous(),
    inputs,
    outputs: [],
  };
}

describe('input modes from model facts', () => {
  it('draws digits for f32[N, 64], pictures for f32[1, 3, H, W], JSON for anything', () => {
    expect(inputModes(model('digits', [fact('pixels', DType.f32, [symbol('N'), fixed(64)])]))).toEqual(['digit', 'json']);
    const image = model('m', [fact('x', DType.f32, [fixed(1), fixed(3), fixed(48), fixed(192)])]);
    expect(inputModes(image)).toEqual(['image', 'json']);
    expect(imageInputShape(image)).toEqual({ channels: 3, height: 48, width: 192, dtype: 'f32' });
    const pixels = model('m', [fact('image', DType.u8, [fixed(1), fixed(3), fixed(224), fixed(224)])]);
    expect(inputModes(pixels)).toEqual(['image', 'json']);
    expect(imageInputShape(pixels)).toEqual({ channels: 3, height: 224, width: 224, dtype: 'u8' });
    expect(inputModes(model('m', [fact('x', DType.f32, [fixed(1), fixed(3), symbol('H'), symbol('W')])]))).toEqual(['json']);
    expect(inputModes(model('m', [fact('x', DType.i64, [fixed(1), fixed(64)])]))).toEqual(['json']);
  });
});

describe('JSON tensors', () => {
  it('parse every dtype, nested data and fills', () => {
    const tensors = parseJsonTensors(JSON.stringify([
      { name: 'a', dtype: 'f32', shape: [2, 2], data: [[0.1, 2], [3, -4]] },
      { name: 'b', dtype: 'i64', shape: [2], data: [7, '-9223372036854775808'] },
      { name: 'c', dtype: 'bool', shape: [3], data: [true, 0, 1] },
      { name: 'd', dtype: 'u8', shape: [2, 3], data: { fill: 9 } },
      { name: 'e', dtype: 'i8', shape: [], data: [-128] },
    ]));
    expect(tensors.map((t) => t.data.__kind__)).toEqual(['f32', 'i64', 'bool', 'u8', 'i8']);
    const a = tensors[0].data;
    expect(a.__kind__ === 'f32' && a.f32[0]).toBe(Math.fround(0.1));
    const b = tensors[1].data;
    expect(b.__kind__ === 'i64' && b.i64[1]).toBe(-(2n ** 63n));
    const c = tensors[2].data;
    expect(c.__kind__ === 'bool' && c.bool).toEqual([true, false, true]);
    expect(Array.from(tensors[3].shape)).toEqual([2n, 3n]);
  });

  it('explain what is wrong', () => {
    const bad = (value: unknown) => () => parseJsonTensors(JSON.stringify(value));
    expect(() => parseJsonTensors('[')).toThrow(/not JSON/);
    expect(bad({})).toThrow(/list of tensors/);
    expect(bad([{ name: 'x', dtype: 'f16', shape: [1], data: [1] }])).toThrow(/dtype/);
    expect(bad([{ name: 'x', dtype: 'f32', shape: [3], data: [1] }])).toThrow(/needs 3 values, got 1/);
    expect(bad([{ name: 'x', dtype: 'u8', shape: [1], data: [256] }])).toThrow(/x\[0\] = 256/);
    expect(bad([{ name: 'x', dtype: 'i64', shape: [1], data: [2 ** 60] }])).toThrow(/decimal string/);
    expect(bad([{ name: 'x', dtype: 'f32', shape: [1], data: [1] }, { name: 'x', dtype: 'f32', shape: [1], data: [1] }])).toThrow(/two tensors/);
  });

  it('template the inputs of a model, and the template parses', () => {
    const facts = [fact('x', DType.f32, [symbol('N'), fixed(3)]), fact('big', DType.u8, [fixed(100)])];
    const tensors = parseJsonTensors(jsonTemplate(facts));
    expect(tensors.map((t) => [t.name, Array.from(t.shape)])).toEqual([['x', [1n, 3n]], ['big', [100n]]]);
  });
});
