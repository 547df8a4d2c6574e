//! The message queue and call contexts: delivers requests (to canisters or to the
//! management canister) and responses (to reply, reject and cleanup callbacks), and applies
//! each execution's outcome to its call context ([`Host::finish`]). Also the system tasks
//! (heartbeats and global timers) of [`Host::tick`].
//!
//! The only place that creates and closes call contexts and callbacks, and that answers a
//! message's origin.

use super::{CallContext, Callback, Host, Message, Origin};
use crate::error::{Reject, RejectCode};
use crate::history::{CanisterInfoArgs, CanisterInfoResult};
use crate::runtime::{ApiKind, CanisterStatus, Entry, ExecContext, ExecError, Executed, Response};
use candid::Principal;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

impl Host {
    /// Runs heartbeats and due global timers, then every queued message; advances time by 1 ns.
    pub fn tick(&mut self) {
        let ids: Vec<Principal> = self.canisters.keys().copied().collect();
        for id in ids {
            let c = &mut self.canisters.get_mut(&id).expect("listed");
            if c.state.status != CanisterStatus::Running {
                continue;
            }
            let Some(rt) = c.runtime.as_ref() else {
                continue;
            };
            let heartbeat = rt.exports("canister_heartbeat");
            let timer_due = c.state.global_timer != 0
                && c.state.global_timer <= self.time_ns
                && rt.exports("canister_global_timer");
            if heartbeat {
                self.system_task(id, ApiKind::Heartbeat, "canister_heartbeat");
            }
            if timer_due {
                self.canisters
                    .get_mut(&id)
                    .expect("listed")
                    .state
                    .global_timer = 0;
                self.system_task(id, ApiKind::GlobalTimer, "canister_global_timer");
            }
        }
        self.run_queue();
        self.time_ns += 1;
    }

    fn system_task(&mut self, id: Principal, kind: ApiKind, export: &str) {
        let cc = self.fresh_id();
        self.call_contexts.insert(
            cc,
            CallContext {
                canister: id,
                caller: Principal::management_canister(),
                origin: Origin::System,
                responded: true,
                outstanding: 0,
                instructions: 0,
                first_instructions: None,
                cycles: 0,
            },
        );
        let ctx = self.ctx(
            kind,
            Principal::management_canister(),
            "",
            &[],
            self.config.limits.update,
        );
        if let Some(ex) = self.run(id, &Entry::Export(export.into()), ctx, true) {
            self.finish(cc, ex);
        }
    }

    pub(super) fn run_queue(&mut self) {
        let mut processed = 0usize;
        while let Some(m) = self.queue.pop_front() {
            processed += 1;
            if processed > self.config.max_messages_per_round {
                self.queue.clear();
                break;
            }
            match m {
                Message::Request {
                    caller,
                    callee,
                    method,
                    arg,
                    cycles,
                    origin,
                } => self.deliver_request(caller, callee, method, arg, cycles, origin),
                Message::Response {
                    callback,
                    result,
                    refund,
                } => self.deliver_response(callback, result, refund),
            }
        }
    }

    fn respond(&mut self, origin: Origin, result: Result<Vec<u8>, Reject>, refund: u128) {
        match origin {
            Origin::Ingress(id) => {
                self.ingress_results.insert(id, result);
            }
            Origin::Canister { callback } => self.queue.push_back(Message::Response {
                callback,
                result,
                refund,
            }),
            Origin::System => {}
        }
    }

    /// The management canister for calls from canisters.
    fn management(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>, Reject> {
        match method {
            // Any canister may ask about any canister, itself included.
            "canister_info" => {
                let a = candid::decode_one::<CanisterInfoArgs>(arg).map_err(|e| {
                    Reject::new(
                        RejectCode::CanisterError,
                        format!("Error decoding candid: {e}"),
                    )
                })?;
                let Some(c) = self.canisters.get(&a.canister_id) else {
                    return Err(Reject::new(
                        RejectCode::DestinationInvalid,
                        format!("Canister {} not found.", a.canister_id),
                    ));
                };
                let info = CanisterInfoResult {
                    total_num_changes: c.state.history.total_num_changes(),
                    recent_changes: c.state.history.recent(a.num_requested_changes.unwrap_or(0)),
                    module_hash: c.state.module_hash.map(|h| ByteBuf::from(h.to_vec())),
                    controllers: c.state.controllers.clone(),
                };
                Ok(candid::encode_one(info).expect("encoding canister_info cannot fail"))
            }
            "raw_rand" => {
                self.raw_rand_counter += 1;
                let mut h = Sha256::new();
                h.update(b"icinfer-host raw_rand");
                h.update(&self.config.seed);
                h.update(self.raw_rand_counter.to_be_bytes());
                let bytes: Vec<u8> = h.finalize().to_vec();
                Ok(candid::encode_one(bytes).expect("encoding a blob cannot fail"))
            }
            other => Err(Reject::new(
                RejectCode::DestinationInvalid,
                format!("Management canister method '{other}' is not supported by icinfer-host"),
            )),
        }
    }

    fn deliver_request(
        &mut self,
        caller: Principal,
        callee: Principal,
        method: String,
        arg: Vec<u8>,
        cycles: u128,
        origin: Origin,
    ) {
        if callee == Principal::management_canister() {
            let result = self.management(&method, &arg);
            return self.respond(origin, result, cycles);
        }
        if self.is_system_canister(callee) {
            let (result, refund) = self.ledger_request(callee, &method, &arg, cycles);
            return self.respond(origin, result, refund);
        }
        let reject = |code, msg: String| Err(Reject::new(code, msg));
        let Some(c) = self.canisters.get(&callee) else {
            return self.respond(
                origin,
                reject(
                    RejectCode::DestinationInvalid,
                    format!("Canister {callee} not found"),
                ),
                cycles,
            );
        };
        let Some(rt) = c.runtime.as_ref() else {
            return self.respond(
                origin,
                reject(
                    RejectCode::CanisterError,
                    format!("Error from Canister {callee}: Canister has no Wasm module installed"),
                ),
                cycles,
            );
        };
        match c.state.status {
            CanisterStatus::Running => {}
            CanisterStatus::Stopping => {
                return self.respond(
                    origin,
                    reject(
                        RejectCode::CanisterError,
                        format!("Canister {callee} is stopping"),
                    ),
                    cycles,
                );
            }
            CanisterStatus::Stopped => {
                return self.respond(
                    origin,
                    reject(
                        RejectCode::CanisterError,
                        format!("Canister {callee} is stopped"),
                    ),
                    cycles,
                );
            }
        }
        let (kind, export) = if rt.exports(&format!("canister_update {method}")) {
            (ApiKind::Update, format!("canister_update {method}"))
        } else if rt.exports(&format!("canister_query {method}")) {
            (ApiKind::ReplicatedQuery, format!("canister_query {method}"))
        } else if rt.exports(&format!("canister_composite_query {method}")) {
            return self.respond(origin, reject(RejectCode::CanisterError, format!("Error from Canister {callee}: composite query '{method}' cannot be called in replicated mode")), cycles);
        } else {
            return self.respond(
                origin,
                reject(
                    RejectCode::CanisterError,
                    format!(
                        "Error from Canister {callee}: Canister has no update method '{method}'"
                    ),
                ),
                cycles,
            );
        };
        let cc = self.fresh_id();
        self.call_contexts.insert(
            cc,
            CallContext {
                canister: callee,
                caller,
                origin,
                responded: false,
                outstanding: 0,
                instructions: 0,
                first_instructions: None,
                cycles,
            },
        );
        let mut ctx = self.ctx(kind, caller, &method, &arg, self.config.limits.update);
        ctx.can_respond = true;
        ctx.cycles_available = cycles;
        // Queries called as updates run in replicated mode and keep nothing.
        let ex = self
            .run(callee, &Entry::Export(export), ctx, kind == ApiKind::Update)
            .expect("installed");
        self.finish(cc, ex);
    }

    fn deliver_response(&mut self, callback: u64, result: Result<Vec<u8>, Reject>, refund: u128) {
        let Some(cb) = self.callbacks.remove(&callback) else {
            return;
        };
        let Some(cc) = self.call_contexts.get_mut(&cb.call_context) else {
            return;
        };
        cc.outstanding = cc.outstanding.saturating_sub(1);
        let (caller, can_respond, cc_instructions, cc_cycles) =
            (cc.caller, !cc.responded, cc.instructions, cc.cycles);
        let runnable = self
            .canisters
            .get(&cb.canister)
            .is_some_and(|c| c.runtime.is_some() && c.state.version == cb.version);
        if !runnable {
            let ex = Executed {
                result: Err(ExecError::Engine(
                    "the canister was uninstalled or upgraded while the call was outstanding"
                        .into(),
                )),
                instructions: 0,
                ctx: ExecContext::default(),
            };
            return self.finish(cb.call_context, ex);
        }
        if let Some(c) = self.canisters.get_mut(&cb.canister) {
            c.state.cycles = c.state.cycles.saturating_add(refund);
        }
        let (kind, fun, arg, reject) = match result {
            Ok(bytes) => (ApiKind::ReplyCallback, cb.call.reply, bytes, None),
            Err(r) => (ApiKind::RejectCallback, cb.call.reject, Vec::new(), Some(r)),
        };
        let mut ctx = self.ctx(kind, caller, "", &arg, self.config.limits.update);
        ctx.reject = reject;
        ctx.can_respond = can_respond;
        ctx.cycles_available = cc_cycles;
        ctx.cycles_refunded = refund;
        ctx.call_context_instructions = cc_instructions;
        let mut ex = self
            .run(
                cb.canister,
                &Entry::Table {
                    fun: fun.0,
                    env: fun.1,
                },
                ctx,
                true,
            )
            .expect("runnable");
        if ex.result.is_err()
            && let Some((fun, env)) = cb.call.cleanup
        {
            let ctx = self.ctx(ApiKind::Cleanup, caller, "", &[], self.config.limits.update);
            if let Some(cleanup) = self.run(cb.canister, &Entry::Table { fun, env }, ctx, true) {
                ex.instructions += cleanup.instructions;
            }
        }
        self.finish(cb.call_context, ex);
    }

    /// Applies an execution's outputs to its call context.
    fn finish(&mut self, cc_id: u64, ex: Executed) {
        let Some(cc) = self.call_contexts.get_mut(&cc_id) else {
            return;
        };
        cc.instructions += ex.instructions;
        cc.first_instructions.get_or_insert(ex.instructions);
        let canister = cc.canister;
        let version = self.canisters.get(&canister).map_or(0, |c| c.state.version);
        if let Origin::Ingress(id) = cc.origin {
            self.ingress_instructions
                .insert(id, (cc.instructions, cc.first_instructions.unwrap_or(0)));
        }
        let mut responses = Vec::new();
        if ex.result.is_ok() {
            let ctx = ex.ctx;
            cc.cycles -= ctx.cycles_accepted.min(cc.cycles);
            for mut call in ctx.calls {
                self.next_id += 1;
                let callback = self.next_id;
                let payload = std::mem::take(&mut call.payload);
                cc.outstanding += 1;
                self.queue.push_back(Message::Request {
                    caller: canister,
                    callee: call.callee,
                    method: call.method.clone(),
                    arg: payload,
                    cycles: call.cycles,
                    origin: Origin::Canister { callback },
                });
                self.callbacks.insert(
                    callback,
                    Callback {
                        canister,
                        call_context: cc_id,
                        call,
                        version,
                    },
                );
            }
            if let Some(resp) = ctx.response {
                cc.responded = true;
                let result = match resp {
                    Response::Reply(b) => Ok(b),
                    Response::Reject(m) => Err(Reject::new(RejectCode::CanisterReject, m)),
                };
                responses.push((cc.origin, result, std::mem::take(&mut cc.cycles)));
            }
        }
        if !cc.responded && cc.outstanding == 0 {
            let reject = match ex.result {
                Err(e) => e.into_reject(&canister),
                Ok(()) => Reject::new(
                    RejectCode::CanisterError,
                    format!("Error from Canister {canister}: Canister did not reply to the call"),
                ),
            };
            cc.responded = true;
            responses.push((cc.origin, Err(reject), std::mem::take(&mut cc.cycles)));
        }
        if cc.responded && cc.outstanding == 0 {
            self.call_contexts.remove(&cc_id);
            let still_open = self
                .call_contexts
                .values()
                .any(|cc| cc.canister == canister);
            if let Some(c) = self.canisters.get_mut(&canister)
                && c.state.status == CanisterStatus::Stopping
                && !still_open
            {
                c.state.status = CanisterStatus::Stopped;
            }
        }
        for (origin, result, refund) in responses {
            self.respond(origin, result, refund);
        }
    }
}
