//! The host's configuration and the records its API returns: instruction limits, payload
//! limits, [`HostConfig`], [`CallOutcome`], [`InstallOutcome`], [`LogRecord`].
//!
//! Plain data with no behaviour beyond defaults; nothing here touches canisters or the queue.

use crate::engine;
use crate::error::Reject;
use crate::validate::ValidationLimits;
use candid::Principal;
use std::path::PathBuf;

/// Maximum ingress (and query) argument size: 2 MiB.
pub const MAX_INGRESS_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Maximum inter-canister request payload: 2 MiB.
pub const MAX_INTER_CANISTER_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Maximum reply of an update (or of any replicated execution): 2 MiB.
pub const MAX_UPDATE_REPLY_BYTES: usize = 2 * 1024 * 1024;
/// Maximum reply of a non-replicated query: 3 MiB.
pub const MAX_QUERY_REPLY_BYTES: usize = 3 * 1024 * 1024;

/// Instruction limits per message execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstructionLimits {
    /// Updates, callbacks, timers and heartbeats (40 B on the IC).
    pub update: u64,
    /// Queries (5 B).
    pub query: u64,
    /// Install, reinstall and upgrade, all steps together (300 B).
    pub install: u64,
    /// `canister_inspect_message` (200 M).
    pub inspect_message: u64,
}

impl Default for InstructionLimits {
    fn default() -> Self {
        InstructionLimits {
            update: 40_000_000_000,
            query: 5_000_000_000,
            install: 300_000_000_000,
            inspect_message: 200_000_000,
        }
    }
}

/// Memory limits per message execution, as the replica's (lower them in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Stable memory an update, callback, timer or heartbeat may access: 2 GiB on the IC.
    pub stable_access_update: u64,
    /// Stable memory a query may access: 1 GiB.
    pub stable_access_query: u64,
    /// Stable memory each step of an install or upgrade may access: 8 GiB (the replica
    /// counts the whole upgrade; the host each of its executions).
    pub stable_access_upgrade: u64,
    /// The `wasm_memory_limit` setting of a new canister: 3 GiB, as the replica gives new
    /// canisters; `update_settings` changes it per canister.
    pub default_wasm_memory_limit: u64,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            stable_access_update: 2 << 30,
            stable_access_query: 1 << 30,
            stable_access_upgrade: 8 << 30,
            default_wasm_memory_limit: 3 << 30,
        }
    }
}

/// Configuration of a [`Host`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Seed of the root key and of `raw_rand`: the same seed gives the same root key.
    pub seed: Vec<u8>,
    /// Instruction limits.
    pub limits: InstructionLimits,
    /// Stable-memory access and Wasm memory limits.
    pub memory: MemoryLimits,
    /// Where compiled modules are cached on disk; `None` disables the disk cache.
    pub module_cache_dir: Option<PathBuf>,
    /// Time at creation, in ns since the Unix epoch.
    pub start_time_ns: u64,
    /// Cycles a new canister starts with.
    pub initial_cycles: u128,
    /// Module limits applied at installation.
    pub validation: ValidationLimits,
    /// Messages processed in one round before the host gives up (guards against call loops).
    pub max_messages_per_round: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            seed: b"icinfer-host".to_vec(),
            limits: InstructionLimits::default(),
            memory: MemoryLimits::default(),
            module_cache_dir: Some(engine::default_cache_dir()),
            // 2025-01-01T00:00:00Z
            start_time_ns: 1_735_689_600_000_000_000,
            initial_cycles: 100_000_000_000_000,
            validation: ValidationLimits::default(),
            max_messages_per_round: 100_000,
        }
    }
}

/// The outcome of an ingress update or a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// The reply, or the reject (code and message).
    pub result: Result<Vec<u8>, Reject>,
    /// Instructions of all executions in the message's call context on the called canister
    /// (the method and any callbacks after its awaits): what `performance_counter(1)` counts.
    pub instructions: u64,
    /// Instructions of the first execution (the method up to its first await).
    pub message_instructions: u64,
}

impl CallOutcome {
    /// The reply bytes, or a panic naming the reject (for tests).
    pub fn unwrap_reply(self) -> Vec<u8> {
        match self.result {
            Ok(b) => b,
            Err(r) => panic!("expected a reply, got {r}"),
        }
    }
}

/// Instructions used by an installation or upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallOutcome {
    /// start + init, or pre_upgrade + start + post_upgrade, and the compilation charge.
    pub instructions: u64,
    /// The replica's compilation charge, included in `instructions`: 6,000 per instruction of
    /// the instrumented module, a hundredth of it for a module this host compiled before.
    pub compilation_instructions: u64,
}

/// One canister log record (`ic0.debug_print` output or a trap message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Index, increasing per canister.
    pub idx: u64,
    /// Time of the execution that wrote it.
    pub timestamp_ns: u64,
    /// The text.
    pub content: String,
}

/// The outcome of an ingress call, kept by the host (the replica's ingress history) until
/// `keep_until_ns`: what `/request_status/<request id>` certifies, and what a request sent
/// again is answered with instead of running twice. Persisted with the call's effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressStatus {
    /// Who signed the call.
    pub sender: Principal,
    /// The call's effective canister.
    pub canister: Principal,
    /// Kept until this host time (the request's expiry and the longest time to live).
    pub keep_until_ns: u64,
    /// The reply, or the reject.
    pub result: Result<Vec<u8>, Reject>,
}
