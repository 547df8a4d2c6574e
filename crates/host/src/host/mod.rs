//! The [`Host`]: canisters, the message queue, call contexts, time and the public API.
//!
//! The host's state lives in [`Host`] (this file), with the helpers every part shares: running
//! one execution on a canister and recording its logs ([`Host::run`]), building an execution
//! context, and the controller check. Each concern has its own file, and only these may touch
//! the parts of the state named:
//!
//! | file | concern | touches |
//! |---|---|---|
//! | `config.rs` | limits, [`HostConfig`], the records the API returns | nothing (plain data) |
//! | `canisters.rs` | create, controllers, status, cycles, reads | `canisters` |
//! | `install.rs` | install, reinstall, upgrade | one canister's state and instance |
//! | `ingress.rs` | ingress updates and queries, the ingress history | the queue, ingress results and history |
//! | `queue.rs` | requests, responses, call contexts, heartbeats and timers | the queue, call contexts, callbacks |
//! | `state_tree.rs` | the certified state tree, certificates, derived keys | reads only (and the node keys) |
//! | `management/` | the management canister for ingress, the cycles ledger and CMC, `icp:*` metadata | `canisters` |
//! | `persistence.rs` | what [`crate::persist`] saves and restores | counters, `canisters` |

mod canisters;
mod config;
mod ingress;
mod install;
mod management;
mod persistence;
mod queue;
mod state_tree;

pub use config::{
    CallOutcome, HostConfig, IngressStatus, InstallOutcome, InstructionLimits, LogRecord,
    MAX_INGRESS_PAYLOAD_BYTES, MAX_INTER_CANISTER_PAYLOAD_BYTES, MAX_QUERY_REPLY_BYTES,
    MAX_UPDATE_REPLY_BYTES, MemoryLimits,
};
pub use management::CanisterMetadata;
pub use management::ledger::{cycles_ledger_id, cycles_minting_canister_id};
pub use management::registry::registry_id;

use crate::certificate::RootKey;
use crate::error::{HostError, Reject};
use crate::runtime::{ApiKind, CanisterState, Entry, ExecContext, Executed, OutgoingCall, Runtime};
use candid::Principal;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Ingress(u64),
    Canister { callback: u64 },
    System,
}

struct CallContext {
    canister: Principal,
    caller: Principal,
    origin: Origin,
    responded: bool,
    outstanding: u32,
    instructions: u64,
    first_instructions: Option<u64>,
    cycles: u128,
}

struct Callback {
    canister: Principal,
    call_context: u64,
    call: OutgoingCall,
    version: u64,
}

enum Message {
    Request {
        caller: Principal,
        callee: Principal,
        method: String,
        arg: Vec<u8>,
        cycles: u128,
        origin: Origin,
    },
    Response {
        callback: u64,
        result: Result<Vec<u8>, Reject>,
        refund: u128,
    },
}

pub(crate) struct Canister {
    pub(crate) state: CanisterState,
    pub(crate) runtime: Option<Runtime>,
    pub(crate) logs: Vec<LogRecord>,
    /// How many of `logs` the journal holds.
    pub(crate) logs_journaled: usize,
    /// The settings and chunk hashes the journal holds.
    pub(crate) managed_journaled: crate::journal::ManagedMark,
    /// The installed module as given (raw or gzipped): what persistence saves.
    pub(crate) wasm: Option<Arc<Vec<u8>>>,
    /// Settings, chunk store and metadata of the management canister.
    pub(crate) managed: management::Managed,
}

/// A local replica: canisters, time, and the IC's execution semantics.
pub struct Host {
    config: HostConfig,
    canisters: BTreeMap<Principal, Canister>,
    time_ns: u64,
    next_canister: u64,
    root_key: RootKey,
    root_key_der: Arc<Vec<u8>>,
    subnet_id: Principal,
    queue: VecDeque<Message>,
    call_contexts: HashMap<u64, CallContext>,
    callbacks: HashMap<u64, Callback>,
    ingress_results: HashMap<u64, Result<Vec<u8>, Reject>>,
    ingress_instructions: HashMap<u64, (u64, u64)>,
    /// Outcomes of ingress calls by request id ([`IngressStatus`]).
    ingress_history: BTreeMap<[u8; 32], IngressStatus>,
    /// Request ids recorded since the journal last took them ([`crate::journal`]).
    unjournaled_ingress: Vec<[u8; 32]>,
    next_id: u64,
    raw_rand_counter: u64,
    node_keys: Vec<(Principal, Vec<u8>)>,
    /// Hashes of the modules installed so far (the replica's `expected_compiled_wasms`): a
    /// module compiled before pays a reduced compilation charge.
    compiled_modules: HashSet<[u8; 32]>,
    /// Generation of the checkpoint this host was loaded from or last saved to
    /// ([`crate::journal`]).
    checkpoint_generation: u64,
}

/// Sets the memory limits of an execution of `ctx.kind`, as the replica applies them: the
/// stable-memory access limit of its kind, and the canister's `wasm_memory_limit` for updates,
/// timers, heartbeats, init and post_upgrade (queries and callbacks are exempt, so that a
/// canister over its limit can still be read and can finish its calls).
pub(crate) fn memory_limits(ctx: &mut ExecContext, limits: &MemoryLimits, wasm_memory_limit: u64) {
    ctx.stable_access_limit = match ctx.kind {
        ApiKind::Start | ApiKind::Init | ApiKind::PreUpgrade | ApiKind::PostUpgrade => {
            limits.stable_access_upgrade
        }
        kind if kind.is_query() || kind == ApiKind::InspectMessage => limits.stable_access_query,
        _ => limits.stable_access_update,
    };
    ctx.wasm_memory_limit = matches!(
        ctx.kind,
        ApiKind::Update
            | ApiKind::GlobalTimer
            | ApiKind::Heartbeat
            | ApiKind::Init
            | ApiKind::PostUpgrade
    )
    .then_some(wasm_memory_limit);
}

fn canister_id(index: u64) -> Principal {
    let mut bytes = index.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[1, 1]);
    Principal::from_slice(&bytes)
}

impl Host {
    /// Creates a host with no canisters.
    pub fn new(config: HostConfig) -> Host {
        let root_key = RootKey::from_seed(&config.seed);
        let root_key_der = Arc::new(root_key.public_key_der());
        // As agents derive the root subnet's id when a certificate has no delegation.
        let subnet_id = Principal::self_authenticating(root_key.public_key_der());
        Host {
            time_ns: config.start_time_ns,
            config,
            canisters: BTreeMap::new(),
            next_canister: 0,
            root_key,
            root_key_der,
            subnet_id,
            queue: VecDeque::new(),
            call_contexts: HashMap::new(),
            callbacks: HashMap::new(),
            ingress_results: HashMap::new(),
            ingress_instructions: HashMap::new(),
            ingress_history: BTreeMap::new(),
            unjournaled_ingress: Vec::new(),
            next_id: 0,
            raw_rand_counter: 0,
            node_keys: Vec::new(),
            compiled_modules: HashSet::new(),
            checkpoint_generation: 0,
        }
    }

    // ----- Configuration, time, keys.

    /// The instruction limits in force.
    pub fn instruction_limits(&self) -> InstructionLimits {
        self.config.limits
    }

    /// Changes the instruction limits (tests lower them).
    pub fn set_instruction_limits(&mut self, limits: InstructionLimits) {
        self.config.limits = limits;
    }

    /// Current time in ns since the Unix epoch. Every round (update call, tick, install)
    /// advances it by at least 1 ns, so messages see strictly increasing times.
    pub fn time_ns(&self) -> u64 {
        self.time_ns
    }

    /// Moves time forward.
    pub fn advance_time(&mut self, by: Duration) {
        self.time_ns = self.time_ns.saturating_add(by.as_nanos() as u64);
    }

    /// The root public key, DER-encoded as agents expect it (133 bytes).
    pub fn root_key_der(&self) -> Vec<u8> {
        self.root_key_der.as_ref().clone()
    }

    /// The raw root public key (96-byte compressed G2 point).
    pub fn root_public_key(&self) -> [u8; 96] {
        self.root_key.public_key()
    }

    /// The id this host reports as its subnet.
    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    // ----- Shared by the files of this module.

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn ctx(
        &self,
        kind: ApiKind,
        caller: Principal,
        method: &str,
        arg: &[u8],
        limit: u64,
    ) -> ExecContext {
        ExecContext {
            kind,
            caller,
            method: method.to_string(),
            arg: arg.to_vec(),
            time: self.time_ns,
            limit,
            max_reply: MAX_UPDATE_REPLY_BYTES,
            max_call_payload: MAX_INTER_CANISTER_PAYLOAD_BYTES,
            root_key_der: self.root_key_der.clone(),
            subnet_id: Some(self.subnet_id),
            ..ExecContext::default()
        }
    }

    fn push_logs(&mut self, id: Principal, lines: Vec<String>) {
        let time = self.time_ns;
        if let Some(c) = self.canisters.get_mut(&id) {
            for content in lines {
                let idx = c.logs.len() as u64;
                c.logs.push(LogRecord {
                    idx,
                    timestamp_ns: time,
                    content,
                });
            }
        }
    }

    /// Executes on an installed canister and records its logs (and the trap, if any).
    fn run(
        &mut self,
        id: Principal,
        entry: &Entry,
        mut ctx: ExecContext,
        keep: bool,
    ) -> Option<Executed> {
        let c = self.canisters.get_mut(&id)?;
        memory_limits(
            &mut ctx,
            &self.config.memory,
            c.managed.settings.wasm_memory_limit(),
        );
        let rt = c.runtime.as_mut()?;
        let mut ex = rt.execute(&mut c.state, ctx, entry, keep);
        if ex.result.is_ok()
            && keep
            && let Some(call) = ex.ctx.pending_call.take()
        {
            // A call constructed but never performed returns its cycles.
            c.state.cycles += call.cycles;
        }
        let mut logs = std::mem::take(&mut ex.ctx.logs);
        if let Err(e) = &ex.result {
            logs.push(format!("[TRAP]: {}", e.describe()));
        }
        self.push_logs(id, logs);
        Some(ex)
    }

    fn canister(&self, id: Principal) -> Result<&Canister, HostError> {
        self.canisters
            .get(&id)
            .ok_or(HostError::CanisterNotFound(id))
    }

    fn check_controller(&self, canister: Principal, sender: Principal) -> Result<(), HostError> {
        if !self.canister(canister)?.state.controllers.contains(&sender) {
            return Err(HostError::NotController { canister, sender });
        }
        Ok(())
    }
}
