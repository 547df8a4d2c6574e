//! Saving and restoring a [`Host`] to a directory, so a restarted server keeps its canisters.
//!
//! ```text
//! <dir>/state.cbor              the host: time, counters, and every canister's state
//! <dir>/modules/<sha256>.wasm   installed modules as given (raw or gzipped), by their hash
//! ```
//!
//! `state.cbor` is a checkpoint: one CBOR map (serde, [`ciborium`]) that starts with
//! `format = "icinfer-host state"` and `version = 2` (version 1, without ingress history and
//! journal, is read too); a loader refuses any other format or version. Everything the host did
//! after the checkpoint is in `journal.log` ([`crate::journal`]), which [`Host::load`] replays. Per canister it holds the [`CanisterState`] (controllers, module hash, status,
//! version, certified data, global timer, cycles, stable memory as its written 4 KiB pages),
//! the Wasm heap as its non-zero 64 KiB pages, the values of the mutable globals, and the
//! canister logs; and the ingress history (outcomes by request id). The root key is stored too, and a host whose seed gives another key refuses
//! the state (its certificates would not verify against the key clients pinned).
//!
//! Writes are atomic: each file is written under a temporary name, flushed to disk and renamed
//! over the old one, then the directory is synced, so a crash leaves the previous complete
//! state or the new one. Modules are written once (their name is their hash). A save writes the
//! checkpoint with the next generation, then an empty journal of that generation: a crash
//! between the two leaves a journal of an older generation, whose records the checkpoint
//! already holds, and which is ignored.
//!
//! Saving happens between API calls, where the host's message queue is empty and every call
//! tree has run to completion, so there are no call contexts, callbacks or queued messages to
//! save. Not saved: the function table (rebuilt from the module; a canister that changes its
//! table at run time loses those changes) and the subnet's node keys (the HTTP layer sets them
//! at start).

use crate::engine;
use crate::error::{HostError, Reject, RejectCode};
use crate::host::{Host, IngressStatus};
use crate::journal;
use crate::runtime::{CanisterState, CanisterStatus, InstanceSnapshot};
use crate::stable::{PAGE_SIZE, StableMemory};
use crate::validate::decompress_if_gzipped;
use candid::Principal;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use wasmtime::Val;

const FORMAT: &str = "icinfer-host state";
const VERSION: u32 = 2;
const STATE_FILE: &str = "state.cbor";
const MODULES_DIR: &str = "modules";
const HEAP_CHUNK: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct SavedHost {
    format: String,
    version: u32,
    root_key_der: ByteBuf,
    time_ns: u64,
    next_canister: u64,
    next_id: u64,
    raw_rand_counter: u64,
    canisters: Vec<SavedCanister>,
    /// The generation of the journal that continues this checkpoint (version 2).
    #[serde(default)]
    journal_generation: u64,
    /// The ingress history (version 2).
    #[serde(default)]
    ingress: Vec<SavedIngress>,
}

/// One ingress outcome, as the checkpoint and the journal hold it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedIngress {
    request_id: ByteBuf,
    sender: ByteBuf,
    canister: ByteBuf,
    keep_until_ns: u64,
    reply: Option<ByteBuf>,
    reject_code: u32,
    reject_message: String,
}

impl SavedIngress {
    pub(crate) fn new(request_id: &[u8; 32], s: &IngressStatus) -> SavedIngress {
        let (reply, reject_code, reject_message) = match &s.result {
            Ok(reply) => (Some(ByteBuf::from(reply.clone())), 0, String::new()),
            Err(r) => (None, r.code.as_u32(), r.message.clone()),
        };
        SavedIngress {
            request_id: ByteBuf::from(request_id.to_vec()),
            sender: ByteBuf::from(s.sender.as_slice().to_vec()),
            canister: ByteBuf::from(s.canister.as_slice().to_vec()),
            keep_until_ns: s.keep_until_ns,
            reply,
            reject_code,
            reject_message,
        }
    }

    pub(crate) fn restore(self, host: &mut Host) -> Result<(), HostError> {
        let id: [u8; 32] = self
            .request_id
            .as_slice()
            .try_into()
            .map_err(|_| err("a request id is not 32 bytes"))?;
        let result = match self.reply {
            Some(reply) => Ok(reply.into_vec()),
            None => Err(Reject {
                code: reject_code(self.reject_code)?,
                message: self.reject_message,
            }),
        };
        let status = IngressStatus {
            sender: principal(&self.sender)?,
            canister: principal(&self.canister)?,
            keep_until_ns: self.keep_until_ns,
            result,
        };
        host.restore_ingress(id, status);
        Ok(())
    }
}

fn reject_code(code: u32) -> Result<RejectCode, HostError> {
    Ok(match code {
        1 => RejectCode::SysFatal,
        2 => RejectCode::SysTransient,
        3 => RejectCode::DestinationInvalid,
        4 => RejectCode::CanisterReject,
        5 => RejectCode::CanisterError,
        6 => RejectCode::SysUnknown,
        other => return Err(err(format!("unknown reject code {other}"))),
    })
}

#[derive(Serialize, Deserialize)]
struct SavedCanister {
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
    stable_pages: Vec<(u64, ByteBuf)>,
    /// Heap size in 64 KiB pages; `None` without a module or memory.
    heap_pages: Option<u64>,
    /// Non-zero 64 KiB chunks of the heap, by index.
    heap_chunks: Vec<(u64, ByteBuf)>,
    globals: Vec<SavedGlobal>,
    logs: Vec<(u64, u64, String)>,
    /// The management canister's settings, Candid (version 2).
    #[serde(default)]
    settings: Option<ByteBuf>,
    /// The Wasm chunk store (version 2).
    #[serde(default)]
    chunks: Vec<ByteBuf>,
    /// Absent in states saved before the host kept canister history: empty then.
    #[serde(default)]
    history: crate::history::CanisterHistory,
}

#[derive(Serialize, Deserialize)]
pub(crate) enum SavedGlobal {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(ByteBuf),
}

/// What [`Host::save`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveReport {
    /// Size of `state.cbor` in bytes.
    pub state_bytes: u64,
    /// Modules written by this save (new ones only).
    pub modules_written: usize,
}

pub(crate) fn err(what: impl std::fmt::Display) -> HostError {
    HostError::Persist(what.to_string())
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), HostError>,
) -> Result<u64, HostError> {
    let tmp = path.with_extension("tmp");
    let file = File::create(&tmp).map_err(|e| err(format!("creating {}: {e}", tmp.display())))?;
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    let file = w
        .into_inner()
        .map_err(|e| err(format!("writing {}: {e}", tmp.display())))?;
    file.sync_all()
        .map_err(|e| err(format!("syncing {}: {e}", tmp.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    fs::rename(&tmp, path).map_err(|e| err(format!("renaming {}: {e}", tmp.display())))?;
    Ok(len)
}

pub(crate) fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable on file systems that need it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(crate) fn module_path(dir: &Path, hash: &[u8]) -> PathBuf {
    dir.join(MODULES_DIR)
        .join(format!("{}.wasm", hex::encode(hash)))
}

pub(crate) fn save_global(v: &Val) -> Result<SavedGlobal, HostError> {
    Ok(match v {
        Val::I32(x) => SavedGlobal::I32(*x),
        Val::I64(x) => SavedGlobal::I64(*x),
        Val::F32(x) => SavedGlobal::F32(*x),
        Val::F64(x) => SavedGlobal::F64(*x),
        Val::V128(x) => SavedGlobal::V128(ByteBuf::from(x.as_u128().to_le_bytes().to_vec())),
        _ => return Err(err("cannot save a reference-typed mutable global")),
    })
}

pub(crate) fn load_global(g: SavedGlobal) -> Result<Val, HostError> {
    Ok(match g {
        SavedGlobal::I32(x) => Val::I32(x),
        SavedGlobal::I64(x) => Val::I64(x),
        SavedGlobal::F32(x) => Val::F32(x),
        SavedGlobal::F64(x) => Val::F64(x),
        SavedGlobal::V128(b) => {
            let bytes: [u8; 16] = b
                .as_slice()
                .try_into()
                .map_err(|_| err("a v128 global is not 16 bytes"))?;
            Val::V128(u128::from_le_bytes(bytes).into())
        }
    })
}

pub(crate) fn principal(bytes: &[u8]) -> Result<Principal, HostError> {
    Principal::try_from_slice(bytes).map_err(|e| err(format!("invalid principal: {e}")))
}

impl Host {
    /// Saves the whole host to `dir` (created if missing) and starts an empty journal there;
    /// see [`crate::persist`].
    pub fn save(&mut self, dir: &Path) -> Result<SaveReport, HostError> {
        let generation = self
            .checkpoint_generation()
            .max(journal::generation_in(dir).unwrap_or(0))
            + 1;
        fs::create_dir_all(dir.join(MODULES_DIR))
            .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
        let mut modules_written = 0;
        let mut canisters = Vec::new();
        let (time_ns, counters, root_key_der) =
            (self.time_ns(), self.counters(), self.root_key_der());
        for (id, c) in self.canisters_mut() {
            let state = &c.state;
            if let (Some(hash), Some(wasm)) = (state.module_hash, c.wasm.as_ref()) {
                let path = module_path(dir, &hash);
                if !path.exists() {
                    write_atomically(&path, |w| w.write_all(wasm).map_err(err))?;
                    modules_written += 1;
                }
            }
            let (heap_pages, heap_chunks, globals) = match c.runtime.as_mut() {
                Some(rt) => {
                    let snap = rt.snapshot();
                    let chunks = snap
                        .heap
                        .chunks(HEAP_CHUNK)
                        .enumerate()
                        .filter(|(_, chunk)| chunk.iter().any(|b| *b != 0))
                        .map(|(i, chunk)| (i as u64, ByteBuf::from(chunk.to_vec())))
                        .collect();
                    let globals = snap
                        .globals
                        .iter()
                        .map(save_global)
                        .collect::<Result<_, _>>()?;
                    (snap.pages, chunks, globals)
                }
                None => (None, Vec::new(), Vec::new()),
            };
            canisters.push(SavedCanister {
                id: ByteBuf::from(id.as_slice().to_vec()),
                controllers: state
                    .controllers
                    .iter()
                    .map(|p| ByteBuf::from(p.as_slice().to_vec()))
                    .collect(),
                module_hash: state.module_hash.map(|h| ByteBuf::from(h.to_vec())),
                status: state.status as u8,
                version: state.version,
                certified_data: ByteBuf::from(state.certified_data.clone()),
                global_timer: state.global_timer,
                cycles: ByteBuf::from(state.cycles.to_be_bytes().to_vec()),
                stable_size_pages: state.stable_memory.size_pages(),
                stable_pages: state
                    .stable_memory
                    .pages()
                    .map(|(i, p)| (i, ByteBuf::from(p.to_vec())))
                    .collect(),
                heap_pages,
                heap_chunks,
                globals,
                logs: c
                    .logs
                    .iter()
                    .map(|l| (l.idx, l.timestamp_ns, l.content.clone()))
                    .collect(),
                settings: Some(ByteBuf::from(c.managed.settings.encode())),
                chunks: c
                    .managed
                    .chunks
                    .hashes()
                    .filter_map(|h| c.managed.chunks.get(h))
                    .map(|chunk| ByteBuf::from(chunk.to_vec()))
                    .collect(),
                history: state.history.clone(),
            });
        }
        let saved = SavedHost {
            format: FORMAT.into(),
            version: VERSION,
            root_key_der: ByteBuf::from(root_key_der),
            time_ns,
            next_canister: counters.0,
            next_id: counters.1,
            raw_rand_counter: counters.2,
            canisters,
            journal_generation: generation,
            ingress: self
                .all_ingress()
                .map(|(id, s)| SavedIngress::new(id, s))
                .collect(),
        };
        let state_bytes = write_atomically(&dir.join(STATE_FILE), |w| {
            ciborium::into_writer(&saved, w).map_err(|e| err(format!("encoding the state: {e}")))
        })?;
        sync_dir(&dir.join(MODULES_DIR));
        sync_dir(dir);
        journal::write_empty(dir, generation)?;
        self.set_checkpoint_generation(generation);
        self.mark_all_journaled();
        Ok(SaveReport {
            state_bytes,
            modules_written,
        })
    }

    /// Whether `dir` holds a saved host.
    pub fn saved_state_exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).is_file()
    }

    /// Restores a host saved by [`Host::save`] in `dir` and replays the journal written since,
    /// with `config` (whose seed must give the saved root key). Modules are compiled again (or
    /// taken from the module cache).
    pub fn load(config: crate::HostConfig, dir: &Path) -> Result<Host, HostError> {
        Ok(Self::load_with_journal(config, dir)?.0)
    }

    /// [`Host::load`], also saying how much of the journal was valid.
    pub(crate) fn load_with_journal(
        config: crate::HostConfig,
        dir: &Path,
    ) -> Result<(Host, journal::Replayed), HostError> {
        let path = dir.join(STATE_FILE);
        let file =
            File::open(&path).map_err(|e| err(format!("opening {}: {e}", path.display())))?;
        let saved: SavedHost = ciborium::from_reader(BufReader::new(file))
            .map_err(|e| err(format!("decoding {}: {e}", path.display())))?;
        if saved.format != FORMAT || !(1..=VERSION).contains(&saved.version) {
            return Err(err(format!(
                "{} is `{}` version {}; this host reads `{FORMAT}` version {VERSION}",
                path.display(),
                saved.format,
                saved.version
            )));
        }
        let mut host = Host::new(config);
        if host.root_key_der() != saved.root_key_der.as_slice() {
            return Err(err(
                "the state was saved by a host with another seed (its root key differs)",
            ));
        }
        host.restore_counters(
            saved.time_ns,
            (saved.next_canister, saved.next_id, saved.raw_rand_counter),
        );
        for sc in saved.canisters {
            let id = principal(&sc.id)?;
            let module_hash: Option<[u8; 32]> = match &sc.module_hash {
                Some(h) => Some(
                    h.as_slice()
                        .try_into()
                        .map_err(|_| err("a module hash is not 32 bytes"))?,
                ),
                None => None,
            };
            let cycles: [u8; 16] = sc
                .cycles
                .as_slice()
                .try_into()
                .map_err(|_| err("cycles are not 16 bytes"))?;
            let status = match sc.status {
                1 => CanisterStatus::Running,
                2 => CanisterStatus::Stopping,
                3 => CanisterStatus::Stopped,
                other => return Err(err(format!("unknown canister status {other}"))),
            };
            let mut pages = Vec::with_capacity(sc.stable_pages.len());
            for (i, p) in sc.stable_pages {
                let page: Box<[u8; PAGE_SIZE]> = p
                    .into_vec()
                    .into_boxed_slice()
                    .try_into()
                    .map_err(|_| err("a stable-memory page is not 4 KiB"))?;
                pages.push((i, page));
            }
            let state = CanisterState {
                id: Some(id),
                controllers: sc
                    .controllers
                    .iter()
                    .map(|p| principal(p))
                    .collect::<Result<_, _>>()?,
                module_hash,
                status,
                version: sc.version,
                certified_data: sc.certified_data.into_vec(),
                global_timer: sc.global_timer,
                cycles: u128::from_be_bytes(cycles),
                stable_memory: StableMemory::from_pages(sc.stable_size_pages, pages),
                history: sc.history,
            };
            let module = match module_hash {
                None => None,
                Some(hash) => {
                    let (compiled, wasm) = load_module(&host, dir, &hash)?;
                    let mut heap = vec![0u8; sc.heap_pages.unwrap_or(0) as usize * HEAP_CHUNK];
                    for (i, chunk) in sc.heap_chunks {
                        let start = i as usize * HEAP_CHUNK;
                        let end = start.checked_add(chunk.len()).filter(|e| *e <= heap.len());
                        let end = end.ok_or_else(|| err("a heap chunk lies beyond the heap"))?;
                        heap[start..end].copy_from_slice(&chunk);
                    }
                    let globals = sc
                        .globals
                        .into_iter()
                        .map(load_global)
                        .collect::<Result<_, _>>()?;
                    let snapshot = InstanceSnapshot {
                        heap,
                        pages: sc.heap_pages,
                        globals,
                    };
                    Some((compiled, snapshot, wasm))
                }
            };
            let logs = sc
                .logs
                .into_iter()
                .map(|(idx, timestamp_ns, content)| crate::LogRecord {
                    idx,
                    timestamp_ns,
                    content,
                })
                .collect();
            host.restore_canister(state, module, logs)?;
            let c = host.canister_entry(id).expect("just restored");
            journal::restore_managed(c, sc.settings, None, sc.chunks)?;
        }
        for i in saved.ingress {
            i.restore(&mut host)?;
        }
        host.set_checkpoint_generation(saved.journal_generation);
        host.mark_all_journaled();
        let replayed = journal::replay(&mut host, dir)?;
        Ok((host, replayed))
    }
}

/// The module `hash` from `dir`, checked against its hash and compiled (or taken from the
/// module cache); with the bytes as installed.
pub(crate) fn load_module(
    host: &Host,
    dir: &Path,
    hash: &[u8; 32],
) -> Result<(std::sync::Arc<engine::CompiledModule>, Vec<u8>), HostError> {
    let path = module_path(dir, hash);
    let wasm = fs::read(&path).map_err(|e| err(format!("reading {}: {e}", path.display())))?;
    if Sha256::digest(&wasm).as_slice() != hash {
        return Err(err(format!(
            "{} does not have the hash in its name",
            path.display()
        )));
    }
    let limits = host.validation_limits();
    let (raw, _) = decompress_if_gzipped(&wasm, limits.max_decompressed_bytes)?;
    let compiled = engine::compile(&raw, &limits, host.module_cache_dir().as_deref())?;
    Ok((compiled, wasm))
}
