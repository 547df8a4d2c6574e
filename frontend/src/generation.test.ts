// The generation view's logic against a fake canister: the form's settings, following a
// generation to its receipt, and finding a text's receipt by its hash.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { FindLogArgs, GenerationStatus, GenerationStatusResult, LogEntry, StopReason } from './bindings/inference';
import { findText, followGeneration, generationHeld, MAX_FIND_PAGES, parseMaxNewTokens, parseSampling, parseStops } from './generation';
import { toHex, utf8 } from './verify/bytes';
import { completionHash, promptCommitment, textHash, tokensHash } from './verify/generation';
import { checkCompletion, checkPrompt } from './verify/verifier';

const FORM = { mode: 'sample' as const, temperature: '0.8', topK: '40', topP: '0.9', seed: '' };

describe('the generation form', () => {
  it('gives greedy, or sampling with the optional cuts and seed', () => {
    expect(parseSampling({ ...FORM, mode: 'greedy' })).toEqual({ __kind__: 'greedy', greedy: null });
    expect(parseSampling(FORM)).toEqual({ __kind__: 'sample', sample: { temperature: 0.8, top_k: 40, top_p: 0.9, seed: undefined } });
    const seeded = parseSampling({ ...FORM, topK: '', topP: ' ', seed: '00'.repeat(31) + 'ff' });
    expect(seeded.__kind__ === 'sample' && seeded.sample.top_k).toBeUndefined();
    expect(seeded.__kind__ === 'sample' && seeded.sample.top_p).toBeUndefined();
    expect(seeded.__kind__ === 'sample' && toHex(seeded.sample.seed!)).toBe('00'.repeat(31) + 'ff');
  });

  it('refuses settings the canister would refuse, saying which', () => {
    expect(() => parseSampling({ ...FORM, temperature: '0' })).toThrow(/temperature/);
    expect(() => parseSampling({ ...FORM, temperature: '' })).toThrow(/temperature/);
    expect(() => parseSampling({ ...FORM, temperature: '101' })).toThrow(/temperature/);
    expect(() => parseSampling({ ...FORM, topK: '0' })).toThrow(/top-k/);
    expect(() => parseSampling({ ...FORM, topK: '2.5' })).toThrow(/top-k/);
    expect(() => parseSampling({ ...FORM, topP: '1.5' })).toThrow(/top-p/);
    expect(() => parseSampling({ ...FORM, seed: 'abcd' })).toThrow(/32 bytes/);
    expect(() => parseSampling({ ...FORM, seed: 'zz' })).toThrow(/not hex/);
    expect(parseMaxNewTokens('48')).toBe(48);
    for (const bad of ['0', '4097', '1.5', 'x']) expect(() => parseMaxNewTokens(bad), bad).toThrow(/max new tokens/);
  });

  it('reads stop sequences one per line, with \\n and \\t escapes', () => {
    expect(parseStops('')).toEqual([]);
    expect(parseStops('\\n\\n\n<|im_end|>\n\nAmen.')).toEqual(['\n\n', '<|im_end|>', 'Amen.']);
    expect(parseStops('a\\\\n')).toEqual(['a\\n']);
    expect(() => parseStops(Array.from({ length: 9 }, (_, i) => `s${i}`).join('\n'))).toThrow(/at most 8/);
    expect(() => parseStops('é'.repeat(33))).toThrow(/66 bytes/);
  });
});

const PROMPT = 'And the LORD said unto Moses,';
const NONCE = new Uint8Array(32).fill(7);
const CALLER = Principal.fromUint8Array(Uint8Array.of(1, 2, 3));

function receipt(completion: Uint8Array, tokens: number[]): LogEntry {
  return {
    seq: 12n,
    timestamp_ns: 5n,
    caller: CALLER,
    model_id: 'tiny-gpt',
    model_sha256: new Uint8Array(32).fill(1),
    input_hash: promptCommitment(PROMPT, NONCE)!,
    output_hash: completionHash(completion),
    input_salted: true,
    instructions: 1000n,
    messages: 3n,
    kind: {
      __kind__: 'generation',
      generation: {
        tokenizer_sha256: new Uint8Array(32).fill(2),
        completion_tokens_sha256: tokensHash(tokens),
        prompt_tokens: 9,
        generated_tokens: tokens.length,
        stop_reason: 'max_new_tokens' as StopReason,
        sampling: { __kind__: 'greedy', greedy: null },
      },
    },
  };
}

function status(text: string, tokens: number[], done?: LogEntry): GenerationStatus {
  return {
    id: 4n,
    model_id: 'tiny-gpt',
    caller: CALLER,
    created_at_ns: 1n,
    finished_at_ns: done ? 2n : undefined,
    tokens: Uint32Array.from(tokens),
    completion: utf8(text),
    text,
    progress: { prompt_tokens: 9, generated_tokens: tokens.length, instructions: 10n, messages: 1n, restarts: 0 },
    state: done ? { __kind__: 'done', done } : { __kind__: 'pending', pending: null },
  };
}

describe('following a generation', () => {
  const final = receipt(utf8(' that the'), [11, 12, 13]);
  const answers: GenerationStatus[] = [status('', []), status(' that', [11]), status(' that the', [11, 12, 13], final)];

  it('streams each status until done, and keeps what verifies the receipt', async () => {
    const asked: bigint[] = [];
    const seen: string[] = [];
    const slept: number[] = [];
    let next = 0;
    const last = await followGeneration(
      async (id): Promise<GenerationStatusResult> => (asked.push(id), { __kind__: 'Ok', Ok: answers[next++] }),
      4n,
      (s) => seen.push(s.text),
      { intervalMs: 250, maxPolls: 10, sleep: async (ms) => void slept.push(ms) },
    );
    expect(seen).toEqual(['', ' that', ' that the']);
    expect(asked).toEqual([4n, 4n, 4n]);
    expect(slept).toEqual([250, 250]);
    const held = generationHeld(PROMPT, NONCE, last)!;
    expect(held.receipt).toBe(final);
    // What the page holds passes the verifier's two generation checks against the receipt.
    expect(checkPrompt(final, held.generation!)).toContain('salted with the 32-byte nonce');
    expect(checkCompletion(final, held.generation!)).toContain('3 token ids');
    expect(generationHeld(PROMPT, NONCE, answers[1])).toBeUndefined();
  });

  it('stops after maxPolls of a pending generation, and on an error answer', async () => {
    const pending = async (): Promise<GenerationStatusResult> => ({ __kind__: 'Ok', Ok: answers[0] });
    let polls = 0;
    await expect(followGeneration(pending, 4n, () => polls++, { intervalMs: 1, maxPolls: 3, sleep: async () => {} })).rejects.toThrow(/still pending after 3 polls/);
    expect(polls).toBe(3);
    const refused = async (): Promise<GenerationStatusResult> => ({ __kind__: 'Err', Err: { __kind__: 'NotFound', NotFound: { what: 'job 4' } } as never });
    await expect(followGeneration(refused, 4n, () => {}, { intervalMs: 1, maxPolls: 3, sleep: async () => {} })).rejects.toThrow(/NotFound/);
  });
});

describe('check a text', () => {
  const text = ' that the';
  const generation = receipt(utf8(text), [11, 12, 13]);
  const inference = { ...receipt(utf8(text), [1]), seq: 13n, kind: undefined };

  it('looks up SHA-256 of the exact bytes as output_hash, page by page', async () => {
    const calls: FindLogArgs[] = [];
    const pages = [
      { entries: [generation], next: 40n },
      { entries: [inference], next: undefined },
    ];
    const result = await findText(async (args) => (calls.push(args), { __kind__: 'Ok', Ok: pages[calls.length - 1] }), text);
    expect(toHex(result.hash)).toBe(toHex(textHash(' that the')));
    expect(calls.map((c) => [c.filter.__kind__, c.start])).toEqual([
      ['output_hash', 0n],
      ['output_hash', 40n],
    ]);
    expect(calls[0].filter.__kind__ === 'output_hash' && toHex(calls[0].filter.output_hash)).toBe(toHex(textHash(text)));
    expect(result.generations.map((e) => e.seq)).toEqual([12n]);
    expect(result.others.map((e) => e.seq)).toEqual([13n]);
    expect(result.truncated).toBe(false);
  });

  it('reads a bounded number of pages', async () => {
    let calls = 0;
    const result = await findText(async () => (calls++, { __kind__: 'Ok', Ok: { entries: [], next: 1n } }), text);
    expect(calls).toBe(MAX_FIND_PAGES);
    expect(result.truncated).toBe(true);
  });
});
