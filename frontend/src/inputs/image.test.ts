import { describe, expect, it } from 'vitest';
import { defaultNormalisation, IMAGENET, rgbaToNchw, rgbaToNchwPixels } from './image';

describe('image normalisation', () => {
  // Two pixels: pure red, then white.
  const rgba = Uint8ClampedArray.of(255, 0, 0, 255, 255, 255, 255, 255);

  it('lays out NCHW with (x / 255 - mean) / std per channel', () => {
    const out = rgbaToNchw(rgba, { channels: 3, height: 1, width: 2, dtype: 'f32' }, IMAGENET);
    const expected = [
      (1 - 0.485) / 0.229, (1 - 0.485) / 0.229,
      (0 - 0.456) / 0.224, (1 - 0.456) / 0.224,
      (0 - 0.406) / 0.225, (1 - 0.406) / 0.225,
    ];
    expect(Array.from(out)).toEqual(expected.map(Math.fround));
  });

  it('swaps to BGR, and gives one-channel models luminance', () => {
    const bgr = rgbaToNchw(rgba, { channels: 3, height: 1, width: 2, dtype: 'f32' }, { mean: [0, 0, 0], std: [1, 1, 1], order: 'BGR' });
    expect(Array.from(bgr)).toEqual([0, 1, 0, 1, 1, 1]);
    const grey = rgbaToNchw(rgba, { channels: 1, height: 1, width: 2, dtype: 'f32' }, { mean: [0], std: [1], order: 'RGB' });
    expect(grey[0]).toBeCloseTo(0.299);
    expect(grey[1]).toBeCloseTo(1);
  });

  it('refuses a wrong pixel count or a zero std', () => {
    expect(() => rgbaToNchw(rgba, { channels: 3, height: 2, width: 2, dtype: 'f32' }, IMAGENET)).toThrow();
    expect(() => rgbaToNchw(rgba, { channels: 3, height: 1, width: 2, dtype: 'f32' }, { ...IMAGENET, std: [1, 0, 1] })).toThrow(/std/);
  });

  it('gives a u8 input the pixels themselves, NCHW, in either channel order', () => {
    // Two pixels: (10, 20, 30) and (200, 100, 0).
    const two = Uint8ClampedArray.of(10, 20, 30, 255, 200, 100, 0, 255);
    const shape = { channels: 3, height: 1, width: 2, dtype: 'u8' } as const;
    expect(Array.from(rgbaToNchwPixels(two, shape, 'RGB'))).toEqual([10, 200, 20, 100, 30, 0]);
    expect(Array.from(rgbaToNchwPixels(two, shape, 'BGR'))).toEqual([30, 0, 20, 100, 10, 200]);
    expect(() => rgbaToNchwPixels(two, { ...shape, width: 3 }, 'RGB')).toThrow();
  });

  it('knows the PP-OCR classifier scales to [-1, 1]', () => {
    expect(defaultNormalisation('ppocr-cls').mean).toEqual([0.5, 0.5, 0.5]);
    expect(defaultNormalisation('mobilenetv2')).toEqual(IMAGENET);
  });
});
