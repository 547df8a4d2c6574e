//! The engine's code epochs ([`crate::epochs`]): begun by `init` and `post_upgrade`,
//! completed from the IC's canister history by the canister's self-call, listed by the
//! `code_epochs` query.

use super::{Engine, Environment};
use crate::epochs::EpochRecord;
use candid::Principal;
use ic_stable_structures::Memory;
use icinfer_api::{CodeEpoch, CodeEpochStatus, DeploymentMode, EntryKind, LogEntry};
use icinfer_verify::entry::MAX_EPOCH_CONTROLLERS;
use icinfer_verify::merkle::Hash;
use serde_bytes::ByteBuf;

/// The most recent epochs `code_epochs` lists (one per install or upgrade).
pub const MAX_LISTED_EPOCHS: u64 = 256;

/// What the canister learnt from `canister_info` about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeHistory {
    pub total_num_changes: u64,
    /// The latest code deployment among the recent changes, if any is among them.
    pub latest_deployment: Option<Deployment>,
    pub controllers: Vec<Principal>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub mode: DeploymentMode,
    pub module_hash: Hash,
    pub canister_version: u64,
    pub timestamp_ns: u64,
}

/// Why a self-call's answer was not logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpochError {
    /// The epoch asked about is no longer the pending one (written, or superseded by an
    /// upgrade since the call was made).
    NotPending,
    /// The history's recent changes hold no code deployment (the IC keeps the last 20
    /// changes; 20 controller changes since the deployment would push it out).
    NoDeployment,
    TooManyControllers,
}

impl<M: Memory> Engine<M> {
    /// Notes that this code starts writing the log now (`init`, `post_upgrade`); returns the
    /// epoch's number, for the self-call that completes it.
    pub fn begin_code_epoch(&mut self, env: &impl Environment, canister_version: u64) -> u64 {
        self.epochs
            .begin(self.log.len(), canister_version, env.now_ns())
    }

    /// The epoch whose self-call is still to answer, if any.
    pub fn pending_code_epoch(&self) -> Option<u64> {
        self.epochs.pending()
    }

    /// Appends epoch `epoch`'s entry from the canister's history, and certifies the head.
    /// The entry's caller is `canister`, the canister itself, which made the call.
    pub fn record_code_epoch(
        &mut self,
        env: &impl Environment,
        canister: Principal,
        epoch: u64,
        history: CodeHistory,
    ) -> Result<LogEntry, EpochError> {
        if self.epochs.pending() != Some(epoch) {
            return Err(EpochError::NotPending);
        }
        let mut record = self.epochs.get(epoch).expect("pending");
        let Some(deployment) = history.latest_deployment else {
            self.code_epoch_failed(epoch);
            return Err(EpochError::NoDeployment);
        };
        if history.controllers.len() > MAX_EPOCH_CONTROLLERS {
            self.code_epoch_failed(epoch);
            return Err(EpochError::TooManyControllers);
        }
        let empty = || ByteBuf::from(vec![0u8; 32]);
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: env.now_ns(),
            caller: canister,
            model_id: String::new(),
            model_sha256: empty(),
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            instructions: env.instructions(),
            messages: Some(u64::from(record.failed_attempts) + 1),
            kind: Some(EntryKind::CodeEpoch(CodeEpoch {
                first_index: record.first_index,
                canister_version: record.canister_version,
                started_ns: record.started_ns,
                module_hash: ByteBuf::from(deployment.module_hash.to_vec()),
                mode: deployment.mode,
                deployed_version: deployment.canister_version,
                deployed_ns: deployment.timestamp_ns,
                total_num_changes: history.total_num_changes,
                controllers: history.controllers,
            })),
        };
        self.log.append(&entry);
        self.certify_head(env);
        record.entry = Some(entry.seq);
        self.epochs.set(epoch, &record);
        Ok(entry)
    }

    /// Counts a self-call that failed; the canister tries again.
    pub fn code_epoch_failed(&mut self, epoch: u64) {
        if let Some(mut record) = self.epochs.get(epoch) {
            record.failed_attempts = record.failed_attempts.saturating_add(1);
            self.epochs.set(epoch, &record);
        }
    }

    /// The most recent epochs ([`MAX_LISTED_EPOCHS`]), oldest first, each with its entry's
    /// epoch once written.
    pub fn code_epochs(&self) -> Vec<CodeEpochStatus> {
        let first = self.epochs.len().saturating_sub(MAX_LISTED_EPOCHS);
        (first..self.epochs.len())
            .filter_map(|i| self.epochs.get(i))
            .map(|record: EpochRecord| {
                let epoch =
                    record
                        .entry
                        .and_then(|seq| match self.log.get(seq).and_then(|e| e.kind) {
                            Some(EntryKind::CodeEpoch(epoch)) => Some(epoch),
                            _ => None,
                        });
                CodeEpochStatus {
                    first_index: record.first_index,
                    canister_version: record.canister_version,
                    started_ns: record.started_ns,
                    entry: record.entry,
                    epoch,
                    failed_attempts: record.failed_attempts,
                }
            })
            .collect()
    }
}
