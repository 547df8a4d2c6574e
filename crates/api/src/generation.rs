//! Text generation: a language model declared at `create_model`, generation jobs and the
//! receipt a generation leaves in the log (docs/generation.md, docs/hashing.md).

use crate::{Digest, JobFailure, JobId, LogEntry, ModelId};
use candid::{CandidType, Deserialize, Principal};
use serde::Serialize;
use serde_bytes::ByteBuf;

/// A KV-cache pair of a decoder graph: the past input and the present output it feeds.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct KvPair {
    pub input: String,
    pub output: String,
}

/// The model's tokenizer, uploaded with `upload_tokenizer_chunk`: a Hugging Face
/// `tokenizer.json` of a byte-level BPE (GPT-2's kind).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenizerFile {
    pub sha256: Digest,
    pub size_bytes: u64,
}

/// Declares a model a decoder language model: which inputs and outputs carry the token
/// ids, the logits and the KV cache.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LanguageModel {
    /// i64 `[batch, sequence]`.
    pub input_ids: String,
    /// f32 `[batch, sequence, vocabulary]`.
    pub logits: String,
    /// i64 `[batch, past + sequence]`, all ones.
    pub attention_mask: Option<String>,
    /// i64 `[batch, sequence]`: past .. past + sequence.
    pub position_ids: Option<String>,
    /// `[batch, heads, past, head_dim]` each; empty for a graph without a cache, which
    /// then runs over the whole context for every token.
    pub past: Vec<KvPair>,
    /// Tokens of prompt and completion together.
    pub context_length: u32,
    pub eos_token: Option<u32>,
    pub tokenizer: TokenizerFile,
}

/// Temperature, top-k and top-p sampling; `seed` (32 bytes) makes it replayable, and
/// without one the canister draws it from the IC's randomness.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct SampleSettings {
    pub temperature: f32,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
    pub seed: Option<ByteBuf>,
}

// The canister refuses NaN settings (`generate_start`), so equality is reflexive on every
// value that exists in a receipt.
impl Eq for SampleSettings {}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// The most likely token, the lowest id among equals.
    #[serde(rename = "greedy")]
    Greedy,
    #[serde(rename = "sample")]
    Sample(SampleSettings),
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct GenerateArgs {
    pub model_id: ModelId,
    pub prompt: String,
    pub max_new_tokens: u32,
    pub sampling: Sampling,
    /// The completion ends before the first of these it contains.
    pub stop: Vec<String>,
    /// 16 to 64 secret bytes that salt the prompt commitment, as for `infer`'s inputs.
    pub nonce: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    #[serde(rename = "max_new_tokens")]
    MaxNewTokens,
    #[serde(rename = "eos")]
    Eos,
    #[serde(rename = "stop_sequence")]
    StopSequence,
    #[serde(rename = "context_full")]
    ContextFull,
}

/// What a generation's log entry holds beyond an inference's.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct GenerationReceipt {
    pub tokenizer_sha256: Digest,
    /// SHA-256 of the generated token ids, each u32 little-endian (docs/hashing.md).
    pub completion_tokens_sha256: Digest,
    /// As asked, with the seed the generation used.
    pub sampling: Sampling,
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    pub stop_reason: StopReason,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct GenerationProgress {
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    pub instructions: u64,
    pub messages: u64,
    /// Times an upgrade sent the generation back to its prompt.
    pub restarts: u32,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum GenerationState {
    #[serde(rename = "pending")]
    Pending,
    /// The receipt: the generation's one log entry.
    #[serde(rename = "done")]
    Done(LogEntry),
    #[serde(rename = "failed")]
    Failed(JobFailure),
    #[serde(rename = "cancelled")]
    Cancelled,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct GenerationStatus {
    pub id: JobId,
    pub model_id: ModelId,
    pub caller: Principal,
    pub created_at_ns: u64,
    pub finished_at_ns: Option<u64>,
    /// The tokens generated so far.
    pub tokens: Vec<u32>,
    /// Their bytes (once done: the completion, cut before a stop sequence).
    pub completion: ByteBuf,
    /// `completion` as UTF-8, invalid sequences replaced (a token may end mid-character).
    pub text: String,
    pub progress: GenerationProgress,
    pub state: GenerationState,
}

/// Sampling settings checked: the seed, where given, is 32 bytes.
pub const SEED_BYTES: usize = 32;

impl Sampling {
    pub fn seed(&self) -> Option<&[u8]> {
        match self {
            Sampling::Greedy => None,
            Sampling::Sample(s) => s.seed.as_deref().map(|s| s.as_slice()),
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::MaxNewTokens => "max_new_tokens",
            StopReason::Eos => "eos",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ContextFull => "context_full",
        })
    }
}
