//! The two system canisters `icp deploy` creates canisters through, at their mainnet ids:
//! the cycles ledger's `create_canister` (which creates the canister on this host, with the
//! settings given and the caller as default controller) and the cycles minting canister's
//! `get_default_subnets` query (this host's one subnet), and `deposit` for canisters. Minimal:
//! no balances, no fees.

use super::super::{Host, canister_id};
use super::registry::registry_id;
use super::types::{
    CreationArgs, DepositArgs, DepositResult, LedgerCreateCanisterArgs, LedgerCreateError,
    LedgerCreated, SubnetSelection,
};
use super::{decode_error, encode, reject};
use crate::error::{Reject, RejectCode};
use candid::{Decode, Nat, Principal};

/// `um5iw-rqaaa-aaaaq-qaaba-cai`, the cycles ledger on mainnet.
pub fn cycles_ledger_id() -> Principal {
    canister_id(0x0210_0002)
}

/// `rkp4c-7iaaa-aaaaa-aaaca-cai`, the cycles minting canister on mainnet.
pub fn cycles_minting_canister_id() -> Principal {
    canister_id(4)
}

/// Whether the host keeps `id` for a system canister (and so never creates a canister
/// with it).
pub(crate) fn is_reserved_id(id: Principal) -> bool {
    id == cycles_ledger_id() || id == cycles_minting_canister_id() || id == registry_id()
}

fn no_method(callee: Principal, kind: &str, method: &str) -> Reject {
    reject(
        RejectCode::CanisterError,
        format!("Canister {callee} has no {kind} method '{method}'"),
    )
}

/// The ingress filter of the two: updates only to the ledger's `create_canister`.
pub(super) fn ingress_check(callee: Principal, method: &str) -> Result<Principal, Reject> {
    if callee == cycles_ledger_id() && method == "create_canister" {
        Ok(callee)
    } else {
        Err(no_method(callee, "update", method))
    }
}

impl Host {
    pub(super) fn ledger_update(
        &mut self,
        callee: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, Reject> {
        if ingress_check(callee, method).is_err() {
            return Err(no_method(callee, "update", method));
        }
        let a = Decode!(arg, LedgerCreateCanisterArgs).map_err(decode_error)?;
        let creation = a.creation_args.unwrap_or_default();
        encode(&self.create_for_ledger(sender, creation))
    }

    fn create_for_ledger(
        &mut self,
        sender: Principal,
        creation: CreationArgs,
    ) -> Result<LedgerCreated, LedgerCreateError> {
        let failed = |error: String| LedgerCreateError::FailedToCreate {
            error,
            refund_block: None,
            fee_block: None,
        };
        match creation.subnet_selection {
            Some(SubnetSelection::Subnet { subnet }) if subnet != self.subnet_id => {
                return Err(failed(format!(
                    "Subnet {subnet} does not exist (this network has one subnet, {})",
                    self.subnet_id
                )));
            }
            _ => {}
        }
        let settings = creation.settings.unwrap_or_default();
        // Validate on a fresh canister's settings before creating anything.
        let mut validated = super::Settings::default();
        let controllers = validated
            .update(&settings)
            .map_err(|r| failed(r.message))?
            .unwrap_or_else(|| vec![sender]);
        let id = self.create_canister(controllers);
        self.canisters
            .get_mut(&id)
            .expect("created")
            .managed
            .settings = validated;
        Ok(LedgerCreated {
            block_id: Nat::from(self.next_canister),
            canister_id: id,
        })
    }

    /// A canister's call to the cycles ledger: `deposit` takes the attached cycles (as
    /// `icp canister delete` recovers a canister's cycles before deleting it). This ledger
    /// keeps no balances: the reply's balance is the amount deposited. Returns the result
    /// and the cycles refunded.
    pub(in crate::host) fn ledger_request(
        &mut self,
        callee: Principal,
        method: &str,
        arg: &[u8],
        cycles: u128,
    ) -> (Result<Vec<u8>, Reject>, u128) {
        if callee != cycles_ledger_id() || method != "deposit" {
            return (Err(no_method(callee, "update", method)), cycles);
        }
        if let Err(e) = Decode!(arg, DepositArgs) {
            return (Err(decode_error(e)), cycles);
        }
        let reply = encode(&DepositResult {
            balance: Nat::from(cycles),
            block_index: Nat::from(self.next_canister),
        });
        (reply, 0)
    }

    /// Runs a query to a system canister: the CMC's `get_default_subnets`, the registry's
    /// `get_subnet_for_canister`.
    pub fn system_query(
        &self,
        callee: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, Reject> {
        match method {
            "get_default_subnets" if callee == cycles_minting_canister_id() => {
                Decode!(arg).map_err(decode_error)?;
                encode(&vec![self.subnet_id])
            }
            "get_subnet_for_canister" if callee == registry_id() => self.registry_query(arg),
            _ => Err(no_method(callee, "query", method)),
        }
    }
}
