//! The journal: each change of the host, appended and synced to disk before it is
//! acknowledged, so that a crash (`kill -9`, power loss) loses nothing a client was told.
//!
//! ```text
//! <dir>/state.cbor    the last checkpoint (crate::persist), naming its journal's generation
//! <dir>/journal.log   a header, then one record per durable point since that checkpoint
//!
//! header:  "icinfer-journal\0" (16 bytes) | version u32 LE (1) | generation u64 LE
//! record:  payload length u32 LE | SHA-256(payload) (32 bytes) | payload (CBOR, `Record`)
//! ```
//!
//! A record holds what changed since the previous one: time and counters; for every canister
//! its small state (controllers, status, version, history, certified data, timer, cycles,
//! module hash),
//! the 4 KiB pages of heap and of stable memory that committed executions changed (the host
//! compares them anyway, to charge 1,000 instructions per dirtied page), the globals and the
//! new log lines; the ids of deleted canisters by omission; and the new ingress outcomes by
//! request id (replay protection). A memory the journal has no base for (a new canister, a new
//! module, a heap put back after a failed upgrade) is written whole, once. Modules are written
//! to `modules/` before the first record that names them.
//!
//! [`Journal::append`] writes one record and syncs it (`fdatasync`) before it returns; the
//! server replies only after that. [`crate::Host::load`] applies the records in order over the
//! checkpoint. A record whose length runs past the end of the file, or whose checksum fails, is
//! a torn tail (a crash while writing it, before anyone was told): it and everything after it
//! is dropped, never applied in part, and [`Journal::open`] cuts it off. A checkpoint
//! ([`crate::Host::save`], [`Journal::checkpoint`]) writes `state.cbor` with the next generation
//! and then an empty journal of that generation; a journal of another generation is already in
//! the checkpoint and is ignored.

use crate::error::HostError;
use crate::host::{Canister, Host};
use crate::persist::{
    SavedGlobal, SavedIngress, err, load_global, load_module, module_path, principal, save_global,
    sync_dir, write_atomically,
};
use crate::runtime::{CanisterState, CanisterStatus, HeapDelta, InstanceSnapshot};
use crate::stable::{PAGE_SIZE, StableDelta, StableMemory};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const JOURNAL_FILE: &str = "journal.log";
const MAGIC: &[u8; 16] = b"icinfer-journal\0";
const VERSION: u32 = 1;
const HEADER_BYTES: u64 = 16 + 4 + 8;
const RECORD_HEADER_BYTES: usize = 4 + 32;

/// Installed modules (by hash) a record names, to be on disk before it.
type Modules = Vec<([u8; 32], Arc<Vec<u8>>)>;
/// Stable-memory pages by index.
type StablePages = Vec<(u64, Box<[u8; PAGE_SIZE]>)>;

/// What changed in the host since the previous record.
#[derive(Serialize, Deserialize)]
struct Record {
    time_ns: u64,
    counters: (u64, u64, u64),
    /// Every canister the host has now (one absent from it was deleted).
    canister_ids: Vec<ByteBuf>,
    canisters: Vec<CanisterDelta>,
    ingress: Vec<SavedIngress>,
}

#[derive(Serialize, Deserialize)]
struct CanisterDelta {
    id: ByteBuf,
    controllers: Vec<ByteBuf>,
    module_hash: Option<ByteBuf>,
    status: u8,
    version: u64,
    certified_data: ByteBuf,
    global_timer: u64,
    /// Big-endian u128.
    cycles: ByteBuf,
    stable_size_pages: u64,
    stable_whole: bool,
    stable_pages: Vec<(u64, ByteBuf)>,
    /// Heap size in 64 KiB pages; `None` without a module or memory.
    heap_size_pages: Option<u64>,
    heap_whole: bool,
    heap_pages: Vec<(u64, ByteBuf)>,
    globals: Vec<SavedGlobal>,
    /// Index of the first log line below; the lines from there on replace the old ones.
    logs_from: u64,
    logs: Vec<(u64, u64, String)>,
    /// The management canister's settings (Candid), when they changed.
    #[serde(default)]
    settings: Option<ByteBuf>,
    /// Every chunk hash of the Wasm chunk store, when it changed; with the new chunks.
    #[serde(default)]
    chunk_hashes: Option<Vec<ByteBuf>>,
    #[serde(default)]
    new_chunks: Vec<ByteBuf>,
    /// The canister's history as `canister_info` serves it (at most 20 changes, so whole).
    #[serde(default)]
    history: crate::history::CanisterHistory,
}

/// What the journal last wrote of a canister's management state (settings, chunk hashes).
#[derive(Default)]
pub(crate) struct ManagedMark {
    settings: Vec<u8>,
    chunks: BTreeSet<[u8; 32]>,
}

impl ManagedMark {
    pub(crate) fn of(c: &Canister) -> ManagedMark {
        ManagedMark {
            settings: c.managed.settings.encode(),
            chunks: c.managed.chunks.hashes().copied().collect(),
        }
    }
}

/// The settings and chunks that changed since the journal last wrote them:
/// (settings, every chunk hash, new chunks).
fn managed_delta(c: &mut Canister) -> (Option<ByteBuf>, Option<Vec<ByteBuf>>, Vec<ByteBuf>) {
    let now = ManagedMark::of(c);
    let old = std::mem::replace(&mut c.managed_journaled, now);
    let now = &c.managed_journaled;
    let settings = (now.settings != old.settings).then(|| ByteBuf::from(now.settings.clone()));
    if now.chunks == old.chunks {
        return (settings, None, Vec::new());
    }
    let hashes = now
        .chunks
        .iter()
        .map(|h| ByteBuf::from(h.to_vec()))
        .collect();
    let new = now
        .chunks
        .difference(&old.chunks)
        .filter_map(|h| c.managed.chunks.get(h))
        .map(|chunk| ByteBuf::from(chunk.to_vec()))
        .collect();
    (settings, Some(hashes), new)
}

/// What [`Journal::append`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReport {
    /// Bytes of the record (header included).
    pub record_bytes: u64,
    /// Changed 4 KiB heap pages in it.
    pub heap_pages: u64,
    /// Changed 4 KiB stable-memory pages in it.
    pub stable_pages: u64,
}

/// How much of a journal [`Host::load`] applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Records applied.
    pub records: u64,
    /// Length of the valid journal (header and applied records); `None` when the journal is
    /// missing or of another generation.
    pub valid_bytes: Option<u64>,
    /// Bytes of torn tail dropped after the valid records.
    pub dropped_bytes: u64,
}

/// The open journal of a state directory, appended to after each change.
pub struct Journal {
    dir: PathBuf,
    file: File,
    bytes: u64,
    /// Module files known to be on disk.
    modules: HashSet<[u8; 32]>,
    /// The last record appended (header included), for [`Journal::take_last_record`].
    last_record: Vec<u8>,
}

fn journal_path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

fn header(generation: u64) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&generation.to_le_bytes());
    h
}

fn read_header(file: &mut File) -> Option<u64> {
    let mut h = [0u8; HEADER_BYTES as usize];
    file.read_exact(&mut h).ok()?;
    let version = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
    (&h[..16] == MAGIC && version == VERSION)
        .then(|| u64::from_le_bytes(h[20..28].try_into().expect("8 bytes")))
}

/// The generation of the journal in `dir`, if it has a readable one.
pub(crate) fn generation_in(dir: &Path) -> Option<u64> {
    read_header(&mut File::open(journal_path(dir)).ok()?)
}

/// Replaces the journal in `dir` by an empty one of `generation` (atomically).
pub(crate) fn write_empty(dir: &Path, generation: u64) -> Result<(), HostError> {
    write_atomically(&journal_path(dir), |w| {
        w.write_all(&header(generation)).map_err(err)
    })?;
    sync_dir(dir);
    Ok(())
}

/// Reads the next record's payload; `None` at the end or at a torn record.
fn next_payload(data: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let sum = data.get(4..RECORD_HEADER_BYTES)?;
    let payload = data.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES.checked_add(len as usize)?)?;
    (Sha256::digest(payload).as_slice() == sum).then_some(payload)
}

/// Applies the journal of `dir` to `host` (just loaded from the checkpoint of the same
/// generation), up to its first torn record.
pub(crate) fn replay(host: &mut Host, dir: &Path) -> Result<Replayed, HostError> {
    let Ok(mut file) = File::open(journal_path(dir)) else {
        return Ok(Replayed::default());
    };
    if read_header(&mut file) != Some(host.checkpoint_generation()) {
        return Ok(Replayed::default());
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| err(format!("reading the journal: {e}")))?;
    let mut at = 0usize;
    let mut records = 0;
    while let Some(payload) = next_payload(&data[at..]) {
        let record: Record = ciborium::from_reader(payload)
            .map_err(|e| err(format!("decoding journal record {records}: {e}")))?;
        apply(host, dir, record)?;
        at += RECORD_HEADER_BYTES + payload.len();
        records += 1;
    }
    host.mark_all_journaled();
    Ok(Replayed {
        records,
        valid_bytes: Some(HEADER_BYTES + at as u64),
        dropped_bytes: (data.len() - at) as u64,
    })
}

/// Applies a record [`Journal::take_last_record`] gave to `host`, a replica loaded from the
/// same directory and kept up to date with every record since.
pub fn apply_record(host: &mut Host, dir: &Path, record: &[u8]) -> Result<(), HostError> {
    let payload = next_payload(record).ok_or_else(|| err("a damaged journal record"))?;
    let record: Record = ciborium::from_reader(payload)
        .map_err(|e| err(format!("decoding a journal record: {e}")))?;
    apply(host, dir, record)
}

fn pages_out(pages: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Vec<(u64, ByteBuf)> {
    pages
        .into_iter()
        .map(|(i, p)| (i, ByteBuf::from(p)))
        .collect()
}

/// Takes every change since the previous record from `host`, with the modules it names.
fn take_record(host: &mut Host) -> Result<(Record, Modules), HostError> {
    let (time_ns, counters) = (host.time_ns(), host.counters());
    let mut canisters = Vec::new();
    let mut modules = Vec::new();
    for (id, c) in host.canisters_mut() {
        if let (Some(hash), Some(wasm)) = (c.state.module_hash, &c.wasm) {
            modules.push((hash, wasm.clone()));
        }
        let stable = c.state.stable_memory.take_unjournaled();
        let heap = match c.runtime.as_mut() {
            Some(rt) => rt.take_unjournaled(),
            None => HeapDelta {
                size_pages: None,
                whole: true,
                pages: Vec::new(),
                globals: Vec::new(),
            },
        };
        let logs_from = c.logs_journaled.min(c.logs.len());
        let logs = c.logs[logs_from..]
            .iter()
            .map(|l| (l.idx, l.timestamp_ns, l.content.clone()))
            .collect();
        c.logs_journaled = c.logs.len();
        let (settings, chunk_hashes, new_chunks) = managed_delta(c);
        let s = &c.state;
        canisters.push(CanisterDelta {
            id: ByteBuf::from(id.as_slice().to_vec()),
            controllers: s
                .controllers
                .iter()
                .map(|p| ByteBuf::from(p.as_slice().to_vec()))
                .collect(),
            module_hash: s.module_hash.map(|h| ByteBuf::from(h.to_vec())),
            status: s.status as u8,
            version: s.version,
            certified_data: ByteBuf::from(s.certified_data.clone()),
            global_timer: s.global_timer,
            cycles: ByteBuf::from(s.cycles.to_be_bytes().to_vec()),
            stable_size_pages: stable.size_pages,
            stable_whole: stable.whole,
            stable_pages: pages_out(stable.pages.into_iter().map(|(i, p)| (i, p.to_vec()))),
            heap_size_pages: heap.size_pages,
            heap_whole: heap.whole,
            heap_pages: pages_out(heap.pages),
            globals: heap
                .globals
                .iter()
                .map(save_global)
                .collect::<Result<_, _>>()?,
            logs_from: logs_from as u64,
            logs,
            settings,
            chunk_hashes,
            new_chunks,
            history: s.history.clone(),
        });
    }
    let canister_ids = canisters.iter().map(|c| c.id.clone()).collect();
    let ingress = host
        .take_unjournaled_ingress()
        .iter()
        .map(|(id, s)| SavedIngress::new(id, s))
        .collect();
    let record = Record {
        time_ns,
        counters,
        canister_ids,
        canisters,
        ingress,
    };
    Ok((record, modules))
}

fn status(code: u8) -> Result<CanisterStatus, HostError> {
    Ok(match code {
        1 => CanisterStatus::Running,
        2 => CanisterStatus::Stopping,
        3 => CanisterStatus::Stopped,
        other => return Err(err(format!("unknown canister status {other}"))),
    })
}

fn pages_in(pages: Vec<(u64, ByteBuf)>) -> Result<StablePages, HostError> {
    pages
        .into_iter()
        .map(|(i, p)| {
            let page: Box<[u8; PAGE_SIZE]> = p
                .into_vec()
                .into_boxed_slice()
                .try_into()
                .map_err(|_| err("a journal page is not 4 KiB"))?;
            Ok((i, page))
        })
        .collect()
}

fn apply(host: &mut Host, dir: &Path, record: Record) -> Result<(), HostError> {
    host.restore_counters(record.time_ns, record.counters);
    let ids = record
        .canister_ids
        .iter()
        .map(|id| principal(id))
        .collect::<Result<BTreeSet<_>, _>>()?;
    host.retain_canisters(|id| ids.contains(id));
    for delta in record.canisters {
        apply_canister(host, dir, delta)?;
    }
    for i in record.ingress {
        i.restore(host)?;
    }
    Ok(())
}

fn apply_canister(host: &mut Host, dir: &Path, d: CanisterDelta) -> Result<(), HostError> {
    let id = principal(&d.id)?;
    let module_hash: Option<[u8; 32]> = match &d.module_hash {
        Some(h) => Some(
            h.as_slice()
                .try_into()
                .map_err(|_| err("a module hash is not 32 bytes"))?,
        ),
        None => None,
    };
    let cycles: [u8; 16] = d
        .cycles
        .as_slice()
        .try_into()
        .map_err(|_| err("cycles are not 16 bytes"))?;
    if host.canister_entry(id).is_none() {
        if !d.stable_whole || !d.heap_whole {
            return Err(err(format!(
                "the journal changes canister {id}, which it never created"
            )));
        }
        let state = CanisterState {
            id: Some(id),
            ..CanisterState::default()
        };
        host.restore_canister(state, None, Vec::new())?;
    }
    let globals = d
        .globals
        .into_iter()
        .map(load_global)
        .collect::<Result<Vec<_>, _>>()?;
    let heap_pages = d
        .heap_pages
        .into_iter()
        .map(|(i, p)| (i, p.into_vec()))
        .collect::<Vec<_>>();
    // A whole heap builds a new instance, of the module on disk unless it is the running one.
    let mut fresh = None;
    if d.heap_whole
        && let Some(hash) = module_hash
    {
        let c = host.canister_entry(id).expect("created above");
        let running = match (&c.runtime, &c.wasm) {
            (Some(rt), Some(wasm)) if c.state.module_hash == Some(hash) => {
                Some((rt.module.clone(), wasm.as_ref().clone()))
            }
            _ => None,
        };
        let (compiled, wasm) = match running {
            Some(running) => running,
            None => load_module(host, dir, &hash)?,
        };
        let size = d.heap_size_pages.unwrap_or(0) as usize * crate::stable::WASM_PAGE_SIZE as usize;
        let mut heap = vec![0u8; size];
        for (i, p) in &heap_pages {
            let start = *i as usize * PAGE_SIZE;
            let end = start.checked_add(p.len()).filter(|e| *e <= heap.len());
            let end = end.ok_or_else(|| err("a journal page lies beyond the heap"))?;
            heap[start..end].copy_from_slice(p);
        }
        let snapshot = InstanceSnapshot {
            heap,
            pages: d.heap_size_pages,
            globals: globals.clone(),
        };
        fresh = Some((compiled, snapshot, wasm));
        host.note_compiled_module(hash);
    }
    let c = host.canister_entry(id).expect("created above");
    c.state.controllers = d
        .controllers
        .iter()
        .map(|p| principal(p))
        .collect::<Result<_, _>>()?;
    c.state.module_hash = module_hash;
    c.state.status = status(d.status)?;
    c.state.version = d.version;
    c.state.history = d.history;
    c.state.certified_data = d.certified_data.into_vec();
    c.state.global_timer = d.global_timer;
    c.state.cycles = u128::from_be_bytes(cycles);
    if d.stable_whole {
        c.state.stable_memory = StableMemory::default();
    }
    c.state.stable_memory.apply(StableDelta {
        size_pages: d.stable_size_pages,
        whole: d.stable_whole,
        pages: pages_in(d.stable_pages)?,
    });
    match (module_hash, fresh) {
        (None, _) => {
            c.runtime = None;
            c.wasm = None;
        }
        (Some(_), Some((compiled, snapshot, wasm))) => {
            let mut rt = crate::runtime::Runtime::new(compiled, Default::default())?;
            rt.restore_snapshot(snapshot)?;
            rt.mark_journaled();
            c.runtime = Some(rt);
            c.wasm = Some(Arc::new(wasm));
        }
        (Some(_), None) => {
            let rt = c.runtime.as_mut().ok_or_else(|| {
                err(format!(
                    "the journal changes the heap of {id}, which has none"
                ))
            })?;
            rt.apply(HeapDelta {
                size_pages: d.heap_size_pages,
                whole: false,
                pages: heap_pages,
                globals,
            })?;
        }
    }
    let from = (d.logs_from as usize).min(c.logs.len());
    c.logs.truncate(from);
    c.logs.extend(
        d.logs
            .into_iter()
            .map(|(idx, timestamp_ns, content)| crate::LogRecord {
                idx,
                timestamp_ns,
                content,
            }),
    );
    c.logs_journaled = c.logs.len();
    restore_managed(c, d.settings, d.chunk_hashes, d.new_chunks)?;
    c.managed_journaled = ManagedMark::of(c);
    Ok(())
}

/// Puts back settings and chunks as a record or the checkpoint holds them.
pub(crate) fn restore_managed(
    c: &mut Canister,
    settings: Option<ByteBuf>,
    chunk_hashes: Option<Vec<ByteBuf>>,
    new_chunks: Vec<ByteBuf>,
) -> Result<(), HostError> {
    if let Some(bytes) = settings {
        c.managed
            .settings
            .restore(&bytes)
            .map_err(|e| err(format!("decoding canister settings: {e}")))?;
    }
    if let Some(hashes) = chunk_hashes {
        let keep: BTreeSet<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        c.managed.chunks.retain(|h| keep.contains(&h[..]));
    }
    for chunk in new_chunks {
        c.managed
            .chunks
            .upload(chunk.into_vec())
            .map_err(|r| err(format!("restoring a Wasm chunk: {}", r.message)))?;
    }
    Ok(())
}

impl Journal {
    /// Opens the state in `dir`: restores the host saved there (its checkpoint and journal,
    /// cutting off a torn tail) or, in an empty directory, a new host from `config` (saved at
    /// once). The journal is then ready for [`Journal::append`].
    pub fn open(config: crate::HostConfig, dir: &Path) -> Result<(Host, Journal), HostError> {
        let mut host;
        if Host::saved_state_exists(dir) {
            let replayed;
            (host, replayed) = Host::load_with_journal(config, dir)?;
            match replayed.valid_bytes {
                // A torn tail is cut off, so that new records follow the valid ones.
                Some(valid) => {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(journal_path(dir))
                        .map_err(|e| err(format!("opening the journal: {e}")))?;
                    if replayed.dropped_bytes > 0 {
                        file.set_len(valid)
                            .and_then(|()| file.sync_all())
                            .map_err(|e| err(format!("cutting the journal's torn tail: {e}")))?;
                    }
                }
                // No journal of the checkpoint's generation: start one.
                None => write_empty(dir, host.checkpoint_generation())?,
            }
        } else {
            host = Host::new(config);
            host.save(dir)?;
        }
        let journal = Journal::append_to(dir)?;
        Ok((host, journal))
    }

    /// Checkpoints `host` in `dir` (replacing what the directory held) and starts its journal.
    pub fn create(host: &mut Host, dir: &Path) -> Result<Journal, HostError> {
        host.save(dir)?;
        Journal::append_to(dir)
    }

    fn append_to(dir: &Path) -> Result<Journal, HostError> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal_path(dir))
            .map_err(|e| err(format!("opening the journal: {e}")))?;
        let bytes = file
            .seek(SeekFrom::End(0))
            .map_err(|e| err(format!("opening the journal: {e}")))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file,
            bytes,
            modules: HashSet::new(),
            last_record: Vec::new(),
        })
    }

    /// Appends what changed in `host` since the previous record (or checkpoint) and syncs it
    /// to disk: once it returns, the change survives a crash.
    pub fn append(&mut self, host: &mut Host) -> Result<AppendReport, HostError> {
        let (record, modules) = take_record(host)?;
        for (hash, wasm) in modules {
            if self.modules.contains(&hash) {
                continue;
            }
            let path = module_path(&self.dir, &hash);
            if !path.exists() {
                std::fs::create_dir_all(path.parent().expect("in modules/"))
                    .map_err(|e| err(format!("creating the modules directory: {e}")))?;
                write_atomically(&path, |w| w.write_all(&wasm).map_err(err))?;
                sync_dir(path.parent().expect("in modules/"));
            }
            self.modules.insert(hash);
        }
        let (heap_pages, stable_pages) = record.canisters.iter().fold((0, 0), |(h, s), c| {
            (
                h + c.heap_pages.len() as u64,
                s + c.stable_pages.len() as u64,
            )
        });
        let mut buf = vec![0u8; RECORD_HEADER_BYTES];
        ciborium::into_writer(&record, &mut buf)
            .map_err(|e| err(format!("encoding a journal record: {e}")))?;
        let len = u32::try_from(buf.len() - RECORD_HEADER_BYTES)
            .map_err(|_| err("a journal record is larger than 4 GiB"))?;
        let sum = Sha256::digest(&buf[RECORD_HEADER_BYTES..]);
        buf[..4].copy_from_slice(&len.to_le_bytes());
        buf[4..RECORD_HEADER_BYTES].copy_from_slice(&sum);
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
        {
            // Leave no partial record for the next one to follow; the caller checkpoints.
            let _ = self.file.set_len(self.bytes);
            return Err(err(format!("appending to the journal: {e}")));
        }
        self.bytes += buf.len() as u64;
        let report = AppendReport {
            record_bytes: buf.len() as u64,
            heap_pages,
            stable_pages,
        };
        self.last_record = buf;
        Ok(report)
    }

    /// Saves a checkpoint of `host` ([`Host::save`]) and continues with its empty journal.
    pub fn checkpoint(&mut self, host: &mut Host) -> Result<crate::persist::SaveReport, HostError> {
        let report = host.save(&self.dir)?;
        let modules = std::mem::take(&mut self.modules);
        *self = Journal::append_to(&self.dir)?;
        self.modules = modules;
        Ok(report)
    }

    /// The record the last [`Journal::append`] wrote, for [`apply_record`] on a replica of the
    /// host (empty after it was taken).
    pub fn take_last_record(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.last_record)
    }

    /// Bytes in the journal (header included): what a checkpoint would compact.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}
