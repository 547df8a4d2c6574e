//! What [`crate::persist`] needs from the host: its counters, its canisters and the
//! restoration of a saved canister. Nothing else calls these.

use super::{Canister, Host, LogRecord, management};
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
