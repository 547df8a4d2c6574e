// The JSON forms of the API types that testdata/ and provenance bundles use
// (testdata/README.md, "Forms"): bytes as lowercase hex, u64 as decimal strings, principals
// as text. A port of crates/verify/src/json.rs: reading is as strict, and every missing or
// ill-typed field is a JsonError naming it (a bundle is data from anyone).

import { Principal } from '@icp-sdk/core/principal';
import type {
  DeploymentMode,
  Dim,
  DType,
  GenerationReceipt,
  LogEntry,
  LogHead,
  LogProof,
  ModelDeclaration,
  StopReason,
} from '../bindings/inference';

export interface JsonEntry {
  seq: string;
  timestamp_ns: string;
  caller: string;
  model_id: string;
  model_sha256: string;
  input_hash: string;
  output_hash: string;
  input_salted: boolean;
  instructions: string;
  /** null (or absent, in the host capture) for a version 1 entry. */
  messages?: string | null;
  /** null or absent: an inference. */
  kind?: {
    inference?: null;
    code_epoch?: {
      first_index: string;
      canister_version: string;
      started_ns: string;
      module_hash: string;
      mode: string;
      deployed_version: string;
      deployed_ns: string;
      total_num_changes: string;
      controllers: string[];
    };
    model?: JsonModelDeclaration;
  } | null;
  /** A text generation's receipt (kind 2); absent for an inference. */
  generation?: JsonGeneration;
}

/** A model entry's declaration (kind 4), as crates/verify/src/json.rs writes it. */
export interface JsonModelDeclaration {
  input_facts: Array<{ name: string; dtype: string; shape: Array<{ fixed?: string; symbol?: string }> }>;
  language_model: {
    input_ids: string;
    logits: string;
    attention_mask: string | null;
    position_ids: string | null;
    past: Array<{ input: string; output: string }>;
    context_length: number;
    eos_token: number | null;
    tokenizer: { sha256: string; size_bytes: string };
  } | null;
}

export interface JsonGeneration {
  tokenizer_sha256: string;
  completion_tokens_sha256: string;
  prompt_tokens: number;
  generated_tokens: number;
  stop_reason: `${StopReason}`;
  sampling: 'greedy' | { temperature: number; top_k: number | null; top_p: number | null; seed: string | null };
}

export interface JsonHead {
  tree_size: string;
  root_hash: string;
  certificate: string | null;
  witness: string;
}

export interface JsonProof {
  entry: JsonEntry;
  entry_bytes: string;
  tree_size: string;
  tree_root: string;
  inclusion_proof: string[];
  consistency_proof: string[];
  head: JsonHead;
}

/** A field that is missing or not of its form. */
export class JsonError extends Error {
  constructor(
    readonly field: string,
    readonly expected: string,
  ) {
    super(`${field}: expected ${expected}`);
  }
}

type Json = unknown;

function at(value: Json, key: string): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, Json>)[key] ?? null
    : null;
}

export function text(value: Json, field: string): string {
  if (typeof value !== 'string') throw new JsonError(field, 'a string');
  return value;
}

export function bytes(value: Json, field: string): Uint8Array {
  const hex = text(value, field);
  if (hex.length % 2 !== 0 || /[^0-9a-f]/.test(hex)) throw new JsonError(field, 'lowercase hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const U64_MAX = (1n << 64n) - 1n;

export function u64(value: Json, field: string): bigint {
  const digits = text(value, field);
  if (!/^[0-9]+$/.test(digits) || BigInt(digits) > U64_MAX) throw new JsonError(field, 'a decimal u64 as a string');
  return BigInt(digits);
}

function u32(value: Json, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new JsonError(field, 'a u32 number');
  }
  return value;
}

function number(value: Json, field: string): number {
  if (typeof value !== 'number') throw new JsonError(field, 'a number');
  return value;
}

function bool(value: Json, field: string): boolean {
  if (typeof value !== 'boolean') throw new JsonError(field, 'true or false');
  return value;
}

export function list(value: Json, field: string): Json[] {
  if (!Array.isArray(value)) throw new JsonError(field, 'a list');
  return value;
}

export function principal(value: Json, field: string): Principal {
  try {
    return Principal.fromText(text(value, field));
  } catch {
    throw new JsonError(field, "a principal's text");
  }
}

const STOP_REASONS = ['max_new_tokens', 'eos', 'stop_sequence', 'context_full'];
const MODES = ['install', 'reinstall', 'upgrade'];

function generationFrom(g: Json): GenerationReceipt {
  const field = (name: string) => `entry.generation.${name}`;
  const s = at(g, 'sampling');
  let sampling: GenerationReceipt['sampling'];
  if (s === 'greedy') {
    sampling = { __kind__: 'greedy', greedy: null };
  } else if (s !== null && typeof s === 'object' && !Array.isArray(s)) {
    const topK = at(s, 'top_k');
    const topP = at(s, 'top_p');
    const seed = at(s, 'seed');
    sampling = {
      __kind__: 'sample',
      sample: {
        temperature: Math.fround(number(at(s, 'temperature'), field('sampling.temperature'))),
        top_k: topK === null ? undefined : u32(topK, field('sampling.top_k')),
        top_p: topP === null ? undefined : Math.fround(number(topP, field('sampling.top_p'))),
        seed: seed === null ? undefined : bytes(seed, field('sampling.seed')),
      },
    };
  } else {
    throw new JsonError(field('sampling'), '"greedy" or the sampling settings');
  }
  const stop = text(at(g, 'stop_reason'), field('stop_reason'));
  if (!STOP_REASONS.includes(stop)) throw new JsonError(field('stop_reason'), 'a stop reason');
  return {
    tokenizer_sha256: bytes(at(g, 'tokenizer_sha256'), field('tokenizer_sha256')),
    completion_tokens_sha256: bytes(at(g, 'completion_tokens_sha256'), field('completion_tokens_sha256')),
    sampling,
    prompt_tokens: u32(at(g, 'prompt_tokens'), field('prompt_tokens')),
    generated_tokens: u32(at(g, 'generated_tokens'), field('generated_tokens')),
    stop_reason: stop as StopReason,
  };
}

const DTYPES = ['f32', 'f64', 'i64', 'i32', 'i8', 'u8', 'bool'];

function declarationFrom(d: Json): ModelDeclaration {
  const field = (name: string) => `entry.kind.model.${name}`;
  const optionalText = (v: Json, name: string) => (v === null ? undefined : text(v, field(name)));
  const dim = (v: Json): Dim => {
    const fixed = at(v, 'fixed');
    return fixed !== null
      ? { __kind__: 'fixed', fixed: u64(fixed, field('input_facts.shape.fixed')) }
      : { __kind__: 'symbol', symbol: text(at(v, 'symbol'), field('input_facts.shape.symbol')) };
  };
  const input_facts = list(at(d, 'input_facts'), field('input_facts')).map((f) => {
    const dtype = text(at(f, 'dtype'), field('input_facts.dtype'));
    if (!DTYPES.includes(dtype)) throw new JsonError(field('input_facts.dtype'), 'a dtype name');
    return {
      name: text(at(f, 'name'), field('input_facts.name')),
      dtype: dtype as DType,
      shape: list(at(f, 'shape'), field('input_facts.shape')).map(dim),
    };
  });
  const lm = at(d, 'language_model');
  if (lm === null) return { input_facts, language_model: undefined };
  const eos = at(lm, 'eos_token');
  const tokenizer = at(lm, 'tokenizer');
  return {
    input_facts,
    language_model: {
      input_ids: text(at(lm, 'input_ids'), field('language_model.input_ids')),
      logits: text(at(lm, 'logits'), field('language_model.logits')),
      attention_mask: optionalText(at(lm, 'attention_mask'), 'language_model.attention_mask'),
      position_ids: optionalText(at(lm, 'position_ids'), 'language_model.position_ids'),
      past: list(at(lm, 'past'), field('language_model.past')).map((p) => ({
        input: text(at(p, 'input'), field('language_model.past.input')),
        output: text(at(p, 'output'), field('language_model.past.output')),
      })),
      context_length: u32(at(lm, 'context_length'), field('language_model.context_length')),
      eos_token: eos === null ? undefined : u32(eos, field('language_model.eos_token')),
      tokenizer: {
        sha256: bytes(at(tokenizer, 'sha256'), field('language_model.tokenizer.sha256')),
        size_bytes: u64(at(tokenizer, 'size_bytes'), field('language_model.tokenizer.size_bytes')),
      },
    },
  };
}

function kindFrom(kind: Json): LogEntry['kind'] {
  if (kind === null) return undefined;
  if (kind !== null && typeof kind === 'object' && 'inference' in kind) return { __kind__: 'inference', inference: null };
  if (kind !== null && typeof kind === 'object' && 'model' in kind) return { __kind__: 'model', model: declarationFrom(at(kind, 'model')) };
  const e = at(kind, 'code_epoch');
  const field = (name: string) => `entry.kind.code_epoch.${name}`;
  const n = (name: string) => u64(at(e, name), field(name));
  const mode = text(at(e, 'mode'), field('mode'));
  if (!MODES.includes(mode)) throw new JsonError(field('mode'), 'install, reinstall or upgrade');
  return {
    __kind__: 'code_epoch',
    code_epoch: {
      first_index: n('first_index'),
      canister_version: n('canister_version'),
      started_ns: n('started_ns'),
      module_hash: bytes(at(e, 'module_hash'), field('module_hash')),
      mode: mode as DeploymentMode,
      deployed_version: n('deployed_version'),
      deployed_ns: n('deployed_ns'),
      total_num_changes: n('total_num_changes'),
      controllers: list(at(e, 'controllers'), field('controllers')).map((c) => principal(c, field('controllers'))),
    },
  };
}

export function entryFrom(value: Json, prefix = ''): LogEntry {
  const field = (name: string) => `${prefix}entry.${name}`;
  const n = (name: string) => u64(at(value, name), field(name));
  const digest = (name: string) => bytes(at(value, name), field(name));
  const messages = at(value, 'messages');
  const generation = at(value, 'generation');
  let kind: LogEntry['kind'];
  try {
    kind = generation === null ? kindFrom(at(value, 'kind')) : { __kind__: 'generation', generation: generationFrom(generation) };
  } catch (e) {
    throw e instanceof JsonError ? new JsonError(`${prefix}${e.field}`, e.expected) : e;
  }
  return {
    seq: n('seq'),
    timestamp_ns: n('timestamp_ns'),
    caller: principal(at(value, 'caller'), field('caller')),
    model_id: text(at(value, 'model_id'), field('model_id')),
    model_sha256: digest('model_sha256'),
    input_hash: digest('input_hash'),
    output_hash: digest('output_hash'),
    input_salted: bool(at(value, 'input_salted'), field('input_salted')),
    instructions: n('instructions'),
    messages: messages === null ? undefined : n('messages'),
    ...(kind ? { kind } : {}),
  };
}

export function headFrom(value: Json, field: string): LogHead {
  const certificate = at(value, 'certificate');
  return {
    tree_size: u64(at(value, 'tree_size'), `${field}.tree_size`),
    root_hash: bytes(at(value, 'root_hash'), `${field}.root_hash`),
    certificate: certificate === null ? undefined : bytes(certificate, `${field}.certificate`),
    witness: bytes(at(value, 'witness'), `${field}.witness`),
  };
}

/** A `log_proof` response; `field` names it in errors. */
export function proofFrom(value: Json, field = 'proof'): LogProof {
  const nodes = (name: string) => list(at(value, name), `${field}.${name}`).map((n) => bytes(n, `${field}.${name}`));
  return {
    entry: entryFrom(at(value, 'entry'), `${field}.`),
    entry_bytes: bytes(at(value, 'entry_bytes'), `${field}.entry_bytes`),
    tree_size: u64(at(value, 'tree_size'), `${field}.tree_size`),
    tree_root: bytes(at(value, 'tree_root'), `${field}.tree_root`),
    inclusion_proof: nodes('inclusion_proof'),
    consistency_proof: nodes('consistency_proof'),
    head: headFrom(at(value, 'head'), `${field}.head`),
  };
}

export { at as field };
