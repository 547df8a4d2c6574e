//! The Candid types of the management canister methods served here, as the current
//! interface (`ic.did` of `ic-management-canister-types` 0.9) defines them. Arguments are
//! decoded leniently (every settings field is `opt`, unknown fields are ignored); replies carry
//! every field of the current records, because clients (icp-cli) decode them strictly.

use candid::{CandidType, Deserialize, Nat, Principal};
use serde_bytes::ByteBuf;

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct CanisterIdRecord {
    pub canister_id: Principal,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Visibility {
    #[serde(rename = "controllers")]
    Controllers,
    #[serde(rename = "public")]
    Public,
    #[serde(rename = "allowed_viewers")]
    AllowedViewers(Vec<Principal>),
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvironmentVariable {
    pub name: String,
    pub value: String,
}

/// `canister_settings`: what `create_canister` and `update_settings` take; `null` means
/// "unchanged" (or the default at creation).
#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub(crate) struct CanisterSettings {
    pub controllers: Option<Vec<Principal>>,
    pub compute_allocation: Option<Nat>,
    pub memory_allocation: Option<Nat>,
    pub freezing_threshold: Option<Nat>,
    pub reserved_cycles_limit: Option<Nat>,
    pub minimum_incoming_canister_call_cycles: Option<Nat>,
    pub log_visibility: Option<Visibility>,
    pub log_memory_limit: Option<Nat>,
    pub snapshot_visibility: Option<Visibility>,
    pub status_visibility: Option<Visibility>,
    pub wasm_memory_limit: Option<Nat>,
    pub wasm_memory_threshold: Option<Nat>,
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
}

/// `definite_canister_settings`: every setting with its value.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct DefiniteCanisterSettings {
    pub controllers: Vec<Principal>,
    pub compute_allocation: Nat,
    pub memory_allocation: Nat,
    pub freezing_threshold: Nat,
    pub reserved_cycles_limit: Nat,
    pub minimum_incoming_canister_call_cycles: Nat,
    pub log_visibility: Visibility,
    pub log_memory_limit: Nat,
    pub snapshot_visibility: Visibility,
    pub status_visibility: Visibility,
    pub wasm_memory_limit: Nat,
    pub wasm_memory_threshold: Nat,
    pub environment_variables: Vec<EnvironmentVariable>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct UpdateSettingsArgs {
    pub canister_id: Principal,
    pub settings: CanisterSettings,
    pub sender_canister_version: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusKind {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "stopping")]
    Stopping,
    #[serde(rename = "stopped")]
    Stopped,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct MemoryMetrics {
    pub wasm_memory_size: Nat,
    pub stable_memory_size: Nat,
    pub global_memory_size: Nat,
    pub wasm_binary_size: Nat,
    pub custom_sections_size: Nat,
    pub canister_history_size: Nat,
    pub wasm_chunk_store_size: Nat,
    pub snapshots_size: Nat,
    pub log_memory_store_size: Nat,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct QueryStats {
    pub num_calls_total: Nat,
    pub num_instructions_total: Nat,
    pub request_payload_bytes_total: Nat,
    pub response_payload_bytes_total: Nat,
}

/// `canister_status_result`, every field of the current interface.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct CanisterStatusResult {
    pub status: StatusKind,
    pub ready_for_migration: bool,
    pub version: u64,
    pub settings: DefiniteCanisterSettings,
    pub module_hash: Option<ByteBuf>,
    pub memory_size: Nat,
    pub memory_metrics: MemoryMetrics,
    pub cycles: Nat,
    pub reserved_cycles: Nat,
    pub idle_cycles_burned_per_day: Nat,
    pub query_stats: QueryStats,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct UpgradeFlags {
    pub skip_pre_upgrade: Option<bool>,
    pub wasm_memory_persistence: Option<WasmMemoryPersistence>,
}

#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WasmMemoryPersistence {
    #[serde(rename = "keep")]
    Keep,
    #[serde(rename = "replace")]
    Replace,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) enum InstallMode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade(Option<UpgradeFlags>),
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct InstallCodeArgs {
    pub mode: InstallMode,
    pub canister_id: Principal,
    pub wasm_module: ByteBuf,
    pub arg: ByteBuf,
    pub sender_canister_version: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct UploadChunkArgs {
    pub canister_id: Principal,
    pub chunk: ByteBuf,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChunkHash {
    pub hash: ByteBuf,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct InstallChunkedCodeArgs {
    pub mode: InstallMode,
    pub target_canister: Principal,
    pub store_canister: Option<Principal>,
    pub chunk_hashes_list: Vec<ChunkHash>,
    pub wasm_module_hash: ByteBuf,
    pub arg: ByteBuf,
    pub sender_canister_version: Option<u64>,
}

/// Only the field this host needs to route and check a management call: the canister it
/// is about (`canister_id`, or `target_canister` for `install_chunked_code`).
#[derive(Deserialize, CandidType)]
pub(crate) struct TargetOnly {
    pub canister_id: Option<Principal>,
    pub target_canister: Option<Principal>,
}

// ----- The cycles ledger's `create_canister` and the CMC (mainnet ids).

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) enum SubnetSelection {
    Filter { subnet_type: Option<String> },
    Subnet { subnet: Principal },
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub(crate) struct CreationArgs {
    pub subnet_selection: Option<SubnetSelection>,
    pub settings: Option<CanisterSettings>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct LedgerCreateCanisterArgs {
    pub from_subaccount: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
    pub amount: Nat,
    pub creation_args: Option<CreationArgs>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct Account {
    pub owner: Principal,
    pub subaccount: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct DepositArgs {
    pub to: Account,
    pub memo: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct DepositResult {
    pub balance: Nat,
    pub block_index: Nat,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) struct LedgerCreated {
    pub block_id: Nat,
    pub canister_id: Principal,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub(crate) enum LedgerCreateError {
    GenericError {
        message: String,
        error_code: Nat,
    },
    FailedToCreate {
        error: String,
        refund_block: Option<Nat>,
        fee_block: Option<Nat>,
    },
}
