//! Another canister using icinfer: the consumer calls `infer` (or starts a job and collects
//! it) and keeps the receipts.
//!
//! Setup: the inference canister with the affine model, and the consumer canister pointed
//! at it. Success criteria: the consumer's receipts equal the inference canister's log
//! entries, which name the consumer as caller; a failed inference stores nothing.

use candid::{CandidType, Deserialize, Encode, Principal};
use icinfer_api::{InferArgs, InferResult, LogEntry, Tensor, TensorData};
use icinfer_tests::{InferenceCanister, ReplicaExt, canister_wasm, model_bytes, replica};

#[derive(CandidType, Deserialize, Debug)]
enum ConsumerError {
    Inference(icinfer_api::Error),
    CallFailed { code: u32, message: String },
}

#[derive(CandidType)]
struct ConsumerInit {
    inference: Principal,
}

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

fn user() -> Principal {
    Principal::from_slice(&[0x07; 29])
}

/// The inference canister with the affine model, and a consumer pointed at it.
fn setup() -> (InferenceCanister, Principal) {
    let mut inference = InferenceCanister::install(controller());
    inference.install_model("affine", &model_bytes("tiny/affine.onnx"));
    let consumer = inference.replica.create_canister(controller());
    let init = Encode!(&ConsumerInit {
        inference: inference.id
    })
    .unwrap();
    inference
        .replica
        .install(consumer, &canister_wasm("consumer"), init, controller());
    (inference, consumer)
}

fn args(model: &str) -> InferArgs {
    InferArgs {
        model_id: model.into(),
        inputs: vec![Tensor {
            name: "x".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![1.0, 2.0, 3.0]),
        }],
        nonce: None,
    }
}

#[test]
fn a_canister_infers_through_an_inter_canister_call_and_keeps_the_receipt() {
    let (mut inference, consumer) = setup();
    let replica = &mut inference.replica;

    let (result,): (Result<InferResult, ConsumerError>,) = replica
        .update(consumer, user(), "infer", (args("affine"),))
        .unwrap();
    let result = result.unwrap();
    assert_eq!(
        result.outputs[0].data,
        TensorData::F32(vec![3.0, 2.0, 10.0])
    );
    assert_eq!(
        result.receipt.caller, consumer,
        "the log names the calling canister"
    );

    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert_eq!(kept, vec![result.receipt.clone()]);
    let (logged,): (Result<LogEntry, icinfer_api::Error>,) = replica
        .query(inference.id, user(), "log_entry", (result.receipt.seq,))
        .unwrap();
    assert_eq!(logged.unwrap(), result.receipt);
}

#[test]
fn a_failed_inference_reaches_the_consumer_as_a_typed_error_and_stores_nothing() {
    let (mut inference, consumer) = setup();
    let replica = &mut inference.replica;

    let (result,): (Result<InferResult, ConsumerError>,) = replica
        .update(consumer, user(), "infer", (args("missing"),))
        .unwrap();
    assert!(matches!(
        result,
        Err(ConsumerError::Inference(
            icinfer_api::Error::NotFound { .. }
        ))
    ));
    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert!(kept.is_empty());
    assert_eq!(inference.inference_log_size(), 0);
}

#[test]
fn a_call_to_a_canister_that_does_not_exist_is_a_call_failure() {
    let mut replica = replica();
    let consumer = replica.create_canister(controller());
    let nowhere = Principal::from_slice(&[0xee; 10]);
    let init = Encode!(&ConsumerInit { inference: nowhere }).unwrap();
    replica.install(consumer, &canister_wasm("consumer"), init, controller());
    let (result,): (Result<InferResult, ConsumerError>,) = replica
        .update(consumer, user(), "infer", (args("affine"),))
        .unwrap();
    match result {
        Err(ConsumerError::CallFailed { code, .. }) => {
            assert_eq!(code, icinfer_tests::DESTINATION_INVALID)
        }
        other => panic!("expected a call failure, got {other:?}"),
    }
    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert!(kept.is_empty());
}

/// Setup as above, the inference canister's step budget lowered so that the job takes
/// several messages. Runbook: the consumer starts a job, the replica runs its steps, the
/// consumer collects it (twice). Success criteria: the consumer keeps the job's receipt
/// once, equal to the inference canister's log entry, which names the consumer as caller
/// and counts the job's messages.
#[test]
fn a_canister_starts_a_job_and_collects_its_receipt() {
    use icinfer_api::{JobState, JobStatus};
    let (mut inference, consumer) = setup();
    let budget: Result<(), icinfer_api::Error> = inference
        .update(controller(), "set_job_step_budget", 20_000u64)
        .unwrap();
    budget.unwrap();
    let replica = &mut inference.replica;

    let (started,): (Result<u64, ConsumerError>,) = replica
        .update(consumer, user(), "infer_start", (args("affine"),))
        .unwrap();
    let id = started.unwrap();
    let collect = |replica: &mut Box<dyn icinfer_tests::Replica>| -> JobStatus {
        let (status,): (Result<JobStatus, ConsumerError>,) = replica
            .update(consumer, user(), "collect_job", (id,))
            .unwrap();
        status.unwrap()
    };
    let mut status = collect(replica);
    for _ in 0..1_000 {
        if status.state != JobState::Pending {
            break;
        }
        replica.tick();
        status = collect(replica);
    }
    let JobState::Done(result) = status.state else {
        panic!("the job did not finish: {status:?}");
    };
    assert_eq!(
        result.outputs[0].data,
        TensorData::F32(vec![3.0, 2.0, 10.0])
    );
    assert_eq!(result.receipt.caller, consumer);
    assert_eq!(result.receipt.messages, Some(status.progress.messages));
    assert!(status.progress.messages > 1, "{:?}", status.progress);

    // Collected again: still one receipt kept.
    collect(replica);
    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert_eq!(kept, vec![result.receipt.clone()]);
    let (logged,): (Result<LogEntry, icinfer_api::Error>,) = replica
        .query(inference.id, user(), "log_entry", (result.receipt.seq,))
        .unwrap();
    assert_eq!(logged.unwrap(), result.receipt);
}

/// A job the consumer did not start is not its to collect: the inference canister's
/// refusal reaches it as a typed error, and nothing is kept.
#[test]
fn collecting_an_unknown_job_is_a_typed_error_and_keeps_nothing() {
    let (mut inference, consumer) = setup();
    let replica = &mut inference.replica;
    let (status,): (Result<icinfer_api::JobStatus, ConsumerError>,) = replica
        .update(consumer, user(), "collect_job", (7u64,))
        .unwrap();
    assert!(
        matches!(status, Err(ConsumerError::Inference(_))),
        "{status:?}"
    );
    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert!(kept.is_empty());
}

/// A canister generates text through the job API and keeps the receipt. Setup: the tiny
/// GPT (models/tiny-gpt) on the inference canister besides the affine model. Runbook: the
/// consumer starts a greedy generation, the replica runs its steps, the consumer collects
/// it (and again once done). Success criteria: the tokens are onnxruntime's (a prompt whose
/// top-2 margins are all wide), the consumer keeps one receipt, equal to the inference
/// canister's log entry, which names the consumer as caller and commits to the completion
/// the consumer was given.
#[test]
fn a_canister_generates_through_the_job_api_and_keeps_the_receipt() {
    use icinfer_api::{EntryKind, GenerateArgs, GenerationState, GenerationStatus, Sampling};
    use icinfer_tests::gpt::{install_language_model, tiny_gpt, tiny_gpt_language_model};
    let (mut inference, consumer) = setup();
    let gpt = tiny_gpt();
    let id = inference.id;
    install_language_model(
        inference.replica.as_mut(),
        id,
        controller(),
        "tiny-gpt",
        &gpt.onnx,
        &gpt.tokenizer,
        tiny_gpt_language_model(&gpt.tokenizer),
    );
    let case = &gpt.reference["cases"][3];
    let expected: Vec<u32> = case["greedy_ids"].as_array().unwrap()[..8]
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let args = GenerateArgs {
        model_id: "tiny-gpt".into(),
        prompt: case["prompt"].as_str().unwrap().into(),
        max_new_tokens: 8,
        sampling: Sampling::Greedy,
        stop: Vec::new(),
        nonce: None,
    };
    let replica = &mut inference.replica;
    let (started,): (Result<u64, ConsumerError>,) = replica
        .update(consumer, user(), "generate_start", (args,))
        .unwrap();
    let job = started.unwrap();
    let collect = |replica: &mut Box<dyn icinfer_tests::Replica>| -> GenerationStatus {
        let (status,): (Result<GenerationStatus, ConsumerError>,) = replica
            .update(consumer, user(), "collect_generation", (job,))
            .unwrap();
        status.unwrap()
    };
    let mut status = collect(replica);
    for _ in 0..1_000 {
        if status.state != GenerationState::Pending {
            break;
        }
        replica.tick();
        status = collect(replica);
    }
    let GenerationState::Done(receipt) = &status.state else {
        panic!("the generation did not finish: {status:?}");
    };
    assert_eq!(status.tokens, expected);
    assert_eq!(receipt.caller, consumer);
    assert_eq!(
        receipt.output_hash[..],
        icinfer_verify::generation::completion_hash(&status.completion)
    );
    assert!(matches!(receipt.kind, Some(EntryKind::Generation(_))));

    collect(replica);
    let (kept,): (Vec<LogEntry>,) = replica
        .query(consumer, user(), "receipts", (0u64, 10u64))
        .unwrap();
    assert_eq!(kept, vec![receipt.clone()]);
    let (logged,): (Result<LogEntry, icinfer_api::Error>,) = replica
        .query(inference.id, user(), "log_entry", (receipt.seq,))
        .unwrap();
    assert_eq!(&logged.unwrap(), receipt);
}
