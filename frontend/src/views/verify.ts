// Verification of a log entry in the browser: fetch its proof (`log_proof`, a query, so the
// head carries the IC's certificate), check it from the root key up (src/verify), and show
// what was verified, against which root key, and what that proves.

import type { App } from '../app';
import type { LogEntry, LogProof } from '../bindings/inference';
import { errorBox, fill, h, hexValue } from '../dom';
import { entryTable, unwrap } from '../format';
import { toHex } from '../verify/bytes';
import { checkAttribution } from '../verify/bundle';
import { errorText } from '../verify/certificate';
import { moduleText } from '../verify/release';
import { isTampering, tamperWith, TAMPERINGS, type Tampering } from '../verify/tamper';
import { DEFAULT_MAX_AGE_MS, verifyLogProof, type CheckStatus, type Report } from '../verify/verifier';

const STATUS_MARK: Record<CheckStatus, string> = {
  passed: '✓',
  failed: '✗',
  skipped: '–',
  'not-run': '·',
};

export class VerifyView {
  readonly element: HTMLElement;
  private readonly seqInput: HTMLInputElement;
  private readonly tamper: HTMLSelectElement;
  private readonly result: HTMLElement;

  constructor(private readonly app: App, initialTampering: string | null) {
    this.seqInput = h('input', { type: 'number', min: '0', step: '1', size: 8, testid: 'verify-seq' });
    this.tamper = h('select', { testid: 'tamper' }, TAMPERINGS.map((t) => h('option', { value: t.kind }, t.label)));
    if (isTampering(initialTampering)) this.tamper.value = initialTampering;
    this.result = h('div', { testid: 'verify-result', 'aria-live': 'polite' });
    this.element = h(
      'section',
      { id: 'verify' },
      h('h2', null, 'Verify'),
      h(
        'form',
        { class: 'row', onsubmit: (e: Event) => (e.preventDefault(), this.verifyTyped()) },
        h('label', null, 'Log entry # ', this.seqInput),
        h('button', { type: 'submit', class: 'primary', testid: 'verify-button' }, 'Verify'),
      ),
      h(
        'div',
        { class: 'demo' },
        h('label', null, h('strong', null, 'Demonstration only: '), 'tamper with the fetched proof before verifying it ', this.tamper),
        h('p', { class: 'hint' }, 'Alters the copy this page verifies, never the log; shows that the verifier rejects it, and why.'),
      ),
      this.result,
    );
  }

  private verifyTyped(): void {
    const text = this.seqInput.value.trim();
    if (!/^\d+$/.test(text)) {
      fill(this.result, errorBox('give a log entry number'));
      return;
    }
    void this.verify(BigInt(text));
  }

  async verify(seq: bigint): Promise<void> {
    this.seqInput.value = String(seq);
    this.element.scrollIntoView({ behavior: 'smooth' });
    const tampering = this.tamper.value as Tampering;
    fill(this.result, h('p', { class: 'hint' }, `Fetching the proof of entry #${seq}…`));
    let proof: LogProof;
    try {
      proof = unwrap(await this.app.connection.canister.log_proof({ index: seq }));
    } catch (e) {
      fill(this.result, errorBox(`log_proof failed: ${errorText(e)}`, 'verify-error'));
      return;
    }
    const checked = tampering === 'none' ? proof : tamperWith(proof, tampering);
    const { connection, config } = this.app;
    // The code the canister runs now, and its controllers: a certified read_state, which
    // the verifier checks from the root key as it checks the head (a failed read leaves the
    // two checks skipped, and says so).
    const utf8 = (text: string) => new TextEncoder().encode(text);
    const path = (name: string) => [utf8('canister'), config.canisterId.toUint8Array(), utf8(name)];
    const codeCertificate = await connection.agent
      .readState({ canisterId: config.canisterId }, { paths: [path('module_hash'), path('controllers')] })
      .then((r) => r.certificate)
      .catch(() => undefined);
    const report = await verifyLogProof(
      checked,
      {
        rootKey: connection.rootKey,
        rootKeySource: connection.rootKeySource,
        canisterId: config.canisterId,
        nowMs: Date.now(),
        maxAgeMs: DEFAULT_MAX_AGE_MS,
      },
      { ...this.app.openings.get(seq), codeCertificate },
    );
    this.render(report, checked, tampering);
    if (report.verified) void this.attribute(checked.entry);
  }

  /** Which code wrote the entry: the code epoch it falls in (`code_epochs` only says which
   *  entry to prove), proven from the root key as the entry was, then checked to cover it. */
  private async attribute(entry: LogEntry): Promise<void> {
    const line = h('p', { class: 'statement', testid: 'verify-module' }, 'Looking up the code epoch that wrote this entry…');
    this.result.insertBefore(line, this.result.querySelector('h3'));
    const say = (text: string, status: string): void => {
      fill(line, text);
      line.dataset.status = status;
    };
    try {
      const { connection, config } = this.app;
      const epochs = await connection.canister.code_epochs();
      const epoch = [...epochs].reverse().find((e) => e.first_index <= entry.seq);
      if (!epoch) return say('Written by an unknown module: the entry predates the code epochs.', 'skipped');
      if (epoch.entry === undefined) {
        return say(`Written by the code epoch from entry #${epoch.first_index}, whose module is not recorded yet.`, 'skipped');
      }
      const proof = unwrap(await connection.canister.log_proof({ index: epoch.entry }));
      const report = await verifyLogProof(proof, {
        rootKey: connection.rootKey,
        rootKeySource: connection.rootKeySource,
        canisterId: config.canisterId,
        nowMs: Date.now(),
        maxAgeMs: DEFAULT_MAX_AGE_MS,
      });
      if (!report.verified) return say(`The code epoch entry #${epoch.entry} does not verify: ${report.failure!.detail}`, 'failed');
      const { outcome, writtenBy } = checkAttribution(entry, proof.entry);
      if (!writtenBy) return say(`Not attributed: ${outcome.detail}`, 'failed');
      say(
        `Written by ${moduleText(writtenBy.epoch.module_hash, this.app.releases, toHex)}: the code epoch from entry #${writtenBy.epoch.first_index} (${writtenBy.epoch.mode} at canister version ${writtenBy.epoch.deployed_version}), recorded as entry #${writtenBy.epochSeq}, whose proof verifies from the same root key.`,
        'passed',
      );
    } catch (e) {
      say(`The code epoch could not be read: ${errorText(e)}`, 'skipped');
    }
  }

  private render(report: Report, proof: LogProof, tampering: Tampering): void {
    const tamperLabel = TAMPERINGS.find((t) => t.kind === tampering)!.label;
    const verdict = report.verified
      ? h('div', { class: 'verdict ok', testid: 'verdict', 'data-verdict': 'verified' }, `✓ Entry #${report.seq} verified`)
      : h(
          'div',
          { class: 'verdict bad', testid: 'verdict', 'data-verdict': 'rejected' },
          `✗ Entry #${report.seq} rejected: ${report.failure!.title}. `,
          h('span', { testid: 'verdict-reason' }, report.failure!.detail),
        );
    fill(
      this.result,
      tampering !== 'none'
        ? h('p', { class: 'demo-banner', testid: 'tamper-banner' }, `Demonstration: the proof was tampered with before verifying (${tamperLabel}).`)
        : null,
      verdict,
      h(
        'table',
        { class: 'fields' },
        h(
          'tbody',
          null,
          h('tr', null, h('th', null, 'root key (DER)'), h('td', null, hexValue(report.rootKeyHex, 'root-key'), h('div', { class: 'hint' }, report.rootKeySource))),
          h('tr', null, h('th', null, 'canister'), h('td', null, h('code', null, report.canisterId))),
          h('tr', null, h('th', null, 'verified at'), h('td', null, `${new Date().toISOString()} (this browser's clock)`)),
        ),
      ),
      h('h3', null, 'What was checked'),
      h(
        'ol',
        { class: 'checklist', testid: 'checklist' },
        report.checks.map((c) => checkItem(c.title, c.status, c.detail, `check-${c.key}`)),
      ),
      report.statement ? h('div', { class: 'statement', testid: 'statement' }, h('h3', null, 'What this proves'), h('p', null, report.statement)) : null,
      h('h3', null, 'The entry, as received'),
      entryTable(proof.entry),
      rawProof(proof),
    );
  }
}

/** One line of a checklist: its mark, title, status and what it established (or why not). */
export function checkItem(title: string, status: CheckStatus, detail: string, testid: string): HTMLElement {
  return h(
    'li',
    { class: `check ${status}`, testid, 'data-status': status },
    h('span', { class: 'mark', 'aria-hidden': 'true' }, STATUS_MARK[status]),
    h('div', null, h('strong', null, title), h('span', { class: 'status' }, ` ${status.replace('-', ' ')}`), h('div', { class: 'detail' }, detail)),
  );
}

function rawProof(proof: LogProof): HTMLElement {
  const nodes = (list: Uint8Array[]) =>
    list.length ? h('ol', { start: '0', class: 'nodes' }, list.map((n) => h('li', null, hexValue(toHex(n))))) : 'none';
  const row = (name: string, value: Node | string) => h('tr', null, h('th', null, name), h('td', null, value));
  return h(
    'details',
    null,
    h('summary', null, 'The proof, byte for byte'),
    h(
      'table',
      { class: 'fields' },
      h(
        'tbody',
        null,
        row('entry_bytes', hexValue(toHex(proof.entry_bytes))),
        row('tree_size', String(proof.tree_size)),
        row('tree_root', hexValue(toHex(proof.tree_root))),
        row('inclusion_proof', nodes(proof.inclusion_proof)),
        row('consistency_proof', nodes(proof.consistency_proof)),
        row('head.tree_size', String(proof.head.tree_size)),
        row('head.root_hash', hexValue(toHex(proof.head.root_hash))),
        row('head.witness (CBOR)', hexValue(toHex(proof.head.witness))),
        row('head.certificate (CBOR)', proof.head.certificate ? `${proof.head.certificate.length} bytes` : 'absent'),
      ),
    ),
  );
}
