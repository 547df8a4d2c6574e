//! Where a System API function may run: one predicate per row of the interface
//! specification's availability table, over the running execution.
//!
//! Each entry of the table names one of these; a call from any other execution traps with
//! `"ic0_<name>" cannot be executed in <kind> mode`.

use crate::runtime::{ApiKind, ExecContext};

/// Every execution.
pub fn anywhere(_: &ExecContext) -> bool {
    true
}

/// Every execution but `canister_start`.
pub fn not_start(ctx: &ExecContext) -> bool {
    ctx.kind != ApiKind::Start
}

/// Executions that receive an argument (init, post_upgrade, methods, inspect, reply callbacks).
pub fn with_arg(ctx: &ExecContext) -> bool {
    ctx.kind.has_arg()
}

/// Executions of a named method (methods and `canister_inspect_message`).
pub fn with_method_name(ctx: &ExecContext) -> bool {
    !ctx.method.is_empty()
}

/// Reply and reject callbacks.
pub fn callbacks(ctx: &ExecContext) -> bool {
    matches!(ctx.kind, ApiKind::ReplyCallback | ApiKind::RejectCallback)
}

/// Reject callbacks.
pub fn reject_callback(ctx: &ExecContext) -> bool {
    ctx.kind == ApiKind::RejectCallback
}

/// `canister_inspect_message`.
pub fn inspect_message(ctx: &ExecContext) -> bool {
    ctx.kind == ApiKind::InspectMessage
}

/// Executions that may reply or reject (methods and callbacks).
pub fn replying(ctx: &ExecContext) -> bool {
    ctx.kind.can_reply()
}

/// Executions that may call other canisters.
pub fn calling(ctx: &ExecContext) -> bool {
    ctx.kind.can_call()
}

/// Replicated executions.
pub fn replicated(ctx: &ExecContext) -> bool {
    ctx.kind.is_replicated()
}

/// Replicated executions that may reply: where cycles sent with a call can be accepted.
pub fn accepting_cycles(ctx: &ExecContext) -> bool {
    ctx.kind.can_reply() && ctx.kind.is_replicated()
}

/// Replicated executions that may change the canister's system state (not queries, not start).
pub fn replicated_updates(ctx: &ExecContext) -> bool {
    let k = ctx.kind;
    k.is_replicated() && !k.is_query() && k != ApiKind::Start
}
