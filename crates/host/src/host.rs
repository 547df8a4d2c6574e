//! The [`Host`]: canisters, the message queue, call contexts, time and the public API.

use crate::certificate::{LabeledTree, RootKey, encode_certificate, leb128};
use crate::engine;
use crate::error::{HostError, Reject, RejectCode};
use crate::runtime::{
    ApiKind, CanisterState, CanisterStatus, Entry, ExecContext, ExecError, Executed,
    InstanceSnapshot, OutgoingCall, Response, Runtime, StoreData,
};
use crate::stable::StableMemory;
use crate::validate::{ValidationLimits, decompress_if_gzipped};
use candid::Principal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// Configuration of a [`Host`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Seed of the root key and of `raw_rand`: the same seed gives the same root key.
    pub seed: Vec<u8>,
    /// Instruction limits.
    pub limits: InstructionLimits,
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
    /// start + init, or pre_upgrade + start + post_upgrade.
    pub instructions: u64,
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
    /// The installed module as given (raw or gzipped): what persistence saves.
    pub(crate) wasm: Option<Arc<Vec<u8>>>,
}

/// Install modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Install,
    Reinstall,
    Upgrade,
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
    next_id: u64,
    raw_rand_counter: u64,
    node_keys: Vec<(Principal, Vec<u8>)>,
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
            next_id: 0,
            raw_rand_counter: 0,
            node_keys: Vec::new(),
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

    // ----- Canister management.

    /// Creates an empty canister with the given controllers and the configured initial cycles.
    pub fn create_canister(&mut self, controllers: Vec<Principal>) -> Principal {
        let id = canister_id(self.next_canister);
        self.next_canister += 1;
        let state = CanisterState {
            id: Some(id),
            controllers,
            cycles: self.config.initial_cycles,
            ..CanisterState::default()
        };
        self.canisters.insert(
            id,
            Canister {
                state,
                runtime: None,
                logs: Vec::new(),
                wasm: None,
            },
        );
        id
    }

    /// The canister's durable state (controllers, module hash, stable memory, ...).
    pub fn canister_state(&self, canister: Principal) -> Option<&CanisterState> {
        self.canisters.get(&canister).map(|c| &c.state)
    }

    /// Ids of all canisters.
    pub fn canister_ids(&self) -> Vec<Principal> {
        self.canisters.keys().copied().collect()
    }

    /// Cycle balance.
    pub fn cycle_balance(&self, canister: Principal) -> Result<u128, HostError> {
        Ok(self.canister(canister)?.state.cycles)
    }

    /// Adds cycles to a canister (a faucet).
    pub fn add_cycles(&mut self, canister: Principal, amount: u128) -> Result<u128, HostError> {
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or(HostError::CanisterNotFound(canister))?;
        c.state.cycles = c.state.cycles.saturating_add(amount);
        Ok(c.state.cycles)
    }

    /// Log records of a canister, oldest first.
    pub fn logs(&self, canister: Principal) -> &[LogRecord] {
        self.canisters.get(&canister).map_or(&[], |c| &c.logs)
    }

    /// Size of the canister's Wasm heap in bytes (0 when empty).
    pub fn heap_size(&mut self, canister: Principal) -> Result<usize, HostError> {
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or(HostError::CanisterNotFound(canister))?;
        Ok(c.runtime.as_mut().map_or(0, |r| r.heap_size()))
    }

    /// Replaces the controllers.
    pub fn set_controllers(
        &mut self,
        canister: Principal,
        sender: Principal,
        controllers: Vec<Principal>,
    ) -> Result<(), HostError> {
        self.check_controller(canister, sender)?;
        self.canisters
            .get_mut(&canister)
            .expect("checked")
            .state
            .controllers = controllers;
        Ok(())
    }

    /// What validation measured on the installed module (methods, sizes, imports).
    pub fn module_report(&self, canister: Principal) -> Option<crate::validate::ModuleReport> {
        let c = self.canisters.get(&canister)?;
        let mut report = c.runtime.as_ref()?.module.report.clone();
        report.module_hash = c.state.module_hash?;
        Some(report)
    }

    /// Status of a canister.
    pub fn canister_status(&self, canister: Principal) -> Result<CanisterStatus, HostError> {
        Ok(self.canister(canister)?.state.status)
    }

    /// Stops a canister: new calls are rejected; it is `Stopped` once its open call contexts
    /// are closed (immediately, as every call tree runs to completion between API calls).
    pub fn stop_canister(
        &mut self,
        canister: Principal,
        sender: Principal,
    ) -> Result<(), HostError> {
        self.check_controller(canister, sender)?;
        let open = self
            .call_contexts
            .values()
            .any(|cc| cc.canister == canister);
        let c = self.canisters.get_mut(&canister).expect("checked");
        c.state.status = if open {
            CanisterStatus::Stopping
        } else {
            CanisterStatus::Stopped
        };
        Ok(())
    }

    /// Starts a stopped canister.
    pub fn start_canister(
        &mut self,
        canister: Principal,
        sender: Principal,
    ) -> Result<(), HostError> {
        self.check_controller(canister, sender)?;
        self.canisters
            .get_mut(&canister)
            .expect("checked")
            .state
            .status = CanisterStatus::Running;
        Ok(())
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

    // ----- Installation.

    /// Installs a module (raw or gzipped) on an empty canister and runs `canister_init` with
    /// `arg`. On failure the canister stays empty.
    pub fn install_code(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Install)
    }

    /// Replaces the module, discarding heap, stable memory and certified data, and runs
    /// `canister_init`. On failure the canister is left as it was.
    pub fn reinstall_code(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Reinstall)
    }

    /// Upgrades: runs `canister_pre_upgrade` (if exported) on the old instance, keeps stable
    /// memory, starts a fresh instance of the new module and runs `canister_post_upgrade` with
    /// `arg`. On failure the canister is left as it was before the upgrade.
    pub fn upgrade_canister(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<InstallOutcome, HostError> {
        self.install(canister, wasm, arg, sender, Mode::Upgrade)
    }

    fn install(
        &mut self,
        id: Principal,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
        mode: Mode,
    ) -> Result<InstallOutcome, HostError> {
        self.check_controller(id, sender)?;
        let installed = self.canisters[&id].runtime.is_some();
        match (mode, installed) {
            (Mode::Install, true) => return Err(HostError::AlreadyInstalled(id)),
            (Mode::Upgrade, false) => return Err(HostError::NotInstalled(id)),
            _ => {}
        }
        let (decompressed, _) =
            decompress_if_gzipped(wasm, self.config.validation.max_decompressed_bytes)?;
        let module = engine::compile(
            &decompressed,
            &self.config.validation,
            self.config.module_cache_dir.as_deref(),
        )?;
        let module_hash: [u8; 32] = Sha256::digest(wasm).into();
        let limit = self.config.limits.install;
        let time = self.time_ns;
        let root_key_der = self.root_key_der.clone();
        let subnet_id = self.subnet_id;
        let ctx = |kind: ApiKind, arg: &[u8], limit: u64| ExecContext {
            kind,
            caller: sender,
            arg: arg.to_vec(),
            time,
            limit,
            max_reply: MAX_UPDATE_REPLY_BYTES,
            max_call_payload: MAX_INTER_CANISTER_PAYLOAD_BYTES,
            root_key_der: root_key_der.clone(),
            subnet_id: Some(subnet_id),
            ..ExecContext::default()
        };

        let c = self.canisters.get_mut(&id).expect("checked");
        let saved = (
            c.state.certified_data.clone(),
            c.state.global_timer,
            c.state.cycles,
        );
        let mut old_stable = None;
        if mode == Mode::Reinstall {
            old_stable = Some(std::mem::take(&mut c.state.stable_memory));
            c.state.certified_data.clear();
        }
        c.state.stable_memory.begin();
        let mut logs = Vec::new();
        let mut used = 0u64;
        let mut old_snapshot = None;

        let failure = |method: &'static str, e: ExecError| HostError::InstallFailed {
            canister: id,
            method,
            reject: e.into_reject(&id),
        };
        let result: Result<Runtime, HostError> = (|| {
            if mode == Mode::Upgrade {
                let rt = c.runtime.as_mut().expect("checked");
                old_snapshot = Some(rt.snapshot());
                if rt.exports("canister_pre_upgrade") {
                    let mut ex = rt.execute(
                        &mut c.state,
                        ctx(ApiKind::PreUpgrade, &[], limit),
                        &Entry::Export("canister_pre_upgrade".into()),
                        true,
                    );
                    used += ex.instructions;
                    logs.append(&mut ex.ctx.logs);
                    ex.result.map_err(|e| failure("canister_pre_upgrade", e))?;
                }
            }
            // The global timer is deactivated whenever the module changes.
            c.state.global_timer = 0;
            let mut rt = Runtime::new(module.clone(), StoreData::default())?;
            let steps: [(bool, ApiKind, &'static str, &str); 2] = [
                (
                    rt.has_start(),
                    ApiKind::Start,
                    "canister_start",
                    crate::engine::START_EXPORT,
                ),
                if mode == Mode::Upgrade {
                    (
                        rt.exports("canister_post_upgrade"),
                        ApiKind::PostUpgrade,
                        "canister_post_upgrade",
                        "canister_post_upgrade",
                    )
                } else {
                    (
                        rt.exports("canister_init"),
                        ApiKind::Init,
                        "canister_init",
                        "canister_init",
                    )
                },
            ];
            for (present, kind, method, export) in steps {
                if !present {
                    continue;
                }
                let a = if kind == ApiKind::Start { &[][..] } else { arg };
                let mut ex = rt.execute(
                    &mut c.state,
                    ctx(kind, a, limit.saturating_sub(used)),
                    &Entry::Export(export.into()),
                    true,
                );
                used += ex.instructions;
                logs.append(&mut ex.ctx.logs);
                ex.result.map_err(|e| failure(method, e))?;
            }
            Ok(rt)
        })();

        let c = self.canisters.get_mut(&id).expect("checked");
        let outcome = match result {
            Ok(rt) => {
                c.state.stable_memory.commit();
                c.runtime = Some(rt);
                c.wasm = Some(Arc::new(wasm.to_vec()));
                c.state.module_hash = Some(module_hash);
                c.state.version += 1;
                Ok(InstallOutcome { instructions: used })
            }
            Err(e) => {
                c.state.stable_memory.rollback();
                if let Some(old) = old_stable {
                    c.state.stable_memory = old;
                }
                (c.state.certified_data, c.state.global_timer, c.state.cycles) = saved;
                if let (Some(rt), Some(snap)) = (c.runtime.as_mut(), old_snapshot) {
                    rt.restore_snapshot(snap)?;
                }
                if let HostError::InstallFailed { reject, .. } = &e {
                    logs.push(format!("[TRAP]: {}", reject.message));
                }
                Err(e)
            }
        };
        self.push_logs(id, logs);
        self.time_ns += 1;
        outcome
    }

    // ----- Calls.

    /// Sends an ingress update call and runs the whole call tree (inter-canister calls and
    /// callbacks) to completion. Runs `canister_inspect_message` first if exported.
    pub fn update_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        let inspected = self.inspect_message(canister, sender, method, arg)?;
        if let Err(reject) = inspected.result {
            self.time_ns += 1;
            return Ok(CallOutcome {
                result: Err(reject),
                ..inspected
            });
        }
        self.update_call_accepted(canister, sender, method, arg)
    }

    /// Runs `canister_inspect_message` (if the canister is running and exports it) on an
    /// ingress message, as the IC does before accepting it. `result` is `Ok(vec![])` when the
    /// message is accepted, or the reject a client gets without the call being executed. Nothing
    /// the method changes is kept.
    pub fn inspect_message(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        if arg.len() > MAX_INGRESS_PAYLOAD_BYTES {
            return Err(HostError::PayloadTooLarge {
                size: arg.len(),
                limit: MAX_INGRESS_PAYLOAD_BYTES,
            });
        }
        let c = self.canister(canister)?;
        let accepted = CallOutcome {
            result: Ok(Vec::new()),
            instructions: 0,
            message_instructions: 0,
        };
        if c.state.status != CanisterStatus::Running
            || !c
                .runtime
                .as_ref()
                .is_some_and(|r| r.exports("canister_inspect_message"))
        {
            return Ok(accepted);
        }
        let ctx = self.ctx(
            ApiKind::InspectMessage,
            sender,
            method,
            arg,
            self.config.limits.inspect_message,
        );
        let ex = self
            .run(
                canister,
                &Entry::Export("canister_inspect_message".into()),
                ctx,
                false,
            )
            .expect("installed");
        let rejected = match ex.result {
            Err(e) => Some(e.into_reject(&canister)),
            Ok(()) if !ex.ctx.accepted => Some(Reject::new(
                RejectCode::CanisterReject,
                format!(
                    "Canister {canister} rejected the message in canister_inspect_message (it did not call ic0.accept_message)"
                ),
            )),
            Ok(()) => None,
        };
        Ok(CallOutcome {
            result: rejected.map_or(Ok(Vec::new()), Err),
            instructions: ex.instructions,
            message_instructions: ex.instructions,
        })
    }

    /// Executes an ingress update call that was already accepted (see
    /// [`Self::inspect_message`]): runs the whole call tree to completion.
    pub fn update_call_accepted(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        if arg.len() > MAX_INGRESS_PAYLOAD_BYTES {
            return Err(HostError::PayloadTooLarge {
                size: arg.len(),
                limit: MAX_INGRESS_PAYLOAD_BYTES,
            });
        }
        self.canister(canister)?;
        let id = self.fresh_id();
        self.queue.push_back(Message::Request {
            caller: sender,
            callee: canister,
            method: method.to_string(),
            arg: arg.to_vec(),
            cycles: 0,
            origin: Origin::Ingress(id),
        });
        self.run_queue();
        self.time_ns += 1;
        let (instructions, message_instructions) =
            self.ingress_instructions.remove(&id).unwrap_or((0, 0));
        let result = self
            .ingress_results
            .remove(&id)
            .ok_or(HostError::NoResponse)?;
        Ok(CallOutcome {
            result,
            instructions,
            message_instructions,
        })
    }

    /// Runs a query (non-replicated: it gets a data certificate, and nothing it changes is
    /// kept).
    pub fn query_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        if arg.len() > MAX_INGRESS_PAYLOAD_BYTES {
            return Err(HostError::PayloadTooLarge {
                size: arg.len(),
                limit: MAX_INGRESS_PAYLOAD_BYTES,
            });
        }
        let c = self.canister(canister)?;
        let reject = |r: Reject| {
            Ok(CallOutcome {
                result: Err(r),
                instructions: 0,
                message_instructions: 0,
            })
        };
        let Some(rt) = c.runtime.as_ref() else {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no Wasm module installed"),
            ));
        };
        if c.state.status != CanisterStatus::Running {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} is not running"),
            ));
        }
        let (kind, export) = if rt.exports(&format!("canister_query {method}")) {
            (ApiKind::Query, format!("canister_query {method}"))
        } else if rt.exports(&format!("canister_composite_query {method}")) {
            (
                ApiKind::CompositeQuery,
                format!("canister_composite_query {method}"),
            )
        } else {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no query method '{method}'"),
            ));
        };
        let mut ctx = self.ctx(kind, sender, method, arg, self.config.limits.query);
        ctx.max_reply = MAX_QUERY_REPLY_BYTES;
        ctx.can_respond = true;
        ctx.data_certificate = Some(Arc::new(self.data_certificate(canister)));
        let ex = self
            .run(canister, &Entry::Export(export), ctx, false)
            .expect("installed");
        let result = match (ex.result, ex.ctx.response) {
            (Err(e), _) => Err(e.into_reject(&canister)),
            (Ok(()), Some(Response::Reply(b))) => Ok(b),
            (Ok(()), Some(Response::Reject(m))) => Err(Reject::new(RejectCode::CanisterReject, m)),
            (Ok(()), None) => Err(Reject::new(
                RejectCode::CanisterError,
                format!("Error from Canister {canister}: Canister did not reply to the call"),
            )),
        };
        Ok(CallOutcome {
            result,
            instructions: ex.instructions,
            message_instructions: ex.instructions,
        })
    }

    /// The certificate a query to `canister` would get now: a witness of
    /// `/canister/<canister>/certified_data` and `/time` in [`Self::state_tree`].
    pub fn data_certificate(&self, canister: Principal) -> Vec<u8> {
        let paths = [
            vec![
                b"canister".to_vec(),
                canister.as_slice().to_vec(),
                b"certified_data".to_vec(),
            ],
            vec![b"time".to_vec()],
        ];
        self.sign_tree(self.state_tree().witness(&paths))
    }

    /// The certified state tree now (layout in [`crate::certificate`]).
    pub fn state_tree(&self) -> LabeledTree {
        let mut tree = LabeledTree::default();
        for (id, c) in &self.canisters {
            let base: [&[u8]; 2] = [b"canister", id.as_slice()];
            let at = |name: &'static [u8]| [base[0], base[1], name];
            tree.insert(
                &at(b"certified_data"),
                LabeledTree::Leaf(c.state.certified_data.clone()),
            );
            if let Some(hash) = c.state.module_hash {
                tree.insert(&at(b"module_hash"), LabeledTree::Leaf(hash.to_vec()));
            }
            let controllers = ciborium::Value::Array(
                c.state
                    .controllers
                    .iter()
                    .map(|p| ciborium::Value::Bytes(p.as_slice().to_vec()))
                    .collect(),
            );
            tree.insert(
                &at(b"controllers"),
                LabeledTree::Leaf(self_describing_cbor(controllers)),
            );
        }
        let subnet: [&[u8]; 2] = [b"subnet", self.subnet_id.as_slice()];
        tree.insert(
            &[subnet[0], subnet[1], b"public_key"],
            LabeledTree::Leaf(self.root_key_der.as_ref().clone()),
        );
        let (first, last) = Self::canister_range();
        let ranges = ciborium::Value::Array(vec![ciborium::Value::Array(vec![
            ciborium::Value::Bytes(first.as_slice().to_vec()),
            ciborium::Value::Bytes(last.as_slice().to_vec()),
        ])]);
        let ranges = self_describing_cbor(ranges);
        tree.insert(
            &[b"canister_ranges", subnet[1], first.as_slice()],
            LabeledTree::Leaf(ranges.clone()),
        );
        tree.insert(
            &[subnet[0], subnet[1], b"canister_ranges"],
            LabeledTree::Leaf(ranges),
        );
        for (node, key) in &self.node_keys {
            tree.insert(
                &[
                    subnet[0],
                    subnet[1],
                    b"node",
                    node.as_slice(),
                    b"public_key",
                ],
                LabeledTree::Leaf(key.clone()),
            );
        }
        tree.insert(&[b"time"], LabeledTree::Leaf(leb128(self.time_ns)));
        tree
    }

    /// Signs a (witness) tree with the root key: a certificate, CBOR with tag 55799.
    pub fn sign_tree(&self, tree: ic_certification::HashTree) -> Vec<u8> {
        encode_certificate(tree, &self.root_key)
    }

    /// The first and last id of the canisters this host creates (its subnet's only range).
    pub fn canister_range() -> (Principal, Principal) {
        (canister_id(0), canister_id(u64::MAX))
    }

    /// Declares the subnet's nodes: (node id, DER public key) pairs published at
    /// `/subnet/<subnet id>/node/<node id>/public_key`, which agents use to check signed
    /// query responses.
    pub fn set_node_public_keys(&mut self, nodes: Vec<(Principal, Vec<u8>)>) {
        self.node_keys = nodes;
    }

    /// 32 bytes derived from the host's seed for `purpose` (e.g. a node's signing key), so
    /// keys stay the same across restarts of a host with the same seed.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"icinfer-host derived secret v1");
        h.update((purpose.len() as u64).to_be_bytes());
        h.update(purpose.as_bytes());
        h.update(&self.config.seed);
        h.finalize().into()
    }

    /// Runs heartbeats and due global timers, then every queued message; advances time by 1 ns.
    pub fn tick(&mut self) {
        let ids: Vec<Principal> = self.canisters.keys().copied().collect();
        for id in ids {
            let c = &mut self.canisters.get_mut(&id).expect("listed");
            if c.state.status != CanisterStatus::Running {
                continue;
            }
            let Some(rt) = c.runtime.as_ref() else {
                continue;
            };
            let heartbeat = rt.exports("canister_heartbeat");
            let timer_due = c.state.global_timer != 0
                && c.state.global_timer <= self.time_ns
                && rt.exports("canister_global_timer");
            if heartbeat {
                self.system_task(id, ApiKind::Heartbeat, "canister_heartbeat");
            }
            if timer_due {
                self.canisters
                    .get_mut(&id)
                    .expect("listed")
                    .state
                    .global_timer = 0;
                self.system_task(id, ApiKind::GlobalTimer, "canister_global_timer");
            }
        }
        self.run_queue();
        self.time_ns += 1;
    }

    // ----- Persistence support (see `persist`).

    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        (self.next_canister, self.next_id, self.raw_rand_counter)
    }

    pub(crate) fn restore_counters(&mut self, time_ns: u64, counters: (u64, u64, u64)) {
        self.time_ns = time_ns;
        (self.next_canister, self.next_id, self.raw_rand_counter) = counters;
    }

    pub(crate) fn canisters_mut(&mut self) -> impl Iterator<Item = (&Principal, &mut Canister)> {
        self.canisters.iter_mut()
    }

    pub(crate) fn validation_limits(&self) -> ValidationLimits {
        self.config.validation.clone()
    }

    pub(crate) fn module_cache_dir(&self) -> Option<PathBuf> {
        self.config.module_cache_dir.clone()
    }

    pub(crate) fn restore_canister(
        &mut self,
        state: CanisterState,
        module: Option<(Arc<engine::CompiledModule>, InstanceSnapshot, Vec<u8>)>,
        logs: Vec<LogRecord>,
    ) -> Result<(), HostError> {
        let id = state
            .id
            .ok_or_else(|| HostError::Persist("a canister without id".into()))?;
        let (runtime, wasm) = match module {
            Some((compiled, snapshot, wasm)) => {
                let mut rt = Runtime::new(compiled, StoreData::default())?;
                rt.restore_snapshot(snapshot)?;
                (Some(rt), Some(Arc::new(wasm)))
            }
            None => (None, None),
        };
        self.canisters.insert(
            id,
            Canister {
                state,
                runtime,
                logs,
                wasm,
            },
        );
        Ok(())
    }

    // ----- Internals.

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
        ctx: ExecContext,
        keep: bool,
    ) -> Option<Executed> {
        let c = self.canisters.get_mut(&id)?;
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

    fn system_task(&mut self, id: Principal, kind: ApiKind, export: &str) {
        let cc = self.fresh_id();
        self.call_contexts.insert(
            cc,
            CallContext {
                canister: id,
                caller: Principal::management_canister(),
                origin: Origin::System,
                responded: true,
                outstanding: 0,
                instructions: 0,
                first_instructions: None,
                cycles: 0,
            },
        );
        let ctx = self.ctx(
            kind,
            Principal::management_canister(),
            "",
            &[],
            self.config.limits.update,
        );
        if let Some(ex) = self.run(id, &Entry::Export(export.into()), ctx, true) {
            self.finish(cc, ex);
        }
    }

    fn run_queue(&mut self) {
        let mut processed = 0usize;
        while let Some(m) = self.queue.pop_front() {
            processed += 1;
            if processed > self.config.max_messages_per_round {
                self.queue.clear();
                break;
            }
            match m {
                Message::Request {
                    caller,
                    callee,
                    method,
                    arg,
                    cycles,
                    origin,
                } => self.deliver_request(caller, callee, method, arg, cycles, origin),
                Message::Response {
                    callback,
                    result,
                    refund,
                } => self.deliver_response(callback, result, refund),
            }
        }
    }

    fn respond(&mut self, origin: Origin, result: Result<Vec<u8>, Reject>, refund: u128) {
        match origin {
            Origin::Ingress(id) => {
                self.ingress_results.insert(id, result);
            }
            Origin::Canister { callback } => self.queue.push_back(Message::Response {
                callback,
                result,
                refund,
            }),
            Origin::System => {}
        }
    }

    fn management(&mut self, method: &str) -> Result<Vec<u8>, Reject> {
        match method {
            "raw_rand" => {
                self.raw_rand_counter += 1;
                let mut h = Sha256::new();
                h.update(b"icinfer-host raw_rand");
                h.update(&self.config.seed);
                h.update(self.raw_rand_counter.to_be_bytes());
                let bytes: Vec<u8> = h.finalize().to_vec();
                Ok(candid::encode_one(bytes).expect("encoding a blob cannot fail"))
            }
            other => Err(Reject::new(
                RejectCode::DestinationInvalid,
                format!("Management canister method '{other}' is not supported by icinfer-host"),
            )),
        }
    }

    fn deliver_request(
        &mut self,
        caller: Principal,
        callee: Principal,
        method: String,
        arg: Vec<u8>,
        cycles: u128,
        origin: Origin,
    ) {
        if callee == Principal::management_canister() {
            let result = self.management(&method);
            return self.respond(origin, result, cycles);
        }
        let reject = |code, msg: String| Err(Reject::new(code, msg));
        let Some(c) = self.canisters.get(&callee) else {
            return self.respond(
                origin,
                reject(
                    RejectCode::DestinationInvalid,
                    format!("Canister {callee} not found"),
                ),
                cycles,
            );
        };
        let Some(rt) = c.runtime.as_ref() else {
            return self.respond(
                origin,
                reject(
                    RejectCode::CanisterError,
                    format!("Error from Canister {callee}: Canister has no Wasm module installed"),
                ),
                cycles,
            );
        };
        match c.state.status {
            CanisterStatus::Running => {}
            CanisterStatus::Stopping => {
                return self.respond(
                    origin,
                    reject(
                        RejectCode::CanisterError,
                        format!("Canister {callee} is stopping"),
                    ),
                    cycles,
                );
            }
            CanisterStatus::Stopped => {
                return self.respond(
                    origin,
                    reject(
                        RejectCode::CanisterError,
                        format!("Canister {callee} is stopped"),
                    ),
                    cycles,
                );
            }
        }
        let (kind, export) = if rt.exports(&format!("canister_update {method}")) {
            (ApiKind::Update, format!("canister_update {method}"))
        } else if rt.exports(&format!("canister_query {method}")) {
            (ApiKind::ReplicatedQuery, format!("canister_query {method}"))
        } else if rt.exports(&format!("canister_composite_query {method}")) {
            return self.respond(origin, reject(RejectCode::CanisterError, format!("Error from Canister {callee}: composite query '{method}' cannot be called in replicated mode")), cycles);
        } else {
            return self.respond(
                origin,
                reject(
                    RejectCode::CanisterError,
                    format!(
                        "Error from Canister {callee}: Canister has no update method '{method}'"
                    ),
                ),
                cycles,
            );
        };
        let cc = self.fresh_id();
        self.call_contexts.insert(
            cc,
            CallContext {
                canister: callee,
                caller,
                origin,
                responded: false,
                outstanding: 0,
                instructions: 0,
                first_instructions: None,
                cycles,
            },
        );
        let mut ctx = self.ctx(kind, caller, &method, &arg, self.config.limits.update);
        ctx.can_respond = true;
        ctx.cycles_available = cycles;
        // Queries called as updates run in replicated mode and keep nothing.
        let ex = self
            .run(callee, &Entry::Export(export), ctx, kind == ApiKind::Update)
            .expect("installed");
        self.finish(cc, ex);
    }

    fn deliver_response(&mut self, callback: u64, result: Result<Vec<u8>, Reject>, refund: u128) {
        let Some(cb) = self.callbacks.remove(&callback) else {
            return;
        };
        let Some(cc) = self.call_contexts.get_mut(&cb.call_context) else {
            return;
        };
        cc.outstanding = cc.outstanding.saturating_sub(1);
        let (caller, can_respond, cc_instructions, cc_cycles) =
            (cc.caller, !cc.responded, cc.instructions, cc.cycles);
        let runnable = self
            .canisters
            .get(&cb.canister)
            .is_some_and(|c| c.runtime.is_some() && c.state.version == cb.version);
        if !runnable {
            let ex = Executed {
                result: Err(ExecError::Engine(
                    "the canister was uninstalled or upgraded while the call was outstanding"
                        .into(),
                )),
                instructions: 0,
                ctx: ExecContext::default(),
            };
            return self.finish(cb.call_context, ex);
        }
        if let Some(c) = self.canisters.get_mut(&cb.canister) {
            c.state.cycles = c.state.cycles.saturating_add(refund);
        }
        let (kind, fun, arg, reject) = match result {
            Ok(bytes) => (ApiKind::ReplyCallback, cb.call.reply, bytes, None),
            Err(r) => (ApiKind::RejectCallback, cb.call.reject, Vec::new(), Some(r)),
        };
        let mut ctx = self.ctx(kind, caller, "", &arg, self.config.limits.update);
        ctx.reject = reject;
        ctx.can_respond = can_respond;
        ctx.cycles_available = cc_cycles;
        ctx.cycles_refunded = refund;
        ctx.call_context_instructions = cc_instructions;
        let mut ex = self
            .run(
                cb.canister,
                &Entry::Table {
                    fun: fun.0,
                    env: fun.1,
                },
                ctx,
                true,
            )
            .expect("runnable");
        if ex.result.is_err()
            && let Some((fun, env)) = cb.call.cleanup
        {
            let ctx = self.ctx(ApiKind::Cleanup, caller, "", &[], self.config.limits.update);
            if let Some(cleanup) = self.run(cb.canister, &Entry::Table { fun, env }, ctx, true) {
                ex.instructions += cleanup.instructions;
            }
        }
        self.finish(cb.call_context, ex);
    }

    /// Applies an execution's outputs to its call context.
    fn finish(&mut self, cc_id: u64, ex: Executed) {
        let Some(cc) = self.call_contexts.get_mut(&cc_id) else {
            return;
        };
        cc.instructions += ex.instructions;
        cc.first_instructions.get_or_insert(ex.instructions);
        let canister = cc.canister;
        let version = self.canisters.get(&canister).map_or(0, |c| c.state.version);
        if let Origin::Ingress(id) = cc.origin {
            self.ingress_instructions
                .insert(id, (cc.instructions, cc.first_instructions.unwrap_or(0)));
        }
        let mut responses = Vec::new();
        if ex.result.is_ok() {
            let ctx = ex.ctx;
            cc.cycles -= ctx.cycles_accepted.min(cc.cycles);
            for mut call in ctx.calls {
                self.next_id += 1;
                let callback = self.next_id;
                let payload = std::mem::take(&mut call.payload);
                cc.outstanding += 1;
                self.queue.push_back(Message::Request {
                    caller: canister,
                    callee: call.callee,
                    method: call.method.clone(),
                    arg: payload,
                    cycles: call.cycles,
                    origin: Origin::Canister { callback },
                });
                self.callbacks.insert(
                    callback,
                    Callback {
                        canister,
                        call_context: cc_id,
                        call,
                        version,
                    },
                );
            }
            if let Some(resp) = ctx.response {
                cc.responded = true;
                let result = match resp {
                    Response::Reply(b) => Ok(b),
                    Response::Reject(m) => Err(Reject::new(RejectCode::CanisterReject, m)),
                };
                responses.push((cc.origin, result, std::mem::take(&mut cc.cycles)));
            }
        }
        if !cc.responded && cc.outstanding == 0 {
            let reject = match ex.result {
                Err(e) => e.into_reject(&canister),
                Ok(()) => Reject::new(
                    RejectCode::CanisterError,
                    format!("Error from Canister {canister}: Canister did not reply to the call"),
                ),
            };
            cc.responded = true;
            responses.push((cc.origin, Err(reject), std::mem::take(&mut cc.cycles)));
        }
        if cc.responded && cc.outstanding == 0 {
            self.call_contexts.remove(&cc_id);
            let still_open = self
                .call_contexts
                .values()
                .any(|cc| cc.canister == canister);
            if let Some(c) = self.canisters.get_mut(&canister)
                && c.state.status == CanisterStatus::Stopping
                && !still_open
            {
                c.state.status = CanisterStatus::Stopped;
            }
        }
        for (origin, result, refund) in responses {
            self.respond(origin, result, refund);
        }
    }
}

fn self_describing_cbor(value: ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::Value::Tag(55799, Box::new(value)), &mut out)
        .expect("serialising into a Vec cannot fail");
    out
}

impl StableMemory {
    /// Whether the memory is empty (no pages).
    pub fn is_empty(&self) -> bool {
        self.size_pages() == 0
    }
}
