//! Inference jobs natively: a model run node by node across "messages" (engine calls, each
//! with its own instruction counter) gives `infer`'s bytes; the flush list frees what no
//! later node reads; cancellation, a node over the budget, a deleted model, an upgrade in
//! the middle, and the bounds.

use candid::Principal;
use ic_stable_structures::VectorMemory;
use icinfer_api::{
    CreateModelArgs, EntryKind, Error, InferArgs, JobFailure, JobState, JobStatus, Tensor,
    TensorData, UploadChunkArgs,
};
use icinfer_core::limits::{
    FINISHED_JOB_TTL_NS, MAX_FINISHED_JOBS, MAX_JOBS_IN_FLIGHT, MAX_JOBS_PER_CALLER,
    MIN_STEP_BUDGET,
};
use icinfer_core::{Engine, Environment, StepOutcome};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::cell::Cell;

const DIGITS: &[u8] = include_bytes!("../../../models/digits/digits.onnx");

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn alice() -> Principal {
    Principal::from_slice(&[0xa1; 29])
}
fn bob() -> Principal {
    Principal::from_slice(&[0xb0; 29])
}

/// An environment whose instruction counter starts again at every message and advances
/// `per_read` on every read, so that a step's budget is reached after a known number of
/// nodes.
struct JobEnv {
    caller: Cell<Principal>,
    now: Cell<u64>,
    counter: Cell<u64>,
    per_read: Cell<u64>,
}

impl JobEnv {
    fn new() -> Self {
        JobEnv {
            caller: Cell::new(controller()),
            now: Cell::new(1_750_000_000_000_000_000),
            counter: Cell::new(0),
            per_read: Cell::new(1),
        }
    }
    /// A new message from `caller`.
    fn message(&self, caller: Principal) -> &Self {
        self.caller.set(caller);
        self.counter.set(0);
        self
    }
}

impl Environment for JobEnv {
    fn caller(&self) -> Principal {
        self.caller.get()
    }
    fn is_controller(&self, principal: &Principal) -> bool {
        *principal == controller()
    }
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1);
        self.now.get()
    }
    fn instructions(&self) -> u64 {
        self.counter.set(self.counter.get() + self.per_read.get());
        self.counter.get()
    }
    fn heap_bytes(&self) -> u64 {
        0
    }
    fn set_certified_data(&self, _: &[u8]) {}
    fn data_certificate(&self) -> Option<Vec<u8>> {
        None
    }
}

fn engine_with_digits() -> (Engine<VectorMemory>, VectorMemory, JobEnv) {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = JobEnv::new();
    engine
        .create_model(
            env.message(controller()),
            CreateModelArgs {
                id: "digits".into(),
                sha256: ByteBuf::from(Sha256::digest(DIGITS).to_vec()),
                size_bytes: DIGITS.len() as u64,
                description: None,
                input_facts: None,
                language_model: None,
            },
        )
        .unwrap();
    engine
        .upload_model_chunk(
            env.message(controller()),
            UploadChunkArgs {
                id: "digits".into(),
                offset: 0,
                data: ByteBuf::from(DIGITS.to_vec()),
            },
        )
        .unwrap();
    engine
        .finalize_model(env.message(controller()), "digits")
        .unwrap();
    (engine, memory, env)
}

fn pixels(seed: u32) -> InferArgs {
    InferArgs {
        model_id: "digits".into(),
        inputs: vec![Tensor {
            name: "pixels".into(),
            shape: vec![1, 64],
            data: TensorData::F32((0..64).map(|i| ((i * 7 + seed) % 17) as f32).collect()),
        }],
        nonce: Some(ByteBuf::from(vec![0x42; 16])),
    }
}

/// One node per step: the first node of a message always runs, and a read costs more than
/// half the budget, so the next one does not start.
fn one_node_per_step(engine: &mut Engine<VectorMemory>, env: &JobEnv) {
    engine
        .set_job_step_budget(env.message(controller()), MIN_STEP_BUDGET)
        .unwrap();
    env.per_read.set(MIN_STEP_BUDGET * 6 / 10);
}

fn status(engine: &Engine<VectorMemory>, env: &JobEnv, caller: Principal, id: u64) -> JobStatus {
    engine.job_status(env.message(caller), id).unwrap()
}

/// Steps the job until it finishes; returns the number of steps.
fn run_to_end(engine: &mut Engine<VectorMemory>, env: &JobEnv, id: u64) -> u64 {
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000, "the job does not finish");
        if engine.job_step(env.message(controller()), id).unwrap() == StepOutcome::Finished {
            return steps;
        }
    }
}

#[test]
fn a_job_in_many_steps_gives_the_bytes_of_infer() {
    let (mut engine, _, env) = engine_with_digits();
    let one_shot = engine.infer(env.message(alice()), pixels(3)).unwrap();
    one_node_per_step(&mut engine, &env);

    let id = engine.infer_start(env.message(alice()), pixels(3)).unwrap();
    let pending = status(&engine, &env, alice(), id);
    assert_eq!(pending.state, JobState::Pending);
    assert_eq!(pending.progress.nodes_done, 0);
    assert_eq!(pending.progress.messages, 1);
    let nodes = pending.progress.nodes_total;
    assert!(nodes >= 3, "digits has {nodes} nodes");

    let steps = run_to_end(&mut engine, &env, id);
    assert_eq!(steps, nodes, "one node per step");
    let done = status(&engine, &env, alice(), id);
    let JobState::Done(result) = done.state else {
        panic!("not done: {:?}", done.state)
    };
    assert_eq!(result.outputs, one_shot.outputs);
    assert_eq!(result.receipt.output_hash, one_shot.receipt.output_hash);
    assert_eq!(result.receipt.input_hash, one_shot.receipt.input_hash);
    assert_eq!(result.receipt.model_sha256, one_shot.receipt.model_sha256);
    assert_eq!(result.receipt.caller, alice());
    assert_eq!(result.receipt.messages, Some(nodes + 1));
    assert_eq!(result.receipt.instructions, done.progress.instructions);
    assert_eq!(done.progress.messages, nodes + 1);
    assert_eq!(done.progress.nodes_done, nodes);
    // Exactly one entry for the job, the last one (after the model's and infer's).
    assert_eq!(engine.log_size(), 3);
    assert_eq!(engine.log_entry(2).unwrap(), result.receipt);
    assert_eq!(one_shot.receipt.messages, Some(1));
}

#[test]
fn the_flush_list_frees_intermediates_no_later_node_reads() {
    let (mut engine, _, env) = engine_with_digits();
    one_node_per_step(&mut engine, &env);
    let id = engine.infer_start(env.message(alice()), pixels(1)).unwrap();
    let nodes = status(&engine, &env, alice(), id).progress.nodes_total;
    let at_start = engine.job_live_values(id).unwrap();
    let mut most = at_start;
    for _ in 1..nodes {
        assert_eq!(
            engine.job_step(env.message(controller()), id).unwrap(),
            StepOutcome::Continue
        );
        most = most.max(engine.job_live_values(id).unwrap());
    }
    // Without freeing, every node's value would be held: at_start + nodes - 1 by now.
    // digits is a chain with two outputs, so at most two intermediates live at once.
    println!("live values: {at_start} at start, at most {most} over {nodes} nodes");
    assert!(
        most <= at_start + 2 && most < at_start + nodes as usize - 1,
        "{most} values live after {nodes} nodes from {at_start}"
    );
}

#[test]
fn a_job_is_cancelled_by_its_caller_or_a_controller_only() {
    let (mut engine, _, env) = engine_with_digits();
    one_node_per_step(&mut engine, &env);
    let id = engine.infer_start(env.message(alice()), pixels(2)).unwrap();
    engine.job_step(env.message(controller()), id).unwrap();
    assert!(matches!(
        engine.job_cancel(env.message(bob()), id),
        Err(Error::Unauthorized { .. })
    ));
    assert!(matches!(
        engine.job_status(env.message(bob()), id),
        Err(Error::Unauthorized { .. })
    ));
    engine.job_cancel(env.message(alice()), id).unwrap();
    let cancelled = status(&engine, &env, controller(), id);
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.progress.nodes_done, 1);
    // A step arriving after the cancel does nothing; nothing is logged.
    assert_eq!(
        engine.job_step(env.message(controller()), id).unwrap(),
        StepOutcome::Finished
    );
    assert_eq!(work_entries(&engine), 0);
    assert!(!engine.has_pending_jobs());
    assert!(matches!(
        engine.job_cancel(env.message(controller()), id),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn a_node_over_the_budget_fails_the_job_naming_it() {
    let (mut engine, _, env) = engine_with_digits();
    engine
        .set_job_step_budget(env.message(controller()), MIN_STEP_BUDGET)
        .unwrap();
    let id = engine.infer_start(env.message(alice()), pixels(4)).unwrap();
    env.per_read.set(MIN_STEP_BUDGET * 2);
    assert_eq!(
        engine.job_step(env.message(controller()), id).unwrap(),
        StepOutcome::Finished
    );
    let failed = status(&engine, &env, alice(), id);
    let JobState::Failed(JobFailure::NodeOverBudget {
        node,
        instructions,
        budget,
    }) = failed.state
    else {
        panic!("not a node over budget: {:?}", failed.state)
    };
    assert_eq!(budget, MIN_STEP_BUDGET);
    assert_eq!(instructions, MIN_STEP_BUDGET * 2);
    assert!(node.starts_with('\'') && node.contains("#"), "{node}");
    assert_eq!(work_entries(&engine), 0);
    // Bounds of the budget itself.
    assert!(matches!(
        engine.set_job_step_budget(env.message(controller()), MIN_STEP_BUDGET - 1),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        engine.set_job_step_budget(env.message(alice()), MIN_STEP_BUDGET),
        Err(Error::Unauthorized { .. })
    ));
}

#[test]
fn an_upgrade_sends_a_job_back_to_its_first_node_and_it_ends_the_same() {
    let (mut engine, memory, env) = engine_with_digits();
    let one_shot = engine.infer(env.message(alice()), pixels(5)).unwrap();
    one_node_per_step(&mut engine, &env);
    let id = engine.infer_start(env.message(alice()), pixels(5)).unwrap();
    engine.job_step(env.message(controller()), id).unwrap();
    engine.job_step(env.message(controller()), id).unwrap();
    let before = status(&engine, &env, alice(), id).progress;
    assert_eq!(before.nodes_done, 2);
    drop(engine);

    let mut engine = Engine::init(memory).unwrap();
    let after = status(&engine, &env, alice(), id);
    assert_eq!(after.state, JobState::Pending);
    assert_eq!(after.progress.nodes_done, 0);
    assert_eq!(after.progress.restarts, 1);
    assert_eq!(after.progress.messages, before.messages);
    assert_eq!(after.progress.instructions, before.instructions);
    // The default budget after an upgrade: the rest runs in one step.
    env.per_read.set(1);
    assert_eq!(run_to_end(&mut engine, &env, id), 1);
    let done = status(&engine, &env, alice(), id);
    let JobState::Done(result) = done.state else {
        panic!("not done: {:?}", done.state)
    };
    assert_eq!(result.outputs, one_shot.outputs);
    assert_eq!(result.receipt.output_hash, one_shot.receipt.output_hash);
    assert_eq!(result.receipt.messages, Some(before.messages + 1));
    assert_eq!(done.progress.restarts, 1);
}

#[test]
fn deleting_the_model_fails_its_jobs() {
    let (mut engine, _, env) = engine_with_digits();
    one_node_per_step(&mut engine, &env);
    let id = engine.infer_start(env.message(alice()), pixels(6)).unwrap();
    engine.job_step(env.message(controller()), id).unwrap();
    engine
        .delete_model(env.message(controller()), "digits")
        .unwrap();
    assert_eq!(
        status(&engine, &env, alice(), id).state,
        JobState::Failed(JobFailure::ModelDeleted {
            model_id: "digits".into()
        })
    );
    assert!(!engine.has_pending_jobs());
    assert_eq!(work_entries(&engine), 0);
}

#[test]
fn a_trapped_step_fails_the_job_and_logs_nothing() {
    let (mut engine, _, env) = engine_with_digits();
    one_node_per_step(&mut engine, &env);
    let id = engine.infer_start(env.message(alice()), pixels(7)).unwrap();
    engine.job_step(env.message(controller()), id).unwrap();
    engine.job_trapped(env.message(controller()), id, "the step trapped".into());
    let failed = status(&engine, &env, alice(), id);
    assert_eq!(
        failed.state,
        JobState::Failed(JobFailure::Trapped {
            message: "the step trapped".into()
        })
    );
    assert_eq!(failed.progress.messages, 3);
    assert_eq!(work_entries(&engine), 0);
}

#[test]
fn jobs_are_bounded_per_caller_and_take_turns() {
    let (mut engine, _, env) = engine_with_digits();
    one_node_per_step(&mut engine, &env);
    let ids: Vec<u64> = (0..MAX_JOBS_PER_CALLER)
        .map(|i| {
            engine
                .infer_start(env.message(alice()), pixels(i as u32))
                .unwrap()
        })
        .collect();
    assert!(matches!(
        engine.infer_start(env.message(alice()), pixels(9)),
        Err(Error::LimitExceeded { .. })
    ));
    let theirs = engine.infer_start(env.message(bob()), pixels(9)).unwrap();
    // Round robin over the pending jobs, in id order.
    let turns: Vec<u64> = (0..6).map(|_| engine.next_job().unwrap()).collect();
    let mut expected: Vec<u64> = ids.clone();
    expected.push(theirs);
    expected.push(ids[0]);
    assert_eq!(turns, expected);
    // Invalid arguments are refused before a job exists.
    let mut wrong = pixels(0);
    wrong.inputs[0].shape = vec![1, 63];
    assert!(matches!(
        engine.infer_start(env.message(bob()), wrong),
        Err(Error::InvalidArgument { .. } | Error::InputMismatch { .. })
    ));
}

#[test]
fn jobs_in_flight_are_bounded_in_all() {
    let (mut engine, _, env) = engine_with_digits();
    let per_caller = MAX_JOBS_PER_CALLER as u8;
    let callers = (MAX_JOBS_IN_FLIGHT / MAX_JOBS_PER_CALLER) as u8;
    for caller in 0..callers {
        for job in 0..per_caller {
            engine
                .infer_start(env.message(user(caller)), pixels(job.into()))
                .unwrap();
        }
    }
    match engine.infer_start(env.message(user(callers)), pixels(0)) {
        Err(Error::LimitExceeded { limit, max, got }) => {
            assert_eq!(limit, "MAX_JOBS_IN_FLIGHT");
            assert_eq!((max, got), (MAX_JOBS_IN_FLIGHT, MAX_JOBS_IN_FLIGHT + 1));
        }
        other => panic!("expected MAX_JOBS_IN_FLIGHT, got {other:?}"),
    }
    // A finished job makes room.
    let first = engine.next_job().unwrap();
    engine.job_cancel(env.message(controller()), first).unwrap();
    engine
        .infer_start(env.message(user(callers)), pixels(0))
        .unwrap();
}

#[test]
fn finished_jobs_are_kept_for_a_bounded_time_and_count_and_their_entries_stay() {
    let (mut engine, _, env) = engine_with_digits();
    // Time: a done job is dropped once it is older than the TTL, when the next job starts.
    let done = engine.infer_start(env.message(alice()), pixels(1)).unwrap();
    run_to_end(&mut engine, &env, done);
    let receipt = match status(&engine, &env, alice(), done).state {
        JobState::Done(result) => result.receipt,
        other => panic!("not done: {other:?}"),
    };
    env.now.set(env.now.get() + FINISHED_JOB_TTL_NS / 2);
    engine.infer_start(env.message(bob()), pixels(2)).unwrap();
    assert!(
        engine.job_status(env.message(alice()), done).is_ok(),
        "within the TTL"
    );
    env.now.set(env.now.get() + FINISHED_JOB_TTL_NS);
    let kept = engine.infer_start(env.message(bob()), pixels(3)).unwrap();
    assert!(matches!(
        engine.job_status(env.message(alice()), done),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        engine.log_entry(receipt.seq).unwrap(),
        receipt,
        "the receipt stays"
    );
    // Pending jobs are never dropped, however old.
    assert_eq!(status(&engine, &env, bob(), kept).state, JobState::Pending);

    // Count: beyond MAX_FINISHED_JOBS finished jobs, the oldest go first.
    let finished: Vec<u64> = (0..=MAX_FINISHED_JOBS)
        .map(|n| {
            let id = engine
                .infer_start(env.message(alice()), pixels(n as u32))
                .unwrap();
            engine.job_cancel(env.message(alice()), id).unwrap();
            id
        })
        .collect();
    engine.infer_start(env.message(alice()), pixels(0)).unwrap();
    assert!(matches!(
        engine.job_status(env.message(alice()), finished[0]),
        Err(Error::NotFound { .. })
    ));
    for id in &finished[1..] {
        assert_eq!(
            status(&engine, &env, alice(), *id).state,
            JobState::Cancelled
        );
    }
    assert_eq!(status(&engine, &env, bob(), kept).state, JobState::Pending);
}

fn user(n: u8) -> Principal {
    Principal::from_slice(&[0x10 + n; 29])
}

/// Entries other than the models' own (kind 4, one per finalize): what the work logged.
fn work_entries(engine: &Engine<VectorMemory>) -> u64 {
    (0..engine.log_size())
        .filter(|&i| !matches!(engine.log_entry(i).unwrap().kind, Some(EntryKind::Model(_))))
        .count() as u64
}
