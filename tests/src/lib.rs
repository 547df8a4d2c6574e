//! Support for the integration tests: one small [`Replica`] trait that the tests are
//! written against, implemented by our local host (always) and by PocketIC (with the
//! `pocket-ic` feature, when `POCKET_IC_BIN` is set), plus the built modules and fixtures.
//!
//! The tests run the real `.wasm` files that `scripts/build-canister.sh` produces; a
//! missing module is a test failure that says how to build it, never a skip.

pub mod canister_model;
pub mod gpt;
pub mod large;
pub mod models;
pub mod releases;

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::{Principal, decode_args, encode_args};
use std::path::PathBuf;
use std::time::Duration;

/// A call that did not produce a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: u32,
    pub message: String,
}

/// IC reject codes the tests look for.
pub const CANISTER_ERROR: u32 = 5;
pub const DESTINATION_INVALID: u32 = 3;

/// What the tests need of a replica.
pub trait Replica {
    fn create_canister(&mut self, controller: Principal) -> Principal;
    fn install(&mut self, canister: Principal, wasm: &[u8], arg: Vec<u8>, sender: Principal);
    fn upgrade(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), Rejection>;
    fn update_raw(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Rejection>;
    fn query_raw(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Rejection>;
    fn advance_time(&mut self, by: Duration);
    /// Runs due timers and pending messages.
    fn tick(&mut self);
    /// Instructions of the last call, install or upgrade, where the replica reports them.
    fn last_instructions(&self) -> Option<u64>;
    /// Sets the instruction limit of update messages; false where unsupported.
    fn set_update_instruction_limit(&mut self, limit: u64) -> bool;
    fn name(&self) -> &'static str;
}

/// Typed calls over any replica, printing the instructions of each.
pub trait ReplicaExt: Replica {
    fn update<A: ArgumentEncoder, R: for<'a> ArgumentDecoder<'a>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, Rejection> {
        let arg = encode_args(args).expect("arguments encode");
        let reply = self.update_raw(canister, sender, method, arg);
        self.report("update", method);
        Ok(decode_args(&reply?).expect("the reply decodes as the expected type"))
    }

    fn query<A: ArgumentEncoder, R: for<'a> ArgumentDecoder<'a>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, Rejection> {
        let arg = encode_args(args).expect("arguments encode");
        let reply = self.query_raw(canister, sender, method, arg);
        self.report("query", method);
        Ok(decode_args(&reply?).expect("the reply decodes as the expected type"))
    }

    fn report(&self, kind: &str, method: &str) {
        if let Some(instructions) = self.last_instructions() {
            println!("[instructions] {kind} {method}: {instructions}");
        }
    }
}

impl<T: Replica + ?Sized> ReplicaExt for T {}

/// The replica the tests run on: PocketIC when built with the feature and `POCKET_IC_BIN`
/// is set, our host otherwise.
pub fn replica() -> Box<dyn Replica> {
    #[cfg(feature = "pocket-ic")]
    if std::env::var_os("POCKET_IC_BIN").is_some() {
        return Box::new(pocket::PocketReplica::new());
    }
    Box::new(LocalHost::new())
}

/// The local host (crates/host).
pub struct LocalHost {
    pub host: icinfer_host::Host,
    last_instructions: Option<u64>,
}

impl LocalHost {
    pub fn new() -> Self {
        Self::with_config(icinfer_host::HostConfig::default())
    }

    pub fn with_config(config: icinfer_host::HostConfig) -> Self {
        LocalHost {
            host: icinfer_host::Host::new(config),
            last_instructions: None,
        }
    }

    fn outcome(
        &mut self,
        outcome: Result<icinfer_host::CallOutcome, icinfer_host::HostError>,
    ) -> Result<Vec<u8>, Rejection> {
        let outcome = outcome.unwrap_or_else(|e| panic!("the host refused the call: {e}"));
        self.last_instructions = Some(outcome.instructions);
        outcome.result.map_err(|reject| Rejection {
            code: reject.code.as_u32(),
            message: reject.message,
        })
    }
}

impl Default for LocalHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Replica for LocalHost {
    fn create_canister(&mut self, controller: Principal) -> Principal {
        self.host.create_canister(vec![controller])
    }

    fn install(&mut self, canister: Principal, wasm: &[u8], arg: Vec<u8>, sender: Principal) {
        let outcome = self
            .host
            .install_code(canister, wasm, &arg, sender)
            .unwrap_or_else(|e| panic!("install failed: {e}"));
        println!("[instructions] install: {}", outcome.instructions);
        self.last_instructions = Some(outcome.instructions);
    }

    fn upgrade(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), Rejection> {
        match self.host.upgrade_canister(canister, wasm, &arg, sender) {
            Ok(outcome) => {
                println!("[instructions] upgrade: {}", outcome.instructions);
                self.last_instructions = Some(outcome.instructions);
                Ok(())
            }
            Err(icinfer_host::HostError::InstallFailed { reject, .. }) => Err(Rejection {
                code: reject.code.as_u32(),
                message: reject.message,
            }),
            Err(e) => panic!("the host refused the upgrade: {e}"),
        }
    }

    fn update_raw(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Rejection> {
        let outcome = self.host.update_call(canister, sender, method, &arg);
        self.outcome(outcome)
    }

    fn query_raw(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Rejection> {
        let outcome = self.host.query_call(canister, sender, method, &arg);
        self.outcome(outcome)
    }

    fn advance_time(&mut self, by: Duration) {
        self.host.advance_time(by);
    }

    fn tick(&mut self) {
        self.host.tick();
    }

    fn last_instructions(&self) -> Option<u64> {
        self.last_instructions
    }

    fn set_update_instruction_limit(&mut self, limit: u64) -> bool {
        let mut limits = self.host.instruction_limits();
        limits.update = limit;
        self.host.set_instruction_limits(limits);
        true
    }

    fn name(&self) -> &'static str {
        "icinfer-host"
    }
}

#[cfg(feature = "pocket-ic")]
mod pocket {
    use super::{Rejection, Replica};
    use candid::Principal;
    use pocket_ic::PocketIc;
    use std::time::Duration;

    pub struct PocketReplica {
        pic: PocketIc,
    }

    impl PocketReplica {
        pub fn new() -> Self {
            PocketReplica {
                pic: PocketIc::new(),
            }
        }
    }

    fn rejection(e: pocket_ic::RejectResponse) -> Rejection {
        Rejection {
            code: e.reject_code as u32,
            message: e.reject_message,
        }
    }

    impl Replica for PocketReplica {
        fn create_canister(&mut self, controller: Principal) -> Principal {
            let canister = self
                .pic
                .create_canister_with_settings(Some(controller), None);
            self.pic.add_cycles(canister, 100_000_000_000_000);
            canister
        }
        fn install(&mut self, canister: Principal, wasm: &[u8], arg: Vec<u8>, sender: Principal) {
            self.pic
                .install_canister(canister, wasm.to_vec(), arg, Some(sender));
        }
        fn upgrade(
            &mut self,
            canister: Principal,
            wasm: &[u8],
            arg: Vec<u8>,
            sender: Principal,
        ) -> Result<(), Rejection> {
            self.pic
                .upgrade_canister(canister, wasm.to_vec(), arg, Some(sender))
                .map_err(rejection)
        }
        fn update_raw(
            &mut self,
            canister: Principal,
            sender: Principal,
            method: &str,
            arg: Vec<u8>,
        ) -> Result<Vec<u8>, Rejection> {
            self.pic
                .update_call(canister, sender, method, arg)
                .map_err(rejection)
        }
        fn query_raw(
            &mut self,
            canister: Principal,
            sender: Principal,
            method: &str,
            arg: Vec<u8>,
        ) -> Result<Vec<u8>, Rejection> {
            self.pic
                .query_call(canister, sender, method, arg)
                .map_err(rejection)
        }
        fn advance_time(&mut self, by: Duration) {
            self.pic.advance_time(by);
        }
        fn tick(&mut self) {
            self.pic.tick();
        }
        fn last_instructions(&self) -> Option<u64> {
            None
        }
        fn set_update_instruction_limit(&mut self, _limit: u64) -> bool {
            false
        }
        fn name(&self) -> &'static str {
            "PocketIC"
        }
    }
}

/// The directory the canister build writes to.
pub fn wasm_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    target.join("wasm32-unknown-unknown").join("release")
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A built canister module, as the IC would install it.
pub fn canister_wasm(name: &str) -> Vec<u8> {
    // ICINFER_WASM_<NAME> points at another build of the module (scripts/profile.sh).
    let var = format!("ICINFER_WASM_{}", name.to_uppercase().replace('-', "_"));
    let path = std::env::var_os(&var)
        .map(PathBuf::from)
        .unwrap_or_else(|| wasm_dir().join(format!("{name}.wasm")));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Build it first: bash scripts/build-canister.sh {name}",
            path.display()
        )
    })
}

/// A file under models/.
pub fn model_bytes(relative: &str) -> Vec<u8> {
    let path = workspace_root().join("models").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The inference canister installed on a replica, with typed calls. Every test of the
/// product starts from one of these.
pub struct InferenceCanister {
    pub replica: Box<dyn Replica>,
    pub id: Principal,
    pub controller: Principal,
    wasm: Vec<u8>,
}

/// The chunk size the canister accepts (crates/core/src/limits.rs).
pub const CHUNK_BYTES: usize = 1 << 20;

type ApiResult<T> = Result<T, icinfer_api::Error>;

impl InferenceCanister {
    /// A fresh replica with the built inference module installed by `controller`.
    pub fn install(controller: Principal) -> Self {
        Self::install_on(replica(), controller)
    }

    /// The built inference module installed by `controller` on `replica`.
    pub fn install_on(replica: Box<dyn Replica>, controller: Principal) -> Self {
        Self::install_module(replica, controller, "inference")
    }

    /// The inference canister built with its test-only hooks (canisters/inference-test-hooks),
    /// on the local host; upgrades keep that module. The fixture links the product as a
    /// library, which costs it about 0.2 MiB more code than the shipped module: its code
    /// section may exceed the IC's 10 MiB, which only the shipped module must meet
    /// (tests/tests/wasm.rs), so this host allows 12 MiB, as current replicas do.
    pub fn install_with_test_hooks(controller: Principal) -> Self {
        let config = icinfer_host::HostConfig {
            validation: icinfer_host::validate::ValidationLimits {
                max_code_section_bytes: 12 << 20,
                ..Default::default()
            },
            ..Default::default()
        };
        let host = Box::new(LocalHost::with_config(config));
        Self::install_module(host, controller, "inference_test_hooks")
    }

    fn install_module(mut replica: Box<dyn Replica>, controller: Principal, module: &str) -> Self {
        let wasm = canister_wasm(module);
        let id = replica.create_canister(controller);
        replica.install(id, &wasm, candid::encode_args(()).unwrap(), controller);
        InferenceCanister {
            replica,
            id,
            controller,
            wasm,
        }
    }

    pub fn update<A, T>(&mut self, sender: Principal, method: &str, arg: A) -> Result<T, Rejection>
    where
        A: candid::CandidType,
        T: candid::CandidType + for<'de> candid::Deserialize<'de>,
    {
        self.replica
            .update::<_, (T,)>(self.id, sender, method, (arg,))
            .map(|(t,)| t)
    }

    /// A query that must not be rejected (its typed result may still be an error).
    pub fn query<A, T>(&mut self, method: &str, arg: A) -> T
    where
        A: candid::CandidType,
        T: candid::CandidType + for<'de> candid::Deserialize<'de>,
    {
        let anyone = Principal::anonymous();
        self.replica
            .query::<_, (T,)>(self.id, anyone, method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("query {method} was rejected: {r:?}"))
    }

    /// A query without arguments.
    pub fn query0<T>(&mut self, method: &str) -> T
    where
        T: candid::CandidType + for<'de> candid::Deserialize<'de>,
    {
        let anyone = Principal::anonymous();
        self.replica
            .query::<_, (T,)>(self.id, anyone, method, ())
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("query {method} was rejected: {r:?}"))
    }

    pub fn create_model(
        &mut self,
        sender: Principal,
        id: &str,
        bytes: &[u8],
    ) -> ApiResult<icinfer_api::ModelInfo> {
        self.create_model_declaring(sender, id, bytes, None)
    }

    /// Creates a model whose input facts are declared rather than read from the model.
    pub fn create_model_declaring(
        &mut self,
        sender: Principal,
        id: &str,
        bytes: &[u8],
        input_facts: Option<Vec<icinfer_api::TensorFact>>,
    ) -> ApiResult<icinfer_api::ModelInfo> {
        use sha2::Digest;
        let args = icinfer_api::CreateModelArgs {
            id: id.into(),
            sha256: serde_bytes::ByteBuf::from(sha2::Sha256::digest(bytes).to_vec()),
            size_bytes: bytes.len() as u64,
            description: None,
            input_facts,
            language_model: None,
        };
        self.update(sender, "create_model", args).unwrap()
    }

    /// Sends chunk `index` of `bytes`.
    pub fn upload_chunk(
        &mut self,
        sender: Principal,
        id: &str,
        bytes: &[u8],
        index: usize,
    ) -> ApiResult<icinfer_api::UploadProgress> {
        let start = index * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(bytes.len());
        let args = icinfer_api::UploadChunkArgs {
            id: id.into(),
            offset: start as u64,
            data: serde_bytes::ByteBuf::from(bytes[start..end].to_vec()),
        };
        self.update(sender, "upload_model_chunk", args).unwrap()
    }

    pub fn finalize(&mut self, id: &str) -> ApiResult<icinfer_api::ModelInfo> {
        let controller = self.controller;
        self.update(controller, "finalize_model", id.to_string())
            .unwrap()
    }

    /// Creates, uploads and finalizes a model as the controller.
    pub fn install_model(&mut self, id: &str, bytes: &[u8]) -> icinfer_api::ModelInfo {
        self.install_model_declaring(id, bytes, None)
    }

    /// `install_model`, declaring the input facts.
    pub fn install_model_declaring(
        &mut self,
        id: &str,
        bytes: &[u8],
        input_facts: Option<Vec<icinfer_api::TensorFact>>,
    ) -> icinfer_api::ModelInfo {
        let controller = self.controller;
        self.create_model_declaring(controller, id, bytes, input_facts)
            .unwrap();
        for index in 0..bytes.len().div_ceil(CHUNK_BYTES) {
            self.upload_chunk(controller, id, bytes, index).unwrap();
        }
        self.finalize(id)
            .unwrap_or_else(|e| panic!("finalize {id}: {e}"))
    }

    pub fn infer(
        &mut self,
        sender: Principal,
        args: icinfer_api::InferArgs,
    ) -> ApiResult<icinfer_api::InferResult> {
        self.update(sender, "infer", args).unwrap()
    }

    pub fn log_size(&mut self) -> u64 {
        self.query0("log_size")
    }

    /// Entries of inferences and generations: the log less the code epochs (one per install
    /// and upgrade once its self-call answered) and the models' entries (one per finalize;
    /// docs/provenance.md).
    pub fn inference_log_size(&mut self) -> u64 {
        use icinfer_api::EntryKind;
        let (mut count, mut start) = (0, 0);
        loop {
            let args = icinfer_api::LogPageArgs { start, limit: 100 };
            let page: ApiResult<icinfer_api::LogPage> = self.query("log_entries", args);
            let page = page.unwrap();
            count += page
                .entries
                .iter()
                .filter(|e| !matches!(e.kind, Some(EntryKind::CodeEpoch(_) | EntryKind::Model(_))))
                .count() as u64;
            match page.next {
                Some(next) => start = next,
                None => return count,
            }
        }
    }

    /// Upgrades to the same module, as the controller.
    pub fn upgrade(&mut self) {
        let (id, controller) = (self.id, self.controller);
        let wasm = self.wasm.clone();
        self.replica
            .upgrade(id, &wasm, candid::encode_args(()).unwrap(), controller)
            .unwrap_or_else(|r| panic!("upgrade rejected: {r:?}"));
    }
}
