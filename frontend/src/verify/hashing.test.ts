// testdata/hashing.json, which crates/verify writes: the TS encoders and hashes must
// reproduce every vector, and the decoders refuse every probe.

import { Principal } from '@icp-sdk/core/principal';
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../bindings/inference';
import { fromHex, toHex } from './bytes';
import { entryFrom, hashing, tensorFrom } from './corpus';
import { decodeEntry, encodeEntry, EntryEncodeError, entriesEqual, generationOf } from './entry';
import { checkWitness, decodeLeb128, headCommitment, leb128 } from './head';
import { leafHash, nodeHash } from './merkle';
import { encodeTensorList, inputHash, outputHash } from './tensor';

describe('tensor lists', () => {
  for (const c of hashing.tensor_lists) {
    it(c.name, () => {
      const tensors = c.tensors.map(tensorFrom);
      expect(toHex(encodeTensorList(tensors))).toBe(c.encoding);
      expect(toHex(inputHash(tensors)!)).toBe(c.input_hash);
      expect(toHex(outputHash(tensors))).toBe(c.output_hash);
      for (const salted of c.salted) {
        const hash = inputHash(tensors, fromHex(salted.nonce));
        expect(hash && toHex(hash), `nonce of ${salted.nonce.length / 2} bytes`).toBe(salted.input_hash);
      }
    });
  }
});

describe('log entries', () => {
  for (const c of [...hashing.entries, ...hashing.code_epoch_entries, ...hashing.model_entries]) {
    it(c.name, () => {
      const entry = entryFrom(c.entry);
      const bytes = encodeEntry(entry);
      expect(toHex(bytes)).toBe(c.bytes);
      expect(entriesEqual(decodeEntry(bytes)!, entry)).toBe(true);
      expect(toHex(leafHash(bytes))).toBe(c.leaf_hash);
    });
  }

  it('refuse to encode entries without a canonical form', () => {
    for (const c of hashing.entries_without_encoding) {
      expect(() => encodeEntry(entryFrom(c.entry)), c.name).toThrow(EntryEncodeError);
      try {
        encodeEntry(entryFrom(c.entry));
      } catch (e) {
        expect((e as EntryEncodeError).reason, c.name).toBe(c.reason);
      }
    }
  });

  it('refuse to decode every probe', () => {
    for (const probe of [...hashing.entry_bytes_that_do_not_decode, ...hashing.model_entry_bytes_that_do_not_decode]) {
      expect(decodeEntry(fromHex(probe.bytes)), probe.name).toBeNull();
    }
  });

  it('are compared field by field (entriesEqual sees every field)', () => {
    const base = entryFrom(hashing.entries[1].entry);
    const changes: Array<Partial<LogEntry>> = [
      { seq: 5n },
      { timestamp_ns: 1n },
      { caller: Principal.fromUint8Array(Uint8Array.of(1)) },
      { model_id: 'other' },
      { model_sha256: new Uint8Array(32) },
      { input_hash: new Uint8Array(32) },
      { output_hash: new Uint8Array(32) },
      { input_salted: true },
      { instructions: 0n },
    ];
    for (const change of changes) expect(entriesEqual(base, { ...base, ...change })).toBe(false);
  });
});

describe('generation entries (version 2, kind 2)', () => {
  it('are in the corpus (crates/verify writes them since text generation, #19)', () => {
    expect(hashing.generation_entries?.length ?? 0).toBeGreaterThanOrEqual(4);
  });

  for (const c of hashing.generation_entries ?? []) {
    it(c.name, () => {
      const entry = entryFrom(c.entry);
      const bytes = encodeEntry(entry);
      expect(toHex(bytes)).toBe(c.bytes);
      const decoded = decodeEntry(bytes)!;
      expect(generationOf(decoded)).toBeDefined();
      expect(entriesEqual(decoded, entry)).toBe(true);
      expect(toHex(leafHash(bytes))).toBe(c.leaf_hash);
      // Every strict prefix is refused: the receipt's fields are all required.
      for (const cut of [1, 4, 33, 66]) expect(decodeEntry(bytes.subarray(0, bytes.length - cut)), `${cut} bytes short`).toBeNull();
    });
  }

  // The sampled case (top_k and top_p set), read when a test runs.
  const sampledCase = () => {
    const sampled = entryFrom(hashing.generation_entries[1].entry);
    return { sampled, receipt: generationOf(sampled)! };
  };

  it('are compared receipt field by receipt field', () => {
    const { sampled, receipt } = sampledCase();
    const settings = receipt.sampling.__kind__ === 'sample' ? receipt.sampling.sample : undefined;
    const changes = [
      { tokenizer_sha256: new Uint8Array(32) },
      { completion_tokens_sha256: new Uint8Array(32) },
      { prompt_tokens: 8 },
      { generated_tokens: 4 },
      { stop_reason: 'max_new_tokens' },
      { sampling: { __kind__: 'greedy', greedy: null } },
      { sampling: { __kind__: 'sample', sample: { ...settings!, seed: new Uint8Array(32) } } },
      { sampling: { __kind__: 'sample', sample: { ...settings!, top_k: 41 } } },
    ];
    for (const change of changes) {
      const other = { ...sampled, kind: { __kind__: 'generation', generation: { ...receipt, ...change } } } as LogEntry;
      expect(entriesEqual(sampled, other), JSON.stringify(Object.keys(change))).toBe(false);
    }
    expect(entriesEqual(sampled, { ...sampled, kind: undefined })).toBe(false);
  });

  it('refuse to encode a receipt without a canonical form', () => {
    const { sampled, receipt } = sampledCase();
    const reasonOf = (entry: LogEntry): string | undefined => {
      try {
        encodeEntry(entry);
      } catch (e) {
        return (e as EntryEncodeError).reason;
      }
    };
    const settings = receipt.sampling.__kind__ === 'sample' ? receipt.sampling.sample : undefined;
    const withSampling = (sample: object) => ({ ...sampled, kind: { __kind__: 'generation', generation: { ...receipt, sampling: { __kind__: 'sample', sample } } } }) as LogEntry;
    expect(reasonOf({ ...sampled, messages: undefined })).toBe('kind-needs-version-2');
    expect(reasonOf(withSampling({ ...settings!, seed: undefined }))).toBe('sampling');
    expect(reasonOf(withSampling({ ...settings!, seed: new Uint8Array(31) }))).toBe('sampling');
    expect(reasonOf(withSampling({ ...settings!, temperature: Number.NaN }))).toBe('sampling');
    expect(reasonOf({ ...sampled, kind: { __kind__: 'generation', generation: { ...receipt, tokenizer_sha256: new Uint8Array(31) } } })).toBe('digest-length');
  });

  it('refuse bytes with an unknown stop reason or sampling kind, or a non-finite setting', () => {
    const bytes = fromHex(hashing.generation_entries[1].bytes);
    // The sampled case's tail: stop_reason, then sampling kind 1, temperature, top_k, top_p, seed.
    const stopAt = bytes.length - 32 - 5 - 5 - 4 - 1 - 1;
    const patched = (at: number, value: number) => {
      const copy = bytes.slice();
      copy[at] = value;
      return copy;
    };
    expect(decodeEntry(bytes)).not.toBeNull();
    expect(decodeEntry(patched(stopAt, 0))).toBeNull();
    expect(decodeEntry(patched(stopAt, 5))).toBeNull();
    expect(decodeEntry(patched(stopAt + 1, 2))).toBeNull();
    const nan = bytes.slice();
    nan.set([0x00, 0x00, 0xc0, 0x7f], stopAt + 2);
    expect(decodeEntry(nan)).toBeNull();
    expect(decodeEntry(patched(stopAt + 6, 2))).toBeNull();
  });
});

describe('LEB128, the certified head and the tree hashes', () => {
  it('LEB128 round-trips, and refuses the invalid forms', () => {
    for (const c of hashing.leb128) {
      expect(toHex(leb128(BigInt(c.value)))).toBe(c.bytes);
      expect(decodeLeb128(fromHex(c.bytes))).toBe(BigInt(c.value));
    }
    for (const c of hashing.leb128_invalid) expect(decodeLeb128(fromHex(c.bytes)), c.name).toBeNull();
  });

  it('heads: the commitment, and the witness read back against it', async () => {
    for (const c of hashing.heads) {
      const [size, root] = [BigInt(c.size), fromHex(c.root)];
      expect(toHex(headCommitment(size, root))).toBe(c.commitment);
      const head = { tree_size: size, root_hash: root, witness: fromHex(c.witness), certificate: undefined };
      const read = await checkWitness(head, fromHex(c.commitment));
      expect([read.treeSize, toHex(read.root)]).toEqual([size, c.root]);
    }
  });

  it('leaf and node hashes', () => {
    for (const c of hashing.leaf_hashes) expect(toHex(leafHash(fromHex(c.data)))).toBe(c.hash);
    for (const c of hashing.node_hashes) expect(toHex(nodeHash(fromHex(c.left), fromHex(c.right)))).toBe(c.hash);
  });
});
