//! One canister's live instance and the execution of one message on it.
//!
//! [`Runtime::execute`] runs one entry point (an export or a callback from the function table)
//! with fuel set to the message's instruction limit. Before it runs, the host takes a snapshot
//! of the heap (one copy into a reused buffer), of every mutable global (exported by the
//! module rewrite), of the small system state (certified data, timer, cycles) and opens a
//! transaction on stable memory (an undo log of the pages written). If the message traps, runs
//! out of instructions, or is a query, the snapshot is restored; otherwise the undo log is
//! dropped. A heap that grew during a failed message cannot shrink in place, so the instance is
//! re-created (the module's start function was turned into an export and does not run again)
//! and the snapshot copied into it.
//!
//! The count is the fuel used plus, after the run as on the replica, 1,000 for every 4 KiB page
//! of the heap that differs from the snapshot ([`crate::cost::DIRTY_PAGE_OVERHEAD`]); a message
//! that runs over its limit that way fails with the limit.

use crate::cost::DIRTY_PAGE_OVERHEAD;
use crate::engine::{self, CompiledModule, MEMORY_EXPORT, TABLE_EXPORT};
use crate::error::{HostError, Reject, RejectCode};
use crate::stable::{PAGE_SIZE, StableMemory};
use candid::Principal;
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmtime::{Global, Instance, Memory, ResourceLimiter, Store, Table, Val};

/// Execution status of a canister, as `ic0.canister_status` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CanisterStatus {
    /// Accepts calls.
    #[default]
    Running = 1,
    /// Stop requested; finishing open call contexts.
    Stopping = 2,
    /// Stopped: calls are rejected.
    Stopped = 3,
}

/// A canister's durable state, outside the Wasm instance. Plain data, so a later `serve`
/// mode can persist it (with the heap and globals taken from the instance).
#[derive(Clone, Debug, Default)]
pub struct CanisterState {
    /// The canister's id.
    pub id: Option<Principal>,
    /// Controllers.
    pub controllers: Vec<Principal>,
    /// SHA-256 of the installed module, as given at installation.
    pub module_hash: Option<[u8; 32]>,
    /// Running, stopping or stopped.
    pub status: CanisterStatus,
    /// Incremented by every successful install, upgrade and reinstall (and by nothing else).
    pub version: u64,
    /// The certified data (at most 32 bytes).
    pub certified_data: Vec<u8>,
    /// The global timer deadline in ns since the epoch; 0 when unset.
    pub global_timer: u64,
    /// Cycle balance.
    pub cycles: u128,
    /// Stable memory.
    pub stable_memory: StableMemory,
    /// Creation, code deployments and controller changes, as `canister_info` reports them.
    pub history: crate::history::CanisterHistory,
}

/// Which kind of entry point runs; decides which System API calls are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ApiKind {
    #[default]
    Start,
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    ReplicatedQuery,
    Query,
    CompositeQuery,
    InspectMessage,
    ReplyCallback,
    RejectCallback,
    Cleanup,
    GlobalTimer,
    Heartbeat,
}

impl ApiKind {
    pub fn name(self) -> &'static str {
        match self {
            ApiKind::Start => "start",
            ApiKind::Init => "init",
            ApiKind::PreUpgrade => "pre_upgrade",
            ApiKind::PostUpgrade => "post_upgrade",
            ApiKind::Update => "update",
            ApiKind::ReplicatedQuery => "replicated query",
            ApiKind::Query => "non-replicated query",
            ApiKind::CompositeQuery => "composite query",
            ApiKind::InspectMessage => "inspect message",
            ApiKind::ReplyCallback => "reply callback",
            ApiKind::RejectCallback => "reject callback",
            ApiKind::Cleanup => "cleanup",
            ApiKind::GlobalTimer => "global timer",
            ApiKind::Heartbeat => "heartbeat",
        }
    }
    pub fn can_reply(self) -> bool {
        matches!(
            self,
            ApiKind::Update
                | ApiKind::ReplicatedQuery
                | ApiKind::Query
                | ApiKind::CompositeQuery
                | ApiKind::ReplyCallback
                | ApiKind::RejectCallback
        )
    }
    pub fn can_call(self) -> bool {
        matches!(
            self,
            ApiKind::Update
                | ApiKind::ReplyCallback
                | ApiKind::RejectCallback
                | ApiKind::GlobalTimer
                | ApiKind::Heartbeat
        )
    }
    pub fn has_arg(self) -> bool {
        matches!(
            self,
            ApiKind::Init
                | ApiKind::PostUpgrade
                | ApiKind::Update
                | ApiKind::ReplicatedQuery
                | ApiKind::Query
                | ApiKind::CompositeQuery
                | ApiKind::InspectMessage
                | ApiKind::ReplyCallback
        )
    }
    pub fn is_query(self) -> bool {
        matches!(
            self,
            ApiKind::ReplicatedQuery | ApiKind::Query | ApiKind::CompositeQuery
        )
    }
    pub fn is_replicated(self) -> bool {
        !matches!(
            self,
            ApiKind::Query | ApiKind::CompositeQuery | ApiKind::InspectMessage
        )
    }
}

/// An outgoing call being assembled (`call_new` .. `call_perform`).
#[derive(Clone, Debug)]
pub(crate) struct OutgoingCall {
    pub callee: Principal,
    pub method: String,
    pub payload: Vec<u8>,
    pub cycles: u128,
    pub reply: (u32, u32),
    pub reject: (u32, u32),
    pub cleanup: Option<(u32, u32)>,
    pub best_effort_timeout: Option<u32>,
}

/// The response an execution produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Response {
    Reply(Vec<u8>),
    Reject(String),
}

/// Per-execution context: inputs and the outputs the System API collects.
pub(crate) struct ExecContext {
    pub kind: ApiKind,
    pub caller: Principal,
    pub method: String,
    pub arg: Vec<u8>,
    pub reject: Option<Reject>,
    pub time: u64,
    pub limit: u64,
    pub call_context_instructions: u64,
    /// The call context has not responded yet (and the kind may respond).
    pub can_respond: bool,
    pub max_reply: usize,
    pub max_call_payload: usize,
    pub reply_buf: Vec<u8>,
    pub response: Option<Response>,
    pub accepted: bool,
    pub cycles_available: u128,
    pub cycles_accepted: u128,
    pub cycles_refunded: u128,
    pub pending_call: Option<OutgoingCall>,
    pub calls: Vec<OutgoingCall>,
    pub data_certificate: Option<Arc<Vec<u8>>>,
    pub root_key_der: Arc<Vec<u8>>,
    pub subnet_id: Option<Principal>,
    pub logs: Vec<String>,
    /// Bytes of stable memory the execution may access (read or write), counted in 4 KiB
    /// pages, each once ([`crate::host::MemoryLimits`]).
    pub stable_access_limit: u64,
    /// Distinct 4 KiB stable pages accessed so far.
    pub stable_pages_accessed: std::collections::HashSet<u64>,
    /// The canister's `wasm_memory_limit` where the replica enforces it (updates, timers,
    /// heartbeats, init and post_upgrade; not queries or callbacks); 0 means none.
    pub wasm_memory_limit: Option<u64>,
}

impl ExecContext {
    /// Counts the pages of `offset..offset + size` as accessed; fails past the limit with
    /// the replica's message.
    pub fn access_stable(&mut self, offset: u64, size: u64) -> Result<(), HostTrap> {
        if size == 0 || self.stable_access_limit == u64::MAX {
            return Ok(());
        }
        let page = PAGE_SIZE as u64;
        for p in offset / page..=(offset + size - 1) / page {
            self.stable_pages_accessed.insert(p);
        }
        if self.stable_pages_accessed.len() as u64 * page > self.stable_access_limit {
            return Err(HostTrap::MemoryAccessLimitExceeded(format!(
                "Exceeded the limit for the number of accessed pages in the stable memory in a \
                 single message execution: limit {} KB for {}.",
                self.stable_access_limit / 1024,
                self.kind.name()
            )));
        }
        Ok(())
    }
}

impl Default for ExecContext {
    fn default() -> Self {
        ExecContext {
            kind: ApiKind::default(),
            caller: Principal::anonymous(),
            method: String::new(),
            arg: Vec::new(),
            reject: None,
            time: 0,
            limit: 0,
            call_context_instructions: 0,
            can_respond: false,
            max_reply: 0,
            max_call_payload: 0,
            reply_buf: Vec::new(),
            response: None,
            accepted: false,
            cycles_available: 0,
            cycles_accepted: 0,
            cycles_refunded: 0,
            pending_call: None,
            calls: Vec::new(),
            data_certificate: None,
            root_key_der: Arc::default(),
            subnet_id: None,
            logs: Vec::new(),
            stable_access_limit: u64::MAX,
            stable_pages_accessed: Default::default(),
            wasm_memory_limit: None,
        }
    }
}

/// Store data of a canister's instance.
#[derive(Default)]
pub(crate) struct StoreData {
    pub state: CanisterState,
    pub ctx: ExecContext,
    pub memory: Option<Memory>,
}

impl StoreData {
    pub fn canister_id(&self) -> Principal {
        self.state.id.unwrap_or_else(Principal::anonymous)
    }
}

impl ResourceLimiter for StoreData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(limit) = self.ctx.wasm_memory_limit
            && limit > 0
            && desired as u64 > limit
        {
            return Err(wasmtime::Error::new(HostTrap::WasmMemoryLimitExceeded {
                limit,
                peak: desired as u64,
            }));
        }
        Ok(maximum.is_none_or(|m| desired <= m) && desired <= 4 << 30)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}

/// Traps raised by the System API.
#[derive(Debug)]
pub(crate) enum HostTrap {
    /// `ic0.trap` with the canister's message.
    CalledTrap(String),
    /// A System API call not allowed here, or with bad arguments.
    ContractViolation(String),
    /// The instruction limit was reached while charging a System API call.
    OutOfInstructions,
    /// The execution accessed more stable memory than its kind may.
    MemoryAccessLimitExceeded(String),
    /// The heap would grow past the canister's `wasm_memory_limit`.
    WasmMemoryLimitExceeded { limit: u64, peak: u64 },
}

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostTrap::CalledTrap(m) => write!(f, "called ic0.trap: {m}"),
            HostTrap::ContractViolation(m) => write!(f, "contract violation: {m}"),
            HostTrap::OutOfInstructions => write!(f, "out of instructions"),
            HostTrap::MemoryAccessLimitExceeded(m) => write!(f, "{m}"),
            HostTrap::WasmMemoryLimitExceeded { limit, peak } => {
                write!(f, "wasm memory limit {limit} exceeded: {peak}")
            }
        }
    }
}

impl std::error::Error for HostTrap {}

/// Why an execution failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The canister called `ic0.trap`.
    CalledTrap(String),
    /// A Wasm trap (unreachable, out-of-bounds access, division by zero, stack overflow, ...).
    Trapped(String),
    /// The canister used a System API call where it is not allowed or with bad arguments.
    ContractViolation(String),
    /// The message reached its instruction limit.
    InstructionLimitExceeded(u64),
    /// The message accessed more stable memory than its kind may (the replica's
    /// `MemoryAccessLimitExceeded`; the message says which limit).
    MemoryAccessLimitExceeded(String),
    /// The heap would have grown past the canister's `wasm_memory_limit`.
    WasmMemoryLimitExceeded { limit: u64, peak: u64 },
    /// The entry point is missing or the engine failed.
    Engine(String),
}

impl ExecError {
    /// The message the IC would put in the reject (without the "Error from Canister" prefix).
    pub fn describe(&self) -> String {
        match self {
            ExecError::CalledTrap(m) => format!("Canister called `ic0.trap` with message: '{m}'"),
            ExecError::Trapped(m) => format!("Canister trapped: {m}"),
            ExecError::ContractViolation(m) => format!("Canister violated contract: {m}"),
            ExecError::InstructionLimitExceeded(l) => format!(
                "Canister exceeded the limit of {l} instructions for single message execution."
            ),
            ExecError::MemoryAccessLimitExceeded(m) => m.clone(),
            ExecError::WasmMemoryLimitExceeded { limit, peak } => format!(
                "Canister exceeded its current Wasm memory limit of {limit} bytes. The peak Wasm \
                 memory usage was {peak} bytes. If such high Wasm memory usage is expected and \
                 safe, then the developer can increase the Wasm memory limit in the canister \
                 settings."
            ),
            ExecError::Engine(m) => format!("Canister could not be executed: {m}"),
        }
    }

    pub(crate) fn into_reject(self, canister: &Principal) -> Reject {
        Reject::new(
            RejectCode::CanisterError,
            format!("Error from Canister {canister}: {}", self.describe()),
        )
    }
}

/// 4 KiB pages of `after` whose bytes differ from `before` (past its end, from zeros: pages
/// the message grew the heap by), by index.
fn dirty_pages(before: &[u8], after: &[u8]) -> Vec<u64> {
    const ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];
    after
        .chunks(PAGE_SIZE)
        .enumerate()
        .filter(|(i, page)| {
            let old = before
                .get(i * PAGE_SIZE..i * PAGE_SIZE + page.len())
                .unwrap_or(&ZEROS[..page.len()]);
            *page != old
        })
        .map(|(i, _)| i as u64)
        .collect()
}

/// What to run.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    Export(String),
    /// A function from table 0, called with `env`.
    Table {
        fun: u32,
        env: u32,
    },
}

/// Result of one execution.
pub(crate) struct Executed {
    pub result: Result<(), ExecError>,
    pub instructions: u64,
    pub ctx: ExecContext,
}

/// Heap and globals of an instance.
pub(crate) struct InstanceSnapshot {
    pub heap: Vec<u8>,
    /// Memory size in 64 KiB Wasm pages (`None` without a memory).
    pub pages: Option<u64>,
    pub globals: Vec<Val>,
}

/// What changed in an instance since the journal last asked ([`Runtime::take_unjournaled`]).
pub(crate) struct HeapDelta {
    /// Memory size in 64 KiB Wasm pages (`None` without a memory).
    pub size_pages: Option<u64>,
    /// The heap is new (or was put back whole): `pages` are all its non-zero pages.
    pub whole: bool,
    /// Changed 4 KiB pages, by index.
    pub pages: Vec<(u64, Vec<u8>)>,
    pub globals: Vec<Val>,
}

/// A canister's live instance.
pub(crate) struct Runtime {
    pub module: Arc<CompiledModule>,
    store: Store<StoreData>,
    instance: Instance,
    globals: Vec<Global>,
    table: Option<Table>,
    heap_snapshot: Vec<u8>,
    /// 4 KiB heap pages changed by committed executions since the journal last took them.
    unjournaled: BTreeSet<u64>,
    /// Whether the journal holds this heap's earlier contents (false for a new instance).
    journaled: bool,
}

fn convert_error(err: wasmtime::Error, limit: u64) -> ExecError {
    if let Some(t) = err.downcast_ref::<HostTrap>() {
        return match t {
            HostTrap::CalledTrap(m) => ExecError::CalledTrap(m.clone()),
            HostTrap::ContractViolation(m) => ExecError::ContractViolation(m.clone()),
            HostTrap::OutOfInstructions => ExecError::InstructionLimitExceeded(limit),
            HostTrap::MemoryAccessLimitExceeded(m) => {
                ExecError::MemoryAccessLimitExceeded(m.clone())
            }
            HostTrap::WasmMemoryLimitExceeded { limit, peak } => {
                ExecError::WasmMemoryLimitExceeded {
                    limit: *limit,
                    peak: *peak,
                }
            }
        };
    }
    if let Some(t) = err.downcast_ref::<wasmtime::Trap>() {
        if *t == wasmtime::Trap::OutOfFuel {
            return ExecError::InstructionLimitExceeded(limit);
        }
        return ExecError::Trapped(t.to_string());
    }
    ExecError::Trapped(format!("{err:#}"))
}

impl Runtime {
    /// Instantiates the module in a fresh store (the start function does not run).
    pub fn new(module: Arc<CompiledModule>, data: StoreData) -> Result<Runtime, HostError> {
        let mut store = Store::new(engine::engine(), data);
        store.limiter(|d| d as &mut dyn ResourceLimiter);
        let instance = engine::linker()
            .instantiate(&mut store, &module.module)
            .map_err(|e| HostError::Engine(format!("instantiation failed: {e:#}")))?;
        let memory = instance.get_memory(&mut store, MEMORY_EXPORT);
        store.data_mut().memory = memory;
        let globals = module
            .mutable_globals
            .iter()
            .filter_map(|n| instance.get_global(&mut store, n))
            .collect();
        let table = instance.get_table(&mut store, TABLE_EXPORT);
        Ok(Runtime {
            module,
            store,
            instance,
            globals,
            table,
            heap_snapshot: Vec::new(),
            unjournaled: BTreeSet::new(),
            journaled: false,
        })
    }

    /// Whether the module has a start function (run at installation only).
    pub fn has_start(&self) -> bool {
        self.module.has_start
    }

    /// Whether the module exports `name`.
    pub fn exports(&self, name: &str) -> bool {
        self.module.exports_function(name)
    }

    /// Size of the Wasm heap in bytes.
    pub fn heap_size(&mut self) -> usize {
        match self.store.data().memory {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }

    /// Reads the heap (for tests and persistence).
    pub fn heap(&self) -> &[u8] {
        match self.store.data().memory {
            Some(m) => m.data(&self.store),
            None => &[],
        }
    }

    /// Runs one entry point. The canister state is moved into the store for the duration.
    /// With `keep == false`, or on failure, every change is rolled back.
    pub fn execute(
        &mut self,
        state: &mut CanisterState,
        ctx: ExecContext,
        entry: &Entry,
        keep: bool,
    ) -> Executed {
        let limit = ctx.limit;
        // Snapshot.
        let heap_pages = self.store.data().memory.map(|m| m.size(&self.store));
        if let Some(m) = self.store.data().memory {
            self.heap_snapshot.clear();
            self.heap_snapshot.extend_from_slice(m.data(&self.store));
        }
        let globals: Vec<Val> = self
            .globals
            .iter()
            .map(|g| g.get(&mut self.store))
            .collect();
        let small = (
            state.certified_data.clone(),
            state.global_timer,
            state.cycles,
        );
        state.stable_memory.begin();

        std::mem::swap(&mut self.store.data_mut().state, state);
        self.store.data_mut().ctx = ctx;
        let mut result = self
            .store
            .set_fuel(limit)
            .map_err(|e| ExecError::Engine(e.to_string()));
        if result.is_ok() {
            result = self
                .call_on_big_stack(entry)
                .map_err(|e| convert_error(e, limit));
        }
        let fuel = self.store.get_fuel().unwrap_or(0);
        // As the replica, after the run: the heap pages the message dirtied.
        let dirtied = match self.store.data().memory {
            Some(m) => dirty_pages(&self.heap_snapshot, m.data(&self.store)),
            None => Vec::new(),
        };
        let mut instructions =
            (limit - fuel.min(limit)) + DIRTY_PAGE_OVERHEAD * dirtied.len() as u64;
        if instructions > limit && result.is_ok() {
            result = Err(ExecError::InstructionLimitExceeded(limit));
        }
        if matches!(result, Err(ExecError::InstructionLimitExceeded(_))) {
            instructions = limit;
        }
        let ctx = std::mem::take(&mut self.store.data_mut().ctx);
        std::mem::swap(&mut self.store.data_mut().state, state);

        if result.is_ok() && keep {
            state.stable_memory.commit();
            self.unjournaled.extend(dirtied);
        } else {
            state.stable_memory.rollback();
            (state.certified_data, state.global_timer, state.cycles) = small;
            if let Err(e) = self.restore(heap_pages, globals) {
                result = Err(ExecError::Engine(format!("rollback failed: {e}")));
            }
        }
        Executed {
            result,
            instructions,
            ctx,
        }
    }

    /// Runs the entry point on a thread whose stack holds the IC's 5 MiB Wasm stack (test
    /// threads have 2 MiB).
    fn call_on_big_stack(&mut self, entry: &Entry) -> wasmtime::Result<()> {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("icinfer-host-exec".into())
                .stack_size(engine::EXECUTION_THREAD_STACK)
                .spawn_scoped(s, || self.call(entry))
                .map_err(|e| wasmtime::Error::msg(format!("spawning the execution thread: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(wasmtime::Error::msg("the execution thread panicked")))
        })
    }

    fn call(&mut self, entry: &Entry) -> wasmtime::Result<()> {
        match entry {
            Entry::Export(name) => {
                let f = self
                    .instance
                    .get_typed_func::<(), ()>(&mut self.store, name)
                    .map_err(|_| {
                        wasmtime::Error::msg(format!("the module does not export `{name}`"))
                    })?;
                f.call(&mut self.store, ())
            }
            Entry::Table { fun, env } => {
                let table = self.table.ok_or_else(|| {
                    wasmtime::Error::new(HostTrap::ContractViolation(
                        "the module has no function table for callbacks".into(),
                    ))
                })?;
                let func = table
                    .get(&mut self.store, u64::from(*fun))
                    .and_then(|r| r.as_func().flatten().copied())
                    .ok_or_else(|| {
                        wasmtime::Error::new(HostTrap::ContractViolation(format!(
                            "callback {fun} is not a function in the table"
                        )))
                    })?;
                let typed = func.typed::<u32, ()>(&self.store).map_err(|_| {
                    wasmtime::Error::new(HostTrap::ContractViolation(format!(
                        "callback {fun} does not have type [i32] -> []"
                    )))
                })?;
                typed.call(&mut self.store, *env)
            }
        }
    }

    /// A copy of the heap and mutable globals (used around upgrades).
    pub fn snapshot(&mut self) -> InstanceSnapshot {
        let pages = self.store.data().memory.map(|m| m.size(&self.store));
        let heap = self.heap().to_vec();
        let globals = self
            .globals
            .iter()
            .map(|g| g.get(&mut self.store))
            .collect();
        InstanceSnapshot {
            heap,
            pages,
            globals,
        }
    }

    /// Puts back a [`Self::snapshot`].
    pub fn restore_snapshot(&mut self, s: InstanceSnapshot) -> Result<(), HostError> {
        self.heap_snapshot = s.heap;
        // The journal cannot tell which pages the snapshot changed: it takes the heap whole.
        self.journaled = false;
        self.restore(s.pages, s.globals)
    }

    /// The heap pages changed since the last call (all non-zero pages the first time, or after
    /// a snapshot was put back) and the mutable globals, and forgets the pages.
    pub fn take_unjournaled(&mut self) -> HeapDelta {
        let unjournaled = std::mem::take(&mut self.unjournaled);
        let whole = !std::mem::replace(&mut self.journaled, true);
        let size_pages = self.store.data().memory.map(|m| m.size(&self.store));
        let heap = self.heap();
        let page = |i: u64| {
            let start = i as usize * PAGE_SIZE;
            heap.get(start..(start + PAGE_SIZE).min(heap.len()))
        };
        let pages = if whole {
            (0..heap.len().div_ceil(PAGE_SIZE) as u64)
                .filter_map(|i| {
                    page(i)
                        .filter(|p| p.iter().any(|b| *b != 0))
                        .map(|p| (i, p))
                })
                .map(|(i, p)| (i, p.to_vec()))
                .collect()
        } else {
            unjournaled
                .into_iter()
                .filter_map(|i| page(i).map(|p| (i, p.to_vec())))
                .collect()
        };
        let globals = self
            .globals
            .iter()
            .map(|g| g.get(&mut self.store))
            .collect();
        HeapDelta {
            size_pages,
            whole,
            pages,
            globals,
        }
    }

    /// Marks the current heap as held by the journal (after a checkpoint or a replay).
    pub fn mark_journaled(&mut self) {
        self.unjournaled.clear();
        self.journaled = true;
    }

    /// Applies a delta the journal recorded over the current heap (not a whole one: that
    /// builds a new instance from an [`InstanceSnapshot`]).
    pub fn apply(&mut self, delta: HeapDelta) -> Result<(), HostError> {
        let engine_err = |e: wasmtime::Error| HostError::Engine(e.to_string());
        if let (Some(pages), Some(m)) = (delta.size_pages, self.store.data().memory) {
            let cur = m.size(&self.store);
            if pages < cur {
                return Err(HostError::Persist(
                    "the journal shrinks a heap, which Wasm cannot".into(),
                ));
            }
            m.grow(&mut self.store, pages - cur).map_err(engine_err)?;
            let data = m.data_mut(&mut self.store);
            for (i, bytes) in delta.pages {
                let start = i as usize * PAGE_SIZE;
                let dst = start
                    .checked_add(bytes.len())
                    .and_then(|end| data.get_mut(start..end))
                    .ok_or_else(|| {
                        HostError::Persist("a journal page lies beyond the heap".into())
                    })?;
                dst.copy_from_slice(&bytes);
            }
        }
        for (g, v) in self.globals.iter().zip(delta.globals) {
            g.set(&mut self.store, v).map_err(engine_err)?;
        }
        self.mark_journaled();
        Ok(())
    }

    fn restore(&mut self, heap_pages: Option<u64>, globals: Vec<Val>) -> Result<(), HostError> {
        let engine_err = |e: wasmtime::Error| HostError::Engine(e.to_string());
        if let (Some(pages), Some(m)) = (heap_pages, self.store.data().memory)
            && m.size(&self.store) != pages
        {
            // The heap grew: re-create the instance, then copy the snapshot in.
            let data = std::mem::take(self.store.data_mut());
            let mut fresh = Runtime::new(self.module.clone(), data)?;
            std::mem::swap(&mut fresh.heap_snapshot, &mut self.heap_snapshot);
            std::mem::swap(&mut fresh.unjournaled, &mut self.unjournaled);
            fresh.journaled = self.journaled;
            *self = fresh;
            let m = self.store.data().memory.expect("same module, same memory");
            let cur = m.size(&self.store);
            if pages > cur {
                m.grow(&mut self.store, pages - cur).map_err(engine_err)?;
            }
        }
        if let Some(m) = self.store.data().memory {
            m.data_mut(&mut self.store)[..self.heap_snapshot.len()]
                .copy_from_slice(&self.heap_snapshot);
        }
        for (g, v) in self.globals.iter().zip(globals) {
            g.set(&mut self.store, v).map_err(engine_err)?;
        }
        Ok(())
    }
}
