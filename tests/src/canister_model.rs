//! An in-memory model of the inference canister, for the model-based test
//! (tests/tests/model_based.rs, after dfinity/cycles-ledger's): what the canister should
//! hold (models by id with their upload state, the provenance log, the code epochs, the
//! module running and the stable layout it wrote) and what each call should answer.
//!
//! Predictions come from the model files, the affine model's arithmetic and onnxruntime's
//! reference outputs. What the model cannot know (times, instructions, the facts tract reads
//! from a file, digits' exact float outputs) it learns from the first reply that shows it,
//! checked as far as it can be (digits within the reference tolerance), and from then on
//! holds the canister to it: across upgrades and downgrades, the same model must give the
//! same bytes.
//!
//! Each `*_reply` method takes the canister's reply to one call, asserts it is the predicted
//! one, and applies the call's effect to the model.

use crate::models::{Model, load_model};
use crate::{CHUNK_BYTES, model_bytes};
use candid::Principal;
use icinfer_api::{
    CodeEpochStatus, DeploymentMode, EntryKind, Error, InferResult, LogEntry, LogPage, ModelInfo,
    ModelState, Tensor, TensorData, UploadProgress, UploadStatus,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub type Hash = [u8; 32];

/// The files an upload can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    /// models/tiny/affine.onnx: z = (x + bias) * 2, one chunk.
    Affine,
    /// The affine model padded to two chunks (a protobuf field tract ignores).
    PaddedAffine,
    /// models/digits/digits.onnx, with onnxruntime's reference cases.
    Digits,
    /// The affine model's bytes declared with another SHA-256: finalize fails.
    Mislabelled,
}

pub const FILES: [File; 4] = [
    File::Affine,
    File::PaddedAffine,
    File::Digits,
    File::Mislabelled,
];

/// The affine model's bias (models/tiny/make_tiny.py).
const AFFINE_BIAS: [f32; 3] = [0.5, -1.0, 2.0];

/// The files' bytes and reference cases.
pub struct Fixtures {
    affine: Vec<u8>,
    padded: Vec<u8>,
    pub digits: Model,
}

impl Fixtures {
    pub fn load() -> Self {
        let affine = model_bytes("tiny/affine.onnx");
        Fixtures {
            padded: padded_model(&affine, CHUNK_BYTES + 4321),
            affine,
            digits: load_model("digits").unwrap_or_else(|e| panic!("{e}")),
        }
    }

    pub fn bytes(&self, file: File) -> &[u8] {
        match file {
            File::Affine | File::Mislabelled => &self.affine,
            File::PaddedAffine => &self.padded,
            File::Digits => &self.digits.bytes,
        }
    }

    /// The SHA-256 `create_model` declares.
    pub fn declared_sha256(&self, file: File) -> Hash {
        match file {
            File::Mislabelled => Sha256::digest(b"not the affine model").into(),
            _ => Sha256::digest(self.bytes(file)).into(),
        }
    }

    pub fn chunks(&self, file: File) -> u32 {
        self.bytes(file).len().div_ceil(CHUNK_BYTES) as u32
    }

    /// Chunk `index` of `file`, as `upload_model_chunk` sends it.
    pub fn chunk(&self, file: File, index: u32) -> &[u8] {
        let bytes = self.bytes(file);
        let start = index as usize * CHUNK_BYTES;
        &bytes[start..(start + CHUNK_BYTES).min(bytes.len())]
    }
}

/// `bytes` (an ONNX model) padded to `size` with a `doc_string` field (6), which tract
/// ignores: a model of several chunks that still loads.
pub fn padded_model(bytes: &[u8], size: usize) -> Vec<u8> {
    let varint = |mut n: usize| {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    };
    let pad = (1..=5)
        .map(|len| size - bytes.len() - 1 - len)
        .find(|&pad| varint(pad).len() == size - bytes.len() - 1 - pad)
        .expect("a pad length fits");
    let mut out = bytes.to_vec();
    out.push(0x32);
    out.extend(varint(pad));
    out.resize(size, b' ');
    out
}

/// What an inference is given.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Rows of the affine model's input, multiples of 1/4 so that every result is exact.
    Affine(Vec<[f32; 3]>),
    /// A digits reference case, by index.
    Digits(usize),
}

impl Inputs {
    pub fn tensors(&self, fx: &Fixtures) -> Vec<Tensor> {
        match self {
            Inputs::Affine(rows) => vec![Tensor {
                name: "x".into(),
                shape: vec![rows.len() as u64, 3],
                data: TensorData::F32(rows.iter().flatten().copied().collect()),
            }],
            Inputs::Digits(case) => fx.digits.cases[*case].inputs.clone(),
        }
    }

    fn fits(&self, file: File) -> bool {
        matches!(
            (self, file),
            (Inputs::Affine(_), File::Affine | File::PaddedAffine)
                | (Inputs::Digits(_), File::Digits)
        )
    }
}

/// A model record as the canister should hold it.
#[derive(Clone, Debug)]
pub struct Upload {
    pub file: File,
    pub received: BTreeSet<u32>,
    pub state: Expected,
    pub created_by: Principal,
    /// Learned from `create_model`'s reply.
    pub created_at_ns: u64,
    /// `finalize_model`'s reply once ready: what every later read must show.
    pub ready: Option<ModelInfo>,
}

/// The upload states the test reaches (finalize of these small files never runs as a job).
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    Uploading,
    Ready,
    Failed(Error),
}

/// A code epoch as the model predicts it.
#[derive(Clone, Debug)]
pub struct Epoch {
    pub first_index: u64,
    pub module_hash: Hash,
    pub mode: DeploymentMode,
    pub entry: Option<u64>,
}

/// The module running, and the stable layout version it reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub hash: Hash,
    pub layout: u8,
    /// Whether its finalize logs the model's declaration (entry kind 4; the release before
    /// it does not).
    pub logs_model_entries: bool,
    /// Whether its `canister_inspect_message` refuses a non-manager's management calls at
    /// ingress (the release before it has none).
    pub inspects_ingress: bool,
}

pub struct CanisterModel {
    pub canister: Principal,
    pub controller: Principal,
    pub models: BTreeMap<String, Upload>,
    pub log: Vec<LogEntry>,
    leaves: Vec<Hash>,
    pub epochs: Vec<Epoch>,
    pub module: Module,
    /// A finalize that succeeded under a module that logs model entries: the model whose
    /// entry `model_logged` must find next.
    expect_model_entry: Option<String>,
    /// The layout version of the stable memory: the newest that wrote it.
    pub stable_layout: u8,
    /// Digits outputs by case, learned from the first inference of each.
    digits_outputs: BTreeMap<usize, Vec<Tensor>>,
}

impl CanisterModel {
    /// A canister just installed with `module` by `controller`.
    pub fn installed(canister: Principal, controller: Principal, module: Module) -> Self {
        CanisterModel {
            canister,
            controller,
            models: BTreeMap::new(),
            log: Vec::new(),
            leaves: Vec::new(),
            epochs: vec![Epoch {
                first_index: 0,
                module_hash: module.hash,
                mode: DeploymentMode::Install,
                entry: None,
            }],
            module,
            expect_model_entry: None,
            stable_layout: module.layout,
            digits_outputs: BTreeMap::new(),
        }
    }

    pub fn is_manager(&self, caller: Principal) -> bool {
        caller == self.controller
    }

    fn unauthorized(caller: Principal) -> Error {
        Error::Unauthorized {
            caller,
            required: "a controller or an admin".into(),
        }
    }

    fn not_found(id: &str) -> Error {
        Error::NotFound {
            kind: "model".into(),
            id: id.into(),
        }
    }

    // --- models ---------------------------------------------------------------------------

    pub fn create_reply(
        &mut self,
        fx: &Fixtures,
        caller: Principal,
        id: &str,
        file: File,
        reply: Result<ModelInfo, Error>,
    ) {
        let expected = if !self.is_manager(caller) {
            Err(Self::unauthorized(caller))
        } else {
            match self.models.get(id) {
                // A failed upload is replaced; the only failure reached is a hash
                // mismatch, whose chunks are never kept (store::keeps_chunks).
                Some(upload) if !matches!(upload.state, Expected::Failed(_)) => {
                    Err(Error::AlreadyExists {
                        kind: "model".into(),
                        id: id.into(),
                    })
                }
                _ => Ok(()),
            }
        };
        match (expected, reply) {
            (Ok(()), Ok(info)) => {
                let upload = Upload {
                    file,
                    received: BTreeSet::new(),
                    state: Expected::Uploading,
                    created_by: caller,
                    created_at_ns: info.created_at_ns,
                    ready: None,
                };
                self.models.insert(id.to_string(), upload);
                self.check_info(fx, id, &info);
            }
            (Err(expected), Err(got)) => assert_same_error(&expected, &got, "create_model"),
            (expected, got) => panic!("create_model {id}: expected {expected:?}, got {got:?}"),
        }
    }

    pub fn upload_reply(
        &mut self,
        fx: &Fixtures,
        caller: Principal,
        id: &str,
        index: u32,
        reply: Result<UploadProgress, Error>,
    ) {
        let expected = if !self.is_manager(caller) {
            Err(Self::unauthorized(caller))
        } else {
            match self.models.get_mut(id) {
                None => Err(Self::not_found(id)),
                Some(upload) if upload.state == Expected::Ready => Err(Error::InvalidState {
                    id: id.into(),
                    reason: "the model is finalized and immutable".into(),
                }),
                Some(upload) => {
                    upload.received.insert(index);
                    Ok(UploadProgress {
                        chunks_received: upload.received.len() as u32,
                        chunks_total: fx.chunks(upload.file),
                    })
                }
            }
        };
        match (expected, reply) {
            (Ok(expected), Ok(got)) => assert_eq!(got, expected, "upload_model_chunk {id} {index}"),
            (Err(expected), Err(got)) => assert_same_error(&expected, &got, "upload_model_chunk"),
            (expected, got) => {
                panic!("upload_model_chunk {id}: expected {expected:?}, got {got:?}")
            }
        }
    }

    pub fn finalize_reply(
        &mut self,
        fx: &Fixtures,
        caller: Principal,
        id: &str,
        reply: Result<ModelInfo, Error>,
    ) {
        let expected = if !self.is_manager(caller) {
            Err(Self::unauthorized(caller))
        } else {
            match self.models.get_mut(id) {
                None => Err(Self::not_found(id)),
                Some(upload) if upload.state == Expected::Ready => Err(Error::InvalidState {
                    id: id.into(),
                    reason: "the model is already finalized".into(),
                }),
                Some(upload) if upload.received.len() < fx.chunks(upload.file) as usize => {
                    Err(Error::UploadIncomplete {
                        id: id.into(),
                        missing_chunks: fx.chunks(upload.file) - upload.received.len() as u32,
                    })
                }
                Some(upload) if upload.file == File::Mislabelled => {
                    let error = Error::HashMismatch {
                        expected: ByteBuf::from(fx.declared_sha256(upload.file).to_vec()),
                        actual: ByteBuf::from(Sha256::digest(fx.bytes(upload.file)).to_vec()),
                    };
                    upload.state = Expected::Failed(error.clone());
                    Err(error)
                }
                Some(upload) => {
                    upload.state = Expected::Ready;
                    Ok(())
                }
            }
        };
        match (expected, reply) {
            (Ok(()), Ok(info)) => {
                if self.module.logs_model_entries {
                    self.expect_model_entry = Some(id.to_string());
                }
                self.models.get_mut(id).expect("ready").ready = Some(info.clone());
                self.check_info(fx, id, &info);
                assert!(info.finalized_at_ns.is_some(), "finalize {id}: {info:?}");
                assert!(!info.inputs.is_empty() && !info.outputs.is_empty());
            }
            (Err(expected), Err(got)) => assert_same_error(&expected, &got, "finalize_model"),
            (expected, got) => panic!("finalize_model {id}: expected {expected:?}, got {got:?}"),
        }
    }

    pub fn delete_reply(&mut self, caller: Principal, id: &str, reply: Result<(), Error>) {
        let expected = if !self.is_manager(caller) {
            Err(Self::unauthorized(caller))
        } else if self.models.remove(id).is_none() {
            Err(Self::not_found(id))
        } else {
            Ok(())
        };
        match (expected, reply) {
            (Ok(()), Ok(())) => {}
            (Err(expected), Err(got)) => assert_same_error(&expected, &got, "delete_model"),
            (expected, got) => panic!("delete_model {id}: expected {expected:?}, got {got:?}"),
        }
    }

    /// A model's info as `model_info` and `list_models` must show it.
    pub fn check_info(&self, fx: &Fixtures, id: &str, got: &ModelInfo) {
        let upload = &self.models[id];
        if let Some(ready) = &upload.ready {
            assert_eq!(got, ready, "model {id} is not as finalize left it");
            return;
        }
        let state = expected_state(upload);
        let shown = (
            got.id.as_str(),
            got.sha256.as_slice(),
            got.size_bytes,
            &got.description,
            &got.state,
            got.created_at_ns,
            got.created_by,
            &got.language_model,
        );
        let predicted = (
            id,
            &fx.declared_sha256(upload.file)[..],
            fx.bytes(upload.file).len() as u64,
            &None,
            &state,
            upload.created_at_ns,
            upload.created_by,
            &None,
        );
        assert_eq!(shown, predicted, "model_info {id}");
    }

    pub fn model_info_reply(&self, fx: &Fixtures, id: &str, reply: Result<ModelInfo, Error>) {
        match (self.models.contains_key(id), reply) {
            (true, Ok(info)) => self.check_info(fx, id, &info),
            (false, Err(got)) => assert_same_error(&Self::not_found(id), &got, "model_info"),
            (known, got) => panic!("model_info {id} (known: {known}): got {got:?}"),
        }
    }

    pub fn list_reply(&self, fx: &Fixtures, got: &[ModelInfo]) {
        let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
        let expected: Vec<&str> = self.models.keys().map(String::as_str).collect();
        assert_eq!(ids, expected, "list_models");
        for info in got {
            self.check_info(fx, &info.id, info);
        }
    }

    pub fn upload_status_reply(&self, fx: &Fixtures, id: &str, reply: Result<UploadStatus, Error>) {
        let Some(upload) = self.models.get(id) else {
            let got = reply.expect_err("upload_status of an unknown id");
            return assert_same_error(&Self::not_found(id), &got, "upload_status");
        };
        let got = reply.unwrap_or_else(|e| panic!("upload_status {id}: {e:?}"));
        let total = fx.chunks(upload.file);
        let expected = UploadStatus {
            id: id.into(),
            state: expected_state(upload),
            size_bytes: fx.bytes(upload.file).len() as u64,
            chunk_size: CHUNK_BYTES as u64,
            chunks_total: total,
            chunks_received: upload.received.len() as u32,
            missing_chunks: (0..total)
                .filter(|i| !upload.received.contains(i))
                .collect(),
            // No language models here.
            tokenizer: None,
        };
        assert_eq!(got, expected, "upload_status {id}");
    }

    // --- inference ------------------------------------------------------------------------

    pub fn infer_reply(
        &mut self,
        fx: &Fixtures,
        caller: Principal,
        id: &str,
        inputs: &Inputs,
        nonce: Option<&[u8]>,
        reply: Result<InferResult, Error>,
    ) {
        let expected_error = match self.models.get(id) {
            None => Some(Self::not_found(id)),
            Some(upload) if upload.state != Expected::Ready => Some(Error::InvalidState {
                id: id.into(),
                reason: "the model is still uploading; finalize it first".into(),
            }),
            // Compared by variant alone (assert_same_error): the texts are the code's.
            Some(upload) if !inputs.fits(upload.file) => Some(Error::InputMismatch {
                tensor: String::new(),
                expected: String::new(),
                got: String::new(),
            }),
            Some(_) => None,
        };
        let result = match (expected_error, reply) {
            (Some(expected), Err(got)) => return assert_same_error(&expected, &got, "infer"),
            (None, Ok(result)) => result,
            (expected, got) => panic!("infer {id} {inputs:?}: expected {expected:?}, got {got:?}"),
        };
        let file = self.models[id].file;
        let tensors = inputs.tensors(fx);
        let outputs = match inputs {
            Inputs::Affine(rows) => vec![affine_outputs(rows)],
            Inputs::Digits(case) => self.digits_outputs(fx, *case, &result.outputs),
        };
        assert_eq!(result.outputs, outputs, "infer {id} {inputs:?}: outputs");
        let receipt = &result.receipt;
        let predicted = LogEntry {
            seq: self.log.len() as u64,
            caller,
            model_id: id.into(),
            model_sha256: ByteBuf::from(fx.declared_sha256(file).to_vec()),
            input_hash: ByteBuf::from(
                icinfer_verify::tensor::input_hash(&tensors, nonce)
                    .unwrap()
                    .to_vec(),
            ),
            output_hash: ByteBuf::from(icinfer_verify::tensor::output_hash(&outputs).to_vec()),
            input_salted: nonce.is_some(),
            messages: Some(1),
            kind: None,
            timestamp_ns: receipt.timestamp_ns,
            instructions: receipt.instructions,
        };
        assert_eq!(receipt, &predicted, "infer {id}: receipt");
        assert!(receipt.instructions > 0);
        self.append(receipt.clone());
    }

    /// Digits' outputs for a reference case: within onnxruntime's tolerance the first time,
    /// byte for byte what they were the first time afterwards.
    fn digits_outputs(&mut self, fx: &Fixtures, case: usize, got: &[Tensor]) -> Vec<Tensor> {
        if let Some(known) = self.digits_outputs.get(&case) {
            return known.clone();
        }
        let reference = &fx.digits.cases[case].outputs;
        assert_eq!(got.len(), reference.len(), "digits case {case}: outputs");
        for tensor in got {
            let expected = &reference[&tensor.name];
            assert_eq!(
                tensor.shape, expected.shape,
                "digits case {case}: {}",
                tensor.name
            );
            match (&tensor.data, &expected.data) {
                (TensorData::F32(a), TensorData::F32(b)) => {
                    for (x, y) in a.iter().zip(b) {
                        let within = f64::from((x - y).abs()) <= fx.digits.tolerance;
                        assert!(within, "digits case {case}: {} {x} vs {y}", tensor.name);
                    }
                }
                (a, b) => assert_eq!(a, b, "digits case {case}: {}", tensor.name),
            }
        }
        self.digits_outputs.insert(case, got.to_vec());
        got.to_vec()
    }

    fn append(&mut self, entry: LogEntry) {
        if let Some(last) = self.log.last() {
            assert!(entry.timestamp_ns > last.timestamp_ns, "log times increase");
        }
        let bytes = icinfer_verify::entry::encode_entry(&entry).expect("an entry encodes");
        self.leaves.push(icinfer_verify::merkle::leaf_hash(&bytes));
        self.log.push(entry);
    }

    // --- code -----------------------------------------------------------------------------

    /// An upgrade (or downgrade) to `module`: accepted unless the stable memory was written
    /// by a newer layout than `module` reads, when its `post_upgrade` must refuse it and
    /// leave everything as it was. Returns whether it was accepted.
    pub fn upgrade_reply(&mut self, module: Module, reply: Result<(), crate::Rejection>) -> bool {
        let accepted = self.stable_layout <= module.layout;
        match reply {
            Ok(()) => {
                assert!(
                    accepted,
                    "an upgrade to layout {} over layout {} was accepted",
                    module.layout, self.stable_layout
                );
                self.module = module;
                self.stable_layout = module.layout;
                self.epochs.push(Epoch {
                    first_index: self.log.len() as u64,
                    module_hash: module.hash,
                    mode: DeploymentMode::Upgrade,
                    entry: None,
                });
            }
            Err(rejection) => {
                assert!(
                    !accepted,
                    "an upgrade to layout {} over layout {} was refused: {rejection:?}",
                    module.layout, self.stable_layout
                );
                assert!(
                    rejection.message.contains("unknown stable layout"),
                    "refused for another reason: {rejection:?}"
                );
            }
        }
        accepted
    }

    /// After a finalize: the model's declaration (kind 4) when the module logs one. `entry`
    /// is what the log holds at the predicted index.
    pub fn model_logged(&mut self, fx: &Fixtures, entry: Option<LogEntry>) {
        let index = self.log.len() as u64;
        let Some(id) = self.expect_model_entry.take() else {
            assert!(entry.is_none(), "an entry nobody logged: {entry:?}");
            return;
        };
        let entry = entry.expect("a finalize logs the model's declaration");
        match &entry.kind {
            // Nothing is declared at create_model here.
            Some(EntryKind::Model(declaration)) => assert!(
                declaration.input_facts.is_empty() && declaration.language_model.is_none(),
                "model entry {index}: {declaration:?}"
            ),
            other => panic!("entry {index} is not a model entry: {other:?}"),
        }
        let upload = &self.models[&id];
        let none = [0u8; 32];
        assert_eq!(
            (
                entry.seq,
                entry.caller,
                &entry.model_id,
                &entry.model_sha256[..]
            ),
            (
                index,
                upload.created_by,
                &id,
                &fx.declared_sha256(upload.file)[..]
            ),
            "model entry {index}"
        );
        assert_eq!(
            (&entry.input_hash[..], &entry.output_hash[..]),
            (&none[..], &none[..])
        );
        self.append(entry);
    }

    /// After a tick: the pending code epoch's self-call has logged it. `entry` is what the
    /// log holds at the predicted index.
    pub fn epoch_logged(&mut self, entry: Option<LogEntry>) {
        let index = self.log.len() as u64;
        let Some(epoch) = self.epochs.iter_mut().find(|e| e.entry.is_none()) else {
            assert!(entry.is_none(), "an entry nobody logged: {entry:?}");
            return;
        };
        let entry = entry.expect("the code epoch's entry is logged at the next tick");
        match &entry.kind {
            Some(EntryKind::CodeEpoch(logged)) => {
                assert_eq!(
                    (logged.first_index, &logged.module_hash[..], &logged.mode),
                    (epoch.first_index, &epoch.module_hash[..], &epoch.mode),
                    "code epoch entry {index}"
                );
            }
            other => panic!("entry {index} is not a code epoch: {other:?}"),
        }
        assert_eq!((entry.seq, entry.caller), (index, self.canister));
        epoch.entry = Some(index);
        self.append(entry);
    }

    pub fn code_epochs_reply(&self, got: &[CodeEpochStatus]) {
        let got: Vec<(u64, Option<u64>, Option<Vec<u8>>)> = got
            .iter()
            .map(|e| {
                (
                    e.first_index,
                    e.entry,
                    e.epoch.as_ref().map(|c| c.module_hash.to_vec()),
                )
            })
            .collect();
        let expected: Vec<(u64, Option<u64>, Option<Vec<u8>>)> = self
            .epochs
            .iter()
            .map(|e| {
                (
                    e.first_index,
                    e.entry,
                    e.entry.map(|_| e.module_hash.to_vec()),
                )
            })
            .collect();
        assert_eq!(got, expected, "code_epochs");
    }

    // --- the log --------------------------------------------------------------------------

    /// RFC 9162's MTH over the first `size` entries (the reference definition, 2.1.1).
    pub fn root(&self, size: u64) -> Hash {
        fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => Sha256::digest([]).into(),
                1 => leaves[0],
                n => {
                    let k = n.next_power_of_two() / 2;
                    icinfer_verify::merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }
        mth(&self.leaves[..size as usize])
    }

    pub fn log_size(&self) -> u64 {
        self.log.len() as u64
    }

    pub fn log_entry_reply(&self, seq: u64, reply: Result<LogEntry, Error>) {
        match (self.log.get(seq as usize), reply) {
            (Some(expected), Ok(got)) => assert_eq!(&got, expected, "log_entry {seq}"),
            (None, Err(got)) => {
                let expected = Error::NotFound {
                    kind: "log entry".into(),
                    id: seq.to_string(),
                };
                assert_same_error(&expected, &got, "log_entry");
            }
            (expected, got) => panic!("log_entry {seq}: expected {expected:?}, got {got:?}"),
        }
    }

    pub fn log_page_reply(&self, start: u64, limit: u32, got: LogPage) {
        let size = self.log_size();
        let end = start.saturating_add(u64::from(limit.min(100))).min(size);
        let entries = self
            .log
            .get(start as usize..end as usize)
            .unwrap_or_default()
            .to_vec();
        let expected = LogPage {
            entries,
            log_size: size,
            next: (end < size).then_some(end),
        };
        assert_eq!(got, expected, "log_entries {start} {limit}");
    }
}

fn expected_state(upload: &Upload) -> ModelState {
    match &upload.state {
        Expected::Uploading => ModelState::Uploading,
        Expected::Ready => ModelState::Ready,
        Expected::Failed(error) => ModelState::Failed {
            error: error.clone(),
        },
    }
}

fn affine_outputs(rows: &[[f32; 3]]) -> Tensor {
    let data = rows
        .iter()
        .flat_map(|row| row.iter().zip(AFFINE_BIAS).map(|(x, b)| (x + b) * 2.0))
        .collect();
    Tensor {
        name: "z".into(),
        shape: vec![rows.len() as u64, 3],
        data: TensorData::F32(data),
    }
}

/// Errors are equal when their variant and identifying fields are; free-text reasons and
/// the descriptions of a mismatch are the code's to word.
pub fn assert_same_error(expected: &Error, got: &Error, call: &str) {
    let key = |e: &Error| match e {
        Error::InvalidState { id, .. } => format!("InvalidState {id}"),
        Error::InvalidArgument { field, .. } => format!("InvalidArgument {field}"),
        Error::InputMismatch { .. } => "InputMismatch".to_string(),
        Error::Unauthorized { caller, .. } => format!("Unauthorized {caller}"),
        other => format!("{other:?}"),
    };
    assert_eq!(key(got), key(expected), "{call}: got {got:?}");
}
