//! Responding: `msg_reply_data_append`, `msg_reply`, `msg_reject`.
//!
//! A call context responds once; the reply is limited to the execution's `max_reply` bytes.

use super::modes::*;
use super::{Api, R, system_api};
use crate::cost::{BYTE_TRANSMISSION_COST_FACTOR, SystemApiCost as Cost};
use crate::runtime::Response;

/// The call context has not responded yet.
fn check_can_respond(c: &Api) -> R<()> {
    let ctx = c.ctx();
    if !ctx.can_respond || ctx.response.is_some() {
        return c.violation("the call has already been replied to or rejected");
    }
    Ok(())
}

system_api! {
    msg_reply_data_append(c, src: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size), modes: replying]
    {
        check_can_respond(c)?;
        let bytes = c.read_heap(src, size)?;
        let ctx = c.ctx();
        let (len, max) = (ctx.reply_buf.len() + bytes.len(), ctx.max_reply);
        if len > max {
            return c.violation(format!(
                "application payload size ({len}) cannot be larger than {max}"
            ));
        }
        c.ctx_mut().reply_buf.extend_from_slice(&bytes);
        Ok(())
    }
    msg_reply(c) -> () [cost: Cost::DEFAULT, modes: replying] {
        check_can_respond(c)?;
        let ctx = c.ctx_mut();
        ctx.response = Some(Response::Reply(std::mem::take(&mut ctx.reply_buf)));
        Ok(())
    }
    msg_reject(c, src: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + BYTE_TRANSMISSION_COST_FACTOR * u64::from(size), modes: replying]
    {
        check_can_respond(c)?;
        let bytes = c.read_heap(src, size)?;
        if bytes.len() > c.ctx().max_reply {
            return c.violation("the reject message is too long");
        }
        c.ctx_mut().response = Some(Response::Reject(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(())
    }
}
