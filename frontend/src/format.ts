// Text for values the canister returns: errors, times, principals, entries.

import type { Error_, LogEntry, Sampling } from './bindings/inference';
import { h, hexValue } from './dom';
import { toHex } from './verify/bytes';
import { generationOf } from './verify/entry';

/** The canister's typed Error as one line: its variant and fields. */
export function canisterErrorText(error: Error_): string {
  const { __kind__: kind, ...rest } = error as unknown as Record<string, unknown> & { __kind__: string };
  const fields = rest[kind] as Record<string, unknown> | undefined;
  if (!fields || typeof fields !== 'object') return kind;
  const parts = Object.entries(fields).map(([key, value]) => `${key}: ${valueText(value)}`);
  return `${kind} (${parts.join(', ')})`;
}

function valueText(value: unknown): string {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'object' && value !== null && 'toText' in value) return (value as { toText(): string }).toText();
  return String(value);
}

/** Unwraps a Candid Result, turning Err into an exception with the error's text. */
export function unwrap<T>(result: { __kind__: 'Ok'; Ok: T } | { __kind__: 'Err'; Err: Error_ }): T {
  if (result.__kind__ === 'Err') throw new CanisterError(result.Err);
  return result.Ok;
}

export class CanisterError extends Error {
  constructor(readonly error: Error_) {
    super(canisterErrorText(error));
  }
}

export function timeText(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

export const bytesText = (n: bigint | number): string => {
  const value = Number(n);
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
};

export const countText = (n: bigint | number): string => Number(n).toLocaleString('en-US');

/** A generation's sampling settings in words. */
export function samplingText(sampling: Sampling): string {
  if (sampling.__kind__ === 'greedy') return 'greedy';
  const { temperature, top_k, top_p, seed } = sampling.sample;
  const cuts = [top_k !== undefined ? `top-k ${top_k}` : null, top_p !== undefined ? `top-p ${top_p}` : null].filter(Boolean);
  return `sampled at temperature ${temperature}${cuts.length ? `, ${cuts.join(', ')}` : ''}; seed ${seed ? toHex(seed) : 'none'}`;
}

/** A log entry in full: every field the canonical encoding commits to. */
export function entryTable(entry: LogEntry, testid?: string): HTMLElement {
  const row = (name: string, value: Node | string) => h('tr', null, h('th', null, name), h('td', null, value));
  const generation = generationOf(entry);
  return h(
    'table',
    { class: 'fields', testid },
    h(
      'tbody',
      null,
      row('seq', String(entry.seq)),
      row('time', `${timeText(entry.timestamp_ns)} (${entry.timestamp_ns} ns)`),
      row('caller', h('code', null, entry.caller.toText())),
      row('model', entry.model_id),
      row('model sha256', hexValue(toHex(entry.model_sha256))),
      row(generation ? 'prompt commitment' : 'input hash', hexValue(toHex(entry.input_hash), 'entry-input-hash')),
      row('input salted', entry.input_salted ? 'yes (with a nonce)' : 'no'),
      row(generation ? 'output hash (SHA-256 of the text)' : 'output hash', hexValue(toHex(entry.output_hash), 'entry-output-hash')),
      row('instructions', countText(entry.instructions)),
      entry.messages !== undefined ? row('messages', countText(entry.messages)) : null,
      generation
        ? [
            row('tokenizer sha256', hexValue(toHex(generation.tokenizer_sha256))),
            row('token ids sha256', hexValue(toHex(generation.completion_tokens_sha256))),
            row('tokens', `${generation.prompt_tokens} in, ${generation.generated_tokens} out`),
            row('stopped by', generation.stop_reason.replaceAll('_', ' ')),
            row('sampling', h('span', { testid: 'entry-sampling' }, samplingText(generation.sampling))),
          ]
        : null,
    ),
  );
}
