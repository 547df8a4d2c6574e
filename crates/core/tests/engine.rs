//! The engine end to end, natively, on in-memory stable memory: what the canister does,
//! without the canister.

use candid::Principal;
use ic_stable_structures::{Memory, VectorMemory};
use icinfer_api::{
    CreateModelArgs, DType, Dim, EntryKind, Error, FindLogArgs, InferArgs, LogConsistencyArgs,
    LogFilter, LogPageArgs, LogProofArgs, ModelDeclaration, ModelState, Tensor, TensorData,
    UploadChunkArgs,
};
use icinfer_core::limits::{CHUNK_BYTES, MAX_INPUT_BYTES, MAX_TENSORS};
use icinfer_core::memory::{ADDED_IN, LAYOUT_VERSION, LayoutError};
use icinfer_core::{Engine, Environment, tensor};
use icinfer_verify::head::leb128;
use icinfer_verify::head::{encode_head_witness, head_commitment};
use icinfer_verify::merkle::{
    EMPTY_ROOT, Hash, leaf_hash, proof_nodes, verify_consistency, verify_inclusion,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};

const AFFINE: &[u8] = include_bytes!("../../../models/tiny/affine.onnx");
const CLASSIFY: &[u8] = include_bytes!("../../../models/tiny/classify.onnx");

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn alice() -> Principal {
    Principal::from_slice(&[0xa1; 29])
}
fn bob() -> Principal {
    Principal::from_slice(&[0xb0; 29])
}

struct TestEnv {
    caller: Cell<Principal>,
    now: Cell<u64>,
    instructions: Cell<u64>,
    certified_data: RefCell<Vec<u8>>,
}

impl TestEnv {
    fn new() -> Self {
        TestEnv {
            caller: Cell::new(controller()),
            now: Cell::new(1_750_000_000_000_000_000),
            instructions: Cell::new(1000),
            certified_data: RefCell::new(Vec::new()),
        }
    }
    fn as_caller(&self, caller: Principal) -> &Self {
        self.caller.set(caller);
        self
    }
}

impl Environment for TestEnv {
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
        self.instructions.set(self.instructions.get() + 7);
        self.instructions.get()
    }
    fn heap_bytes(&self) -> u64 {
        0
    }
    fn set_certified_data(&self, data: &[u8]) {
        assert!(data.len() <= 32, "the IC certifies at most 32 bytes");
        *self.certified_data.borrow_mut() = data.to_vec();
    }
    /// Natively there is no IC to certify anything; the canister's tests on the host cover
    /// certificates.
    fn data_certificate(&self) -> Option<Vec<u8>> {
        None
    }
}

fn sha256(bytes: &[u8]) -> ByteBuf {
    ByteBuf::from(Sha256::digest(bytes).to_vec())
}

/// `onnx` padded to `size` bytes with a trailing protobuf `doc_string` field (ModelProto
/// field 6), which tract ignores: a multi-chunk model without a multi-MiB fixture.
fn padded(onnx: &[u8], size: usize) -> Vec<u8> {
    // A protobuf varint is unsigned LEB128.
    let varint = |n: usize| leb128(n as u64);
    let pad = (1..=5)
        .map(|len| size - onnx.len() - 1 - len)
        .find(|&pad| varint(pad).len() == size - onnx.len() - 1 - pad)
        .expect("a varint length fits");
    let mut out = onnx.to_vec();
    out.push(0x32); // field 6 (doc_string), length-delimited
    out.extend(varint(pad));
    out.resize(size, b' ');
    out
}

fn create(engine: &mut Engine<VectorMemory>, env: &TestEnv, id: &str, bytes: &[u8]) {
    engine
        .create_model(
            env,
            CreateModelArgs {
                id: id.into(),
                sha256: sha256(bytes),
                size_bytes: bytes.len() as u64,
                description: Some(format!("test model {id}")),
                input_facts: None,
                language_model: None,
            },
        )
        .unwrap();
}

fn upload_chunk(
    engine: &mut Engine<VectorMemory>,
    env: &TestEnv,
    id: &str,
    bytes: &[u8],
    index: usize,
) -> Result<icinfer_api::UploadProgress, Error> {
    let chunk = CHUNK_BYTES as usize;
    let start = index * chunk;
    let end = (start + chunk).min(bytes.len());
    engine.upload_model_chunk(
        env,
        UploadChunkArgs {
            id: id.into(),
            offset: start as u64,
            data: ByteBuf::from(bytes[start..end].to_vec()),
        },
    )
}

fn install(engine: &mut Engine<VectorMemory>, env: &TestEnv, id: &str, bytes: &[u8]) {
    create(engine, env, id, bytes);
    for index in 0..bytes.len().div_ceil(CHUNK_BYTES as usize) {
        upload_chunk(engine, env, id, bytes, index).unwrap();
    }
    engine.finalize_model(env, id).unwrap();
}

fn x(rows: Vec<[f32; 3]>) -> Tensor {
    Tensor {
        name: "x".into(),
        shape: vec![rows.len() as u64, 3],
        data: TensorData::F32(rows.into_iter().flatten().collect()),
    }
}

fn infer_args(model: &str, inputs: Vec<Tensor>) -> InferArgs {
    InferArgs {
        model_id: model.into(),
        inputs,
        nonce: None,
    }
}

fn fresh() -> (Engine<VectorMemory>, VectorMemory, TestEnv) {
    let memory = VectorMemory::default();
    (
        Engine::init(memory.clone()).unwrap(),
        memory,
        TestEnv::new(),
    )
}

#[test]
fn a_model_goes_from_upload_to_inference_to_receipt() {
    let (mut engine, _, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);

    let info = engine.model_info("affine").unwrap();
    assert_eq!(info.state, ModelState::Ready);
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].name, "x");
    assert_eq!(info.inputs[0].dtype, DType::F32);
    assert!(matches!(info.inputs[0].shape[0], Dim::Symbol(_)));
    assert_eq!(info.inputs[0].shape[1], Dim::Fixed(3));
    assert_eq!(info.outputs[0].name, "z");
    assert!(info.load_instructions.unwrap() > 0);

    let inputs = vec![x(vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])];
    let result = engine
        .infer(env.as_caller(alice()), infer_args("affine", inputs.clone()))
        .unwrap();
    assert_eq!(result.outputs.len(), 1);
    assert_eq!(result.outputs[0].name, "z");
    assert_eq!(result.outputs[0].shape, vec![2, 3]);
    assert_eq!(
        result.outputs[0].data,
        TensorData::F32(vec![3.0, 2.0, 10.0, 9.0, 8.0, 16.0])
    );

    // Entry 0 is the model's (kind 4): its file's hash and no declarations.
    let model_entry = engine.log_entry(0).unwrap();
    assert_eq!(
        (model_entry.model_id.as_str(), &model_entry.model_sha256),
        ("affine", &sha256(AFFINE))
    );
    assert_eq!(
        model_entry.kind,
        Some(EntryKind::Model(Box::new(ModelDeclaration {
            input_facts: Vec::new(),
            language_model: None,
        })))
    );
    assert_eq!(model_entry.messages, Some(1));
    assert_eq!(Some(model_entry.instructions), info.load_instructions);

    let receipt = &result.receipt;
    assert_eq!(receipt.seq, 1);
    assert_eq!(receipt.caller, alice());
    assert_eq!(receipt.model_id, "affine");
    assert_eq!(receipt.model_sha256, sha256(AFFINE));
    assert_eq!(
        receipt.input_hash[..],
        tensor::input_hash(&inputs, None)[..]
    );
    assert_eq!(
        receipt.output_hash[..],
        tensor::output_hash(&result.outputs)[..]
    );
    assert!(!receipt.input_salted);
    assert_eq!(engine.log_size(), 2);
    assert_eq!(&engine.log_entry(1).unwrap(), receipt);
    assert_eq!(
        engine.stats(&env).last_infer_instructions,
        Some(receipt.instructions)
    );
}

#[test]
fn models_with_several_inputs_and_typed_outputs_run() {
    let (mut engine, _, env) = fresh();
    install(&mut engine, &env, "classify", CLASSIFY);
    let row = |name: &str, v: [f32; 4]| Tensor {
        name: name.into(),
        shape: vec![1, 4],
        data: TensorData::F32(v.to_vec()),
    };
    // Inputs in a different order than the model declares them.
    let result = engine
        .infer(
            &env,
            infer_args(
                "classify",
                vec![
                    row("w", [1.0, 1.0, -1.0, 0.5]),
                    row("x", [1.0, 2.0, 3.0, 4.0]),
                ],
            ),
        )
        .unwrap();
    let names: Vec<&str> = result.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["scores", "label"]);
    assert_eq!(result.outputs[1].data, TensorData::I64(vec![1]));
    let TensorData::F32(scores) = &result.outputs[0].data else {
        panic!("scores are f32")
    };
    // Reference from onnxruntime 1.31 (models/tiny/make_tiny.py inputs).
    let expected = [0.154_921_58, 0.421_120_5, 0.002_837_49, 0.421_120_5];
    for (got, want) in scores.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

#[test]
fn chunks_arrive_in_any_order_and_uploads_resume() {
    let (mut engine, _, env) = fresh();
    let bytes = padded(AFFINE, 2 * CHUNK_BYTES as usize + 12345);
    create(&mut engine, &env, "big", &bytes);

    let status = engine.upload_status("big").unwrap();
    assert_eq!(status.chunks_total, 3);
    assert_eq!(status.missing_chunks, vec![0, 1, 2]);

    let progress = upload_chunk(&mut engine, &env, "big", &bytes, 2).unwrap();
    assert_eq!((progress.chunks_received, progress.chunks_total), (1, 3));
    upload_chunk(&mut engine, &env, "big", &bytes, 0).unwrap();
    assert_eq!(engine.upload_status("big").unwrap().missing_chunks, vec![1]);

    assert_eq!(
        engine.finalize_model(&env, "big"),
        Err(Error::UploadIncomplete {
            id: "big".into(),
            missing_chunks: 1
        })
    );
    assert_eq!(
        engine.model_info("big").unwrap().state,
        ModelState::Uploading
    );

    upload_chunk(&mut engine, &env, "big", &bytes, 1).unwrap();
    let again = upload_chunk(&mut engine, &env, "big", &bytes, 0).unwrap();
    assert_eq!(again.chunks_received, 3, "re-sending a chunk is idempotent");
    assert!(
        engine
            .upload_status("big")
            .unwrap()
            .missing_chunks
            .is_empty()
    );

    let info = engine.finalize_model(&env, "big").unwrap();
    assert_eq!(info.state, ModelState::Ready);
    assert_eq!(info.size_bytes, bytes.len() as u64);
    let out = engine
        .infer(&env, infer_args("big", vec![x(vec![[0.0, 0.0, 0.0]])]))
        .unwrap();
    assert_eq!(out.outputs[0].data, TensorData::F32(vec![1.0, -2.0, 4.0]));

    assert!(matches!(
        upload_chunk(&mut engine, &env, "big", &bytes, 0),
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        engine.finalize_model(&env, "big"),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn misshapen_chunks_are_refused_and_change_nothing() {
    let (mut engine, _, env) = fresh();
    let bytes = padded(AFFINE, CHUNK_BYTES as usize + 100);
    create(&mut engine, &env, "m", &bytes);
    let send = |engine: &mut Engine<VectorMemory>, offset: u64, len: usize| {
        engine.upload_model_chunk(
            &env,
            UploadChunkArgs {
                id: "m".into(),
                offset,
                data: ByteBuf::from(vec![0u8; len]),
            },
        )
    };
    for (offset, len) in [
        (1, CHUNK_BYTES as usize),     // unaligned
        (0, 10),                       // short chunk that is not the last
        (CHUNK_BYTES, 101),            // last chunk too long
        (2 * CHUNK_BYTES, 1),          // past the end
        (0, CHUNK_BYTES as usize + 1), // too long
    ] {
        assert!(
            matches!(
                send(&mut engine, offset, len),
                Err(Error::InvalidArgument { .. })
            ),
            "offset {offset} len {len}"
        );
    }
    assert_eq!(engine.upload_status("m").unwrap().chunks_received, 0);
    assert_eq!(engine.store().block_counts(), (0, 0));
    assert!(matches!(
        engine.upload_model_chunk(
            &env,
            UploadChunkArgs {
                id: "nope".into(),
                offset: 0,
                data: ByteBuf::new()
            }
        ),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_wrong_hash_or_a_broken_model_is_refused_at_finalize() {
    let (mut engine, _, env) = fresh();
    engine
        .create_model(
            &env,
            CreateModelArgs {
                id: "liar".into(),
                sha256: ByteBuf::from(vec![0; 32]),
                size_bytes: AFFINE.len() as u64,
                description: None,
                input_facts: None,
                language_model: None,
            },
        )
        .unwrap();
    upload_chunk(&mut engine, &env, "liar", AFFINE, 0).unwrap();
    match engine.finalize_model(&env, "liar") {
        Err(Error::HashMismatch { expected, actual }) => {
            assert_eq!(expected, ByteBuf::from(vec![0; 32]));
            assert_eq!(actual, sha256(AFFINE));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(matches!(
        engine.model_info("liar").unwrap().state,
        ModelState::Failed {
            error: Error::HashMismatch { .. }
        }
    ));

    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    create(&mut engine, &env, "garbage", &garbage);
    upload_chunk(&mut engine, &env, "garbage", &garbage, 0).unwrap();
    assert!(matches!(
        engine.finalize_model(&env, "garbage"),
        Err(Error::ModelRejected { .. })
    ));
    let truncated = &AFFINE[..AFFINE.len() / 2];
    create(&mut engine, &env, "truncated", truncated);
    upload_chunk(&mut engine, &env, "truncated", truncated, 0).unwrap();
    assert!(matches!(
        engine.finalize_model(&env, "truncated"),
        Err(Error::ModelRejected { .. })
    ));
    assert!(matches!(
        engine.model_info("garbage").unwrap().state,
        ModelState::Failed {
            error: Error::ModelRejected { .. }
        }
    ));
    assert!(matches!(
        engine.infer(&env, infer_args("garbage", vec![])),
        Err(Error::InvalidState { .. })
    ));
    engine.delete_model(&env, "garbage").unwrap();
    assert_eq!(engine.log_size(), 0);
}

#[test]
fn only_controllers_and_admins_manage_models() {
    let (mut engine, _, env) = fresh();
    let args = |id: &str| CreateModelArgs {
        id: id.into(),
        sha256: sha256(AFFINE),
        size_bytes: AFFINE.len() as u64,
        description: None,
        input_facts: None,
        language_model: None,
    };
    for who in [alice(), Principal::anonymous()] {
        assert!(matches!(
            engine.create_model(env.as_caller(who), args("x")),
            Err(Error::Unauthorized { .. })
        ));
        assert!(matches!(
            engine.add_admin(env.as_caller(who), bob()),
            Err(Error::Unauthorized { .. })
        ));
    }
    assert!(engine.list_models().is_empty());

    engine
        .add_admin(env.as_caller(controller()), alice())
        .unwrap();
    assert!(matches!(
        engine.add_admin(&env, alice()),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        engine.add_admin(&env, Principal::anonymous()),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(engine.list_admins(), vec![alice()]);

    engine
        .create_model(env.as_caller(alice()), args("a"))
        .unwrap();
    upload_chunk(&mut engine, &env, "a", AFFINE, 0).unwrap();
    engine.finalize_model(&env, "a").unwrap();
    assert!(matches!(
        engine.add_admin(&env, bob()),
        Err(Error::Unauthorized { .. }),
    ));
    assert!(matches!(
        engine.delete_model(env.as_caller(bob()), "a"),
        Err(Error::Unauthorized { .. })
    ));
    assert!(matches!(
        upload_chunk(&mut engine, env.as_caller(bob()), "a", AFFINE, 0),
        Err(Error::Unauthorized { .. })
    ));

    engine
        .remove_admin(env.as_caller(controller()), alice())
        .unwrap();
    assert!(matches!(
        engine.remove_admin(&env, alice()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        engine.create_model(env.as_caller(alice()), args("b")),
        Err(Error::Unauthorized { .. })
    ));
    // Anyone may infer.
    engine
        .infer(
            env.as_caller(Principal::anonymous()),
            infer_args("a", vec![x(vec![[1.0; 3]])]),
        )
        .unwrap();
}

#[test]
fn bad_model_arguments_get_typed_errors() {
    let (mut engine, _, env) = fresh();
    let base = CreateModelArgs {
        id: "ok".into(),
        sha256: sha256(AFFINE),
        size_bytes: 10,
        description: None,
        input_facts: None,
        language_model: None,
    };
    let cases = [
        CreateModelArgs {
            id: "".into(),
            ..base.clone()
        },
        CreateModelArgs {
            id: "a/b".into(),
            ..base.clone()
        },
        CreateModelArgs {
            id: "x".repeat(65),
            ..base.clone()
        },
        CreateModelArgs {
            sha256: ByteBuf::from(vec![1; 31]),
            ..base.clone()
        },
        CreateModelArgs {
            size_bytes: 0,
            ..base.clone()
        },
    ];
    for args in cases {
        assert!(
            matches!(
                engine.create_model(&env, args.clone()),
                Err(Error::InvalidArgument { .. })
            ),
            "{args:?}"
        );
    }
    for args in [
        CreateModelArgs {
            size_bytes: (1 << 30) + 1,
            ..base.clone()
        },
        CreateModelArgs {
            description: Some("d".repeat(1025)),
            ..base.clone()
        },
    ] {
        assert!(matches!(
            engine.create_model(&env, args),
            Err(Error::LimitExceeded { .. })
        ));
    }
    engine.create_model(&env, base.clone()).unwrap();
    assert!(matches!(
        engine.create_model(&env, base),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(engine.list_models().len(), 1);
    assert!(matches!(
        engine.model_info("missing"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        engine.delete_model(&env, "missing"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn inputs_that_do_not_fit_the_model_are_refused_before_it_runs() {
    let (mut engine, _, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    install(&mut engine, &env, "classify", CLASSIFY);
    let models_logged = engine.log_size();
    let tensor = |name: &str, shape: Vec<u64>, data: TensorData| Tensor {
        name: name.into(),
        shape,
        data,
    };
    let cases: Vec<(&str, Vec<Tensor>)> = vec![
        (
            "affine",
            vec![tensor("x", vec![1, 3], TensorData::F64(vec![1.0; 3]))],
        ),
        (
            "affine",
            vec![tensor("x", vec![3], TensorData::F32(vec![1.0; 3]))],
        ),
        (
            "affine",
            vec![tensor("x", vec![1, 4], TensorData::F32(vec![1.0; 4]))],
        ),
        (
            "affine",
            vec![tensor("y", vec![1, 3], TensorData::F32(vec![1.0; 3]))],
        ),
        ("affine", vec![]),
        (
            "affine",
            vec![
                x(vec![[1.0; 3]]),
                tensor("extra", vec![1], TensorData::I8(vec![1])),
            ],
        ),
        (
            "classify",
            vec![tensor("x", vec![1, 4], TensorData::F32(vec![1.0; 4]))],
        ),
    ];
    for (model, inputs) in cases {
        let result = engine.infer(&env, infer_args(model, inputs.clone()));
        assert!(
            matches!(result, Err(Error::InputMismatch { .. })),
            "{inputs:?}: {result:?}"
        );
    }
    let invalid = vec![
        tensor("x", vec![2, 3], TensorData::F32(vec![1.0; 5])),
        tensor("", vec![1, 3], TensorData::F32(vec![1.0; 3])),
    ];
    for t in invalid {
        assert!(matches!(
            engine.infer(&env, infer_args("affine", vec![t])),
            Err(Error::InvalidArgument { .. })
        ));
    }
    let duplicate = vec![x(vec![[1.0; 3]]), x(vec![[1.0; 3]])];
    assert!(matches!(
        engine.infer(&env, infer_args("affine", duplicate)),
        Err(Error::InvalidArgument { .. })
    ));
    let many: Vec<Tensor> = (0..=MAX_TENSORS)
        .map(|i| {
            tensor(
                &format!("t{i}"),
                vec![1],
                TensorData::U8(ByteBuf::from(vec![0])),
            )
        })
        .collect();
    assert!(matches!(
        engine.infer(&env, infer_args("affine", many)),
        Err(Error::LimitExceeded { .. })
    ));
    let rows = (MAX_INPUT_BYTES / 12 + 1) as usize;
    assert!(matches!(
        engine.infer(&env, infer_args("affine", vec![x(vec![[0.0; 3]; rows])])),
        Err(Error::LimitExceeded { .. })
    ));
    for len in [0, 15, 65] {
        let mut args = infer_args("affine", vec![x(vec![[1.0; 3]])]);
        args.nonce = Some(ByteBuf::from(vec![1; len]));
        assert!(matches!(
            engine.infer(&env, args),
            Err(Error::InvalidArgument { .. })
        ));
    }
    assert!(matches!(
        engine.infer(&env, infer_args("nope", vec![x(vec![[1.0; 3]])])),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        engine.log_size(),
        models_logged,
        "no refused call is logged"
    );
}

#[test]
fn a_nonce_salts_the_input_hash_and_the_log_can_be_searched() {
    let (mut engine, _, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    let inputs = vec![x(vec![[1.0, 2.0, 3.0]])];
    let plain = engine
        .infer(env.as_caller(alice()), infer_args("affine", inputs.clone()))
        .unwrap()
        .receipt;
    let nonce = vec![9u8; 32];
    let mut args = infer_args("affine", inputs.clone());
    args.nonce = Some(ByteBuf::from(nonce.clone()));
    let salted = engine.infer(env.as_caller(bob()), args).unwrap().receipt;
    assert!(salted.input_salted);
    assert_ne!(plain.input_hash, salted.input_hash);
    assert_eq!(
        salted.input_hash[..],
        tensor::input_hash(&inputs, Some(&nonce))[..]
    );
    assert_eq!(
        plain.output_hash, salted.output_hash,
        "same output either way"
    );

    let find = |filter| {
        engine
            .find_log_entries(&FindLogArgs {
                filter,
                start: 0,
                limit: 10,
            })
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    // Entry 0 is the model's (kind 4), which names the model's hash too.
    assert_eq!(find(LogFilter::Caller(bob())), vec![2]);
    assert_eq!(
        find(LogFilter::InputHash(plain.input_hash.clone())),
        vec![1]
    );
    assert_eq!(
        find(LogFilter::OutputHash(plain.output_hash.clone())),
        vec![1, 2]
    );
    assert_eq!(find(LogFilter::ModelSha256(sha256(AFFINE))), vec![0, 1, 2]);
    let page = engine
        .log_entries(&LogPageArgs { start: 2, limit: 5 })
        .unwrap();
    assert_eq!(page.entries, vec![salted]);
}

#[test]
fn everything_survives_a_simulated_upgrade() {
    let (mut engine, memory, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    engine.add_admin(&env, alice()).unwrap();
    let inputs = vec![x(vec![[0.25, -8.0, 3.5]])];
    let before = engine
        .infer(&env, infer_args("affine", inputs.clone()))
        .unwrap();
    let models = engine.list_models();
    drop(engine);

    // post_upgrade: a fresh heap over the same stable memory.
    let mut engine = Engine::init(memory.clone()).unwrap();
    assert_eq!(engine.list_models(), models);
    assert_eq!(engine.list_admins(), vec![alice()]);
    assert_eq!(engine.log_size(), 2, "the model's entry and the inference");
    assert_eq!(engine.log_entry(1).unwrap(), before.receipt);
    assert_eq!(engine.stats(&env).cached_plans, 0, "plans are a heap cache");

    let after = engine.infer(&env, infer_args("affine", inputs)).unwrap();
    assert_eq!(after.outputs, before.outputs);
    assert_eq!(after.receipt.output_hash, before.receipt.output_hash);
    assert_eq!(after.receipt.input_hash, before.receipt.input_hash);
    assert_eq!(after.receipt.seq, 2);
    assert_eq!(engine.stats(&env).cached_plans, 1);

    drop(engine);
    let mut engine = Engine::init(memory).unwrap();
    assert_eq!(engine.warm_next(), Some("affine".to_string()));
    assert_eq!(engine.warm_next(), None);
}

#[test]
fn deleting_a_model_frees_its_blocks_and_keeps_the_log() {
    let (mut engine, _, env) = fresh();
    let bytes = padded(AFFINE, 2 * CHUNK_BYTES as usize + 1);
    install(&mut engine, &env, "big", &bytes);
    engine
        .infer(&env, infer_args("big", vec![x(vec![[1.0; 3]])]))
        .unwrap();
    assert_eq!(engine.store().block_counts(), (3, 0));
    let entry = engine.log_entry(0).unwrap();

    engine.delete_model(&env, "big").unwrap();
    assert!(matches!(
        engine.model_info("big"),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(engine.store().block_counts(), (3, 3));
    assert_eq!(engine.log_entry(0).unwrap(), entry);
    assert!(matches!(
        engine.infer(&env, infer_args("big", vec![x(vec![[1.0; 3]])])),
        Err(Error::NotFound { .. })
    ));

    // A new model reuses the freed blocks instead of growing stable memory, and the old
    // plan is never used for the new bytes under the same id.
    install(&mut engine, &env, "big", CLASSIFY);
    assert_eq!(engine.store().block_counts(), (3, 2));
    assert!(matches!(
        engine.infer(&env, infer_args("big", vec![x(vec![[1.0; 3]])])),
        Err(Error::InputMismatch { .. })
    ));
}

#[test]
fn foreign_or_unknown_stable_layouts_are_refused() {
    let garbage = VectorMemory::default();
    garbage.grow(1);
    garbage.write(0, b"not ours");
    assert!(matches!(
        Engine::init(garbage),
        Err(LayoutError::NotManaged)
    ));

    let (engine, memory, _) = fresh();
    drop(engine);
    // Find the layout header ("ICINF", version) and bump its version.
    let bytes = memory.borrow().clone();
    let at = bytes
        .windows(6)
        .position(|w| w == current_header())
        .expect("layout header present");
    let newer = VectorMemory::default();
    *newer.borrow_mut() = bytes.clone();
    newer.borrow_mut()[at + 5] = LAYOUT_VERSION + 1;
    assert!(matches!(
        Engine::init(newer),
        Err(LayoutError::UnknownLayout { version, .. }) if version == LAYOUT_VERSION + 1
    ));

    // Layout 1 never had a Merkle tree: one claiming version 1 while the tree's memory holds
    // something is refused too.
    let older_with_tree = VectorMemory::default();
    *older_with_tree.borrow_mut() = bytes.clone();
    older_with_tree.borrow_mut()[at + 5] = 1;
    assert!(matches!(
        Engine::init(older_with_tree),
        Err(LayoutError::WrongMagic {
            memory: "log Merkle tree",
            ..
        })
    ));

    // A structure's magic overwritten: detected, not silently re-created.
    let log_data = bytes
        .windows(4)
        .position(|w| w == b"GLD\x01")
        .expect("log data header present");
    let broken = VectorMemory::default();
    *broken.borrow_mut() = bytes;
    broken.borrow_mut()[log_data] = b'X';
    assert!(matches!(
        Engine::init(broken),
        Err(LayoutError::WrongMagic {
            memory: "log data",
            ..
        })
    ));
}

// --- the certified Merkle log -----------------------------------------------------------------

fn certified(env: &TestEnv) -> Vec<u8> {
    env.certified_data.borrow().clone()
}

#[test]
fn every_inference_certifies_the_new_head_and_proofs_verify() {
    let (mut engine, memory, env) = fresh();
    engine.certify_head(&env);
    assert_eq!(certified(&env), head_commitment(0, &EMPTY_ROOT));
    let mut heads = vec![(0u64, EMPTY_ROOT)];
    // The model's entry (kind 4) is the first append, certified as every other.
    install(&mut engine, &env, "affine", AFFINE);
    for i in 0..8 {
        if i > 0 {
            engine
                .infer(&env, infer_args("affine", vec![x(vec![[i as f32; 3]])]))
                .unwrap();
        }
        let head = engine.log_head(&env);
        assert_eq!(head.tree_size, i + 1);
        assert_eq!(head.certificate, None, "no certificate outside a query");
        let root: Hash = head.root_hash[..].try_into().unwrap();
        assert_eq!(certified(&env), head_commitment(i + 1, &root));
        assert_eq!(head.witness.as_slice(), encode_head_witness(i + 1, &root));
        heads.push((i + 1, root));
    }
    let (size, root) = *heads.last().unwrap();
    for index in 0..size {
        for tree_size in [None, Some(index + 1), Some(size)] {
            let proof = engine
                .log_proof(&env, &LogProofArgs { index, tree_size })
                .unwrap();
            assert_eq!(proof.entry, engine.log_entry(index).unwrap());
            let at = proof.tree_size;
            assert_eq!(proof.tree_root[..], heads[at as usize].1[..]);
            let nodes = |v: &[ByteBuf]| proof_nodes(v).unwrap();
            verify_inclusion(
                index,
                at,
                &leaf_hash(&proof.entry_bytes),
                &nodes(&proof.inclusion_proof),
                &heads[at as usize].1,
            )
            .unwrap();
            verify_consistency(
                at,
                size,
                &heads[at as usize].1,
                &root,
                &nodes(&proof.consistency_proof),
            )
            .unwrap();
        }
    }
    for (from_size, from_root) in &heads {
        let c = engine
            .log_consistency(
                &env,
                &LogConsistencyArgs {
                    from_size: *from_size,
                    to_size: size,
                },
            )
            .unwrap();
        assert_eq!(c.from_root[..], from_root[..]);
        verify_consistency(
            *from_size,
            size,
            from_root,
            &root,
            &proof_nodes(&c.proof).unwrap(),
        )
        .unwrap();
    }

    // Reopened (an upgrade): same root; certified data is set again from the stored tree.
    drop(engine);
    let engine = Engine::init(memory).unwrap();
    let env = TestEnv::new();
    engine.certify_head(&env);
    assert_eq!(certified(&env), head_commitment(size, &root));
    assert_eq!(engine.log_head(&env).root_hash[..], root[..]);
}

#[test]
fn proof_requests_outside_the_log_get_typed_errors() {
    let (mut engine, _, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    // The model's entry and three inferences: 4 entries.
    for _ in 0..3 {
        engine
            .infer(&env, infer_args("affine", vec![x(vec![[1.0; 3]])]))
            .unwrap();
    }
    let proof = |index, tree_size| engine.log_proof(&env, &LogProofArgs { index, tree_size });
    assert!(matches!(proof(4, None), Err(Error::NotFound { .. })));
    assert!(matches!(proof(u64::MAX, None), Err(Error::NotFound { .. })));
    assert!(matches!(
        proof(2, Some(2)),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        proof(0, Some(0)),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        proof(0, Some(5)),
        Err(Error::InvalidArgument { .. })
    ));
    let consistency = |from_size, to_size| {
        engine.log_consistency(&env, &LogConsistencyArgs { from_size, to_size })
    };
    assert!(matches!(
        consistency(2, 1),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        consistency(0, 5),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        consistency(u64::MAX, u64::MAX),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(consistency(0, 0).unwrap().proof.is_empty());
    assert!(consistency(4, 4).unwrap().proof.is_empty());
}

/// A canister of layout version 1 (no Merkle tree) upgrades: the tree is built from the
/// stored entries and the root is the one the entries define.
#[test]
fn a_layout_without_a_merkle_tree_gets_one_on_upgrade() {
    let (mut engine, memory, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    for i in 0..5 {
        engine
            .infer(&env, infer_args("affine", vec![x(vec![[i as f32; 3]])]))
            .unwrap();
    }
    let root = engine.log_head(&env).root_hash;
    drop(engine);
    // Make it a version 1 layout: header version 1 and the tree's memory blank.
    let mut bytes = memory.borrow().clone();
    let at = bytes
        .windows(6)
        .position(|w| w == current_header())
        .unwrap();
    bytes[at + 5] = 1;
    let tree_at = bytes.windows(4).position(|w| w == b"ICM\x01").unwrap();
    // The model's entry and five inferences.
    let tree_bytes = 32 + 32 * icinfer_core::merkle::stored_count(6) as usize;
    bytes[tree_at..tree_at + tree_bytes].fill(0);
    let old = VectorMemory::default();
    *old.borrow_mut() = bytes;
    blank_job_memories(&old);

    let engine = Engine::init(old.clone()).unwrap();
    assert_eq!(engine.log_head(&env).root_hash, root);
    assert_eq!(engine.log_size(), 6);
    drop(engine);
    // The header now says the current version, and the next open is a plain one.
    assert!(old.borrow().windows(6).any(|w| w == current_header()));
    assert_eq!(Engine::init(old).unwrap().log_head(&env).root_hash, root);
}

/// The layout header this build writes: "ICINF" and its version.
fn current_header() -> [u8; 6] {
    let mut header = *b"ICINF\0";
    header[5] = LAYOUT_VERSION;
    header
}

/// Blanks the memories a layout of `version` did not have yet (memory::ADDED_IN).
fn blank_memories_added_after(memory: &VectorMemory, version: u8) {
    use ic_stable_structures::memory_manager::MemoryManager;
    let manager = MemoryManager::init(memory.clone());
    for (id, added) in ADDED_IN {
        if added > version && id != icinfer_core::memory::MERKLE {
            manager.get(id).write(0, &[0; 3]);
        }
    }
}

/// Makes a layout look as a version before 3 left it: the job memories never written (nor
/// those of the code epochs and the policy, which versions 4 and 5 added).
fn blank_job_memories(memory: &VectorMemory) {
    blank_memories_added_after(memory, 2);
}

/// A canister of layout version 4 (no inference policy) upgrades: everything is kept and
/// the policy starts open without quotas; once set, it survives the next open. A build of
/// layout 4 would refuse the upgraded memory: its check knows no version above 4, the
/// refusal tested above with LAYOUT_VERSION + 1.
#[test]
fn a_layout_without_a_policy_gets_the_open_one_on_upgrade() {
    use icinfer_api::{Access, InferencePolicy};
    let (mut engine, memory, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    engine
        .infer(&env, infer_args("affine", vec![x(vec![[1.0; 3]])]))
        .unwrap();
    let root = engine.log_head(&env).root_hash;
    drop(engine);
    let at = memory
        .borrow()
        .windows(6)
        .position(|w| w == current_header())
        .unwrap();
    memory.borrow_mut()[at + 5] = 4;
    blank_memories_added_after(&memory, 4);

    let mut engine = Engine::init(memory.clone()).unwrap();
    assert_eq!(engine.log_head(&env).root_hash, root);
    assert!(memory.borrow().windows(6).any(|w| w == current_header()));
    assert_eq!(engine.policy(&env).unwrap(), InferencePolicy::default());
    let policy = InferencePolicy {
        access: Access::Authenticated,
        ..InferencePolicy::default()
    };
    engine.set_policy(&env, policy.clone()).unwrap();
    drop(engine);
    let engine = Engine::init(memory.clone()).unwrap();
    assert_eq!(engine.policy(&env).unwrap(), policy);
    // A layout that claims version 4 while holding a policy is refused.
    drop(engine);
    memory.borrow_mut()[at + 5] = 4;
    assert!(matches!(
        Engine::init(memory),
        Err(LayoutError::WrongMagic {
            memory: "inference policy",
            ..
        })
    ));
}

/// A canister of layout version 2 (no jobs) upgrades: its models and log are kept, the job
/// memories are created, and jobs run.
#[test]
fn a_layout_without_jobs_gets_them_on_upgrade() {
    let (mut engine, memory, env) = fresh();
    install(&mut engine, &env, "affine", AFFINE);
    engine
        .infer(&env, infer_args("affine", vec![x(vec![[1.0; 3]])]))
        .unwrap();
    let root = engine.log_head(&env).root_hash;
    drop(engine);
    let at = memory
        .borrow()
        .windows(6)
        .position(|w| w == current_header())
        .unwrap();
    memory.borrow_mut()[at + 5] = 2;
    blank_job_memories(&memory);

    let mut engine = Engine::init(memory.clone()).unwrap();
    assert_eq!(engine.log_head(&env).root_hash, root);
    assert!(memory.borrow().windows(6).any(|w| w == current_header()));
    let id = engine
        .infer_start(&env, infer_args("affine", vec![x(vec![[1.0; 3]])]))
        .unwrap();
    while engine.job_step(&env, id).unwrap() == icinfer_core::StepOutcome::Continue {}
    assert_eq!(engine.log_size(), 3, "the model's entry and two inferences");
}
