//! An inference as a job: `infer_start`, then `job_status` polled until the job is done,
//! with its progress on screen (nodes done of all, messages, instructions), and Ctrl-C
//! cancelling it (`job_cancel`) rather than leaving it to run unseen.
//!
//! A job runs the model node by node across messages, for inferences that do not fit one
//! (docs/performance.md, "Jobs"); its one log entry is the receipt, as for `infer`.

use crate::client::Client;
use anyhow::{Result, anyhow, bail};
use icinfer_api::{
    Error, InferArgs, InferResult, JobFailure, JobId, JobProgress, JobState, JobStatus,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// How often `job_status` is asked: a step is one message, a few per second on the IC.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `args` as a job and returns what `infer` would have: the outputs and the receipt.
pub async fn run(client: &Client, args: InferArgs) -> Result<InferResult> {
    // Listen before the job exists, so that an early Ctrl-C still cancels it.
    let mut interrupt = Interrupt::listen()?;
    let model = args.model_id.clone();
    let started: Result<JobId, Error> = client.update("infer_start", (args,)).await?;
    let id = started.map_err(|e| client.explain("infer_start", e))?;
    eprintln!("job {id} started on model '{model}' (Ctrl-C cancels it)");
    let progress = Progress::new(id);
    loop {
        let status: Result<JobStatus, Error> = client.query("job_status", (id,)).await?;
        let status = status.map_err(|e| client.explain("job_status", e))?;
        progress.show(&status.progress);
        match status.state {
            JobState::Pending => {}
            JobState::Done(result) => {
                progress.finish();
                let p = &status.progress;
                eprintln!(
                    "job {id} done: {} nodes in {} messages, {} instructions",
                    p.nodes_total, p.messages, p.instructions
                );
                return Ok(result);
            }
            JobState::Failed(failure) => {
                progress.finish();
                return Err(failed(client, id, failure));
            }
            JobState::Cancelled => {
                progress.finish();
                bail!("job {id} was cancelled (nothing was logged)");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = interrupt.received() => {
                progress.finish();
                return Err(cancel(client, id).await);
            }
        }
    }
}

fn failed(client: &Client, id: JobId, failure: JobFailure) -> anyhow::Error {
    let fix = match &failure {
        JobFailure::NodeOverBudget { node, .. } => format!(
            "node {node} alone needs more than a step may use: a controller raises the step \
             budget with `set_job_step_budget` (on {})",
            client.canister
        ),
        JobFailure::ModelDeleted { model_id } => {
            format!("upload model '{model_id}' again, then run the inference again")
        }
        // As `infer` would have failed: the same explanation.
        JobFailure::Failed { error } => return client.explain(&format!("job {id}"), error.clone()),
        JobFailure::Trapped { .. } => String::new(),
    };
    if fix.is_empty() {
        anyhow!("job {id} failed: {failure} (nothing was logged)")
    } else {
        anyhow!("job {id} failed: {failure} (nothing was logged)\n  fix: {fix}")
    }
}

async fn cancel(client: &Client, id: JobId) -> anyhow::Error {
    eprintln!("interrupted: cancelling job {id}");
    let how = format!(
        "cancel it with `icp canister call {} job_cancel '({id} : nat64)'` (or dfx canister \
         call), as its caller or a controller",
        client.canister
    );
    let cancelled: Result<Result<(), Error>> = client.update("job_cancel", (id,)).await;
    match cancelled {
        Ok(Ok(())) => anyhow!("job {id} cancelled (nothing was logged)"),
        Ok(Err(e)) => anyhow!(
            "job {id} was not cancelled: {}\n  fix: {how}",
            client.explain("job_cancel", e)
        ),
        Err(e) => anyhow!("job {id} was not cancelled: {e:#}\n  fix: {how}"),
    }
}

/// The job's progress: a bar on a terminal, a line per change otherwise (logs, CI).
struct Progress {
    id: JobId,
    bar: ProgressBar,
    last: std::cell::RefCell<Option<JobProgress>>,
}

impl Progress {
    fn new(id: JobId) -> Progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} nodes  {msg}")
                .expect("a valid template"),
        );
        Progress {
            id,
            bar,
            last: std::cell::RefCell::new(None),
        }
    }

    fn show(&self, p: &JobProgress) {
        if self.last.borrow().as_ref() == Some(p) {
            return;
        }
        let restarts = match p.restarts {
            0 => String::new(),
            n => format!(", restarted {n}× after an upgrade"),
        };
        let counts = format!(
            "{} messages, {} instructions{restarts}",
            p.messages, p.instructions
        );
        if self.bar.is_hidden() {
            eprintln!(
                "job {}: {}/{} nodes, {counts}",
                self.id, p.nodes_done, p.nodes_total
            );
        } else {
            self.bar.set_length(p.nodes_total);
            self.bar.set_position(p.nodes_done);
            self.bar.set_message(counts);
        }
        *self.last.borrow_mut() = Some(p.clone());
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Ctrl-C (SIGINT), caught from the moment it is created.
struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> Result<Interrupt> {
        Ok(Interrupt {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
        })
    }

    async fn received(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
