//! Canister management through the [`Host`] API: creation, controllers, status (stop and
//! start), cycles, and read access to a canister's state, logs and module report.
//!
//! Touches only `Host::canisters` (and reads the open call contexts to decide whether a
//! stopping canister is stopped); it never runs canister code.

use super::{Canister, Host, LogRecord, canister_id, management};
use crate::error::HostError;
use crate::history::{
    Change, ChangeDetails, ChangeOrigin, ControllersChangeRecord, CreationRecord,
};
use crate::runtime::{CanisterState, CanisterStatus};
use candid::Principal;

impl Host {
    fn canister_mut(&mut self, id: Principal) -> Result<&mut Canister, HostError> {
        self.canisters
            .get_mut(&id)
            .ok_or(HostError::CanisterNotFound(id))
    }

    /// Creates an empty canister with the given controllers and the configured initial cycles.
    pub fn create_canister(&mut self, controllers: Vec<Principal>) -> Principal {
        let mut id = canister_id(self.next_canister);
        while super::management::ledger::is_reserved_id(id) {
            self.next_canister += 1;
            id = canister_id(self.next_canister);
        }
        self.next_canister += 1;
        let mut state = CanisterState {
            id: Some(id),
            controllers: controllers.clone(),
            cycles: self.config.initial_cycles,
            ..CanisterState::default()
        };
        // The creator is not passed here; the IC names it, and it is a controller by default.
        let creator = controllers
            .first()
            .copied()
            .unwrap_or(Principal::anonymous());
        state.history.record(Change {
            timestamp_nanos: self.time_ns,
            canister_version: 0,
            origin: self.change_origin(creator),
            details: ChangeDetails::Creation(CreationRecord {
                controllers,
                environment_variables_hash: None,
            }),
        });
        self.canisters.insert(
            id,
            Canister {
                state,
                runtime: None,
                logs: Vec::new(),
                logs_journaled: 0,
                managed_journaled: Default::default(),
                wasm: None,
                managed: management::Managed::with_wasm_memory_limit(
                    self.config.memory.default_wasm_memory_limit,
                ),
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
        let c = self.canister_mut(canister)?;
        c.state.cycles = c.state.cycles.saturating_add(amount);
        Ok(c.state.cycles)
    }

    /// Log records of a canister, oldest first.
    pub fn logs(&self, canister: Principal) -> &[LogRecord] {
        self.canisters.get(&canister).map_or(&[], |c| &c.logs)
    }

    /// Size of the canister's Wasm heap in bytes (0 when empty).
    pub fn heap_size(&mut self, canister: Principal) -> Result<usize, HostError> {
        let c = self.canister_mut(canister)?;
        Ok(c.runtime.as_mut().map_or(0, |r| r.heap_size()))
    }

    /// Replaces a canister's stable memory with `image` between messages, keeping its heap
    /// and module. Not an IC operation (the IC restores stable memory only with a whole
    /// canister snapshot): a test fixture for loading an image an earlier release wrote (a
    /// golden file), or a layout the installed code does not know, before an upgrade reads
    /// it. The journal writes the new memory whole.
    pub fn load_stable_memory_image(
        &mut self,
        canister: Principal,
        image: &[u8],
    ) -> Result<(), HostError> {
        let c = self.canister_mut(canister)?;
        c.state.stable_memory = crate::stable::StableMemory::from_bytes(image);
        Ok(())
    }

    /// Replaces the controllers.
    pub fn set_controllers(
        &mut self,
        canister: Principal,
        sender: Principal,
        controllers: Vec<Principal>,
    ) -> Result<(), HostError> {
        self.check_controller(canister, sender)?;
        self.change_controllers(canister, sender, controllers);
        Ok(())
    }

    /// Replaces the controllers and records the change in the canister's history.
    pub(crate) fn change_controllers(
        &mut self,
        canister: Principal,
        sender: Principal,
        controllers: Vec<Principal>,
    ) {
        let origin = self.change_origin(sender);
        let time = self.time_ns;
        let state = &mut self.canisters.get_mut(&canister).expect("checked").state;
        state.controllers = controllers.clone();
        state.history.record(Change {
            timestamp_nanos: time,
            canister_version: state.version,
            origin,
            details: ChangeDetails::ControllersChange(ControllersChangeRecord { controllers }),
        });
    }

    /// Who made a change, as the canister history names it: a canister of this host, or a user.
    pub(crate) fn change_origin(&self, sender: Principal) -> ChangeOrigin {
        match self.canisters.get(&sender) {
            Some(c) => ChangeOrigin::FromCanister {
                canister_id: sender,
                canister_version: Some(c.state.version),
            },
            None => ChangeOrigin::FromUser { user_id: sender },
        }
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
}
