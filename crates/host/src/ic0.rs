//! The `ic0` System API surface: names and wasm32 signatures from the IC interface
//! specification, and which of them this host provides.

/// A value type in a System API signature (wasm32: addresses and sizes are `I32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// i32
    I32,
    /// i64
    I64,
}

use Ty::{I32, I64};

/// One System API function.
#[derive(Debug)]
pub struct Ic0Fn {
    /// Name in the `ic0` import module.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [Ty],
    /// Result types.
    pub results: &'static [Ty],
    /// Whether icinfer-host implements it (a module importing one it does not is refused at
    /// installation with an error naming the import).
    pub provided: bool,
}

macro_rules! f {
    ($name:literal, [$($p:ident),*], [$($r:ident),*]) => {
        Ic0Fn { name: $name, params: &[$($p),*], results: &[$($r),*], provided: true }
    };
    ($name:literal, [$($p:ident),*], [$($r:ident),*], missing) => {
        Ic0Fn { name: $name, params: &[$($p),*], results: &[$($r),*], provided: false }
    };
}

/// Every `ic0` function of the current interface specification (wasm32 form).
pub static IC0_FUNCTIONS: &[Ic0Fn] = &[
    f!("msg_arg_data_size", [], [I32]),
    f!("msg_arg_data_copy", [I32, I32, I32], []),
    f!("msg_caller_size", [], [I32]),
    f!("msg_caller_copy", [I32, I32, I32], []),
    f!("msg_caller_info_data_size", [], [I32]),
    f!("msg_caller_info_data_copy", [I32, I32, I32], []),
    f!("msg_caller_info_signer_size", [], [I32]),
    f!("msg_caller_info_signer_copy", [I32, I32, I32], []),
    f!("msg_reject_code", [], [I32]),
    f!("msg_reject_msg_size", [], [I32]),
    f!("msg_reject_msg_copy", [I32, I32, I32], []),
    f!("msg_deadline", [], [I64]),
    f!("msg_reply_data_append", [I32, I32], []),
    f!("msg_reply", [], []),
    f!("msg_reject", [I32, I32], []),
    f!("msg_cycles_available", [], [I64]),
    f!("msg_cycles_available128", [I32], []),
    f!("msg_cycles_refunded", [], [I64]),
    f!("msg_cycles_refunded128", [I32], []),
    f!("msg_cycles_accept", [I64], [I64]),
    f!("msg_cycles_accept128", [I64, I64, I32], []),
    f!("cycles_burn128", [I64, I64, I32], []),
    f!("canister_self_size", [], [I32]),
    f!("canister_self_copy", [I32, I32, I32], []),
    f!("canister_cycle_balance", [], [I64]),
    f!("canister_cycle_balance128", [I32], []),
    f!("canister_liquid_cycle_balance128", [I32], []),
    f!("canister_status", [], [I32]),
    f!("canister_version", [], [I64]),
    f!("subnet_self_size", [], [I32]),
    f!("subnet_self_copy", [I32, I32, I32], []),
    f!("subnet_self_node_count", [], [I32]),
    f!("msg_method_name_size", [], [I32]),
    f!("msg_method_name_copy", [I32, I32, I32], []),
    f!("accept_message", [], []),
    f!("call_new", [I32, I32, I32, I32, I32, I32, I32, I32], []),
    f!("call_on_cleanup", [I32, I32], []),
    f!("call_data_append", [I32, I32], []),
    f!("call_with_best_effort_response", [I32], []),
    f!("call_cycles_add", [I64], []),
    f!("call_cycles_add128", [I64, I64], []),
    f!("call_perform", [], [I32]),
    f!("stable_size", [], [I32]),
    f!("stable_grow", [I32], [I32]),
    f!("stable_write", [I32, I32, I32], []),
    f!("stable_read", [I32, I32, I32], []),
    f!("stable64_size", [], [I64]),
    f!("stable64_grow", [I64], [I64]),
    f!("stable64_write", [I64, I64, I64], []),
    f!("stable64_read", [I64, I64, I64], []),
    f!("root_key_size", [], [I32]),
    f!("root_key_copy", [I32, I32, I32], []),
    f!("certified_data_set", [I32, I32], []),
    f!("data_certificate_present", [], [I32]),
    f!("data_certificate_size", [], [I32]),
    f!("data_certificate_copy", [I32, I32, I32], []),
    f!("time", [], [I64]),
    f!("global_timer_set", [I64], [I64]),
    f!("performance_counter", [I32], [I64]),
    f!("is_controller", [I32, I32], [I32]),
    f!("in_replicated_execution", [], [I32]),
    f!("cost_call", [I64, I64, I32], []),
    f!("cost_create_canister", [I32], []),
    f!("cost_http_request", [I64, I64, I32], []),
    f!("cost_http_request_v2", [I32, I32, I32], [], missing),
    f!("cost_sign_with_ecdsa", [I32, I32, I32, I32], [I32], missing),
    f!(
        "cost_sign_with_schnorr",
        [I32, I32, I32, I32],
        [I32],
        missing
    ),
    f!(
        "cost_vetkd_derive_key",
        [I32, I32, I32, I32],
        [I32],
        missing
    ),
    f!("env_var_count", [], [I32]),
    f!("env_var_name_size", [I32], [I32]),
    f!("env_var_name_copy", [I32, I32, I32, I32], []),
    f!("env_var_name_exists", [I32, I32], [I32]),
    f!("env_var_value_size", [I32, I32], [I32]),
    f!("env_var_value_copy", [I32, I32, I32, I32, I32], []),
    f!("debug_print", [I32, I32], []),
    f!("trap", [I32, I32], []),
    f!("mint_cycles", [I64], [I64], missing),
    f!("mint_cycles128", [I64, I64, I32], [], missing),
];

/// Looks up a System API function by name.
pub fn lookup(name: &str) -> Option<&'static Ic0Fn> {
    IC0_FUNCTIONS.iter().find(|f| f.name == name)
}
