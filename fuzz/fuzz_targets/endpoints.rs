//! Every endpoint, natively, as the canister serves it: the argument bytes decoded as
//! ic-cdk decodes them (src/endpoints.rs), then the engine method the endpoint calls
//! (canisters/inference/src/lib.rs), on an engine holding a ready model (models/tiny
//! affine.onnx, id "affine"), an upload in progress ("part") and one logged inference.
//! Input: a byte for the caller (a controller, an admin, anyone), a byte for the endpoint,
//! then the Candid bytes. Properties: a result or a typed error, never a panic (a trap);
//! and an error leaves stable memory byte for byte as it was (no partial write), except
//! where keeping the failure is the point (a failed finalize keeps its reason; a job
//! step records the job's progress or failure).
#![no_main]

use candid::Principal;
use ic_stable_structures::VectorMemory;
use icinfer_api::{CreateModelArgs, InferArgs, Tensor, TensorData, UploadChunkArgs};
use icinfer_core::{Engine, Environment};
use icinfer_fuzz::endpoints::{self, Call};
use libfuzzer_sys::fuzz_target;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const AFFINE: &[u8] = include_bytes!("../../models/tiny/affine.onnx");

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn admin() -> Principal {
    Principal::from_slice(&[0xad; 29])
}

struct Env {
    caller: Principal,
    now: Cell<u64>,
    instructions: Cell<u64>,
}

impl Env {
    fn new(caller: Principal) -> Self {
        Env {
            caller,
            now: Cell::new(1_750_000_000_000_000_000),
            instructions: Cell::new(1000),
        }
    }
}

impl Environment for Env {
    fn caller(&self) -> Principal {
        self.caller
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
    }
    fn data_certificate(&self) -> Option<Vec<u8>> {
        None
    }
}

/// The stable memory every input starts from, made once.
fn initial_memory() -> &'static [u8] {
    thread_local! {
        static IMAGE: &'static [u8] = Box::leak(make_initial_memory().into_boxed_slice());
    }
    IMAGE.with(|image| *image)
}

fn make_initial_memory() -> Vec<u8> {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).expect("a fresh memory lays out");
    let env = Env::new(controller());
    engine.add_admin(&env, admin()).expect("an admin");
    let create = |id: &str, bytes: &[u8]| CreateModelArgs {
        id: id.into(),
        sha256: ByteBuf::from(Sha256::digest(bytes).to_vec()),
        size_bytes: bytes.len() as u64,
        description: None,
        input_facts: None,
        language_model: None,
    };
    let chunk = |id: &str, data: &[u8]| UploadChunkArgs {
        id: id.into(),
        offset: 0,
        data: ByteBuf::from(data.to_vec()),
    };
    engine.create_model(&env, create("affine", AFFINE)).unwrap();
    engine
        .upload_model_chunk(&env, chunk("affine", AFFINE))
        .unwrap();
    engine.finalize_model(&env, "affine").unwrap();
    let inputs = vec![Tensor {
        name: engine.model_info("affine").unwrap().inputs[0].name.clone(),
        shape: vec![1, 3],
        data: TensorData::F32(vec![1.0, 2.0, 3.0]),
    }];
    engine
        .infer(
            &env,
            InferArgs {
                model_id: "affine".into(),
                inputs,
                nonce: None,
            },
        )
        .expect("the seed inference runs");
    engine.create_model(&env, create("part", &[0; 10])).unwrap();
    drop(engine);
    // Reopening may complete the layout; the image is what a reopen leaves, which a
    // further reopen must leave as it is (or no error could be compared with it).
    let image = reopened(memory.borrow().clone());
    assert!(
        reopened(image.clone()) == image,
        "reopening the engine changes stable memory"
    );
    image
}

fn reopened(image: Vec<u8>) -> Vec<u8> {
    let memory: VectorMemory = Rc::new(RefCell::new(image));
    drop(Engine::init(memory.clone()).expect("the image reopens"));
    memory.take()
}

/// Runs the endpoint; returns whether it answered with an error, and whether an error may
/// leave a record of itself.
fn serve(engine: &mut Engine<VectorMemory>, env: &Env, call: Call) -> (bool, bool) {
    fn failed<T>(result: Result<T, icinfer_api::Error>) -> bool {
        result.is_err()
    }
    match call {
        Call::CreateModel((args,)) => (failed(engine.create_model(env, args)), false),
        Call::UploadModelChunk((args,)) => (failed(engine.upload_model_chunk(env, args)), false),
        Call::UploadTokenizerChunk((args,)) => {
            (failed(engine.upload_tokenizer_chunk(env, args)), false)
        }
        Call::FinalizeModel((id,)) => (failed(engine.finalize_model(env, &id)), true),
        Call::DeleteModel((id,)) => (failed(engine.delete_model(env, &id)), false),
        Call::ListModels(()) => (
            failed(Ok::<_, icinfer_api::Error>(engine.list_models())),
            false,
        ),
        Call::ModelInfo((id,)) => (failed(engine.model_info(&id)), false),
        Call::UploadStatus((id,)) => (failed(engine.upload_status(&id)), false),
        Call::AddAdmin((p,)) => (failed(engine.add_admin(env, p)), false),
        Call::RemoveAdmin((p,)) => (failed(engine.remove_admin(env, p)), false),
        Call::ListAdmins(()) => {
            let _ = engine.list_admins();
            (false, false)
        }
        Call::Policy(()) => (failed(engine.policy(env)), false),
        Call::SetPolicy((policy,)) => (failed(engine.set_policy(env, policy)), false),
        Call::Infer((args,)) => (failed(engine.infer(env, args)), false),
        Call::InferQuery((args,)) => (failed(engine.infer_query(env, args)), false),
        Call::InferStart((args,)) => (failed(engine.infer_start(env, args)), false),
        Call::JobStatus((id,)) => (failed(engine.job_status(env, id)), false),
        Call::JobCancel((id,)) => (failed(engine.job_cancel(env, id)), false),
        Call::SetJobStepBudget((b,)) => (failed(engine.set_job_step_budget(env, b)), false),
        Call::SetOneMessageLimit((i,)) => (failed(engine.set_one_message_limit(env, i)), false),
        Call::JobStep((id,)) => (failed(engine.job_step(env, id)), true),
        Call::FinalizeStep((id,)) => (failed(engine.finalize_step(env, &id)), true),
        Call::GenerateStart((args,)) => (failed(engine.generate_start(env, args)), false),
        Call::GenerationStatus((id,)) => (failed(engine.generation_status(env, id)), false),
        Call::LogSize(()) => {
            let _ = engine.log_size();
            (false, false)
        }
        Call::LogEntry((seq,)) => (failed(engine.log_entry(seq)), false),
        Call::LogEntries((args,)) => (failed(engine.log_entries(&args)), false),
        Call::FindLogEntries((args,)) => (failed(engine.find_log_entries(&args)), false),
        Call::LogHead(()) => {
            let _ = engine.log_head(env);
            (false, false)
        }
        Call::CodeEpochs(()) => {
            let _ = engine.code_epochs();
            (false, false)
        }
        Call::LogProof((args,)) => (failed(engine.log_proof(env, &args)), false),
        Call::LogConsistency((args,)) => (failed(engine.log_consistency(env, &args)), false),
        Call::Stats(()) => {
            let _ = engine.stats(env);
            (false, false)
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [who, endpoint, bytes @ ..] = input else {
        return;
    };
    let Ok(call) = endpoints::decode((*endpoint).into(), bytes) else {
        return;
    };
    let caller = match who % 3 {
        0 => controller(),
        1 => admin(),
        _ => Principal::anonymous(),
    };
    let image = initial_memory();
    let memory: VectorMemory = Rc::new(RefCell::new(image.to_vec()));
    let mut engine = Engine::init(memory.clone()).expect("the image reopens");
    let name = call.name();
    let (error, may_record) = serve(&mut engine, &Env::new(caller), call);
    drop(engine);
    if error && !may_record {
        assert!(
            memory.borrow().as_slice() == image,
            "{name} answered an error and changed stable memory"
        );
    }
});
