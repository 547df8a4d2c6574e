//! [`HostHandle`]: one thread owns the [`Host`]; everything else sends it jobs (queries go to
//! the query replica instead when there is one, `replica.rs`).
//!
//! The host is single-threaded (`&mut self` everywhere), so access is serialised through an
//! actor thread rather than a lock: HTTP handlers, the CLI and tests send closures to it and
//! wait for their result. The actor also
//! - moves the host's clock up to the wall clock before every job (unless told not to), so
//!   certificates carry a fresh `/time` and `ingress_expiry` means what clients expect;
//! - runs due global timers (a canister's `canister_global_timer`) when their time comes;
//!   heartbeats are not run by the server;
//! - records the status of every ingress call by request id in the host's ingress history
//!   (`/request_status`, and replay protection) until its expiry has passed by
//!   [`crate::auth::MAX_INGRESS_TTL_NS`];
//! - makes every change durable before its reply leaves (see [`PersistOptions`]).
//!
//! ## Durability
//! With persistence on, a job that changed something (a committed update call, an
//! installation, a timer, any [`HostHandle::with`] job) is followed by one record appended to
//! the host's journal and synced to disk ([`icinfer_host::journal`]) before the job's result
//! is handed back: a reply, and any certificate of a request's status, leaves only after the
//! change it reports is on disk, so `kill -9` loses nothing acknowledged. A record holds the
//! 4 KiB pages the change dirtied (heap and stable memory), the small canister state and the
//! new ingress outcomes. Once the journal exceeds [`PersistOptions::checkpoint_bytes`], and at
//! a clean shutdown, the whole host is saved as a checkpoint and the journal starts empty. If a
//! record cannot be written, the host is checkpointed instead; if that fails too, the reply
//! is replaced by a 503 refusal (the change stays in memory and goes to disk with the next
//! successful write).

use crate::auth::MAX_INGRESS_TTL_NS;
use crate::cbor;
use crate::replica::Replica;
use candid::Principal;
use ciborium::Value;
use icinfer_host::journal::Journal;
use icinfer_host::persist::SaveReport;
use icinfer_host::{Host, HostConfig, HostError, IngressStatus, LabeledTree, Reject, RejectCode};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the host is kept, and when its journal is compacted.
#[derive(Clone, Debug)]
pub struct PersistOptions {
    /// The state directory (created if missing).
    pub dir: PathBuf,
    /// Journal size above which the host is checkpointed (saved whole) and the journal
    /// emptied.
    pub checkpoint_bytes: u64,
}

/// Default [`PersistOptions::checkpoint_bytes`]: a checkpoint writes the whole heap and stable
/// memory (hundreds of MiB with a model loaded), so the journal may grow to a few times that.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 1 << 30;

impl PersistOptions {
    /// Keeps the host in `dir`, checkpointing after [`DEFAULT_CHECKPOINT_BYTES`] of journal.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PersistOptions {
            dir: dir.into(),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
        }
    }
}

/// What making a job's changes durable cost (the last job's, see [`HostHandle::last_commit`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitCost {
    /// Bytes appended to the journal (0 when the host was checkpointed instead).
    pub journal_bytes: u64,
    /// 4 KiB heap and stable pages written.
    pub heap_pages: u64,
    pub stable_pages: u64,
    /// Time to encode, write and sync the record, in microseconds.
    pub micros: u64,
}

/// Options of a [`HostHandle`].
#[derive(Clone, Debug)]
pub struct HandleOptions {
    /// Save and restore the host here.
    pub persist: Option<PersistOptions>,
    /// Move the host's time up to the wall clock before every job (default: yes). Without it,
    /// certificates carry the host's own time, which clients check against theirs.
    pub follow_wall_clock: bool,
    /// With persistence, answer queries on a replica of the host on another thread
    /// (`replica.rs`), so that a long update or a checkpoint does not hold them up; it
    /// costs a second copy of heaps and stable memory. Default: no.
    pub query_replica: bool,
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions {
            persist: None,
            follow_wall_clock: true,
            query_replica: false,
        }
    }
}

/// The one node's Ed25519 key, which signs query responses; derived from the host's seed and
/// published in its state tree.
pub(crate) struct Signer {
    node_key: ic_ed25519::PrivateKey,
    node_der: Vec<u8>,
    pub node_id: Principal,
}

impl Signer {
    /// The node key of `host`, published in its state tree.
    pub fn new(host: &mut Host) -> Signer {
        let node_key = ic_ed25519::PrivateKey::generate_from_seed(
            &host.derive_secret("icinfer-http node key"),
        );
        let node_der = node_key.public_key().serialize_rfc8410_der();
        let node_id = Principal::self_authenticating(&node_der);
        let signer = Signer {
            node_key,
            node_der,
            node_id,
        };
        signer.publish(host);
        signer
    }

    /// Publishes the node's key in `host`'s state tree.
    pub fn publish(&self, host: &mut Host) {
        host.set_node_public_keys(vec![(self.node_id, self.node_der.clone())]);
    }

    /// Signs a query response made at `host`'s time with the node key
    /// (`"\x0Bic-response" · hash_of_map(signable)`) and returns the `signatures` array.
    pub fn sign_query_response(&self, host: &Host, signable: Vec<(&str, Value)>) -> Value {
        let timestamp = host.time_ns();
        let mut fields: Vec<(Value, Value)> = signable
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect();
        fields.push((
            Value::Text("timestamp".into()),
            Value::Integer(timestamp.into()),
        ));
        let hash = cbor::hash_of_map(&Value::Map(fields)).expect("hashable by construction");
        let mut message = b"\x0Bic-response".to_vec();
        message.extend_from_slice(&hash);
        let signature = self.node_key.sign_message(&message);
        Value::Array(vec![cbor::map([
            ("timestamp", Value::Integer(timestamp.into())),
            ("signature", Value::Bytes(signature.to_vec())),
            ("identity", Value::Bytes(self.node_id.as_slice().to_vec())),
        ])])
    }
}

/// Moves `host`'s clock up to the wall clock.
pub(crate) fn follow_wall_clock(host: &mut Host) {
    let now = wall_clock_ns();
    let time = host.time_ns();
    if now > time {
        host.advance_time(Duration::from_nanos(now - time));
    }
}

/// The state the actor thread owns.
pub(crate) struct Core {
    pub host: Host,
    pub signer: Signer,
    follow_wall_clock: bool,
    /// The query replica, told of every record.
    replica: Option<Replica>,
    persist: Option<(PersistOptions, Journal)>,
    dirty: bool,
    last_commit: CommitCost,
}

type Job = Box<dyn FnOnce(&mut Core) + Send>;

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    time_ns: Arc<AtomicU64>,
    last_commit: Arc<Mutex<CommitCost>>,
    /// Where queries go when there is a query replica.
    replica: Option<Replica>,
    follow_wall_clock: bool,
    root_key_der: Vec<u8>,
    subnet_id: Principal,
    node_id: Principal,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the actor, which saves a dirty host before it exits.
        self.tx.lock().map(|mut tx| tx.take()).ok();
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// A shareable handle to a [`Host`] running on its own thread. Cloning is cheap; the host
/// (and its final save) goes away with the last clone.
#[derive(Clone)]
pub struct HostHandle {
    inner: Arc<Inner>,
}

fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The error code the IC would attach to a reject (`IC` codes of the replica), derived from
/// the reject code and the host's message.
pub(crate) fn error_code(reject: &Reject) -> &'static str {
    let m = reject.message.as_str();
    match reject.code {
        RejectCode::SysFatal => "IC0101",
        RejectCode::SysTransient => "IC0201",
        RejectCode::DestinationInvalid => "IC0301",
        RejectCode::CanisterReject => {
            if m.contains("canister_inspect_message") {
                "IC0516"
            } else {
                "IC0406"
            }
        }
        RejectCode::SysUnknown => "IC0601",
        RejectCode::CanisterError => {
            if m.starts_with("Only controllers of canister")
                || m.starts_with("Only the controllers of the canister")
            {
                "IC0512"
            } else if m.contains("must be stopped before it is deleted") {
                "IC0510"
            } else if m.contains("cannot be installed because the canister is not empty") {
                "IC0514"
            } else if m.starts_with("Error from Wasm chunk store")
                || m.starts_with("Could not validate the settings")
            {
                "IC0504"
            } else if m.starts_with("Wasm module is not valid") {
                "IC0505"
            } else if m.starts_with("Management canister has no method") {
                "IC0536"
            } else if m.contains("ic0.trap") {
                "IC0503"
            } else if m.contains("did not reply") {
                "IC0506"
            } else if m.contains("exceeded the limit") {
                "IC0522"
            } else if m.contains("no update method") || m.contains("no query method") {
                "IC0536"
            } else if m.contains("no Wasm module") {
                "IC0537"
            } else if m.contains("is stopped") || m.contains("not running") {
                "IC0508"
            } else if m.contains("is stopping") {
                "IC0509"
            } else if m.contains("violated contract") {
                "IC0504"
            } else {
                "IC0502"
            }
        }
    }
}

impl Core {
    fn sync_time(&mut self) {
        if self.follow_wall_clock {
            follow_wall_clock(&mut self.host);
        }
    }

    /// Notes that the host changed (it is made durable before the job's result is returned).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Saves a checkpoint now; `None` without persistence.
    fn checkpoint(&mut self) -> Option<Result<SaveReport, HostError>> {
        let (p, journal) = self.persist.as_mut()?;
        let r = journal.checkpoint(&mut self.host);
        match &r {
            Ok(_) => self.dirty = false,
            Err(e) => eprintln!("icinfer-http: saving the host to {}: {e}", p.dir.display()),
        }
        Some(r)
    }

    /// Makes the changes of the job that just ran durable: appends them to the journal (a
    /// checkpoint when the journal has grown past its bound, or when appending failed).
    /// `Err` when nothing could be written.
    fn commit(&mut self) -> Result<(), HostError> {
        let Some((p, journal)) = self.persist.as_mut() else {
            self.dirty = false;
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let start = Instant::now();
        let appended = journal.append(&mut self.host);
        let too_long = journal.bytes() > p.checkpoint_bytes;
        match appended {
            Ok(report) => {
                self.dirty = false;
                if let Some(replica) = &self.replica {
                    replica.apply(journal.take_last_record());
                }
                self.last_commit = CommitCost {
                    journal_bytes: report.record_bytes,
                    heap_pages: report.heap_pages,
                    stable_pages: report.stable_pages,
                    micros: start.elapsed().as_micros() as u64,
                };
                if too_long {
                    // The change is durable already; a failed checkpoint leaves the journal.
                    let _ = self.checkpoint();
                }
                Ok(())
            }
            Err(e) => {
                eprintln!("icinfer-http: {e}; saving a checkpoint instead");
                // `append` took the changes from the host: only a checkpoint holds them now.
                let checkpointed = self.checkpoint();
                if let Some(replica) = &self.replica {
                    replica.reload();
                }
                match checkpointed {
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(e),
                    None => Ok(()),
                }
            }
        }
    }

    fn has_pending_timer(&self) -> Option<u64> {
        self.host
            .canister_ids()
            .into_iter()
            .filter_map(|id| self.host.canister_state(id))
            .map(|s| s.global_timer)
            .filter(|t| *t != 0)
            .min()
    }

    fn run_due_timers(&mut self) {
        if self
            .has_pending_timer()
            .is_some_and(|t| t <= self.host.time_ns())
        {
            self.host.tick();
            self.dirty = true;
        }
    }

    /// Records the outcome of an ingress call (in the host's ingress history, so it is made
    /// durable with the call's effect).
    pub fn record(
        &mut self,
        id: [u8; 32],
        sender: Principal,
        canister: Principal,
        expiry_ns: u64,
        result: Result<Vec<u8>, Reject>,
    ) {
        let status = IngressStatus {
            sender,
            canister,
            keep_until_ns: expiry_ns.saturating_add(MAX_INGRESS_TTL_NS),
            result,
        };
        self.host.record_ingress_status(id, status);
        self.dirty = true;
    }

    /// The certified state tree: the host's, plus `/request_status`.
    pub fn certified_tree(&self) -> LabeledTree {
        let mut tree = self.host.state_tree();
        for (id, r) in self.host.ingress_history() {
            let at = |name: &'static [u8]| [&b"request_status"[..], &id[..], name];
            let leaf = |v: Vec<u8>| LabeledTree::Leaf(v);
            match &r.result {
                Ok(reply) => {
                    tree.insert(&at(b"status"), leaf(b"replied".to_vec()));
                    tree.insert(&at(b"reply"), leaf(reply.clone()));
                }
                Err(reject) => {
                    tree.insert(&at(b"status"), leaf(b"rejected".to_vec()));
                    tree.insert(
                        &at(b"reject_code"),
                        leaf(cbor::uleb128(u128::from(reject.code.as_u32()))),
                    );
                    tree.insert(
                        &at(b"reject_message"),
                        leaf(reject.message.clone().into_bytes()),
                    );
                    tree.insert(
                        &at(b"error_code"),
                        leaf(error_code(reject).as_bytes().to_vec()),
                    );
                }
            }
        }
        tree
    }

    /// A certificate revealing `paths` (and always `/time`).
    pub fn certificate(&self, paths: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut paths = paths.to_vec();
        paths.push(vec![b"time".to_vec()]);
        let tree = self.certified_tree();
        self.host.sign_tree(tree.witness(&paths))
    }
}

impl HostHandle {
    /// Starts the actor thread with `host`.
    pub fn new(host: Host) -> HostHandle {
        Self::start(host, HandleOptions::default(), None)
    }

    /// Restores the host kept in `options.persist` if there is one (its checkpoint and
    /// journal), or creates a new host with `config` (and checkpoints it at once), then starts it.
    pub fn open(config: HostConfig, options: HandleOptions) -> Result<HostHandle, HostError> {
        match &options.persist {
            Some(p) => {
                let start_replica =
                    || Replica::start(config.clone(), p.dir.clone(), options.follow_wall_clock);
                // With a state to load, the replica loads it while the host does.
                let early =
                    (options.query_replica && Host::saved_state_exists(&p.dir)).then(start_replica);
                let (host, journal) = Journal::open(config.clone(), &p.dir)?;
                let replica = match early {
                    Some(pending) => Some(pending.ready()?),
                    None if options.query_replica => Some(start_replica().ready()?),
                    None => None,
                };
                Ok(Self::start_with(host, options, Some(journal), replica))
            }
            None => Ok(Self::start(Host::new(config), options, None)),
        }
    }

    /// Starts the actor thread with `host` and `options`. With persistence, `host` replaces
    /// whatever the directory held: it is checkpointed there at once (use [`HostHandle::open`]
    /// to restore a kept one).
    pub fn with_options(mut host: Host, options: HandleOptions) -> Result<HostHandle, HostError> {
        let journal = match &options.persist {
            Some(p) => Some(Journal::create(&mut host, &p.dir)?),
            None => None,
        };
        Ok(Self::start(host, options, journal))
    }

    fn start(host: Host, options: HandleOptions, journal: Option<Journal>) -> HostHandle {
        Self::start_with(host, options, journal, None)
    }

    fn start_with(
        mut host: Host,
        options: HandleOptions,
        journal: Option<Journal>,
        replica: Option<Replica>,
    ) -> HostHandle {
        let signer = Signer::new(&mut host);
        let node_id = signer.node_id;
        let time_ns = Arc::new(AtomicU64::new(host.time_ns()));
        let last_commit = Arc::new(Mutex::new(CommitCost::default()));
        let (root_key_der, subnet_id) = (host.root_key_der(), host.subnet_id());
        let mut core = Core {
            host,
            signer,
            follow_wall_clock: options.follow_wall_clock,
            replica: replica.clone(),
            persist: options.persist.clone().zip(journal),
            dirty: false,
            last_commit: CommitCost::default(),
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let published = time_ns.clone();
        let published_commit = last_commit.clone();
        let thread = std::thread::Builder::new()
            .name("icinfer-host".into())
            .spawn(move || {
                loop {
                    let job = if core.has_pending_timer().is_some() {
                        match rx.recv_timeout(Duration::from_millis(100)) {
                            Ok(job) => Some(job),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    } else {
                        match rx.recv() {
                            Ok(job) => Some(job),
                            Err(_) => break,
                        }
                    };
                    core.sync_time();
                    core.run_due_timers();
                    match job {
                        // The job makes its own changes durable before it answers.
                        Some(job) => job(&mut core),
                        None => {
                            if let Err(e) = core.commit() {
                                eprintln!("icinfer-http: a timer's changes are not on disk: {e}");
                            }
                        }
                    }
                    published.store(core.host.time_ns(), Ordering::Relaxed);
                    if let Ok(mut c) = published_commit.lock() {
                        *c = core.last_commit;
                    }
                }
                // A clean shutdown compacts the journal into a checkpoint.
                if core.persist.is_some() {
                    let _ = core.checkpoint();
                }
            })
            .expect("spawning the host thread");
        HostHandle {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                time_ns,
                last_commit,
                replica,
                follow_wall_clock: options.follow_wall_clock,
                root_key_der,
                subnet_id,
                node_id,
            }),
        }
    }

    fn send(&self, job: Job) {
        let tx = self
            .inner
            .tx
            .lock()
            .expect("the sender lock is never poisoned");
        if let Some(tx) = tx.as_ref() {
            // The actor only stops when the last handle drops, so this cannot fail while
            // `self` exists.
            let _ = tx.send(job);
        }
    }

    /// Runs `f` on the host thread and returns its result (blocking), once the changes it
    /// made are durable (with persistence). A change that could not be written is reported on
    /// stderr and stays in memory (it is written with the next successful commit).
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Host) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Box::new(move |core: &mut Core| {
            core.mark_dirty();
            let r = f(&mut core.host);
            if let Err(e) = core.commit() {
                eprintln!("icinfer-http: a change is not on disk: {e}");
            }
            let _ = tx.send(r);
        }));
        rx.recv()
            .expect("the host thread runs every job it receives")
    }

    /// Runs `f` on the actor's state from async code; its result comes back once the changes
    /// it made are durable, or as the error that kept them from the disk.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Result<R, HostError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move |core: &mut Core| {
            let r = f(core);
            let _ = tx.send(core.commit().map(|()| r));
        }));
        rx.await
            .expect("the host thread runs every job it receives")
    }

    /// Runs a query job: on the query replica when there is one (not waiting for the host
    /// thread), else on the host thread. Nothing it changes is kept. `None` if the query
    /// thread is gone.
    pub(crate) async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Host, &Signer) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match &self.inner.replica {
            Some(replica) => replica.query(Box::new(move |host: &mut Host, signer: &Signer| {
                let _ = tx.send(f(host, signer));
            })),
            None => self.send(Box::new(move |core: &mut Core| {
                let _ = tx.send(f(&mut core.host, &core.signer));
            })),
        }
        rx.await.ok()
    }

    /// Saves a checkpoint now (if persistence is on); `None` without persistence.
    pub fn save(&self) -> Option<Result<SaveReport, HostError>> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Box::new(move |core: &mut Core| {
            let _ = tx.send(core.checkpoint());
        }));
        rx.recv()
            .expect("the host thread runs every job it receives")
    }

    /// What making the last changed job durable cost (zero before the first, or without
    /// persistence).
    pub fn last_commit(&self) -> CommitCost {
        self.inner
            .last_commit
            .lock()
            .map(|c| *c)
            .unwrap_or_default()
    }

    /// The host's time as of its last job (or the wall clock, if the host follows it and is
    /// behind): the "now" against which expiries are checked.
    pub fn now_ns(&self) -> u64 {
        let host = self.inner.time_ns.load(Ordering::Relaxed);
        if self.inner.follow_wall_clock {
            host.max(wall_clock_ns())
        } else {
            host
        }
    }

    /// The root key, DER-encoded (what `/api/v2/status` serves).
    pub fn root_key_der(&self) -> &[u8] {
        &self.inner.root_key_der
    }

    /// The subnet's id.
    pub fn subnet_id(&self) -> Principal {
        self.inner.subnet_id
    }

    /// The id of the one node, whose Ed25519 key signs query responses.
    pub fn node_id(&self) -> Principal {
        self.inner.node_id
    }
}
