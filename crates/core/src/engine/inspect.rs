//! `canister_inspect_message`: the IC runs it on one replica before it accepts an ingress
//! update, and a refusal there costs the canister nothing (no cycles, no block space).
//! It refuses what the methods would refuse anyway and cheaply: calls from callers a method
//! does not serve, arguments too large for their method, and methods the canister does not
//! have. Each check is the method's own predicate, called again; the methods keep making it,
//! because inspection runs on one replica only and is skipped for inter-canister calls.

use super::{Engine, Environment};
use crate::limits::{
    ARG_FRAMING_BYTES, CHUNK_BYTES, MAX_INPUT_BYTES, MAX_PROMPT_BYTES, MAX_SMALL_ARG_BYTES,
};
use crate::store::limit;
use ic_stable_structures::Memory;
use icinfer_api::Error;

/// Who a method serves, as its own check says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callers {
    /// `require_controller`.
    Controllers,
    /// `require_manager`: controllers and admins.
    Managers,
    /// The inference policy's admission (crate::policy).
    Inference,
    /// The canister itself (the job driver's self-calls): never an ingress message.
    Canister,
    /// Everyone; the method checks finer (e.g. a job's caller) itself.
    Anyone,
}

const SMALL: u64 = MAX_SMALL_ARG_BYTES;
const CHUNK: u64 = CHUNK_BYTES + ARG_FRAMING_BYTES;
const TENSORS: u64 = MAX_INPUT_BYTES + ARG_FRAMING_BYTES;
const PROMPT: u64 = MAX_PROMPT_BYTES as u64 + ARG_FRAMING_BYTES;

/// Every method of candid/inference.did (a test checks the two agree), with who it serves
/// and its largest argument. Queries are listed too: a query called as an update runs
/// replicated, and is inspected like one.
pub const METHODS: [(&str, Callers, u64); 36] = [
    ("create_model", Callers::Managers, SMALL),
    ("upload_model_chunk", Callers::Managers, CHUNK),
    ("upload_tokenizer_chunk", Callers::Managers, CHUNK),
    ("finalize_model", Callers::Managers, SMALL),
    ("delete_model", Callers::Managers, SMALL),
    ("list_models", Callers::Anyone, SMALL),
    ("model_info", Callers::Anyone, SMALL),
    ("upload_status", Callers::Anyone, SMALL),
    ("add_admin", Callers::Controllers, SMALL),
    ("remove_admin", Callers::Controllers, SMALL),
    ("list_admins", Callers::Anyone, SMALL),
    ("policy", Callers::Controllers, SMALL),
    ("set_policy", Callers::Controllers, SMALL),
    ("infer", Callers::Inference, TENSORS),
    ("infer_query", Callers::Anyone, TENSORS),
    ("infer_start", Callers::Inference, TENSORS),
    ("job_status", Callers::Anyone, SMALL),
    ("job_cancel", Callers::Anyone, SMALL),
    ("set_job_step_budget", Callers::Controllers, SMALL),
    ("set_one_message_limit", Callers::Controllers, SMALL),
    ("job_step", Callers::Canister, SMALL),
    ("finalize_step", Callers::Canister, SMALL),
    ("generate_start", Callers::Inference, PROMPT),
    ("generation_status", Callers::Anyone, SMALL),
    ("log_size", Callers::Anyone, SMALL),
    ("log_entry", Callers::Anyone, SMALL),
    ("log_entries", Callers::Anyone, SMALL),
    ("find_log_entries", Callers::Anyone, SMALL),
    ("log_head", Callers::Anyone, SMALL),
    ("code_epochs", Callers::Anyone, SMALL),
    ("log_proof", Callers::Anyone, SMALL),
    ("log_consistency", Callers::Anyone, SMALL),
    ("stats", Callers::Anyone, SMALL),
    // Interface only (ic-cdk's export_candid and the candid:service metadata).
    ("__get_candid_interface_tmp_hack", Callers::Anyone, SMALL),
    // The test-hooks build's hidden endpoints: they check for a controller themselves.
    ("test_trap_job_after", Callers::Controllers, SMALL),
    ("test_trap_after_inference", Callers::Controllers, SMALL),
];

impl<M: Memory> Engine<M> {
    /// Whether to accept an ingress call of `method` with an argument of `arg_bytes`: the
    /// verdict of `canister_inspect_message`. An `Err` is what the method would answer.
    pub fn inspect(
        &self,
        env: &impl Environment,
        method: &str,
        arg_bytes: u64,
    ) -> Result<(), Error> {
        let Some(&(_, callers, max_arg_bytes)) = METHODS.iter().find(|(m, ..)| *m == method) else {
            return Err(Error::NotFound {
                kind: "method".into(),
                id: method.into(),
            });
        };
        limit(
            &format!("argument bytes of {method}"),
            max_arg_bytes,
            arg_bytes,
        )?;
        match callers {
            Callers::Controllers => self.require_controller(env),
            Callers::Managers => self.require_manager(env),
            Callers::Inference => self.admit_inference(env).map(drop),
            Callers::Canister => Err(Error::Unauthorized {
                caller: env.caller(),
                required: "the canister itself (steps are the job driver's self-calls)".into(),
            }),
            Callers::Anyone => Ok(()),
        }
    }
}
