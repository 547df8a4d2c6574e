//! Model-based tests of the inference canister across upgrades and downgrades.
//!
//! Setup: the built module (target/wasm32-unknown-unknown/release/inference.wasm) and the
//! previous release (releases/, its committed `.wasm.gz`), each on a fresh local host; an
//! in-memory model of the canister (icinfer_tests::canister_model).
//!
//! Runbook: seeded random sequences of calls: create, upload chunks and finalize (models
//! from models/tiny and digits, one mislabelled so its finalize fails), infer (good inputs,
//! salted, of the wrong model), reads (list_models, model_info, upload_status, log_entry,
//! log_entries, log_head, log_proof, log_consistency, code_epochs), delete, an upgrade to the
//! built module and a downgrade to the release; never a reinstall. Callers are the
//! controller, a stranger and the anonymous principal. Every other sequence starts on the
//! release.
//!
//! Success criteria: every reply is the one the model predicts, and after every step the
//! canister's log size, certified head and module hash are the model's. A downgrade is
//! accepted exactly when the release reads the layout the stable memory holds: when the
//! built module's layout is newer than the release's, the release's `post_upgrade` refuses
//! it and the canister keeps the newer code with nothing changed (module hash, canister
//! version, certified data, every stable page, the log, the models).
//!
//! Bounds: `ICINFER_MODEL_SEQUENCES` sequences (CI: 4) of `ICINFER_MODEL_STEPS` steps (60)
//! from `ICINFER_MODEL_SEED`; `scripts/model-test.sh` runs many more. A failure prints the
//! sequence's seed and step and how to replay it.

use candid::{Encode, Principal};
use icinfer_api::{
    CodeEpochStatus, Error, InferArgs, InferResult, LogConsistency, LogConsistencyArgs, LogHead,
    LogPage, LogPageArgs, LogProof, LogProofArgs, ModelInfo, UploadChunkArgs, UploadProgress,
    UploadStatus,
};
use icinfer_tests::canister_model::{CanisterModel, FILES, File, Fixtures, Inputs, Module};
use icinfer_tests::releases::{Release, layout_version, previous_release, with_layout_version};
use icinfer_tests::{LocalHost, Replica, ReplicaExt, canister_wasm};
use icinfer_verify::merkle::{leaf_hash, proof_nodes, verify_consistency, verify_inclusion};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

type R<T> = Result<T, Error>;

const IDS: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Controller,
    Stranger,
    Anonymous,
}

impl Who {
    fn principal(self) -> Principal {
        match self {
            Who::Controller => Principal::from_slice(&[0xc0; 29]),
            Who::Stranger => Principal::from_slice(&[0x05; 29]),
            Who::Anonymous => Principal::anonymous(),
        }
    }
}

#[derive(Clone, Debug)]
enum Read {
    ListModels,
    ModelInfo(&'static str),
    UploadStatus(&'static str),
    LogEntry(u64),
    LogPage(u64, u32),
    LogProof(u64),
    LogConsistency(u64, u64),
    CodeEpochs,
}

#[derive(Clone, Debug)]
enum Op {
    Create(Who, &'static str, File),
    /// A chunk of the file the id was created for (of the affine model for an unknown id).
    Upload(Who, &'static str, u32),
    Finalize(Who, &'static str),
    Infer(Who, &'static str, Inputs, Option<Vec<u8>>),
    Delete(Who, &'static str),
    Read(Read),
    Upgrade,
    Downgrade,
}

/// The two modules a sequence moves between.
struct Modules {
    built: Vec<u8>,
    built_module: Module,
    release: Release,
    release_module: Module,
}

impl Modules {
    fn load() -> Self {
        let built = canister_wasm("inference");
        let release = previous_release();
        let built_module = Module {
            hash: Sha256::digest(&built).into(),
            layout: icinfer_core::memory::LAYOUT_VERSION,
            logs_model_entries: true,
            inspects_ingress: true,
        };
        let release_module = Module {
            hash: release.module_hash(),
            layout: measured_layout(&release.wasm_gz),
            logs_model_entries: false,
            inspects_ingress: false,
        };
        Modules {
            built,
            built_module,
            release,
            release_module,
        }
    }
}

/// The layout version a module writes on a fresh install, read from its stable memory.
fn measured_layout(wasm: &[u8]) -> u8 {
    let mut local = LocalHost::new();
    let controller = Who::Controller.principal();
    let id = local.create_canister(controller);
    local.install(id, wasm, Encode!().unwrap(), controller);
    let image = local
        .host
        .canister_state(id)
        .unwrap()
        .stable_memory
        .to_bytes();
    layout_version(&image).expect("a fresh install writes a layout header")
}

/// A canister on its own host, and the model it is compared with.
struct Harness<'a> {
    local: LocalHost,
    id: Principal,
    fx: &'a Fixtures,
    modules: &'a Modules,
    model: CanisterModel,
    counts: BTreeMap<&'static str, u64>,
}

/// What must not change when an upgrade is refused.
#[derive(Debug, PartialEq)]
struct Snapshot {
    module_hash: Option<[u8; 32]>,
    version: u64,
    certified_data: Vec<u8>,
    stable: [u8; 32],
    head: (u64, Vec<u8>),
    models: Vec<ModelInfo>,
}

impl<'a> Harness<'a> {
    fn new(fx: &'a Fixtures, modules: &'a Modules, start_on_release: bool) -> Self {
        let mut local = LocalHost::new();
        let controller = Who::Controller.principal();
        let id = local.create_canister(controller);
        let (wasm, module) = if start_on_release {
            (&modules.release.wasm_gz, modules.release_module)
        } else {
            (&modules.built, modules.built_module)
        };
        local.install(id, wasm, Encode!().unwrap(), controller);
        let mut harness = Harness {
            local,
            id,
            fx,
            modules,
            model: CanisterModel::installed(id, controller, module),
            counts: BTreeMap::new(),
        };
        harness.tick();
        harness.check_invariants();
        harness
    }

    fn update<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        who: Who,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .update::<_, (T,)>(self.id, who.principal(), method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("{method} was rejected: {r:?}"))
    }

    /// A management call, which a module with `canister_inspect_message` refuses at
    /// ingress for a caller who is not a manager (the method's own error, as a reject):
    /// `None` then, and the model must have predicted exactly that caller's refusal.
    fn update_or_refused<
        A: candid::CandidType,
        T: candid::CandidType + for<'de> candid::Deserialize<'de>,
    >(
        &mut self,
        who: Who,
        method: &str,
        arg: A,
    ) -> Option<T> {
        match self
            .local
            .update::<_, (T,)>(self.id, who.principal(), method, (arg,))
        {
            Ok((t,)) => Some(t),
            Err(r)
                if r.message
                    .contains("refused by canister_inspect_message: unauthorized") =>
            {
                assert!(
                    self.model.module.inspects_ingress,
                    "{method}: refused at ingress by a module without inspect_message: {r:?}"
                );
                assert!(
                    !self.model.is_manager(who.principal()),
                    "{method}: a manager was refused: {r:?}"
                );
                None
            }
            Err(r) => panic!("{method} was rejected: {r:?}"),
        }
    }

    fn query<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .query::<_, (T,)>(self.id, Principal::anonymous(), method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("query {method} was rejected: {r:?}"))
    }

    /// Runs due timers: the code epoch's self-call logs its entry.
    fn tick(&mut self) {
        self.local.advance_time(Duration::from_secs(1));
        self.local.tick();
        let next = self.model.log_size();
        let entry: R<icinfer_api::LogEntry> = self.query("log_entry", next);
        self.model.epoch_logged(entry.ok());
    }

    fn apply(&mut self, op: &Op) {
        let fx = self.fx;
        let name = match op {
            Op::Create(who, id, file) => {
                let bytes = fx.bytes(*file);
                let args = icinfer_api::CreateModelArgs {
                    id: id.to_string(),
                    sha256: ByteBuf::from(fx.declared_sha256(*file).to_vec()),
                    size_bytes: bytes.len() as u64,
                    description: None,
                    input_facts: None,
                    language_model: None,
                };
                if let Some(reply) =
                    self.update_or_refused::<_, R<ModelInfo>>(*who, "create_model", args)
                {
                    self.model
                        .create_reply(fx, who.principal(), id, *file, reply);
                }
                "create_model"
            }
            Op::Upload(who, id, index) => {
                let file = self.model.models.get(*id).map_or(File::Affine, |u| u.file);
                let args = UploadChunkArgs {
                    id: id.to_string(),
                    offset: u64::from(*index) * icinfer_tests::CHUNK_BYTES as u64,
                    data: ByteBuf::from(fx.chunk(file, *index).to_vec()),
                };
                if let Some(reply) =
                    self.update_or_refused::<_, R<UploadProgress>>(*who, "upload_model_chunk", args)
                {
                    self.model
                        .upload_reply(fx, who.principal(), id, *index, reply);
                }
                "upload_model_chunk"
            }
            Op::Finalize(who, id) => {
                let refusable = self.update_or_refused(*who, "finalize_model", id.to_string());
                if let Some(reply) = refusable {
                    self.model.finalize_reply(fx, who.principal(), id, reply);
                }
                let next = self.model.log_size();
                let entry: R<icinfer_api::LogEntry> = self.query("log_entry", next);
                self.model.model_logged(fx, entry.ok());
                "finalize_model"
            }
            Op::Infer(who, id, inputs, nonce) => {
                let args = InferArgs {
                    model_id: id.to_string(),
                    inputs: inputs.tensors(fx),
                    nonce: nonce.clone().map(ByteBuf::from),
                };
                let reply: R<InferResult> = self.update(*who, "infer", args);
                let nonce = nonce.as_deref();
                self.model
                    .infer_reply(fx, who.principal(), id, inputs, nonce, reply);
                "infer"
            }
            Op::Delete(who, id) => {
                let refusable = self.update_or_refused(*who, "delete_model", id.to_string());
                if let Some(reply) = refusable {
                    self.model.delete_reply(who.principal(), id, reply);
                }
                "delete_model"
            }
            Op::Read(read) => self.read(read),
            Op::Upgrade => {
                let modules = self.modules;
                self.upgrade(&modules.built, modules.built_module, "upgrade")
            }
            Op::Downgrade => {
                let modules = self.modules;
                let release = &modules.release.wasm_gz;
                self.upgrade(release, modules.release_module, "downgrade")
            }
        };
        *self.counts.entry(name).or_default() += 1;
        self.check_invariants();
    }

    fn upgrade(&mut self, wasm: &[u8], module: Module, name: &'static str) -> &'static str {
        let before = self.snapshot();
        let controller = Who::Controller.principal();
        let reply = self
            .local
            .upgrade(self.id, wasm, Encode!().unwrap(), controller);
        if self.model.upgrade_reply(module, reply) {
            self.tick();
            return name;
        }
        assert_eq!(
            self.snapshot(),
            before,
            "a refused {name} changed the canister"
        );
        self.tick();
        if name == "downgrade" {
            "downgrade refused"
        } else {
            "upgrade refused"
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        let state = self
            .local
            .host
            .canister_state(self.id)
            .expect("the canister exists");
        let mut pages: Vec<_> = state.stable_memory.pages().collect();
        pages.sort_unstable_by_key(|(index, _)| *index);
        let mut stable = Sha256::new();
        stable.update(state.stable_memory.size_pages().to_le_bytes());
        for (index, page) in pages {
            stable.update(index.to_le_bytes());
            stable.update(page);
        }
        let (module_hash, version, certified_data) = (
            state.module_hash,
            state.version,
            state.certified_data.clone(),
        );
        let head: LogHead = self.query("log_head", ());
        Snapshot {
            module_hash,
            version,
            certified_data,
            stable: stable.finalize().into(),
            head: (head.tree_size, head.root_hash.to_vec()),
            models: self.query("list_models", ()),
        }
    }

    fn read(&mut self, read: &Read) -> &'static str {
        let fx = self.fx;
        match read {
            Read::ListModels => {
                let got: Vec<ModelInfo> = self.query("list_models", ());
                self.model.list_reply(fx, &got);
                "list_models"
            }
            Read::ModelInfo(id) => {
                let got: R<ModelInfo> = self.query("model_info", id.to_string());
                self.model.model_info_reply(fx, id, got);
                "model_info"
            }
            Read::UploadStatus(id) => {
                let got: R<UploadStatus> = self.query("upload_status", id.to_string());
                self.model.upload_status_reply(fx, id, got);
                "upload_status"
            }
            Read::LogEntry(seq) => {
                let got: R<icinfer_api::LogEntry> = self.query("log_entry", *seq);
                self.model.log_entry_reply(*seq, got);
                "log_entry"
            }
            Read::LogPage(start, limit) => {
                let args = LogPageArgs {
                    start: *start,
                    limit: *limit,
                };
                let got: R<LogPage> = self.query("log_entries", args);
                self.model.log_page_reply(*start, *limit, got.unwrap());
                "log_entries"
            }
            Read::LogProof(index) => {
                let args = LogProofArgs {
                    index: *index,
                    tree_size: None,
                };
                let proof: LogProof = self.query::<_, R<LogProof>>("log_proof", args).unwrap();
                let size = self.model.log_size();
                let expected = &self.model.log[*index as usize];
                assert_eq!(&proof.entry, expected, "log_proof {index}");
                let bytes = icinfer_verify::entry::encode_entry(expected).unwrap();
                assert_eq!(
                    proof.entry_bytes.as_slice(),
                    bytes,
                    "log_proof {index}: bytes"
                );
                let root = self.model.root(size);
                assert_eq!((proof.tree_size, &proof.tree_root[..]), (size, &root[..]));
                let nodes = proof_nodes(&proof.inclusion_proof).unwrap();
                verify_inclusion(*index, size, &leaf_hash(&bytes), &nodes, &root)
                    .unwrap_or_else(|e| panic!("log_proof {index}: {e:?}"));
                "log_proof"
            }
            Read::LogConsistency(from, to) => {
                let args = LogConsistencyArgs {
                    from_size: *from,
                    to_size: *to,
                };
                let got: LogConsistency = self
                    .query::<_, R<LogConsistency>>("log_consistency", args)
                    .unwrap();
                let (from_root, to_root) = (self.model.root(*from), self.model.root(*to));
                assert_eq!(&got.from_root[..], from_root, "log_consistency {from} {to}");
                assert_eq!(&got.to_root[..], to_root, "log_consistency {from} {to}");
                let nodes = proof_nodes(&got.proof).unwrap();
                verify_consistency(*from, *to, &from_root, &to_root, &nodes)
                    .unwrap_or_else(|e| panic!("log_consistency {from} {to}: {e:?}"));
                "log_consistency"
            }
            Read::CodeEpochs => {
                let got: Vec<CodeEpochStatus> = self.query("code_epochs", ());
                self.model.code_epochs_reply(&got);
                "code_epochs"
            }
        }
    }

    /// After every step: the log's size, the certified head and the module running.
    fn check_invariants(&mut self) {
        let size = self.model.log_size();
        let got: u64 = self.query("log_size", ());
        assert_eq!(got, size, "log_size");
        let head: LogHead = self.query("log_head", ());
        assert_eq!(head.tree_size, size, "log_head");
        assert_eq!(&head.root_hash[..], self.model.root(size), "log_head root");
        let state = self.local.host.canister_state(self.id).unwrap();
        assert_eq!(
            state.module_hash,
            Some(self.model.module.hash),
            "module hash"
        );
        let commitment = icinfer_verify::head::head_commitment(size, &self.model.root(size));
        assert_eq!(state.certified_data, commitment, "certified data");
    }
}

/// SplitMix64: small, seedable, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random operation, weighted towards the ones that change state.
fn random_op(rng: &mut Rng, fx: &Fixtures, model: &CanisterModel) -> Op {
    let manager = |rng: &mut Rng| {
        if rng.chance(90) {
            Who::Controller
        } else {
            rng.pick(&[Who::Stranger, Who::Anonymous])
        }
    };
    let id = rng.pick(&IDS);
    let size = model.log_size();
    match rng.below(100) {
        0..12 => Op::Create(manager(rng), id, rng.pick(&FILES)),
        12..27 => {
            let file = model.models.get(id).map_or(File::Affine, |u| u.file);
            let index = rng.below(u64::from(fx.chunks(file))) as u32;
            Op::Upload(manager(rng), id, index)
        }
        27..37 => Op::Finalize(manager(rng), id),
        37..60 => {
            let digits = match model.models.get(id) {
                Some(upload) => (upload.file == File::Digits) != rng.chance(10),
                None => rng.chance(50),
            };
            let inputs = if digits {
                Inputs::Digits(rng.below(fx.digits.cases.len() as u64) as usize)
            } else {
                let rows = 1 + rng.below(3) as usize;
                let value = |rng: &mut Rng| (rng.below(33) as f32 - 16.0) / 4.0;
                Inputs::Affine(
                    (0..rows)
                        .map(|_| [value(rng), value(rng), value(rng)])
                        .collect(),
                )
            };
            let nonce = rng.chance(30).then(|| {
                let len = 16 + rng.below(49) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            });
            let who = rng.pick(&[Who::Controller, Who::Stranger, Who::Anonymous]);
            Op::Infer(who, id, inputs, nonce)
        }
        60..65 => Op::Delete(manager(rng), id),
        65..69 => Op::Upgrade,
        69..73 => Op::Downgrade,
        _ => Op::Read(match rng.below(8) {
            0 => Read::ListModels,
            1 => Read::ModelInfo(id),
            2 => Read::UploadStatus(id),
            3 => Read::LogEntry(rng.below(size + 2)),
            4 => Read::LogPage(rng.below(size + 2), 1 + rng.below(120) as u32),
            5 if size > 0 => Read::LogProof(rng.below(size)),
            6 if size > 0 => {
                let to = 1 + rng.below(size);
                Read::LogConsistency(1 + rng.below(to), to)
            }
            _ => Read::CodeEpochs,
        }),
    }
}

/// Prints how to replay a sequence if it panics.
struct ReplayHint {
    seed: u64,
    step: usize,
    op: Option<Op>,
}

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "model-based test failed: seed {} at step {} ({:?}); replay with \
                 ICINFER_MODEL_SEED={} ICINFER_MODEL_SEQUENCES=1",
                self.seed, self.step, self.op, self.seed
            );
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

/// Setup, Runbook and Success criteria: the module docs.
#[test]
fn random_calls_upgrades_and_downgrades_agree_with_the_model() {
    let sequences = env_u64("ICINFER_MODEL_SEQUENCES", 4);
    let steps = env_u64("ICINFER_MODEL_STEPS", 60) as usize;
    let first_seed = env_u64("ICINFER_MODEL_SEED", 0x1c1f_2026);
    let fx = Fixtures::load();
    let modules = Modules::load();
    println!(
        "model-based: built layout {}, release {} layout {}",
        modules.built_module.layout, modules.release.name, modules.release_module.layout
    );
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let started = std::time::Instant::now();
    for sequence in 0..sequences {
        let seed = first_seed.wrapping_add(sequence);
        let mut hint = ReplayHint {
            seed,
            step: 0,
            op: None,
        };
        let mut rng = Rng(seed);
        let mut harness = Harness::new(&fx, &modules, seed % 2 == 0);
        for step in 0..steps {
            let op = random_op(&mut rng, &fx, &harness.model);
            (hint.step, hint.op) = (step, Some(op.clone()));
            harness.apply(&op);
        }
        for (name, n) in harness.counts {
            *counts.entry(name).or_default() += n;
        }
        drop(hint);
    }
    println!(
        "model-based: {sequences} sequences of {steps} steps ({} in all) in {:.1} s: {counts:?}",
        sequences * steps as u64,
        started.elapsed().as_secs_f64()
    );
}

/// Setup: the release installed, the digits and affine models uploaded, inferences logged.
/// Runbook: upgrade to the built module, infer, downgrade to the release, infer, upgrade.
/// Success criteria: the upgrade from the release keeps models and log; the downgrade is
/// accepted if the release reads the built module's layout and refused with nothing
/// changed if the built layout is newer; every reply is the model's.
#[test]
fn an_upgrade_from_the_release_keeps_everything_and_a_downgrade_follows_the_layout() {
    let fx = Fixtures::load();
    let modules = Modules::load();
    let mut harness = Harness::new(&fx, &modules, true);
    let c = Who::Controller;
    let digits = |case| Op::Infer(Who::Stranger, "d", Inputs::Digits(case), None);
    let affine = Op::Infer(
        c,
        "a",
        Inputs::Affine(vec![[0.25, -1.5, 3.0]]),
        Some(vec![7; 16]),
    );
    let script = [
        Op::Create(c, "d", File::Digits),
        Op::Upload(c, "d", 0),
        Op::Finalize(c, "d"),
        Op::Create(c, "a", File::PaddedAffine),
        Op::Upload(c, "a", 1),
        Op::Finalize(c, "a"),
        Op::Upload(c, "a", 0),
        Op::Finalize(c, "a"),
        digits(0),
        affine.clone(),
        Op::Upgrade,
        Op::Read(Read::ListModels),
        digits(0),
        digits(1),
        Op::Downgrade,
        Op::Read(Read::CodeEpochs),
        digits(1),
        affine,
        Op::Upgrade,
        Op::Read(Read::LogProof(1)),
        Op::Read(Read::LogConsistency(2, 8)),
    ];
    for op in &script {
        harness.apply(op);
    }
    let refused = harness
        .counts
        .get("downgrade refused")
        .copied()
        .unwrap_or(0);
    let newer = modules.built_module.layout > modules.release_module.layout;
    assert_eq!(refused, u64::from(newer), "{:?}", harness.counts);
}

/// Setup: the built module installed with the digits model and two inferences logged.
/// Runbook: rewrite the layout header's version to one above the release's (as code of a
/// newer layout would have written it) with `Host::load_stable_memory_image`, then
/// downgrade to the release.
/// Success criteria: the release's `post_upgrade` refuses the layout; the host rolls the
/// upgrade back as the IC does: the module hash, canister version, certified data, every
/// stable page, the log head and the models are as before, and the newer code keeps
/// serving: the next inference appends at the next index.
#[test]
fn a_release_refuses_a_newer_layout_and_the_newer_code_keeps_running_unchanged() {
    let fx = Fixtures::load();
    let modules = Modules::load();
    let mut harness = Harness::new(&fx, &modules, false);
    let c = Who::Controller;
    for op in [
        Op::Create(c, "d", File::Digits),
        Op::Upload(c, "d", 0),
        Op::Finalize(c, "d"),
        Op::Infer(c, "d", Inputs::Digits(0), None),
        Op::Infer(c, "d", Inputs::Digits(2), None),
    ] {
        harness.apply(&op);
    }
    let id = harness.id;
    let image = harness
        .local
        .host
        .canister_state(id)
        .unwrap()
        .stable_memory
        .to_bytes();
    let newer = modules.release_module.layout + 1;
    let patched = with_layout_version(&image, newer);
    assert_eq!(layout_version(&patched), Some(newer));
    harness
        .local
        .host
        .load_stable_memory_image(id, &patched)
        .unwrap();
    harness.model.stable_layout = newer;

    let before = harness.snapshot();
    let logs_before = harness.local.host.logs(id).len();
    let reply = harness.local.upgrade(
        id,
        &modules.release.wasm_gz,
        Encode!().unwrap(),
        Who::Controller.principal(),
    );
    let rejection = reply.expect_err("the release must refuse a layout newer than its own");
    println!("downgrade over layout {newer}: {rejection:?}");
    assert!(
        rejection.message.contains("unknown stable layout"),
        "{rejection:?}"
    );
    assert_eq!(
        harness.snapshot(),
        before,
        "the refused downgrade changed the canister"
    );
    let image_after = harness
        .local
        .host
        .canister_state(id)
        .unwrap()
        .stable_memory
        .to_bytes();
    assert!(image_after == patched, "stable memory changed");
    let trap = &harness.local.host.logs(id)[logs_before..];
    assert!(
        trap.iter().any(|r| r.content.contains("refusing to start")),
        "the release's post_upgrade logs why it refused: {trap:?}"
    );
    harness.apply(&Op::Infer(c, "d", Inputs::Digits(1), None));
    harness.apply(&Op::Read(Read::ListModels));
    assert_eq!(
        harness.model.log_size(),
        5,
        "install epoch, the model's declaration, two inferences, one more"
    );
}
