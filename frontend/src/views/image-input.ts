// Pick a picture for an image model. The picture's own bytes go to the preprocessor
// (inputs/preprocess.ts, the CLI's code in wasm), which resizes (stretches) it to the
// model's H×W, lays it out and, for an f32 input, normalises it with the mean and std shown
// here, from the model's preset (a u8 input takes the pixels as they are). The preview shows
// the resized picture the model gets.

import type { Tensor, TensorFact } from '../bindings/inference';
import { h } from '../dom';
import { inputSpec, preparedTensor, preprocessor, previewRgba, type InputSpec, type Preprocessor } from '../inputs/preprocess';
import type { Preset } from '../inputs/presets';
import type { ImageShape } from '../inputs/tensors';

export class ImageInput {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly mean: HTMLInputElement;
  private readonly std: HTMLInputElement;
  private readonly order: HTMLSelectElement;
  private readonly status: HTMLElement;
  private readonly spec: InputSpec;
  private picked: { picture: Uint8Array; preprocessor: Preprocessor } | null = null;

  constructor(private readonly shape: ImageShape, fact: TensorFact, private readonly preset: Preset) {
    this.spec = inputSpec(fact)!;
    this.canvas = h('canvas', { width: shape.width, height: shape.height, class: 'image-preview' });
    const file = h('input', { type: 'file', accept: 'image/png,image/jpeg', testid: 'image-file' });
    file.addEventListener('change', () => void this.load(file.files?.[0]));
    this.mean = h('input', { type: 'text', value: (preset.mean ?? [0]).join(', '), size: 22, testid: 'image-mean' });
    this.std = h('input', { type: 'text', value: (preset.std ?? [1]).join(', '), size: 22, testid: 'image-std' });
    this.order = h('select', null, h('option', { value: 'RGB' }, 'RGB'), h('option', { value: 'BGR' }, 'BGR'));
    this.order.value = preset.order ?? 'RGB';
    this.status = h('p', { class: 'hint', testid: 'image-status' });
    const size = `Resized to ${shape.width}×${shape.height} (stretched), ${shape.channels} channel${shape.channels > 1 ? 's' : ''}`;
    const pixels = shape.dtype === 'u8';
    this.element = h(
      'div',
      { class: 'image-input' },
      h('label', null, 'Image (PNG or JPEG) ', file),
      h('p', { class: 'hint' }, pixels ? `${size}, the pixels as they are (0 to 255): the model normalises them.` : `${size}, each (x / 255 − mean) / std.`),
      pixels
        ? h('div', { class: 'row' }, h('label', null, 'channel order ', this.order))
        : h('div', { class: 'row' }, h('label', null, 'mean ', this.mean), h('label', null, 'std ', this.std), h('label', null, 'channel order ', this.order)),
      this.canvas,
      this.status,
    );
  }

  private async load(file: File | undefined): Promise<void> {
    if (!file) return;
    this.picked = null;
    try {
      const [picture, loaded] = await Promise.all([file.arrayBuffer(), preprocessor()]);
      const prepared = loaded.prepare(new Uint8Array(picture), this.spec, this.preset);
      this.canvas.width = prepared.width;
      this.canvas.height = prepared.height;
      this.canvas.getContext('2d')!.putImageData(new ImageData(previewRgba(prepared), prepared.width, prepared.height), 0, 0);
      this.picked = { picture: new Uint8Array(picture), preprocessor: loaded };
      this.status.textContent = '';
    } catch (e) {
      this.status.textContent = `This picture cannot be used: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  /** The picked picture as the model's input tensor; throws when none is picked or the numbers are bad. */
  tensor(name: string): Tensor {
    if (!this.picked) throw new Error('pick an image first');
    const numbers = (input: HTMLInputElement, what: string) => {
      const values = input.value.split(/[,\s]+/).filter(Boolean).map(Number);
      if (values.length === 0 || values.some((v) => !Number.isFinite(v))) throw new Error(`${what}: not a list of numbers`);
      return values;
    };
    const preset: Preset = { ...this.preset, order: this.order.value as 'RGB' | 'BGR' };
    if (this.shape.dtype === 'f32') Object.assign(preset, { mean: numbers(this.mean, 'mean'), std: numbers(this.std, 'std') });
    const { picture, preprocessor: loaded } = this.picked;
    return preparedTensor(name, loaded.prepare(picture, this.spec, preset));
  }
}
