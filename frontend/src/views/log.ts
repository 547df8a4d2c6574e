// The provenance log: paged with log_entries, searched with find_log_entries by input hash,
// output hash, model hash (hex) or caller (principal text). Pages hold at most 100 entries.

import { Principal } from '@icp-sdk/core/principal';
import type { App } from '../app';
import type { LogEntry, LogFilter } from '../bindings/inference';
import { errorBox, fill, h } from '../dom';
import { countText, timeText, unwrap } from '../format';
import { errorText } from '../verify/certificate';
import { fromHex, shortHex, toHex } from '../verify/bytes';

const PAGE = 20;

type FilterKind = 'all' | LogFilter['__kind__'];

const FILTERS: Array<[FilterKind, string]> = [
  ['all', 'all entries'],
  ['input_hash', 'input hash'],
  ['output_hash', 'output hash'],
  ['caller', 'caller'],
  ['model_sha256', 'model SHA-256'],
];

export class LogView {
  readonly element: HTMLElement;
  private readonly filterKind: HTMLSelectElement;
  private readonly query: HTMLInputElement;
  private readonly summary: HTMLElement;
  private readonly table: HTMLElement;
  private readonly pager: HTMLElement;
  /** The first index of the page shown (all entries), or of the search page shown. */
  private start: bigint | null = null;
  /** Search pages already seen, to go back (find_log_entries only pages forward). */
  private searchStarts: bigint[] = [];

  constructor(private readonly app: App) {
    this.filterKind = h('select', { testid: 'log-filter' }, FILTERS.map(([k, label]) => h('option', { value: k }, label)));
    this.query = h('input', { type: 'search', size: 66, placeholder: 'hex hash, or principal text', testid: 'log-query' });
    this.summary = h('p', { class: 'hint', testid: 'log-summary' });
    this.table = h('div', { testid: 'log-table' });
    this.pager = h('div', { class: 'row pager' });
    const form = h(
      'form',
      { class: 'row', onsubmit: (e: Event) => (e.preventDefault(), void this.search(0n, [])) },
      h('label', null, 'Search by ', this.filterKind),
      this.query,
      h('button', { type: 'submit', testid: 'log-search' }, 'Search'),
      h('button', { type: 'button', onclick: () => this.showAll() }, 'Show all'),
    );
    this.element = h('section', { id: 'log' }, h('h2', null, 'Provenance log'), form, this.summary, this.table, this.pager);
  }

  showAll(): void {
    this.filterKind.value = 'all';
    this.query.value = '';
    void this.page(null);
  }

  /** Re-reads the current view; a null start shows the newest page. */
  refresh(): Promise<void> {
    if (this.filterKind.value === 'all') return this.page(this.start === null || this.atEnd ? null : this.start);
    return this.search(this.searchStarts.at(-1) ?? 0n, this.searchStarts.slice(0, -1));
  }

  private atEnd = true;

  private async page(start: bigint | null): Promise<void> {
    try {
      const canister = this.app.connection.canister;
      const size = await canister.log_size();
      const first = start ?? (size > BigInt(PAGE) ? size - BigInt(PAGE) : 0n);
      const page = unwrap(await canister.log_entries({ start: first, limit: PAGE }));
      this.start = first;
      this.atEnd = first + BigInt(PAGE) >= page.log_size;
      const last = first + BigInt(page.entries.length);
      fill(this.summary, page.entries.length ? `Entries ${first}–${last - 1n} of ${countText(page.log_size)}.` : `The log is empty.`);
      this.renderEntries(page.entries);
      const go = (to: bigint | null) => () => void this.page(to);
      const previous = first > BigInt(PAGE) ? first - BigInt(PAGE) : 0n;
      fill(
        this.pager,
        h('button', { type: 'button', disabled: first === 0n, onclick: go(0n) }, '« oldest'),
        h('button', { type: 'button', disabled: first === 0n, onclick: go(previous) }, '‹ older'),
        h('button', { type: 'button', disabled: this.atEnd, onclick: go(page.next ?? last) }, 'newer ›'),
        h('button', { type: 'button', disabled: this.atEnd, onclick: go(null) }, 'newest »'),
      );
    } catch (e) {
      fill(this.summary, errorBox(`reading the log failed: ${errorText(e)}`));
    }
  }

  private filter(): LogFilter {
    const text = this.query.value.trim();
    const kind = this.filterKind.value as FilterKind;
    switch (kind) {
      case 'caller':
        return { __kind__: 'caller', caller: Principal.fromText(text) };
      case 'input_hash':
      case 'output_hash':
      case 'model_sha256': {
        const hash = fromHex(text);
        if (hash.length !== 32) throw new Error(`a SHA-256 is 32 bytes (64 hex digits), this is ${hash.length}`);
        return { [kind]: hash, __kind__: kind } as LogFilter;
      }
      default:
        throw new Error('choose what to search by');
    }
  }

  private async search(start: bigint, before: bigint[]): Promise<void> {
    if (this.filterKind.value === 'all') return this.showAll();
    let filter: LogFilter;
    try {
      filter = this.filter();
    } catch (e) {
      // Nothing was searched: the entries of an earlier search would read as this one's.
      fill(this.summary, errorBox(errorText(e), 'log-error'));
      fill(this.table);
      fill(this.pager);
      return;
    }
    try {
      const found = unwrap(await this.app.connection.canister.find_log_entries({ filter, start, limit: PAGE }));
      this.searchStarts = [...before, start];
      const label = FILTERS.find(([k]) => k === filter.__kind__)![1];
      fill(this.summary, `${found.entries.length} entr${found.entries.length === 1 ? 'y' : 'ies'} with this ${label}${start > 0n ? ` from #${start}` : ''}${found.next !== undefined ? ' (more follow)' : ''}.`);
      this.renderEntries(found.entries);
      fill(
        this.pager,
        h('button', { type: 'button', disabled: before.length === 0, onclick: () => void this.search(before.at(-1) ?? 0n, before.slice(0, -1)) }, '‹ previous'),
        h('button', { type: 'button', disabled: found.next === undefined, onclick: () => void this.search(found.next!, [...before, start]) }, 'next ›'),
      );
    } catch (e) {
      fill(this.summary, errorBox(`find_log_entries failed: ${errorText(e)}`, 'log-error'));
    }
  }

  /** Fills the search box (from a click on a hash or caller) and searches. */
  private searchFor(kind: FilterKind, text: string): void {
    this.filterKind.value = kind;
    this.query.value = text;
    void this.search(0n, []);
  }

  private renderEntries(entries: LogEntry[]): void {
    if (entries.length === 0) {
      fill(this.table);
      return;
    }
    const searchLink = (kind: FilterKind, full: string, shown: string) =>
      h('a', { href: '#log', title: `search by this ${kind.replace('_', ' ')}: ${full}`, onclick: (e: Event) => (e.preventDefault(), this.searchFor(kind, full)) }, h('code', null, shown));
    fill(
      this.table,
      h(
        'table',
        { class: 'list' },
        h('thead', null, h('tr', null, ['#', 'time (UTC)', 'caller', 'model', 'input hash', 'output hash', 'instructions', ''].map((t) => h('th', null, t)))),
        h(
          'tbody',
          null,
          [...entries].reverse().map((e) => {
            const mine = this.app.openings.has(e.seq);
            const caller = e.caller.toText();
            return h(
              'tr',
              { testid: `log-entry-${e.seq}` },
              h('td', null, String(e.seq)),
              h('td', null, timeText(e.timestamp_ns).replace(' UTC', '')),
              h('td', null, searchLink('caller', caller, caller.length > 17 ? `${caller.slice(0, 11)}…${caller.slice(-5)}` : caller)),
              h('td', { testid: `log-what-${e.seq}` }, whatText(e)),
              h('td', null, searchLink('input_hash', toHex(e.input_hash), shortHex(e.input_hash)), e.input_salted ? h('span', { class: 'badge', title: 'salted with a nonce' }, 'salted') : null),
              h('td', null, searchLink('output_hash', toHex(e.output_hash), shortHex(e.output_hash))),
              h('td', null, countText(e.instructions)),
              h(
                'td',
                null,
                h('button', { type: 'button', class: 'small', testid: `verify-entry-${e.seq}`, onclick: () => this.app.verify(e.seq) }, 'Verify'),
                mine ? h('span', { class: 'badge mine', title: 'made in this page: its tensors and nonce are kept, so verifying also recomputes its hashes' }, 'yours') : null,
              ),
            );
          }),
        ),
      ),
    );
  }
}

/** The model column by the entry's kind: an inference's model, a generation's language
 *  model, a code epoch's module (as `icinfer log list` shows them). */
export function whatText(e: LogEntry): string {
  switch (e.kind?.__kind__) {
    case 'code_epoch':
      return `code epoch: module ${shortHex(e.kind.code_epoch.module_hash)} (${e.kind.code_epoch.mode})`;
    case 'generation':
      return `${e.model_id} (text)`;
    default:
      return e.model_id;
  }
}
