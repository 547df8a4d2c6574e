//! # icinfer-host: a local replica
//!
//! Runs canister Wasm modules natively with the Internet Computer's execution semantics, for
//! integration tests and (later) a CLI. It is not a replica: there is one "subnet", no
//! consensus and no network; messages run one at a time in a deterministic order.
//!
//! ## Execution model
//! A [`Host`] holds canisters, a clock and a FIFO message queue. An ingress
//! [`Host::update_call`] enqueues a request and then processes the queue until it is empty:
//! each request creates a *call context* on the callee and runs its method; calls the method
//! makes with `ic0.call_perform` are enqueued when the execution ends; each response runs the
//! caller's reply or reject callback (taken from the module's function table with its `env`).
//! A call context responds at most once; when it has no outstanding calls left and has not
//! responded, the caller gets a `CanisterError` reject, as on the IC. [`Host::tick`] runs
//! heartbeats and due global timers (then the queue). Time only moves when the test says so
//! ([`Host::advance_time`]) and by 1 ns per round, so messages see strictly increasing times.
//!
//! ## Commit points and rollback
//! Every message execution is a transaction: the method up to its first await, and each
//! callback. Before it runs, the host snapshots the heap (one memcpy into a reused buffer),
//! the mutable globals (the module is rewritten to export them), certified data, the timer and
//! the cycle balance, and opens an undo log on stable memory (the first write to each 4 KiB page
//! saves it, so rollback is O(pages written), whatever the size of stable memory). A trap, an
//! instruction-limit overrun or a contract violation restores the snapshot and discards the
//! execution's outgoing calls and reply. Queries (and `canister_inspect_message`) always
//! roll back. So state commits at each await, exactly where the IC commits it.
//!
//! ## Instruction accounting
//! The host counts as the replica does: wasmtime fuel with the replica's per-operator weights
//! and its 1 per function entry ([`cost`]), the replica's fixed and per-byte System API
//! charges, 1,000 per 4 KiB page of stable memory or heap a message dirties, and the
//! compilation charge of an installation ([`instrumentation`]); [`CallOutcome::instructions`],
//! [`InstallOutcome::instructions`] and `ic0.performance_counter` report it. Limits per message
//! are configurable ([`InstructionLimits`]). Remaining differences are listed in [`cost`].
//!
//! The replica mirrored is dfinity/ic master as of 2026-12 (read in the reference index):
//! `rs/embedders/src/wasm_utils/instrumentation.rs` (`instruction_to_cost`, `injections`,
//! `instrument`), `system_api_replacements.rs` at commit 6abf850, `validation.rs`,
//! `wasmtime_embedder/system_api_complexity.rs`, `wasmtime_embedder.rs` (the dirty heap pages),
//! `rs/config/src/subnet_config.rs` (`DEFAULT_DIRTY_PAGE_OVERHEAD`) and
//! `rs/config/src/embedders.rs` (`DEFAULT_COST_TO_COMPILE_WASM_INSTRUCTION`).
//!
//! ## Certificates
//! Non-replicated queries get a data certificate signed by the host's BLS12-381 root key,
//! derived from [`HostConfig::seed`]; see [`certificate`] for the tree and the signature, and
//! [`Host::root_key_der`] for the key clients verify against.
//!
//! ## Modules
//! [`validate_module`] applies the current replica's limits (12 MiB of code; older replicas
//! allow 10 MiB, which the project's own module check keeps to); installation also refuses
//! any import the host does not implement, naming it. Compiled modules are shared within the process and cached on
//! disk ([`engine`]).
//!
//! ## Not modelled (yet)
//! - The heap is snapshotted by one copy per message (stable memory is copy-on-write);
//!   function tables are not rolled back.
//! - Composite queries run, but cannot call other canisters; canister-to-canister calls to
//!   query methods run in replicated mode. Every call is a guaranteed-response call
//!   (`msg_deadline` is 0). Calls go out in FIFO order on one queue, with no subnet boundaries.
//! - Cycles are moved by calls, accepted, refunded and burnt, but execution, storage and
//!   calls are not charged and there is no freezing threshold.
//! - The management canister answers only `raw_rand` (deterministic from the seed); canister
//!   management is the [`Host`] API. No environment variables are set.
//! - `mint_cycles*`, `cost_sign_with_*`, `cost_vetkd_derive_key` and `cost_http_request_v2` are
//!   not provided: a module importing them is refused at installation, naming the import.
//! - wasm64 modules and deterministic time slicing are not modelled (each message runs to its
//!   limit in one slice); of the per-message stable-memory limits, the one on pages accessed
//!   is ([`MemoryLimits`]: 2 GiB per update, 1 GiB per query, 8 GiB per install or upgrade
//!   step), the one on pages written is not.
//!
//! ## Memory limits
//! An execution that accesses more distinct 4 KiB pages of stable memory than its kind may
//! fails with the replica's `MemoryAccessLimitExceeded` message; one whose heap would grow past
//! the canister's `wasm_memory_limit` (3 GiB for a new canister, set by `update_settings`;
//! enforced for updates, timers, heartbeats, init and post_upgrade, not for queries and
//! callbacks) fails with the replica's "exceeded its current Wasm memory limit". Both are
//! configurable ([`HostConfig::memory`]), so tests can reach them with small models.
//!
//! ## State
//! A canister's durable state outside its instance is the plain [`CanisterState`] (stable
//! memory, certified data, controllers, module hash, timer, cycles). [`Host::save`] writes it,
//! with the heap, the mutable globals, the module, the logs and the ingress history
//! ([`IngressStatus`] by request id), to a directory as a checkpoint and [`Host::load`]
//! restores it ([`persist`]).
//!
//! ## Durability
//! Between checkpoints, [`journal::Journal::append`] writes what each change did: the 4 KiB
//! pages of heap and stable memory committed executions changed (the host finds them anyway,
//! to charge 1,000 instructions per dirtied page), the small canister state, new log lines and
//! ingress outcomes, as one checksummed record, synced (`fdatasync`) before it returns. The
//! HTTP server appends after every job that changed something and replies only then, so a
//! crash loses no acknowledged call and a request id seen once is never executed again.
//! [`Host::load`] replays the journal over the checkpoint and drops a torn last record whole.
//! Measured (tests/tests/durability.rs, debug build, a disk whose `fdatasync` takes ~8 ms):
//! an `infer` of the digits model writes 74 KB (14 heap and 4 stable pages) in ~11 ms; a
//! 1 MiB upload chunk 3.2 MB (260 stable pages and the 2 MiB of heap it was decoded into) in
//! ~30-40 ms. The server checkpoints once the journal passes 1 GiB and at a clean shutdown.
//! The management canister's settings and Wasm chunk store are journaled (when they change)
//! and checkpointed too.

pub mod certificate;
pub mod cost;
pub mod engine;
mod error;
mod history;
mod host;
pub mod ic0;
pub mod instrumentation;
pub mod journal;
pub mod persist;
mod runtime;
pub mod stable;
mod system_api;
pub mod validate;

pub use candid::Principal;
pub use certificate::LabeledTree;
pub use error::{HostError, Reject, RejectCode};
pub use host::{
    CallOutcome, CanisterMetadata, Host, HostConfig, IngressStatus, InstallOutcome,
    InstructionLimits, LogRecord, MAX_INGRESS_PAYLOAD_BYTES, MAX_INTER_CANISTER_PAYLOAD_BYTES,
    MAX_QUERY_REPLY_BYTES, MAX_UPDATE_REPLY_BYTES, MemoryLimits, cycles_ledger_id,
    cycles_minting_canister_id, registry_id,
};
pub use ic_certification;
pub use runtime::{CanisterState, CanisterStatus, ExecError};
pub use stable::StableMemory;
pub use validate::{
    ModuleReport, ValidationError, ValidationLimits, validate_module, validate_module_with,
};
