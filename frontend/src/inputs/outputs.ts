// Reading a model's outputs: top-k classes, named by the model's preset labels
// (models/manifest.json) when it has one label per class.

import type { Tensor } from '../bindings/inference';
import { tensorValues } from '../verify/tensor';

export interface Ranked {
  index: number;
  label: string;
  score: number;
}

/** A float output of one row of classes ([C] or [1, C], 2 ≤ C ≤ 10,000) ranks; others do not. */
export function isClassScores(tensor: Tensor): boolean {
  if (tensor.data.__kind__ !== 'f32' && tensor.data.__kind__ !== 'f64') return false;
  const dims = Array.from(tensor.shape, Number);
  const classes = dims[dims.length - 1];
  return dims.slice(0, -1).every((d) => d === 1) && classes >= 2 && classes <= 10_000;
}

export function topK(tensor: Tensor, labels: readonly string[] | undefined, k: number): Ranked[] {
  const scores = Array.from(tensorValues(tensor.data) as ArrayLike<number>);
  const named = labels?.length === scores.length ? labels : undefined;
  return scores
    .map((score, index) => ({ index, score, label: named?.[index] ?? `class ${index}` }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, k);
}

/** True when the scores look like probabilities (all in [0, 1], summing to about 1). */
export function looksLikeProbabilities(tensor: Tensor): boolean {
  const values = Array.from(tensorValues(tensor.data) as ArrayLike<number>);
  const sum = values.reduce((a, b) => a + b, 0);
  return values.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
}

/** A short text of a tensor's first values, for outputs that do not rank. */
export function previewValues(tensor: Tensor, limit = 16): string {
  const values = Array.from(tensorValues(tensor.data) as ArrayLike<number | bigint | boolean>);
  const shown = values.slice(0, limit).map((v) => (typeof v === 'number' ? formatNumber(v) : String(v)));
  return `[${shown.join(', ')}${values.length > limit ? `, … (${values.length} values)` : ''}]`;
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(3) : value.toFixed(4);
}
