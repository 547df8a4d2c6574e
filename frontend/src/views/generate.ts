// Text generation: pick a language model, write a prompt, choose greedy or sampled decoding,
// call generate_start with a fresh 32-byte nonce, and stream the text from
// generation_status as the canister's job produces it; when it is done, show the receipt,
// recompute its prompt commitment, completion hash and token hash here, and offer its full
// verification (the proof from the IC's root key, views/verify.ts).

import type { App } from '../app';
import type { GenerationStatus, JobFailure, LogEntry, ModelInfo } from '../bindings/inference';
import { errorBox, fill, h, hexValue } from '../dom';
import { canisterErrorText, countText, entryTable, unwrap } from '../format';
import { followGeneration, generationHeld, parseMaxNewTokens, parseSampling, parseStops } from '../generation';
import { toHex } from '../verify/bytes';
import { errorText } from '../verify/certificate';
import { checkCompletion, checkPrompt, type GenerationOpening } from '../verify/verifier';

const NONCE_BYTES = 32;
const POLL_MS = 400;
/** About an hour of polling; the generation itself is bounded by max_new_tokens. */
const MAX_POLLS = 9000;

export class GenerateView {
  readonly element: HTMLElement;
  private readonly modelSelect: HTMLSelectElement;
  private readonly prompt: HTMLTextAreaElement;
  private readonly maxNewTokens: HTMLInputElement;
  private readonly mode: HTMLSelectElement;
  private readonly temperature: HTMLInputElement;
  private readonly topK: HTMLInputElement;
  private readonly topP: HTMLInputElement;
  private readonly seed: HTMLInputElement;
  private readonly stops: HTMLTextAreaElement;
  private readonly button: HTMLButtonElement;
  private readonly cancel: HTMLButtonElement;
  private readonly output: HTMLElement;
  private readonly result: HTMLElement;
  /** The job being followed, for the cancel button. */
  private following: bigint | null = null;

  constructor(private readonly app: App) {
    this.modelSelect = h('select', { testid: 'generate-model' });
    this.prompt = h('textarea', { rows: 4, cols: 80, testid: 'generate-prompt', placeholder: 'A prompt' });
    this.maxNewTokens = h('input', { type: 'number', min: '1', max: '4096', value: '48', size: 6, testid: 'generate-max-new-tokens' });
    this.mode = h(
      'select',
      { testid: 'generate-sampling', onchange: () => this.showSampling() },
      h('option', { value: 'greedy' }, 'greedy'),
      h('option', { value: 'sample' }, 'sample'),
    );
    this.temperature = h('input', { type: 'text', value: '0.8', size: 5, testid: 'generate-temperature' });
    this.topK = h('input', { type: 'text', value: '40', size: 5, testid: 'generate-top-k' });
    this.topP = h('input', { type: 'text', value: '0.95', size: 5, testid: 'generate-top-p' });
    this.seed = h('input', { type: 'text', size: 66, placeholder: '64 hex digits, or empty: the canister draws one (raw_rand)', testid: 'generate-seed' });
    this.stops = h('textarea', { rows: 2, cols: 40, testid: 'generate-stops', placeholder: 'one per line; \\n is a newline' });
    this.button = h('button', { type: 'button', class: 'primary', testid: 'generate-button', onclick: () => void this.generate() }, 'Generate');
    this.cancel = h('button', { type: 'button', testid: 'generate-cancel', disabled: true, onclick: () => void this.cancelJob() }, 'Cancel');
    this.output = h('pre', { class: 'generated', testid: 'generate-text', 'aria-live': 'polite' });
    this.result = h('div', { testid: 'generate-result' });
    this.element = h(
      'section',
      { id: 'generate' },
      h('h2', null, 'Text generation'),
      h('div', { class: 'row' }, h('label', null, 'Model ', this.modelSelect), h('label', null, 'Max new tokens ', this.maxNewTokens)),
      this.prompt,
      h(
        'div',
        { class: 'row' },
        h('label', null, 'Decoding ', this.mode),
        h('label', { class: 'sampling' }, 'temperature ', this.temperature),
        h('label', { class: 'sampling' }, 'top-k ', this.topK),
        h('label', { class: 'sampling' }, 'top-p ', this.topP),
      ),
      h('div', { class: 'row sampling' }, h('label', null, 'Seed ', this.seed)),
      h('div', { class: 'row' }, h('label', null, 'Stop sequences ', this.stops)),
      h(
        'div',
        { class: 'row' },
        this.button,
        this.cancel,
        h('span', { class: 'hint' }, `A job: the canister generates over several messages and logs one receipt at the end. The prompt commitment is salted with ${NONCE_BYTES} random bytes this page keeps in memory.`),
      ),
      this.output,
      this.result,
    );
    this.showSampling();
  }

  /** Called with the model list whenever it is (re)loaded: the language models are offered. */
  setModels(models: ModelInfo[]): void {
    const ready = models.filter((m) => m.state.__kind__ === 'ready' && m.language_model !== undefined);
    const previous = this.modelSelect.value;
    fill(this.modelSelect, ready.map((m) => h('option', { value: m.id }, m.id)));
    this.button.disabled = ready.length === 0;
    if (ready.length === 0) {
      fill(this.result, h('p', { class: 'hint' }, 'No language model is ready (one declared with language_model at create_model, its tokenizer uploaded).'));
      return;
    }
    fill(this.result);
    this.modelSelect.value = ready.some((m) => m.id === previous) ? previous : ready[0].id;
  }

  private showSampling(): void {
    const sampled = this.mode.value === 'sample';
    for (const element of this.element.querySelectorAll<HTMLElement>('.sampling')) element.hidden = !sampled;
  }

  private async generate(): Promise<void> {
    const model_id = this.modelSelect.value;
    const prompt = this.prompt.value;
    let args;
    try {
      if (!prompt) throw new Error('write a prompt first');
      const sampling = parseSampling({
        mode: this.mode.value as 'greedy' | 'sample',
        temperature: this.temperature.value,
        topK: this.topK.value,
        topP: this.topP.value,
        seed: this.seed.value,
      });
      args = { model_id, prompt, max_new_tokens: parseMaxNewTokens(this.maxNewTokens.value), sampling, stop: parseStops(this.stops.value) };
    } catch (e) {
      fill(this.result, errorBox(errorText(e), 'generate-error'));
      return;
    }
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    this.button.disabled = true;
    fill(this.output);
    fill(this.result, h('p', { class: 'hint' }, `Calling generate_start on ${model_id}…`));
    const canister = this.app.connection.canister;
    try {
      const id = unwrap(await canister.generate_start({ ...args, nonce }));
      this.following = id;
      this.cancel.disabled = false;
      const last = await followGeneration((job) => canister.generation_status(job), id, (status) => this.stream(status), {
        intervalMs: POLL_MS,
        maxPolls: MAX_POLLS,
      });
      this.finish(prompt, nonce, last);
    } catch (e) {
      fill(this.result, errorBox(`generation failed: ${errorText(e)}`, 'generate-error'));
    } finally {
      this.following = null;
      this.cancel.disabled = true;
      this.button.disabled = false;
    }
  }

  private stream(status: GenerationStatus): void {
    const p = status.progress;
    this.output.textContent = status.text;
    if (status.state.__kind__ === 'pending') {
      fill(
        this.result,
        h(
          'p',
          { class: 'hint', testid: 'generate-progress' },
          `Generating: ${p.prompt_tokens} prompt tokens, ${p.generated_tokens} generated; ${countText(p.messages)} messages, ${countText(p.instructions)} instructions`,
          p.restarts ? `; restarted ${p.restarts}× after upgrades` : '',
          '.',
        ),
      );
    }
  }

  private async cancelJob(): Promise<void> {
    const id = this.following;
    if (id === null) return;
    try {
      unwrap(await this.app.connection.canister.job_cancel(id));
    } catch (e) {
      fill(this.result, errorBox(`job_cancel failed: ${errorText(e)}`, 'generate-error'));
    }
  }

  private finish(prompt: string, nonce: Uint8Array, status: GenerationStatus): void {
    const state = status.state;
    if (state.__kind__ === 'cancelled') {
      fill(this.result, h('p', { class: 'hint', testid: 'generate-cancelled' }, 'Cancelled: nothing was logged.'));
      return;
    }
    if (state.__kind__ === 'failed') {
      fill(this.result, errorBox(`The generation failed, nothing was logged: ${jobFailureText(state.failed)}`, 'generate-error'));
      return;
    }
    if (state.__kind__ !== 'done') return;
    const held = generationHeld(prompt, nonce, status)!;
    this.app.openings.set(state.done.seq, held);
    fill(
      this.result,
      h('h3', null, `Receipt: log entry #${state.done.seq}`),
      entryTable(state.done, 'generate-receipt'),
      h('p', { class: 'hint' }, 'Nonce (in this page’s memory only; it opens the salted prompt commitment): ', hexValue(toHex(nonce), 'generate-nonce')),
      h('h3', null, 'Checked in this browser'),
      localChecks(state.done, held.generation!),
      h(
        'button',
        { type: 'button', class: 'primary', testid: 'generate-verify', onclick: () => this.app.verify(state.done.seq) },
        'Verify this receipt in the log',
      ),
    );
    this.app.refreshLog();
  }
}

/** A job's failure in one line: the canister's error, or the variant and its fields. */
function jobFailureText(failure: JobFailure): string {
  if (failure.__kind__ === 'Failed') return canisterErrorText(failure.Failed.error);
  const fields = (failure as unknown as Record<string, Record<string, unknown>>)[failure.__kind__];
  return `${failure.__kind__} (${Object.entries(fields).map(([k, v]) => `${k}: ${String(v)}`).join(', ')})`;
}

/** The receipt's three hashes recomputed from what the page holds (before any proof). */
function localChecks(entry: LogEntry, opening: GenerationOpening): HTMLElement {
  const item = (title: string, run: () => string, testid: string) => {
    try {
      return h('li', { class: 'check passed', testid, 'data-status': 'passed' }, h('strong', null, `✓ ${title}`), h('div', { class: 'detail' }, run()));
    } catch (e) {
      return h('li', { class: 'check failed', testid, 'data-status': 'failed' }, h('strong', null, `✗ ${title}`), h('div', { class: 'detail' }, errorText(e)));
    }
  };
  return h(
    'ol',
    { class: 'checklist', testid: 'generate-checks' },
    item('Prompt commitment', () => checkPrompt(entry, opening), 'generate-check-prompt'),
    item('Completion and token hashes', () => checkCompletion(entry, opening), 'generate-check-completion'),
  );
}
