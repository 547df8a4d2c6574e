//! [`HostHandle`]: one thread owns the [`Host`]; everything else sends it jobs.
//!
//! The host is single-threaded (`&mut self` everywhere), so access is serialised through an
//! actor thread rather than a lock: HTTP handlers, the CLI and tests send closures to it and
//! wait for their result. The actor also
//! - moves the host's clock up to the wall clock before every job (unless told not to), so
//!   certificates carry a fresh `/time` and `ingress_expiry` means what clients expect;
//! - runs due global timers (a canister's `canister_global_timer`) when their time comes;
//!   heartbeats are not run by the server;
//! - keeps the status of every ingress call by request id (`/request_status`) until its
//!   expiry has passed by [`crate::auth::MAX_INGRESS_TTL_NS`];
//! - saves the host (see [`PersistOptions`]).
//!
//! ## When the state is saved
//! With persistence on, a change (a committed update call, an installation, a timer, or any
//! [`HostHandle::with`] job) marks the host dirty; a dirty host is saved at most once per
//! [`PersistOptions::interval`] and always when the last handle is dropped (clean shutdown).
//! An interval of zero saves after every job that changed something, before the client gets its
//! reply. Periodic saving is the default because a save writes the whole heap of every
//! canister (tens to hundreds of MiB with a model loaded): after a crash (not a clean shutdown),
//! up to one interval of committed calls — and of provenance-log entries — is lost. Each save
//! is atomic ([`icinfer_host::persist`]).

use crate::auth::MAX_INGRESS_TTL_NS;
use crate::cbor;
use candid::Principal;
use ciborium::Value;
use icinfer_host::persist::SaveReport;
use icinfer_host::{Host, HostConfig, HostError, LabeledTree, Reject, RejectCode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where and how often the host is saved.
#[derive(Clone, Debug)]
pub struct PersistOptions {
    /// The state directory (created if missing).
    pub dir: PathBuf,
    /// Longest time a change stays unsaved; zero saves after every change.
    pub interval: Duration,
}

impl PersistOptions {
    /// Saves to `dir` at most every 2 seconds, and at shutdown.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PersistOptions {
            dir: dir.into(),
            interval: Duration::from_secs(2),
        }
    }
}

/// Options of a [`HostHandle`].
#[derive(Clone, Debug)]
pub struct HandleOptions {
    /// Save and restore the host here.
    pub persist: Option<PersistOptions>,
    /// Move the host's time up to the wall clock before every job (default: yes). Without it,
    /// certificates carry the host's own time, which clients check against theirs.
    pub follow_wall_clock: bool,
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions {
            persist: None,
            follow_wall_clock: true,
        }
    }
}

/// The outcome of an ingress call, kept for `/request_status`.
#[derive(Clone, Debug)]
pub(crate) struct RequestRecord {
    pub sender: Principal,
    pub canister: Principal,
    pub expiry_ns: u64,
    pub result: Result<Vec<u8>, Reject>,
}

/// The state the actor thread owns.
pub(crate) struct Core {
    pub host: Host,
    pub requests: BTreeMap<[u8; 32], RequestRecord>,
    node_key: ic_ed25519::PrivateKey,
    pub node_id: Principal,
    follow_wall_clock: bool,
    persist: Option<PersistOptions>,
    dirty: bool,
    last_save: Instant,
    save_failed: bool,
}

type Job = Box<dyn FnOnce(&mut Core) + Send>;

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    time_ns: Arc<AtomicU64>,
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
            let now = wall_clock_ns();
            let host = self.host.time_ns();
            if now > host {
                self.host.advance_time(Duration::from_nanos(now - host));
            }
        }
    }

    /// Notes that the host changed (it will be saved).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    fn save(&mut self) -> Option<Result<SaveReport, HostError>> {
        let p = self.persist.as_ref()?;
        let dir = p.dir.clone();
        let r = self.host.save(&dir);
        match &r {
            Ok(_) => self.dirty = false,
            Err(e) => eprintln!("icinfer-http: saving the host to {}: {e}", dir.display()),
        }
        self.save_failed = r.is_err();
        self.last_save = Instant::now();
        Some(r)
    }

    /// Saves now if the host changed and changes are saved immediately (interval zero).
    fn save_if_immediate(&mut self) {
        if self.dirty && self.persist.as_ref().is_some_and(|p| p.interval.is_zero()) {
            self.save();
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

    fn prune_requests(&mut self) {
        let now = self.host.time_ns();
        self.requests
            .retain(|_, r| r.expiry_ns.saturating_add(MAX_INGRESS_TTL_NS) >= now);
    }

    /// Records the outcome of an ingress call.
    pub fn record(&mut self, id: [u8; 32], record: RequestRecord) {
        self.prune_requests();
        self.requests.insert(id, record);
        self.dirty = true;
    }

    /// The certified state tree: the host's, plus `/request_status`.
    pub fn certified_tree(&self) -> LabeledTree {
        let mut tree = self.host.state_tree();
        for (id, r) in &self.requests {
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

    /// Signs a query response with the node key (`"\x0Bic-response" · hash_of_map(signable)`)
    /// and returns the `signatures` array.
    pub fn sign_query_response(&self, signable: Vec<(&str, Value)>) -> Value {
        let timestamp = self.host.time_ns();
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

impl HostHandle {
    /// Starts the actor thread with `host`.
    pub fn new(host: Host) -> HostHandle {
        Self::with_options(host, HandleOptions::default())
    }

    /// Restores the host saved in `options.persist` if there is one, or creates a new host
    /// with `config` (and saves it at once), then starts it.
    pub fn open(config: HostConfig, options: HandleOptions) -> Result<HostHandle, HostError> {
        let host = match &options.persist {
            Some(p) if Host::saved_state_exists(&p.dir) => Host::load(config, &p.dir)?,
            Some(p) => {
                let mut host = Host::new(config);
                host.save(&p.dir)?;
                host
            }
            None => Host::new(config),
        };
        Ok(Self::with_options(host, options))
    }

    /// Starts the actor thread with `host` and `options`. With persistence, the host is saved
    /// there from now on (use [`HostHandle::open`] to restore a saved one).
    pub fn with_options(mut host: Host, options: HandleOptions) -> HostHandle {
        let node_key = ic_ed25519::PrivateKey::generate_from_seed(
            &host.derive_secret("icinfer-http node key"),
        );
        let node_der = node_key.public_key().serialize_rfc8410_der();
        let node_id = Principal::self_authenticating(&node_der);
        host.set_node_public_keys(vec![(node_id, node_der)]);
        let time_ns = Arc::new(AtomicU64::new(host.time_ns()));
        let (root_key_der, subnet_id) = (host.root_key_der(), host.subnet_id());
        let mut core = Core {
            host,
            requests: BTreeMap::new(),
            node_key,
            node_id,
            follow_wall_clock: options.follow_wall_clock,
            persist: options.persist.clone(),
            dirty: false,
            last_save: Instant::now(),
            save_failed: false,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let published = time_ns.clone();
        let thread = std::thread::Builder::new()
            .name("icinfer-host".into())
            .spawn(move || {
                loop {
                    let mut wait: Option<Duration> = None;
                    if let Some(p) = &core.persist
                        && core.dirty
                    {
                        // After a failed save, retry no more than once a second.
                        let interval = if core.save_failed {
                            p.interval.max(Duration::from_secs(1))
                        } else {
                            p.interval
                        };
                        wait = Some(interval.saturating_sub(core.last_save.elapsed()));
                    }
                    if core.has_pending_timer().is_some() {
                        let poll = Duration::from_millis(100);
                        wait = Some(wait.map_or(poll, |w| w.min(poll)));
                    }
                    let job = match wait {
                        None => rx.recv().ok(),
                        Some(w) => match rx.recv_timeout(w) {
                            Ok(job) => Some(job),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        },
                    };
                    if wait.is_none() && job.is_none() {
                        break;
                    }
                    core.sync_time();
                    core.run_due_timers();
                    if let Some(job) = job {
                        job(&mut core);
                    }
                    published.store(core.host.time_ns(), Ordering::Relaxed);
                    let due = core.persist.as_ref().is_some_and(|p| {
                        let interval = if core.save_failed {
                            p.interval.max(Duration::from_secs(1))
                        } else {
                            p.interval
                        };
                        core.last_save.elapsed() >= interval
                    });
                    if core.dirty && due {
                        core.save();
                    }
                }
                if core.dirty {
                    core.save();
                }
            })
            .expect("spawning the host thread");
        HostHandle {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                time_ns,
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

    /// Runs `f` on the host thread and returns its result (blocking). The host is marked
    /// changed (it will be saved).
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Host) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Box::new(move |core: &mut Core| {
            core.mark_dirty();
            let r = f(&mut core.host);
            core.save_if_immediate();
            let _ = tx.send(r);
        }));
        rx.recv()
            .expect("the host thread runs every job it receives")
    }

    /// Runs `f` on the actor's state from async code.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move |core: &mut Core| {
            let r = f(core);
            core.save_if_immediate();
            let _ = tx.send(r);
        }));
        rx.await
            .expect("the host thread runs every job it receives")
    }

    /// Saves now (if persistence is on); `None` without persistence.
    pub fn save(&self) -> Option<Result<SaveReport, HostError>> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Box::new(move |core: &mut Core| {
            let _ = tx.send(core.save());
        }));
        rx.recv()
            .expect("the host thread runs every job it receives")
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
