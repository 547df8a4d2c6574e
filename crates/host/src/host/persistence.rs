//! What [`crate::persist`] and [`crate::journal`] need from the host: its counters, its
//! canisters, the ingress history and the restoration of saved state. Nothing else calls these.

use super::{Canister, Host, IngressStatus, LogRecord, management};
use crate::engine;
use crate::error::HostError;
use crate::runtime::{CanisterState, InstanceSnapshot, Runtime, StoreData};
use crate::validate::ValidationLimits;
use candid::Principal;
use std::path::PathBuf;
use std::sync::Arc;

impl Host {
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

    pub(crate) fn canister_entry(&mut self, id: Principal) -> Option<&mut Canister> {
        self.canisters.get_mut(&id)
    }

    /// Drops the canisters not in `keep` (deleted since the journal's previous record).
    pub(crate) fn retain_canisters(&mut self, keep: impl Fn(&Principal) -> bool) {
        self.canisters.retain(|id, _| keep(id));
    }

    pub(crate) fn validation_limits(&self) -> ValidationLimits {
        self.config.validation.clone()
    }

    pub(crate) fn module_cache_dir(&self) -> Option<PathBuf> {
        self.config.module_cache_dir.clone()
    }

    pub(crate) fn checkpoint_generation(&self) -> u64 {
        self.checkpoint_generation
    }

    pub(crate) fn set_checkpoint_generation(&mut self, generation: u64) {
        self.checkpoint_generation = generation;
    }

    pub(crate) fn note_compiled_module(&mut self, hash: [u8; 32]) {
        self.compiled_modules.insert(hash);
    }

    /// Every kept ingress outcome, pruned or not (a checkpoint writes them all).
    pub(crate) fn all_ingress(&self) -> impl Iterator<Item = (&[u8; 32], &IngressStatus)> {
        self.ingress_history.iter()
    }

    /// The ingress outcomes recorded since the journal last took them.
    pub(crate) fn take_unjournaled_ingress(&mut self) -> Vec<([u8; 32], IngressStatus)> {
        std::mem::take(&mut self.unjournaled_ingress)
            .into_iter()
            .filter_map(|id| self.ingress_history.get(&id).map(|s| (id, s.clone())))
            .collect()
    }

    pub(crate) fn restore_ingress(&mut self, request_id: [u8; 32], status: IngressStatus) {
        self.ingress_history.insert(request_id, status);
    }

    /// Marks everything the host holds as written (after a checkpoint or a replay).
    pub(crate) fn mark_all_journaled(&mut self) {
        self.unjournaled_ingress.clear();
        for c in self.canisters.values_mut() {
            c.state.stable_memory.mark_journaled();
            if let Some(rt) = c.runtime.as_mut() {
                rt.mark_journaled();
            }
            c.logs_journaled = c.logs.len();
            c.managed_journaled = crate::journal::ManagedMark::of(c);
        }
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
        if let Some(hash) = state.module_hash {
            self.compiled_modules.insert(hash);
        }
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
                logs_journaled: logs.len(),
                managed_journaled: Default::default(),
                logs,
                wasm,
                managed: management::Managed::with_wasm_memory_limit(
                    self.config.memory.default_wasm_memory_limit,
                ),
            },
        );
        Ok(())
    }
}
