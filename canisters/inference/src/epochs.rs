//! Code epochs (icinfer_core::epochs): `init` and `post_upgrade` begin one, and a timer
//! then asks the management canister's `canister_info` about the canister itself and logs
//! the answer as the epoch's entry.
//!
//! The retry is armed before the call, in the message that makes it, so it survives
//! whatever happens after: a reject (counted as a failed attempt), a trap in the callback
//! (rolled back, not counted), or a reply for an epoch that is no longer pending (an
//! upgrade came first; its own epoch has its own timer). Entries logged before the epoch's
//! entry are the epoch's all the same: attribution goes by log index.

use crate::mutate;
use candid::{CandidType, Deserialize, Principal, Reserved};
use ic_cdk::api::canister_self;
use ic_cdk::call::Call;
use icinfer_api::DeploymentMode;
use icinfer_core::engine::{CodeHistory, Deployment};
use icinfer_ic::Ic;
use std::cell::Cell;
use std::time::Duration;

/// How long a failed self-call waits before the next.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// The recent changes asked for: the most the IC keeps.
const REQUESTED_CHANGES: u64 = 20;

thread_local! {
    static RETRY: Cell<Option<ic_cdk_timers::TimerId>> = const { Cell::new(None) };
}

#[derive(CandidType)]
struct CanisterInfoArgs {
    canister_id: Principal,
    num_requested_changes: Option<u64>,
}

/// `canister_info`'s reply, read as far as the epoch needs (the interface specification,
/// "IC method canister_info"); the arms not needed are `reserved`, so any value decodes.
#[derive(CandidType, Deserialize)]
struct CanisterInfoResult {
    total_num_changes: u64,
    recent_changes: Vec<Change>,
    controllers: Vec<Principal>,
}

#[derive(CandidType, Deserialize)]
struct Change {
    timestamp_nanos: u64,
    canister_version: u64,
    details: ChangeDetails,
}

#[derive(CandidType, Deserialize)]
enum ChangeDetails {
    #[serde(rename = "code_deployment")]
    CodeDeployment {
        mode: DeploymentMode,
        module_hash: Vec<u8>,
    },
    #[serde(rename = "creation")]
    Creation(Reserved),
    #[serde(rename = "code_uninstall")]
    CodeUninstall,
    #[serde(rename = "controllers_change")]
    ControllersChange(Reserved),
    #[serde(rename = "load_snapshot")]
    LoadSnapshot(Reserved),
    #[serde(rename = "rename_canister")]
    RenameCanister(Reserved),
}

impl CanisterInfoResult {
    fn history(self) -> CodeHistory {
        let latest_deployment = self
            .recent_changes
            .iter()
            .rev()
            .find_map(|c| match &c.details {
                ChangeDetails::CodeDeployment { mode, module_hash } => Some(Deployment {
                    mode: *mode,
                    module_hash: module_hash.as_slice().try_into().ok()?,
                    canister_version: c.canister_version,
                    timestamp_ns: c.timestamp_nanos,
                }),
                _ => None,
            });
        CodeHistory {
            total_num_changes: self.total_num_changes,
            latest_deployment,
            controllers: self.controllers,
        }
    }
}

/// Begins this code's epoch (in `init` and `post_upgrade`) and schedules its self-call.
pub fn begin() {
    mutate(|engine| engine.begin_code_epoch(&Ic, ic_cdk::api::canister_version()));
    schedule(Duration::ZERO);
}

fn schedule(after: Duration) {
    ic_cdk_timers::set_timer(after, record_pending());
}

async fn record_pending() {
    let Some(epoch) = mutate(|engine| engine.pending_code_epoch()) else {
        return;
    };
    // Armed before the call: committed with this message whatever the callback does.
    let retry = ic_cdk_timers::set_timer(RETRY_AFTER, record_pending());
    if let Some(old) = RETRY.replace(Some(retry)) {
        ic_cdk_timers::clear_timer(old);
    }
    let args = CanisterInfoArgs {
        canister_id: canister_self(),
        num_requested_changes: Some(REQUESTED_CHANGES),
    };
    // Unbounded: the IC guarantees a response, so the callback always runs (or traps).
    let reply = Call::unbounded_wait(Principal::management_canister(), "canister_info")
        .with_arg(&args)
        .await;
    let history = match reply.map(|r| r.candid::<CanisterInfoResult>()) {
        Ok(Ok(info)) => info.history(),
        _ => {
            mutate(|engine| engine.code_epoch_failed(epoch));
            return;
        }
    };
    if mutate(|engine| engine.record_code_epoch(&Ic, canister_self(), epoch, history)).is_ok()
        && let Some(retry) = RETRY.take()
    {
        ic_cdk_timers::clear_timer(retry);
    }
}
