//! Time, the global timer and the performance counters.

use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;

system_api! {
    time(c) -> u64 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.ctx().time)
    }
    global_timer_set(c, deadline: u64) -> u64 [cost: Cost::DEFAULT, modes: replicated_updates] {
        let state = &mut c.data_mut().state;
        Ok(std::mem::replace(&mut state.global_timer, deadline))
    }
    // Counter 0: this execution's instructions; 1: the call context's, this one included.
    performance_counter(c, counter: u32) -> u64
        [cost: Cost::PERFORMANCE_COUNTER, modes: anywhere]
    {
        let now = c.instructions_so_far()?;
        match counter {
            0 => Ok(now),
            1 => Ok(c.ctx().call_context_instructions + now),
            other => c.violation(format!("unknown counter type {other}")),
        }
    }
}
