// The generation hashes against known answers computed apart from this code (Python's
// hashlib over the encoding docs/hashing.md gives), and the verifier's two generation checks.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogEntry, StopReason } from '../bindings/inference';
import { toHex, utf8 } from './bytes';
import { completionHash, promptCommitment, textHash, tokensHash } from './generation';
import { checkCompletion, checkPrompt, Failed, type GenerationOpening } from './verifier';

const PROMPT = 'In the beginning, café 🙂';
const NONCE = Uint8Array.from({ length: 16 }, (_, i) => i);

describe('generation hashes', () => {
  it('commit to the prompt as one u8 tensor named "prompt", salted or not', () => {
    expect(toHex(promptCommitment(PROMPT)!)).toBe('52160f47f1f25a23d3ffd5c2ca66b5b01c8d2eb735b90a3287c2bc250aeb2963');
    expect(toHex(promptCommitment(PROMPT, NONCE)!)).toBe('1c10df29a48a63f5200ea34de0784dcee1e85bf29b501308f861a5ffd8738dcd');
    expect(promptCommitment(PROMPT, new Uint8Array(256))).toBeNull();
  });

  it('hash the completion and a pasted text as their bytes alone', () => {
    expect(toHex(textHash(' the earth.'))).toBe('135e43cda4ecb4135a28c17896f336009766a2410af5fc995cf9c09a2a48424f');
    expect(toHex(completionHash(utf8(' the earth.')))).toBe(toHex(textHash(' the earth.')));
    expect(toHex(textHash(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(textHash(' the earth. '))).not.toBe(toHex(textHash(' the earth.')));
  });

  it('hash token ids as u32 little-endian', () => {
    expect(toHex(tokensHash([0, 1023, 70000]))).toBe('b3872b94cf1dcb3301387bc332ad0731ccb3981cd2f82ff3188a82a1be6e2402');
    expect(toHex(tokensHash(Uint32Array.of(0, 1023, 70000)))).toBe(toHex(tokensHash([0, 1023, 70000])));
  });
});

describe('the verifier on a generation', () => {
  const completion = utf8(' the earth.');
  const tokens = [262, 4, 518];
  const entry: LogEntry = {
    seq: 3n,
    timestamp_ns: 1n,
    caller: Principal.anonymous(),
    model_id: 'tiny-gpt',
    model_sha256: new Uint8Array(32),
    input_hash: promptCommitment(PROMPT, NONCE)!,
    output_hash: completionHash(completion),
    input_salted: true,
    instructions: 1n,
    messages: 2n,
    kind: {
      __kind__: 'generation',
      generation: {
        tokenizer_sha256: new Uint8Array(32),
        completion_tokens_sha256: tokensHash(tokens),
        prompt_tokens: 4,
        generated_tokens: tokens.length,
        stop_reason: 'max_new_tokens' as StopReason,
        sampling: { __kind__: 'greedy', greedy: null },
      },
    },
  };
  const held: GenerationOpening = { prompt: PROMPT, nonce: NONCE, completion, tokens };
  const reason = (run: () => unknown): string => {
    try {
      run();
    } catch (e) {
      if (e instanceof Failed) return e.reason;
      throw e;
    }
    return 'passed';
  };

  it('accepts the prompt, nonce, completion and tokens the entry commits to', () => {
    expect(checkPrompt(entry, held)).toContain(toHex(entry.input_hash));
    expect(checkCompletion(entry, held)).toContain(toHex(entry.output_hash));
  });

  it('rejects each thing that differs, with its reason', () => {
    expect(reason(() => checkPrompt(entry, { ...held, nonce: undefined }))).toBe('salt-mismatch');
    expect(reason(() => checkPrompt(entry, { ...held, prompt: `${PROMPT} ` }))).toBe('input-hash-mismatch');
    expect(reason(() => checkPrompt(entry, { ...held, nonce: NONCE.map((b) => b ^ 1) }))).toBe('input-hash-mismatch');
    expect(reason(() => checkCompletion(entry, { ...held, completion: utf8(' the earth!') }))).toBe('output-hash-mismatch');
    expect(reason(() => checkCompletion(entry, { ...held, tokens: [262, 4, 519] }))).toBe('completion-tokens-mismatch');
    expect(reason(() => checkCompletion({ ...entry, kind: undefined }, held))).toBe('completion-tokens-mismatch');
  });
});
