// A canvas to draw a digit on, and the 8×8 image the digits model will see.

import { h } from '../dom';
import { DIGIT_SIDE, digitPixels, inkFromRgba } from '../inputs/digits';

const SIZE = 224;
const PREVIEW_CELL = 12;

export class DigitPad {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private readonly preview: HTMLCanvasElement;
  private drawing = false;
  private last: [number, number] | null = null;

  constructor() {
    this.canvas = h('canvas', { width: SIZE, height: SIZE, class: 'digit-pad', testid: 'digit-canvas' });
    this.context = this.canvas.getContext('2d', { willReadFrequently: true })!;
    this.preview = h('canvas', {
      width: DIGIT_SIDE * PREVIEW_CELL,
      height: DIGIT_SIDE * PREVIEW_CELL,
      class: 'digit-preview',
      title: 'the 8×8 input the model receives',
      testid: 'digit-preview',
    });
    this.canvas.addEventListener('pointerdown', (e) => this.start(e));
    this.canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const end of ['pointerup', 'pointerleave', 'pointercancel']) {
      this.canvas.addEventListener(end, () => this.stop());
    }
    this.element = h(
      'div',
      { class: 'digit-input' },
      h('figure', null, this.canvas, h('figcaption', null, 'Draw a digit (0–9)')),
      h('figure', null, this.preview, h('figcaption', null, 'What the model sees: 8×8, ink = 1')),
      h('button', { type: 'button', onclick: () => this.clear(), testid: 'digit-clear' }, 'Clear'),
    );
    this.clear();
  }

  clear(): void {
    this.context.fillStyle = '#fff';
    this.context.fillRect(0, 0, SIZE, SIZE);
    this.renderPreview(null);
  }

  /** The 64 pixel values, or null when nothing is drawn. */
  pixels(): Float32Array | null {
    const { data } = this.context.getImageData(0, 0, SIZE, SIZE);
    return digitPixels(inkFromRgba(data), SIZE, SIZE);
  }

  private point(e: PointerEvent): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    return [((e.clientX - rect.left) * SIZE) / rect.width, ((e.clientY - rect.top) * SIZE) / rect.height];
  }

  private start(e: PointerEvent): void {
    this.drawing = true;
    this.canvas.setPointerCapture?.(e.pointerId);
    this.last = this.point(e);
    this.stroke(this.last, this.last);
  }

  private move(e: PointerEvent): void {
    if (!this.drawing || !this.last) return;
    const next = this.point(e);
    this.stroke(this.last, next);
    this.last = next;
  }

  private stop(): void {
    if (!this.drawing) return;
    this.drawing = false;
    this.last = null;
    this.renderPreview(this.pixels());
  }

  private stroke(from: [number, number], to: [number, number]): void {
    const c = this.context;
    // About a tenth of the pad: after fitting the digit to 8×8 this is the stroke width of
    // the training images (a cell or two).
    c.lineWidth = 20;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.strokeStyle = '#000';
    c.beginPath();
    c.moveTo(...from);
    c.lineTo(...to);
    c.stroke();
  }

  private renderPreview(pixels: Float32Array | null): void {
    const c = this.preview.getContext('2d')!;
    for (let i = 0; i < DIGIT_SIDE * DIGIT_SIDE; i++) {
      const shade = Math.round(255 * (1 - (pixels?.[i] ?? 0)));
      c.fillStyle = `rgb(${shade}, ${shade}, ${shade})`;
      c.fillRect((i % DIGIT_SIDE) * PREVIEW_CELL, Math.floor(i / DIGIT_SIDE) * PREVIEW_CELL, PREVIEW_CELL, PREVIEW_CELL);
    }
  }
}
