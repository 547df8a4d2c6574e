// Image models: a picked picture, resized to the model's input height and width, becomes an
// NCHW tensor: for an f32 input each channel scaled to [0, 1], then (x - mean) / std per
// channel; for a u8 input the pixels as they are (a quantised image model normalises them).

export interface Normalisation {
  mean: number[];
  std: number[];
  /** PaddleOCR's models were trained on OpenCV's BGR order; most others on RGB. */
  order: 'RGB' | 'BGR';
}

export const IMAGENET: Normalisation = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], order: 'RGB' };

/** Per-model defaults where a model's preprocessing is known to differ from ImageNet's. */
export function defaultNormalisation(modelId: string): Normalisation {
  // rapidocr feeds the text-direction classifier (x / 255 - 0.5) / 0.5.
  if (modelId.startsWith('ppocr-cls')) return { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], order: 'RGB' };
  return { ...IMAGENET };
}

/** The input of an image model: [1, C, H, W] with C 1 or 3, H and W fixed; f32 or u8. */
export interface ImageShape {
  channels: 1 | 3;
  height: number;
  width: number;
  dtype: 'f32' | 'u8';
}

/** RGBA pixels of an image already resized to width × height → NCHW values. */
export function rgbaToNchw(rgba: Uint8ClampedArray, shape: ImageShape, norm: Normalisation): Float32Array {
  const { channels } = shape;
  if (norm.mean.length < channels || norm.std.length < channels) throw new Error(`need ${channels} means and stds`);
  if (norm.std.some((s, c) => c < channels && !(s > 0))) throw new Error('every std must be positive');
  const pixels = rgbaToNchwPixels(rgba, shape, norm.order);
  const plane = shape.width * shape.height;
  return Float32Array.from(pixels, (p, i) => {
    const c = Math.floor(i / plane);
    return (p / 255 - norm.mean[c]) / norm.std[c];
  });
}

/**
 * RGBA pixels of an image already resized to width × height → NCHW pixel values, 0 to 255
 * (one-channel models get luminance, unrounded).
 */
export function rgbaToNchwPixels(rgba: Uint8ClampedArray, shape: ImageShape, order: Normalisation['order']): Float64Array {
  const { channels, height, width } = shape;
  if (rgba.length !== width * height * 4) throw new Error(`expected ${width}×${height} RGBA pixels`);
  const plane = width * height;
  const out = new Float64Array(channels * plane);
  const source = channels === 1 ? [-1] : order === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
      out[c * plane + i] = source[c] < 0 ? 0.299 * r + 0.587 * g + 0.114 * b : rgba[4 * i + source[c]];
    }
  }
  return out;
}
