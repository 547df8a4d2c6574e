//! The IC as the engine's [`Environment`]: the one implementation over ic-cdk's system API,
//! shared by the inference canister and the log-bench fixture.

use candid::Principal;
use icinfer_core::Environment;

/// The system API of the message being executed.
pub struct Ic;

impl Environment for Ic {
    fn caller(&self) -> Principal {
        ic_cdk::api::msg_caller()
    }
    fn is_controller(&self, principal: &Principal) -> bool {
        ic_cdk::api::is_controller(principal)
    }
    fn now_ns(&self) -> u64 {
        ic_cdk::api::time()
    }
    fn instructions(&self) -> u64 {
        ic_cdk::api::performance_counter(0)
    }
    fn heap_bytes(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        {
            core::arch::wasm32::memory_size(0) as u64 * 65536
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            0
        }
    }
    fn set_certified_data(&self, data: &[u8]) {
        ic_cdk::api::certified_data_set(data)
    }
    fn data_certificate(&self) -> Option<Vec<u8>> {
        ic_cdk::api::data_certificate()
    }
}
