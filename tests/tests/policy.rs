//! The inference policy and `canister_inspect_message`, on the built module (docs/policy.md).
//!
//! Setup: the inference canister on the local host with the digits model; principals made
//! up per test; an intermediary canister (host_test_canister's `call_other`) to call the
//! canister as another canister does, which inspection never sees.
//! Runbook: set policies as a controller, call as others from outside and through the
//! intermediary, advance the clock past a window, upgrade.
//! Success criteria: a call the policy refuses is refused early from outside (the reject
//! carries the method's reason) and with the typed error from a canister; quota errors say
//! when the window resets and calls are admitted from then on; refused calls change
//! nothing; the policy survives an upgrade; a trap between inference and log append
//! leaves the log, its head and the model as they were.

use candid::{Encode, Principal};
use icinfer_api::{
    Access, Error, InferArgs, InferResult, InferencePolicy, LogHead, ModelInfo, Quota, Stats,
};
use icinfer_tests::models::load_model;
use icinfer_tests::{CANISTER_ERROR, InferenceCanister, Rejection, ReplicaExt, canister_wasm};
use std::time::Duration;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

const SECOND_NS: u64 = 1_000_000_000;

fn with_digits(mut canister: InferenceCanister) -> InferenceCanister {
    let model = load_model("digits").unwrap_or_else(|e| panic!("{e}"));
    canister.install_model_declaring("digits", &model.bytes, model.input_facts.clone());
    canister
}

fn digits_args() -> InferArgs {
    let model = load_model("digits").unwrap();
    InferArgs {
        model_id: model.id,
        inputs: model.cases[0].inputs.clone(),
        nonce: None,
    }
}

fn set_policy(canister: &mut InferenceCanister, policy: InferencePolicy) {
    let controller = canister.controller;
    let set: Result<(), Error> = canister.update(controller, "set_policy", policy).unwrap();
    set.unwrap();
}

/// `infer` from outside the IC: the rejection of inspection, or the method's answer.
fn infer_ingress(
    canister: &mut InferenceCanister,
    caller: Principal,
) -> Result<Result<InferResult, Error>, Rejection> {
    canister.update(caller, "infer", digits_args())
}

/// A refusal of canister_inspect_message that carries `reason`.
fn assert_refused_early(refused: Result<impl std::fmt::Debug, Rejection>, reason: &str) {
    let rejection = refused.expect_err("canister_inspect_message should refuse the call");
    assert_eq!(rejection.code, CANISTER_ERROR, "{rejection:?}");
    assert!(
        rejection
            .message
            .contains("refused by canister_inspect_message")
            && rejection.message.contains(reason),
        "{rejection:?}"
    );
}

/// An intermediary canister, controlled by the canister's controller (not by the canister).
fn intermediary(canister: &mut InferenceCanister) -> Principal {
    let id = canister.replica.create_canister(controller());
    let wasm = canister_wasm("host_test_canister");
    canister
        .replica
        .install(id, &wasm, Encode!(&None::<String>).unwrap(), controller());
    id
}

/// `infer` called by the intermediary canister: the method's typed answer.
fn infer_via(canister: &mut InferenceCanister, via: Principal) -> Result<InferResult, Error> {
    let arg = Encode!(&digits_args()).unwrap();
    let (reply,): (Result<Vec<u8>, (u32, String)>,) = canister
        .replica
        .update(
            via,
            user(200),
            "call_other",
            (canister.id, "infer".to_string(), arg),
        )
        .unwrap();
    candid::decode_one(&reply.expect("the inference canister replied")).unwrap()
}

/// What a refused call must leave as it was.
fn snapshot(canister: &mut InferenceCanister) -> (LogHead, Stats, Vec<ModelInfo>) {
    (
        canister.query0("log_head"),
        canister.query0("stats"),
        canister.query0("list_models"),
    )
}

fn same_state(a: &(LogHead, Stats, Vec<ModelInfo>), b: &(LogHead, Stats, Vec<ModelInfo>)) {
    assert_eq!(a.0.tree_size, b.0.tree_size);
    assert_eq!(a.0.root_hash, b.0.root_hash);
    assert_eq!(a.1.log_size, b.1.log_size);
    assert_eq!(a.1.last_infer_instructions, b.1.last_infer_instructions);
    assert_eq!(a.1.model_bytes, b.1.model_bytes);
    assert_eq!(a.2, b.2);
}

#[test]
fn only_controllers_read_and_set_the_policy_and_it_survives_an_upgrade() {
    let mut canister = with_digits(InferenceCanister::install(controller()));
    let policy: Result<InferencePolicy, Error> = canister
        .replica
        .query::<_, (Result<InferencePolicy, Error>,)>(canister.id, controller(), "policy", ())
        .unwrap()
        .0;
    assert_eq!(policy.unwrap(), InferencePolicy::default());
    // A query is not inspected: the method refuses others itself.
    let theirs = canister
        .replica
        .query::<_, (Result<InferencePolicy, Error>,)>(canister.id, user(1), "policy", ())
        .unwrap()
        .0;
    assert!(
        matches!(theirs, Err(Error::Unauthorized { .. })),
        "{theirs:?}"
    );
    let set = InferencePolicy {
        access: Access::AllowList(vec![user(1), user(2)]),
        window_seconds: 90,
        per_caller: Quota {
            max_calls: Some(5),
            max_instructions: Some(1 << 40),
        },
        global: Quota {
            max_calls: Some(50),
            max_instructions: None,
        },
    };
    assert_refused_early(
        canister.update::<_, Result<(), Error>>(user(1), "set_policy", set.clone()),
        "is not a controller",
    );
    // Bounds are typed errors, and change nothing.
    let bad: Result<(), Error> = canister
        .update(
            controller(),
            "set_policy",
            InferencePolicy {
                window_seconds: 0,
                ..set.clone()
            },
        )
        .unwrap();
    assert!(matches!(bad, Err(Error::InvalidArgument { .. })), "{bad:?}");
    set_policy(&mut canister, set.clone());
    canister.upgrade();
    let kept = canister
        .replica
        .query::<_, (Result<InferencePolicy, Error>,)>(canister.id, controller(), "policy", ())
        .unwrap()
        .0;
    assert_eq!(kept.unwrap(), set);
}

#[test]
fn authenticated_and_allow_list_access_refuse_early_and_in_the_method() {
    let mut canister = with_digits(InferenceCanister::install(controller()));
    let via = intermediary(&mut canister);
    // Open by default: the anonymous principal infers.
    infer_ingress(&mut canister, Principal::anonymous())
        .unwrap()
        .unwrap();

    set_policy(
        &mut canister,
        InferencePolicy {
            access: Access::Authenticated,
            ..InferencePolicy::default()
        },
    );
    let before = snapshot(&mut canister);
    assert_refused_early(
        infer_ingress(&mut canister, Principal::anonymous()),
        "anonymous",
    );
    let started = canister.update::<_, Result<u64, Error>>(
        Principal::anonymous(),
        "infer_start",
        digits_args(),
    );
    assert_refused_early(started, "anonymous");
    same_state(&before, &snapshot(&mut canister));
    infer_ingress(&mut canister, user(1)).unwrap().unwrap();

    set_policy(
        &mut canister,
        InferencePolicy {
            access: Access::AllowList(vec![user(1)]),
            ..InferencePolicy::default()
        },
    );
    infer_ingress(&mut canister, user(1)).unwrap().unwrap();
    assert_refused_early(infer_ingress(&mut canister, user(2)), "allow-list");
    // Controllers are always admitted; a canister not on the list gets the typed error.
    infer_ingress(&mut canister, controller()).unwrap().unwrap();
    match infer_via(&mut canister, via) {
        Err(Error::Unauthorized { caller, required }) => {
            assert_eq!(caller, via);
            assert!(required.contains("allow-list"), "{required}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(canister.inference_log_size(), 4);
}

#[test]
fn quotas_refuse_saying_when_they_reset_and_admit_again_after_it() {
    let mut canister = with_digits(InferenceCanister::install(controller()));
    let via = intermediary(&mut canister);
    let window_seconds = 60;
    set_policy(
        &mut canister,
        InferencePolicy {
            window_seconds,
            per_caller: Quota {
                max_calls: Some(2),
                max_instructions: None,
            },
            global: Quota {
                max_calls: Some(4),
                max_instructions: None,
            },
            ..InferencePolicy::default()
        },
    );
    let first = infer_via(&mut canister, via).unwrap();
    infer_via(&mut canister, via).unwrap();
    let window_ns = window_seconds * SECOND_NS;
    let resets_at = first.receipt.timestamp_ns - first.receipt.timestamp_ns % window_ns + window_ns;
    let refused = infer_via(&mut canister, via);
    assert_eq!(
        refused,
        Err(Error::QuotaExceeded {
            quota: "per_caller.max_calls".into(),
            max: 2,
            used: 2,
            resets_at_ns: resets_at,
        }),
        "(if the clock crossed a window between the calls, rerun)"
    );
    assert_refused_early(infer_ingress(&mut canister, via), "per_caller.max_calls");
    // Two more callers reach the global quota; the next principal, new as it is, is refused.
    infer_ingress(&mut canister, user(1)).unwrap().unwrap();
    canister
        .update::<_, Result<u64, Error>>(user(2), "infer_start", digits_args())
        .unwrap()
        .unwrap();
    assert_refused_early(infer_ingress(&mut canister, user(3)), "global.max_calls");
    // Controllers are exempt.
    infer_ingress(&mut canister, controller()).unwrap().unwrap();
    // The next window admits again.
    canister
        .replica
        .advance_time(Duration::from_secs(window_seconds));
    for _ in 0..4 {
        canister.replica.tick();
    }
    let again = infer_via(&mut canister, via).unwrap();
    assert!(again.receipt.timestamp_ns >= resets_at);
    infer_ingress(&mut canister, user(3)).unwrap().unwrap();
}

#[test]
fn an_instruction_quota_counts_what_inferences_used() {
    let mut canister = with_digits(InferenceCanister::install(controller()));
    let via = intermediary(&mut canister);
    // Any instruction used reaches a quota of one: the second call is refused.
    set_policy(
        &mut canister,
        InferencePolicy {
            per_caller: Quota {
                max_calls: None,
                max_instructions: Some(1),
            },
            ..InferencePolicy::default()
        },
    );
    let spent = infer_via(&mut canister, via).unwrap().receipt.instructions;
    match infer_via(&mut canister, via) {
        Err(Error::QuotaExceeded {
            quota, max, used, ..
        }) => {
            assert_eq!(quota, "per_caller.max_instructions");
            assert_eq!(max, 1);
            assert_eq!(used, spent, "the quota counts the receipt's instructions");
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    // Another caller has its own quota.
    infer_ingress(&mut canister, user(1)).unwrap().unwrap();
}

#[test]
fn inspection_refuses_oversize_arguments_and_unknown_methods_and_they_change_nothing() {
    let mut canister = with_digits(InferenceCanister::install(controller()));
    let before = snapshot(&mut canister);
    // A controller's call with an argument far larger than the method takes.
    let oversize = vec![0u8; 200 << 10];
    let refused = canister
        .replica
        .update_raw(canister.id, controller(), "add_admin", oversize);
    assert_refused_early(refused, "argument bytes of add_admin");
    let inspect_instructions = canister.replica.last_instructions();
    let refused =
        canister
            .replica
            .update_raw(canister.id, user(1), "no_such_method", Encode!().unwrap());
    assert_refused_early(refused, "method 'no_such_method' not found");
    // The job driver's self-calls are the canister's own.
    let refused = canister.replica.update_raw(
        canister.id,
        controller(),
        "finalize_step",
        Encode!(&"digits").unwrap(),
    );
    assert_refused_early(refused, "the canister itself");
    same_state(&before, &snapshot(&mut canister));
    println!("[inspect] refusing a 200 KiB argument: {inspect_instructions:?} instructions");
}

#[test]
fn a_trap_between_inference_and_append_writes_nothing() {
    let mut canister = with_digits(InferenceCanister::install_with_test_hooks(controller()));
    let first = infer_ingress(&mut canister, user(1)).unwrap().unwrap();
    let arm = |canister: &mut InferenceCanister, armed: bool| {
        let set: Result<(), Error> = canister
            .update(controller(), "test_trap_after_inference", armed)
            .unwrap();
        set.unwrap();
    };
    arm(&mut canister, true);
    let before = snapshot(&mut canister);
    let digits_before: Result<ModelInfo, Error> =
        canister.query("model_info", "digits".to_string());
    for caller in [user(1), user(2)] {
        let trapped = infer_ingress(&mut canister, caller).expect_err("the hook traps");
        assert_eq!(trapped.code, CANISTER_ERROR);
        assert!(
            trapped
                .message
                .contains("test hook: trap after the inference ran"),
            "{trapped:?}"
        );
    }
    let after = snapshot(&mut canister);
    same_state(&before, &after);
    assert_eq!(
        after.1.last_infer_instructions,
        Some(first.receipt.instructions)
    );
    let digits_after: Result<ModelInfo, Error> = canister.query("model_info", "digits".to_string());
    assert_eq!(digits_after.unwrap(), digits_before.unwrap());
    // It keeps serving: the next entry takes the next sequence number.
    arm(&mut canister, false);
    let next = infer_ingress(&mut canister, user(2)).unwrap().unwrap();
    assert_eq!(next.receipt.seq, first.receipt.seq + 1);
    assert_eq!(next.outputs, first.outputs);
    let head: LogHead = canister.query0("log_head");
    assert_eq!(head.tree_size, next.receipt.seq + 1);
}
