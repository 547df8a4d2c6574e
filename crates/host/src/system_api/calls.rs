//! Inter-canister calls: `call_new` starts one, the next functions complete it, and
//! `call_perform` hands it to the host, which sends it when the execution ends.
//!
//! Cycles added to a call leave the balance at once and come back if the call is never
//! performed (the host returns them) or is refunded.

use super::modes::*;
use super::{Api, R, system_api};
use crate::cost::{BYTE_TRANSMISSION_COST_FACTOR, SystemApiCost as Cost};
use crate::runtime::OutgoingCall;
use candid::Principal;

/// Moves `amount` from the balance to the call being built.
fn add_cycles(c: &mut Api, amount: u128) -> R<()> {
    c.pending_call()?;
    let balance = c.data().state.cycles;
    if amount > balance {
        return c.violation(format!(
            "cannot add {amount} cycles, the balance is {balance}"
        ));
    }
    let d = c.data_mut();
    d.state.cycles -= amount;
    d.ctx.pending_call.as_mut().expect("checked").cycles += amount;
    Ok(())
}

system_api! {
    call_new(
        c,
        callee_src: u32,
        callee_size: u32,
        name_src: u32,
        name_size: u32,
        reply_fun: u32,
        reply_env: u32,
        reject_fun: u32,
        reject_env: u32,
    ) -> ()
        [cost: Cost::CALL_NEW + u64::from(callee_size) + u64::from(name_size), modes: calling]
    {
        let callee = c.read_heap(callee_src, callee_size)?;
        let Ok(callee) = Principal::try_from_slice(&callee) else {
            return c.violation("the callee is not a valid principal");
        };
        let name = c.read_heap(name_src, name_size)?;
        let Ok(method) = String::from_utf8(name) else {
            return c.violation("the method name is not valid UTF-8");
        };
        let d = c.data_mut();
        if let Some(old) = d.ctx.pending_call.take() {
            d.state.cycles += old.cycles;
        }
        d.ctx.pending_call = Some(OutgoingCall {
            callee,
            method,
            payload: Vec::new(),
            cycles: 0,
            reply: (reply_fun, reply_env),
            reject: (reject_fun, reject_env),
            cleanup: None,
            best_effort_timeout: None,
        });
        Ok(())
    }
    call_data_append(c, src: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size), modes: calling]
    {
        let bytes = c.read_heap(src, size)?;
        let max = c.ctx().max_call_payload;
        let call = c.pending_call()?;
        let len = call.payload.len() + bytes.len();
        if len > max {
            return c.violation(format!(
                "the call payload of {len} bytes exceeds the limit of {max} bytes"
            ));
        }
        c.pending_call()?.payload.extend_from_slice(&bytes);
        Ok(())
    }
    call_on_cleanup(c, fun: u32, env: u32) -> () [cost: Cost::DEFAULT, modes: calling] {
        if c.pending_call()?.cleanup.is_some() {
            return c.violation("a cleanup callback is already set");
        }
        c.pending_call()?.cleanup = Some((fun, env));
        Ok(())
    }
    call_with_best_effort_response(c, timeout: u32) -> () [cost: Cost::DEFAULT, modes: calling] {
        if c.pending_call()?.best_effort_timeout.is_some() {
            return c.violation("already called for this call");
        }
        c.pending_call()?.best_effort_timeout = Some(timeout.min(300));
        Ok(())
    }
    call_cycles_add(c, amount: u64) -> () [cost: Cost::DEFAULT, modes: calling] {
        add_cycles(c, amount.into())
    }
    call_cycles_add128(c, high: u64, low: u64) -> () [cost: Cost::DEFAULT, modes: calling] {
        add_cycles(c, (u128::from(high) << 64) | u128::from(low))
    }
    call_perform(c) -> u32 [cost: Cost::CALL_PERFORM, modes: calling] {
        c.pending_call()?;
        let ctx = c.ctx_mut();
        let call = ctx.pending_call.take().expect("checked");
        ctx.calls.push(call);
        Ok(0)
    }
}
