//! The job driver: steps pending jobs one message at a time, each step an explicit call of
//! the canister to itself.
//!
//! A step that traps is rolled back with everything it wrote, so the step cannot record
//! its own failure; the caller's reject callback can, and does: the job fails with the
//! reject's text and nothing is logged. (ic-cdk-timers runs timers as self-calls too, but
//! only logs a trap, which would leave the job pending for ever.) A timer starts each step
//! so that every step is its own round trip: other messages, `infer` of other callers
//! included, run between two steps of a long job, and the pending jobs take turns
//! (`Engine::next_work`). Finalize jobs (`finalize_step`, icinfer_core::engine::finalize)
//! go through the same driver, taking turns with inference jobs.

use crate::{mutate, read};
use candid::Principal;
use ic_cdk::api::{CanisterStatusCode, canister_self, canister_status, msg_caller};
use ic_cdk::call::Call;
use icinfer_api::{Error, JobId};
use icinfer_core::Work;
use icinfer_ic::Ic;
use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// Whether a step is scheduled or in flight: one at a time.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

/// Schedules the next step if a job is pending and no step is on its way.
pub fn drive() {
    if DRIVING.get() || !read(|engine| engine.has_pending_work()) {
        return;
    }
    DRIVING.set(true);
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        let work = mutate(|engine| engine.next_work());
        let stepped = match &work {
            Some(Work::Infer(id)) => {
                // A sampled generation without a caller's seed draws it before its first step.
                if read(|engine| engine.generation_needs_seed(*id)) {
                    draw_seed(*id).await;
                }
                Some(
                    Call::unbounded_wait(canister_self(), "job_step")
                        .with_arg(id)
                        .await,
                )
            }
            Some(Work::Finalize(id)) => Some(
                Call::unbounded_wait(canister_self(), "finalize_step")
                    .with_arg(id)
                    .await,
            ),
            None => None,
        };
        // A canister being stopped (for an upgrade) rejects its own calls: the job is not
        // at fault and restarts (an inference) or resumes (a finalize) after the upgrade.
        if let (Some(work), Some(Err(reject))) = (work, stepped)
            && canister_status() == CanisterStatusCode::Running
        {
            let message = reject.to_string();
            mutate(|engine| match work {
                Work::Infer(id) => engine.job_trapped(&Ic, id, message),
                Work::Finalize(id) => engine.finalize_trapped(&id, message),
            });
        }
        DRIVING.set(false);
        drive();
    });
}

/// Draws a generation's seed from the IC's randomness; a failed draw fails the job.
async fn draw_seed(id: JobId) {
    let drawn = Call::unbounded_wait(Principal::management_canister(), "raw_rand").await;
    match drawn
        .map_err(|e| e.to_string())
        .and_then(|reply| reply.candid::<Vec<u8>>().map_err(|e| e.to_string()))
    {
        Ok(seed) if seed.len() == icinfer_api::generation::SEED_BYTES => {
            mutate(|engine| engine.set_generation_seed(id, &seed))
        }
        Ok(seed) => mutate(|engine| {
            engine.job_trapped(&Ic, id, format!("raw_rand returned {} bytes", seed.len()))
        }),
        Err(reason) => mutate(|engine| engine.job_trapped(&Ic, id, format!("raw_rand: {reason}"))),
    }
}

/// The `job_step` endpoint.
pub fn step(id: JobId) -> Result<(), Error> {
    require_self()?;
    #[cfg(feature = "test-hooks")]
    test_hooks::trap_if_armed(id);
    mutate(|engine| engine.job_step(&Ic, id)).map(|_| ())
}

/// The `finalize_step` endpoint.
pub fn finalize_step(id: String) -> Result<(), Error> {
    require_self()?;
    mutate(|engine| engine.finalize_step(&Ic, &id)).map(|_| ())
}

fn require_self() -> Result<(), Error> {
    let caller = msg_caller();
    if caller != canister_self() {
        return Err(Error::Unauthorized {
            caller,
            required: "the canister itself (steps are the job driver's self-calls)".into(),
        });
    }
    Ok(())
}

/// Test-only (feature `test-hooks`, never shipped: tests/tests/wasm.rs checks the exports
/// of the shipped module): make a job's step trap once the job has run a number of nodes.
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use crate::read;
    use icinfer_api::{Error, JobId};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        static TRAP_AFTER: RefCell<BTreeMap<JobId, u64>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// Controllers: job `id`'s first step after `nodes` nodes traps. Hidden from the Candid
    /// interface: a workspace-wide test build unifies this feature into the `inference` crate,
    /// whose interface test must still see exactly candid/inference.did.
    #[ic_cdk::update(hidden = true)]
    fn test_trap_job_after(id: JobId, nodes: u64) -> Result<(), Error> {
        let caller = ic_cdk::api::msg_caller();
        if !ic_cdk::api::is_controller(&caller) {
            return Err(Error::Unauthorized {
                caller,
                required: "a controller".into(),
            });
        }
        TRAP_AFTER.with_borrow_mut(|armed| armed.insert(id, nodes));
        Ok(())
    }

    pub fn trap_if_armed(id: JobId) {
        let Some(nodes) = TRAP_AFTER.with_borrow(|armed| armed.get(&id).copied()) else {
            return;
        };
        let done = read(|engine| engine.job_nodes_done(id)).unwrap_or(0);
        if done >= nodes {
            ic_cdk::trap(format!("test hook: job {id} traps after {done} nodes"));
        }
    }
}
