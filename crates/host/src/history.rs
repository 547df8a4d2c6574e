//! Canister history, as the IC keeps it and `canister_info` serves it (the interface
//! specification, "IC method canister_info"): every creation, code deployment, uninstall
//! and change of controllers, with the IC time, the canister version after the change and
//! who made it. The IC keeps the 20 most recent changes and counts them all
//! (`total_num_changes`); so does this host.
//!
//! The host's canister version counts installations only (`CanisterState::version`); the IC
//! also counts every update message, so versions here are smaller, never out of order.

use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Changes kept: the IC keeps at least the 20 most recent.
pub const KEPT_CHANGES: usize = 20;

#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ChangeOrigin {
    #[serde(rename = "from_user")]
    FromUser { user_id: Principal },
    #[serde(rename = "from_canister")]
    FromCanister {
        canister_id: Principal,
        canister_version: Option<u64>,
    },
}

#[derive(CandidType, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentMode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade,
}

#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreationRecord {
    pub controllers: Vec<Principal>,
    pub environment_variables_hash: Option<serde_bytes::ByteBuf>,
}

#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CodeDeploymentRecord {
    pub mode: DeploymentMode,
    pub module_hash: serde_bytes::ByteBuf,
}

#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ControllersChangeRecord {
    pub controllers: Vec<Principal>,
}

/// The kinds of change this host records (the IC also has `load_snapshot` and
/// `rename_canister`, which this host never makes).
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ChangeDetails {
    #[serde(rename = "creation")]
    Creation(CreationRecord),
    #[serde(rename = "code_uninstall")]
    CodeUninstall,
    #[serde(rename = "code_deployment")]
    CodeDeployment(CodeDeploymentRecord),
    #[serde(rename = "controllers_change")]
    ControllersChange(ControllersChangeRecord),
}

#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub timestamp_nanos: u64,
    pub canister_version: u64,
    pub origin: ChangeOrigin,
    pub details: ChangeDetails,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CanisterHistory {
    /// Oldest first, at most [`KEPT_CHANGES`].
    changes: VecDeque<Change>,
    total: u64,
}

impl CanisterHistory {
    pub fn record(&mut self, change: Change) {
        if self.changes.len() == KEPT_CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
        self.total += 1;
    }

    pub fn total_num_changes(&self) -> u64 {
        self.total
    }

    /// The `n` most recent changes, oldest first (at most the kept ones).
    pub fn recent(&self, n: u64) -> Vec<Change> {
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.changes.len());
        self.changes
            .iter()
            .skip(self.changes.len() - n)
            .cloned()
            .collect()
    }
}

/// `canister_info`'s argument.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct CanisterInfoArgs {
    pub canister_id: Principal,
    pub num_requested_changes: Option<u64>,
}

/// `canister_info`'s reply.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct CanisterInfoResult {
    pub total_num_changes: u64,
    pub recent_changes: Vec<Change>,
    pub module_hash: Option<serde_bytes::ByteBuf>,
    pub controllers: Vec<Principal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(version: u64) -> Change {
        Change {
            timestamp_nanos: version * 10,
            canister_version: version,
            origin: ChangeOrigin::FromUser {
                user_id: Principal::anonymous(),
            },
            details: ChangeDetails::CodeUninstall,
        }
    }

    #[test]
    fn the_history_keeps_the_latest_twenty_and_counts_all() {
        let mut history = CanisterHistory::default();
        for v in 0..25 {
            history.record(change(v));
        }
        assert_eq!(history.total_num_changes(), 25);
        let all = history.recent(100);
        assert_eq!(all.len(), KEPT_CHANGES);
        assert_eq!(all.first().unwrap().canister_version, 5);
        let last_two: Vec<u64> = history
            .recent(2)
            .iter()
            .map(|c| c.canister_version)
            .collect();
        assert_eq!(last_two, [23, 24]);
        assert!(history.recent(0).is_empty());
    }
}
