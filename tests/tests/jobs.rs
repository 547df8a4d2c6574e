//! Inference jobs on the replica: an inference run node by node, one self-call per step.
//!
//! Setup: the inference canister with the CI-tier models (digits, ppocr-cls), its step
//! budget lowered by the controller (the replica's message limit is untouched: these models
//! fit one message) so that each job takes many messages; the test-hooks build of the
//! canister for the trap.
//! Runbook: start jobs, tick the replica (each tick runs one step), and interleave plain
//! `infer` calls, cancellations, a trap and an upgrade.
//! Success criteria: a job's outputs and output hash are byte for byte those of `infer`;
//! an `infer` over the one-message limit answers `UseJob`, logs nothing, and is refused at
//! once after that;
//! exactly one log entry per finished job, with the messages it took; a cancelled or
//! trapped job logs nothing and the canister keeps serving; an upgrade in the middle sends
//! the job back to its first node (`restarts` = 1) and it ends with the same bytes.
//! Instructions per step and per node are printed (`[job]` lines).

use candid::Principal;
use icinfer_api::{Error, InferArgs, InferResult, JobFailure, JobState, JobStatus};
use icinfer_tests::models::load_model;
use icinfer_tests::{InferenceCanister, ReplicaExt};

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

/// Budgets that split each model into many steps, each above the model's dearest node.
const DIGITS_BUDGET: u64 = 60_000;
const CLS_BUDGET: u64 = 20_000_000;

fn with_models(mut canister: InferenceCanister) -> InferenceCanister {
    for id in ["digits", "ppocr-cls"] {
        let model = load_model(id).unwrap_or_else(|e| panic!("{e}"));
        canister.install_model_declaring(id, &model.bytes, model.input_facts.clone());
    }
    canister
}

fn args(model: &str, case: usize) -> InferArgs {
    let model = load_model(model).unwrap();
    InferArgs {
        model_id: model.id,
        inputs: model.cases[case].inputs.clone(),
        nonce: None,
    }
}

fn set_budget(canister: &mut InferenceCanister, budget: u64) {
    let controller = canister.controller;
    let set: Result<(), Error> = canister
        .update(controller, "set_job_step_budget", budget)
        .unwrap();
    set.unwrap();
}

fn start(canister: &mut InferenceCanister, caller: Principal, args: InferArgs) -> u64 {
    let started: Result<u64, Error> = canister.update(caller, "infer_start", args).unwrap();
    started.unwrap()
}

fn status(canister: &mut InferenceCanister, caller: Principal, id: u64) -> JobStatus {
    let (status,): (Result<JobStatus, Error>,) = canister
        .replica
        .query(canister.id, caller, "job_status", (id,))
        .unwrap();
    status.unwrap()
}

/// Ticks until the job is no longer pending; returns its status.
fn finish(canister: &mut InferenceCanister, caller: Principal, id: u64) -> JobStatus {
    for _ in 0..100_000 {
        let now = status(canister, caller, id);
        if now.state != JobState::Pending {
            return now;
        }
        canister.replica.tick();
    }
    panic!("job {id} does not finish");
}

fn done(status: &JobStatus) -> &InferResult {
    match &status.state {
        JobState::Done(result) => result,
        other => panic!("job {} is not done: {other:?}", status.id),
    }
}

#[test]
fn ci_models_as_jobs_in_many_messages_give_the_bytes_of_infer() {
    let mut canister = with_models(InferenceCanister::install(controller()));
    for (model, budget) in [("digits", DIGITS_BUDGET), ("ppocr-cls", CLS_BUDGET)] {
        let one_shot = canister.infer(user(1), args(model, 0)).unwrap();
        set_budget(&mut canister, budget);
        let log_before = canister.inference_log_size();
        let id = start(&mut canister, user(1), args(model, 0));
        let status = finish(&mut canister, user(1), id);
        let result = done(&status);
        let p = &status.progress;
        println!(
            "[job] {model}: budget {budget}, {} nodes in {} messages, {} instructions (infer: {}); overhead {} per message, {} per node",
            p.nodes_total,
            p.messages,
            p.instructions,
            one_shot.receipt.instructions,
            p.instructions.saturating_sub(one_shot.receipt.instructions) / p.messages,
            p.instructions.saturating_sub(one_shot.receipt.instructions) / p.nodes_total,
        );
        // infer_start and at least two steps (a step now costs little beyond its nodes,
        // so digits runs a few nodes a step even at this budget).
        assert!(p.messages >= 3, "{model}: only {} messages", p.messages);
        assert_eq!(p.nodes_done, p.nodes_total);
        assert_eq!(result.outputs, one_shot.outputs, "{model}: outputs differ");
        assert_eq!(result.receipt.output_hash, one_shot.receipt.output_hash);
        assert_eq!(result.receipt.input_hash, one_shot.receipt.input_hash);
        assert_eq!(result.receipt.messages, Some(p.messages));
        assert_eq!(result.receipt.instructions, p.instructions);
        assert_eq!(
            canister.inference_log_size(),
            log_before + 1,
            "one entry per job"
        );
        assert_eq!(one_shot.receipt.messages, Some(1));
    }
}

#[test]
fn a_cancelled_job_stops_and_logs_nothing() {
    let mut canister = with_models(InferenceCanister::install(controller()));
    set_budget(&mut canister, CLS_BUDGET);
    let id = start(&mut canister, user(2), args("ppocr-cls", 1));
    canister.replica.tick();
    canister.replica.tick();
    let other: Result<(), Error> = canister.update(user(3), "job_cancel", id).unwrap();
    assert!(matches!(other, Err(Error::Unauthorized { .. })));
    let cancelled: Result<(), Error> = canister.update(user(2), "job_cancel", id).unwrap();
    cancelled.unwrap();
    for _ in 0..5 {
        canister.replica.tick();
    }
    let status = status(&mut canister, user(2), id);
    assert_eq!(status.state, JobState::Cancelled);
    assert!(status.progress.nodes_done < status.progress.nodes_total);
    assert_eq!(canister.inference_log_size(), 0);
    // The step endpoint is the canister's own: canister_inspect_message refuses it from
    // outside (the method refuses other canisters itself).
    let step = canister.update::<_, Result<(), Error>>(user(2), "job_step", id);
    assert!(
        matches!(&step, Err(r) if r.message.contains("the canister itself")),
        "{step:?}"
    );
}

#[test]
fn a_trap_in_the_middle_fails_the_job_and_the_canister_keeps_serving() {
    let mut canister = with_models(InferenceCanister::install_with_test_hooks(controller()));
    set_budget(&mut canister, CLS_BUDGET);
    let id = start(&mut canister, user(4), args("ppocr-cls", 0));
    let (armed,): (Result<(), Error>,) = canister
        .replica
        .update(canister.id, controller(), "test_trap_job_after", (id, 3u64))
        .unwrap();
    armed.unwrap();
    let status = finish(&mut canister, user(4), id);
    let JobState::Failed(JobFailure::Trapped { message }) = &status.state else {
        panic!("not trapped: {:?}", status.state)
    };
    assert!(message.contains("test hook: job"), "{message}");
    assert!(status.progress.nodes_done >= 3);
    assert_eq!(
        canister.inference_log_size(),
        0,
        "a trapped job logs nothing"
    );
    // The canister keeps serving: infer, and another job to its end.
    canister.infer(user(4), args("digits", 0)).unwrap();
    let next = start(&mut canister, user(4), args("ppocr-cls", 0));
    done(&finish(&mut canister, user(4), next));
    assert_eq!(canister.inference_log_size(), 2);
}

#[test]
fn an_upgrade_in_the_middle_restarts_the_job_from_its_first_node() {
    let mut canister = with_models(InferenceCanister::install(controller()));
    let one_shot = canister.infer(user(5), args("ppocr-cls", 1)).unwrap();
    set_budget(&mut canister, CLS_BUDGET);
    let id = start(&mut canister, user(5), args("ppocr-cls", 1));
    for _ in 0..3 {
        canister.replica.tick();
    }
    let before = status(&mut canister, user(5), id);
    assert!(before.progress.nodes_done > 0 && before.state == JobState::Pending);
    canister.upgrade();
    let after = status(&mut canister, user(5), id);
    assert_eq!(after.state, JobState::Pending);
    assert_eq!(after.progress.nodes_done, 0);
    assert_eq!(after.progress.restarts, 1);
    let status = finish(&mut canister, user(5), id);
    let result = done(&status);
    assert_eq!(result.outputs, one_shot.outputs);
    assert_eq!(result.receipt.output_hash, one_shot.receipt.output_hash);
    assert_eq!(status.progress.restarts, 1);
    assert!(status.progress.messages > before.progress.messages);
    assert_eq!(canister.inference_log_size(), 2);
}

#[test]
fn several_callers_jobs_interleave_with_plain_infer_calls() {
    let mut canister = with_models(InferenceCanister::install(controller()));
    let expected: Vec<InferResult> = (0..3)
        .map(|n| canister.infer(user(10), args("ppocr-cls", n % 2)).unwrap())
        .collect();
    set_budget(&mut canister, CLS_BUDGET);
    let jobs: Vec<(Principal, u64)> = (0..3u8)
        .map(|n| {
            let caller = user(20 + n);
            (
                caller,
                start(&mut canister, caller, args("ppocr-cls", n as usize % 2)),
            )
        })
        .collect();
    // Each tick steps one job; a plain infer from another caller between every two.
    let mut infers_while_pending: u64 = 0;
    for _ in 0..10_000 {
        let pending = jobs
            .iter()
            .filter(|(caller, id)| status(&mut canister, *caller, *id).state == JobState::Pending)
            .count();
        if pending == 0 {
            break;
        }
        canister.infer(user(30), args("digits", 1)).unwrap();
        infers_while_pending += 1;
        canister.replica.tick();
    }
    let mut progress = Vec::new();
    for ((caller, id), want) in jobs.iter().zip(&expected) {
        let status = status(&mut canister, *caller, *id);
        let result = done(&status);
        assert_eq!(result.outputs, want.outputs);
        assert_eq!(result.receipt.caller, *caller);
        progress.push(status.progress.messages);
    }
    println!(
        "[job] 3 interleaved jobs: messages {progress:?}, {infers_while_pending} infers between"
    );
    // The jobs took turns: none finished before the others had started stepping, so each
    // ran while many infers went through.
    assert!(infers_while_pending > progress.iter().max().unwrap() * 2);
    assert_eq!(canister.inference_log_size(), 3 + infers_while_pending + 3);
}

#[test]
fn an_infer_over_the_one_message_limit_answers_use_job_and_the_job_it_names_runs_it() {
    let mut canister = with_models(InferenceCanister::install(controller()));
    let one_shot = canister.infer(user(40), args("ppocr-cls", 0)).unwrap();
    let controller = canister.controller;
    // ppocr-cls takes 77 M in one message: with the limit at 20 M, infer stops part way.
    let limit: Result<(), Error> = canister
        .update(controller, "set_one_message_limit", CLS_BUDGET)
        .unwrap();
    limit.unwrap();
    let log_before = canister.inference_log_size();
    let reason = match canister.infer(user(41), args("ppocr-cls", 0)) {
        Err(Error::UseJob { model_id, reason }) => {
            assert_eq!(model_id, "ppocr-cls");
            reason
        }
        other => panic!("expected UseJob, got {other:?}"),
    };
    println!("[job] infer over the limit: {reason}");
    assert!(reason.contains("stopped after "), "{reason}");
    assert_eq!(canister.inference_log_size(), log_before, "nothing logged");
    // Refused at once from now on, for every caller, and other models still run.
    match canister.infer(user(42), args("ppocr-cls", 1)) {
        Err(Error::UseJob { reason, .. }) => assert!(reason.contains("measured at"), "{reason}"),
        other => panic!("expected UseJob, got {other:?}"),
    }
    canister.infer(user(42), args("digits", 0)).unwrap();
    set_budget(&mut canister, CLS_BUDGET);
    let id = start(&mut canister, user(41), args("ppocr-cls", 0));
    let status = finish(&mut canister, user(41), id);
    let result = done(&status);
    assert_eq!(result.outputs, one_shot.outputs);
    assert_eq!(result.receipt.output_hash, one_shot.receipt.output_hash);
    assert_eq!(canister.inference_log_size(), log_before + 2);
}
