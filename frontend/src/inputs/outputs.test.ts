import { describe, expect, it } from 'vitest';
import type { Tensor } from '../bindings/inference';
import { isClassScores, looksLikeProbabilities, previewValues, topK } from './outputs';

const f32 = (name: string, shape: number[], values: number[]): Tensor => ({
  name,
  shape: BigUint64Array.from(shape.map(BigInt)),
  data: { __kind__: 'f32', f32: values },
});

describe('outputs', () => {
  const probabilities = f32('probabilities', [1, 10], [0.01, 0.02, 0.03, 0.6, 0.04, 0.05, 0.06, 0.07, 0.08, 0.04]);

  const digits = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

  it('rank classes with labels, one per class', () => {
    expect(isClassScores(probabilities)).toBe(true);
    expect(looksLikeProbabilities(probabilities)).toBe(true);
    expect(topK(probabilities, digits, 3)).toEqual([
      { index: 3, label: '3', score: 0.6 },
      { index: 8, label: '8', score: 0.08 },
      { index: 7, label: '7', score: 0.07 },
    ]);
    expect(topK(probabilities, undefined, 1)[0].label).toBe('class 3');
    expect(topK(probabilities, ['a', 'b'], 1)[0].label, 'not one label per class').toBe('class 3');
  });

  it('leave maps and integer outputs alone', () => {
    expect(isClassScores(f32('map', [1, 1, 4, 4], Array(16).fill(0)))).toBe(false);
    expect(isClassScores({ name: 'label', shape: BigUint64Array.of(1n), data: { __kind__: 'i64', i64: BigInt64Array.of(3n) } })).toBe(false);
    expect(previewValues({ name: 'label', shape: BigUint64Array.of(1n), data: { __kind__: 'i64', i64: BigInt64Array.of(3n) } })).toBe('[3]');
    expect(previewValues(f32('x', [20], Array(20).fill(0.5)), 2)).toBe('[0.5000, 0.5000, … (20 values)]');
  });
});
