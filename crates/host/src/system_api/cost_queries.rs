//! What calls, canister creation and HTTP requests would cost, in cycles, with the fees of a
//! 13-node application subnet.

use super::canister::SUBNET_NODES;
use super::modes::*;
use super::system_api;
use crate::cost::SystemApiCost as Cost;

system_api! {
    cost_call(c, method_size: u64, payload_size: u64, dst: u32) -> ()
        [cost: Cost::DEFAULT, modes: anywhere]
    {
        let cost = 260_000u128 + 1_000 * u128::from(method_size.saturating_add(payload_size));
        c.write_u128(dst, cost)
    }
    cost_create_canister(c, dst: u32) -> () [cost: Cost::DEFAULT, modes: anywhere] {
        c.write_u128(dst, 500_000_000_000)
    }
    cost_http_request(c, request_size: u64, max_res: u64, dst: u32) -> ()
        [cost: Cost::DEFAULT, modes: anywhere]
    {
        let n = u128::from(SUBNET_NODES);
        let cost = (3_000_000 + 60_000 * n) * n
            + 400 * n * u128::from(request_size)
            + 800 * n * u128::from(max_res);
        c.write_u128(dst, cost)
    }
}
