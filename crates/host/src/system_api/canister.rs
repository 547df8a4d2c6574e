//! The canister and its subnet: ids, status, version, root key, controllers, replication.

use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;
use candid::Principal;

/// Node count reported by `ic0.subnet_self_node_count` and used by the cost functions.
pub(super) const SUBNET_NODES: u64 = 13;

system_api! {
    canister_self_size(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.data().canister_id().as_slice().len() as u32)
    }
    canister_self_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        c.copy_out(dst, off, size, |d| d.state.id.as_ref().map_or(&[][..], |p| p.as_slice()))
    }
    canister_status(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.data().state.status as u32)
    }
    canister_version(c) -> u64 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.data().state.version)
    }
    subnet_self_size(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.ctx().subnet_id.map_or(0, |p| p.as_slice().len() as u32))
    }
    subnet_self_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        c.copy_out(dst, off, size, |d| d.ctx.subnet_id.as_ref().map_or(&[][..], |p| p.as_slice()))
    }
    subnet_self_node_count(_c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(SUBNET_NODES as u32)
    }
    root_key_size(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(c.ctx().root_key_der.len() as u32)
    }
    root_key_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        c.copy_out(dst, off, size, |d| &d.ctx.root_key_der)
    }
    is_controller(c, src: u32, size: u32) -> u32
        [cost: Cost::IS_CONTROLLER + u64::from(size), modes: anywhere]
    {
        let bytes = c.read_heap(src, size)?;
        let Ok(p) = Principal::try_from_slice(&bytes) else {
            return c.violation("the argument is not a valid principal");
        };
        Ok(u32::from(c.data().state.controllers.contains(&p)))
    }
    in_replicated_execution(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(u32::from(c.kind().is_replicated()))
    }
}
