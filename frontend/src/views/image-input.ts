// Pick a picture for an image model: resized (stretched) to the model's H×W in a canvas,
// laid out NCHW, and for an f32 input normalised with editable mean and std (a u8 input takes
// the pixels as they are).

import type { Tensor } from '../bindings/inference';
import { h } from '../dom';
import { defaultNormalisation, rgbaToNchw, rgbaToNchwPixels, type ImageShape, type Normalisation } from '../inputs/image';
import { f32Tensor, u8Tensor } from '../inputs/tensors';

export class ImageInput {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly mean: HTMLInputElement;
  private readonly std: HTMLInputElement;
  private readonly order: HTMLSelectElement;
  private loaded = false;

  constructor(private readonly shape: ImageShape, modelId: string) {
    const norm = defaultNormalisation(modelId);
    this.canvas = h('canvas', { width: shape.width, height: shape.height, class: 'image-preview' });
    const file = h('input', { type: 'file', accept: 'image/*', testid: 'image-file' });
    file.addEventListener('change', () => void this.load(file.files?.[0]));
    this.mean = h('input', { type: 'text', value: norm.mean.join(', '), size: 22, testid: 'image-mean' });
    this.std = h('input', { type: 'text', value: norm.std.join(', '), size: 22, testid: 'image-std' });
    this.order = h('select', null, h('option', { value: 'RGB' }, 'RGB'), h('option', { value: 'BGR' }, 'BGR'));
    this.order.value = norm.order;
    const size = `Resized to ${shape.width}×${shape.height} (stretched), ${shape.channels} channel${shape.channels > 1 ? 's' : ''}`;
    const pixels = shape.dtype === 'u8';
    this.element = h(
      'div',
      { class: 'image-input' },
      h('label', null, 'Image ', file),
      h('p', { class: 'hint' }, pixels ? `${size}, the pixels as they are (0 to 255): the model normalises them.` : `${size}, each (x / 255 − mean) / std.`),
      pixels
        ? h('div', { class: 'row' }, h('label', null, 'channel order ', this.order))
        : h('div', { class: 'row' }, h('label', null, 'mean ', this.mean), h('label', null, 'std ', this.std), h('label', null, 'channel order ', this.order)),
      this.canvas,
    );
  }

  private async load(file: File | undefined): Promise<void> {
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    const c = this.canvas.getContext('2d', { willReadFrequently: true })!;
    c.drawImage(bitmap, 0, 0, this.shape.width, this.shape.height);
    bitmap.close();
    this.loaded = true;
  }

  /** The picked image as the model's input tensor; throws when none is picked or the numbers are bad. */
  tensor(name: string, shape: readonly number[]): Tensor {
    if (!this.loaded) throw new Error('pick an image first');
    const { data } = this.canvas.getContext('2d')!.getImageData(0, 0, this.shape.width, this.shape.height);
    if (this.shape.dtype === 'u8') {
      const order = this.order.value as Normalisation['order'];
      return u8Tensor(name, shape, Uint8Array.from(rgbaToNchwPixels(data, this.shape, order), Math.round));
    }
    const parse = (input: HTMLInputElement, what: string) => {
      const values = input.value.split(/[,\s]+/).filter(Boolean).map(Number);
      if (values.length !== this.shape.channels && values.length !== 3) throw new Error(`${what}: give one number per channel`);
      if (values.some((v) => !Number.isFinite(v))) throw new Error(`${what}: not a number`);
      return values;
    };
    const norm: Normalisation = {
      mean: parse(this.mean, 'mean'),
      std: parse(this.std, 'std'),
      order: this.order.value as Normalisation['order'],
    };
    return f32Tensor(name, shape, rgbaToNchw(data, this.shape, norm));
  }
}
