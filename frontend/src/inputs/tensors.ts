// Tensors as the page builds them: from the model's declared facts (which input mode fits,
// which concrete shape to send) and from JSON typed by the user.

import type { Dim, ModelInfo, Tensor, TensorData, TensorFact } from '../bindings/inference';
import type { DTypeName } from '../verify/tensor';

export type InputMode = 'digit' | 'image' | 'json';

/** The input of an image model: [1, C, H, W] with C 1 or 3, H and W fixed; f32 or u8. */
export interface ImageShape {
  channels: 1 | 3;
  height: number;
  width: number;
  dtype: 'f32' | 'u8';
}

export const dimText = (dim: Dim): string => (dim.__kind__ === 'fixed' ? String(dim.fixed) : dim.symbol);

export const describeFact = (fact: TensorFact): string =>
  `${fact.name}: ${fact.dtype}[${fact.shape.map(dimText).join(', ')}]`;

/** The shape to send for a fact: symbolic dimensions (a batch) become 1. */
export const concreteShape = (fact: TensorFact): number[] =>
  fact.shape.map((dim) => (dim.__kind__ === 'fixed' ? Number(dim.fixed) : 1));

const fixedOr1 = (dim: Dim, value?: number): boolean =>
  dim.__kind__ === 'symbol' ? true : value === undefined ? true : Number(dim.fixed) === value;

/** f32[N|1, 64]: an 8×8 image, the digits model's input. */
export function isDigitInput(model: ModelInfo): boolean {
  if (model.inputs.length !== 1) return false;
  const [fact] = model.inputs;
  return (
    fact.dtype === 'f32' &&
    fact.shape.length === 2 &&
    fixedOr1(fact.shape[0], 1) &&
    fact.shape[1].__kind__ === 'fixed' &&
    fact.shape[1].fixed === 64n
  );
}

/** f32 or u8 [N|1, 1|3, H, W] with H and W fixed: an image. */
export function imageInputShape(model: ModelInfo): ImageShape | null {
  if (model.inputs.length !== 1) return null;
  const [fact] = model.inputs;
  const dtype = fact.dtype === 'f32' || fact.dtype === 'u8' ? fact.dtype : null;
  if (!dtype || fact.shape.length !== 4 || !fixedOr1(fact.shape[0], 1)) return null;
  const [, c, hDim, wDim] = fact.shape;
  if (c.__kind__ !== 'fixed' || hDim.__kind__ !== 'fixed' || wDim.__kind__ !== 'fixed') return null;
  const channels = Number(c.fixed);
  if (channels !== 1 && channels !== 3) return null;
  return { channels, height: Number(hDim.fixed), width: Number(wDim.fixed), dtype };
}

/** The input modes a model allows, the best first; JSON always works. */
export function inputModes(model: ModelInfo): InputMode[] {
  const modes: InputMode[] = [];
  if (isDigitInput(model)) modes.push('digit');
  if (imageInputShape(model)) modes.push('image');
  modes.push('json');
  return modes;
}

/**
 * An f32 tensor. Values are rounded to binary32 here, once: the canister receives and
 * hashes binary32, and the page must hash the very same numbers when it verifies.
 */
export function f32Tensor(name: string, shape: readonly number[], values: ArrayLike<number>): Tensor {
  return {
    name,
    shape: BigUint64Array.from(shape.map(BigInt)),
    data: { __kind__: 'f32', f32: Array.from(values, Math.fround) },
  };
}

/** A u8 tensor of `bytes`. */
export function u8Tensor(name: string, shape: readonly number[], bytes: Uint8Array): Tensor {
  return { name, shape: BigUint64Array.from(shape.map(BigInt)), data: { __kind__: 'u8', u8: bytes } };
}

// --- JSON -----------------------------------------------------------------------------

/** The JSON form of one tensor; `data` is every element row-major, or { "fill": v }. */
interface JsonTensor {
  name: string;
  dtype: DTypeName;
  shape: number[];
  data: unknown[] | { fill: unknown };
}

const DTYPES: DTypeName[] = ['f32', 'f64', 'i64', 'i32', 'i8', 'u8', 'bool'];

/** A template for a model's inputs: zeros (a fill when large, so the text stays short). */
export function jsonTemplate(facts: readonly TensorFact[]): string {
  const tensors: JsonTensor[] = facts.map((fact) => {
    const shape = concreteShape(fact);
    const count = shape.reduce((a, b) => a * b, 1);
    const zero = fact.dtype === 'bool' ? false : 0;
    return {
      name: fact.name,
      dtype: fact.dtype as DTypeName,
      shape,
      data: count <= 64 ? Array(count).fill(zero) : { fill: zero },
    };
  });
  return JSON.stringify(tensors, null, 1).replace(/\[\n\s+([^[\]{}]*?)\n\s*\]/g, (_, inner: string) => `[${inner.replace(/\s*\n\s*/g, ' ')}]`);
}

export class TensorJsonError extends Error {}

export function parseJsonTensors(text: string): Tensor[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TensorJsonError(`not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new TensorJsonError('expected a list of tensors: [{ "name", "dtype", "shape", "data" }, …]');
  const names = new Set<string>();
  return parsed.map((item, index) => {
    const tensor = parseTensor(item, index);
    if (names.has(tensor.name)) throw new TensorJsonError(`two tensors are named "${tensor.name}"`);
    names.add(tensor.name);
    return tensor;
  });
}

function parseTensor(item: unknown, index: number): Tensor {
  const where = `tensor ${index}`;
  if (typeof item !== 'object' || item === null) throw new TensorJsonError(`${where} is not an object`);
  const { name, dtype, shape, data } = item as Partial<JsonTensor>;
  if (typeof name !== 'string' || name === '') throw new TensorJsonError(`${where}: "name" must be a non-empty string`);
  if (!DTYPES.includes(dtype as DTypeName)) {
    throw new TensorJsonError(`${name}: "dtype" must be one of ${DTYPES.join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TensorJsonError(`${name}: "shape" must be a list of non-negative integers`);
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  let values: unknown[];
  if (Array.isArray(data)) values = data.flat(Infinity);
  else if (typeof data === 'object' && data !== null && 'fill' in data) values = Array(count).fill(data.fill);
  else throw new TensorJsonError(`${name}: "data" must be a list of values or { "fill": value }`);
  if (values.length !== count) {
    throw new TensorJsonError(`${name}: shape [${shape.join(', ')}] needs ${count} values, got ${values.length}`);
  }
  return { name, shape: BigUint64Array.from(shape.map(BigInt)), data: typedData(name, dtype as DTypeName, values) };
}

function typedData(name: string, dtype: DTypeName, values: unknown[]): TensorData {
  const bad = (i: number, what: string): never => {
    throw new TensorJsonError(`${name}[${i}] = ${JSON.stringify(values[i])} is not ${what}`);
  };
  const numbers = (what: string, ok: (v: number) => boolean = Number.isFinite) =>
    values.map((v, i) => (typeof v === 'number' && ok(v) ? v : bad(i, what)));
  const integers = (min: number, max: number) =>
    numbers(`an integer in [${min}, ${max}]`, (v) => Number.isInteger(v) && v >= min && v <= max);
  switch (dtype) {
    case 'f32':
      return { __kind__: 'f32', f32: numbers('a finite number').map(Math.fround) };
    case 'f64':
      return { __kind__: 'f64', f64: numbers('a finite number') };
    case 'i64':
      return {
        __kind__: 'i64',
        i64: BigInt64Array.from(values, (v, i) => {
          // Beyond 2^53 a JSON number is already rounded: such values must come as strings.
          if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
          if (typeof v === 'string' && /^-?\d+$/.test(v)) {
            const big = BigInt(v);
            if (big === BigInt.asIntN(64, big)) return big;
          }
          return bad(i, 'an i64 (a safe integer, or a decimal string)');
        }),
      };
    case 'i32':
      return { __kind__: 'i32', i32: Int32Array.from(integers(-(2 ** 31), 2 ** 31 - 1)) };
    case 'i8':
      return { __kind__: 'i8', i8: Int8Array.from(integers(-128, 127)) };
    case 'u8':
      return { __kind__: 'u8', u8: Uint8Array.from(integers(0, 255)) };
    case 'bool':
      return { __kind__: 'bool', bool: values.map((v, i) => (typeof v === 'boolean' ? v : v === 0 || v === 1 ? v === 1 : bad(i, 'a boolean'))) };
  }
}
