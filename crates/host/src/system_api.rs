//! The `ic0` System API as wasmtime host functions.
//!
//! Each function first charges the replica's fixed overhead plus its per-byte part (by taking
//! fuel from the store), then checks that the call is allowed for the kind of entry point
//! running, then acts on the execution context or the canister state in the store. A refusal
//! is a trap with a message that names the function, as on the IC.

use crate::cost::{
    BYTE_TRANSMISSION_COST_FACTOR, GROW_COST_REMAINDER, SystemApiCost as Cost,
    WASM_FUNCTION_ENTRY_FUEL, logging_charge_bytes,
};
use crate::runtime::{ApiKind, HostTrap, OutgoingCall, Response, StoreData};
use crate::stable::{MAX_STABLE_PAGES_32, MAX_STABLE_PAGES_64};
use candid::Principal;
use wasmtime::{Caller, Linker, Memory};

type C<'a> = Caller<'a, StoreData>;
type R<T> = wasmtime::Result<T>;

/// Maximum size of certified data.
pub const MAX_CERTIFIED_DATA_BYTES: usize = 32;
/// Capacity the replica uses to price log records.
const LOG_CAPACITY: u64 = 4096;
/// Node count reported by `ic0.subnet_self_node_count` and used by the cost functions.
const SUBNET_NODES: u64 = 13;

fn violation<T>(msg: impl Into<String>) -> R<T> {
    Err(wasmtime::Error::new(HostTrap::ContractViolation(
        msg.into(),
    )))
}

fn charge(c: &mut C, fee: u64) -> R<()> {
    // The 1 of the `call` that wasmtime would have charged on entering a Wasm function.
    let fee = fee + WASM_FUNCTION_ENTRY_FUEL;
    let fuel = c.get_fuel()?;
    if fee > fuel {
        c.set_fuel(0)?;
        return Err(wasmtime::Error::new(HostTrap::OutOfInstructions));
    }
    c.set_fuel(fuel - fee)
}

fn kind(c: &C) -> ApiKind {
    c.data().ctx.kind
}

fn require(c: &C, name: &str, allowed: bool) -> R<()> {
    if allowed {
        Ok(())
    } else {
        violation(format!(
            "\"ic0_{name}\" cannot be executed in {} mode",
            kind(c).name()
        ))
    }
}

fn memory(c: &C, name: &str) -> R<Memory> {
    match c.data().memory {
        Some(m) => Ok(m),
        None => violation(format!("ic0.{name}: the module has no memory")),
    }
}

fn range(len: usize, start: u64, size: u64, name: &str, what: &str) -> R<std::ops::Range<usize>> {
    match start.checked_add(size) {
        Some(end) if end <= len as u64 => Ok(start as usize..end as usize),
        _ => violation(format!(
            "ic0.{name}: {what} out of bounds (offset {start}, size {size}, length {len})"
        )),
    }
}

fn read_heap(c: &mut C, name: &str, src: u32, size: u32) -> R<Vec<u8>> {
    let m = memory(c, name)?;
    let heap = m.data(&c);
    let r = range(heap.len(), src.into(), size.into(), name, "heap")?;
    Ok(heap[r].to_vec())
}

fn write_heap(c: &mut C, name: &str, dst: u32, bytes: &[u8]) -> R<()> {
    let m = memory(c, name)?;
    let heap = m.data_mut(c);
    let r = range(heap.len(), dst.into(), bytes.len() as u64, name, "heap")?;
    heap[r].copy_from_slice(bytes);
    Ok(())
}

/// `*_copy(dst, offset, size)` from a byte string of the store data.
fn copy_out(
    c: &mut C,
    name: &str,
    dst: u32,
    offset: u32,
    size: u32,
    src: fn(&StoreData) -> &[u8],
) -> R<()> {
    let m = memory(c, name)?;
    let (heap, data) = m.data_and_store_mut(c);
    let src = src(data);
    let s = range(src.len(), offset.into(), size.into(), name, "source")?;
    let d = range(heap.len(), dst.into(), size.into(), name, "heap")?;
    heap[d].copy_from_slice(&src[s]);
    Ok(())
}

fn write_u128(c: &mut C, name: &str, dst: u32, v: u128) -> R<()> {
    write_heap(c, name, dst, &v.to_le_bytes())
}

fn instructions_so_far(c: &C) -> R<u64> {
    let fuel = c.get_fuel()?;
    let d = c.data();
    // Fuel starts at limit + 1 (the entry point's own entry fuel), which the entry has taken.
    Ok(d.ctx.limit.saturating_sub(fuel) + d.grows * GROW_COST_REMAINDER)
}

fn pending<'a>(c: &'a mut C, name: &str) -> R<&'a mut OutgoingCall> {
    if c.data().ctx.pending_call.is_none() {
        return violation(format!(
            "ic0.{name}: no call is being constructed (call ic0.call_new first)"
        ));
    }
    Ok(c.data_mut()
        .ctx
        .pending_call
        .as_mut()
        .expect("checked above"))
}

fn respond_check(c: &C, name: &str) -> R<()> {
    require(c, name, kind(c).can_reply())?;
    let ctx = &c.data().ctx;
    if !ctx.can_respond || ctx.response.is_some() {
        return violation(format!(
            "ic0.{name}: the call has already been replied to or rejected"
        ));
    }
    Ok(())
}

macro_rules! wrap {
    ($linker:ident, $name:literal, $f:expr) => {
        $linker
            .func_wrap("ic0", $name, $f)
            .expect(concat!("defining ic0.", $name));
    };
}

/// Defines every provided `ic0` function on the linker.
pub(crate) fn add_to_linker(l: &mut Linker<StoreData>) {
    // --- Message arguments and caller.
    wrap!(l, "msg_arg_data_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "msg_arg_data_size", kind(&c).has_arg())?;
        Ok(c.data().ctx.arg.len() as u32)
    });
    wrap!(l, "msg_arg_data_copy", |mut c: C,
                                   dst: u32,
                                   off: u32,
                                   size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        require(&c, "msg_arg_data_copy", kind(&c).has_arg())?;
        copy_out(&mut c, "msg_arg_data_copy", dst, off, size, |d| &d.ctx.arg)
    });
    wrap!(l, "msg_caller_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "msg_caller_size", kind(&c) != ApiKind::Start)?;
        Ok(c.data().ctx.caller.as_slice().len() as u32)
    });
    wrap!(l, "msg_caller_copy", |mut c: C,
                                 dst: u32,
                                 off: u32,
                                 size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        require(&c, "msg_caller_copy", kind(&c) != ApiKind::Start)?;
        copy_out(&mut c, "msg_caller_copy", dst, off, size, |d| {
            d.ctx.caller.as_slice()
        })
    });
    // No caller info is attached to messages on this host: both are empty.
    wrap!(l, "msg_caller_info_data_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(0)
    });
    wrap!(l, "msg_caller_info_data_copy", |mut c: C,
                                           dst: u32,
                                           off: u32,
                                           size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        copy_out(&mut c, "msg_caller_info_data_copy", dst, off, size, |_| &[])
    });
    wrap!(l, "msg_caller_info_signer_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(0)
    });
    wrap!(l, "msg_caller_info_signer_copy", |mut c: C,
                                             dst: u32,
                                             off: u32,
                                             size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        copy_out(
            &mut c,
            "msg_caller_info_signer_copy",
            dst,
            off,
            size,
            |_| &[],
        )
    });
    wrap!(l, "msg_reject_code", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        let k = kind(&c);
        require(
            &c,
            "msg_reject_code",
            matches!(k, ApiKind::ReplyCallback | ApiKind::RejectCallback),
        )?;
        Ok(c.data().ctx.reject.as_ref().map_or(0, |r| r.code.as_u32()))
    });
    wrap!(l, "msg_reject_msg_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        require(
            &c,
            "msg_reject_msg_size",
            kind(&c) == ApiKind::RejectCallback,
        )?;
        Ok(c.data()
            .ctx
            .reject
            .as_ref()
            .map_or(0, |r| r.message.len() as u32))
    });
    wrap!(l, "msg_reject_msg_copy", |mut c: C,
                                     dst: u32,
                                     off: u32,
                                     size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        require(
            &c,
            "msg_reject_msg_copy",
            kind(&c) == ApiKind::RejectCallback,
        )?;
        copy_out(&mut c, "msg_reject_msg_copy", dst, off, size, |d| {
            d.ctx
                .reject
                .as_ref()
                .map_or(&[][..], |r| r.message.as_bytes())
        })
    });
    wrap!(l, "msg_deadline", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        // Best-effort responses are not modelled: every call is a guaranteed-response call.
        Ok(0)
    });
    wrap!(l, "msg_method_name_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "msg_method_name_size", !c.data().ctx.method.is_empty())?;
        Ok(c.data().ctx.method.len() as u32)
    });
    wrap!(l, "msg_method_name_copy", |mut c: C,
                                      dst: u32,
                                      off: u32,
                                      size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        require(&c, "msg_method_name_copy", !c.data().ctx.method.is_empty())?;
        copy_out(&mut c, "msg_method_name_copy", dst, off, size, |d| {
            d.ctx.method.as_bytes()
        })
    });
    wrap!(l, "accept_message", |mut c: C| -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "accept_message", kind(&c) == ApiKind::InspectMessage)?;
        if c.data().ctx.accepted {
            return violation("ic0.accept_message: the message was already accepted");
        }
        c.data_mut().ctx.accepted = true;
        Ok(())
    });

    // --- Responding.
    wrap!(l, "msg_reply_data_append", |mut c: C,
                                       src: u32,
                                       size: u32|
     -> R<()> {
        charge(
            &mut c,
            Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size),
        )?;
        respond_check(&c, "msg_reply_data_append")?;
        let bytes = read_heap(&mut c, "msg_reply_data_append", src, size)?;
        let ctx = &mut c.data_mut().ctx;
        if ctx.reply_buf.len() + bytes.len() > ctx.max_reply {
            let (len, max) = (ctx.reply_buf.len() + bytes.len(), ctx.max_reply);
            return violation(format!(
                "ic0.msg_reply_data_append: application payload size ({len}) cannot be larger than {max}"
            ));
        }
        ctx.reply_buf.extend_from_slice(&bytes);
        Ok(())
    });
    wrap!(l, "msg_reply", |mut c: C| -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        respond_check(&c, "msg_reply")?;
        let ctx = &mut c.data_mut().ctx;
        ctx.response = Some(Response::Reply(std::mem::take(&mut ctx.reply_buf)));
        Ok(())
    });
    wrap!(l, "msg_reject", |mut c: C, src: u32, size: u32| -> R<()> {
        charge(
            &mut c,
            Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size),
        )?;
        respond_check(&c, "msg_reject")?;
        let bytes = read_heap(&mut c, "msg_reject", src, size)?;
        let ctx = &mut c.data_mut().ctx;
        if bytes.len() > ctx.max_reply {
            return violation("ic0.msg_reject: the reject message is too long");
        }
        ctx.response = Some(Response::Reject(
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
        Ok(())
    });

    // --- Cycles.
    wrap!(l, "msg_cycles_available", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        let ctx = &c.data().ctx;
        Ok(u64::try_from(ctx.cycles_available - ctx.cycles_accepted).unwrap_or(u64::MAX))
    });
    wrap!(l, "msg_cycles_available128", |mut c: C,
                                         dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let ctx = &c.data().ctx;
        let v = ctx.cycles_available - ctx.cycles_accepted;
        write_u128(&mut c, "msg_cycles_available128", dst, v)
    });
    wrap!(l, "msg_cycles_refunded", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        let k = kind(&c);
        require(
            &c,
            "msg_cycles_refunded",
            matches!(k, ApiKind::ReplyCallback | ApiKind::RejectCallback),
        )?;
        Ok(u64::try_from(c.data().ctx.cycles_refunded).unwrap_or(u64::MAX))
    });
    wrap!(l, "msg_cycles_refunded128", |mut c: C, dst: u32| -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let k = kind(&c);
        require(
            &c,
            "msg_cycles_refunded128",
            matches!(k, ApiKind::ReplyCallback | ApiKind::RejectCallback),
        )?;
        let v = c.data().ctx.cycles_refunded;
        write_u128(&mut c, "msg_cycles_refunded128", dst, v)
    });
    fn accept(c: &mut C, max: u128) -> u128 {
        let d = c.data_mut();
        let amount = max.min(d.ctx.cycles_available - d.ctx.cycles_accepted);
        d.ctx.cycles_accepted += amount;
        d.state.cycles = d.state.cycles.saturating_add(amount);
        amount
    }
    wrap!(l, "msg_cycles_accept", |mut c: C, max: u64| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        require(
            &c,
            "msg_cycles_accept",
            kind(&c).can_reply() && kind(&c).is_replicated(),
        )?;
        Ok(accept(&mut c, max.into()) as u64)
    });
    wrap!(l, "msg_cycles_accept128", |mut c: C,
                                      high: u64,
                                      low: u64,
                                      dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        require(
            &c,
            "msg_cycles_accept128",
            kind(&c).can_reply() && kind(&c).is_replicated(),
        )?;
        let v = accept(&mut c, (u128::from(high) << 64) | u128::from(low));
        write_u128(&mut c, "msg_cycles_accept128", dst, v)
    });
    wrap!(l, "cycles_burn128", |mut c: C,
                                high: u64,
                                low: u64,
                                dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "cycles_burn128", kind(&c).is_replicated())?;
        let d = c.data_mut();
        let burnt = ((u128::from(high) << 64) | u128::from(low)).min(d.state.cycles);
        d.state.cycles -= burnt;
        write_u128(&mut c, "cycles_burn128", dst, burnt)
    });
    wrap!(l, "canister_cycle_balance", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(u64::try_from(c.data().state.cycles).unwrap_or(u64::MAX))
    });
    wrap!(l, "canister_cycle_balance128", |mut c: C,
                                           dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let v = c.data().state.cycles;
        write_u128(&mut c, "canister_cycle_balance128", dst, v)
    });
    // No freezing threshold or reservations are modelled: the whole balance is liquid.
    wrap!(l, "canister_liquid_cycle_balance128", |mut c: C,
                                                  dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let v = c.data().state.cycles;
        write_u128(&mut c, "canister_liquid_cycle_balance128", dst, v)
    });

    // --- Canister and subnet.
    wrap!(l, "canister_self_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data().canister_id().as_slice().len() as u32)
    });
    wrap!(l, "canister_self_copy", |mut c: C,
                                    dst: u32,
                                    off: u32,
                                    size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        copy_out(&mut c, "canister_self_copy", dst, off, size, |d| {
            d.state.id.as_ref().map_or(&[][..], |p| p.as_slice())
        })
    });
    wrap!(l, "canister_status", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data().state.status as u32)
    });
    wrap!(l, "canister_version", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data().state.version)
    });
    wrap!(l, "subnet_self_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data()
            .ctx
            .subnet_id
            .map_or(0, |p| p.as_slice().len() as u32))
    });
    wrap!(l, "subnet_self_copy", |mut c: C,
                                  dst: u32,
                                  off: u32,
                                  size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        copy_out(&mut c, "subnet_self_copy", dst, off, size, |d| {
            d.ctx.subnet_id.as_ref().map_or(&[][..], |p| p.as_slice())
        })
    });
    wrap!(l, "subnet_self_node_count", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(SUBNET_NODES as u32)
    });
    wrap!(l, "root_key_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data().ctx.root_key_der.len() as u32)
    });
    wrap!(l, "root_key_copy", |mut c: C,
                               dst: u32,
                               off: u32,
                               size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        copy_out(&mut c, "root_key_copy", dst, off, size, |d| {
            &d.ctx.root_key_der
        })
    });
    wrap!(l, "is_controller", |mut c: C,
                               src: u32,
                               size: u32|
     -> R<u32> {
        charge(&mut c, Cost::IS_CONTROLLER + u64::from(size))?;
        let bytes = read_heap(&mut c, "is_controller", src, size)?;
        let Ok(p) = Principal::try_from_slice(&bytes) else {
            return violation("ic0.is_controller: the argument is not a valid principal");
        };
        Ok(u32::from(c.data().state.controllers.contains(&p)))
    });
    wrap!(l, "in_replicated_execution", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(u32::from(kind(&c).is_replicated()))
    });

    // --- Inter-canister calls.
    #[allow(clippy::too_many_arguments)]
    fn call_new(
        mut c: C,
        callee_src: u32,
        callee_size: u32,
        name_src: u32,
        name_size: u32,
        reply_fun: u32,
        reply_env: u32,
        reject_fun: u32,
        reject_env: u32,
    ) -> R<()> {
        charge(
            &mut c,
            Cost::CALL_NEW + u64::from(callee_size) + u64::from(name_size),
        )?;
        require(&c, "call_new", kind(&c).can_call())?;
        let callee = read_heap(&mut c, "call_new", callee_src, callee_size)?;
        let Ok(callee) = Principal::try_from_slice(&callee) else {
            return violation("ic0.call_new: the callee is not a valid principal");
        };
        let name = read_heap(&mut c, "call_new", name_src, name_size)?;
        let Ok(method) = String::from_utf8(name) else {
            return violation("ic0.call_new: the method name is not valid UTF-8");
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
    l.func_wrap("ic0", "call_new", call_new)
        .expect("defining ic0.call_new");
    wrap!(l, "call_data_append", |mut c: C,
                                  src: u32,
                                  size: u32|
     -> R<()> {
        charge(
            &mut c,
            Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size),
        )?;
        require(&c, "call_data_append", kind(&c).can_call())?;
        let bytes = read_heap(&mut c, "call_data_append", src, size)?;
        let max = c.data().ctx.max_call_payload;
        let call = pending(&mut c, "call_data_append")?;
        if call.payload.len() + bytes.len() > max {
            let len = call.payload.len() + bytes.len();
            return violation(format!(
                "ic0.call_data_append: the call payload of {len} bytes exceeds the limit of {max} bytes"
            ));
        }
        call.payload.extend_from_slice(&bytes);
        Ok(())
    });
    wrap!(l, "call_on_cleanup", |mut c: C,
                                 fun: u32,
                                 env: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "call_on_cleanup", kind(&c).can_call())?;
        let call = pending(&mut c, "call_on_cleanup")?;
        if call.cleanup.is_some() {
            return violation("ic0.call_on_cleanup: a cleanup callback is already set");
        }
        call.cleanup = Some((fun, env));
        Ok(())
    });
    wrap!(l, "call_with_best_effort_response", |mut c: C,
                                                timeout: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        require(&c, "call_with_best_effort_response", kind(&c).can_call())?;
        let call = pending(&mut c, "call_with_best_effort_response")?;
        if call.best_effort_timeout.is_some() {
            return violation("ic0.call_with_best_effort_response: already called for this call");
        }
        call.best_effort_timeout = Some(timeout.min(300));
        Ok(())
    });
    fn add_cycles(c: &mut C, name: &str, amount: u128) -> R<()> {
        require(c, name, kind(c).can_call())?;
        pending(c, name)?;
        let d = c.data_mut();
        if amount > d.state.cycles {
            let bal = d.state.cycles;
            return violation(format!(
                "ic0.{name}: cannot add {amount} cycles, the balance is {bal}"
            ));
        }
        d.state.cycles -= amount;
        d.ctx.pending_call.as_mut().expect("checked").cycles += amount;
        Ok(())
    }
    wrap!(l, "call_cycles_add", |mut c: C, amount: u64| -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        add_cycles(&mut c, "call_cycles_add", amount.into())
    });
    wrap!(l, "call_cycles_add128", |mut c: C,
                                    high: u64,
                                    low: u64|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        add_cycles(
            &mut c,
            "call_cycles_add128",
            (u128::from(high) << 64) | u128::from(low),
        )
    });
    wrap!(l, "call_perform", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::CALL_PERFORM)?;
        require(&c, "call_perform", kind(&c).can_call())?;
        pending(&mut c, "call_perform")?;
        let ctx = &mut c.data_mut().ctx;
        let call = ctx.pending_call.take().expect("checked");
        ctx.calls.push(call);
        Ok(0)
    });

    // --- Stable memory.
    fn stable_write(c: &mut C, name: &str, offset: u64, src: u64, size: u64) -> R<()> {
        charge(c, Cost::STABLE_ACCESS + size)?;
        require(c, name, kind(c) != ApiKind::Start)?;
        let m = memory(c, name)?;
        let (heap, d) = m.data_and_store_mut(c);
        if !d.state.stable_memory.in_bounds(offset, size) {
            return violation(format!("ic0.{name}: stable memory out of bounds"));
        }
        let r = range(heap.len(), src, size, name, "heap")?;
        d.state.stable_memory.write(offset, &heap[r]);
        Ok(())
    }
    fn stable_read(c: &mut C, name: &str, dst: u64, offset: u64, size: u64) -> R<()> {
        charge(c, Cost::STABLE_ACCESS + size)?;
        require(c, name, kind(c) != ApiKind::Start)?;
        let m = memory(c, name)?;
        let (heap, d) = m.data_and_store_mut(c);
        if !d.state.stable_memory.in_bounds(offset, size) {
            return violation(format!("ic0.{name}: stable memory out of bounds"));
        }
        let r = range(heap.len(), dst, size, name, "heap")?;
        d.state.stable_memory.read(offset, &mut heap[r]);
        Ok(())
    }
    fn check_32(c: &C, name: &str) -> R<()> {
        if c.data().state.stable_memory.size_pages() > MAX_STABLE_PAGES_32 {
            return violation(format!(
                "ic0.{name}: stable memory is too big for the 32-bit API"
            ));
        }
        Ok(())
    }
    wrap!(l, "stable64_size", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::STABLE_ACCESS)?;
        require(&c, "stable64_size", kind(&c) != ApiKind::Start)?;
        Ok(c.data().state.stable_memory.size_pages())
    });
    wrap!(l, "stable64_grow", |mut c: C, pages: u64| -> R<u64> {
        charge(&mut c, Cost::STABLE_GROW)?;
        require(&c, "stable64_grow", kind(&c) != ApiKind::Start)?;
        Ok(c.data_mut()
            .state
            .stable_memory
            .grow(pages, MAX_STABLE_PAGES_64)
            .unwrap_or(u64::MAX))
    });
    wrap!(l, "stable64_write", |mut c: C,
                                offset: u64,
                                src: u64,
                                size: u64|
     -> R<()> {
        stable_write(&mut c, "stable64_write", offset, src, size)
    });
    wrap!(l, "stable64_read", |mut c: C,
                               dst: u64,
                               offset: u64,
                               size: u64|
     -> R<()> {
        stable_read(&mut c, "stable64_read", dst, offset, size)
    });
    wrap!(l, "stable_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::STABLE_ACCESS)?;
        require(&c, "stable_size", kind(&c) != ApiKind::Start)?;
        check_32(&c, "stable_size")?;
        Ok(c.data().state.stable_memory.size_pages() as u32)
    });
    wrap!(l, "stable_grow", |mut c: C, pages: u32| -> R<i32> {
        charge(&mut c, Cost::STABLE_GROW)?;
        require(&c, "stable_grow", kind(&c) != ApiKind::Start)?;
        check_32(&c, "stable_grow")?;
        Ok(c.data_mut()
            .state
            .stable_memory
            .grow(pages.into(), MAX_STABLE_PAGES_32)
            .map_or(-1, |old| old as i32))
    });
    wrap!(l, "stable_write", |mut c: C,
                              offset: u32,
                              src: u32,
                              size: u32|
     -> R<()> {
        check_32(&c, "stable_write")?;
        stable_write(
            &mut c,
            "stable_write",
            offset.into(),
            src.into(),
            size.into(),
        )
    });
    wrap!(l, "stable_read", |mut c: C,
                             dst: u32,
                             offset: u32,
                             size: u32|
     -> R<()> {
        check_32(&c, "stable_read")?;
        stable_read(
            &mut c,
            "stable_read",
            dst.into(),
            offset.into(),
            size.into(),
        )
    });

    // --- Certification.
    wrap!(l, "certified_data_set", |mut c: C,
                                    src: u32,
                                    size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        let k = kind(&c);
        require(
            &c,
            "certified_data_set",
            k.is_replicated() && !k.is_query() && k != ApiKind::Start,
        )?;
        if size as usize > MAX_CERTIFIED_DATA_BYTES {
            return violation(format!(
                "ic0.certified_data_set: certified data of {size} bytes exceeds the limit of {MAX_CERTIFIED_DATA_BYTES} bytes"
            ));
        }
        let bytes = read_heap(&mut c, "certified_data_set", src, size)?;
        c.data_mut().state.certified_data = bytes;
        Ok(())
    });
    wrap!(l, "data_certificate_present", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(u32::from(c.data().ctx.data_certificate.is_some()))
    });
    wrap!(l, "data_certificate_size", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        match &c.data().ctx.data_certificate {
            Some(cert) => Ok(cert.len() as u32),
            None => violation(
                "ic0.data_certificate_size: no certificate is available (only in non-replicated queries)",
            ),
        }
    });
    wrap!(l, "data_certificate_copy", |mut c: C,
                                       dst: u32,
                                       off: u32,
                                       size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT + u64::from(size))?;
        if c.data().ctx.data_certificate.is_none() {
            return violation(
                "ic0.data_certificate_copy: no certificate is available (only in non-replicated queries)",
            );
        }
        copy_out(&mut c, "data_certificate_copy", dst, off, size, |d| {
            d.ctx
                .data_certificate
                .as_ref()
                .map_or(&[][..], |v| v.as_slice())
        })
    });

    // --- Time, timers, counters.
    wrap!(l, "time", |mut c: C| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(c.data().ctx.time)
    });
    wrap!(l, "global_timer_set", |mut c: C, deadline: u64| -> R<u64> {
        charge(&mut c, Cost::DEFAULT)?;
        let k = kind(&c);
        require(
            &c,
            "global_timer_set",
            k.is_replicated() && !k.is_query() && k != ApiKind::Start,
        )?;
        let state = &mut c.data_mut().state;
        Ok(std::mem::replace(&mut state.global_timer, deadline))
    });
    wrap!(l, "performance_counter", |mut c: C,
                                     counter: u32|
     -> R<u64> {
        charge(&mut c, Cost::PERFORMANCE_COUNTER)?;
        let now = instructions_so_far(&c)?;
        match counter {
            0 => Ok(now),
            1 => Ok(c.data().ctx.call_context_instructions + now),
            other => violation(format!(
                "ic0.performance_counter: unknown counter type {other}"
            )),
        }
    });

    // --- Cost queries (fees of a 13-node application subnet).
    wrap!(l, "cost_call", |mut c: C,
                           method_size: u64,
                           payload_size: u64,
                           dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let cost = 260_000u128 + 1_000 * u128::from(method_size.saturating_add(payload_size));
        write_u128(&mut c, "cost_call", dst, cost)
    });
    wrap!(l, "cost_create_canister", |mut c: C, dst: u32| -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        write_u128(&mut c, "cost_create_canister", dst, 500_000_000_000)
    });
    wrap!(l, "cost_http_request", |mut c: C,
                                   request_size: u64,
                                   max_res: u64,
                                   dst: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        let n = u128::from(SUBNET_NODES);
        let cost = (3_000_000 + 60_000 * n) * n
            + 400 * n * u128::from(request_size)
            + 800 * n * u128::from(max_res);
        write_u128(&mut c, "cost_http_request", dst, cost)
    });

    // --- Environment variables: this host sets none.
    wrap!(l, "env_var_count", |mut c: C| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(0)
    });
    wrap!(l, "env_var_name_size", |mut c: C, index: u32| -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        violation(format!(
            "ic0.env_var_name_size: index {index} out of bounds (0 variables)"
        ))
    });
    wrap!(l, "env_var_name_copy", |mut c: C,
                                   index: u32,
                                   _dst: u32,
                                   _off: u32,
                                   _size: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        violation(format!(
            "ic0.env_var_name_copy: index {index} out of bounds (0 variables)"
        ))
    });
    wrap!(l, "env_var_name_exists", |mut c: C,
                                     _src: u32,
                                     _size: u32|
     -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        Ok(0)
    });
    wrap!(l, "env_var_value_size", |mut c: C,
                                    _src: u32,
                                    _size: u32|
     -> R<u32> {
        charge(&mut c, Cost::DEFAULT)?;
        violation("ic0.env_var_value_size: no such environment variable")
    });
    wrap!(l, "env_var_value_copy", |mut c: C,
                                    _s: u32,
                                    _n: u32,
                                    _d: u32,
                                    _o: u32,
                                    _z: u32|
     -> R<()> {
        charge(&mut c, Cost::DEFAULT)?;
        violation("ic0.env_var_value_copy: no such environment variable")
    });

    // --- Debugging.
    wrap!(l, "debug_print", |mut c: C, src: u32, size: u32| -> R<()> {
        charge(
            &mut c,
            Cost::DEBUG_PRINT + logging_charge_bytes(size.into(), LOG_CAPACITY),
        )?;
        let bytes = read_heap(&mut c, "debug_print", src, size)?;
        c.data_mut()
            .ctx
            .logs
            .push(String::from_utf8_lossy(&bytes).into_owned());
        Ok(())
    });
    wrap!(l, "trap", |mut c: C, src: u32, size: u32| -> R<()> {
        charge(
            &mut c,
            Cost::DEFAULT + u64::from(size) + logging_charge_bytes(size.into(), LOG_CAPACITY),
        )?;
        let bytes = read_heap(&mut c, "trap", src, size)?;
        Err(wasmtime::Error::new(HostTrap::CalledTrap(
            String::from_utf8_lossy(&bytes).into_owned(),
        )))
    });
}
