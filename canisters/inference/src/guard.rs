//! `canister_inspect_message`: refuses, before the IC accepts an ingress update, what the
//! method would refuse anyway (icinfer_core::engine::inspect); a refused call costs the
//! canister nothing. Its reason reaches the client as the reject's message. And, in the
//! test-hooks build only, a trap between an inference and its log entry.

use crate::read;
use icinfer_core::Environment;
use icinfer_ic::Ic;

#[ic_cdk::inspect_message]
fn inspect_message() {
    let method = ic_cdk::api::msg_method_name();
    let arg_bytes = ic_cdk::api::msg_arg_data().len() as u64;
    match read(|engine| engine.inspect(&Ic, &method, arg_bytes)) {
        Ok(()) => ic_cdk::api::accept_message(),
        Err(error) => ic_cdk::trap(format!("refused by canister_inspect_message: {error}")),
    }
}

/// The environment `infer` runs with: the IC, and in the test-hooks build the IC with the
/// trap of `test_trap_after_inference`.
#[cfg(not(feature = "test-hooks"))]
pub fn infer_env() -> impl Environment {
    Ic
}

#[cfg(feature = "test-hooks")]
pub fn infer_env() -> impl Environment {
    test_hooks::Hooked
}

/// Test-only (feature `test-hooks`, never shipped: tests/tests/wasm.rs checks the exports
/// of the shipped module): make `infer` trap after the model ran and before its entry is
/// appended (tests/tests/policy.rs shows that such a trap writes nothing).
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use candid::Principal;
    use icinfer_api::Error;
    use icinfer_core::Environment;
    use icinfer_ic::Ic;
    use std::cell::Cell;

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
    }

    /// Controllers: while armed, every `infer` traps after its inference ran. A trap rolls
    /// its message back, the disarming included, so it stays armed until disarmed.
    #[ic_cdk::update(hidden = true)]
    fn test_trap_after_inference(armed: bool) -> Result<(), Error> {
        let caller = ic_cdk::api::msg_caller();
        if !ic_cdk::api::is_controller(&caller) {
            return Err(Error::Unauthorized {
                caller,
                required: "a controller".into(),
            });
        }
        ARMED.set(armed);
        Ok(())
    }

    /// The IC, but `inference_ran` traps while armed.
    pub struct Hooked;

    impl Environment for Hooked {
        fn caller(&self) -> Principal {
            Ic.caller()
        }
        fn is_controller(&self, principal: &Principal) -> bool {
            Ic.is_controller(principal)
        }
        fn now_ns(&self) -> u64 {
            Ic.now_ns()
        }
        fn instructions(&self) -> u64 {
            Ic.instructions()
        }
        fn heap_bytes(&self) -> u64 {
            Ic.heap_bytes()
        }
        fn set_certified_data(&self, data: &[u8]) {
            Ic.set_certified_data(data)
        }
        fn data_certificate(&self) -> Option<Vec<u8>> {
            Ic.data_certificate()
        }
        fn inference_ran(&self) {
            if ARMED.get() {
                ic_cdk::trap(format!(
                    "test hook: trap after the inference ran ({} instructions), before its log entry",
                    Ic.instructions()
                ));
            }
        }
    }
}
