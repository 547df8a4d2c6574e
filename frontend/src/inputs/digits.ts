// The digit pad's 8×8 image, as the digits model expects it (models/README.md): the UCI
// optdigits preprocessing, where a digit is size-normalised into a 32×32 box and each pixel
// is the number of inked cells in a 4×4 block, divided by 16: 0 is background, 1 is ink.
// Here: the square around the ink's bounding box (its longer side), centred on the box,
// split into 8×8 cells, each the mean ink in its cell. The digit touches the top and
// bottom (or left and right) edge, as in the training data.

export const DIGIT_SIDE = 8;

/**
 * `ink` holds one value in [0, 1] per canvas pixel, row-major. Returns the 64 model inputs,
 * or null when nothing is drawn.
 */
export function digitPixels(ink: Float32Array, width: number, height: number, threshold = 0.1): Float32Array | null {
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > threshold) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return null;
  const side = Math.max(bottom - top + 1, right - left + 1);
  const originX = (left + right + 1) / 2 - side / 2;
  const originY = (top + bottom + 1) / 2 - side / 2;
  const cell = side / DIGIT_SIDE;
  const out = new Float32Array(DIGIT_SIDE * DIGIT_SIDE);
  for (let row = 0; row < DIGIT_SIDE; row++) {
    for (let col = 0; col < DIGIT_SIDE; col++) {
      out[row * DIGIT_SIDE + col] = Math.min(
        1,
        meanInk(ink, width, height, originX + col * cell, originY + row * cell, cell),
      );
    }
  }
  return out;
}

/** Mean of `ink` over the square [x0, x0 + size) × [y0, y0 + size), by pixel coverage. */
function meanInk(ink: Float32Array, width: number, height: number, x0: number, y0: number, size: number): number {
  let total = 0;
  for (let y = Math.floor(y0); y < Math.ceil(y0 + size); y++) {
    const coverY = Math.min(y + 1, y0 + size) - Math.max(y, y0);
    if (y < 0 || y >= height || coverY <= 0) continue;
    for (let x = Math.floor(x0); x < Math.ceil(x0 + size); x++) {
      const coverX = Math.min(x + 1, x0 + size) - Math.max(x, x0);
      if (x < 0 || x >= width || coverX <= 0) continue;
      total += ink[y * width + x] * coverX * coverY;
    }
  }
  return total / (size * size);
}

/** Ink from a canvas drawn dark on light: 1 - luminance, alpha-weighted. */
export function inkFromRgba(rgba: Uint8ClampedArray): Float32Array {
  const ink = new Float32Array(rgba.length / 4);
  for (let i = 0; i < ink.length; i++) {
    const [r, g, b, a] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]];
    const luminance = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    ink[i] = (1 - luminance) * (a / 255);
  }
  return ink;
}
