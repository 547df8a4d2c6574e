// Inference: pick a model, give it inputs (a drawn digit, a picture, or JSON tensors), call
// `infer` with a fresh 32-byte nonce, and show the outputs and the receipt. The page keeps
// the inputs, nonce and outputs in memory, so that verifying the receipt can recompute its
// input and output hashes.

import type { App } from '../app';
import type { ModelInfo, Tensor } from '../bindings/inference';
import { errorBox, fill, h, hexValue } from '../dom';
import { entryTable, unwrap } from '../format';
import { imageInputShape, concreteShape, describeFact, f32Tensor, inputModes, jsonTemplate, parseJsonTensors, type InputMode } from '../inputs/tensors';
import { formatNumber, isClassScores, looksLikeProbabilities, previewValues, topK } from '../inputs/outputs';
import { presetFor } from '../inputs/presets';
import { errorText } from '../verify/certificate';
import { toHex } from '../verify/bytes';
import { DigitPad } from './digit-pad';
import { ImageInput } from './image-input';

const MODE_LABELS: Record<InputMode, string> = {
  digit: 'Draw a digit',
  image: 'Pick an image',
  json: 'JSON tensors',
};

const NONCE_BYTES = 32;

export class InferView {
  readonly element: HTMLElement;
  private readonly modelSelect: HTMLSelectElement;
  private readonly modeSelect: HTMLSelectElement;
  private readonly inputArea: HTMLElement;
  private readonly result: HTMLElement;
  private readonly button: HTMLButtonElement;
  private input: { mode: 'digit'; pad: DigitPad } | { mode: 'image'; picker: ImageInput } | { mode: 'json'; text: HTMLTextAreaElement } | null = null;

  constructor(private readonly app: App) {
    this.modelSelect = h('select', { testid: 'infer-model', onchange: () => this.modelChanged() });
    this.modeSelect = h('select', { testid: 'infer-mode', onchange: () => this.renderInput() });
    this.inputArea = h('div', { class: 'input-area' });
    this.result = h('div', { testid: 'infer-result', 'aria-live': 'polite' });
    this.button = h('button', { type: 'button', class: 'primary', testid: 'infer-button', onclick: () => void this.infer() }, 'Infer');
    this.element = h(
      'section',
      { id: 'infer' },
      h('h2', null, 'Inference'),
      h('div', { class: 'row' }, h('label', null, 'Model ', this.modelSelect), h('label', null, 'Input ', this.modeSelect)),
      this.inputArea,
      h(
        'div',
        { class: 'row' },
        this.button,
        h('span', { class: 'hint' }, `An update call: the canister logs a receipt. The input hash is salted with ${NONCE_BYTES} random bytes this page keeps in memory.`),
      ),
      this.result,
    );
  }

  /** Called with the model list whenever it is (re)loaded. */
  setModels(models: ModelInfo[]): void {
    const ready = models.filter((m) => m.state.__kind__ === 'ready');
    const previous = this.modelSelect.value;
    fill(this.modelSelect, ready.map((m) => h('option', { value: m.id }, m.id)));
    if (ready.length === 0) {
      fill(this.inputArea, h('p', { class: 'hint' }, 'No model is ready for inference.'));
      this.button.disabled = true;
      return;
    }
    this.button.disabled = false;
    // Keep the selection; otherwise prefer a model one can draw for (the digits demo model).
    const keep = ready.find((m) => m.id === previous) ?? ready.find((m) => inputModes(m)[0] === 'digit') ?? ready[0];
    this.modelSelect.value = keep.id;
    if (keep.id !== previous) this.modelChanged();
  }

  select(id: string): void {
    this.modelSelect.value = id;
    this.modelChanged();
    this.element.scrollIntoView({ behavior: 'smooth' });
  }

  private model(): ModelInfo | undefined {
    return this.app.models.find((m) => m.id === this.modelSelect.value);
  }

  private modelChanged(): void {
    const model = this.model();
    if (!model) return;
    fill(this.modeSelect, inputModes(model).map((mode) => h('option', { value: mode }, MODE_LABELS[mode])));
    this.renderInput();
  }

  private renderInput(): void {
    const model = this.model();
    if (!model) return;
    const mode = this.modeSelect.value as InputMode;
    const declared = h('p', { class: 'hint' }, 'Inputs: ', model.inputs.map((f) => h('code', null, describeFact(f), ' ')), ' → outputs: ', model.outputs.map((f) => h('code', null, describeFact(f), ' ')));
    if (mode === 'digit') {
      const pad = new DigitPad();
      this.input = { mode, pad };
      fill(this.inputArea, declared, pad.element);
    } else if (mode === 'image') {
      const picker = new ImageInput(imageInputShape(model)!, model.inputs[0], presetFor(model));
      this.input = { mode, picker };
      fill(this.inputArea, declared, picker.element);
    } else {
      const text = h('textarea', { rows: 10, cols: 80, spellcheck: false, testid: 'infer-json' });
      text.value = jsonTemplate(model.inputs);
      this.input = { mode: 'json', text };
      fill(
        this.inputArea,
        declared,
        h('p', { class: 'hint' }, 'A list of { "name", "dtype", "shape", "data" }; data is every element row-major, or { "fill": value }. i64 beyond 2^53 as strings.'),
        text,
      );
    }
  }

  private inputs(model: ModelInfo): Tensor[] {
    const input = this.input;
    if (!input) throw new Error('no input');
    const [fact] = model.inputs;
    switch (input.mode) {
      case 'digit': {
        const pixels = input.pad.pixels();
        if (!pixels) throw new Error('draw a digit first');
        return [f32Tensor(fact.name, concreteShape(fact), pixels)];
      }
      case 'image':
        return [input.picker.tensor(fact.name)];
      case 'json':
        return parseJsonTensors(input.text.value);
    }
  }

  private async infer(): Promise<void> {
    const model = this.model();
    if (!model) return;
    let inputs: Tensor[];
    try {
      inputs = this.inputs(model);
    } catch (e) {
      fill(this.result, errorBox(errorText(e), 'infer-error'));
      return;
    }
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    this.button.disabled = true;
    fill(this.result, h('p', { class: 'hint' }, `Calling infer on ${model.id}…`));
    try {
      const { outputs, receipt } = unwrap(await this.app.connection.canister.infer({ model_id: model.id, inputs, nonce }));
      this.app.openings.set(receipt.seq, { opening: { inputs, nonce, outputs }, receipt });
      fill(
        this.result,
        h('h3', null, 'Outputs'),
        outputs.map((t) => renderOutput(t, presetFor(model).labels)),
        h('h3', null, `Receipt: log entry #${receipt.seq}`),
        entryTable(receipt, 'receipt'),
        h('p', { class: 'hint' }, 'Nonce (in this page’s memory only; it opens the salted input hash): ', hexValue(toHex(nonce), 'receipt-nonce')),
        h(
          'button',
          { type: 'button', class: 'primary', testid: 'verify-receipt', onclick: () => this.app.verify(receipt.seq) },
          'Verify this receipt',
        ),
      );
      this.app.refreshLog();
    } catch (e) {
      fill(this.result, errorBox(`infer failed: ${errorText(e)}`, 'infer-error'));
    } finally {
      this.button.disabled = false;
    }
  }
}

function renderOutput(tensor: Tensor, labels: readonly string[] | undefined): HTMLElement {
  const title = h('div', null, h('code', null, `${tensor.name}: ${tensor.data.__kind__}[${Array.from(tensor.shape).join(', ')}]`));
  if (!isClassScores(tensor)) {
    return h('div', { class: 'output', testid: `output-${tensor.name}` }, title, h('code', { class: 'values' }, previewValues(tensor)));
  }
  const probabilities = looksLikeProbabilities(tensor);
  const ranked = topK(tensor, labels, 5);
  return h(
    'div',
    { class: 'output', testid: `output-${tensor.name}` },
    title,
    h(
      'table',
      { class: 'topk', testid: 'topk' },
      h('thead', null, h('tr', null, h('th', null, 'class'), h('th', null, probabilities ? 'probability' : 'score'), h('th', null, ''))),
      h(
        'tbody',
        null,
        ranked.map((r, i) =>
          h(
            'tr',
            { class: i === 0 ? 'top' : undefined },
            h('td', { testid: i === 0 ? 'top-label' : undefined }, r.label),
            h('td', null, formatNumber(r.score)),
            h('td', null, probabilities ? h('span', { class: 'bar', style: `width: ${Math.round(r.score * 160)}px` }) : null),
          ),
        ),
      ),
    ),
  );
}
