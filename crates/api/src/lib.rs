//! The Candid types of the icinfer inference canister.
//!
//! This crate is the public contract in Rust form: the canister, its Rust clients, the
//! example consumer canister and the integration tests all use these types, and
//! `candid/inference.did` is checked against them. Field and variant names are part of the
//! contract: extend, never rename.

pub mod describe;
pub mod generation;
pub mod reply;

pub use describe::{describe_fact, describe_tensor};
pub use generation::{
    GenerateArgs, GenerationProgress, GenerationReceipt, GenerationState, GenerationStatus, KvPair,
    LanguageModel, SampleSettings, Sampling, StopReason, TokenizerFile,
};

use candid::{CandidType, Deserialize, Principal};
use serde::Serialize;
use serde_bytes::ByteBuf;

/// A model is addressed by a short id chosen by whoever creates it.
pub type ModelId = String;

/// A SHA-256 digest as it travels over Candid (always 32 bytes when it comes from the canister).
pub type Digest = ByteBuf;

// ---------------------------------------------------------------------------------------------
// Tensors

/// Element types the canister accepts and returns.
#[derive(CandidType, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    #[serde(rename = "f32")]
    F32,
    #[serde(rename = "f64")]
    F64,
    #[serde(rename = "i64")]
    I64,
    #[serde(rename = "i32")]
    I32,
    #[serde(rename = "i8")]
    I8,
    #[serde(rename = "u8")]
    U8,
    #[serde(rename = "bool")]
    Bool,
}

impl DType {
    pub const ALL: [DType; 7] = [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::I8,
        DType::U8,
        DType::Bool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element in the canonical encoding (bool is one byte, 0 or 1).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of a tensor in row-major order, typed.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub enum TensorData {
    #[serde(rename = "f32")]
    F32(Vec<f32>),
    #[serde(rename = "f64")]
    F64(Vec<f64>),
    #[serde(rename = "i64")]
    I64(Vec<i64>),
    #[serde(rename = "i32")]
    I32(Vec<i32>),
    #[serde(rename = "i8")]
    I8(Vec<i8>),
    #[serde(rename = "u8")]
    U8(ByteBuf),
    #[serde(rename = "bool")]
    Bool(Vec<bool>),
}

impl TensorData {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named tensor: the unit of inference inputs and outputs.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub data: TensorData,
}

/// One dimension of a model's input or output fact.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// The dimension must have exactly this size.
    #[serde(rename = "fixed")]
    Fixed(u64),
    /// Any size; every occurrence of the same symbol in one call must agree.
    #[serde(rename = "symbol")]
    Symbol(String),
}

/// What a model expects of one input, or promises of one output.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TensorFact {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

// ---------------------------------------------------------------------------------------------
// Models

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct CreateModelArgs {
    pub id: ModelId,
    /// SHA-256 of the whole model file; `finalize_model` refuses anything else.
    pub sha256: Digest,
    pub size_bytes: u64,
    pub description: Option<String>,
    /// Input facts that replace the model's own at finalize, by input name: for models
    /// whose inputs tract cannot determine (e.g. an image model with free height and
    /// width that only runs at fixed sizes).
    pub input_facts: Option<Vec<TensorFact>>,
    /// Declares a decoder language model, for `generate_start` (its tokenizer is uploaded
    /// with `upload_tokenizer_chunk`).
    pub language_model: Option<LanguageModel>,
}

/// One chunk of a model upload. `offset` must be a multiple of the canister's chunk size
/// (see `UploadStatus::chunk_size`) and `data` exactly one chunk long, except the last.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct UploadChunkArgs {
    pub id: ModelId,
    pub offset: u64,
    pub data: ByteBuf,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum ModelState {
    /// Created; chunks are arriving. Not usable for inference.
    #[serde(rename = "uploading")]
    Uploading,
    /// Verified, loaded by tract, immutable.
    #[serde(rename = "ready")]
    Ready,
    /// Finalize runs as a job, across messages (a model too large for one): hashing
    /// what is left of the file, then parsing and optimising it in one message.
    #[serde(rename = "finalizing")]
    Finalizing(FinalizeProgress),
    /// Finalize failed; `error` says why. The chunks are kept: `finalize_model` tries
    /// again, `create_model` with the same id sets new input facts (and keeps the chunks
    /// if the file is the same and they were not the reason), `delete_model` frees them.
    #[serde(rename = "failed")]
    Failed { error: Error },
}

/// How far a finalize job has got: the file is hashed chunk by chunk (in many messages if
/// need be), then parsed and optimised in one message, which cannot be split.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FinalizeProgress {
    pub chunks_hashed: u32,
    pub chunks_total: u32,
    /// Messages and instructions of the finalize so far, `finalize_model`'s included.
    pub messages: u64,
    pub instructions: u64,
}

/// Returned by every accepted chunk so a client can show progress.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    pub chunks_received: u32,
    pub chunks_total: u32,
}

/// What has arrived of an upload, so a client can resume.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: ModelId,
    pub state: ModelState,
    pub size_bytes: u64,
    pub chunk_size: u64,
    pub chunks_total: u32,
    pub chunks_received: u32,
    /// Indices of the chunks still missing, ascending (chunk i covers bytes
    /// `[i * chunk_size, min((i + 1) * chunk_size, size_bytes))`).
    pub missing_chunks: Vec<u32>,
    /// A language model's tokenizer, chunked alike (`upload_tokenizer_chunk`); none for
    /// other models.
    pub tokenizer: Option<TokenizerUpload>,
}

/// What has arrived of a language model's tokenizer.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenizerUpload {
    pub size_bytes: u64,
    pub chunks_total: u32,
    pub chunks_received: u32,
    /// Ascending, as `UploadStatus::missing_chunks`.
    pub missing_chunks: Vec<u32>,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub id: ModelId,
    pub sha256: Digest,
    pub size_bytes: u64,
    pub description: Option<String>,
    pub state: ModelState,
    pub created_at_ns: u64,
    pub created_by: Principal,
    pub finalized_at_ns: Option<u64>,
    /// Empty until the model is ready.
    pub inputs: Vec<TensorFact>,
    pub outputs: Vec<TensorFact>,
    /// Instructions `finalize_model` spent hashing, parsing and optimising the model.
    pub load_instructions: Option<u64>,
    pub language_model: Option<LanguageModel>,
}

// ---------------------------------------------------------------------------------------------
// Inference

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct InferArgs {
    pub model_id: ModelId,
    pub inputs: Vec<Tensor>,
    /// A secret of 16 to 64 bytes that salts the input hash, so that a low-entropy input
    /// cannot be guessed from the public log. Keep it to prove the input later.
    pub nonce: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct InferResult {
    pub outputs: Vec<Tensor>,
    /// The provenance log entry this inference appended.
    pub receipt: LogEntry,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct QueryInferResult {
    pub outputs: Vec<Tensor>,
    pub instructions: u64,
}

// ---------------------------------------------------------------------------------------------
// Inference jobs: an inference run node by node across messages (docs/performance.md, "Jobs")

pub type JobId = u64;

/// How far a job has got. `instructions` and `messages` count every message of the job,
/// including those before a restart.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct JobProgress {
    pub nodes_done: u64,
    pub nodes_total: u64,
    pub instructions: u64,
    pub messages: u64,
    /// Times the job started again from its first node because an upgrade dropped its
    /// intermediate tensors, which live on the heap.
    pub restarts: u32,
}

/// Why a job failed. Nothing was logged for it.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum JobFailure {
    /// One node alone used more than the step budget, so the job cannot be split finer.
    NodeOverBudget {
        node: String,
        instructions: u64,
        budget: u64,
    },
    /// A step message trapped (and was rolled back); `message` is the IC's reject text.
    Trapped { message: String },
    /// The model was deleted while the job ran.
    ModelDeleted { model_id: ModelId },
    /// The inference failed as `infer` would have (tract's error, an output bound).
    Failed { error: Error },
}

// `Done` holds the receipt, whose `kind` may carry a code epoch: a reply type, built once
// per `job_status` and never kept in bulk, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub enum JobState {
    #[serde(rename = "pending")]
    Pending,
    /// The outputs and the receipt, the job's one log entry.
    #[serde(rename = "done")]
    Done(InferResult),
    #[serde(rename = "failed")]
    Failed(JobFailure),
    #[serde(rename = "cancelled")]
    Cancelled,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct JobStatus {
    pub id: JobId,
    pub model_id: ModelId,
    pub caller: Principal,
    pub created_at_ns: u64,
    pub finished_at_ns: Option<u64>,
    pub progress: JobProgress,
    pub state: JobState,
}

// ---------------------------------------------------------------------------------------------
// Provenance log

/// One inference, as recorded in the append-only provenance log.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// IC time of the inference, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    pub caller: Principal,
    pub model_id: ModelId,
    pub model_sha256: Digest,
    /// SHA-256 commitment to the input tensors (docs/hashing.md).
    pub input_hash: Digest,
    /// SHA-256 of the output tensors (docs/hashing.md).
    pub output_hash: Digest,
    /// Whether `input_hash` is salted with a caller's nonce.
    pub input_salted: bool,
    /// Instructions the inference had used when the entry was written: of its one message
    /// for `infer`, of all its messages for a job.
    pub instructions: u64,
    /// Messages the inference took: 1 for `infer`, more for a job. Absent on entries of
    /// encoding version 1, written before jobs existed (docs/hashing.md).
    pub messages: Option<u64>,
    /// What the entry records; `null` is an inference (every entry written before kinds
    /// existed). A generation carries its receipt (kind 2). A code epoch's model, input and output fields are empty: `model_id` "",
    /// the three digests 32 zero bytes, `input_salted` false (docs/hashing.md). A model
    /// entry (kind 4) names its model; its input and output digests are zero.
    pub kind: Option<EntryKind>,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    #[serde(rename = "inference")]
    Inference,
    /// Boxed: a receipt is four times an inference entry's other fields.
    #[serde(rename = "generation")]
    Generation(Box<GenerationReceipt>),
    #[serde(rename = "code_epoch")]
    CodeEpoch(CodeEpoch),
    /// A model made ready (kind 4): what it was finalized with, which shapes its plan.
    #[serde(rename = "model")]
    Model(Box<ModelDeclaration>),
}

/// What a model was finalized with beside its file (the entry's `model_id` and
/// `model_sha256`): the declarations that shape its plan, so that a replay can load it as
/// the canister did (docs/provenance.md, "Replay"). The entry's input and output digests
/// are 32 zero bytes and `input_salted` false.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ModelDeclaration {
    /// `CreateModelArgs::input_facts` as declared (none: empty).
    pub input_facts: Vec<TensorFact>,
    /// The language-model declaration, with its tokenizer's SHA-256.
    pub language_model: Option<LanguageModel>,
}

/// How a module was installed, as the IC's canister history says.
#[derive(CandidType, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentMode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade,
}

/// The code that writes the log from `first_index` on (until the next epoch's
/// `first_index`): recorded by `init` or `post_upgrade`, completed from the IC's canister
/// history (`canister_info`) by a self-call right after (docs/provenance.md, "Code epochs").
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CodeEpoch {
    /// The log's size when the code started: its first entry's index.
    pub first_index: u64,
    /// `ic0.canister_version` as `init` or `post_upgrade` saw it.
    pub canister_version: u64,
    /// IC time of `init` or `post_upgrade`.
    pub started_ns: u64,
    /// The module hash of the latest code deployment in the canister's history.
    pub module_hash: Digest,
    pub mode: DeploymentMode,
    /// That deployment's canister version and IC time, as the history records them.
    pub deployed_version: u64,
    pub deployed_ns: u64,
    /// Changes the IC has recorded for the canister in all, and its controllers, at the
    /// time of the self-call.
    pub total_num_changes: u64,
    pub controllers: Vec<Principal>,
}

/// A code epoch, with the log entry that records it once the self-call has answered.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CodeEpochStatus {
    pub first_index: u64,
    pub canister_version: u64,
    pub started_ns: u64,
    /// The index of its kind-3 entry; `null` while the self-call is pending (entries from
    /// `first_index` on are this code's all the same).
    pub entry: Option<u64>,
    pub epoch: Option<CodeEpoch>,
    /// Self-calls that failed so far.
    pub failed_attempts: u32,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogPageArgs {
    pub start: u64,
    pub limit: u32,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub log_size: u64,
    /// Where the next page starts, if there is more.
    pub next: Option<u64>,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum LogFilter {
    #[serde(rename = "model_sha256")]
    ModelSha256(Digest),
    #[serde(rename = "input_hash")]
    InputHash(Digest),
    #[serde(rename = "output_hash")]
    OutputHash(Digest),
    #[serde(rename = "caller")]
    Caller(Principal),
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FindLogArgs {
    pub filter: LogFilter,
    /// Smallest sequence number to return; 0 for the first page, then the previous `next`.
    pub start: u64,
    pub limit: u32,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FindLogResult {
    pub entries: Vec<LogEntry>,
    pub next: Option<u64>,
}

/// The head of the log: its size and RFC 9162 Merkle root, with the IC's certificate of
/// them (docs/provenance.md).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    pub tree_size: u64,
    /// The Merkle root of the first `tree_size` entries (SHA-256 of "" when empty).
    pub root_hash: Digest,
    /// The IC's data certificate: present in non-replicated query calls only.
    pub certificate: Option<ByteBuf>,
    /// CBOR hash tree labelling `log_root` and `log_size`, whose root hash is the canister's
    /// certified data.
    pub witness: ByteBuf,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogProofArgs {
    /// The entry's sequence number.
    pub index: u64,
    /// Prove inclusion in the tree of this many entries (a head seen earlier); the current
    /// size when absent.
    pub tree_size: Option<u64>,
}

/// An entry with its proof of inclusion, linked to the certified head.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogProof {
    pub entry: LogEntry,
    /// The entry's canonical encoding: the Merkle leaf is SHA-256(0x00 || entry_bytes).
    pub entry_bytes: ByteBuf,
    pub tree_size: u64,
    /// The Merkle root of the first `tree_size` entries.
    pub tree_root: Digest,
    /// RFC 9162 inclusion proof of the entry in the tree of `tree_size` entries.
    pub inclusion_proof: Vec<Digest>,
    /// RFC 9162 consistency proof from `tree_size` to `head.tree_size` (empty when equal).
    pub consistency_proof: Vec<Digest>,
    pub head: LogHead,
}

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogConsistencyArgs {
    pub from_size: u64,
    pub to_size: u64,
}

/// Proof that the log of `from_size` entries is a prefix of the log of `to_size` entries.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LogConsistency {
    pub from_size: u64,
    pub from_root: Digest,
    pub to_size: u64,
    pub to_root: Digest,
    /// RFC 9162 consistency proof from `from_size` to `to_size`.
    pub proof: Vec<Digest>,
    pub head: LogHead,
}

// ---------------------------------------------------------------------------------------------
// Inference policy (controllers set it: docs/policy.md)

/// Who may run inferences (`infer`, `infer_start`, `generate_start`).
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everyone, the anonymous principal included.
    #[serde(rename = "open")]
    Open,
    /// Every principal but the anonymous one.
    #[serde(rename = "authenticated")]
    Authenticated,
    /// Only these principals (and controllers).
    #[serde(rename = "allow_list")]
    AllowList(Vec<Principal>),
}

/// Limits per window; `None` is unlimited. `max_instructions` counts the instructions of
/// the inferences that completed in the window (a job's when it finishes): a call is
/// refused once the window's total has reached it.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    pub max_calls: Option<u64>,
    pub max_instructions: Option<u64>,
}

/// The inference policy. Quotas count in fixed windows of `window_seconds`, aligned to
/// the IC's clock (a window starts at a multiple of its length); `per_caller` applies to
/// each principal, `global` to all callers together (principals cost nothing to make).
/// Controllers are exempt from both access and quotas.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct InferencePolicy {
    pub access: Access,
    pub window_seconds: u64,
    pub per_caller: Quota,
    pub global: Quota,
}

impl Default for InferencePolicy {
    fn default() -> Self {
        InferencePolicy {
            access: Access::Open,
            window_seconds: 3600,
            per_caller: Quota::default(),
            global: Quota::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub models: u64,
    pub models_ready: u64,
    pub model_bytes: u64,
    pub log_size: u64,
    pub heap_bytes: u64,
    pub stable_bytes: u64,
    pub cached_plans: u32,
    pub last_infer_instructions: Option<u64>,
}

/// Every caller mistake the canister reports. Variant names are stable.
#[derive(CandidType, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The caller may not do this; `required` says who may.
    Unauthorized {
        caller: Principal,
        required: String,
    },
    NotFound {
        kind: String,
        id: String,
    },
    AlreadyExists {
        kind: String,
        id: String,
    },
    InvalidArgument {
        field: String,
        reason: String,
    },
    /// The thing exists but is in the wrong state for the call (e.g. uploading into a
    /// finalized model, inference on a model still uploading).
    InvalidState {
        id: String,
        reason: String,
    },
    HashMismatch {
        expected: Digest,
        actual: Digest,
    },
    UploadIncomplete {
        id: String,
        missing_chunks: u32,
    },
    /// tract could not load or optimise the model; `reason` is tract's.
    ModelRejected {
        reason: String,
    },
    /// An input does not fit the model: `expected` is the model's fact, `got` what came.
    InputMismatch {
        tensor: String,
        expected: String,
        got: String,
    },
    LimitExceeded {
        limit: String,
        max: u64,
        got: u64,
    },
    /// tract failed while running a valid input; nothing was logged.
    InferenceFailed {
        reason: String,
    },
    /// The model's inference does not fit one message: run it with `infer_start`, which
    /// splits it across messages. `reason` gives the measurement.
    UseJob {
        model_id: ModelId,
        reason: String,
    },
    /// A language model's tokenizer file does not match its declared SHA-256, or is not a
    /// byte-level BPE `tokenizer.json` this canister reads.
    TokenizerRejected {
        reason: String,
    },
    /// An inference quota of the policy is used up for this window: `quota` names it
    /// (e.g. "per_caller.max_calls"); calls are accepted again from `resets_at_ns` (IC
    /// time, nanoseconds since the Unix epoch), when the next window starts.
    QuotaExceeded {
        quota: String,
        max: u64,
        used: u64,
        resets_at_ns: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unauthorized { caller, required } => {
                write!(f, "unauthorized: {caller} is not {required}")
            }
            Error::NotFound { kind, id } => write!(f, "{kind} '{id}' not found"),
            Error::AlreadyExists { kind, id } => write!(f, "{kind} '{id}' already exists"),
            Error::InvalidArgument { field, reason } => {
                write!(f, "invalid argument '{field}': {reason}")
            }
            Error::InvalidState { id, reason } => write!(f, "'{id}': {reason}"),
            Error::HashMismatch { expected, actual } => write!(
                f,
                "SHA-256 mismatch: expected {}, got {}",
                hex(expected),
                hex(actual)
            ),
            Error::UploadIncomplete { id, missing_chunks } => {
                write!(f, "'{id}' is missing {missing_chunks} chunks")
            }
            Error::ModelRejected { reason } => write!(f, "model rejected by tract: {reason}"),
            Error::InputMismatch {
                tensor,
                expected,
                got,
            } => write!(f, "input '{tensor}': expected {expected}, got {got}"),
            Error::LimitExceeded { limit, max, got } => {
                write!(f, "limit {limit} exceeded: {got} > {max}")
            }
            Error::InferenceFailed { reason } => write!(f, "inference failed: {reason}"),
            Error::UseJob { model_id, reason } => write!(
                f,
                "model '{model_id}' needs more than one message per inference ({reason}): use infer_start"
            ),
            Error::TokenizerRejected { reason } => write!(f, "tokenizer rejected: {reason}"),
            Error::QuotaExceeded {
                quota,
                max,
                used,
                resets_at_ns,
            } => write!(
                f,
                "quota {quota} used up: {used} of {max} in this window; try again from {resets_at_ns} ns (IC time), when the window resets"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobFailure::NodeOverBudget {
                node,
                instructions,
                budget,
            } => write!(
                f,
                "node {node} used {instructions} instructions, over the step budget of {budget}"
            ),
            JobFailure::Trapped { message } => write!(f, "a step trapped: {message}"),
            JobFailure::ModelDeleted { model_id } => {
                write!(f, "model '{model_id}' was deleted while the job ran")
            }
            JobFailure::Failed { error } => write!(f, "{error}"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
