//! Inference jobs: an inference run node by node across messages, for models whose
//! inference does not fit one (docs/performance.md, "Jobs").
//!
//! ```text
//!  infer_start ──▶ pending ──job_step × n──▶ done        (one log entry, in the last step)
//!                    │  │ └─ a node over the budget, tract fails, the model is deleted,
//!                    │  │    a step traps (job_trapped) ──▶ failed   (nothing logged)
//!                    │  └─ job_cancel ──▶ cancelled
//!                    └─ upgrade: restarts from its first node, `restarts` + 1
//! ```
//!
//! The record, the inputs and the outputs are in stable memory (crate::jobs); the tract
//! state with the intermediate tensors is on the heap, one per job. An upgrade drops the
//! heap, so `init` sends every pending job back to its first node and counts the restart
//! in its progress: a job is never lost silently, and its result is the same. Each step
//! message runs nodes until it has used the step budget, so other messages (`infer` from
//! other callers, steps of other jobs, taken in turn) run between the steps of a long job.

use super::{Engine, Environment, Runnable, check_output_bytes, digest, nonce};
use crate::jobs::{JobRecord, RecordState};
use crate::limits::{
    FINISHED_JOB_TTL_NS, MAX_FINISHED_JOBS, MAX_JOBS_IN_FLIGHT, MAX_JOBS_PER_CALLER,
    MAX_ONE_MESSAGE_INFER_INSTRUCTIONS, MAX_STEP_BUDGET, MIN_STEP_BUDGET,
};
use crate::runtime;
use crate::stepping::PlanRun;
use crate::store::limit;
use crate::tensor;
use ic_stable_structures::Memory;
use icinfer_api::{
    Error, InferArgs, InferResult, JobFailure, JobId, JobProgress, JobState, JobStatus, LogEntry,
};
use std::collections::BTreeMap;

/// The heap half of the running jobs.
#[derive(Default)]
pub(super) struct JobRuns {
    runs: BTreeMap<JobId, JobRun>,
    /// Generation jobs' heap state (engine::generation).
    pub(super) generations: BTreeMap<JobId, super::generation::GenerationRun>,
    /// The job stepped last: steps go round the pending jobs in id order.
    last_stepped: Option<JobId>,
    /// The finalize job stepped last, and whether the last step was a finalize's: finalize
    /// jobs and inference jobs take turns, each kind going round in id order.
    last_finalized: Option<String>,
    last_was_finalize: bool,
}

/// The next message of work the driver sends itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// `job_step` of an inference job.
    Infer(JobId),
    /// `finalize_step` of a model.
    Finalize(String),
}

struct JobRun {
    model: Runnable,
    run: PlanRun,
    /// The job's progress, as last written to stable memory (`JobStore::put_progress`):
    /// a step need not read the record.
    progress: JobProgress,
}

/// What a step did, for the driver: whether the job needs more steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Continue,
    Finished,
}

impl<M: Memory> Engine<M> {
    /// Checks an inference like `infer` and starts it as a job; returns its id at once.
    /// The message counts as the job's first.
    pub fn infer_start(&mut self, env: &impl Environment, args: InferArgs) -> Result<JobId, Error> {
        let caller = env.caller();
        let now = env.now_ns();
        let admission = self.admit_inference(env)?;
        self.check_job_room(env)?;
        let (model, ordered) = self.prepare(&args)?;
        let run = PlanRun::start(&model.plan, &ordered)?;
        let input_hash = digest(tensor::input_hash(&args.inputs, nonce(&args)));
        let mut record = JobRecord {
            caller,
            model_id: args.model_id,
            model_sha256: model.sha256.clone(),
            input_hash,
            input_salted: args.nonce.is_some(),
            created_at_ns: now,
            finished_at_ns: None,
            progress: JobProgress {
                nodes_done: 0,
                nodes_total: run.nodes_total(),
                instructions: 0,
                messages: 1,
                restarts: 0,
            },
            state: RecordState::Pending,
            generation: None,
        };
        record.progress.instructions = env.instructions();
        let progress = record.progress.clone();
        let id = self.jobs.insert(record, args.inputs);
        self.runs.runs.insert(
            id,
            JobRun {
                model,
                run,
                progress,
            },
        );
        self.policy.charge(admission, now, 1, 0);
        Ok(id)
    }

    /// The step whose turn it is: inference jobs and finalize jobs alternate.
    pub fn next_work(&mut self) -> Option<Work> {
        let finalize_turn = !self.runs.last_was_finalize || !self.has_pending_jobs();
        if finalize_turn && let Some(id) = self.next_finalize() {
            self.runs.last_was_finalize = true;
            return Some(Work::Finalize(id));
        }
        self.runs.last_was_finalize = false;
        if let Some(id) = self.next_job() {
            return Some(Work::Infer(id));
        }
        self.next_finalize().map(Work::Finalize)
    }

    fn next_finalize(&mut self) -> Option<String> {
        let next = match &self.runs.last_finalized {
            Some(last) => self
                .finalizing
                .iter()
                .find(|id| *id > last)
                .or(self.finalizing.first()),
            None => self.finalizing.first(),
        }
        .cloned();
        if next.is_some() {
            self.runs.last_finalized = next.clone();
        }
        next
    }

    /// Whether the driver has anything to step: a pending job or a finalize job.
    pub fn has_pending_work(&self) -> bool {
        self.has_pending_jobs() || !self.finalizing.is_empty()
    }

    /// Prunes finished jobs, then checks that one more job may start.
    pub(super) fn check_job_room(&mut self, env: &impl Environment) -> Result<(), Error> {
        let caller = env.caller();
        self.jobs
            .prune(env.now_ns(), FINISHED_JOB_TTL_NS, MAX_FINISHED_JOBS);
        limit(
            "MAX_JOBS_IN_FLIGHT",
            MAX_JOBS_IN_FLIGHT,
            self.jobs.pending_count(None) + 1,
        )?;
        limit(
            "MAX_JOBS_PER_CALLER",
            MAX_JOBS_PER_CALLER,
            self.jobs.pending_count(Some(&caller)) + 1,
        )
    }

    /// The pending job whose turn it is to step, if any.
    pub fn next_job(&mut self) -> Option<JobId> {
        let pending = self.jobs.pending();
        let next = match self.runs.last_stepped {
            Some(last) => pending.iter().find(|&&id| id > last).or(pending.first()),
            None => pending.first(),
        }
        .copied();
        self.runs.last_stepped = next.or(self.runs.last_stepped);
        next
    }

    pub fn has_pending_jobs(&self) -> bool {
        self.jobs.pending_count(None) > 0
    }

    /// One message of a job: runs its next nodes until this message has used the step
    /// budget, and in the message that runs the last node, appends the job's log entry.
    /// A job that is no longer pending (cancelled, failed) is left as it is.
    ///
    /// A step of a running inference job reads nothing from stable memory and writes only
    /// its progress; the record is read and written once, when the job finishes (or after
    /// an upgrade, to restart it).
    pub fn job_step(&mut self, env: &impl Environment, id: JobId) -> Result<StepOutcome, Error> {
        if !self.jobs.is_pending(id) {
            return match self.jobs.get(id) {
                Some(_) => Ok(StepOutcome::Finished),
                None => Err(job_not_found(id)),
            };
        }
        // (A deleted model has failed its jobs already: `delete_model`.)
        let job = match self.runs.runs.remove(&id) {
            Some(job) => job,
            None => {
                let mut record = self.jobs.get(id).expect("a pending job's record");
                if record.generation.is_some() {
                    record.progress.messages += 1;
                    return Ok(self.generation_step(env, id, record));
                }
                match self.restart(id, &record) {
                    Ok(job) => job,
                    Err(failure) => {
                        record.progress.messages += 1;
                        return Ok(self.fail(env, id, record, failure));
                    }
                }
            }
        };
        Ok(self.step_run(env, id, job))
    }

    /// Runs a job's nodes for one message.
    fn step_run(&mut self, env: &impl Environment, id: JobId, mut job: JobRun) -> StepOutcome {
        job.progress.messages += 1;
        let budget = self.step_budget;
        let mut ran = 0;
        while !job.run.is_finished() {
            let before = env.instructions();
            if ran > 0 && before >= budget {
                break;
            }
            if let Err(error) = job.run.step() {
                return self.fail_run(env, id, job, JobFailure::Failed { error });
            }
            ran += 1;
            let spent = env.instructions().saturating_sub(before);
            if spent > budget {
                let failure = JobFailure::NodeOverBudget {
                    node: job.run.last_node_name(),
                    instructions: spent,
                    budget,
                };
                return self.fail_run(env, id, job, failure);
            }
        }
        job.progress.nodes_done = job.run.nodes_done();
        if !job.run.is_finished() {
            job.progress.instructions += env.instructions();
            self.jobs.put_progress(id, &job.progress);
            self.runs.runs.insert(id, job);
            return StepOutcome::Continue;
        }
        let outputs = match job
            .run
            .outputs(&job.model.facts.outputs)
            .and_then(|outputs| check_output_bytes(&outputs).map(|()| outputs))
        {
            Ok(outputs) => outputs,
            Err(error) => return self.fail_run(env, id, job, JobFailure::Failed { error }),
        };
        let mut record = self.jobs.get(id).expect("a pending job's record");
        record.progress = job.progress;
        let output_hash = digest(tensor::output_hash(&outputs));
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: env.now_ns(),
            caller: record.caller,
            model_id: record.model_id.clone(),
            model_sha256: record.model_sha256.clone(),
            input_hash: record.input_hash.clone(),
            output_hash,
            input_salted: record.input_salted,
            instructions: record.progress.instructions + env.instructions(),
            messages: Some(record.progress.messages),
            kind: None,
        };
        self.log.append(&entry);
        self.certify_head(env);
        self.policy
            .charge_finished_job(record.caller, entry.timestamp_ns, entry.instructions);
        if entry.instructions > self.one_message_limit {
            self.note_infer_instructions(&record.model_id, entry.instructions);
        }
        record.progress.instructions = entry.instructions;
        record.finished_at_ns = Some(entry.timestamp_ns);
        record.state = RecordState::Done { seq: entry.seq };
        self.jobs.finish(id, record, Some(&outputs));
        StepOutcome::Finished
    }

    /// Fails a running job within one of its step messages.
    fn fail_run(
        &mut self,
        env: &impl Environment,
        id: JobId,
        job: JobRun,
        failure: JobFailure,
    ) -> StepOutcome {
        let mut record = self.jobs.get(id).expect("a pending job's record");
        record.progress = job.progress;
        self.fail(env, id, record, failure)
    }

    /// Fails a pending job whose step message trapped: that message was rolled back, so
    /// the driver, which made the call, reports the reject here. The trapped message counts.
    pub fn job_trapped(&mut self, env: &impl Environment, id: JobId, message: String) {
        if let Some(mut record) = self.jobs.get(id).filter(JobRecord::is_pending) {
            record.progress.messages += 1;
            let now = env.now_ns();
            self.finish_failed(now, id, record, JobFailure::Trapped { message });
        }
    }

    /// Cancels a pending job: its caller or a controller may.
    pub fn job_cancel(&mut self, env: &impl Environment, id: JobId) -> Result<(), Error> {
        let mut record = self.job_record_for(env, id)?;
        if !record.is_pending() {
            return Err(Error::InvalidState {
                id: format!("job {id}"),
                reason: "the job has already finished".into(),
            });
        }
        self.runs.runs.remove(&id);
        self.runs.generations.remove(&id);
        record.state = RecordState::Cancelled;
        record.finished_at_ns = Some(env.now_ns());
        self.jobs.finish(id, record, None);
        Ok(())
    }

    /// A job's progress and result, for its caller or a controller: its outputs are no
    /// more public than `infer`'s reply.
    pub fn job_status(&self, env: &impl Environment, id: JobId) -> Result<JobStatus, Error> {
        let record = self.job_record_for(env, id)?;
        let state = match &record.state {
            RecordState::Pending => JobState::Pending,
            // A generation's job has no output tensors: generation_status has its text.
            RecordState::Done { seq } => JobState::Done(InferResult {
                outputs: self.jobs.outputs(id).unwrap_or_default(),
                receipt: self
                    .log
                    .get(*seq)
                    .expect("a done job's entry is in the log"),
            }),
            RecordState::Failed(failure) => JobState::Failed(failure.clone()),
            RecordState::Cancelled => JobState::Cancelled,
        };
        Ok(JobStatus {
            id,
            model_id: record.model_id,
            caller: record.caller,
            created_at_ns: record.created_at_ns,
            finished_at_ns: record.finished_at_ns,
            progress: record.progress,
            state,
        })
    }

    /// Sets the instructions a step message may use before it stops starting nodes.
    pub fn set_job_step_budget(
        &mut self,
        env: &impl Environment,
        budget: u64,
    ) -> Result<(), Error> {
        self.require_controller(env)?;
        if !(MIN_STEP_BUDGET..=MAX_STEP_BUDGET).contains(&budget) {
            return Err(Error::InvalidArgument {
                field: "budget".into(),
                reason: format!("must be {MIN_STEP_BUDGET} to {MAX_STEP_BUDGET} instructions"),
            });
        }
        self.step_budget = budget;
        Ok(())
    }

    pub fn job_step_budget(&self) -> u64 {
        self.step_budget
    }

    /// Sets the instructions above which a job's measurement of a model makes `infer`
    /// answer `UseJob` (MAX_ONE_MESSAGE_INFER_INSTRUCTIONS by default): lower it where the
    /// message limit is lower, as on a test host. Measurements above the old value are
    /// kept; ones taken below it were not recorded.
    pub fn set_one_message_limit(
        &mut self,
        env: &impl Environment,
        instructions: u64,
    ) -> Result<(), Error> {
        self.require_controller(env)?;
        if !(MIN_STEP_BUDGET..=MAX_ONE_MESSAGE_INFER_INSTRUCTIONS).contains(&instructions) {
            return Err(Error::InvalidArgument {
                field: "instructions".into(),
                reason: format!(
                    "must be {MIN_STEP_BUDGET} to {MAX_ONE_MESSAGE_INFER_INSTRUCTIONS} instructions"
                ),
            });
        }
        self.one_message_limit = instructions;
        Ok(())
    }

    /// After an upgrade: every pending job lost its heap state and starts again from its
    /// first node. Bounded by MAX_JOBS_IN_FLIGHT.
    pub(super) fn restart_pending_jobs(&mut self) {
        for id in self.jobs.pending() {
            if self.runs.runs.contains_key(&id) || self.runs.generations.contains_key(&id) {
                continue;
            }
            let mut record = self.jobs.get(id).expect("a pending job's record");
            record.progress.nodes_done = 0;
            record.progress.restarts += 1;
            if let Some(generation) = &mut record.generation {
                generation.restart();
            }
            self.jobs.put(id, record);
        }
    }

    pub(super) fn fail_jobs_of_deleted_model(&mut self, env: &impl Environment, model_id: &str) {
        let now = env.now_ns();
        for id in self.jobs.pending() {
            let record = self.jobs.get(id).expect("a pending job's record");
            if record.model_id == model_id {
                let failure = JobFailure::ModelDeleted {
                    model_id: model_id.to_string(),
                };
                self.finish_failed(now, id, record, failure);
            }
        }
    }

    /// The heap state of a job that has none (after an upgrade): its inputs from stable
    /// memory, set on a fresh tract state of its model.
    fn restart(&mut self, id: JobId, record: &JobRecord) -> Result<JobRun, JobFailure> {
        if self.model_was_deleted(record) {
            return Err(JobFailure::ModelDeleted {
                model_id: record.model_id.clone(),
            });
        }
        let inputs = self
            .jobs
            .inputs(id)
            .expect("a pending job keeps its inputs");
        let failed = |error| JobFailure::Failed { error };
        let model = self.runnable(&record.model_id).map_err(failed)?;
        let ordered = runtime::match_inputs(&model.facts.inputs, &inputs).map_err(failed)?;
        let run = PlanRun::start(&model.plan, &ordered).map_err(failed)?;
        Ok(JobRun {
            model,
            run,
            progress: record.progress.clone(),
        })
    }

    pub(super) fn model_was_deleted(&self, record: &JobRecord) -> bool {
        self.store
            .get(&record.model_id)
            .is_none_or(|model| model.sha256 != record.model_sha256)
    }

    /// Fails a job within one of its step messages, whose instructions count.
    pub(super) fn fail(
        &mut self,
        env: &impl Environment,
        id: JobId,
        mut record: JobRecord,
        failure: JobFailure,
    ) -> StepOutcome {
        record.progress.instructions += env.instructions();
        self.finish_failed(env.now_ns(), id, record, failure);
        StepOutcome::Finished
    }

    pub(super) fn finish_failed(
        &mut self,
        now: u64,
        id: JobId,
        mut record: JobRecord,
        failure: JobFailure,
    ) {
        self.runs.runs.remove(&id);
        self.runs.generations.remove(&id);
        if let Some(generation) = &mut record.generation {
            generation.forget_prompt();
        }
        record.state = RecordState::Failed(failure);
        record.finished_at_ns = Some(now);
        self.jobs.finish(id, record, None);
    }

    pub(super) fn job_record_for(
        &self,
        env: &impl Environment,
        id: JobId,
    ) -> Result<JobRecord, Error> {
        let record = self.jobs.get(id).ok_or_else(|| job_not_found(id))?;
        let caller = env.caller();
        if caller != record.caller && !env.is_controller(&caller) {
            return Err(Error::Unauthorized {
                caller,
                required: "the job's caller or a controller".into(),
            });
        }
        Ok(record)
    }

    /// Nodes a pending job has run (no access check: for the canister's own use).
    pub fn job_nodes_done(&self, id: JobId) -> Option<u64> {
        if let Some(job) = self.runs.runs.get(&id) {
            return Some(job.progress.nodes_done);
        }
        self.jobs
            .get(id)
            .filter(JobRecord::is_pending)
            .map(|r| r.progress.nodes_done)
    }

    /// Test support: the number of values the job's tract state holds (inputs, constants
    /// and live intermediates), to see the flush list at work.
    pub fn job_live_values(&self, id: JobId) -> Option<usize> {
        self.runs.runs.get(&id).map(|job| job.run.live_values())
    }
}

pub(super) fn job_not_found(id: JobId) -> Error {
    Error::NotFound {
        kind: "job".into(),
        id: id.to_string(),
    }
}
