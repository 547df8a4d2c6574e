// Text generation from the page (docs/generation.md): the form's sampling settings and stop
// sequences as the canister takes them, following a generation through generation_status
// until it ends, what the page keeps to verify the receipt, and "check a text": the SHA-256
// of a pasted text looked up with find_log_entries. The views (views/generate.ts,
// views/check-text.ts) only render what these return.

import type { FindLogArgs, FindLogResult, FindLogResultResult, GenerationStatus, GenerationStatusResult, LogEntry, Sampling } from './bindings/inference';
import { unwrap } from './format';
import { fromHex, utf8 } from './verify/bytes';
import { generationOf, SEED_BYTES } from './verify/entry';
import { textHash } from './verify/generation';
import type { GenerationOpening, Held } from './verify/verifier';

/** docs/generation.md's bounds, checked here too so the form says what is wrong first. */
export const MAX_NEW_TOKENS = 4096;
export const MAX_STOP_SEQUENCES = 8;
export const MAX_STOP_BYTES = 64;

export interface SamplingForm {
  mode: 'greedy' | 'sample';
  temperature: string;
  /** Empty: no top-k cut. */
  topK: string;
  /** Empty: no top-p cut. */
  topP: string;
  /** 64 hex digits, or empty: the canister draws a seed from raw_rand. */
  seed: string;
}

/** The form's settings as the canister's Sampling; throws with what is wrong. */
export function parseSampling(form: SamplingForm): Sampling {
  if (form.mode === 'greedy') return { __kind__: 'greedy', greedy: null };
  const temperature = Number(form.temperature);
  if (!form.temperature.trim() || !Number.isFinite(temperature) || temperature <= 0 || temperature > 100) {
    throw new Error('temperature must be a number in (0, 100]');
  }
  let top_k: number | undefined;
  if (form.topK.trim()) {
    top_k = Number(form.topK);
    if (!Number.isInteger(top_k) || top_k < 1 || top_k > 0xffff_ffff) throw new Error('top-k must be a whole number ≥ 1');
  }
  let top_p: number | undefined;
  if (form.topP.trim()) {
    top_p = Number(form.topP);
    if (!Number.isFinite(top_p) || top_p <= 0 || top_p > 1) throw new Error('top-p must be a number in (0, 1]');
  }
  let seed: Uint8Array | undefined;
  if (form.seed.trim()) {
    seed = fromHex(form.seed);
    if (seed.length !== SEED_BYTES) throw new Error(`the seed must be ${SEED_BYTES} bytes (${2 * SEED_BYTES} hex digits), got ${seed.length}`);
  }
  return { __kind__: 'sample', sample: { temperature, top_k, top_p, seed } };
}

/**
 * Stop sequences, one per line; `\n`, `\t` and `\\` stand for a newline, a tab and a
 * backslash, so a stop sequence can hold them. Empty lines are ignored.
 */
export function parseStops(text: string): string[] {
  const stops = text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.replace(/\\(n|t|\\)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\')));
  if (stops.length > MAX_STOP_SEQUENCES) throw new Error(`at most ${MAX_STOP_SEQUENCES} stop sequences`);
  for (const stop of stops) {
    const bytes = utf8(stop).length;
    if (bytes > MAX_STOP_BYTES) throw new Error(`a stop sequence of ${bytes} bytes: at most ${MAX_STOP_BYTES}`);
  }
  return stops;
}

export function parseMaxNewTokens(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_NEW_TOKENS) throw new Error(`max new tokens must be a whole number from 1 to ${MAX_NEW_TOKENS}`);
  return n;
}

export interface FollowOptions {
  intervalMs: number;
  /** Bounds the wait: after this many polls of a pending generation, following stops. */
  maxPolls: number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls generation_status until the generation is no longer pending, calling onUpdate with
 * every status (each carries the tokens and text so far: that is the stream). Returns the
 * last status; throws on an error answer, or when maxPolls pass with the job still pending.
 */
export async function followGeneration(
  status: (id: bigint) => Promise<GenerationStatusResult>,
  id: bigint,
  onUpdate: (status: GenerationStatus) => void,
  options: FollowOptions,
): Promise<GenerationStatus> {
  const sleep = options.sleep ?? realSleep;
  for (let poll = 0; poll < options.maxPolls; poll++) {
    const current = unwrap(await status(id));
    onUpdate(current);
    if (current.state.__kind__ !== 'pending') return current;
    await sleep(options.intervalMs);
  }
  throw new Error(`generation ${id} is still pending after ${options.maxPolls} polls; it goes on in the canister`);
}

/** What the page keeps of a generation it started, to verify its receipt (verifier.ts). */
export function generationHeld(prompt: string, nonce: Uint8Array | undefined, status: GenerationStatus): Held | undefined {
  if (status.state.__kind__ !== 'done') return undefined;
  const generation: GenerationOpening = { prompt, nonce, completion: status.completion, tokens: status.tokens };
  return { generation, receipt: status.state.done };
}

/** At most this many pages of find_log_entries per lookup. */
export const MAX_FIND_PAGES = 10;
const FIND_PAGE = 100;

export interface TextLookup {
  /** SHA-256 of the text's UTF-8 bytes: the output_hash looked up. */
  hash: Uint8Array;
  /** The generations whose completion is exactly this text, oldest first. */
  generations: LogEntry[];
  /** Entries with this output hash that are not generations (an inference's outputs cannot hash to it by chance). */
  others: LogEntry[];
  /** More pages were left unread (after MAX_FIND_PAGES). */
  truncated: boolean;
}

/** "Was this text generated here?": one find_log_entries by output_hash = SHA-256(text). */
export async function findText(find: (args: FindLogArgs) => Promise<FindLogResultResult>, text: string): Promise<TextLookup> {
  const hash = textHash(text);
  const found: LogEntry[] = [];
  let start: bigint | undefined = 0n;
  let pages = 0;
  while (start !== undefined && pages < MAX_FIND_PAGES) {
    const page: FindLogResult = unwrap(await find({ filter: { __kind__: 'output_hash', output_hash: hash }, start, limit: FIND_PAGE }));
    found.push(...page.entries);
    start = page.next;
    pages++;
  }
  return {
    hash,
    generations: found.filter((e) => generationOf(e) !== undefined),
    others: found.filter((e) => generationOf(e) === undefined),
    truncated: start !== undefined,
  };
}
