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
