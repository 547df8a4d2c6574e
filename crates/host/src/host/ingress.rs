//! Messages from outside the IC: ingress updates (after `canister_inspect_message`) and
//! non-replicated queries.
//!
//! An update is put on the queue and the queue is run to completion ([`super::queue`]); a
//! query runs at once on the canister and keeps nothing. Touches the queue, the ingress results
//! and, through [`Host::run`], the called canister.

use super::{
    CallOutcome, Host, IngressStatus, MAX_INGRESS_PAYLOAD_BYTES, MAX_QUERY_REPLY_BYTES, Message,
    Origin,
};
use crate::error::{HostError, Reject, RejectCode};
use crate::runtime::{ApiKind, CanisterStatus, Entry, Response};
use candid::Principal;
use std::sync::Arc;

/// Ingress arguments (updates and queries alike) are at most 2 MiB.
fn check_ingress_payload(arg: &[u8]) -> Result<(), HostError> {
    if arg.len() > MAX_INGRESS_PAYLOAD_BYTES {
        return Err(HostError::PayloadTooLarge {
            size: arg.len(),
            limit: MAX_INGRESS_PAYLOAD_BYTES,
        });
    }
    Ok(())
}

impl Host {
    /// Sends an ingress update call and runs the whole call tree (inter-canister calls and
    /// callbacks) to completion. Runs `canister_inspect_message` first if exported.
    pub fn update_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        let inspected = self.inspect_message(canister, sender, method, arg)?;
        if let Err(reject) = inspected.result {
            self.time_ns += 1;
            return Ok(CallOutcome {
                result: Err(reject),
                ..inspected
            });
        }
        self.update_call_accepted(canister, sender, method, arg)
    }

    /// Runs `canister_inspect_message` (if the canister is running and exports it) on an
    /// ingress message, as the IC does before accepting it. `result` is `Ok(vec![])` when the
    /// message is accepted, or the reject a client gets without the call being executed. Nothing
    /// the method changes is kept.
    pub fn inspect_message(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        check_ingress_payload(arg)?;
        let c = self.canister(canister)?;
        let accepted = CallOutcome {
            result: Ok(Vec::new()),
            instructions: 0,
            message_instructions: 0,
        };
        if c.state.status != CanisterStatus::Running
            || !c
                .runtime
                .as_ref()
                .is_some_and(|r| r.exports("canister_inspect_message"))
        {
            return Ok(accepted);
        }
        let ctx = self.ctx(
            ApiKind::InspectMessage,
            sender,
            method,
            arg,
            self.config.limits.inspect_message,
        );
        let ex = self
            .run(
                canister,
                &Entry::Export("canister_inspect_message".into()),
                ctx,
                false,
            )
            .expect("installed");
        let rejected = match ex.result {
            Err(e) => Some(e.into_reject(&canister)),
            Ok(()) if !ex.ctx.accepted => Some(Reject::new(
                RejectCode::CanisterReject,
                format!(
                    "Canister {canister} rejected the message in canister_inspect_message (it did not call ic0.accept_message)"
                ),
            )),
            Ok(()) => None,
        };
        Ok(CallOutcome {
            result: rejected.map_or(Ok(Vec::new()), Err),
            instructions: ex.instructions,
            message_instructions: ex.instructions,
        })
    }

    /// Executes an ingress update call that was already accepted (see
    /// [`Self::inspect_message`]): runs the whole call tree to completion.
    pub fn update_call_accepted(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        check_ingress_payload(arg)?;
        self.canister(canister)?;
        let id = self.fresh_id();
        self.queue.push_back(Message::Request {
            caller: sender,
            callee: canister,
            method: method.to_string(),
            arg: arg.to_vec(),
            cycles: 0,
            origin: Origin::Ingress(id),
        });
        self.run_queue();
        self.time_ns += 1;
        let (instructions, message_instructions) =
            self.ingress_instructions.remove(&id).unwrap_or((0, 0));
        let result = self
            .ingress_results
            .remove(&id)
            .ok_or(HostError::NoResponse)?;
        Ok(CallOutcome {
            result,
            instructions,
            message_instructions,
        })
    }

    /// Runs a query (non-replicated: it gets a data certificate, and nothing it changes is
    /// kept).
    pub fn query_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<CallOutcome, HostError> {
        check_ingress_payload(arg)?;
        let c = self.canister(canister)?;
        let reject = |r: Reject| {
            Ok(CallOutcome {
                result: Err(r),
                instructions: 0,
                message_instructions: 0,
            })
        };
        let Some(rt) = c.runtime.as_ref() else {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no Wasm module installed"),
            ));
        };
        if c.state.status != CanisterStatus::Running {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} is not running"),
            ));
        }
        let (kind, export) = if rt.exports(&format!("canister_query {method}")) {
            (ApiKind::Query, format!("canister_query {method}"))
        } else if rt.exports(&format!("canister_composite_query {method}")) {
            (
                ApiKind::CompositeQuery,
                format!("canister_composite_query {method}"),
            )
        } else {
            return reject(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no query method '{method}'"),
            ));
        };
        let mut ctx = self.ctx(kind, sender, method, arg, self.config.limits.query);
        ctx.max_reply = MAX_QUERY_REPLY_BYTES;
        ctx.can_respond = true;
        ctx.data_certificate = Some(Arc::new(self.data_certificate(canister)));
        let ex = self
            .run(canister, &Entry::Export(export), ctx, false)
            .expect("installed");
        let result = match (ex.result, ex.ctx.response) {
            (Err(e), _) => Err(e.into_reject(&canister)),
            (Ok(()), Some(Response::Reply(b))) => Ok(b),
            (Ok(()), Some(Response::Reject(m))) => Err(Reject::new(RejectCode::CanisterReject, m)),
            (Ok(()), None) => Err(Reject::new(
                RejectCode::CanisterError,
                format!("Error from Canister {canister}: Canister did not reply to the call"),
            )),
        };
        Ok(CallOutcome {
            result,
            instructions: ex.instructions,
            message_instructions: ex.instructions,
        })
    }

    /// Records the outcome of an ingress call under its request id (and forgets the
    /// outcomes whose time is up). The journal makes it durable with the call's effect.
    pub fn record_ingress_status(&mut self, request_id: [u8; 32], status: IngressStatus) {
        let now = self.time_ns;
        self.ingress_history.retain(|_, s| s.keep_until_ns >= now);
        self.ingress_history.insert(request_id, status);
        self.unjournaled_ingress.push(request_id);
    }

    /// The recorded outcome of the ingress call `request_id`, if it is still kept.
    pub fn ingress_status(&self, request_id: &[u8; 32]) -> Option<&IngressStatus> {
        self.ingress_history
            .get(request_id)
            .filter(|s| s.keep_until_ns >= self.time_ns)
    }

    /// Every kept ingress outcome, by request id.
    pub fn ingress_history(&self) -> impl Iterator<Item = (&[u8; 32], &IngressStatus)> {
        let now = self.time_ns;
        self.ingress_history
            .iter()
            .filter(move |(_, s)| s.keep_until_ns >= now)
    }
}
