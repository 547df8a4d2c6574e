// What a model expects of a picture and how its classes are named: the presets of
// models/manifest.json, which the CLI reads too (crates/preprocess/src/preset.rs, which
// finds them the same way). A model is known by its SHA-256 where the manifest pins its
// bytes, and by its manifest id only where it cannot.

import type { ModelInfo } from '../bindings/inference';
import manifest from '../../../models/manifest.json';
import { toHex } from '../verify/bytes';

export interface Preset {
  mean?: number[];
  std?: number[];
  scale?: number;
  order?: 'RGB' | 'BGR';
  invert?: boolean;
  /** [width, height] */
  resize?: [number, number];
  layout?: 'nchw' | 'nhwc' | 'flat';
  labels?: string[];
}

interface Entry {
  id: string;
  sha256?: string;
  preset?: Preset;
}

const ENTRIES = (manifest as unknown as { models: Entry[] }).models;

export function presetFor(model: Pick<ModelInfo, 'id' | 'sha256'>, entries: readonly Entry[] = ENTRIES): Preset {
  const sha = toHex(Uint8Array.from(model.sha256));
  const entry = entries.find((e) => e.sha256 === sha) ?? entries.find((e) => e.sha256 === undefined && e.id === model.id);
  return entry?.preset ?? {};
}
