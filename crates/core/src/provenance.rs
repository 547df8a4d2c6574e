//! The provenance log: one entry per `infer`, append-only, open to everyone, with a Merkle
//! tree over the entries and a search index by model, input hash, output hash and caller.
//!
//! Entries are stored in their canonical byte encoding (`icinfer_verify::entry`,
//! docs/hashing.md), which is also the Merkle leaf: leaf i of the tree is
//! SHA-256(0x00 || bytes of entry i) (crate::merkle). The search index keys are
//! `kind (1) | key (32) | seq (8, big-endian)`, so one key's entries are contiguous and in
//! log order; a caller's key is its length byte, its bytes, zero-padded.

use crate::limits::MAX_LOG_PAGE;
use crate::memory::LayoutError;
use crate::merkle::MerkleTree;
use candid::Principal;
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeSet, Log, Memory, Storable};
use icinfer_api::{Error, FindLogArgs, FindLogResult, LogEntry, LogFilter, LogPage, LogPageArgs};
use icinfer_verify::merkle::leaf_hash;
use serde_bytes::ByteBuf;
use std::borrow::Cow;

pub use icinfer_verify::entry::{ENTRY_VERSION, decode_entry};

/// A log entry in its canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryBytes(pub Vec<u8>);

impl Storable for EntryBytes {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        EntryBytes(bytes.into_owned())
    }
    const BOUND: Bound = Bound::Unbounded;
}

/// Encodes an entry canonically (`icinfer_verify::entry`). The canister makes every entry
/// it logs, with 32-byte digests and a model id within bounds, so failing is a broken
/// invariant.
pub fn encode_entry(entry: &LogEntry) -> EntryBytes {
    EntryBytes(
        icinfer_verify::entry::encode_entry(entry)
            .unwrap_or_else(|e| panic!("the canister made a log entry it cannot encode: {e}")),
    )
}

type SearchKey = [u8; 41];

#[derive(Clone, Copy)]
enum SearchKind {
    ModelSha256 = 1,
    InputHash = 2,
    OutputHash = 3,
    Caller = 4,
}

fn search_key(kind: SearchKind, key: &[u8; 32], seq: u64) -> SearchKey {
    let mut out = [0u8; 41];
    out[0] = kind as u8;
    out[1..33].copy_from_slice(key);
    out[33..].copy_from_slice(&seq.to_be_bytes());
    out
}

fn caller_key(caller: &Principal) -> [u8; 32] {
    let bytes = caller.as_slice();
    let mut key = [0u8; 32];
    key[0] = bytes.len() as u8;
    key[1..=bytes.len()].copy_from_slice(bytes);
    key
}

fn digest_key(field: &str, digest: &[u8]) -> Result<[u8; 32], Error> {
    digest.try_into().map_err(|_| Error::InvalidArgument {
        field: field.to_string(),
        reason: format!("must be 32 bytes, got {}", digest.len()),
    })
}

pub struct ProvenanceLog<M: Memory> {
    entries: Log<EntryBytes, M, M>,
    search: BTreeSet<SearchKey, M>,
    tree: MerkleTree<M>,
}

impl<M: Memory> ProvenanceLog<M> {
    pub fn new(index: M, data: M, search: M, tree: M) -> Self {
        Self {
            entries: Log::new(index, data),
            search: BTreeSet::new(search),
            tree: MerkleTree::new(tree),
        }
    }

    /// Reopens the log; the caller has checked the memories' magics.
    pub fn open(index: M, data: M, search: M, tree: M) -> Result<Self, LayoutError> {
        let tree = MerkleTree::open(tree).map_err(|version| LayoutError::UnknownVersion {
            memory: "log Merkle tree",
            version,
        })?;
        let log = Self {
            entries: Log::init(index, data),
            search: BTreeSet::init(search),
            tree,
        };
        log.check_tree_covers_log()?;
        Ok(log)
    }

    /// Reopens a log of layout version 1, which had no Merkle tree, and builds the tree
    /// from the stored entries (`tree` must be an empty memory). Cost: one leaf hash and
    /// on average one node hash per entry, within the upgrade's instruction limit for
    /// millions of entries.
    pub fn open_building_tree(index: M, data: M, search: M, tree: M) -> Self {
        let mut log = Self {
            entries: Log::init(index, data),
            search: BTreeSet::init(search),
            tree: MerkleTree::new(tree),
        };
        for seq in 0..log.entries.len() {
            let bytes = log
                .entries
                .get(seq)
                .expect("a log entry below the log's length");
            log.tree.append(leaf_hash(&bytes.0));
        }
        log
    }

    fn check_tree_covers_log(&self) -> Result<(), LayoutError> {
        if self.tree.len() != self.entries.len() {
            return Err(LayoutError::Inconsistent {
                reason: format!(
                    "the Merkle tree has {} leaves, the log {} entries",
                    self.tree.len(),
                    self.entries.len()
                ),
            });
        }
        Ok(())
    }

    pub fn tree(&self) -> &MerkleTree<M> {
        &self.tree
    }

    pub fn len(&self) -> u64 {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Appends an entry whose `seq` must be `len()`. Returns its canonical bytes.
    pub fn append(&mut self, entry: &LogEntry) -> EntryBytes {
        let bytes = self.append_to_log_and_tree(entry);
        let digest = |d: &ByteBuf| -> [u8; 32] { d.as_slice().try_into().expect("32 bytes") };
        for (kind, key) in [
            (SearchKind::ModelSha256, digest(&entry.model_sha256)),
            (SearchKind::InputHash, digest(&entry.input_hash)),
            (SearchKind::OutputHash, digest(&entry.output_hash)),
            (SearchKind::Caller, caller_key(&entry.caller)),
        ] {
            self.search.insert(search_key(kind, &key, entry.seq));
        }
        bytes
    }

    /// Benchmarks only: appends without the search index, which the Merkle queries never
    /// read, so that a log of a million entries fills in a few messages.
    #[cfg(feature = "bench")]
    pub fn append_unindexed(&mut self, entry: &LogEntry) {
        self.append_to_log_and_tree(entry);
    }

    fn append_to_log_and_tree(&mut self, entry: &LogEntry) -> EntryBytes {
        assert_eq!(entry.seq, self.len(), "log entries are numbered in order");
        let bytes = encode_entry(entry);
        self.entries
            .append(&bytes)
            .expect("stable memory full while appending to the log");
        self.tree.append(leaf_hash(&bytes.0));
        bytes
    }

    pub fn get(&self, seq: u64) -> Option<LogEntry> {
        let bytes = self.entries.get(seq)?;
        Some(decode_entry(&bytes.0).expect("stored log entries are canonical"))
    }

    pub fn get_bytes(&self, seq: u64) -> Option<EntryBytes> {
        self.entries.get(seq)
    }

    pub fn page(&self, args: &LogPageArgs) -> Result<LogPage, Error> {
        let limit = page_limit(args.limit)?;
        let size = self.len();
        let end = args.start.saturating_add(limit).min(size);
        let entries = (args.start..end).filter_map(|seq| self.get(seq)).collect();
        Ok(LogPage {
            entries,
            log_size: size,
            next: (end < size).then_some(end),
        })
    }

    pub fn find(&self, args: &FindLogArgs) -> Result<FindLogResult, Error> {
        let limit = page_limit(args.limit)? as usize;
        let (kind, key) = match &args.filter {
            LogFilter::ModelSha256(d) => (SearchKind::ModelSha256, digest_key("model_sha256", d)?),
            LogFilter::InputHash(d) => (SearchKind::InputHash, digest_key("input_hash", d)?),
            LogFilter::OutputHash(d) => (SearchKind::OutputHash, digest_key("output_hash", d)?),
            LogFilter::Caller(p) => (SearchKind::Caller, caller_key(p)),
        };
        let from = search_key(kind, &key, args.start);
        let to = search_key(kind, &key, u64::MAX);
        let mut seqs = self
            .search
            .range(from..=to)
            .take(limit + 1)
            .map(|k| u64::from_be_bytes(k[33..].try_into().expect("8 bytes")));
        let entries: Vec<LogEntry> = seqs
            .by_ref()
            .take(limit)
            .map(|seq| self.get(seq).expect("the search index points into the log"))
            .collect();
        Ok(FindLogResult {
            entries,
            next: seqs.next(),
        })
    }
}

fn page_limit(limit: u32) -> Result<u64, Error> {
    if limit == 0 {
        return Err(Error::InvalidArgument {
            field: "limit".into(),
            reason: format!("must be 1 to {MAX_LOG_PAGE}"),
        });
    }
    Ok(u64::from(limit.min(MAX_LOG_PAGE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::VectorMemory;

    fn entry(seq: u64, caller: Principal, input: u8) -> LogEntry {
        LogEntry {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            caller,
            model_id: "digits".into(),
            model_sha256: ByteBuf::from(vec![0xaa; 32]),
            input_hash: ByteBuf::from(vec![input; 32]),
            output_hash: ByteBuf::from(vec![0xcc; 32]),
            input_salted: seq % 2 == 1,
            instructions: 123_456 + seq,
            messages: seq.is_multiple_of(2).then_some(1),
            kind: None,
        }
    }

    fn log() -> ProvenanceLog<VectorMemory> {
        ProvenanceLog::new(
            VectorMemory::default(),
            VectorMemory::default(),
            VectorMemory::default(),
            VectorMemory::default(),
        )
    }

    #[test]
    fn pages_are_bounded_and_chain() {
        let mut log = log();
        for seq in 0..250 {
            log.append(&entry(seq, Principal::anonymous(), seq as u8));
        }
        let page = log
            .page(&LogPageArgs {
                start: 0,
                limit: 1000,
            })
            .unwrap();
        assert_eq!(page.entries.len(), MAX_LOG_PAGE as usize);
        assert_eq!(page.next, Some(100));
        let last = log
            .page(&LogPageArgs {
                start: 200,
                limit: 100,
            })
            .unwrap();
        assert_eq!(last.entries.len(), 50);
        assert_eq!(last.next, None);
        assert_eq!(last.entries[49], entry(249, Principal::anonymous(), 249));
        let beyond = log
            .page(&LogPageArgs {
                start: 5000,
                limit: 10,
            })
            .unwrap();
        assert!(beyond.entries.is_empty());
        assert_eq!(beyond.log_size, 250);
        assert!(log.page(&LogPageArgs { start: 0, limit: 0 }).is_err());
    }

    #[test]
    fn search_finds_exactly_the_matching_entries_in_pages() {
        let alice = Principal::from_slice(&[1, 2, 3]);
        let bob = Principal::from_slice(&[1, 2, 3, 4]);
        let mut log = log();
        for seq in 0..30 {
            let caller = if seq % 3 == 0 { alice } else { bob };
            log.append(&entry(seq, caller, (seq % 5) as u8));
        }
        let mut found = Vec::new();
        let mut start = 0;
        loop {
            let page = log
                .find(&FindLogArgs {
                    filter: LogFilter::Caller(alice),
                    start,
                    limit: 4,
                })
                .unwrap();
            assert!(page.entries.len() <= 4);
            found.extend(page.entries.iter().map(|e| e.seq));
            match page.next {
                Some(next) => start = next,
                None => break,
            }
        }
        assert_eq!(found, (0..30).step_by(3).collect::<Vec<_>>());
        let by_input = log
            .find(&FindLogArgs {
                filter: LogFilter::InputHash(ByteBuf::from(vec![2; 32])),
                start: 0,
                limit: 100,
            })
            .unwrap();
        assert_eq!(
            by_input.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![2, 7, 12, 17, 22, 27]
        );
        let none = log
            .find(&FindLogArgs {
                filter: LogFilter::OutputHash(ByteBuf::from(vec![0xdd; 32])),
                start: 0,
                limit: 100,
            })
            .unwrap();
        assert!(none.entries.is_empty() && none.next.is_none());
        assert!(matches!(
            log.find(&FindLogArgs {
                filter: LogFilter::ModelSha256(ByteBuf::from(vec![0; 31])),
                start: 0,
                limit: 1,
            }),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
