import { describe, expect, it } from 'vitest';
import { digitPixels, inkFromRgba } from './digits';

// models/digits/reference/case0_in_pixels.npy × 16: a held-out test image of the digits
// model, whose ink spans all rows and columns 1–6 (so its bounding square is the image).
const CASE0 = [
  0, 0, 0, 0, 11, 14, 3, 0,
  0, 0, 0, 2, 16, 16, 2, 0,
  0, 0, 0, 11, 16, 14, 0, 0,
  0, 0, 3, 16, 16, 15, 0, 0,
  0, 1, 13, 16, 16, 13, 0, 0,
  0, 6, 16, 9, 15, 13, 0, 0,
  0, 0, 0, 0, 12, 16, 1, 0,
  0, 0, 0, 0, 9, 14, 1, 0,
];

/** The 8×8 image drawn large: each pixel a scale × scale block, on a wider canvas. */
function upscale(pixels: number[], scale: number, padX: number, padY: number) {
  const width = 8 * scale + 2 * padX;
  const height = 8 * scale + 2 * padY;
  const ink = new Float32Array(width * height);
  for (let y = 0; y < 8 * scale; y++) {
    for (let x = 0; x < 8 * scale; x++) {
      ink[(y + padY) * width + x + padX] = pixels[Math.floor(y / scale) * 8 + Math.floor(x / scale)] / 16;
    }
  }
  return { ink, width, height };
}

describe('the digit pad', () => {
  it('reproduces a training-style image drawn large anywhere on the canvas', () => {
    for (const [padX, padY] of [[0, 0], [40, 7], [3, 90]]) {
      const { ink, width, height } = upscale(CASE0, 32, padX, padY);
      const pixels = digitPixels(ink, width, height)!;
      expect(Array.from(pixels, (v) => Math.round(v * 16))).toEqual(CASE0);
    }
  });

  it('fits the longer side and centres the shorter one', () => {
    // A vertical bar 40 px wide and 160 px tall: two cells of 20 px, the middle columns.
    const width = 200, height = 200;
    const ink = new Float32Array(width * height);
    for (let y = 20; y < 180; y++) for (let x = 80; x < 120; x++) ink[y * width + x] = 1;
    const pixels = digitPixels(ink, width, height)!;
    for (let row = 0; row < 8; row++) {
      const line = Array.from(pixels.slice(row * 8, row * 8 + 8));
      expect(line.map((v) => (v > 0.5 ? 1 : 0))).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
    }
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
  });

  it('returns null for an empty canvas', () => {
    expect(digitPixels(new Float32Array(100), 10, 10)).toBeNull();
  });

  it('reads dark ink on a light canvas', () => {
    const rgba = Uint8ClampedArray.of(255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0);
    expect(Array.from(inkFromRgba(rgba))).toEqual([0, 1, 0]);
  });
});
