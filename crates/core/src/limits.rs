//! Every bound the canister enforces, in one place. Each is checked before work starts.

/// Upload chunk size. Chunks sit at multiples of this offset; 1 MiB keeps an upload call
/// well under the IC's 2 MiB ingress limit.
pub const CHUNK_BYTES: u64 = 1 << 20;
/// Largest model file.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Models (uploading or ready) held at once.
pub const MAX_MODELS: u64 = 64;
/// Bytes of all models together, so stable memory growth is bounded.
pub const MAX_TOTAL_MODEL_BYTES: u64 = 16 << 30;
pub const MAX_MODEL_ID_BYTES: usize = 64;
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Input tensors per call, their rank, name length and total size.
pub const MAX_TENSORS: usize = 32;
pub const MAX_RANK: usize = 8;
pub const MAX_TENSOR_NAME_BYTES: usize = 256;
/// All input tensor data together, in canonical bytes. The IC caps a call's payload at
/// 2 MiB anyway; this makes the bound explicit for inter-canister callers too.
pub const MAX_INPUT_BYTES: u64 = 2 << 20;
/// Encoded output tensors: an update reply may not exceed 2 MiB; keep room for the receipt.
pub const MAX_OUTPUT_BYTES: u64 = (2 << 20) - (16 << 10);

pub const MIN_NONCE_BYTES: usize = 16;
pub const MAX_NONCE_BYTES: usize = 64;

/// Largest page of log entries returned by one call.
pub const MAX_LOG_PAGE: u32 = 100;
/// Admins besides the controllers.
pub const MAX_ADMINS: u64 = 32;
/// Optimised tract plans kept on the heap at once.
pub const MAX_CACHED_PLANS: usize = 8;

/// Inference jobs (crate::jobs) not yet finished, in all and per caller: each holds its
/// intermediate tensors on the heap and up to MAX_INPUT_BYTES of inputs in stable memory.
pub const MAX_JOBS_IN_FLIGHT: u64 = 16;
pub const MAX_JOBS_PER_CALLER: u64 = 4;
/// Finished jobs (done, failed, cancelled) kept for `job_status`, the newest first; their
/// receipts stay in the log for ever.
pub const MAX_FINISHED_JOBS: u64 = 64;
pub const FINISHED_JOB_TTL_NS: u64 = 24 * 3600 * 1_000_000_000;
/// A job's step message stops starting nodes once it has used this many instructions, so
/// a message runs at most the budget plus one node (and a node over the budget fails the
/// job). 1 B keeps a step within about one of the IC's ~2 B deterministic-time-slicing
/// slices, so other messages interleave with a long job. The controller may set it.
pub const DEFAULT_STEP_BUDGET: u64 = 1_000_000_000;
pub const MIN_STEP_BUDGET: u64 = 10_000;
/// Half the IC's 40 B update limit: a step may run the budget plus one node of at most the
/// budget.
pub const MAX_STEP_BUDGET: u64 = 20_000_000_000;

/// A language model's tokenizer file (GPT-2's tokenizer.json is 1.4 MB).
pub const MAX_TOKENIZER_BYTES: u64 = 8 << 20;
/// Longest context a language model may declare, and KV-cache pairs it may name.
pub const MAX_CONTEXT_LENGTH: u32 = 8192;
pub const MAX_KV_PAIRS: usize = 128;
/// A generation's prompt, in UTF-8 bytes, and tokens it may ask for.
pub const MAX_PROMPT_BYTES: usize = 64 << 10;
pub const MAX_NEW_TOKENS: u32 = 4096;
/// Stop sequences of one generation, and the bytes of each.
pub const MAX_STOP_SEQUENCES: usize = 8;
pub const MAX_STOP_BYTES: usize = 64;
/// Prompt tokens one forward pass of the prefill takes: the attention scores of a pass
/// grow with its square.
pub const MAX_PREFILL_BATCH: usize = 64;
