//! The NNS registry's `get_subnet_for_canister` query, at the registry's mainnet id
//! (`rwlgt-iiaaa-aaaaa-aaaaa-cai`), which icp-cli asks (`icp canister migrate-id`) to find a
//! canister's subnet. Minimal: this host has one subnet, whose range (`canister_range`)
//! holds every id it creates, so every canister id in that range is on it.
//!
//! The registry's id is the first of the range, so the host keeps it (canisters start at
//! the next id); a host restored from a state where a canister already has it serves that
//! canister there instead, as for the cycles ledger and the CMC.

use super::super::{Host, canister_id};
use super::{decode_error, encode};
use candid::{CandidType, Decode, Deserialize, Principal};

/// `rwlgt-iiaaa-aaaaa-aaaaa-cai`, the registry on mainnet.
pub fn registry_id() -> Principal {
    canister_id(0)
}

#[derive(CandidType, Deserialize)]
struct GetSubnetForCanisterRequest {
    principal: Option<Principal>,
}

#[derive(CandidType, Deserialize, Debug, PartialEq)]
struct SubnetForCanister {
    subnet_id: Option<Principal>,
}

impl Host {
    /// `get_subnet_for_canister`: this host's subnet for an id in its range, the registry's
    /// `Err` text otherwise.
    pub(super) fn registry_query(&self, arg: &[u8]) -> Result<Vec<u8>, crate::error::Reject> {
        let request = Decode!(arg, GetSubnetForCanisterRequest).map_err(decode_error)?;
        let answer: Result<SubnetForCanister, String> = match request.principal {
            None => Err("No principal supplied".into()),
            Some(id) if in_range(id) => Ok(SubnetForCanister {
                subnet_id: Some(self.subnet_id),
            }),
            Some(_) => Err("Canister is not assigned to any subnet.".into()),
        };
        encode(&answer)
    }
}

/// Whether `id` is a canister id of this host's one range.
fn in_range(id: Principal) -> bool {
    let (first, last) = Host::canister_range();
    let bytes = id.as_slice();
    bytes.len() == first.as_slice().len() && bytes >= first.as_slice() && bytes <= last.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostConfig;
    use candid::Encode;

    fn ask(host: &Host, principal: Option<Principal>) -> Result<SubnetForCanister, String> {
        let arg = Encode!(&GetSubnetForCanisterRequest { principal }).unwrap();
        let reply = host
            .system_query(registry_id(), "get_subnet_for_canister", &arg)
            .unwrap();
        Decode!(&reply, Result<SubnetForCanister, String>).unwrap()
    }

    #[test]
    fn the_registry_names_the_one_subnet_of_every_canister_in_its_range() {
        let mut host = Host::new(HostConfig {
            module_cache_dir: None,
            ..HostConfig::default()
        });
        assert_eq!(registry_id().to_text(), "rwlgt-iiaaa-aaaaa-aaaaa-cai");
        assert!(host.is_system_canister(registry_id()));
        // The host keeps the registry's id: its first canister is the next one.
        let first = host.create_canister(vec![Principal::anonymous()]);
        assert_eq!(first.to_text(), "rrkah-fqaaa-aaaaa-aaaaq-cai");
        let subnet = Some(host.subnet_id());
        assert_eq!(ask(&host, Some(first)).unwrap().subnet_id, subnet);
        assert_eq!(
            ask(&host, Some(canister_id(1 << 40))).unwrap().subnet_id,
            subnet
        );
        assert!(ask(&host, Some(Principal::from_slice(&[7; 29]))).is_err());
        assert!(ask(&host, None).is_err());
        // Only that query, and only at the registry's id.
        let arg = Encode!(&GetSubnetForCanisterRequest { principal: None }).unwrap();
        assert!(
            host.system_query(registry_id(), "get_default_subnets", &arg)
                .is_err()
        );
        assert!(
            host.system_query(first, "get_subnet_for_canister", &arg)
                .is_err()
        );
        assert!(
            host.system_query(registry_id(), "get_subnet_for_canister", b"junk")
                .is_err()
        );
    }
}
