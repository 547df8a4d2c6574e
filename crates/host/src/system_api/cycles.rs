//! Cycles: what a message brought and what came back, accepting, burning, the balance.
//!
//! No freezing threshold or reservations are modelled: the whole balance is liquid.

use super::modes::*;
use super::{Api, system_api};
use crate::cost::SystemApiCost as Cost;

/// Moves up to `max` of the cycles available in the message to the balance.
fn accept(c: &mut Api, max: u128) -> u128 {
    let d = c.data_mut();
    let amount = max.min(d.ctx.cycles_available - d.ctx.cycles_accepted);
    d.ctx.cycles_accepted += amount;
    d.state.cycles = d.state.cycles.saturating_add(amount);
    amount
}

fn u128_of(high: u64, low: u64) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

fn saturating_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

system_api! {
    msg_cycles_available(c) -> u64 [cost: Cost::DEFAULT, modes: anywhere] {
        let ctx = c.ctx();
        Ok(saturating_u64(ctx.cycles_available - ctx.cycles_accepted))
    }
    msg_cycles_available128(c, dst: u32) -> () [cost: Cost::DEFAULT, modes: anywhere] {
        let ctx = c.ctx();
        let v = ctx.cycles_available - ctx.cycles_accepted;
        c.write_u128(dst, v)
    }
    msg_cycles_refunded(c) -> u64 [cost: Cost::DEFAULT, modes: callbacks] {
        Ok(saturating_u64(c.ctx().cycles_refunded))
    }
    msg_cycles_refunded128(c, dst: u32) -> () [cost: Cost::DEFAULT, modes: callbacks] {
        let v = c.ctx().cycles_refunded;
        c.write_u128(dst, v)
    }
    msg_cycles_accept(c, max: u64) -> u64 [cost: Cost::DEFAULT, modes: accepting_cycles] {
        Ok(accept(c, max.into()) as u64)
    }
    msg_cycles_accept128(c, high: u64, low: u64, dst: u32) -> ()
        [cost: Cost::DEFAULT, modes: accepting_cycles]
    {
        let v = accept(c, u128_of(high, low));
        c.write_u128(dst, v)
    }
    cycles_burn128(c, high: u64, low: u64, dst: u32) -> ()
        [cost: Cost::DEFAULT, modes: replicated]
    {
        let d = c.data_mut();
        let burnt = u128_of(high, low).min(d.state.cycles);
        d.state.cycles -= burnt;
        c.write_u128(dst, burnt)
    }
    canister_cycle_balance(c) -> u64 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(saturating_u64(c.data().state.cycles))
    }
    canister_cycle_balance128(c, dst: u32) -> () [cost: Cost::DEFAULT, modes: anywhere] {
        let v = c.data().state.cycles;
        c.write_u128(dst, v)
    }
    canister_liquid_cycle_balance128(c, dst: u32) -> () [cost: Cost::DEFAULT, modes: anywhere] {
        let v = c.data().state.cycles;
        c.write_u128(dst, v)
    }
}
