//! The management canister (`aaaaa-aa`) for ingress messages, as the IC serves it to users:
//! `canister_status`, `update_settings`, `install_code`, the chunk store and
//! `install_chunked_code`, `start_canister`, `stop_canister` and `delete_canister`, for
//! controllers only. Beside it, the two system canisters `icp deploy` creates canisters
//! through ([`ledger`]), the registry's subnet lookup ([`registry`]), and the `icp:*`
//! metadata sections of installed modules ([`metadata`]).
//!
//! Checks happen where the IC makes them. [`Host::system_ingress_check`] is the replica's
//! ingress filter (`should_accept_ingress_message`): a missing canister (IC0301) or a sender
//! that is not a controller (IC0512) is refused before the message is accepted, which clients
//! see as a non-replicated rejection. Everything else is checked during execution
//! ([`Host::system_update`]) and is a certified reject. Messages are the replica's texts, so
//! that the error codes [`crate::error`]'s users derive from them are the IC's.
//!
//! Touches `canisters` (settings, chunk stores, status, deletion); installation goes through
//! [`super::install`]. Settings other than the controllers and the chunk store are kept in
//! memory only (a restarted host reports the defaults).

mod chunks;
pub(crate) mod ledger;
mod metadata;
pub(crate) mod registry;
mod settings;
mod types;

pub use metadata::CanisterMetadata;
pub(crate) use metadata::SectionCache;
pub(crate) use settings::Settings;

use super::{Host, MAX_INGRESS_PAYLOAD_BYTES};
use crate::error::{HostError, Reject, RejectCode};
use crate::runtime::CanisterStatus;
use candid::{Decode, Encode, Nat, Principal};
use chunks::ChunkStore;
use serde_bytes::ByteBuf;
use types::*;

/// Management methods a user may call on a canister it controls.
const CONTROLLER_METHODS: [&str; 10] = [
    "canister_status",
    "update_settings",
    "install_code",
    "install_chunked_code",
    "upload_chunk",
    "clear_chunk_store",
    "stored_chunks",
    "start_canister",
    "stop_canister",
    "delete_canister",
];

/// Management methods only canisters may call (the replica's list for ingress).
const CANISTER_ONLY_METHODS: [&str; 12] = [
    "create_canister",
    "raw_rand",
    "deposit_cycles",
    "http_request",
    "canister_info",
    "canister_metadata",
    "ecdsa_public_key",
    "sign_with_ecdsa",
    "schnorr_public_key",
    "sign_with_schnorr",
    "vetkd_public_key",
    "provisional_top_up_canister",
];

/// What the management canister keeps per canister beside [`crate::runtime::CanisterState`].
#[derive(Default)]
pub(crate) struct Managed {
    pub settings: Settings,
    pub chunks: ChunkStore,
    pub sections: SectionCache,
}

impl Managed {
    /// A new canister's, with the host's default `wasm_memory_limit`.
    pub(crate) fn with_wasm_memory_limit(limit: u64) -> Self {
        let mut managed = Managed::default();
        managed.settings.set_wasm_memory_limit(limit);
        managed
    }
}

fn reject(code: RejectCode, message: impl Into<String>) -> Reject {
    Reject::new(code, message)
}

fn decode_error(e: candid::Error) -> Reject {
    reject(
        RejectCode::CanisterError,
        format!("Error decoding candid: {e}"),
    )
}

fn encode<T: candid::CandidType>(value: &T) -> Result<Vec<u8>, Reject> {
    Encode!(value).map_err(|e| reject(RejectCode::SysFatal, format!("encoding the reply: {e}")))
}

/// The reject a management call gets for a host error, in the replica's words.
fn host_error_reject(e: HostError) -> Reject {
    match e {
        HostError::CanisterNotFound(id) => reject(
            RejectCode::DestinationInvalid,
            format!("Canister {id} not found."),
        ),
        HostError::NotController { canister, sender } => reject(
            RejectCode::CanisterError,
            format!(
                "Only the controllers of the canister {canister} can control it.\nSender's ID: {sender}"
            ),
        ),
        HostError::AlreadyInstalled(id) => reject(
            RejectCode::CanisterError,
            format!(
                "Canister {id} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead."
            ),
        ),
        HostError::NotInstalled(_) => reject(
            RejectCode::CanisterError,
            "Attempted to execute a message, but the canister contains no Wasm module.",
        ),
        HostError::InstallFailed { reject, .. } => reject,
        HostError::InvalidModule(e) => reject(
            RejectCode::CanisterError,
            format!("Wasm module is not valid: {e}"),
        ),
        other => reject(RejectCode::SysFatal, other.to_string()),
    }
}

impl Host {
    /// Whether `id` is a canister the host provides itself: the management canister, and
    /// the cycles ledger, CMC and registry under their mainnet ids (unless a canister of this host has
    /// the same id, as one restored from an older state may).
    pub fn is_system_canister(&self, id: Principal) -> bool {
        id == Principal::management_canister()
            || (ledger::is_reserved_id(id) && !self.canisters.contains_key(&id))
    }

    /// The IC's ingress filter for a message to a system canister: `Ok` with the effective
    /// canister id the message must be sent to, or the non-replicated rejection the IC gives
    /// before accepting it.
    pub fn system_ingress_check(
        &self,
        callee: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Principal, Reject> {
        if arg.len() > MAX_INGRESS_PAYLOAD_BYTES {
            return Err(reject(
                RejectCode::CanisterError,
                HostError::PayloadTooLarge {
                    size: arg.len(),
                    limit: MAX_INGRESS_PAYLOAD_BYTES,
                }
                .to_string(),
            ));
        }
        if callee != Principal::management_canister() {
            return ledger::ingress_check(callee, method);
        }
        if CANISTER_ONLY_METHODS.contains(&method) {
            return Err(reject(
                RejectCode::CanisterReject,
                format!("Only canisters can call ic00 method {method}"),
            ));
        }
        if !CONTROLLER_METHODS.contains(&method) {
            return Err(reject(
                RejectCode::CanisterError,
                format!("Management canister has no method '{method}'"),
            ));
        }
        let target = Decode!(arg, TargetOnly).map_err(decode_error)?;
        let id = if method == "install_chunked_code" {
            target.target_canister
        } else {
            target.canister_id
        }
        .ok_or_else(|| {
            reject(
                RejectCode::CanisterError,
                format!("Error decoding candid: the argument of {method} names no canister"),
            )
        })?;
        let Some(c) = self.canisters.get(&id) else {
            return Err(reject(
                RejectCode::DestinationInvalid,
                format!("Canister {id} not found"),
            ));
        };
        if !c.state.controllers.contains(&sender) {
            return Err(reject(
                RejectCode::CanisterError,
                format!("Only controllers of canister {id} can call ic00 method {method}"),
            ));
        }
        Ok(id)
    }

    /// Executes an update call from `sender` to a system canister (see
    /// [`Self::is_system_canister`]); callers run [`Self::system_ingress_check`] first. The
    /// reply, or the certified reject.
    pub fn system_update(
        &mut self,
        callee: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, Reject> {
        let result = if callee == Principal::management_canister() {
            self.management_update(sender, method, arg)
        } else {
            self.ledger_update(callee, sender, method, arg)
        };
        self.time_ns += 1;
        result
    }

    fn management_update(
        &mut self,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, Reject> {
        match method {
            "canister_status" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                encode(&self.status_record(a.canister_id))
            }
            "update_settings" => {
                let a = Decode!(arg, UpdateSettingsArgs).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                let c = self.canisters.get_mut(&a.canister_id).expect("checked");
                let controllers = c.managed.settings.update(&a.settings)?;
                if let Some(controllers) = controllers {
                    self.change_controllers(a.canister_id, sender, controllers);
                }
                encode(&())
            }
            "install_code" => {
                let a = Decode!(arg, InstallCodeArgs).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                self.install_mode(a.canister_id, &a.mode, &a.wasm_module, &a.arg, sender)
            }
            "upload_chunk" => {
                let a = Decode!(arg, UploadChunkArgs).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                let c = self.canisters.get_mut(&a.canister_id).expect("checked");
                let hash = c.managed.chunks.upload(a.chunk.into_vec())?;
                encode(&ChunkHash {
                    hash: ByteBuf::from(hash.to_vec()),
                })
            }
            "clear_chunk_store" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                let c = self.canisters.get_mut(&a.canister_id).expect("checked");
                c.managed.chunks = ChunkStore::default();
                encode(&())
            }
            "stored_chunks" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                let hashes: Vec<ChunkHash> = self.canisters[&a.canister_id]
                    .managed
                    .chunks
                    .hashes()
                    .map(|h| ChunkHash {
                        hash: ByteBuf::from(h.to_vec()),
                    })
                    .collect();
                encode(&hashes)
            }
            "install_chunked_code" => {
                let a = Decode!(arg, InstallChunkedCodeArgs).map_err(decode_error)?;
                self.controlled(a.target_canister, sender)?;
                let store = a.store_canister.unwrap_or(a.target_canister);
                self.controlled(store, sender)?;
                let wasm = self.canisters[&store]
                    .managed
                    .chunks
                    .assemble(&a.chunk_hashes_list, &a.wasm_module_hash)?;
                self.install_mode(a.target_canister, &a.mode, &wasm, &a.arg, sender)
            }
            "start_canister" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                self.start_canister(a.canister_id, sender)
                    .map_err(host_error_reject)?;
                encode(&())
            }
            "stop_canister" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                self.stop_canister(a.canister_id, sender)
                    .map_err(host_error_reject)?;
                encode(&())
            }
            "delete_canister" => {
                let a = Decode!(arg, CanisterIdRecord).map_err(decode_error)?;
                self.controlled(a.canister_id, sender)?;
                let id = a.canister_id;
                if self.canisters[&id].state.status != CanisterStatus::Stopped {
                    return Err(reject(
                        RejectCode::CanisterError,
                        format!("Canister {id} must be stopped before it is deleted."),
                    ));
                }
                self.canisters.remove(&id);
                encode(&())
            }
            other => Err(reject(
                RejectCode::CanisterError,
                format!("Management canister has no method '{other}'"),
            )),
        }
    }

    /// The execution-time controller check, in the replica's words.
    fn controlled(&self, id: Principal, sender: Principal) -> Result<(), Reject> {
        let Some(c) = self.canisters.get(&id) else {
            return Err(reject(
                RejectCode::DestinationInvalid,
                format!("Canister {id} not found."),
            ));
        };
        if c.state.controllers.contains(&sender) {
            return Ok(());
        }
        let controllers: Vec<String> = c.state.controllers.iter().map(|p| p.to_text()).collect();
        Err(reject(
            RejectCode::CanisterError,
            format!(
                "Only the controllers of the canister {id} can control it.\nCanister's controllers: {}\nSender's ID: {sender}",
                controllers.join(" ")
            ),
        ))
    }

    fn install_mode(
        &mut self,
        id: Principal,
        mode: &InstallMode,
        wasm: &[u8],
        arg: &[u8],
        sender: Principal,
    ) -> Result<Vec<u8>, Reject> {
        let outcome = match mode {
            InstallMode::Install => self.install_code(id, wasm, arg, sender),
            InstallMode::Reinstall => self.reinstall_code(id, wasm, arg, sender),
            InstallMode::Upgrade(flags) => {
                let flags = flags.as_ref();
                if flags.and_then(|f| f.skip_pre_upgrade) == Some(true) {
                    return Err(reject(
                        RejectCode::CanisterError,
                        "icinfer-host does not support skip_pre_upgrade",
                    ));
                }
                if flags.and_then(|f| f.wasm_memory_persistence)
                    == Some(WasmMemoryPersistence::Keep)
                {
                    return Err(reject(
                        RejectCode::CanisterError,
                        "icinfer-host does not support enhanced orthogonal persistence (wasm_memory_persistence = keep)",
                    ));
                }
                self.upgrade_canister(id, wasm, arg, sender)
            }
        };
        outcome.map_err(host_error_reject)?;
        encode(&())
    }

    fn status_record(&mut self, id: Principal) -> CanisterStatusResult {
        let heap = self.heap_size(id).unwrap_or(0) as u64;
        let c = &self.canisters[&id];
        let stable = c.state.stable_memory.size_bytes();
        let binary = c.wasm.as_ref().map_or(0, |w| w.len() as u64);
        let chunks = c.managed.chunks.size_bytes();
        let nat = |n: u64| Nat::from(n);
        CanisterStatusResult {
            status: match c.state.status {
                CanisterStatus::Running => StatusKind::Running,
                CanisterStatus::Stopping => StatusKind::Stopping,
                CanisterStatus::Stopped => StatusKind::Stopped,
            },
            ready_for_migration: false,
            version: c.state.version,
            settings: c.managed.settings.definite(c.state.controllers.clone()),
            module_hash: c.state.module_hash.map(|h| ByteBuf::from(h.to_vec())),
            memory_size: nat(heap + stable + binary + chunks),
            memory_metrics: MemoryMetrics {
                wasm_memory_size: nat(heap),
                stable_memory_size: nat(stable),
                global_memory_size: nat(0),
                wasm_binary_size: nat(binary),
                custom_sections_size: nat(0),
                canister_history_size: nat(0),
                wasm_chunk_store_size: nat(chunks),
                snapshots_size: nat(0),
                log_memory_store_size: nat(0),
            },
            cycles: Nat::from(c.state.cycles),
            reserved_cycles: nat(0),
            idle_cycles_burned_per_day: nat(0),
            query_stats: QueryStats {
                num_calls_total: nat(0),
                num_instructions_total: nat(0),
                request_payload_bytes_total: nat(0),
                response_payload_bytes_total: nat(0),
            },
        }
    }
}
