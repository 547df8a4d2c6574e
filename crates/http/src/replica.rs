//! The query replica: a second [`Host`], on its own thread, that answers queries from the
//! state of the last committed change, so that a long update or a checkpoint on the host
//! thread does not hold them up (the IC runs queries on other threads, against a snapshot).
//!
//! It is loaded from the state directory at start and follows the host through the journal:
//! every record the host thread appends is handed here ([`icinfer_host::journal::apply_record`])
//! before that change's reply leaves, and this thread takes its messages in order, so a query
//! sent after a reply sees that reply's change. It costs a second copy of heaps and stable
//! memory. When a change reached the disk by a checkpoint rather than a record (appending
//! failed), the replica is loaded again.

use crate::handle::Signer;
use icinfer_host::{Host, HostConfig, HostError};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// A query: runs on the replica's host with the node's signer.
pub(crate) type QueryJob = Box<dyn FnOnce(&mut Host, &Signer) + Send>;

enum Message {
    Apply(Vec<u8>),
    Reload,
    Query(QueryJob),
}

/// A handle to the replica thread (the host thread and the HTTP server each keep one).
#[derive(Clone)]
pub(crate) struct Replica {
    tx: mpsc::Sender<Message>,
}

/// A replica whose thread is still loading the state.
pub(crate) struct PendingReplica {
    replica: Replica,
    loaded: mpsc::Receiver<Result<(), HostError>>,
}

impl PendingReplica {
    /// Waits until the replica has loaded the state.
    pub fn ready(self) -> Result<Replica, HostError> {
        self.loaded
            .recv()
            .map_err(|_| HostError::Persist("the query thread stopped while loading".into()))??;
        Ok(self.replica)
    }
}

impl Replica {
    /// Starts the thread, which loads the state in `dir` (while the host thread opens it
    /// too: loading compiles the modules, and two cores do it at once). Nothing may be
    /// appended to the journal before [`PendingReplica::ready`].
    pub fn start(config: HostConfig, dir: PathBuf, follow_wall_clock: bool) -> PendingReplica {
        let (tx, rx) = mpsc::channel::<Message>();
        let (loaded_tx, loaded) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("icinfer-queries".into())
            .spawn(move || {
                let mut host = match Host::load(config.clone(), &dir) {
                    Ok(host) => host,
                    Err(e) => {
                        let _ = loaded_tx.send(Err(e));
                        return;
                    }
                };
                let signer = Signer::new(&mut host);
                let _ = loaded_tx.send(Ok(()));
                for message in rx {
                    match message {
                        Message::Apply(record) => {
                            if let Err(e) =
                                icinfer_host::journal::apply_record(&mut host, &dir, &record)
                            {
                                eprintln!("icinfer-http: the query replica reloads: {e}");
                                reload(&config, &dir, &mut host, &signer);
                            }
                        }
                        Message::Reload => reload(&config, &dir, &mut host, &signer),
                        Message::Query(job) => {
                            if follow_wall_clock {
                                crate::handle::follow_wall_clock(&mut host);
                            }
                            job(&mut host, &signer)
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            let (failed_tx, failed) = mpsc::channel();
            let _ = failed_tx.send(Err(HostError::Persist(format!(
                "starting the query thread: {e}"
            ))));
            return PendingReplica {
                replica: Replica { tx },
                loaded: failed,
            };
        }
        PendingReplica {
            replica: Replica { tx },
            loaded,
        }
    }

    /// Hands the replica a record the host thread appended.
    pub fn apply(&self, record: Vec<u8>) {
        let _ = self.tx.send(Message::Apply(record));
    }

    /// Has the replica load the state from disk again.
    pub fn reload(&self) {
        let _ = self.tx.send(Message::Reload);
    }

    /// Runs a query on the replica.
    pub fn query(&self, job: QueryJob) {
        let _ = self.tx.send(Message::Query(job));
    }
}

fn reload(config: &HostConfig, dir: &std::path::Path, host: &mut Host, signer: &Signer) {
    // The disk holds every committed change; retry a failing load a few times.
    for _ in 0..3 {
        match Host::load(config.clone(), dir) {
            Ok(mut loaded) => {
                signer.publish(&mut loaded);
                *host = loaded;
                return;
            }
            Err(e) => {
                eprintln!("icinfer-http: loading the query replica: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
