// Test fixtures (imported by the *.test.ts files only, never by the page): certificates
// signed by test BLS keys exactly as the IC signs them, and a log with its proofs, the way
// crates/verify/tests/verifier.rs builds its own.

import { bls12_381 } from '@noble/curves/bls12-381.js';
import { Cbor, reconstruct, type HashTree } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';
import type { LogEntry, LogProof, Tensor } from '../bindings/inference';
import { concatBytes, fromHex, utf8 } from './bytes';
import { encodeEntry } from './entry';
import { encodeHeadWitness, headCommitment, leb128 } from './head';
import { consistencyProof, inclusionProof, merkleRoot } from './merkle';
import { inputHash, outputHash } from './tensor';

const BLS = bls12_381.shortSignatures;
const BLS_KEY_DER_PREFIX = fromHex('308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100');

export const NOW_MS = 1_750_000_000_000;
export const MINUTE_NS = 60_000_000_000n;
export const NOW_NS = BigInt(NOW_MS) * 1_000_000n;

export class TestKey {
  readonly secret: Uint8Array;
  constructor(seed: number) {
    this.secret = BLS.keygen(new Uint8Array(48).fill(seed)).secretKey;
  }
  der(): Uint8Array {
    return concatBytes(BLS_KEY_DER_PREFIX, BLS.getPublicKey(this.secret).toBytes(true));
  }
  async signTree(tree: HashTree): Promise<Uint8Array> {
    const message = concatBytes(Uint8Array.of(0x0d), utf8('ic-state-root'), await reconstruct(tree));
    return BLS.sign(BLS.hash(message), this.secret).toBytes(true);
  }
}

// Hash tree constructors, labels as bytes the way the IC sends them.
type Label = string | Uint8Array;
const bytesOf = (label: Label) => (typeof label === 'string' ? utf8(label) : label);
export const fork = (left: HashTree, right: HashTree) => [1, left, right] as unknown as HashTree;
export const labeled = (label: Label, tree: HashTree) => [2, bytesOf(label), tree] as unknown as HashTree;
export const leaf = (value: Uint8Array) => [3, value] as unknown as HashTree;

export const canister = () => Principal.fromUint8Array(Uint8Array.of(0, 0, 0, 0, 0, 0x30, 0, 0x07, 1, 1));
export const subnet = () => Principal.fromUint8Array(new Uint8Array(29).fill(0x5b));

export function stateTree(id: Principal, certifiedData: Uint8Array, timeNs: bigint): HashTree {
  return fork(
    labeled('canister', labeled(id.toUint8Array(), labeled('certified_data', leaf(certifiedData)))),
    labeled('time', leaf(leb128(timeNs))),
  );
}

export interface Delegation {
  subnet_id: Uint8Array;
  certificate: Uint8Array;
}

export async function certificate(tree: HashTree, key: TestKey, delegation?: Delegation): Promise<Uint8Array> {
  const signature = await key.signTree(tree);
  const body: Record<string, unknown> = { tree, signature };
  if (delegation) body.delegation = delegation;
  return new Uint8Array(Cbor.encode(body));
}

/** A delegation from `root` to `subnetKey` for a subnet whose one range is [from, to]. */
export async function delegation(root: TestKey, subnetKey: TestKey, from: Principal, to: Principal): Promise<Delegation> {
  const ranges = new Uint8Array(Cbor.encode([[from.toUint8Array(), to.toUint8Array()]]));
  const tree = fork(
    labeled(
      'subnet',
      labeled(
        subnet().toUint8Array(),
        fork(labeled('canister_ranges', leaf(ranges)), labeled('public_key', leaf(subnetKey.der()))),
      ),
    ),
    labeled('time', leaf(leb128(NOW_NS - 10n * MINUTE_NS))),
  );
  return { subnet_id: subnet().toUint8Array(), certificate: await certificate(tree, root) };
}

// --- a log of a few entries, one of them an inference with a known opening ----------------

export const NONCE = new Uint8Array(32).fill(7);

export const inputs = (): Tensor[] => [
  { name: 'x', shape: BigUint64Array.of(1n, 3n), data: { __kind__: 'f32', f32: [1, 2, 3] } },
];
export const outputs = (): Tensor[] => [
  { name: 'y', shape: BigUint64Array.of(1n, 3n), data: { __kind__: 'f32', f32: [4, 6, 8] } },
  { name: 'label', shape: BigUint64Array.of(1n), data: { __kind__: 'i64', i64: BigInt64Array.of(2n) } },
];

export function logEntry(seq: bigint): LogEntry {
  return {
    seq,
    timestamp_ns: NOW_NS - MINUTE_NS + seq,
    caller: Principal.fromUint8Array(new Uint8Array(29).fill(0xa1)),
    model_id: 'affine',
    model_sha256: new Uint8Array(32).fill(0x11),
    input_hash: inputHash(inputs(), NONCE),
    output_hash: outputHash(outputs()),
    input_salted: true,
    instructions: 100_000n + seq,
  };
}

export interface ProofOptions {
  /** Entries in the log (the certified head). */
  logSize: number;
  index: number;
  /** Prove inclusion in the first treeSize entries (default: all). */
  treeSize?: number;
  /** The root key that signs; with subnetKey, through a delegation. */
  root: TestKey;
  subnetKey?: TestKey;
  /** The range the delegation gives the subnet (default: the test canister alone). */
  range?: [Principal, Principal];
  certifiedFor?: Principal;
  timeNs?: bigint;
}

export async function logProof(options: ProofOptions): Promise<LogProof> {
  const entries = Array.from({ length: options.logSize }, (_, i) => logEntry(BigInt(i)));
  const bytes = entries.map(encodeEntry);
  const treeSize = options.treeSize ?? options.logSize;
  const headRoot = merkleRoot(bytes);
  const size = BigInt(options.logSize);
  const tree = stateTree(options.certifiedFor ?? canister(), headCommitment(size, headRoot), options.timeNs ?? NOW_NS);
  const signer = options.subnetKey ?? options.root;
  const delegated = options.subnetKey
    ? await delegation(options.root, options.subnetKey, ...(options.range ?? [canister(), canister()]))
    : undefined;
  return {
    entry: entries[options.index],
    entry_bytes: bytes[options.index],
    tree_size: BigInt(treeSize),
    tree_root: merkleRoot(bytes.slice(0, treeSize)),
    inclusion_proof: inclusionProof(options.index, bytes.slice(0, treeSize)),
    consistency_proof: consistencyProof(treeSize, bytes),
    head: {
      tree_size: size,
      root_hash: headRoot,
      witness: encodeHeadWitness(size, headRoot),
      certificate: await certificate(tree, signer, delegated),
    },
  };
}
