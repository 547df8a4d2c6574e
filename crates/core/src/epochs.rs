//! Code epochs: which code wrote which part of the log (docs/provenance.md, "Code epochs").
//!
//! `init` and `post_upgrade` cannot make calls, so they only note the start of an epoch:
//! the log's size then (its first entry's index), `ic0.canister_version` and the IC time.
//! A self-call right after asks the management canister's `canister_info` for the IC's own
//! history of the canister, and the engine appends an entry of kind 3 (crates/verify,
//! `entry.rs`) naming the module hash of the latest code deployment: the code running now.
//! Until that entry is written the epoch is pending; entries logged meanwhile are the
//! epoch's all the same, by their index. A failed or trapping self-call leaves it pending,
//! and the canister tries again.
//!
//! ```text
//! memory 13 (CODE_EPOCHS): a stable Vec ("SVC") of 36-byte records, one per epoch
//!   first_index:u64  canister_version:u64  started_ns:u64  entry:u64 (u64::MAX: pending)
//!   failed_attempts:u32                                                  little-endian
//! ```

use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Memory, Storable, Vec as StableVec};
use std::borrow::Cow;

/// An epoch's start, and where its log entry is once written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochRecord {
    pub first_index: u64,
    pub canister_version: u64,
    pub started_ns: u64,
    /// The index of the epoch's kind-3 entry, once written.
    pub entry: Option<u64>,
    pub failed_attempts: u32,
}

const RECORD_BYTES: usize = 36;
const PENDING: u64 = u64::MAX;

impl Storable for EpochRecord {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned((*self).into_bytes())
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_BYTES);
        for n in [
            self.first_index,
            self.canister_version,
            self.started_ns,
            self.entry.unwrap_or(PENDING),
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&self.failed_attempts.to_le_bytes());
        out
    }

    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let entry = u64_at(24);
        EpochRecord {
            first_index: u64_at(0),
            canister_version: u64_at(8),
            started_ns: u64_at(16),
            entry: (entry != PENDING).then_some(entry),
            failed_attempts: u32::from_le_bytes(bytes[32..36].try_into().expect("4 bytes")),
        }
    }

    const BOUND: Bound = Bound::Bounded {
        max_size: RECORD_BYTES as u32,
        is_fixed_size: true,
    };
}

/// The epochs, oldest first: one per install and upgrade.
pub struct CodeEpochs<M: Memory> {
    records: StableVec<EpochRecord, M>,
}

impl<M: Memory> CodeEpochs<M> {
    pub fn new(memory: M) -> Self {
        CodeEpochs {
            records: StableVec::new(memory),
        }
    }

    pub fn open(memory: M) -> Self {
        CodeEpochs {
            records: StableVec::init(memory),
        }
    }

    /// Notes an epoch's start. An earlier epoch still pending stays pending for good: its
    /// code is gone before its self-call answered, so no entry names its module, and a
    /// verifier reports its entries as of an unknown module.
    pub fn begin(&self, first_index: u64, canister_version: u64, started_ns: u64) -> u64 {
        self.records.push(&EpochRecord {
            first_index,
            canister_version,
            started_ns,
            entry: None,
            failed_attempts: 0,
        });
        self.records.len() - 1
    }

    /// The current epoch's number, if its entry is not written yet.
    pub fn pending(&self) -> Option<u64> {
        let last = self.records.len().checked_sub(1)?;
        self.records
            .get(last)
            .filter(|r| r.entry.is_none())
            .map(|_| last)
    }

    pub fn get(&self, epoch: u64) -> Option<EpochRecord> {
        self.records.get(epoch)
    }

    pub fn len(&self) -> u64 {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn set(&self, epoch: u64, record: &EpochRecord) {
        self.records.set(epoch, record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::DefaultMemoryImpl;

    #[test]
    fn records_round_trip_and_pending_is_the_latest_unwritten_epoch() {
        let epochs = CodeEpochs::new(DefaultMemoryImpl::default());
        assert_eq!(epochs.pending(), None);
        assert_eq!(epochs.begin(0, 1, 10), 0);
        assert_eq!(epochs.pending(), Some(0));
        let mut record = epochs.get(0).unwrap();
        record.entry = Some(0);
        record.failed_attempts = 2;
        epochs.set(0, &record);
        assert_eq!(epochs.get(0), Some(record));
        assert_eq!(epochs.pending(), None);
        assert_eq!(epochs.begin(7, 2, 20), 1);
        assert_eq!(epochs.pending(), Some(1));
        let bytes = epochs.get(1).unwrap().into_bytes();
        assert_eq!(bytes.len(), RECORD_BYTES);
        assert_eq!(
            EpochRecord::from_bytes(Cow::Owned(bytes)),
            epochs.get(1).unwrap()
        );
    }
}
