// A provenance bundle checked in the browser: drop the bundle (`icinfer label` wrote it) and
// the labelled file; src/verify/bundle.ts checks both proofs it holds from the root key, that
// the code epoch covers the entry, and that the file's bytes hash to the entry's output hash.
// Nothing is fetched: the bundle is checked as it is, against this page's root key.

import type { App } from '../app';
import { errorBox, fill, h, hexValue } from '../dom';
import { toHex } from '../verify/bytes';
import { BundleError, parseBundle, verifyBundle, type BundleReport, type Outcome } from '../verify/bundle';
import { errorText } from '../verify/certificate';
import { moduleText, parseRelease } from '../verify/release';
import type { Report } from '../verify/verifier';
import { checkItem } from './verify';

/** What was dropped or chosen, sorted by what it is. */
interface Files {
  bundle?: File;
  content?: File;
}

export class BundleView {
  readonly element: HTMLElement;
  private readonly bundleInput: HTMLInputElement;
  private readonly contentInput: HTMLInputElement;
  private readonly result: HTMLElement;
  private dropped: Files = {};

  constructor(private readonly app: App) {
    this.bundleInput = h('input', { type: 'file', accept: '.json,application/json', testid: 'bundle-file' });
    this.contentInput = h('input', { type: 'file', testid: 'bundle-content' });
    this.result = h('div', { testid: 'bundle-result', 'aria-live': 'polite' });
    const zone = h(
      'div',
      {
        class: 'drop',
        testid: 'bundle-drop',
        ondragover: (e: DragEvent) => e.preventDefault(),
        ondrop: (e: DragEvent) => {
          e.preventDefault();
          void this.drop(Array.from(e.dataTransfer?.files ?? []));
        },
      },
      'Drop a bundle (.provenance.json) and the file it labels here, or choose them: ',
      h('label', null, 'bundle ', this.bundleInput),
      ' ',
      h('label', null, 'labelled file ', this.contentInput),
    );
    this.element = h(
      'section',
      { id: 'bundle' },
      h('h2', null, 'Check a labelled file'),
      h(
        'p',
        { class: 'hint' },
        'A provenance bundle proves which log entry a file is the output of, and which module wrote that entry, from the IC root key alone. A release manifest dropped too names the release of a module.',
      ),
      zone,
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', testid: 'bundle-button', onclick: () => void this.check() }, 'Check')),
      this.result,
    );
  }

  /** Sorts dropped files: a bundle, a release manifest (remembered), else the content. */
  private async drop(files: File[]): Promise<void> {
    for (const file of files) {
      const head = await file.slice(0, 4096).text();
      if (head.includes('"icinfer-provenance-bundle"')) this.dropped.bundle = file;
      else if (head.includes('"icinfer-release/1"')) this.addRelease(await file.text());
      else this.dropped.content = file;
    }
    await this.check();
  }

  private addRelease(text: string): void {
    try {
      this.app.releases.push(parseRelease(text));
    } catch (e) {
      fill(this.result, errorBox(errorText(e), 'bundle-error'));
    }
  }

  async check(): Promise<void> {
    const bundleFile = this.bundleInput.files?.[0] ?? this.dropped.bundle;
    const contentFile = this.contentInput.files?.[0] ?? this.dropped.content;
    if (!bundleFile) {
      fill(this.result, errorBox('give the bundle (the .provenance.json file icinfer label wrote)', 'bundle-error'));
      return;
    }
    fill(this.result, h('p', { class: 'hint' }, 'Checking…'));
    try {
      const bundle = parseBundle(await bundleFile.text());
      const content = contentFile ? new Uint8Array(await contentFile.arrayBuffer()) : undefined;
      const { connection } = this.app;
      const report = await verifyBundle(bundle, { rootKey: connection.rootKey, rootKeySource: connection.rootKeySource }, content);
      this.render(report, bundleFile.name, contentFile?.name);
    } catch (e) {
      const why = e instanceof BundleError ? `${e.message} (${e.reason})` : errorText(e);
      fill(this.result, errorBox(`${bundleFile.name}: ${why}`, 'bundle-error'));
    }
  }

  private render(report: BundleReport, bundleName: string, contentName?: string): void {
    const seq = report.entry.seq;
    const verdict = report.verified
      ? h('div', { class: 'verdict ok', testid: 'bundle-verdict', 'data-verdict': 'verified' }, contentName ? `✓ ${contentName} is the output of entry #${seq}` : `✓ The bundle of entry #${seq} verifies (no file given to check against it)`)
      : h(
          'div',
          { class: 'verdict bad', testid: 'bundle-verdict', 'data-verdict': 'rejected', 'data-reason': report.failure!.reason },
          `✗ ${bundleName} rejected (${report.failure!.part}): `,
          h('span', { testid: 'bundle-reason' }, report.failure!.detail),
        );
    const writtenBy = report.writtenBy
      ? h(
          'p',
          { class: 'statement', testid: 'bundle-module' },
          `Written by ${moduleText(report.writtenBy.epoch.module_hash, this.app.releases, toHex)}: the code epoch recorded as entry #${report.writtenBy.epochSeq}, from entry #${report.writtenBy.epoch.first_index}.`,
        )
      : null;
    const part = (title: string, r: Report, prefix: string) => [
      h('h3', null, title),
      h('ol', { class: 'checklist', testid: `${prefix}-checklist` }, r.checks.map((c) => checkItem(c.title, c.status, c.detail, `${prefix}-${c.key}`))),
    ];
    const line = (title: string, o: Outcome, testid: string) => checkItem(title, o.status, o.detail, testid);
    fill(
      this.result,
      verdict,
      writtenBy,
      h(
        'table',
        { class: 'fields' },
        h(
          'tbody',
          null,
          h('tr', null, h('th', null, 'root key (DER)'), h('td', null, hexValue(report.entry.rootKeyHex), h('div', { class: 'hint' }, report.entry.rootKeySource))),
          h('tr', null, h('th', null, 'canister'), h('td', null, h('code', null, report.entry.canisterId))),
        ),
      ),
      h('ol', { class: 'checklist', testid: 'bundle-checklist' }, [
        line('Code epoch covers the entry', report.attribution, 'bundle-attribution'),
        line("Content hashes to the entry's output hash", report.content, 'bundle-content-check'),
      ]),
      part('The entry', report.entry, 'bundle-entry'),
      report.epoch ? part('The code epoch entry', report.epoch, 'bundle-epoch') : null,
      report.entry.statement ? h('div', { class: 'statement' }, h('h3', null, 'What this proves'), h('p', null, report.entry.statement)) : null,
    );
  }
}
