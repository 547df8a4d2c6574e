// The page's picture path (presets, the wasm preprocessor, the tensor, the input hash) on
// the shared picture vectors of crates/preprocess/testdata, which the CLI must meet too
// (crates/cli/tests/cli.rs): the same PNG gives the same input hash from either client.

import { beforeAll, describe, expect, it } from 'vitest';
import picturePng from '../../../crates/preprocess/testdata/picture.png?inline';
import vectors from '../../../crates/preprocess/testdata/picture-inputs.json';
import type { TensorFact } from '../bindings/inference';
import { fromHex, toHex } from '../verify/bytes';
import { inputHash } from '../verify/tensor';
import wasm from './preprocess.wasm?inline';
import { inputSpec, preparedTensor, Preprocessor, previewRgba } from './preprocess';
import { presetFor } from './presets';

const bytesOf = (dataUrl: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(dataUrl.slice(dataUrl.indexOf(',') + 1)), (c) => c.charCodeAt(0));

const fact = (input: (typeof vectors.cases)[number]['input']): TensorFact => ({
  name: input.name,
  dtype: input.dtype as TensorFact['dtype'],
  shape: input.shape.map((d) => (d === null ? { __kind__: 'symbol', symbol: 'N' } : { __kind__: 'fixed', fixed: BigInt(d) })),
});

let preprocessor: Preprocessor;
const picture = bytesOf(picturePng);

beforeAll(async () => {
  preprocessor = await Preprocessor.instantiate(bytesOf(wasm));
});

describe('pictures through the wasm preprocessor', () => {
  it.each(vectors.cases.map((c) => [c.model, c] as const))('%s: the input hash the CLI gives the same picture', (_, c) => {
    const input = fact(c.input);
    const preset = presetFor({ id: c.model, sha256: fromHex(c.sha256) });
    const prepared = preprocessor.prepare(picture, inputSpec(input)!, preset);
    expect(toHex(inputHash([preparedTensor(input.name, prepared)])!)).toBe(c.input_hash);
  });

  it('lays out, normalises and previews as the preset says', () => {
    const spec = { dtype: 'f32' as const, shape: [1, 3, 2, 3] };
    const prepared = preprocessor.prepare(picture, spec, { scale: 2, mean: [1], std: [4], order: 'BGR' });
    expect(prepared.shape).toEqual([1, 3, 2, 3]);
    expect([prepared.width, prepared.height, prepared.channels]).toEqual([3, 2, 3]);
    const { values, pixels } = prepared;
    // The first plane is blue: pixel 0's third byte, (2 p - 1) / 4.
    expect(values[0]).toBe((2 * pixels[2] - 1) / 4);
    // Then green, then red.
    expect(values[6]).toBe((2 * pixels[1] - 1) / 4);
    expect(values[12]).toBe((2 * pixels[0] - 1) / 4);
    const rgba = previewRgba(prepared);
    expect(Array.from(rgba.slice(0, 4))).toEqual([pixels[0], pixels[1], pixels[2], 255]);
    const u8 = preprocessor.prepare(picture, { dtype: 'u8', shape: [1, 3, 2, 3] }, {});
    expect(u8.values).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8.values.slice(0, 6))).toEqual([0, 3, 6, 9, 12, 15].map((i) => pixels[i]));
  });

  it('says why a picture or a preset cannot be used, and keeps working', () => {
    const spec = { dtype: 'f32' as const, shape: [1, 3, 4, 4] };
    expect(() => preprocessor.prepare(Uint8Array.of(1, 2, 3), spec, {})).toThrow(/decoding the image/);
    expect(() => preprocessor.prepare(picture, spec, { std: [0] })).toThrow(/every std must be positive/);
    expect(() => preprocessor.prepare(picture, { dtype: 'f32', shape: [1, 3, null, null] }, {})).toThrow(/size is free/);
    // After errors, and many calls in a row, it still answers.
    for (let i = 0; i < 200; i++) preprocessor.prepare(picture, spec, {});
    expect(preprocessor.prepare(picture, spec, {}).shape).toEqual([1, 3, 4, 4]);
  });
});
