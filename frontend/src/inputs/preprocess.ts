// Pictures into model inputs by icinfer-preprocess (crates/preprocess), the CLI's own code,
// compiled to wasm32 by `npm run wasm` (scripts/build-preprocess.sh): decoding, resizing,
// channels and normalisation happen there, never in a canvas, so that a picture gives the
// same tensor, and so the same input hash, in the page and in the CLI.
//
// The module's raw exports (crates/preprocess/src/wasm.rs): alloc(len) → ptr, free(ptr, len),
// preprocess(picture, picture_len, request, request_len) → a reply block.

import type { Tensor, TensorFact } from '../bindings/inference';
import wasmUrl from './preprocess.wasm?url';
import type { Preset } from './presets';
import { f32Tensor, u8Tensor } from './tensors';

export type Element = 'f32' | 'u8';

/** The input a picture feeds: element type and dimensions, null where free. */
export interface InputSpec {
  dtype: Element;
  shape: (number | null)[];
}

export interface Prepared {
  shape: number[];
  dtype: Element;
  values: Float32Array | Uint8Array;
  /** The resized picture, `channels` bytes a pixel, before inversion and reordering. */
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

interface Exports {
  memory: WebAssembly.Memory;
  alloc(len: number): number;
  free(ptr: number, len: number): void;
  preprocess(picture: number, pictureLen: number, request: number, requestLen: number): number;
}

interface Header {
  error?: string;
  shape: number[];
  dtype: Element;
  width: number;
  height: number;
  channels: number;
}

export class Preprocessor {
  private constructor(private readonly exports: Exports) {}

  static async instantiate(module: BufferSource): Promise<Preprocessor> {
    const { instance } = await WebAssembly.instantiate(module, {});
    return new Preprocessor(instance.exports as unknown as Exports);
  }

  /** The picture as `input` takes it; throws the module's error message. */
  prepare(picture: Uint8Array, input: InputSpec, preset: Preset): Prepared {
    const { labels: _labels, ...preprocessing } = preset;
    const request = new TextEncoder().encode(JSON.stringify({ input, preset: preprocessing }));
    const e = this.exports;
    const put = (bytes: Uint8Array): number => {
      const ptr = e.alloc(bytes.length);
      new Uint8Array(e.memory.buffer, ptr, bytes.length).set(bytes);
      return ptr;
    };
    const [picturePtr, requestPtr] = [put(picture), put(request)];
    try {
      const block = e.preprocess(picturePtr, picture.length, requestPtr, request.length);
      // The memory may have grown during the call: views are taken after it.
      const view = new DataView(e.memory.buffer, block);
      const [length, headerLength] = [view.getUint32(0, true), view.getUint32(4, true)];
      const bytes = new Uint8Array(e.memory.buffer, block, length).slice();
      e.free(block, length);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header;
      if (header.error !== undefined) throw new Error(header.error);
      const count = header.shape.reduce((a, b) => a * b, 1);
      const start = 8 + headerLength;
      const valueBytes = header.dtype === 'f32' ? 4 * count : count;
      const raw = bytes.slice(start, start + valueBytes);
      const values = header.dtype === 'f32' ? new Float32Array(raw.buffer) : raw;
      return { ...header, values, pixels: bytes.slice(start + valueBytes) };
    } finally {
      e.free(picturePtr, picture.length);
      e.free(requestPtr, request.length);
    }
  }
}

let shared: Promise<Preprocessor> | undefined;

/** The page's preprocessor, fetched and compiled once. */
export function preprocessor(): Promise<Preprocessor> {
  shared ??= fetch(wasmUrl)
    .then((response) => {
      if (!response.ok) throw new Error(`fetching the picture preprocessor: HTTP ${response.status}`);
      return response.arrayBuffer();
    })
    .then((bytes) => Preprocessor.instantiate(bytes));
  return shared;
}

/** A fact's input spec, when a picture can feed it (f32 or u8). */
export function inputSpec(fact: TensorFact): InputSpec | null {
  if (fact.dtype !== 'f32' && fact.dtype !== 'u8') return null;
  return { dtype: fact.dtype, shape: fact.shape.map((d) => (d.__kind__ === 'fixed' ? Number(d.fixed) : null)) };
}

export function preparedTensor(name: string, prepared: Prepared): Tensor {
  return prepared.values instanceof Float32Array
    ? f32Tensor(name, prepared.shape, prepared.values)
    : u8Tensor(name, prepared.shape, prepared.values);
}

/** The resized picture as RGBA, for a canvas preview. */
export function previewRgba(prepared: Prepared): Uint8ClampedArray<ArrayBuffer> {
  const { width, height, channels, pixels } = prepared;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = pixels[i * channels + (channels === 3 ? c : 0)];
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}
