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

/// ONNX graphs (issue #20): checked on the decoded protobuf before tract builds anything
/// (`prep::bounds`), since tract's analysis evaluates constants eagerly and the heap never
/// shrinks. Nodes of a model, its subgraphs' included: the largest model of the corpus
/// (models/corpus) has 1,493; a 24-layer transformer about 10,000.
pub const MAX_MODEL_NODES: u64 = 20_000;
/// Largest dimension of any tensor, declared or computed from constants: tract narrows
/// dimensions to `usize`, 32 bits on wasm32, and panics at 2^31.
pub const MAX_DIMENSION: u64 = (1 << 31) - 1;
/// Largest tensor a model may hold or materialise (an initializer, a `ConstantOfShape`,
/// `Range` or `Expand` of constant shape, any intermediate of known shape): 256 MiB,
/// a sixteenth of the wasm32 heap.
pub const MAX_TENSOR_BYTES: u64 = 256 << 20;
/// All constants of a model together, initializers and materialised constants included.
pub const MAX_CONSTANT_BYTES: u64 = 1 << 30;
/// `If` conditions the preparation pass evaluates (`prep::branches`), and the nodes of the
/// subgraph that computes each: every evaluation is a tract typing of that subgraph. Shape
/// conditions of the corpus take up to 60 nodes; silero's models have 19 `If`s.
pub const MAX_EVALUATED_CONDITIONS: usize = 64;
pub const MAX_CONDITION_NODES: usize = 512;
/// Chunks of a model's in-order prefix one `upload_model_chunk` hashes at most: the chunk
/// it brings and chunks that arrived out of order before it (SHA-256 costs about 77
/// instructions a byte, 81 M a chunk), so a late first chunk cannot make one upload
/// message hash the whole file. What is left is hashed by finalize.
pub const MAX_HASH_CHUNKS_PER_UPLOAD: u32 = 8;
/// Files larger than this finalize as a job (`ModelState::finalizing`), even when they are
/// hashed already: parsing and optimising them runs in a message of its own, started by the
/// canister, so a trap there (the instruction or memory limit) is recorded as the model's
/// failure instead of rolling back into `uploading`. Loading peaks at a few times the file
/// size on the heap (docs/performance.md, "Large models").
pub const MAX_INLINE_FINALIZE_BYTES: u64 = 256 << 20;
/// `infer` stops before a node once its message has used this many instructions, and
/// answers `UseJob`; a model measured above it (by such a stop, or by a job) gets `UseJob`
/// at once: a one-message inference would risk the IC's 40 B update limit.
pub const MAX_ONE_MESSAGE_INFER_INSTRUCTIONS: u64 = 32_000_000_000;
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

// --- the inference policy (crate::policy) and canister_inspect_message (engine::inspect) ---
/// Principals on an allow-list: the policy is decoded into the heap at every open.
pub const MAX_ALLOW_LIST: u64 = 1000;
/// The longest quota window: 30 days.
pub const MAX_POLICY_WINDOW_SECONDS: u64 = 30 * 24 * 3600;
/// The argument of a method without tensors, chunks or prompts (an allow-list of
/// MAX_ALLOW_LIST principals is about 31 KB).
pub const MAX_SMALL_ARG_BYTES: u64 = 64 << 10;
/// Room for the Candid framing around a chunk, an input list or a prompt.
pub const ARG_FRAMING_BYTES: u64 = 64 << 10;
