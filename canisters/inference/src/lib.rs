//! The inference canister: Candid endpoints over `icinfer_core::Engine`.
//!
//! Each endpoint hands its argument to the engine with the IC as its environment and
//! returns the result. ic-cdk decodes every argument with a skipping quota; none of the
//! argument types holds a zero-sized element type, so skipping is the only decoding work
//! a small payload could inflate, and the quota bounds it. There is no `pre_upgrade`: all durable state
//! lives in stable structures; `post_upgrade` reopens them, refusing a layout it does not
//! know, and a timer then rebuilds the heap cache of optimised plans one model per message.
//! `init` and `post_upgrade` begin a code epoch (epochs.rs) and set the certified data to
//! the log's head, which every `infer` then updates in the same message as its log entry.

mod epochs;
mod guard;
mod jobs;

use candid::{CandidType, Principal};
use ic_cdk::{init, post_upgrade, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icinfer_api::{
    CodeEpochStatus, CreateModelArgs, Error, FindLogArgs, FindLogResult, GenerateArgs,
    GenerationStatus, InferArgs, InferResult, InferencePolicy, JobId, JobStatus, LogConsistency,
    LogConsistencyArgs, LogEntry, LogHead, LogPage, LogPageArgs, LogProof, LogProofArgs, ModelInfo,
    QueryInferResult, Stats, UploadChunkArgs, UploadProgress, UploadStatus,
};
use icinfer_core::Engine;
use icinfer_ic::Ic;
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    static ENGINE: RefCell<Option<Engine<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

/// Replies with `result` and returns it. Every endpoint replies through here, with candid's
/// encoding but its header built once per type and heap (icinfer_api::reply): candid rebuilds
/// it on every call, about 0.6 M instructions a message. The endpoints declare
/// `manual_reply` and still return their result, which is what the interface export reads.
fn replied<T: CandidType + 'static>(result: T) -> T {
    let bytes = icinfer_api::reply::encode_one(&result).expect("the canister's reply types encode");
    ic_cdk::api::msg_reply(bytes);
    result
}

fn read<R>(f: impl FnOnce(&Engine<DefaultMemoryImpl>) -> R) -> R {
    ENGINE.with_borrow(|engine| f(engine.as_ref().expect("the engine is set up in init")))
}

fn mutate<R>(f: impl FnOnce(&mut Engine<DefaultMemoryImpl>) -> R) -> R {
    ENGINE.with_borrow_mut(|engine| f(engine.as_mut().expect("the engine is set up in init")))
}

fn open_engine() {
    run_constructors();
    let engine = Engine::init(DefaultMemoryImpl::default()).unwrap_or_else(|e| {
        ic_cdk::trap(format!(
            "refusing to start: {e}. Stable memory is left untouched."
        ))
    });
    // The head is re-derived from the Merkle tree, which survives upgrades, rather than
    // trusted to whatever certified data the previous code left.
    engine.certify_head(&Ic);
    ENGINE.set(Some(engine));
}

/// tract registers its kernels (and crates/kernels ours) through `inventory`, whose entries
/// are Wasm constructors. Unless the module calls `__wasm_call_ctors` itself, wasm-ld calls
/// it at the top of every exported function, every message paying to re-register. The heap
/// persists between messages, so once per fresh heap, at install and after an upgrade, is
/// enough; inventory ignores a repeated registration.
fn run_constructors() {
    #[cfg(target_family = "wasm")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        // SAFETY: runs the module's static constructors, which only register inventory
        // entries and are idempotent.
        unsafe { __wasm_call_ctors() }
    }
}

#[init]
fn init() {
    open_engine();
    epochs::begin();
}

#[post_upgrade]
fn post_upgrade() {
    open_engine();
    epochs::begin();
    schedule_warm_up();
    // Pending jobs start again from their first node (icinfer_core::engine::jobs).
    jobs::drive();
}

/// After an upgrade the plan cache is empty. Queries cannot keep a plan they load, so each
/// would load its model again; a timer loads one model per message instead.
fn schedule_warm_up() {
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        if mutate(|engine| engine.warm_next()).is_some() {
            schedule_warm_up();
        }
    });
}

// --- models --------------------------------------------------------------------------------

#[update(manual_reply = true)]
fn create_model(args: CreateModelArgs) -> Result<ModelInfo, Error> {
    replied(mutate(|engine| engine.create_model(&Ic, args)))
}

#[update(manual_reply = true)]
fn upload_model_chunk(args: UploadChunkArgs) -> Result<UploadProgress, Error> {
    replied(mutate(|engine| engine.upload_model_chunk(&Ic, args)))
}

/// A chunk of a language model's tokenizer.json, chunked as the model is.
#[update(manual_reply = true)]
fn upload_tokenizer_chunk(args: UploadChunkArgs) -> Result<UploadProgress, Error> {
    replied(mutate(|engine| engine.upload_tokenizer_chunk(&Ic, args)))
}

/// Ready at once when the model fits one message; otherwise `finalizing`, and the canister
/// finishes the job in later messages (`upload_status` follows it).
#[update(manual_reply = true)]
fn finalize_model(id: String) -> Result<ModelInfo, Error> {
    let finalized = mutate(|engine| engine.finalize_model(&Ic, &id));
    jobs::drive();
    replied(finalized)
}

#[update(manual_reply = true)]
fn delete_model(id: String) -> Result<(), Error> {
    replied(mutate(|engine| engine.delete_model(&Ic, &id)))
}

#[query(manual_reply = true)]
fn list_models() -> Vec<ModelInfo> {
    replied(read(|engine| engine.list_models()))
}

#[query(manual_reply = true)]
fn model_info(id: String) -> Result<ModelInfo, Error> {
    replied(read(|engine| engine.model_info(&id)))
}

#[query(manual_reply = true)]
fn upload_status(id: String) -> Result<UploadStatus, Error> {
    replied(read(|engine| engine.upload_status(&id)))
}

#[update(manual_reply = true)]
fn add_admin(admin: Principal) -> Result<(), Error> {
    replied(mutate(|engine| engine.add_admin(&Ic, admin)))
}

#[update(manual_reply = true)]
fn remove_admin(admin: Principal) -> Result<(), Error> {
    replied(mutate(|engine| engine.remove_admin(&Ic, admin)))
}

#[query(manual_reply = true)]
fn list_admins() -> Vec<Principal> {
    replied(read(|engine| engine.list_admins()))
}

/// Controllers: who may run inferences, and the quotas (icinfer_core::policy).
#[query(manual_reply = true)]
fn policy() -> Result<InferencePolicy, Error> {
    replied(read(|engine| engine.policy(&Ic)))
}

#[update(manual_reply = true)]
fn set_policy(policy: InferencePolicy) -> Result<(), Error> {
    replied(mutate(|engine| engine.set_policy(&Ic, policy)))
}

// --- inference -----------------------------------------------------------------------------

/// Runs the model and appends the receipt to the provenance log, in one message.
#[update(manual_reply = true)]
fn infer(args: InferArgs) -> Result<InferResult, Error> {
    replied(mutate(|engine| engine.infer(&guard::infer_env(), args)))
}

/// Runs the model on one replica, unlogged. The answer is not certified: use `infer`
/// when the result must be trusted or proven.
#[query(manual_reply = true)]
fn infer_query(args: InferArgs) -> Result<QueryInferResult, Error> {
    replied(mutate(|engine| engine.infer_query(&Ic, args)))
}

// --- inference jobs (docs/performance.md, "Jobs") -------------------------------------------

/// Checks the arguments as `infer` does and starts the inference as a job, run node by node
/// in later messages; returns its id at once. `job_status` follows it.
#[update(manual_reply = true)]
fn infer_start(args: InferArgs) -> Result<JobId, Error> {
    let started = mutate(|engine| engine.infer_start(&Ic, args));
    if started.is_ok() {
        jobs::drive();
    }
    replied(started)
}

/// Progress, result or failure of a job: for its caller and controllers.
#[query(manual_reply = true)]
fn job_status(id: JobId) -> Result<JobStatus, Error> {
    replied(read(|engine| engine.job_status(&Ic, id)))
}

/// Cancels a pending job: its caller or a controller.
#[update(manual_reply = true)]
fn job_cancel(id: JobId) -> Result<(), Error> {
    replied(mutate(|engine| engine.job_cancel(&Ic, id)))
}

/// Controllers: the instructions a job's step message may use before it stops.
#[update(manual_reply = true)]
fn set_job_step_budget(budget: u64) -> Result<(), Error> {
    replied(mutate(|engine| engine.set_job_step_budget(&Ic, budget)))
}

/// Controllers: a model whose inference a job measured above this many instructions gets
/// `UseJob` from `infer`.
#[update(manual_reply = true)]
fn set_one_message_limit(instructions: u64) -> Result<(), Error> {
    replied(mutate(|engine| {
        engine.set_one_message_limit(&Ic, instructions)
    }))
}

/// One step of a job. Called by the canister itself only (the job driver's self-call).
#[update(manual_reply = true)]
fn job_step(id: JobId) -> Result<(), Error> {
    replied(jobs::step(id))
}

/// One step of a finalize job: the canister itself only.
#[update(manual_reply = true)]
fn finalize_step(id: String) -> Result<(), Error> {
    replied(jobs::finalize_step(id))
}

// --- text generation (docs/generation.md) ----------------------------------------------------

/// Checks the arguments, tokenizes the prompt and starts the generation as a job (its id is
/// a job id: job_cancel cancels it); generation_status follows it.
#[update(manual_reply = true)]
fn generate_start(args: GenerateArgs) -> Result<JobId, Error> {
    let started = mutate(|engine| engine.generate_start(&Ic, args));
    if started.is_ok() {
        jobs::drive();
    }
    replied(started)
}

/// The tokens and text so far, then the receipt: for the generation's caller and controllers.
#[query(manual_reply = true)]
fn generation_status(id: JobId) -> Result<GenerationStatus, Error> {
    replied(read(|engine| engine.generation_status(&Ic, id)))
}

// --- provenance ----------------------------------------------------------------------------

#[query(manual_reply = true)]
fn log_size() -> u64 {
    replied(read(|engine| engine.log_size()))
}

#[query(manual_reply = true)]
fn log_entry(seq: u64) -> Result<LogEntry, Error> {
    replied(read(|engine| engine.log_entry(seq)))
}

#[query(manual_reply = true)]
fn log_entries(args: LogPageArgs) -> Result<LogPage, Error> {
    replied(read(|engine| engine.log_entries(&args)))
}

#[query(manual_reply = true)]
fn find_log_entries(args: FindLogArgs) -> Result<FindLogResult, Error> {
    replied(read(|engine| engine.find_log_entries(&args)))
}

/// The log's size and Merkle root, certified: the certificate is present in query calls.
#[query(manual_reply = true)]
fn log_head() -> LogHead {
    replied(read(|engine| engine.log_head(&Ic)))
}

#[query(manual_reply = true)]
fn code_epochs() -> Vec<CodeEpochStatus> {
    replied(read(|engine| engine.code_epochs()))
}

/// An entry with its inclusion proof, linked to the certified head.
#[query(manual_reply = true)]
fn log_proof(args: LogProofArgs) -> Result<LogProof, Error> {
    replied(read(|engine| engine.log_proof(&Ic, &args)))
}

/// Proof that the log at `from_size` is a prefix of the log at `to_size`.
#[query(manual_reply = true)]
fn log_consistency(args: LogConsistencyArgs) -> Result<LogConsistency, Error> {
    replied(read(|engine| engine.log_consistency(&Ic, &args)))
}

#[query(manual_reply = true)]
fn stats() -> Stats {
    replied(read(|engine| engine.stats(&Ic)))
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    use candid_parser::utils::{CandidSource, service_equal};

    #[test]
    fn the_code_serves_exactly_the_checked_in_interface() {
        let did = include_str!("../../../candid/inference.did");
        service_equal(
            CandidSource::Text(did),
            CandidSource::Text(&super::__export_service()),
        )
        .unwrap_or_else(|e| {
            panic!(
                "candid/inference.did and the code differ: {e}\nThe code's interface:\n{}",
                super::__export_service()
            )
        });
    }

    /// canister_inspect_message knows every method the canister serves, and no other
    /// (besides the interface hack and the test-hooks build's hidden endpoints).
    #[test]
    fn inspect_message_knows_exactly_the_served_methods() {
        use candid_parser::utils::CandidSource;
        let (_, service) = CandidSource::Text(&super::__export_service())
            .load()
            .expect("the interface parses");
        let service = service.expect("a service");
        let served: std::collections::BTreeSet<String> = match service.as_ref() {
            candid::types::TypeInner::Class(_, t) => match t.as_ref() {
                candid::types::TypeInner::Service(methods) => {
                    methods.iter().map(|(name, _)| name.clone()).collect()
                }
                other => panic!("not a service: {other:?}"),
            },
            candid::types::TypeInner::Service(methods) => {
                methods.iter().map(|(name, _)| name.clone()).collect()
            }
            other => panic!("not a service: {other:?}"),
        };
        let extra = [
            "__get_candid_interface_tmp_hack",
            "test_trap_job_after",
            "test_trap_after_inference",
        ];
        let inspected: std::collections::BTreeSet<String> = icinfer_core::engine::METHODS
            .iter()
            .map(|(name, ..)| name.to_string())
            .filter(|name| !extra.contains(&name.as_str()))
            .collect();
        assert_eq!(inspected, served);
    }
}

/// Instructions per tract node since the last call, tab-separated (scripts/profile.sh).
#[cfg(feature = "profile")]
#[query(manual_reply = true)]
fn profile_dump() -> String {
    replied(icinfer_core::runtime::profile::dump())
}
