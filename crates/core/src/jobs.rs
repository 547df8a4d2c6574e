//! Inference jobs in stable memory: one record per job, the job's inputs while it runs and
//! its outputs once done. The running state (tract's intermediate tensors) is on the heap,
//! in the engine; this store is what survives an upgrade.
//!
//! ```text
//! memory JOBS:        BTreeMap  job id              -> record
//!                               PROGRESS_KEYS + id  -> progress (while pending, see below)
//! memory JOB_TENSORS: BTreeMap  job id * 2     -> input tensors  (while pending)
//!                               job id * 2 + 1 -> output tensors (once done)
//! memory JOB_COUNTER: Cell      the next job id (ids are never reused)
//!
//! record, tensors:  0         1
//!                   +---------+----------------------- ... --+
//!                   | version | Candid of the value           |
//!                   +---------+----------------------- ... --+
//!
//! progress:         0         1             9             17             25         33        41
//!                   +---------+-------------+-------------+--------------+----------+---------+
//!                   | version | nodes_done  | nodes_total | instructions | messages | restarts|
//!                   +---------+-------------+-------------+--------------+----------+---------+
//!                              u64 little-endian each (restarts as u64)
//! ```
//!
//! The version byte leads every value, so a later release can change a record's shape and
//! still read the old ones; opening the store checks every value's version
//! ([`JobStore::open`]).
//!
//! A step of a job changes only its progress, so it writes only the fixed 41 bytes under the
//! job's progress key ([`JobStore::put_progress`]) rather than re-encoding the whole record
//! in Candid (whose type table alone, with the failure variants, is most of a record's
//! cost). While that entry exists its progress is the job's, and [`JobStore::get`] reads it
//! over the record's; writing the record (`put`, `finish`) folds it back and removes it.
//! Job ids stay far below `PROGRESS_KEYS` (2^63): one id per call.

use crate::memory::LayoutError;
use crate::nested::Nested;
use candid::{CandidType, Decode, Encode, Principal};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeMap, Cell, Memory, Storable};
use icinfer_api::{JobFailure, JobId, JobProgress, Sampling, StopReason, Tensor};
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Version of the record and tensor encodings.
pub const RECORD_VERSION: u8 = 1;
/// Version of the progress encoding.
pub const PROGRESS_VERSION: u8 = 1;
/// Keys from here on in the records map hold a pending job's progress.
const PROGRESS_KEYS: u64 = 1 << 63;
const PROGRESS_BYTES: usize = 41;

/// Where a job stands, as stored.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum RecordState {
    Pending,
    /// The job's log entry; its outputs are in the tensor map.
    Done {
        seq: u64,
    },
    Failed(JobFailure),
    Cancelled,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub caller: Principal,
    pub model_id: String,
    /// The model the job was started on: a model deleted and created again under the same
    /// id is another model, and the job fails rather than run it.
    pub model_sha256: ByteBuf,
    /// Computed when the job starts, so its inputs need not be kept once it is done.
    pub input_hash: ByteBuf,
    pub input_salted: bool,
    pub created_at_ns: u64,
    pub finished_at_ns: Option<u64>,
    pub progress: JobProgress,
    pub state: RecordState,
    /// A text generation's own record, nested (crate::nested); absent for an inference job
    /// (and on records written before generation existed, which candid reads as None).
    pub generation: Option<Nested<GenerationRecord>>,
}

/// What a generation keeps in stable memory: enough to start it again from its prompt
/// after an upgrade, and what it has generated so far for `generation_status`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct GenerationRecord {
    /// Kept while the generation is pending (a restart tokenizes it again), then dropped:
    /// the log keeps only its salted commitment.
    pub prompt: String,
    pub max_new_tokens: u32,
    /// A sampled generation's seed is None until the driver has drawn it (`raw_rand`).
    pub sampling: Sampling,
    pub stop: Vec<String>,
    pub tokenizer_sha256: ByteBuf,
    pub prompt_tokens: u32,
    pub tokens: Vec<u32>,
    /// The tokens' bytes; once done, cut before the stop sequence.
    pub completion: ByteBuf,
    pub stop_reason: Option<StopReason>,
}

impl GenerationRecord {
    /// After an upgrade: the tokens are generated again from the prompt.
    pub fn restart(&mut self) {
        self.tokens.clear();
        self.completion = ByteBuf::new();
    }

    pub fn forget_prompt(&mut self) {
        self.prompt = String::new();
    }

    pub fn needs_seed(&self) -> bool {
        matches!(&self.sampling, Sampling::Sample(s) if s.seed.is_none())
    }
}

impl JobRecord {
    pub fn is_pending(&self) -> bool {
        self.state == RecordState::Pending
    }
}

/// A stored value: its version byte, then its Candid encoding. Decoded by the store's
/// accessors, so that opening the store can check versions without decoding anything.
struct Versioned(Vec<u8>);

impl Versioned {
    fn of<T: CandidType>(value: &T) -> Self {
        let mut bytes = vec![RECORD_VERSION];
        bytes.extend(Encode!(value).expect("job values encode"));
        Versioned(bytes)
    }

    fn version(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    fn decode<T: CandidType + for<'de> Deserialize<'de>>(&self) -> T {
        assert_eq!(
            self.version(),
            RECORD_VERSION,
            "JobStore::open checks every record's version"
        );
        Decode!(&self.0[1..], T).expect("stored job values decode")
    }
}

impl Storable for Versioned {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Versioned(bytes.into_owned())
    }
    const BOUND: Bound = Bound::Unbounded;
}

fn progress_key(id: JobId) -> u64 {
    PROGRESS_KEYS + id
}

fn encode_progress(progress: &JobProgress) -> Versioned {
    let mut bytes = Vec::with_capacity(PROGRESS_BYTES);
    bytes.push(PROGRESS_VERSION);
    for field in [
        progress.nodes_done,
        progress.nodes_total,
        progress.instructions,
        progress.messages,
        u64::from(progress.restarts),
    ] {
        bytes.extend(field.to_le_bytes());
    }
    Versioned(bytes)
}

fn decode_progress(value: &Versioned) -> JobProgress {
    assert!(
        value.version() == PROGRESS_VERSION && value.0.len() == PROGRESS_BYTES,
        "JobStore::open checks every progress entry"
    );
    let field = |i: usize| {
        let at = 1 + 8 * i;
        u64::from_le_bytes(value.0[at..at + 8].try_into().expect("8 bytes"))
    };
    JobProgress {
        nodes_done: field(0),
        nodes_total: field(1),
        instructions: field(2),
        messages: field(3),
        restarts: u32::try_from(field(4)).expect("restarts were a u32"),
    }
}

fn inputs_key(id: JobId) -> u64 {
    id * 2
}

fn outputs_key(id: JobId) -> u64 {
    id * 2 + 1
}

pub struct JobStore<M: Memory> {
    records: BTreeMap<JobId, Versioned, M>,
    tensors: BTreeMap<u64, Versioned, M>,
    next_id: Cell<u64, M>,
    /// Ids of the pending jobs: a heap index of the records, rebuilt by `open`, so a step
    /// need not decode every record to find its turn.
    pending: BTreeSet<JobId>,
}

impl<M: Memory> JobStore<M> {
    /// Opens the store, creating its structures in empty memories; the caller has checked
    /// the memories' magics. Refuses records of a version this build does not read.
    pub fn open(records: M, tensors: M, counter: M) -> Result<Self, LayoutError> {
        let store = Self {
            records: BTreeMap::init(records),
            tensors: BTreeMap::init(tensors),
            next_id: Cell::init(counter, 0),
            pending: BTreeSet::new(),
        };
        // Bounded: at most MAX_JOBS_IN_FLIGHT + MAX_FINISHED_JOBS records, and a progress
        // entry for each pending job.
        for entry in store.records.iter() {
            let (key, value) = entry.into_pair();
            let (readable, memory) = if key >= PROGRESS_KEYS {
                (
                    value.version() == PROGRESS_VERSION && value.0.len() == PROGRESS_BYTES,
                    "job progress",
                )
            } else {
                (value.version() == RECORD_VERSION, "job records")
            };
            if !readable {
                return Err(LayoutError::UnknownVersion {
                    memory,
                    version: value.version(),
                });
            }
        }
        for value in store.tensors.values() {
            let version = value.version();
            if version != RECORD_VERSION {
                return Err(LayoutError::UnknownVersion {
                    memory: "job tensors",
                    version,
                });
            }
        }
        let mut store = store;
        store.pending = store
            .records()
            .filter(|(_, r)| r.is_pending())
            .map(|(id, _)| id)
            .collect();
        Ok(store)
    }

    /// Adds a pending job and returns its id.
    pub fn insert(&mut self, record: JobRecord, inputs: Vec<Tensor>) -> JobId {
        let id = *self.next_id.get();
        self.next_id.set(id + 1);
        self.tensors.insert(inputs_key(id), Versioned::of(&inputs));
        self.records.insert(id, Versioned::of(&record));
        self.pending.insert(id);
        id
    }

    /// A job's record, with its latest progress.
    pub fn get(&self, id: JobId) -> Option<JobRecord> {
        let mut record: JobRecord = self.records.get(&id)?.decode();
        if let Some(progress) = self.records.get(&progress_key(id)) {
            record.progress = decode_progress(&progress);
        }
        Some(record)
    }

    /// Whether a job is pending, without reading stable memory.
    pub fn is_pending(&self, id: JobId) -> bool {
        self.pending.contains(&id)
    }

    /// Updates a pending job's record, its progress included.
    pub fn put(&mut self, id: JobId, record: JobRecord) {
        debug_assert!(record.is_pending(), "finished jobs go through `finish`");
        self.records.insert(id, Versioned::of(&record));
        self.records.remove(&progress_key(id));
    }

    /// Updates only a pending job's progress: a fixed 41-byte value, no Candid.
    pub fn put_progress(&mut self, id: JobId, progress: &JobProgress) {
        debug_assert!(self.is_pending(id), "progress of a pending job");
        self.records
            .insert(progress_key(id), encode_progress(progress));
    }

    pub fn inputs(&self, id: JobId) -> Option<Vec<Tensor>> {
        self.tensors.get(&inputs_key(id)).map(|v| v.decode())
    }

    pub fn outputs(&self, id: JobId) -> Option<Vec<Tensor>> {
        self.tensors.get(&outputs_key(id)).map(|v| v.decode())
    }

    /// Marks a job finished: drops its inputs, keeps `outputs` if it is done.
    pub fn finish(&mut self, id: JobId, record: JobRecord, outputs: Option<&[Tensor]>) {
        self.tensors.remove(&inputs_key(id));
        self.pending.remove(&id);
        if let Some(outputs) = outputs {
            self.tensors
                .insert(outputs_key(id), Versioned::of(&outputs));
        }
        self.records.insert(id, Versioned::of(&record));
        self.records.remove(&progress_key(id));
    }

    /// Every record, by id (as last written by `put` or `finish`: without the progress a
    /// pending job's steps wrote since).
    pub fn records(&self) -> impl Iterator<Item = (JobId, JobRecord)> + '_ {
        self.records.range(..PROGRESS_KEYS).map(|entry| {
            let (id, value) = entry.into_pair();
            (id, value.decode())
        })
    }

    /// Pending job ids, ascending.
    pub fn pending(&self) -> Vec<JobId> {
        self.pending.iter().copied().collect()
    }

    pub fn pending_count(&self, caller: Option<&Principal>) -> u64 {
        match caller {
            None => self.pending.len() as u64,
            Some(caller) => self
                .pending
                .iter()
                .filter(|&&id| self.get(id).is_some_and(|r| r.caller == *caller))
                .count() as u64,
        }
    }

    /// Drops finished jobs older than `ttl_ns`, then the oldest beyond `keep` finished ones.
    pub fn prune(&mut self, now_ns: u64, ttl_ns: u64, keep: u64) {
        let mut finished: Vec<(u64, JobId)> = self
            .records()
            .filter_map(|(id, r)| Some((r.finished_at_ns?, id)))
            .collect();
        finished.sort_unstable();
        let excess = finished.len().saturating_sub(keep as usize);
        for (index, (at, id)) in finished.into_iter().enumerate() {
            if index < excess || now_ns.saturating_sub(at) > ttl_ns {
                self.records.remove(&id);
                self.tensors.remove(&outputs_key(id));
            }
        }
    }

    /// Jobs kept, pending and finished.
    pub fn len(&self) -> u64 {
        self.records.range(..PROGRESS_KEYS).count() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::VectorMemory;

    fn memories() -> (VectorMemory, VectorMemory, VectorMemory) {
        Default::default()
    }

    fn open(
        (records, tensors, counter): &(VectorMemory, VectorMemory, VectorMemory),
    ) -> JobStore<VectorMemory> {
        JobStore::open(records.clone(), tensors.clone(), counter.clone()).unwrap()
    }

    fn pending_record() -> JobRecord {
        JobRecord {
            caller: Principal::from_slice(&[7; 29]),
            model_id: "m".into(),
            model_sha256: ByteBuf::from(vec![1; 32]),
            input_hash: ByteBuf::from(vec![2; 32]),
            input_salted: false,
            created_at_ns: 10,
            finished_at_ns: None,
            progress: JobProgress {
                nodes_done: 0,
                nodes_total: 9,
                instructions: 100,
                messages: 1,
                restarts: 0,
            },
            state: RecordState::Pending,
            generation: None,
        }
    }

    #[test]
    fn a_steps_progress_is_kept_apart_from_the_record_and_folded_back_when_it_is_written() {
        let memory = memories();
        let mut store = open(&memory);
        let id = store.insert(pending_record(), Vec::new());
        let progress = JobProgress {
            nodes_done: 4,
            nodes_total: 9,
            instructions: u64::MAX - 1,
            messages: 3,
            restarts: u32::MAX,
        };
        store.put_progress(id, &progress);
        assert_eq!(store.get(id).unwrap().progress, progress);
        // The record itself is untouched, and the progress entry is not a job.
        assert_eq!(store.records().next().unwrap().1.progress.nodes_done, 0);
        assert_eq!(store.len(), 1);
        // It survives a reopen (an upgrade), which still finds the job pending.
        let mut store = open(&memory);
        assert_eq!(store.pending(), vec![id]);
        assert_eq!(store.get(id).unwrap().progress, progress);
        // Finishing writes the record with the progress the caller gives, and drops the entry.
        let mut record = store.get(id).unwrap();
        record.state = RecordState::Cancelled;
        record.finished_at_ns = Some(20);
        store.finish(id, record.clone(), None);
        assert_eq!(store.get(id).unwrap(), record);
        assert_eq!(store.records.len(), 1, "no progress entry left");
        assert!(store.pending().is_empty());
    }

    #[test]
    fn a_progress_entry_of_another_version_or_size_refuses_to_open() {
        for bad in [
            {
                let mut v = encode_progress(&pending_record().progress).0;
                v[0] = PROGRESS_VERSION + 1;
                v
            },
            vec![PROGRESS_VERSION; PROGRESS_BYTES - 1],
        ] {
            let memory = memories();
            let mut store = open(&memory);
            let id = store.insert(pending_record(), Vec::new());
            store.records.insert(progress_key(id), Versioned(bad));
            assert!(matches!(
                JobStore::open(memory.0.clone(), memory.1.clone(), memory.2.clone()),
                Err(LayoutError::UnknownVersion {
                    memory: "job progress",
                    ..
                })
            ));
        }
    }
}
