// Demonstration only: alter a fetched proof before verifying it, to show that the verifier
// rejects it and why. Nothing here touches the canister or the log; the page labels the
// control as a demonstration, and `?tamper=<kind>` preselects it (for the browser tests).

import { Cbor } from '@icp-sdk/core/agent';
import type { LogProof } from '../bindings/inference';

export type Tampering = 'none' | 'inclusion-proof' | 'entry-bytes' | 'forged-entry' | 'witness' | 'certificate';

export const TAMPERINGS: ReadonlyArray<{ kind: Tampering; label: string }> = [
  { kind: 'none', label: 'none: verify the proof as received' },
  { kind: 'inclusion-proof', label: 'flip a bit of an inclusion-proof node' },
  { kind: 'entry-bytes', label: 'flip a bit of entry_bytes' },
  { kind: 'forged-entry', label: 'forge the output hash in the entry and its bytes alike' },
  { kind: 'witness', label: 'flip a bit of the witness (the certified log size)' },
  { kind: 'certificate', label: "flip a bit of the certificate's signature" },
];

export function isTampering(text: string | null): text is Tampering {
  return TAMPERINGS.some((t) => t.kind === text);
}

function flipBit(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 0x01;
  return out;
}

/** A copy of the proof altered as `kind` says; the fetched proof stays as it was. */
export function tamperWith(proof: LogProof, kind: Tampering): LogProof {
  const copy: LogProof = {
    ...proof,
    entry: { ...proof.entry },
    inclusion_proof: proof.inclusion_proof.map((node) => node.slice()),
    consistency_proof: proof.consistency_proof.map((node) => node.slice()),
    entry_bytes: proof.entry_bytes.slice(),
    head: { ...proof.head },
  };
  // The output hash ends before the flags byte, and in version 1 also before the u64 of
  // instructions (docs/hashing.md).
  const outputHashEnd = copy.entry_bytes.length - (copy.entry_bytes[0] === 1 ? 9 : 1);
  switch (kind) {
    case 'none':
      break;
    case 'inclusion-proof':
      if (copy.inclusion_proof.length > 0) {
        copy.inclusion_proof[0] = flipBit(copy.inclusion_proof[0], 0);
      } else {
        // A one-entry tree has an empty proof: there is no node to flip, so add one.
        copy.inclusion_proof.push(new Uint8Array(32));
      }
      break;
    case 'entry-bytes':
      copy.entry_bytes = flipBit(copy.entry_bytes, outputHashEnd - 1);
      break;
    case 'forged-entry':
      copy.entry_bytes = flipBit(copy.entry_bytes, outputHashEnd - 1);
      copy.entry.output_hash = copy.entry_bytes.slice(outputHashEnd - 32, outputHashEnd);
      break;
    case 'witness':
      copy.head.witness = flipBit(copy.head.witness, copy.head.witness.length - 1);
      break;
    case 'certificate':
      if (copy.head.certificate) copy.head.certificate = flipSignatureBit(copy.head.certificate);
      break;
  }
  return copy;
}

function flipSignatureBit(certificate: Uint8Array): Uint8Array {
  const decoded = Cbor.decode<Record<string, unknown>>(certificate);
  const signature = decoded.signature as Uint8Array;
  // The last byte: flipping the first could turn the compressed point's flag bits, and
  // the point would then fail to parse rather than fail to verify.
  return new Uint8Array(Cbor.encode({ ...decoded, signature: flipBit(signature, signature.length - 1) }));
}
