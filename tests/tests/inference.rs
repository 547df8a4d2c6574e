//! The built inference canister on a replica (our host, or PocketIC).
//!
//! Setup: a fresh replica with the inference canister installed by `controller()`.
//! Runbook: each test drives the canister through its Candid interface only.
//! Success criteria: each test's assertions; instructions of every call are printed.

use candid::{Encode, Principal};
use icinfer_api::{
    CreateModelArgs, Error, FindLogArgs, FindLogResult, InferArgs, LogEntry, LogFilter, LogPage,
    LogPageArgs, ModelInfo, ModelState, QueryInferResult, Stats, Tensor, TensorData,
    UploadChunkArgs, UploadProgress, UploadStatus,
};
use icinfer_core::tensor;
use icinfer_tests::{
    CANISTER_ERROR, CHUNK_BYTES, InferenceCanister, ReplicaExt, canister_wasm, model_bytes,
};
use icinfer_verify::head::leb128;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::time::Duration;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn user() -> Principal {
    Principal::from_slice(&[0x05; 29])
}

type R<T> = Result<T, Error>;

fn affine_input(rows: &[[f32; 3]]) -> Vec<Tensor> {
    vec![Tensor {
        name: "x".into(),
        shape: vec![rows.len() as u64, 3],
        data: TensorData::F32(rows.iter().flatten().copied().collect()),
    }]
}

fn args(model: &str, inputs: Vec<Tensor>) -> InferArgs {
    InferArgs {
        model_id: model.into(),
        inputs,
        nonce: None,
    }
}

/// The affine model padded to three chunks (see crates/core/tests/engine.rs).
fn padded_affine(size: usize) -> Vec<u8> {
    let onnx = model_bytes("tiny/affine.onnx");
    // A protobuf varint is unsigned LEB128.
    let varint = |n: usize| leb128(n as u64);
    let pad = (1..=5)
        .map(|len| size - onnx.len() - 1 - len)
        .find(|&pad| varint(pad).len() == size - onnx.len() - 1 - pad)
        .unwrap();
    let mut out = onnx;
    out.push(0x32);
    out.extend(varint(pad));
    out.resize(size, b' ');
    out
}

#[test]
fn upload_out_of_order_resume_finalize_infer_and_read_the_log() {
    let mut f = InferenceCanister::install(controller());
    let bytes = padded_affine(2 * CHUNK_BYTES + 777);
    f.create_model(controller(), "affine", &bytes).unwrap();
    f.upload_chunk(controller(), "affine", &bytes, 2).unwrap();
    f.upload_chunk(controller(), "affine", &bytes, 0).unwrap();

    // A client that lost track asks what is missing and resumes.
    let status: R<UploadStatus> = f.query("upload_status", "affine".to_string());
    assert_eq!(status.unwrap().missing_chunks, vec![1]);
    assert!(matches!(
        f.finalize("affine"),
        Err(Error::UploadIncomplete { .. })
    ));
    let progress = f.upload_chunk(controller(), "affine", &bytes, 1).unwrap();
    assert_eq!((progress.chunks_received, progress.chunks_total), (3, 3));

    let info = f.finalize("affine").unwrap();
    assert_eq!(info.state, ModelState::Ready);
    println!(
        "[instructions] finalize affine (reported by the canister): {:?}",
        info.load_instructions
    );

    let inputs = affine_input(&[[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]]);
    let result = f.infer(user(), args("affine", inputs.clone())).unwrap();
    assert_eq!(
        result.outputs[0].data,
        TensorData::F32(vec![3.0, 2.0, 10.0, -1.0, -2.0, 5.0])
    );
    let receipt = result.receipt;
    assert_eq!(receipt.caller, user());
    // Entry 0 is the model's (kind 4), logged by finalize.
    assert_eq!(receipt.seq, 1);
    assert_eq!(
        receipt.input_hash[..],
        tensor::input_hash(&inputs, None)[..]
    );
    assert_eq!(
        receipt.output_hash[..],
        tensor::output_hash(&result.outputs)[..]
    );
    assert_eq!(receipt.model_sha256[..], Sha256::digest(&bytes)[..]);
    assert!(receipt.instructions > 0);

    assert_eq!(f.log_size(), 2);
    let entry: R<LogEntry> = f.query("log_entry", 1u64);
    assert_eq!(entry.unwrap(), receipt);
    let page: R<LogPage> = f.query(
        "log_entries",
        LogPageArgs {
            start: 1,
            limit: 10,
        },
    );
    assert_eq!(page.unwrap().entries, vec![receipt.clone()]);
    let found: R<FindLogResult> = f.query(
        "find_log_entries",
        FindLogArgs {
            filter: LogFilter::Caller(user()),
            start: 0,
            limit: 10,
        },
    );
    assert_eq!(found.unwrap().entries, vec![receipt]);

    let query: R<QueryInferResult> = f.query("infer_query", args("affine", inputs));
    assert_eq!(query.unwrap().outputs, result.outputs);
    assert_eq!(f.log_size(), 2, "infer_query is not logged");

    let stats: Stats = f.query0("stats");
    assert_eq!(
        (stats.models, stats.models_ready, stats.log_size),
        (1, 1, 2)
    );
    assert!(stats.stable_bytes >= 3 * CHUNK_BYTES as u64);
    assert!(stats.heap_bytes > 0);
}

#[test]
fn an_upgrade_keeps_models_log_and_admins_and_outputs_stay_byte_identical() {
    let mut f = InferenceCanister::install(controller());
    f.install_model("affine", &model_bytes("tiny/affine.onnx"));
    f.update::<_, R<()>>(controller(), "add_admin", user())
        .unwrap()
        .unwrap();
    let inputs = affine_input(&[[0.1, 0.2, 0.3]]);
    let before = f.infer(user(), args("affine", inputs.clone())).unwrap();
    let models: Vec<ModelInfo> = f.query0("list_models");

    f.upgrade();

    assert_eq!(f.query0::<Vec<ModelInfo>>("list_models"), models);
    assert_eq!(f.query0::<Vec<Principal>>("list_admins"), vec![user()]);
    assert_eq!(f.log_size(), 2, "the model's entry and the inference");
    let entry: R<LogEntry> = f.query("log_entry", 1u64);
    assert_eq!(entry.unwrap(), before.receipt);

    // The warm-up timer rebuilds the plan cache after the upgrade.
    f.replica.advance_time(Duration::from_secs(1));
    f.replica.tick();
    assert_eq!(f.query0::<Stats>("stats").cached_plans, 1);

    let after = f.infer(user(), args("affine", inputs)).unwrap();
    assert_eq!(
        Encode!(&after.outputs).unwrap(),
        Encode!(&before.outputs).unwrap()
    );
    assert_eq!(after.receipt.output_hash, before.receipt.output_hash);
    // Entry 2 is the upgrade's code epoch, logged by the tick above.
    assert_eq!(after.receipt.seq, 3);
    assert!(after.receipt.timestamp_ns > before.receipt.timestamp_ns);
}

#[test]
fn an_inference_over_the_instruction_limit_writes_nothing_and_the_canister_keeps_serving() {
    let mut f = InferenceCanister::install(controller());
    f.install_model("affine", &model_bytes("tiny/affine.onnx"));
    f.infer(user(), args("affine", affine_input(&[[1.0; 3]])))
        .unwrap();
    let stats_before: Stats = f.query0("stats");

    if !f.replica.set_update_instruction_limit(200_000) {
        eprintln!(
            "{} cannot lower the instruction limit; skipping",
            f.replica.name()
        );
        return;
    }
    let rows = vec![[0.5f32; 3]; 20_000];
    let overrun = f
        .replica
        .update_raw(
            f.id,
            user(),
            "infer",
            Encode!(&args("affine", affine_input(&rows))).unwrap(),
        )
        .unwrap_err();
    assert_eq!(overrun.code, CANISTER_ERROR);
    assert!(
        overrun.message.to_lowercase().contains("instruction"),
        "{}",
        overrun.message
    );

    f.replica.set_update_instruction_limit(40_000_000_000);
    let stats_after: Stats = f.query0("stats");
    assert_eq!(
        stats_after.log_size, 2,
        "the overrun inference left no entry (the model's and the first inference's)"
    );
    assert_eq!(
        stats_after.last_infer_instructions,
        stats_before.last_infer_instructions
    );
    let next = f
        .infer(user(), args("affine", affine_input(&[[2.0; 3]])))
        .unwrap();
    assert_eq!(next.receipt.seq, 2);
}

#[test]
fn only_controllers_and_admins_manage_models_whoever_calls() {
    let mut f = InferenceCanister::install(controller());
    let bytes = model_bytes("tiny/affine.onnx");
    let create = Encode!(&CreateModelArgs {
        id: "m".into(),
        sha256: ByteBuf::from(Sha256::digest(&bytes).to_vec()),
        size_bytes: bytes.len() as u64,
        description: None,
        input_facts: None,
        language_model: None,
    })
    .unwrap();
    // From outside the IC, canister_inspect_message refuses the call before it runs, with
    // the method's own reason.
    for who in [Principal::anonymous(), user()] {
        for (method, arg) in [
            ("create_model", create.clone()),
            ("add_admin", Encode!(&who).unwrap()),
        ] {
            let refused = f.replica.update_raw(f.id, who, method, arg).unwrap_err();
            assert_eq!(refused.code, CANISTER_ERROR, "{refused:?}");
            assert!(
                refused.message.contains("canister_inspect_message")
                    && refused.message.contains("unauthorized"),
                "{refused:?}"
            );
        }
    }
    assert!(f.query0::<Vec<ModelInfo>>("list_models").is_empty());

    // Another canister, which is not a controller, is refused too.
    let intermediary = f.replica.create_canister(controller());
    let test_canister = canister_wasm("host_test_canister");
    f.replica.install(
        intermediary,
        &test_canister,
        Encode!(&None::<String>).unwrap(),
        controller(),
    );
    // Another canister's call is not inspected: the method's own check refuses it.
    let (reply,): (Result<Vec<u8>, (u32, String)>,) = f
        .replica
        .update(
            intermediary,
            user(),
            "call_other",
            (f.id, "create_model".to_string(), create),
        )
        .unwrap();
    let answer: R<ModelInfo> = candid::decode_one(&reply.unwrap()).unwrap();
    match answer {
        Err(Error::Unauthorized { caller, .. }) => assert_eq!(caller, intermediary),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(f.query0::<Vec<ModelInfo>>("list_models").is_empty());

    // An admin may manage models; the anonymous principal may still infer.
    f.update::<_, R<()>>(controller(), "add_admin", user())
        .unwrap()
        .unwrap();
    f.create_model(user(), "m", &bytes).unwrap();
    f.upload_chunk(user(), "m", &bytes, 0).unwrap();
    f.update::<_, R<ModelInfo>>(user(), "finalize_model", "m".to_string())
        .unwrap()
        .unwrap();
    f.infer(Principal::anonymous(), args("m", affine_input(&[[1.0; 3]])))
        .unwrap();
}

#[test]
fn bad_input_to_every_endpoint_gets_its_typed_error_and_changes_nothing() {
    let mut f = InferenceCanister::install(controller());
    let bytes = model_bytes("tiny/affine.onnx");
    f.install_model("affine", &bytes);
    f.create_model(controller(), "pending", &bytes).unwrap();
    let snapshot = |f: &mut InferenceCanister| {
        (
            f.query0::<Vec<ModelInfo>>("list_models"),
            f.log_size(),
            f.query::<_, R<UploadStatus>>("upload_status", "pending".to_string()),
        )
    };
    let before = snapshot(&mut f);

    let bad_create = CreateModelArgs {
        id: "bad id!".into(),
        sha256: ByteBuf::from(vec![0; 32]),
        size_bytes: 1,
        description: None,
        input_facts: None,
        language_model: None,
    };
    let r: R<ModelInfo> = f.update(controller(), "create_model", bad_create).unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        f.create_model(controller(), "affine", &bytes),
        Err(Error::AlreadyExists { .. })
    ));
    let r: R<UploadProgress> = f
        .update(
            controller(),
            "upload_model_chunk",
            UploadChunkArgs {
                id: "pending".into(),
                offset: 3,
                data: ByteBuf::from(vec![1]),
            },
        )
        .unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        f.upload_chunk(controller(), "affine", &bytes, 0),
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        f.finalize("pending"),
        Err(Error::UploadIncomplete { .. })
    ));
    assert!(matches!(f.finalize("nope"), Err(Error::NotFound { .. })));
    let r: R<()> = f
        .update(controller(), "delete_model", "nope".to_string())
        .unwrap();
    assert!(matches!(r, Err(Error::NotFound { .. })));
    let r: R<()> = f.update(controller(), "remove_admin", user()).unwrap();
    assert!(matches!(r, Err(Error::NotFound { .. })));
    let r: R<()> = f
        .update(controller(), "add_admin", Principal::anonymous())
        .unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        f.infer(user(), args("pending", affine_input(&[[1.0; 3]]))),
        Err(Error::InvalidState { .. })
    ));
    let wrong_rank = vec![Tensor {
        name: "x".into(),
        shape: vec![3],
        data: TensorData::F32(vec![1.0; 3]),
    }];
    match f.infer(user(), args("affine", wrong_rank)) {
        Err(Error::InputMismatch {
            tensor, expected, ..
        }) => {
            assert_eq!(tensor, "x");
            assert!(expected.contains("f32"), "{expected}");
        }
        other => panic!("expected InputMismatch, got {other:?}"),
    }
    let mut short_nonce = args("affine", affine_input(&[[1.0; 3]]));
    short_nonce.nonce = Some(ByteBuf::from(vec![1; 4]));
    assert!(matches!(
        f.infer(user(), short_nonce),
        Err(Error::InvalidArgument { .. })
    ));
    let r: R<LogEntry> = f.query("log_entry", 99u64);
    assert!(matches!(r, Err(Error::NotFound { .. })));
    let r: R<LogPage> = f.query("log_entries", LogPageArgs { start: 0, limit: 0 });
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    let r: R<FindLogResult> = f.query(
        "find_log_entries",
        FindLogArgs {
            filter: LogFilter::InputHash(ByteBuf::from(vec![1; 5])),
            start: 0,
            limit: 1,
        },
    );
    assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    let r: R<ModelInfo> = f.query("model_info", "nope".to_string());
    assert!(matches!(r, Err(Error::NotFound { .. })));

    assert_eq!(snapshot(&mut f), before);
}

#[test]
fn an_argument_that_is_not_candid_or_a_decoding_bomb_is_rejected_cheaply() {
    let mut f = InferenceCanister::install(controller());
    let garbage = f
        .replica
        .update_raw(f.id, user(), "infer", b"not candid".to_vec());
    assert_eq!(garbage.unwrap_err().code, CANISTER_ERROR);

    // A record whose only field (id 99, unknown to InferArgs) is a `vec reserved` claiming
    // 2^31 elements, which cost no bytes on the wire: decoding must stop at the skipping
    // quota instead of spinning.
    let mut bomb = b"DIDL".to_vec();
    bomb.extend([2, 0x6c, 1, 99, 1]); // type 0: record { 99 : type 1 }
    bomb.extend([0x6d, 0x70]); // type 1: vec reserved
    bomb.extend([1, 0]); // one argument, of type 0
    bomb.extend([0x80, 0x80, 0x80, 0x80, 0x08]); // its vector's length: 2^31
    let rejected = f
        .replica
        .update_raw(f.id, user(), "infer", bomb)
        .unwrap_err();
    assert_eq!(rejected.code, CANISTER_ERROR);
    if let Some(instructions) = f.replica.last_instructions() {
        assert!(
            instructions < 100_000_000,
            "decoding took {instructions} instructions"
        );
    }
    assert_eq!(f.log_size(), 0);
}

#[test]
fn the_same_input_gives_the_same_output_bytes_and_hash() {
    let mut f = InferenceCanister::install(controller());
    f.install_model("classify", &model_bytes("tiny/classify.onnx"));
    let inputs = vec![
        Tensor {
            name: "x".into(),
            shape: vec![1, 4],
            data: TensorData::F32(vec![0.3, -1.5, 2.25, 7.0]),
        },
        Tensor {
            name: "w".into(),
            shape: vec![1, 4],
            data: TensorData::F32(vec![1.0, 2.0, -0.5, 0.125]),
        },
    ];
    let mut nonce_args = args("classify", inputs);
    nonce_args.nonce = Some(ByteBuf::from(vec![0x5a; 32]));
    let first = f.infer(user(), nonce_args.clone()).unwrap();
    let second = f.infer(user(), nonce_args).unwrap();
    assert_eq!(
        Encode!(&first.outputs).unwrap(),
        Encode!(&second.outputs).unwrap()
    );
    assert_eq!(first.receipt.output_hash, second.receipt.output_hash);
    assert_eq!(first.receipt.input_hash, second.receipt.input_hash);
    assert!(first.receipt.input_salted);
    assert_eq!(first.outputs[1].data, TensorData::I64(vec![3]));
}
