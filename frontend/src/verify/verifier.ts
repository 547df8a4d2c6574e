// The verifier: from the IC's root key to "this model produced this output from this input
// at this time" (docs/provenance.md, "What the verifier checks"). A port of
// crates/verify/src/verifier.rs `report_log_proof`, and its report (report.rs): the same
// checks in the same order, the same keys, statuses and reason codes, held to the same
// cases (testdata/verifier.json):
//
//   root key ──BLS──▶ certificate ──/canister/<id>/certified_data──▶ head commitment
//   head commitment ══ hash of the witness tree ──▶ (tree size, Merkle root)
//   Merkle root ──inclusion + consistency proofs──▶ SHA-256(0x00 || entry bytes) ──▶ entry
//   entry.input_hash  ══ recomputed from the inputs and nonce held (a generation: the prompt)
//   entry.output_hash ══ recomputed from the outputs held (a generation: the completion's
//                        bytes, and its token ids against the receipt's token hash)
//   entry.model_sha256 ══ the SHA-256 of the model held
//
// Each check passed (with what it established), failed (with why, and a reason code),
// was skipped (nothing held to check it against: not proven) or not run (a check it builds
// on failed).

import type { VerifyFunc } from '@icp-sdk/core/agent';
import type { Principal } from '@icp-sdk/core/principal';
import type { LogEntry, LogProof, Tensor } from '../bindings/inference';
import { bytesEqual, shortHex, toHex } from './bytes';
import {
  CertificateError,
  decodeControllers,
  errorText,
  verifyCertificate,
  verifyCodeCertificate,
  type VerifiedCertificate,
  type VerifiedCodeState,
} from './certificate';
import { decodeEntry, encodeEntry, entriesEqual, generationOf } from './entry';
import { completionHash, promptCommitment, tokensHash } from './generation';
import { checkWitness, WitnessError } from './head';
import { leafHash, ProofError, proofNodes, rootFromInclusionProof, verifyConsistency } from './merkle';
import { inputHash, outputHash } from './tensor';

export const DEFAULT_MAX_AGE_MS = 5 * 60 * 1000;

/** What the verifier trusts, and its freshness policy. */
export interface Trust {
  /** The IC root public key, DER (133 bytes) or raw (96 bytes). */
  rootKey: Uint8Array;
  /** Where the key came from, in words: shown next to the result. */
  rootKeySource: string;
  /** The inference canister whose log this is. */
  canisterId: Principal;
  /** The verifier's clock, milliseconds since the Unix epoch. */
  nowMs: number;
  /** How far the certificate's time may be from nowMs, either way. */
  maxAgeMs: number;
  /** Replaces BLS verification (tests only). */
  blsVerify?: VerifyFunc;
}

/** The tensors and nonce of an inference. */
export interface Opening {
  inputs: Tensor[];
  nonce?: Uint8Array;
  outputs: Tensor[];
}

/** The prompt, nonce and completion of a text generation, as the canister returned them. */
export interface GenerationOpening {
  prompt: string;
  nonce?: Uint8Array;
  /** The completion's bytes (generation_status's `completion`). */
  completion: Uint8Array;
  tokens: ArrayLike<number>;
}

/** What the verifier holds besides the proof, each checked against the proven entry. */
export interface Held {
  opening?: Opening;
  /** For a generation's entry, in place of `opening`. */
  generation?: GenerationOpening;
  /** The receipt `infer` returned: the proven entry must be the same. */
  receipt?: LogEntry;
  /** The SHA-256 of the model file. */
  modelSha256?: Uint8Array;
  /** The certificate of a read_state of /canister/<id>/module_hash and /controllers. */
  codeCertificate?: Uint8Array;
  /** The module hashes accepted (a release's raw and gzipped module); none means any. */
  expectedModuleHashes?: Uint8Array[];
}

export type CheckKey =
  | 'certificate'
  | 'freshness'
  | 'witness'
  | 'entry'
  | 'inclusion'
  | 'consistency'
  | 'input-hash'
  | 'output-hash'
  | 'model'
  | 'module-hash'
  | 'controllers';

export type CheckStatus = 'passed' | 'failed' | 'skipped' | 'not-run';

export interface Check {
  key: CheckKey;
  title: string;
  status: CheckStatus;
  /** What the check established, or why it failed or did not run. */
  detail: string;
  /** Why it failed, as a reason code (the Rust VerifyError's `reason()`). */
  reason?: string;
}

export interface Report {
  /** No check failed (skipped ones do not count). */
  verified: boolean;
  checks: Check[];
  /** The failed check, if any. */
  failure?: Check;
  rootKeyHex: string;
  rootKeySource: string;
  canisterId: string;
  seq: bigint;
  /** Set when every check passed: the claim in words. */
  statement?: string;
}

const TITLES: Record<CheckKey, string> = {
  certificate: 'IC certificate (BLS signature, delegation, certified data)',
  freshness: 'Certificate freshness',
  witness: 'Witness: certified (log size, Merkle root)',
  entry: 'Entry bytes are the canonical encoding of the entry',
  inclusion: 'RFC 9162 inclusion proof',
  consistency: 'RFC 9162 consistency proof to the certified head',
  'input-hash': 'Input hash recomputed from the inputs and nonce',
  'output-hash': 'Output hash recomputed from the outputs',
  model: "Model SHA-256 is the entry's",
  'module-hash': 'Module hash the IC certifies for the canister now',
  controllers: 'Controllers the IC certifies for the canister now',
};

/** Why a check did not pass, with its reason code; thrown by a step. */
export class Failed extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Why a check does not apply; thrown by a step. */
class Skipped extends Error {}

/** A step's error as a failure with a reason code (errors of the modules carry theirs). */
function failure(e: unknown): Failed {
  if (e instanceof Failed) return e;
  if (e instanceof CertificateError || e instanceof WitnessError || e instanceof ProofError) {
    return new Failed(e.reason, e.message);
  }
  return new Failed('unexpected', errorText(e));
}

export async function verifyLogProof(proof: LogProof, trust: Trust, held: Held = {}): Promise<Report> {
  let certificate: VerifiedCertificate | undefined;
  let head: { treeSize: bigint; root: Uint8Array } | undefined;
  let entry: LogEntry | undefined;
  const canisterText = trust.canisterId.toText();
  const { opening, generation, receipt, modelSha256, codeCertificate } = held;
  const expected = held.expectedModuleHashes ?? [];
  let code: VerifiedCodeState | undefined;
  let codeSummary: string | undefined;

  const steps: Array<[CheckKey, () => Promise<string> | string]> = [
    [
      'certificate',
      async () => {
        const bytes = proof.head.certificate;
        if (!bytes) {
          throw new Failed('no-certificate', 'the head carries no certificate (it came from an update call, not a query)');
        }
        certificate = await verifyCertificate(bytes, trust.rootKey, trust.canisterId, trust.blsVerify);
        const signer = certificate.delegatedSubnet
          ? `a key of subnet ${certificate.delegatedSubnet.toText()}, which the root key delegated to and whose canister ranges contain ${canisterText}`
          : 'the root key directly';
        return `Signed (BLS12-381) by ${signer}. /canister/${canisterText}/certified_data = ${toHex(certificate.certifiedData)}.`;
      },
    ],
    [
      'freshness',
      () => {
        const timeMs = Number(certificate!.timeNs / 1_000_000n);
        const ageMs = trust.nowMs - timeMs;
        const when = `${new Date(timeMs).toISOString()} (${describeAge(ageMs)})`;
        if (Math.abs(ageMs) > trust.maxAgeMs) {
          throw new Failed('not-fresh', `certified at ${when}: more than ${trust.maxAgeMs / 60_000} min from this browser's clock`);
        }
        return `Certified at ${when}; the limit is ${trust.maxAgeMs / 60_000} min either way.`;
      },
    ],
    [
      'witness',
      async () => {
        head = await checkWitness(proof.head, certificate!.certifiedData);
        return `The witness hashes to the certified data and labels log_size = ${head.treeSize}, log_root = ${toHex(head.root)}.`;
      },
    ],
    [
      'entry',
      () => {
        const decoded = decodeEntry(proof.entry_bytes);
        if (!decoded || !entriesEqual(decoded, proof.entry) || !bytesEqual(encodeEntry(decoded), proof.entry_bytes)) {
          throw new Failed('entry-mismatch', 'entry_bytes are not the canonical encoding of the entry shown');
        }
        if (receipt && !entriesEqual(receipt, decoded)) {
          throw new Failed('not-the-receipt', 'the entry is not the receipt that infer returned to this page');
        }
        entry = decoded;
        const held = receipt ? ' It is the receipt infer returned to this page.' : '';
        return `${proof.entry_bytes.length} bytes decode to entry #${decoded.seq} as shown, and re-encode to the same bytes; leaf hash ${toHex(leafHash(proof.entry_bytes))}.${held}`;
      },
    ],
    [
      'inclusion',
      () => {
        if (entry!.seq >= proof.tree_size) {
          throw new Failed('wrong-index', `entry ${entry!.seq} cannot be proven in a tree of ${proof.tree_size} leaves`);
        }
        const nodes = proofNodes(proof.inclusion_proof);
        const root = rootFromInclusionProof(entry!.seq, proof.tree_size, leafHash(proof.entry_bytes), nodes);
        if (!bytesEqual(root, proof.tree_root)) {
          throw new Failed(
            'tree-root-mismatch',
            `the inclusion proof leads to root ${toHex(root)}, not to the tree root ${toHex(proof.tree_root)} of the response`,
          );
        }
        return `${nodes.length === 1 ? '1 node leads' : `${nodes.length} nodes lead`} from leaf #${entry!.seq} to root ${toHex(root)} of the tree of ${entries(proof.tree_size)}.`;
      },
    ],
    [
      'consistency',
      () => {
        const nodes = proofNodes(proof.consistency_proof);
        verifyConsistency(proof.tree_size, head!.treeSize, proof.tree_root, head!.root, nodes);
        return proof.tree_size === head!.treeSize
          ? `The proven tree is the certified head itself (${entries(proof.tree_size)}): the proof is empty, as it must be.`
          : `${nodes.length === 1 ? '1 node proves' : `${nodes.length} nodes prove`} the tree of ${entries(proof.tree_size)} a prefix of the certified tree of ${entries(head!.treeSize)}.`;
      },
    ],
    [
      'input-hash',
      () => {
        if (generation) return checkPrompt(entry!, generation);
        if (!opening) throw new Skipped(NO_OPENING);
        if (entry!.input_salted !== (opening.nonce !== undefined)) {
          throw new Failed(
            'salt-mismatch',
            entry!.input_salted
              ? 'the entry is salted, but no nonce is held for it'
              : 'the entry is not salted, but a nonce is held for it',
          );
        }
        const recomputed = inputHash(opening.inputs, opening.nonce);
        if (!recomputed || !bytesEqual(recomputed, entry!.input_hash)) {
          const got = recomputed ? toHex(recomputed) : 'nothing (the nonce is too long to encode)';
          throw new Failed('input-hash-mismatch', `the inputs and nonce hash to ${got}, not to the entry's input_hash ${toHex(entry!.input_hash)}`);
        }
        const salt = opening.nonce ? ` salted with the ${opening.nonce.length}-byte nonce` : ' (unsalted)';
        return `SHA-256 of ${describeTensors(opening.inputs)}${salt} = ${toHex(recomputed)} = entry.input_hash.`;
      },
    ],
    [
      'output-hash',
      () => {
        if (generation) return checkCompletion(entry!, generation);
        if (!opening) throw new Skipped(NO_OPENING);
        const recomputed = outputHash(opening.outputs);
        if (!bytesEqual(recomputed, entry!.output_hash)) {
          throw new Failed('output-hash-mismatch', `the outputs hash to ${toHex(recomputed)}, not to the entry's output_hash ${toHex(entry!.output_hash)}`);
        }
        return `SHA-256 of ${describeTensors(opening.outputs)} = ${toHex(recomputed)} = entry.output_hash.`;
      },
    ],
    [
      'model',
      () => {
        if (!modelSha256) throw new Skipped('No model file is held to hash (this page checks the log, not the model bytes).');
        if (!bytesEqual(modelSha256, entry!.model_sha256)) {
          throw new Failed('model-mismatch', `the model held has SHA-256 ${toHex(modelSha256)}, not the entry's ${toHex(entry!.model_sha256)}`);
        }
        return `The model held has the SHA-256 the entry names, ${toHex(modelSha256)}.`;
      },
    ],
    [
      'module-hash',
      async () => {
        if (!codeCertificate) {
          if (expected.length > 0) {
            throw new Failed('no-code-certificate', "a module hash was expected, but no certified read_state of the canister's module hash was given");
          }
          throw new Skipped(NO_CODE);
        }
        code = await verifyCodeCertificate(codeCertificate, trust.rootKey, trust.canisterId, trust.blsVerify);
        const timeMs = Number(code.timeNs / 1_000_000n);
        if (Math.abs(trust.nowMs - timeMs) > trust.maxAgeMs) {
          throw new Failed('not-fresh', `the read_state was certified at ${new Date(timeMs).toISOString()}: more than ${trust.maxAgeMs / 60_000} min from this browser's clock`);
        }
        const hash = code.moduleHash;
        if (!hash) throw new Failed('no-module', 'the IC certifies no module for the canister: it is empty');
        if (hash.length !== 32) throw new Failed('malformed-certificate', `module_hash of ${hash.length} bytes`);
        if (expected.length > 0 && !expected.some((e) => bytesEqual(e, hash))) {
          throw new Failed('module-hash-mismatch', `the IC certifies module hash ${toHex(hash)}, not the expected ${expected.map(toHex).join(' or ')}`);
        }
        codeSummary = `module ${shortHex(hash)}${expected.length > 0 ? ' (the one expected)' : ''}`;
        const pinned = expected.length > 0 ? ', the module hash expected' : ' (no hash was expected: compare it with a reproducible build or a release manifest)';
        return `A read_state certificate, checked as the head's: /canister/${canisterText}/module_hash = ${toHex(hash)}${pinned}.`;
      },
    ],
    [
      'controllers',
      () => {
        if (!code) throw new Skipped(NO_CODE);
        let controllers: Principal[];
        try {
          controllers = decodeControllers(code.controllers ?? new Uint8Array());
          if (!code.controllers) throw new Error('absent');
        } catch {
          throw new Failed('malformed-controllers', 'the certified controllers are missing or not a CBOR list of principals');
        }
        const names = controllers.length === 0 ? 'no one: nobody can upgrade it' : `${controllers.map((c) => c.toText()).join(', ')}: they can upgrade the canister to other code`;
        codeSummary = `${codeSummary}, controlled by ${controllers.length === 0 ? 'no one' : controllers.map((c) => c.toText()).join(', ')}`;
        return `/canister/${canisterText}/controllers = ${names}.`;
      },
    ],
  ];

  const checks: Check[] = [];
  let failed: Check | undefined;
  for (const [key, run] of steps) {
    const title = TITLES[key];
    if (failed) {
      checks.push({ key, title, status: 'not-run', detail: `Not checked: "${failed.title}" failed.` });
      continue;
    }
    try {
      checks.push({ key, title, status: 'passed', detail: await run() });
    } catch (e) {
      if (e instanceof Skipped) {
        checks.push({ key, title, status: 'skipped', detail: e.message });
      } else {
        const { reason, message } = failure(e);
        failed = { key, title, status: 'failed', detail: message, reason };
        checks.push(failed);
      }
    }
  }
  const report: Report = {
    verified: !failed,
    checks,
    failure: failed,
    rootKeyHex: toHex(trust.rootKey),
    rootKeySource: trust.rootKeySource,
    canisterId: canisterText,
    seq: proof.entry.seq,
  };
  if (!failed && entry && head && certificate) {
    report.statement = statement(
      entry,
      head,
      certificate,
      canisterText,
      generation ? 'generation' : opening ? 'tensors' : 'none',
      codeSummary,
    );
  }
  return report;
}

const NO_CODE = "No certified read_state of the canister's module hash and controllers was given.";

function saltCheck(entry: LogEntry, nonce: Uint8Array | undefined): void {
  if (entry.input_salted !== (nonce !== undefined)) {
    throw new Failed(
      'salt-mismatch',
      entry.input_salted ? 'the entry is salted, but no nonce is held for it' : 'the entry is not salted, but a nonce is held for it',
    );
  }
}

/** The prompt (and nonce) held against the entry's input_hash, the prompt commitment. */
export function checkPrompt(entry: LogEntry, opening: GenerationOpening): string {
  saltCheck(entry, opening.nonce);
  const recomputed = promptCommitment(opening.prompt, opening.nonce);
  if (!recomputed || !bytesEqual(recomputed, entry.input_hash)) {
    const got = recomputed ? toHex(recomputed) : 'nothing (the nonce is too long to encode)';
    throw new Failed('input-hash-mismatch', `the prompt and nonce commit to ${got}, not to the entry's input_hash ${toHex(entry.input_hash)}`);
  }
  const salt = opening.nonce ? ` salted with the ${opening.nonce.length}-byte nonce` : ' (unsalted)';
  return `The prompt of ${new TextEncoder().encode(opening.prompt).length} bytes${salt} commits to ${toHex(recomputed)} = entry.input_hash.`;
}

/** The completion's bytes against output_hash, its token ids against the receipt's token hash. */
export function checkCompletion(entry: LogEntry, opening: GenerationOpening): string {
  const receipt = generationOf(entry);
  if (!receipt) throw new Failed('completion-tokens-mismatch', 'a generation’s text is held, but the entry is not a generation’s');
  const recomputed = completionHash(opening.completion);
  if (!bytesEqual(recomputed, entry.output_hash)) {
    throw new Failed('output-hash-mismatch', `the completion hashes to ${toHex(recomputed)}, not to the entry's output_hash ${toHex(entry.output_hash)}`);
  }
  const tokens = tokensHash(opening.tokens);
  if (!bytesEqual(tokens, receipt.completion_tokens_sha256) || opening.tokens.length !== receipt.generated_tokens) {
    throw new Failed(
      'completion-tokens-mismatch',
      `the ${opening.tokens.length} token ids held hash to ${toHex(tokens)}, not to the receipt's ${receipt.generated_tokens} tokens' ${toHex(receipt.completion_tokens_sha256)}`,
    );
  }
  return `SHA-256 of the completion's ${opening.completion.length} bytes = ${toHex(recomputed)} = entry.output_hash; its ${opening.tokens.length} token ids hash to the receipt's completion_tokens_sha256.`;
}

const NO_OPENING =
  'No tensors or nonce are held for this entry (this page holds them only for inferences made in it, until it is reloaded).';

function statement(
  entry: LogEntry,
  witness: { treeSize: bigint; root: Uint8Array },
  certificate: VerifiedCertificate,
  canister: string,
  checked: 'tensors' | 'generation' | 'none',
  code: string | undefined,
): string {
  const at = new Date(Number(certificate.timeNs / 1_000_000n)).toISOString();
  const ranAt = new Date(Number(entry.timestamp_ns / 1_000_000n)).toISOString();
  const lines = [
    `The IC certified at ${at} that the log of canister ${canister} holds ${entries(witness.treeSize)} with Merkle root ${shortHex(witness.root)}.`,
    `Entry #${entry.seq} is in that log: at ${ranAt}, caller ${entry.caller.toText()} ran model '${entry.model_id}' (SHA-256 ${shortHex(entry.model_sha256)}); input hash ${shortHex(entry.input_hash)}${entry.input_salted ? ' (salted)' : ''}, output hash ${shortHex(entry.output_hash)}.`,
    {
      tensors: 'The inputs, nonce and outputs this page holds hash to the entry’s input and output hashes.',
      generation: 'The prompt, nonce and generated text this page holds hash to the entry’s prompt commitment, output hash and token hash.',
      none: 'No tensors were checked: this page did not make this inference.',
    }[checked],
    code ? `The canister runs ${code} now (what it ran when it wrote the entry is the code epoch's to say).` : "The canister's code was not read.",
  ];
  return lines.join(' ');
}

const entries = (n: bigint): string => `${n} entr${n === 1n ? 'y' : 'ies'}`;

function describeTensors(tensors: readonly Tensor[]): string {
  const names = tensors.map((t) => `${t.name} ${t.data.__kind__}[${Array.from(t.shape).join(', ')}]`);
  return `${tensors.length} tensor${tensors.length === 1 ? '' : 's'} (${names.join('; ')})`;
}

export function describeAge(ageMs: number): string {
  const seconds = Math.round(Math.abs(ageMs) / 1000);
  const text = seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  return ageMs >= 0 ? `${text} ago` : `${text} in the future`;
}
