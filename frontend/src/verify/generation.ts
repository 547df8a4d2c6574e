// The hashes of a text generation's receipt (docs/hashing.md, "Text generation hashes"; the
// Rust original is crates/verify/src/generation.rs):
//
//   prompt commitment := input hash of one tensor "prompt", u8 [len], the prompt's UTF-8
//                        bytes (salted with the nonce exactly as inputs are)
//   output_hash       := SHA-256(completion bytes)         plain: a text is found by its hash
//   tokens hash       := SHA-256(id_0 | id_1 | ...)        each id u32 little-endian

import type { Tensor } from '../bindings/inference';
import { concatBytes, sha256, u32le, utf8 } from './bytes';
import { inputHash } from './tensor';

export const PROMPT_TENSOR = 'prompt';

/** The commitment to a prompt; null for a nonce over 255 bytes (never accepted). */
export function promptCommitment(prompt: string, nonce?: Uint8Array): Uint8Array | null {
  const bytes = utf8(prompt);
  const tensor: Tensor = { name: PROMPT_TENSOR, shape: BigUint64Array.of(BigInt(bytes.length)), data: { __kind__: 'u8', u8: bytes } };
  return inputHash([tensor], nonce);
}

/** The output hash of a generation, and what "check a text" looks up: the bytes alone. */
export function completionHash(completion: Uint8Array): Uint8Array {
  return sha256(completion);
}

/** The hash of the text as pasted: its UTF-8 bytes, exactly (no trimming, no normalisation). */
export function textHash(text: string): Uint8Array {
  return completionHash(utf8(text));
}

export function tokensHash(tokens: ArrayLike<number>): Uint8Array {
  return sha256(concatBytes(...Array.from(tokens, (token) => u32le(token))));
}
