//! Uploads hashed as they arrive and finalize as a job, natively: the hashed prefix grows
//! with in-order chunks and catches up, boundedly, when a missing chunk arrives; chunks
//! cannot be rewritten; an upgrade keeps the hash state and a finalize job; a failed
//! finalize keeps its reason and can be retried; `infer` names `infer_start` for a model a
//! job measured over the one-message limit, and a first `infer` over it stops there with
//! `UseJob`, logs nothing and keeps what it measured.

use candid::Principal;
use ic_stable_structures::VectorMemory;
use icinfer_api::{
    CreateModelArgs, DType, Dim, Error, FinalizeProgress, InferArgs, JobState, ModelState, Tensor,
    TensorData, TensorFact, UploadChunkArgs,
};
use icinfer_core::limits::{CHUNK_BYTES, MAX_HASH_CHUNKS_PER_UPLOAD, MIN_STEP_BUDGET};
use icinfer_core::{Engine, Environment, StepOutcome};
use icinfer_verify::head::leb128;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::cell::Cell;

const AFFINE: &[u8] = include_bytes!("../../../models/tiny/affine.onnx");
const DIGITS: &[u8] = include_bytes!("../../../models/digits/digits.onnx");

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

/// An environment whose instruction counter starts again at every message and advances
/// `per_read` on every read.
struct Env {
    now: Cell<u64>,
    counter: Cell<u64>,
    per_read: Cell<u64>,
}

impl Env {
    fn new() -> Self {
        Env {
            now: Cell::new(1_750_000_000_000_000_000),
            counter: Cell::new(0),
            per_read: Cell::new(1),
        }
    }
    fn message(&self) -> &Self {
        self.counter.set(0);
        self
    }
}

impl Environment for Env {
    fn caller(&self) -> Principal {
        controller()
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

/// `onnx` padded to `size` bytes with a trailing protobuf `doc_string` (ModelProto field
/// 6), which tract ignores.
fn padded(onnx: &[u8], size: usize) -> Vec<u8> {
    let varint = |n: usize| leb128(n as u64);
    let pad = (1..=5)
        .map(|len| size - onnx.len() - 1 - len)
        .find(|&pad| varint(pad).len() == size - onnx.len() - 1 - pad)
        .expect("a varint length fits");
    let mut out = onnx.to_vec();
    out.push(0x32);
    out.extend(varint(pad));
    out.resize(size, b' ');
    out
}

fn create(
    engine: &mut Engine<VectorMemory>,
    env: &Env,
    id: &str,
    bytes: &[u8],
    facts: Option<Vec<TensorFact>>,
) -> Result<ModelState, Error> {
    engine
        .create_model(
            env.message(),
            CreateModelArgs {
                id: id.into(),
                sha256: ByteBuf::from(Sha256::digest(bytes).to_vec()),
                size_bytes: bytes.len() as u64,
                description: None,
                input_facts: facts,
                language_model: None,
            },
        )
        .map(|info| info.state)
}

fn chunk(bytes: &[u8], index: u32) -> Vec<u8> {
    let start = index as usize * CHUNK_BYTES as usize;
    bytes[start..(start + CHUNK_BYTES as usize).min(bytes.len())].to_vec()
}

fn send(
    engine: &mut Engine<VectorMemory>,
    env: &Env,
    id: &str,
    index: u32,
    data: Vec<u8>,
) -> Result<u32, Error> {
    engine
        .upload_model_chunk(
            env.message(),
            UploadChunkArgs {
                id: id.into(),
                offset: u64::from(index) * CHUNK_BYTES,
                data: ByteBuf::from(data),
            },
        )
        .map(|p| p.chunks_received)
}

fn hashed(engine: &Engine<VectorMemory>, id: &str) -> u32 {
    engine.store().get(id).unwrap().hashed_chunks()
}

fn affine_input() -> InferArgs {
    InferArgs {
        model_id: "big".into(),
        inputs: vec![Tensor {
            name: "x".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![0.0, 0.0, 0.0]),
        }],
        nonce: None,
    }
}

/// Steps a finalize job until it finishes; returns the steps.
fn finish(engine: &mut Engine<VectorMemory>, env: &Env, id: &str) -> u64 {
    let mut steps = 0;
    while engine.finalize_step(env.message(), id).unwrap() == StepOutcome::Continue {
        steps += 1;
        assert!(steps < 1000, "a finalize job that does not end");
    }
    steps + 1
}

#[test]
fn the_hash_grows_with_the_in_order_prefix_and_catches_up_boundedly() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let chunks = MAX_HASH_CHUNKS_PER_UPLOAD + 3;
    let bytes = padded(AFFINE, (chunks as usize - 1) * CHUNK_BYTES as usize + 777);
    create(&mut engine, &env, "big", &bytes, None).unwrap();

    send(&mut engine, &env, "big", 0, chunk(&bytes, 0)).unwrap();
    assert_eq!(
        hashed(&engine, "big"),
        1,
        "an in-order chunk is hashed at once"
    );
    for index in 2..chunks {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
        assert_eq!(hashed(&engine, "big"), 1, "chunks after a gap wait");
    }
    send(&mut engine, &env, "big", 1, chunk(&bytes, 1)).unwrap();
    assert_eq!(
        hashed(&engine, "big"),
        1 + MAX_HASH_CHUNKS_PER_UPLOAD,
        "the gap's chunk and the waiting ones, at most MAX_HASH_CHUNKS_PER_UPLOAD"
    );

    let info = engine.finalize_model(env.message(), "big").unwrap();
    assert_eq!(info.state, ModelState::Ready, "finalize hashes the rest");
    let out = engine.infer(env.message(), affine_input()).unwrap();
    assert_eq!(out.outputs[0].data, TensorData::F32(vec![1.0, -2.0, 4.0]));
}

#[test]
fn a_chunk_sent_again_must_hold_the_same_bytes() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let bytes = padded(AFFINE, 2 * CHUNK_BYTES as usize + 5);
    create(&mut engine, &env, "big", &bytes, None).unwrap();
    for index in [1, 0] {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
    }
    let before = engine.store().get("big").unwrap();
    for index in [0, 1] {
        assert_eq!(
            send(&mut engine, &env, "big", index, chunk(&bytes, index)),
            Ok(2),
            "the same bytes again change nothing"
        );
        let mut other = chunk(&bytes, index);
        other[17] ^= 1;
        match send(&mut engine, &env, "big", index, other) {
            Err(Error::InvalidState { id, reason }) => {
                assert_eq!(id, "big");
                assert!(reason.contains("cannot be rewritten"), "{reason}");
            }
            other => panic!("a rewrite with other bytes must be refused, got {other:?}"),
        }
    }
    assert_eq!(engine.store().get("big").unwrap(), before);
    send(&mut engine, &env, "big", 2, chunk(&bytes, 2)).unwrap();
    let info = engine.finalize_model(env.message(), "big").unwrap();
    assert_eq!(info.state, ModelState::Ready);
}

#[test]
fn an_upgrade_in_the_middle_of_an_upload_keeps_the_hash_state() {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = Env::new();
    let bytes = padded(AFFINE, 3 * CHUNK_BYTES as usize + 99);
    create(&mut engine, &env, "big", &bytes, None).unwrap();
    for index in [0, 1] {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
    }
    let state = engine.store().get("big").unwrap().hash_state;
    assert!(state.is_some());
    drop(engine);

    let mut engine = Engine::init(memory).unwrap();
    assert_eq!(hashed(&engine, "big"), 2);
    assert_eq!(engine.store().get("big").unwrap().hash_state, state);
    for index in [2, 3] {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
    }
    assert_eq!(hashed(&engine, "big"), 4);
    let info = engine.finalize_model(env.message(), "big").unwrap();
    assert_eq!(info.state, ModelState::Ready);
}

/// A 6-chunk upload whose first chunk came last with a catch-up of one chunk per message
/// would leave finalize five chunks to hash; here every upload goes out of order but the
/// last, so finalize must hash them all, one per message (budget reached at once).
#[test]
fn finalize_runs_as_a_job_in_steps_and_survives_an_upgrade() {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = Env::new();
    let chunks = MAX_HASH_CHUNKS_PER_UPLOAD + 4;
    let bytes = padded(AFFINE, (chunks as usize - 1) * CHUNK_BYTES as usize + 3);
    create(&mut engine, &env, "big", &bytes, None).unwrap();
    for index in (0..chunks).rev() {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
    }
    assert_eq!(hashed(&engine, "big"), MAX_HASH_CHUNKS_PER_UPLOAD);
    engine
        .set_job_step_budget(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    env.per_read.set(MIN_STEP_BUDGET);

    let info = engine.finalize_model(env.message(), "big").unwrap();
    let ModelState::Finalizing(progress) = info.state else {
        panic!("expected a finalize job, got {:?}", info.state);
    };
    assert_eq!(
        (
            progress.chunks_hashed,
            progress.chunks_total,
            progress.messages
        ),
        (MAX_HASH_CHUNKS_PER_UPLOAD + 1, chunks, 1),
        "finalize_model hashes one chunk when the budget is reached at once"
    );
    assert_eq!(engine.finalizing_models(), vec!["big".to_string()]);
    assert!(engine.has_pending_work());
    assert!(matches!(
        send(&mut engine, &env, "big", 0, chunk(&bytes, 0)),
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        engine.finalize_model(env.message(), "big"),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(
        engine.finalize_step(env.message(), "big"),
        Ok(StepOutcome::Continue)
    );
    let status = engine.upload_status("big").unwrap();
    assert_eq!(
        status.state,
        ModelState::Finalizing(FinalizeProgress {
            chunks_hashed: MAX_HASH_CHUNKS_PER_UPLOAD + 2,
            chunks_total: chunks,
            messages: 2,
            instructions: 2 * 2 * MIN_STEP_BUDGET,
        })
    );

    // An upgrade: the job's state is in the record; it goes on where it stood.
    drop(engine);
    let mut engine = Engine::init(memory).unwrap();
    assert_eq!(engine.finalizing_models(), vec!["big".to_string()]);
    assert_eq!(hashed(&engine, "big"), MAX_HASH_CHUNKS_PER_UPLOAD + 2);
    env.per_read.set(1);
    // One step hashes the rest (budget not reached), the next loads: a message of its own.
    assert_eq!(finish(&mut engine, &env, "big"), 2);
    let info = engine.model_info("big").unwrap();
    assert_eq!(info.state, ModelState::Ready);
    assert!(info.load_instructions.unwrap() > 2 * 2 * MIN_STEP_BUDGET);
    assert!(engine.finalizing_models().is_empty());
    assert!(!engine.has_pending_work());
    let out = engine.infer(env.message(), affine_input()).unwrap();
    assert_eq!(out.outputs[0].data, TensorData::F32(vec![1.0, -2.0, 4.0]));
}

#[test]
fn a_failed_finalize_keeps_its_reason_and_can_be_retried_with_new_input_facts() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let wrong = vec![TensorFact {
        name: "nope".into(),
        dtype: DType::F32,
        shape: vec![Dim::Fixed(1)],
    }];
    create(&mut engine, &env, "big", AFFINE, Some(wrong.clone())).unwrap();
    send(&mut engine, &env, "big", 0, AFFINE.to_vec()).unwrap();
    let error = engine.finalize_model(env.message(), "big").unwrap_err();
    assert!(matches!(&error, Error::ModelRejected { reason } if reason.contains("nope")));
    assert_eq!(
        engine.upload_status("big").unwrap().state,
        ModelState::Failed {
            error: error.clone()
        }
    );
    assert_eq!(
        engine.model_info("big").unwrap().state,
        ModelState::Failed { error }
    );
    assert!(matches!(
        engine.infer(env.message(), affine_input()),
        Err(Error::InvalidState { .. })
    ));

    // The same file with other input facts: the chunks are kept, no upload needed.
    assert_eq!(
        create(&mut engine, &env, "big", AFFINE, None),
        Ok(ModelState::Uploading)
    );
    assert_eq!(engine.upload_status("big").unwrap().chunks_received, 1);
    assert_eq!(
        engine.finalize_model(env.message(), "big").unwrap().state,
        ModelState::Ready
    );
    // A ready model is not replaced by create_model.
    assert!(matches!(
        create(&mut engine, &env, "big", AFFINE, None),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn a_wrong_hash_is_kept_as_the_failure_and_create_again_starts_over() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    engine
        .create_model(
            env.message(),
            CreateModelArgs {
                id: "big".into(),
                sha256: ByteBuf::from(vec![7; 32]),
                size_bytes: AFFINE.len() as u64,
                description: None,
                input_facts: None,
                language_model: None,
            },
        )
        .unwrap();
    send(&mut engine, &env, "big", 0, AFFINE.to_vec()).unwrap();
    assert!(matches!(
        engine.finalize_model(env.message(), "big"),
        Err(Error::HashMismatch { .. })
    ));
    let (blocks, free) = engine.store().block_counts();
    assert_eq!((blocks, free), (1, 0));
    // The chunks were the failure: create_model drops them and the upload starts over.
    create(&mut engine, &env, "big", AFFINE, None).unwrap();
    let status = engine.upload_status("big").unwrap();
    assert_eq!(
        (status.chunks_received, status.missing_chunks),
        (0, vec![0])
    );
    assert_eq!(engine.store().block_counts(), (1, 1));
    send(&mut engine, &env, "big", 0, AFFINE.to_vec()).unwrap();
    assert_eq!(
        engine.finalize_model(env.message(), "big").unwrap().state,
        ModelState::Ready
    );
}

#[test]
fn a_trapped_finalize_step_is_recorded_as_the_models_failure() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let chunks = MAX_HASH_CHUNKS_PER_UPLOAD + 2;
    let bytes = padded(AFFINE, (chunks as usize - 1) * CHUNK_BYTES as usize + 1);
    create(&mut engine, &env, "big", &bytes, None).unwrap();
    for index in (0..chunks).rev() {
        send(&mut engine, &env, "big", index, chunk(&bytes, index)).unwrap();
    }
    engine.finalize_trapped("big", "not finalizing: ignored".into());
    assert_eq!(
        engine.model_info("big").unwrap().state,
        ModelState::Uploading
    );

    engine
        .set_job_step_budget(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    env.per_read.set(MIN_STEP_BUDGET);
    let info = engine.finalize_model(env.message(), "big").unwrap();
    assert!(matches!(info.state, ModelState::Finalizing(_)), "{info:?}");
    engine.finalize_trapped("big", "out of memory".into());
    match engine.model_info("big").unwrap().state {
        ModelState::Failed {
            error: Error::ModelRejected { reason },
        } => assert!(reason.contains("trapped") && reason.contains("out of memory")),
        other => panic!("expected the trap as the failure, got {other:?}"),
    }
    assert!(engine.finalizing_models().is_empty());
    assert!(!engine.has_pending_work());
    // finalize_model tries again; the hash taken so far is kept.
    env.per_read.set(1);
    let info = engine.finalize_model(env.message(), "big").unwrap();
    assert_eq!(info.state, ModelState::Ready);
}

#[test]
fn infer_names_infer_start_for_a_model_a_job_measured_over_the_limit() {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = Env::new();
    create(&mut engine, &env, "digits", DIGITS, None).unwrap();
    send(&mut engine, &env, "digits", 0, DIGITS.to_vec()).unwrap();
    engine.finalize_model(env.message(), "digits").unwrap();
    let args = InferArgs {
        model_id: "digits".into(),
        inputs: vec![Tensor {
            name: "pixels".into(),
            shape: vec![1, 64],
            data: TensorData::F32(vec![1.0; 64]),
        }],
        nonce: None,
    };
    let direct = engine.infer(env.message(), args.clone()).unwrap();
    assert!(matches!(
        engine.set_one_message_limit(env.message(), 1),
        Err(Error::InvalidArgument { .. })
    ));
    engine
        .set_one_message_limit(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    // Each read costs half the limit, so the job's messages add up to more.
    env.per_read.set(MIN_STEP_BUDGET / 2);
    let id = engine.infer_start(env.message(), args.clone()).unwrap();
    while engine.job_step(env.message(), id).unwrap() == StepOutcome::Continue {}
    let JobState::Done(done) = engine.job_status(env.message(), id).unwrap().state else {
        panic!("the job did not finish");
    };
    assert_eq!(done.outputs, direct.outputs);
    assert!(done.receipt.instructions > MIN_STEP_BUDGET);
    let use_job =
        |engine: &mut Engine<VectorMemory>| match engine.infer(env.message(), args.clone()) {
            Err(Error::UseJob { model_id, reason }) => {
                assert_eq!(model_id, "digits");
                assert!(
                    reason.contains(&done.receipt.instructions.to_string()),
                    "{reason}"
                );
            }
            other => panic!("expected UseJob, got {other:?}"),
        };
    use_job(&mut engine);
    let log_size = engine.log_size();
    // The measurement is in the record: after an upgrade (limit reset to the default,
    // which the measurement is under) infer runs again; with the limit lowered, UseJob.
    drop(engine);
    let mut engine = Engine::init(memory).unwrap();
    assert!(engine.infer(env.message(), args.clone()).is_ok());
    engine
        .set_one_message_limit(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    use_job(&mut engine);
    assert_eq!(engine.log_size(), log_size + 1);
    // Jobs still run.
    assert!(engine.infer_start(env.message(), args).is_ok());
}

#[test]
fn a_first_infer_over_the_limit_stops_with_use_job_and_keeps_the_measurement() {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = Env::new();
    create(&mut engine, &env, "digits", DIGITS, None).unwrap();
    send(&mut engine, &env, "digits", 0, DIGITS.to_vec()).unwrap();
    engine.finalize_model(env.message(), "digits").unwrap();
    let args = InferArgs {
        model_id: "digits".into(),
        inputs: vec![Tensor {
            name: "pixels".into(),
            shape: vec![1, 64],
            data: TensorData::F32(vec![0.5; 64]),
        }],
        nonce: None,
    };
    let direct = engine.infer(env.message(), args.clone()).unwrap();
    let log_size = engine.log_size();
    engine
        .set_one_message_limit(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    // `infer` reads the counter before each node: 4 k, 8 k, then 12 k is over the 10 k
    // limit, so it stops before the third node.
    let per_read = MIN_STEP_BUDGET * 4 / 10;
    env.per_read.set(per_read);
    let stopped = engine.infer(env.message(), args.clone());
    let Err(error @ Error::UseJob { .. }) = &stopped else {
        panic!("expected UseJob, got {stopped:?}");
    };
    let text = error.to_string();
    assert!(
        text.contains("stopped after 2 of ")
            && text.contains(&format!("at {} instructions", 3 * per_read))
            && text.contains("use infer_start"),
        "{text}"
    );
    assert_eq!(engine.log_size(), log_size, "nothing is logged");
    // The measurement is kept in the model's record: the next infer refuses before running
    // a node, in this build and after an upgrade.
    let refuses_at_once = |engine: &mut Engine<VectorMemory>, measured: u64| match engine
        .infer(env.message(), args.clone())
    {
        Err(Error::UseJob { reason, .. }) => assert!(
            reason.contains(&format!("measured at {measured} instructions")),
            "{reason}"
        ),
        other => panic!("expected UseJob, got {other:?}"),
    };
    refuses_at_once(&mut engine, 3 * per_read);
    drop(engine);
    let mut engine = Engine::init(memory).unwrap();
    engine
        .set_one_message_limit(env.message(), MIN_STEP_BUDGET)
        .unwrap();
    refuses_at_once(&mut engine, 3 * per_read);
    // The job it names runs it, with infer's bytes; its full measurement replaces the
    // lower bound.
    let id = engine.infer_start(env.message(), args.clone()).unwrap();
    while engine.job_step(env.message(), id).unwrap() == StepOutcome::Continue {}
    let JobState::Done(done) = engine.job_status(env.message(), id).unwrap().state else {
        panic!("the job did not finish");
    };
    assert_eq!(done.outputs, direct.outputs);
    assert_eq!(done.receipt.output_hash, direct.receipt.output_hash);
    assert!(done.receipt.instructions > 3 * per_read);
    refuses_at_once(&mut engine, done.receipt.instructions);
    assert_eq!(engine.log_size(), log_size + 1);
}

/// `upload_status` after a failed finalize says what to do (issue #22): the unsupported
/// operator with its domain and node, the shape conflict with the facts to declare, and a
/// load too large for one message.
#[test]
fn a_failed_finalize_is_classified_in_upload_status() {
    const CONTRIB: &[u8] = include_bytes!("../../../models/tiny/hostile/contrib_operator.onnx");
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let failure = |engine: &mut Engine<VectorMemory>, id: &str| {
        engine.finalize_model(env.message(), id).unwrap_err();
        match engine.upload_status(id).unwrap().state {
            ModelState::Failed {
                error: Error::ModelRejected { reason },
            } => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    };
    create(&mut engine, &env, "contrib", CONTRIB, None).unwrap();
    send(&mut engine, &env, "contrib", 0, CONTRIB.to_vec()).unwrap();
    let reason = failure(&mut engine, "contrib");
    assert!(
        reason.starts_with(
            "unsupported operator QAttention (domain com.microsoft) at node 'attention_0'"
        ),
        "{reason}"
    );

    // affine.onnx takes x f32[N, 3]; declared i64, it conflicts with the f32 constants.
    let wrong = vec![TensorFact {
        name: "x".into(),
        dtype: DType::I64,
        shape: vec![Dim::Fixed(2), Dim::Fixed(3)],
    }];
    create(&mut engine, &env, "affine", AFFINE, Some(wrong)).unwrap();
    send(&mut engine, &env, "affine", 0, AFFINE.to_vec()).unwrap();
    let reason = failure(&mut engine, "affine");
    assert!(reason.starts_with("shape conflict at node '"), "{reason}");
    assert!(
        reason.contains("with the declared facts the inputs are 'x' [2, 3]"),
        "{reason}"
    );

    let trap = icinfer_core::prep::diagnose::explain_trap(
        "Canister exceeded the limit of 40000000000 instructions for single message execution.",
    );
    assert!(
        matches!(&trap, Error::ModelRejected { reason } if reason.starts_with("model too large for a message")),
        "{trap:?}"
    );
}
