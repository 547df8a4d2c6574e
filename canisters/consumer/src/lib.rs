//! An example of how another canister uses icinfer: it calls `infer` on the inference
//! canister and keeps every receipt it gets, in stable memory. For a model too large for
//! one message it starts a job (`infer_start`) and collects the job's receipt later
//! (`collect_job`, which asks `job_status`; the job's caller may, and that is this canister).
//! A text generation is a job too: `generate_start` starts it, `collect_generation` follows
//! it (`generation_status`, which only the generation's caller may read: this canister) and
//! keeps its receipt, which commits to the prompt, the settings, the seed and the text.
//!
//! The calls are real inter-canister calls, so the usual rule applies: state is committed
//! at the `await`. Nothing is written before it, and the receipt is written after it only
//! if the inference canister answered `Ok` (for a job: done); a rejected call or an `Err`
//! leaves the consumer as it was. A job's receipt is kept once, however often it is
//! collected.

use candid::{CandidType, Deserialize, Principal};
use ic_cdk::call::{Call, CallFailed};
use ic_cdk::{init, query, update};
use ic_stable_structures::StableBTreeMap;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{Cell, DefaultMemoryImpl, StableLog, Storable};
use icinfer_api::{
    GenerateArgs, GenerationState, GenerationStatus, InferArgs, InferResult, JobId, JobState,
    JobStatus, LogEntry,
};
use std::borrow::Cow;
use std::cell::RefCell;

type Memory = VirtualMemory<DefaultMemoryImpl>;

const INFERENCE_CANISTER: MemoryId = MemoryId::new(0);
const RECEIPTS_INDEX: MemoryId = MemoryId::new(1);
const RECEIPTS_DATA: MemoryId = MemoryId::new(2);
/// The jobs (inferences and generations: one id space) whose receipt is kept, so that
/// collecting one twice keeps it once.
const COLLECTED_JOBS: MemoryId = MemoryId::new(3);

/// Largest page `receipts` returns.
const MAX_PAGE: u64 = 100;

#[derive(CandidType, Deserialize)]
struct InitArgs {
    inference: Principal,
}

#[derive(CandidType, Deserialize, Debug)]
enum ConsumerError {
    /// The inference canister answered with a typed error.
    Inference(icinfer_api::Error),
    /// The call did not reach an answer (rejected, callee trapped or missing).
    CallFailed { code: u32, message: String },
}

/// A receipt as the consumer stores it: the Candid encoding of the inference canister's
/// log entry.
struct Receipt(LogEntry);

impl Storable for Receipt {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(candid::encode_one(&self.0).expect("a log entry always encodes"))
    }
    fn into_bytes(self) -> Vec<u8> {
        candid::encode_one(&self.0).expect("a log entry always encodes")
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Receipt(candid::decode_one(&bytes).expect("stored receipts decode"))
    }
    const BOUND: Bound = Bound::Unbounded;
}

struct State {
    inference: Cell<Principal, Memory>,
    receipts: StableLog<Receipt, Memory, Memory>,
    collected_jobs: StableBTreeMap<JobId, (), Memory>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn open_state(inference: Option<Principal>) {
    let manager = MemoryManager::init(DefaultMemoryImpl::default());
    let mut cell = Cell::init(manager.get(INFERENCE_CANISTER), Principal::anonymous());
    if let Some(inference) = inference {
        cell.set(inference);
    }
    let state = State {
        inference: cell,
        receipts: StableLog::init(manager.get(RECEIPTS_INDEX), manager.get(RECEIPTS_DATA)),
        collected_jobs: StableBTreeMap::init(manager.get(COLLECTED_JOBS)),
    };
    STATE.set(Some(state));
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with_borrow_mut(|state| f(state.as_mut().expect("state is opened in init")))
}

#[init]
fn init(args: InitArgs) {
    open_state(Some(args.inference));
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    open_state(None);
}

/// Calls `method` on the inference canister; its `Err` becomes `ConsumerError::Inference`.
async fn call_inference<A, R>(method: &str, arg: &A) -> Result<R, ConsumerError>
where
    A: CandidType,
    R: CandidType + for<'de> Deserialize<'de>,
{
    let inference = with_state(|state| *state.inference.get());
    let response = Call::unbounded_wait(inference, method)
        .with_arg(arg)
        .await
        .map_err(|e| match e {
            CallFailed::CallRejected(rejected) => ConsumerError::CallFailed {
                code: rejected.raw_reject_code(),
                message: rejected.reject_message().to_string(),
            },
            other => ConsumerError::CallFailed {
                code: 0,
                message: other.to_string(),
            },
        })?;
    let answer: Result<R, icinfer_api::Error> =
        response.candid().map_err(|e| ConsumerError::CallFailed {
            code: 0,
            message: format!("undecodable reply: {e}"),
        })?;
    answer.map_err(ConsumerError::Inference)
}

fn keep(receipt: &LogEntry) {
    with_state(|state| {
        state
            .receipts
            .append(&Receipt(receipt.clone()))
            .expect("stable memory full")
    });
}

/// Runs an inference on the inference canister and keeps its receipt.
#[update]
async fn infer(args: InferArgs) -> Result<InferResult, ConsumerError> {
    let result: InferResult = call_inference("infer", &args).await?;
    keep(&result.receipt);
    Ok(result)
}

/// Starts the inference as a job on the inference canister; returns the job's id, for
/// `collect_job`.
#[update]
async fn infer_start(args: InferArgs) -> Result<JobId, ConsumerError> {
    call_inference("infer_start", &args).await
}

/// The job's status; once it is done, its receipt is kept (once, however often this is
/// called).
#[update]
async fn collect_job(id: JobId) -> Result<JobStatus, ConsumerError> {
    let status: JobStatus = call_inference("job_status", &id).await?;
    if let JobState::Done(result) = &status.state {
        keep_once(id, &result.receipt);
    }
    Ok(status)
}

fn keep_once(id: JobId, receipt: &LogEntry) {
    let new = with_state(|state| state.collected_jobs.insert(id, ()).is_none());
    if new {
        keep(receipt);
    }
}

/// Starts a text generation on the inference canister; returns its job id, for
/// `collect_generation`.
#[update]
async fn generate_start(args: GenerateArgs) -> Result<JobId, ConsumerError> {
    call_inference("generate_start", &args).await
}

/// The generation's tokens and text so far; once it is done, its receipt is kept (once,
/// however often this is called).
#[update]
async fn collect_generation(id: JobId) -> Result<GenerationStatus, ConsumerError> {
    let status: GenerationStatus = call_inference("generation_status", &id).await?;
    if let GenerationState::Done(receipt) = &status.state {
        keep_once(id, receipt);
    }
    Ok(status)
}

/// The receipts kept so far, oldest first, at most 100 per call.
#[query]
fn receipts(start: u64, limit: u64) -> Vec<LogEntry> {
    with_state(|state| {
        let end = start
            .saturating_add(limit.min(MAX_PAGE))
            .min(state.receipts.len());
        (start..end)
            .filter_map(|i| state.receipts.get(i).map(|r| r.0))
            .collect()
    })
}

#[query]
fn inference_canister() -> Principal {
    with_state(|state| *state.inference.get())
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    use candid_parser::utils::{CandidSource, service_equal};

    /// icp-cli (and other tools) read one file: no `import`.
    #[test]
    fn the_interface_file_is_self_contained() {
        let did =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/consumer.did");
        let text = std::fs::read_to_string(did).unwrap();
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("import")),
            "candid/consumer.did imports another file"
        );
    }

    #[test]
    fn the_code_serves_exactly_the_checked_in_interface() {
        let did =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../candid/consumer.did");
        service_equal(
            CandidSource::File(&did),
            CandidSource::Text(&super::__export_service()),
        )
        .unwrap_or_else(|e| {
            panic!(
                "candid/consumer.did and the code differ: {e}\nThe code's interface:\n{}",
                super::__export_service()
            )
        });
    }
}
