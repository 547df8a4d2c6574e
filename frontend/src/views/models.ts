// The models the canister holds: id, SHA-256, inputs and outputs.

import type { App } from '../app';
import type { ModelInfo, ModelState } from '../bindings/inference';
import { errorBox, fill, h, hexValue } from '../dom';
import { bytesText, canisterErrorText, timeText } from '../format';
import { describeFact } from '../inputs/tensors';
import { errorText } from '../verify/certificate';
import { toHex } from '../verify/bytes';

export class ModelsView {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor(private readonly app: App, private readonly onLoaded: (models: ModelInfo[]) => void) {
    this.body = h('div', { testid: 'models' });
    this.element = h(
      'section',
      { id: 'models' },
      h('h2', null, 'Models', h('button', { type: 'button', class: 'small', onclick: () => void this.load() }, 'Reload')),
      this.body,
    );
  }

  async load(): Promise<void> {
    fill(this.body, h('p', { class: 'hint' }, 'Loading…'));
    try {
      const models = await this.app.connection.canister.list_models();
      this.app.models = models;
      this.render(models);
      this.onLoaded(models);
    } catch (e) {
      fill(this.body, errorBox(`list_models failed: ${errorText(e)}`));
    }
  }

  private render(models: ModelInfo[]): void {
    if (models.length === 0) {
      fill(this.body, h('p', { class: 'hint' }, 'No models yet. Upload one with ', h('code', null, 'icinfer upload <model.onnx> --id <id>'), '.'));
      return;
    }
    const facts = (list: ModelInfo['inputs']) => h('ul', { class: 'facts' }, list.map((f) => h('li', null, h('code', null, describeFact(f)))));
    fill(
      this.body,
      h(
        'table',
        { class: 'list' },
        h('thead', null, h('tr', null, ['id', 'state', 'SHA-256', 'inputs', 'outputs', ''].map((t) => h('th', null, t)))),
        h(
          'tbody',
          null,
          models.map((m) =>
            h(
              'tr',
              { testid: `model-${m.id}` },
              h(
                'td',
                null,
                h('strong', null, m.id),
                h('div', { class: 'hint' }, bytesText(m.size_bytes)),
                m.description ? h('div', { class: 'hint' }, m.description) : null,
              ),
              h('td', null, stateText(m.state), m.finalized_at_ns !== undefined ? h('div', { class: 'hint' }, timeText(m.finalized_at_ns)) : null),
              h('td', null, hexValue(toHex(m.sha256))),
              h('td', null, facts(m.inputs)),
              h('td', null, facts(m.outputs)),
              h(
                'td',
                null,
                m.state.__kind__ === 'ready'
                  ? h('button', { type: 'button', class: 'small', onclick: () => this.app.useModel(m.id) }, 'Use')
                  : null,
              ),
            ),
          ),
        ),
      ),
    );
  }
}

/** A model's state as the table shows it: a finalize job's progress, a failure's reason. */
function stateText(state: ModelState): string {
  switch (state.__kind__) {
    case 'finalizing':
      return `finalizing (${state.finalizing.chunks_hashed} of ${state.finalizing.chunks_total} chunks hashed)`;
    case 'failed':
      return `failed: ${canisterErrorText(state.failed.error)}`;
    default:
      return state.__kind__;
  }
}
