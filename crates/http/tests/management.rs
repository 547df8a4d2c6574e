//! The management canister, the cycles ledger's `create_canister`, the CMC's
//! `get_default_subnets` and `/canister/<id>/metadata/<name>`, through ic-agent as icp-cli
//! uses them.
//!
//! Setup: the host-test-canister with an `icp:public candid:service` and an
//! `icp:private secret` section appended, installed through the host API with
//! `ed25519(1)` as its controller; the host served on 127.0.0.1:<free port>.
//! Success criteria per test: the replies and the IC's error codes and messages.

mod common;

use candid::{CandidType, Decode, Deserialize, Encode, Nat, Principal};
use common::*;
use ic_agent::identity::BasicIdentity;
use ic_agent::{Agent, AgentError, Identity};
use icinfer_host::Host;
use sha2::{Digest, Sha256};

fn ed25519(n: u8) -> BasicIdentity {
    BasicIdentity::from_raw_key(&[n; 32])
}

async fn agent(url: &str, identity: impl Identity + 'static) -> Agent {
    let agent = Agent::builder()
        .with_url(url)
        .with_identity(identity)
        .build()
        .expect("agent");
    agent.fetch_root_key().await.expect("fetch the root key");
    agent
}

/// A custom section (id 0): LEB128 size, LEB128 name length, name, content.
fn custom_section(name: &str, content: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(content);
    let mut out = vec![0];
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

const CANDID: &str = "service : { greet : (text) -> (text) query }";
const SECRET: &[u8] = b"for controllers only";

fn wasm_with_metadata() -> Vec<u8> {
    let mut wasm = test_canister_wasm();
    wasm.extend(custom_section(
        "icp:public candid:service",
        CANDID.as_bytes(),
    ));
    wasm.extend(custom_section("icp:private secret", SECRET));
    wasm
}

/// A served host with the test canister (with metadata) controlled by `ed25519(1)`.
fn serve_managed() -> (Served, Principal) {
    let s = serve_test_canister();
    let owner = ed25519(1).sender().unwrap();
    let wasm = wasm_with_metadata();
    let id = s.handle.with(move |h: &mut Host| {
        let id = h.create_canister(vec![owner]);
        h.install_code(id, &wasm, &Encode!(&Some("first")).unwrap(), owner)
            .expect("install");
        id
    });
    (s, id)
}

#[derive(CandidType, Deserialize, Debug, PartialEq, Eq, Clone)]
enum Visibility {
    #[serde(rename = "controllers")]
    Controllers,
    #[serde(rename = "public")]
    Public,
    #[serde(rename = "allowed_viewers")]
    AllowedViewers(Vec<Principal>),
}

#[derive(CandidType, Deserialize, Debug, PartialEq, Eq, Clone)]
struct EnvVar {
    name: String,
    value: String,
}

/// `definite_canister_settings` of the current `ic.did`, every field required.
#[derive(CandidType, Deserialize, Debug)]
struct Definite {
    controllers: Vec<Principal>,
    compute_allocation: Nat,
    memory_allocation: Nat,
    freezing_threshold: Nat,
    reserved_cycles_limit: Nat,
    minimum_incoming_canister_call_cycles: Nat,
    log_visibility: Visibility,
    log_memory_limit: Nat,
    snapshot_visibility: Visibility,
    status_visibility: Visibility,
    wasm_memory_limit: Nat,
    wasm_memory_threshold: Nat,
    environment_variables: Vec<EnvVar>,
}

#[derive(CandidType, Deserialize, Debug, PartialEq, Eq)]
enum Status {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "stopping")]
    Stopping,
    #[serde(rename = "stopped")]
    Stopped,
}

#[derive(CandidType, Deserialize, Debug)]
struct MemoryMetrics {
    wasm_memory_size: Nat,
    stable_memory_size: Nat,
    global_memory_size: Nat,
    wasm_binary_size: Nat,
    custom_sections_size: Nat,
    canister_history_size: Nat,
    wasm_chunk_store_size: Nat,
    snapshots_size: Nat,
    log_memory_store_size: Nat,
}

#[derive(CandidType, Deserialize, Debug)]
struct QueryStats {
    num_calls_total: Nat,
    num_instructions_total: Nat,
    request_payload_bytes_total: Nat,
    response_payload_bytes_total: Nat,
}

/// `canister_status_result` of the current `ic.did`, as icp-cli decodes it.
#[derive(CandidType, Deserialize, Debug)]
struct StatusResult {
    status: Status,
    ready_for_migration: bool,
    version: u64,
    settings: Definite,
    module_hash: Option<Vec<u8>>,
    memory_size: Nat,
    memory_metrics: MemoryMetrics,
    cycles: Nat,
    reserved_cycles: Nat,
    idle_cycles_burned_per_day: Nat,
    query_stats: QueryStats,
}

#[derive(CandidType, Deserialize)]
struct Id {
    canister_id: Principal,
}

#[derive(CandidType, Deserialize, Default)]
struct Settings {
    controllers: Option<Vec<Principal>>,
    wasm_memory_limit: Option<Nat>,
    wasm_memory_threshold: Option<Nat>,
    log_visibility: Option<Visibility>,
    environment_variables: Option<Vec<EnvVar>>,
}

#[derive(CandidType, Deserialize)]
struct UpdateSettings {
    canister_id: Principal,
    settings: Settings,
    sender_canister_version: Option<u64>,
}

#[derive(CandidType, Deserialize)]
enum Mode {
    #[serde(rename = "install")]
    Install,
    #[serde(rename = "reinstall")]
    Reinstall,
    #[serde(rename = "upgrade")]
    Upgrade(Option<()>),
}

#[derive(CandidType, Deserialize)]
struct InstallCode {
    mode: Mode,
    canister_id: Principal,
    wasm_module: Vec<u8>,
    arg: Vec<u8>,
    sender_canister_version: Option<u64>,
}

#[derive(CandidType, Deserialize)]
struct UploadChunk {
    canister_id: Principal,
    chunk: Vec<u8>,
}

#[derive(CandidType, Deserialize, Debug, PartialEq, Eq, Clone)]
struct ChunkHash {
    hash: Vec<u8>,
}

#[derive(CandidType, Deserialize)]
struct InstallChunked {
    mode: Mode,
    target_canister: Principal,
    store_canister: Option<Principal>,
    chunk_hashes_list: Vec<ChunkHash>,
    wasm_module_hash: Vec<u8>,
    arg: Vec<u8>,
    sender_canister_version: Option<u64>,
}

/// A management call as icp-cli sends it: an update to `aaaaa-aa` with the target as the
/// effective canister id.
async fn manage(
    agent: &Agent,
    target: Principal,
    method: &str,
    arg: Vec<u8>,
) -> Result<Vec<u8>, AgentError> {
    agent
        .update(&Principal::management_canister(), method)
        .with_effective_canister_id(target)
        .with_arg(arg)
        .call_and_wait()
        .await
}

async fn status(agent: &Agent, id: Principal) -> StatusResult {
    let reply = manage(
        agent,
        id,
        "canister_status",
        Encode!(&Id { canister_id: id }).unwrap(),
    )
    .await
    .expect("canister_status");
    Decode!(&reply, StatusResult).expect("the whole canister_status_result")
}

/// (error code, message) of a non-replicated rejection; panics on anything else.
fn uncertified(e: AgentError) -> (String, String) {
    match e {
        AgentError::UncertifiedReject { reject, .. } => {
            (reject.error_code.unwrap_or_default(), reject.reject_message)
        }
        other => panic!("expected a non-replicated rejection, got {other}"),
    }
}

/// (error code, message) of a certified reject; panics on anything else.
fn certified(e: AgentError) -> (String, String) {
    match e {
        AgentError::CertifiedReject { reject, .. } => {
            (reject.error_code.unwrap_or_default(), reject.reject_message)
        }
        other => panic!("expected a certified reject, got {other}"),
    }
}

/// Public metadata is served to anyone, private metadata to controllers only (a
/// non-controller's read_state is refused), a missing section is absent.
#[tokio::test]
async fn metadata_public_to_all_private_to_controllers() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let stranger = agent(&s.server.url(), ed25519(2)).await;
    for a in [&owner, &stranger] {
        let candid = a
            .read_state_canister_metadata(id, "candid:service")
            .await
            .expect("public metadata");
        assert_eq!(candid, CANDID.as_bytes());
    }
    assert_eq!(
        owner
            .read_state_canister_metadata(id, "secret")
            .await
            .expect("a controller reads private metadata"),
        SECRET
    );
    match stranger.read_state_canister_metadata(id, "secret").await {
        Err(AgentError::HttpError(e)) => {
            assert_eq!(e.status, 403);
            assert!(
                String::from_utf8_lossy(&e.content)
                    .contains("can only be requested by the controllers"),
                "{e:?}"
            );
        }
        other => panic!("expected HTTP 403, got {other:?}"),
    }
    assert!(matches!(
        owner.read_state_canister_metadata(id, "absent").await,
        Err(AgentError::LookupPathAbsent(_))
    ));
}

/// canister_status decodes as the whole current record, with the replica's defaults; a
/// non-controller gets IC0512 and a missing canister IC0301, both before acceptance.
#[tokio::test]
async fn canister_status_for_controllers() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let st = status(&owner, id).await;
    assert_eq!(st.status, Status::Running);
    assert_eq!(st.settings.controllers, vec![ed25519(1).sender().unwrap()]);
    assert_eq!(st.settings.freezing_threshold, Nat::from(2_592_000u64));
    assert_eq!(st.settings.wasm_memory_limit, Nat::from(3_221_225_472u64));
    assert_eq!(st.settings.log_visibility, Visibility::Controllers);
    let wasm = wasm_with_metadata();
    let hash: [u8; 32] = Sha256::digest(&wasm).into();
    assert_eq!(st.module_hash.as_deref(), Some(&hash[..]));
    assert_eq!(st.memory_metrics.wasm_binary_size, Nat::from(wasm.len()));
    assert_eq!(st.version, 1);

    let stranger = agent(&s.server.url(), ed25519(2)).await;
    let (code, message) = uncertified(
        manage(
            &stranger,
            id,
            "canister_status",
            Encode!(&Id { canister_id: id }).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0512");
    assert_eq!(
        message,
        format!("Only controllers of canister {id} can call ic00 method canister_status")
    );
    let missing = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0, 1, 1]);
    let (code, message) = uncertified(
        manage(
            &owner,
            missing,
            "canister_status",
            Encode!(&Id {
                canister_id: missing
            })
            .unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        (code.as_str(), message),
        ("IC0301", format!("Canister {missing} not found"))
    );
    // Users may not call canister-only methods.
    let (code, _) = uncertified(
        manage(&owner, id, "raw_rand", Encode!().unwrap())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0406");
}

/// update_settings changes the fields given and keeps the rest; invalid settings are a
/// certified IC0504 reject that changes nothing.
#[tokio::test]
async fn update_settings_validates_then_applies() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let vars = vec![EnvVar {
        name: "PUBLIC_CANISTER_ID:inference".into(),
        value: id.to_text(),
    }];
    let co = ed25519(3).sender().unwrap();
    let update = |settings| {
        Encode!(&UpdateSettings {
            canister_id: id,
            settings,
            sender_canister_version: None,
        })
        .unwrap()
    };
    manage(
        &owner,
        id,
        "update_settings",
        update(Settings {
            environment_variables: Some(vars.clone()),
            controllers: Some(vec![ed25519(1).sender().unwrap(), co]),
            log_visibility: Some(Visibility::Public),
            ..Settings::default()
        }),
    )
    .await
    .expect("update_settings");
    let st = status(&owner, id).await;
    assert_eq!(st.settings.environment_variables, vars);
    assert_eq!(st.settings.controllers.len(), 2);
    assert_eq!(st.settings.log_visibility, Visibility::Public);
    assert_eq!(st.settings.freezing_threshold, Nat::from(2_592_000u64));
    // The new controller may manage the canister.
    let co_agent = agent(&s.server.url(), ed25519(3)).await;
    status(&co_agent, id).await;

    let too_many: Vec<Principal> = (10..21).map(|n| ed25519(n).sender().unwrap()).collect();
    let (code, message) = certified(
        manage(
            &owner,
            id,
            "update_settings",
            update(Settings {
                controllers: Some(too_many),
                log_visibility: Some(Visibility::Controllers),
                ..Settings::default()
            }),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0504");
    assert!(
        message.contains("'controllers' length exceeds maximum size allowed of 10"),
        "{message}"
    );
    let (code, message) = certified(
        manage(
            &owner,
            id,
            "update_settings",
            update(Settings {
                wasm_memory_limit: Some(Nat::from(1000u64)),
                wasm_memory_threshold: Some(Nat::from(2000u64)),
                ..Settings::default()
            }),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0504");
    assert!(
        message.contains("'wasm_memory_threshold' cannot be larger than 'wasm_memory_limit'"),
        "{message}"
    );
    let st = status(&owner, id).await;
    assert_eq!(
        st.settings.controllers.len(),
        2,
        "a rejected update changes nothing"
    );
    assert_eq!(st.settings.log_visibility, Visibility::Public);
}

/// stop, start and delete: a running canister cannot be deleted (IC0510), a stopped one
/// rejects calls (IC0508) and can be deleted, after which it is not found (IC0301).
#[tokio::test]
async fn stop_start_delete() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let arg = || Encode!(&Id { canister_id: id }).unwrap();
    let (code, message) = certified(
        manage(&owner, id, "delete_canister", arg())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0510");
    assert_eq!(
        message,
        format!("Canister {id} must be stopped before it is deleted.")
    );

    manage(&owner, id, "stop_canister", arg())
        .await
        .expect("stop");
    assert_eq!(status(&owner, id).await.status, Status::Stopped);
    let (code, _) = uncertified(
        owner
            .update(&id, "set_heap")
            .with_arg(Encode!(&1u64).unwrap())
            .call_and_wait()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0508");
    manage(&owner, id, "start_canister", arg())
        .await
        .expect("start");
    assert_eq!(status(&owner, id).await.status, Status::Running);
    owner
        .update(&id, "set_heap")
        .with_arg(Encode!(&1u64).unwrap())
        .call_and_wait()
        .await
        .expect("a started canister runs");

    let stranger = agent(&s.server.url(), ed25519(2)).await;
    let (code, _) = uncertified(
        manage(&stranger, id, "stop_canister", arg())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0512");

    manage(&owner, id, "stop_canister", arg())
        .await
        .expect("stop");
    manage(&owner, id, "delete_canister", arg())
        .await
        .expect("delete");
    let (code, _) = uncertified(
        manage(&owner, id, "canister_status", arg())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0301");
    assert!(
        s.handle
            .with(move |h: &mut Host| h.canister_state(id).is_none())
    );
}

/// install_code: install on a non-empty canister is IC0514; reinstall runs init again;
/// upgrade runs post_upgrade with its argument; each bumps the version.
#[tokio::test]
async fn install_reinstall_upgrade() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let install = |mode, arg: &str| {
        Encode!(&InstallCode {
            mode,
            canister_id: id,
            wasm_module: test_canister_wasm(),
            arg: Encode!(&Some(arg.to_string())).unwrap(),
            sender_canister_version: None,
        })
        .unwrap()
    };
    let (code, message) = certified(
        manage(&owner, id, "install_code", install(Mode::Install, "x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "IC0514");
    assert!(
        message.contains("Try installing with mode='reinstall' instead."),
        "{message}"
    );

    // Larger than an ingress message may be: refused before acceptance (hence chunks).
    let too_big = Encode!(&InstallCode {
        mode: Mode::Reinstall,
        canister_id: id,
        wasm_module: vec![0; 2 * 1024 * 1024],
        arg: Vec::new(),
        sender_canister_version: None,
    })
    .unwrap();
    let (_, message) = uncertified(
        manage(&owner, id, "install_code", too_big)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("exceeds the limit of 2097152 bytes"),
        "{message}"
    );
    manage(
        &owner,
        id,
        "install_code",
        install(Mode::Reinstall, "second"),
    )
    .await
    .expect("reinstall");
    let init = owner
        .query(&id, "init_arg")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(
        Decode!(&init, Option<String>).unwrap().as_deref(),
        Some("second")
    );
    manage(
        &owner,
        id,
        "install_code",
        install(Mode::Upgrade(None), "third"),
    )
    .await
    .expect("upgrade");
    let info = owner
        .query(&id, "upgrade_info")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    let (arg, _) = Decode!(&info, Option<String>, Option<String>).unwrap();
    assert_eq!(arg.as_deref(), Some("third"));
    let st = status(&owner, id).await;
    assert_eq!(st.version, 3);
    let hash: [u8; 32] = Sha256::digest(test_canister_wasm()).into();
    assert_eq!(st.module_hash.as_deref(), Some(&hash[..]));
    // The new module has no metadata sections.
    assert!(
        owner
            .read_state_canister_metadata(id, "candid:service")
            .await
            .is_err()
    );
}

/// The chunk store: chunks are stored under their SHA-256 (once), install_chunked_code
/// assembles them and checks the module hash; bad hashes and oversized chunks are IC0504.
#[tokio::test]
async fn chunked_install() {
    let (s, id) = serve_managed();
    let owner = agent(&s.server.url(), ed25519(1)).await;
    let wasm = test_canister_wasm();
    let (a, b) = wasm.split_at(wasm.len() / 2);
    let mut hashes = Vec::new();
    for chunk in [a, b, a] {
        let reply = manage(
            &owner,
            id,
            "upload_chunk",
            Encode!(&UploadChunk {
                canister_id: id,
                chunk: chunk.to_vec()
            })
            .unwrap(),
        )
        .await
        .expect("upload_chunk");
        let h = Decode!(&reply, ChunkHash).unwrap();
        assert_eq!(h.hash, Sha256::digest(chunk).to_vec());
        hashes.push(h);
    }
    let stored = manage(
        &owner,
        id,
        "stored_chunks",
        Encode!(&Id { canister_id: id }).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        Decode!(&stored, Vec<ChunkHash>).unwrap().len(),
        2,
        "a chunk is stored once"
    );

    let chunked = |list: Vec<ChunkHash>, module_hash: Vec<u8>| {
        Encode!(&InstallChunked {
            mode: Mode::Upgrade(None),
            target_canister: id,
            store_canister: None,
            chunk_hashes_list: list,
            wasm_module_hash: module_hash,
            arg: Encode!(&Some("chunked".to_string())).unwrap(),
            sender_canister_version: None,
        })
        .unwrap()
    };
    let module_hash = Sha256::digest(&wasm).to_vec();
    let (code, message) = certified(
        manage(
            &owner,
            id,
            "install_chunked_code",
            chunked(hashes[..2].to_vec(), vec![7; 32]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0504");
    assert!(
        message.starts_with("Error from Wasm chunk store: Wasm module hash"),
        "{message}"
    );
    assert!(message.contains("does not match given hash"), "{message}");
    let unknown = ChunkHash { hash: vec![9; 32] };
    let (code, message) = certified(
        manage(
            &owner,
            id,
            "install_chunked_code",
            chunked(vec![unknown], module_hash.clone()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0504");
    assert!(message.contains("was not found"), "{message}");
    let too_big = vec![0u8; 1024 * 1024 + 1];
    let (code, message) = certified(
        manage(
            &owner,
            id,
            "upload_chunk",
            Encode!(&UploadChunk {
                canister_id: id,
                chunk: too_big
            })
            .unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0504");
    assert!(
        message.contains("exceeds the maximum chunk size of 1048576"),
        "{message}"
    );

    manage(
        &owner,
        id,
        "install_chunked_code",
        chunked(hashes[..2].to_vec(), module_hash.clone()),
    )
    .await
    .expect("install_chunked_code");
    let st = status(&owner, id).await;
    assert_eq!(st.module_hash.as_deref(), Some(&module_hash[..]));
    assert_eq!(
        st.memory_metrics.wasm_chunk_store_size,
        Nat::from(wasm.len())
    );

    let stranger = agent(&s.server.url(), ed25519(2)).await;
    let (code, _) = uncertified(
        manage(
            &stranger,
            id,
            "upload_chunk",
            Encode!(&UploadChunk {
                canister_id: id,
                chunk: vec![1]
            })
            .unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "IC0512");
    manage(
        &owner,
        id,
        "clear_chunk_store",
        Encode!(&Id { canister_id: id }).unwrap(),
    )
    .await
    .unwrap();
    let stored = manage(
        &owner,
        id,
        "stored_chunks",
        Encode!(&Id { canister_id: id }).unwrap(),
    )
    .await
    .unwrap();
    assert!(Decode!(&stored, Vec<ChunkHash>).unwrap().is_empty());
}

#[derive(CandidType, Deserialize)]
struct CreationArgs {
    subnet_selection: Option<SubnetSelection>,
    settings: Option<Settings>,
}

#[derive(CandidType, Deserialize)]
enum SubnetSelection {
    Subnet { subnet: Principal },
}

#[derive(CandidType, Deserialize)]
struct CreateCanister {
    from_subaccount: Option<Vec<u8>>,
    created_at_time: Option<u64>,
    amount: Nat,
    creation_args: Option<CreationArgs>,
}

#[derive(CandidType, Deserialize, Debug)]
struct Created {
    block_id: Nat,
    canister_id: Principal,
}

#[derive(CandidType, Deserialize, Debug)]
enum CreateError {
    FailedToCreate {
        error: String,
        refund_block: Option<Nat>,
        fee_block: Option<Nat>,
    },
}

/// icp deploy's creation path: the CMC names this host's subnet, the cycles ledger creates
/// an empty canister controlled by the caller, which the caller can then install.
#[tokio::test]
async fn ledger_creates_canisters_on_the_default_subnet() {
    let s = serve_test_canister();
    let user = agent(&s.server.url(), ed25519(5)).await;
    let cmc = icinfer_host::cycles_minting_canister_id();
    assert_eq!(cmc.to_text(), "rkp4c-7iaaa-aaaaa-aaaca-cai");
    let subnets = user
        .query(&cmc, "get_default_subnets")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .expect("get_default_subnets");
    let subnets = Decode!(&subnets, Vec<Principal>).unwrap();
    let subnet = s.handle.with(|h: &mut Host| h.subnet_id());
    assert_eq!(subnets, vec![subnet]);

    let ledger = icinfer_host::cycles_ledger_id();
    assert_eq!(ledger.to_text(), "um5iw-rqaaa-aaaaq-qaaba-cai");
    let create = |subnet| {
        Encode!(&CreateCanister {
            from_subaccount: None,
            created_at_time: None,
            amount: Nat::from(2_000_000_000_000u64),
            creation_args: Some(CreationArgs {
                subnet_selection: Some(SubnetSelection::Subnet { subnet }),
                settings: None,
            }),
        })
        .unwrap()
    };
    let reply = user
        .update(&ledger, "create_canister")
        .with_arg(create(subnet))
        .call_and_wait()
        .await
        .expect("create_canister");
    let created = Decode!(&reply, Result<Created, CreateError>)
        .unwrap()
        .expect("created");
    let id = created.canister_id;
    let st = status(&user, id).await;
    assert_eq!(st.settings.controllers, vec![ed25519(5).sender().unwrap()]);
    assert_eq!(st.module_hash, None);
    manage(
        &user,
        id,
        "install_code",
        Encode!(&InstallCode {
            mode: Mode::Install,
            canister_id: id,
            wasm_module: test_canister_wasm(),
            arg: Encode!(&None::<String>).unwrap(),
            sender_canister_version: None,
        })
        .unwrap(),
    )
    .await
    .expect("install on the created canister");

    let elsewhere = Principal::from_slice(&[7; 29]);
    let reply = user
        .update(&ledger, "create_canister")
        .with_arg(create(elsewhere))
        .call_and_wait()
        .await
        .expect("the ledger replies with an error");
    assert!(matches!(
        Decode!(&reply, Result<Created, CreateError>).unwrap(),
        Err(CreateError::FailedToCreate { .. })
    ));
}
