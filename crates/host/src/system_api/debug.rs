//! `debug_print` (a canister log record) and `trap`.

use super::modes::*;
use super::system_api;
use crate::cost::{SystemApiCost as Cost, logging_charge_bytes};
use crate::runtime::HostTrap;

/// Capacity the replica uses to price log records.
const LOG_CAPACITY: u64 = 4096;

system_api! {
    debug_print(c, src: u32, size: u32) -> ()
        [cost: Cost::DEBUG_PRINT + logging_charge_bytes(size.into(), LOG_CAPACITY), modes: anywhere]
    {
        let bytes = c.read_heap(src, size)?;
        c.ctx_mut().logs.push(String::from_utf8_lossy(&bytes).into_owned());
        Ok(())
    }
    trap(c, src: u32, size: u32) -> ()
        [
            cost: Cost::DEFAULT + u64::from(size) + logging_charge_bytes(size.into(), LOG_CAPACITY),
            modes: anywhere
        ]
    {
        let bytes = c.read_heap(src, size)?;
        Err(wasmtime::Error::new(HostTrap::CalledTrap(
            String::from_utf8_lossy(&bytes).into_owned(),
        )))
    }
}
