//! Canister settings: the defaults a replica reports, and `update_settings`'s validation
//! (all fields checked before any is applied, so a rejected update changes nothing).

use super::reject;
use super::types::{CanisterSettings, DefiniteCanisterSettings, EnvironmentVariable, Visibility};
use crate::error::{Reject, RejectCode};
use candid::{Nat, Principal};

/// Most controllers a canister may have.
const MAX_CONTROLLERS: usize = 10;
/// Most principals in an `allowed_viewers` list.
const MAX_ALLOWED_VIEWERS: usize = 10;
/// Largest `wasm_memory_limit`: 2^48 - 1.
const MAX_WASM_MEMORY_LIMIT: u64 = (1 << 48) - 1;
/// Largest `log_memory_limit`: 2 MiB.
const MAX_LOG_MEMORY_LIMIT: u64 = 2 * 1024 * 1024;
/// Most environment variables.
const MAX_ENVIRONMENT_VARIABLES: usize = 20;

/// Every setting but the controllers (which live in the canister state).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    compute_allocation: Nat,
    memory_allocation: Nat,
    freezing_threshold: Nat,
    reserved_cycles_limit: Nat,
    minimum_incoming_canister_call_cycles: Nat,
    log_visibility: Visibility,
    log_memory_limit: Nat,
    snapshot_visibility: Visibility,
    status_visibility: Visibility,
    wasm_memory_limit: Nat,
    wasm_memory_threshold: Nat,
    environment_variables: Vec<EnvironmentVariable>,
}

impl Default for Settings {
    /// What a replica reports for a canister created with no settings.
    fn default() -> Self {
        Settings {
            compute_allocation: Nat::from(0u64),
            memory_allocation: Nat::from(0u64),
            freezing_threshold: Nat::from(2_592_000u64),
            reserved_cycles_limit: Nat::from(5_000_000_000_000u64),
            minimum_incoming_canister_call_cycles: Nat::from(0u64),
            log_visibility: Visibility::Controllers,
            log_memory_limit: Nat::from(4096u64),
            snapshot_visibility: Visibility::Controllers,
            status_visibility: Visibility::Controllers,
            wasm_memory_limit: Nat::from(3_221_225_472u64),
            wasm_memory_threshold: Nat::from(0u64),
            environment_variables: Vec::new(),
        }
    }
}

fn invalid(what: String) -> Reject {
    reject(
        RejectCode::CanisterError,
        format!("Could not validate the settings: Invalid settings: {what}"),
    )
}

fn at_most(name: &str, value: &Option<Nat>, max: u64) -> Result<(), Reject> {
    let max = Nat::from(max);
    match value {
        Some(v) if *v > max => Err(invalid(format!("'{name}' must be at most {max}, not {v}."))),
        _ => Ok(()),
    }
}

fn viewers(name: &str, v: &Option<Visibility>) -> Result<(), Reject> {
    match v {
        Some(Visibility::AllowedViewers(list)) if list.len() > MAX_ALLOWED_VIEWERS => {
            Err(invalid(format!(
                "'{name}' allowed viewers length exceeds maximum size allowed of {MAX_ALLOWED_VIEWERS}."
            )))
        }
        _ => Ok(()),
    }
}

impl Settings {
    /// The settings as persistence keeps them: Candid of the `canister_status` record.
    pub(crate) fn encode(&self) -> Vec<u8> {
        candid::encode_one(self.definite(Vec::new())).expect("encoding a record cannot fail")
    }

    /// Puts back settings kept by [`Self::encode`].
    pub(crate) fn restore(&mut self, bytes: &[u8]) -> Result<(), candid::Error> {
        let d: DefiniteCanisterSettings = candid::decode_one(bytes)?;
        *self = Settings {
            compute_allocation: d.compute_allocation,
            memory_allocation: d.memory_allocation,
            freezing_threshold: d.freezing_threshold,
            reserved_cycles_limit: d.reserved_cycles_limit,
            minimum_incoming_canister_call_cycles: d.minimum_incoming_canister_call_cycles,
            log_visibility: d.log_visibility,
            log_memory_limit: d.log_memory_limit,
            snapshot_visibility: d.snapshot_visibility,
            status_visibility: d.status_visibility,
            wasm_memory_limit: d.wasm_memory_limit,
            wasm_memory_threshold: d.wasm_memory_threshold,
            environment_variables: d.environment_variables,
        };
        Ok(())
    }

    /// The `wasm_memory_limit` in bytes (0: none).
    pub(crate) fn wasm_memory_limit(&self) -> u64 {
        u64::try_from(self.wasm_memory_limit.0.clone()).unwrap_or(u64::MAX)
    }

    pub(crate) fn set_wasm_memory_limit(&mut self, limit: u64) {
        self.wasm_memory_limit = Nat::from(limit);
    }

    /// The record `canister_status` reports.
    pub(crate) fn definite(&self, controllers: Vec<Principal>) -> DefiniteCanisterSettings {
        let s = self.clone();
        DefiniteCanisterSettings {
            controllers,
            compute_allocation: s.compute_allocation,
            memory_allocation: s.memory_allocation,
            freezing_threshold: s.freezing_threshold,
            reserved_cycles_limit: s.reserved_cycles_limit,
            minimum_incoming_canister_call_cycles: s.minimum_incoming_canister_call_cycles,
            log_visibility: s.log_visibility,
            log_memory_limit: s.log_memory_limit,
            snapshot_visibility: s.snapshot_visibility,
            status_visibility: s.status_visibility,
            wasm_memory_limit: s.wasm_memory_limit,
            wasm_memory_threshold: s.wasm_memory_threshold,
            environment_variables: s.environment_variables,
        }
    }

    /// Applies the fields that are set, after checking all of them. Returns the new
    /// controllers when they change.
    pub(crate) fn update(
        &mut self,
        new: &CanisterSettings,
    ) -> Result<Option<Vec<Principal>>, Reject> {
        if let Some(c) = &new.controllers
            && c.len() > MAX_CONTROLLERS
        {
            return Err(invalid(format!(
                "'controllers' length exceeds maximum size allowed of {MAX_CONTROLLERS}."
            )));
        }
        at_most("compute_allocation", &new.compute_allocation, 100)?;
        at_most("memory_allocation", &new.memory_allocation, u64::MAX)?;
        at_most("freezing_threshold", &new.freezing_threshold, u64::MAX)?;
        at_most(
            "reserved_cycles_limit",
            &new.reserved_cycles_limit,
            u64::MAX,
        )?;
        at_most(
            "minimum_incoming_canister_call_cycles",
            &new.minimum_incoming_canister_call_cycles,
            u64::MAX,
        )?;
        at_most(
            "wasm_memory_limit",
            &new.wasm_memory_limit,
            MAX_WASM_MEMORY_LIMIT,
        )?;
        at_most(
            "wasm_memory_threshold",
            &new.wasm_memory_threshold,
            MAX_WASM_MEMORY_LIMIT,
        )?;
        at_most(
            "log_memory_limit",
            &new.log_memory_limit,
            MAX_LOG_MEMORY_LIMIT,
        )?;
        viewers("log_visibility", &new.log_visibility)?;
        viewers("snapshot_visibility", &new.snapshot_visibility)?;
        viewers("status_visibility", &new.status_visibility)?;
        let limit = new
            .wasm_memory_limit
            .as_ref()
            .unwrap_or(&self.wasm_memory_limit);
        let threshold = new
            .wasm_memory_threshold
            .as_ref()
            .unwrap_or(&self.wasm_memory_threshold);
        if threshold > limit {
            return Err(invalid(
                "'wasm_memory_threshold' cannot be larger than 'wasm_memory_limit'.".into(),
            ));
        }
        if let Some(vars) = &new.environment_variables {
            if vars.len() > MAX_ENVIRONMENT_VARIABLES {
                return Err(invalid(format!(
                    "'environment_variables' length exceeds maximum size allowed of {MAX_ENVIRONMENT_VARIABLES}."
                )));
            }
            let mut names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(invalid(format!(
                    "duplicate environment variable name '{}'.",
                    w[0]
                )));
            }
        }
        let set = |field: &mut Nat, v: &Option<Nat>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut self.compute_allocation, &new.compute_allocation);
        set(&mut self.memory_allocation, &new.memory_allocation);
        set(&mut self.freezing_threshold, &new.freezing_threshold);
        set(&mut self.reserved_cycles_limit, &new.reserved_cycles_limit);
        set(
            &mut self.minimum_incoming_canister_call_cycles,
            &new.minimum_incoming_canister_call_cycles,
        );
        set(&mut self.log_memory_limit, &new.log_memory_limit);
        set(&mut self.wasm_memory_limit, &new.wasm_memory_limit);
        set(&mut self.wasm_memory_threshold, &new.wasm_memory_threshold);
        for (field, v) in [
            (&mut self.log_visibility, &new.log_visibility),
            (&mut self.snapshot_visibility, &new.snapshot_visibility),
            (&mut self.status_visibility, &new.status_visibility),
        ] {
            if let Some(v) = v {
                *field = v.clone();
            }
        }
        if let Some(vars) = &new.environment_variables {
            self.environment_variables = vars.clone();
        }
        Ok(new.controllers.clone())
    }
}
