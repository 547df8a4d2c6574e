//! Another canister using icinfer: the consumer calls `infer` and keeps the receipts.
//!
//! Setup: the inference canister with the affine model, and the consumer canister pointed
//! at it. Success criteria: the consumer's receipts equal the inference canister's log
//! entries, which name the consumer as caller; a failed inference stores nothing.

use candid::{CandidType, Deserialize, Encode, Principal};
use icinfer_api::{
    CreateModelArgs, InferArgs, InferResult, LogEntry, ModelInfo, Tensor, TensorData,
    UploadChunkArgs, UploadProgress,
};
use icinfer_tests::{Replica, ReplicaExt, canister_wasm, model_bytes, replica};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

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

fn setup(replica: &mut dyn Replica) -> (Principal, Principal) {
    let inference = replica.create_canister(controller());
    replica.install(
        inference,
        &canister_wasm("inference"),
        Encode!().unwrap(),
        controller(),
    );
    let model = model_bytes("tiny/affine.onnx");
    let create = CreateModelArgs {
        id: "affine".into(),
        sha256: ByteBuf::from(Sha256::digest(&model).to_vec()),
        size_bytes: model.len() as u64,
        description: None,
    };
    let (r,): (Result<ModelInfo, icinfer_api::Error>,) = replica
        .update(inference, controller(), "create_model", (create,))
        .unwrap();
    r.unwrap();
    let chunk = UploadChunkArgs {
        id: "affine".into(),
        offset: 0,
        data: ByteBuf::from(model),
    };
    let (r,): (Result<UploadProgress, icinfer_api::Error>,) = replica
        .update(inference, controller(), "upload_model_chunk", (chunk,))
        .unwrap();
    r.unwrap();
    let (r,): (Result<ModelInfo, icinfer_api::Error>,) = replica
        .update(
            inference,
            controller(),
            "finalize_model",
            ("affine".to_string(),),
        )
        .unwrap();
    r.unwrap();

    let consumer = replica.create_canister(controller());
    let init = Encode!(&ConsumerInit { inference }).unwrap();
    replica.install(consumer, &canister_wasm("consumer"), init, controller());
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
    let mut replica = replica();
    let (inference, consumer) = setup(replica.as_mut());

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
        .query(inference, user(), "log_entry", (0u64,))
        .unwrap();
    assert_eq!(logged.unwrap(), result.receipt);
}

#[test]
fn a_failed_inference_reaches_the_consumer_as_a_typed_error_and_stores_nothing() {
    let mut replica = replica();
    let (inference, consumer) = setup(replica.as_mut());

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
    let (size,): (u64,) = replica.query(inference, user(), "log_size", ()).unwrap();
    assert_eq!(size, 0);
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
