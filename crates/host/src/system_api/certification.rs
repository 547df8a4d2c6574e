//! Certified data (set in replicated executions) and the data certificate (present in
//! non-replicated queries).

use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;

/// Maximum size of certified data.
pub(crate) const MAX_CERTIFIED_DATA_BYTES: usize = 32;

const NO_CERTIFICATE: &str = "no certificate is available (only in non-replicated queries)";

system_api! {
    certified_data_set(c, src: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: replicated_updates]
    {
        if size as usize > MAX_CERTIFIED_DATA_BYTES {
            return c.violation(format!(
                "certified data of {size} bytes exceeds the limit of {MAX_CERTIFIED_DATA_BYTES} bytes"
            ));
        }
        let bytes = c.read_heap(src, size)?;
        c.data_mut().state.certified_data = bytes;
        Ok(())
    }
    data_certificate_present(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        Ok(u32::from(c.ctx().data_certificate.is_some()))
    }
    data_certificate_size(c) -> u32 [cost: Cost::DEFAULT, modes: anywhere] {
        match &c.ctx().data_certificate {
            Some(cert) => Ok(cert.len() as u32),
            None => c.violation(NO_CERTIFICATE),
        }
    }
    data_certificate_copy(c, dst: u32, off: u32, size: u32) -> ()
        [cost: Cost::DEFAULT + u64::from(size), modes: anywhere]
    {
        if c.ctx().data_certificate.is_none() {
            return c.violation(NO_CERTIFICATE);
        }
        c.copy_out(dst, off, size, |d| {
            d.ctx.data_certificate.as_ref().map_or(&[][..], |v| v.as_slice())
        })
    }
}
