//! The registry of stable memories, and the layout header that guards them.
//!
//! The canister's stable memory is split by ic-stable-structures' `MemoryManager` into
//! virtual memories, one per structure. Their ids are listed here and nowhere else; a
//! retired id stays as a comment and is never reused, because an old structure's bytes
//! would be read as the new one's.
//!
//! ```text
//! raw stable memory:  "MGR" MemoryManager header | buckets of the virtual memories
//! memory 0 (LAYOUT):  0      5       6        8
//!                     +------+-------+--------+
//!                     |ICINF | ver=5 | 0 0    |
//!                     +------+-------+--------+
//! ```
//!
//! ic-stable-structures re-creates a structure silently when its memory does not hold the
//! expected magic. That is right on a fresh install and a disaster after an upgrade, so on
//! every open after the first we check the layout header and each structure's magic before
//! handing the memory to `init`: a wrong or missing one refuses to open.

use ic_stable_structures::Memory;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};

pub type VMem<M> = VirtualMemory<M>;

pub const LAYOUT: MemoryId = MemoryId::new(0);
pub const MODELS: MemoryId = MemoryId::new(1);
pub const CHUNKS: MemoryId = MemoryId::new(2);
pub const BLOCKS: MemoryId = MemoryId::new(3);
pub const FREE_BLOCKS: MemoryId = MemoryId::new(4);
pub const ADMINS: MemoryId = MemoryId::new(5);
pub const LOG_INDEX: MemoryId = MemoryId::new(6);
pub const LOG_DATA: MemoryId = MemoryId::new(7);
pub const LOG_SEARCH: MemoryId = MemoryId::new(8);
/// The log's Merkle tree (crate::merkle). Added in layout version 2.
pub const MERKLE: MemoryId = MemoryId::new(9);
/// Inference job records (crate::jobs), one small versioned record per job. Layout 3.
pub const JOBS: MemoryId = MemoryId::new(10);
/// A job's input tensors while it runs, its outputs once done (crate::jobs). Layout 3.
pub const JOB_TENSORS: MemoryId = MemoryId::new(11);
/// The next job id, so ids are never reused even when every record was dropped. Layout 3.
pub const JOB_COUNTER: MemoryId = MemoryId::new(12);
/// Code epochs: each install's and upgrade's first log index (crate::epochs). Layout 4.
pub const CODE_EPOCHS: MemoryId = MemoryId::new(13);
/// The inference policy (crate::policy), one versioned record. Layout 5.
pub const POLICY: MemoryId = MemoryId::new(14);
/// The policy's usage counters per window, caller and overall (crate::policy). Layout 5.
pub const QUOTA_USAGE: MemoryId = MemoryId::new(15);

/// Every id in use, with the magic its structure writes at offset 0 and a name for errors.
pub const REGISTRY: [(MemoryId, &[u8; 3], &str); 16] = [
    (LAYOUT, b"ICI", "layout header"),
    (MODELS, b"BTR", "model records"),
    (CHUNKS, b"BTR", "chunk map"),
    (BLOCKS, b"ICB", "model blocks"),
    (FREE_BLOCKS, b"BTR", "free blocks"),
    (ADMINS, b"BTR", "admins"),
    (LOG_INDEX, b"GLI", "log index"),
    (LOG_DATA, b"GLD", "log data"),
    (LOG_SEARCH, b"BTR", "log search index"),
    (MERKLE, crate::merkle::MAGIC, "log Merkle tree"),
    (JOBS, b"BTR", "job records"),
    (JOB_TENSORS, b"BTR", "job tensors"),
    (JOB_COUNTER, b"SCL", "job counter"),
    (CODE_EPOCHS, b"SVC", "code epochs"),
    (POLICY, b"SCL", "inference policy"),
    (QUOTA_USAGE, b"BTR", "quota usage"),
];

/// Memories a layout of an earlier version does not have yet, by the version that added
/// them: opening such a layout finds them empty, and the engine builds them.
pub const ADDED_IN: [(MemoryId, u8); 7] = [
    (MERKLE, 2),
    (JOBS, 3),
    (JOB_TENSORS, 3),
    (JOB_COUNTER, 3),
    (CODE_EPOCHS, 4),
    (POLICY, 5),
    (QUOTA_USAGE, 5),
];

const LAYOUT_MAGIC: &[u8; 5] = b"ICINF";
/// 1: models, admins, log. 2: + the log's Merkle tree. 3: + inference jobs. 4: + code epochs,
/// and model records of version 2 (crate::store: the hash taken as chunks arrive, the finalize
/// job and its failure); a build of layout 3 cannot read them, so its `post_upgrade` refuses
/// this layout and a downgrade changes nothing. 5: + the inference policy and its quota
/// usage (crate::policy). A build of layout 4 would not see the policy (and would serve
/// everyone), so it refuses this layout: its `check_layout` knows no version above 4, and a
/// downgrade leaves the newer code running with nothing changed.
pub const LAYOUT_VERSION: u8 = 5;
/// The oldest layout this build upgrades from.
pub const OLDEST_LAYOUT_VERSION: u8 = 1;
const MANAGER_MAGIC: &[u8; 3] = b"MGR";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Stable memory holds something that is not a MemoryManager.
    NotManaged,
    /// The layout header is missing, foreign, or of a version this code does not read.
    UnknownLayout { magic: Vec<u8>, version: u8 },
    /// A structure's memory does not start with its magic.
    WrongMagic {
        memory: &'static str,
        found: Vec<u8>,
    },
    /// A structure's own header carries a version this build does not read.
    UnknownVersion { memory: &'static str, version: u8 },
    /// Two structures disagree, e.g. the Merkle tree and the log it covers.
    Inconsistent { reason: String },
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::NotManaged => write!(f, "stable memory is not an icinfer layout"),
            LayoutError::UnknownLayout { magic, version } => write!(
                f,
                "unknown stable layout {magic:?} version {version} (this build reads {} version {LAYOUT_VERSION})",
                String::from_utf8_lossy(LAYOUT_MAGIC)
            ),
            LayoutError::WrongMagic { memory, found } => {
                write!(
                    f,
                    "stable memory '{memory}' holds {found:?}, not its structure"
                )
            }
            LayoutError::UnknownVersion { memory, version } => {
                write!(
                    f,
                    "stable memory '{memory}' is of unknown version {version}"
                )
            }
            LayoutError::Inconsistent { reason } => {
                write!(f, "inconsistent stable memory: {reason}")
            }
        }
    }
}

/// Whether `raw` is an empty stable memory, i.e. this is a fresh install.
pub fn is_fresh<M: Memory>(raw: &M) -> bool {
    raw.size() == 0
}

/// Opens the memory manager over `raw`, refusing foreign contents.
pub fn open_manager<M: Memory>(raw: M) -> Result<MemoryManager<M>, LayoutError> {
    if !is_fresh(&raw) {
        let mut magic = [0u8; 3];
        raw.read(0, &mut magic);
        if &magic != MANAGER_MAGIC {
            return Err(LayoutError::NotManaged);
        }
    }
    Ok(MemoryManager::init(raw))
}

/// Writes the layout header into a fresh layout memory.
pub fn write_layout_header<M: Memory>(memory: &M) {
    if memory.size() == 0 {
        assert!(
            memory.grow(1) != -1,
            "stable memory cannot grow by one page"
        );
    }
    let mut header = [0u8; 8];
    header[..5].copy_from_slice(LAYOUT_MAGIC);
    header[5] = LAYOUT_VERSION;
    memory.write(0, &header);
}

/// Checks the layout header and every registered structure's magic, and returns the
/// layout's version. Called on every open of a non-fresh memory, before any structure is
/// initialised. A layout of an older version must not have touched the memories added
/// since: they must still be empty.
pub fn check_layout<M: Memory>(manager: &MemoryManager<M>) -> Result<u8, LayoutError> {
    let layout = manager.get(LAYOUT);
    let mut header = [0u8; 8];
    if layout.size() > 0 {
        layout.read(0, &mut header);
    }
    let version = header[5];
    if &header[..5] != LAYOUT_MAGIC || !(OLDEST_LAYOUT_VERSION..=LAYOUT_VERSION).contains(&version)
    {
        return Err(LayoutError::UnknownLayout {
            magic: header[..5].to_vec(),
            version,
        });
    }
    for (id, magic, name) in REGISTRY.iter().skip(1) {
        let memory = manager.get(*id);
        let added_later = ADDED_IN
            .iter()
            .any(|(added, since)| added == id && *since > version);
        let mut found = [0u8; 3];
        if memory.size() > 0 {
            memory.read(0, &mut found);
        }
        let expected: &[u8; 3] = if added_later { &[0; 3] } else { magic };
        if &found != expected {
            return Err(LayoutError::WrongMagic {
                memory: name,
                found: found.to_vec(),
            });
        }
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn memory_ids_are_unique() {
        let ids: BTreeSet<MemoryId> = REGISTRY.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids.len(), REGISTRY.len());
    }
}
