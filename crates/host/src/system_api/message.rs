//! Message arguments, the caller, reject information and the method name, and
//! `accept_message` (the interface specification's "message" functions).

use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;

system_api! {
    msg_arg_data_size(c) -> u32 [cost: Cost::DEFAULT, modes: with_arg] {
        Ok(c.ctx().arg.len() as u32)
    }
    msg_arg_data_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: with_arg]
    {
        c.copy_out(dst, off, size, |d| &d.ctx.arg)
    }
    msg_caller_size(c) -> u32 [cost: Cost::DEFAULT, modes: not_start] {
        Ok(c.ctx().caller.as_slice().len() as u32)
    }
    msg_caller_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: not_start]
    {
        c.copy_out(dst, off, size, |d| d.ctx.caller.as_slice())
    }
    // No caller info is attached to messages on this host: both are empty.
    msg_caller_info_data_size(_c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(0)
    }
    msg_caller_info_data_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        c.copy_out(dst, off, size, |_| &[])
    }
    msg_caller_info_signer_size(_c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(0)
    }
    msg_caller_info_signer_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        c.copy_out(dst, off, size, |_| &[])
    }
    msg_reject_code(c) -> u32 [cost: Cost::DEFAULT, modes: callbacks] {
        Ok(c.ctx().reject.as_ref().map_or(0, |r| r.code.as_u32()))
    }
    msg_reject_msg_size(c) -> u32 [cost: Cost::DEFAULT, modes: reject_callback] {
        Ok(c.ctx().reject.as_ref().map_or(0, |r| r.message.len() as u32))
    }
    msg_reject_msg_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: reject_callback]
    {
        c.copy_out(dst, off, size, |d| {
            d.ctx.reject.as_ref().map_or(&[][..], |r| r.message.as_bytes())
        })
    }
    // Best-effort responses are not modelled: every call is a guaranteed-response call.
    msg_deadline(_c) -> u64 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(0)
    }
    msg_method_name_size(c) -> u32 [cost: Cost::DEFAULT, modes: with_method_name] {
        Ok(c.ctx().method.len() as u32)
    }
    msg_method_name_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: with_method_name]
    {
        c.copy_out(dst, off, size, |d| d.ctx.method.as_bytes())
    }
    accept_message(c) -> () [cost: Cost::DEFAULT, modes: inspect_message] {
        if c.ctx().accepted {
            return c.violation("the message was already accepted");
        }
        c.ctx_mut().accepted = true;
        Ok(())
    }
}
