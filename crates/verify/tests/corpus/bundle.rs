//! testdata/bundle.json: provenance bundles (docs/provenance.md, "Content labels") over one
//! log of five entries (an install's code epoch, an inference, a generation, an upgrade's
//! code epoch, an inference by the upgraded module), signed by test keys as the IC signs;
//! the root key, content and expected module hashes each case is checked with; and the
//! report this crate makes: every check of the entry's and the epoch's proofs, the
//! attribution and the content. Tampered content, proofs, certificates, keys, epochs; and
//! files that are no bundle, each with its reason.
//!
//! Each case states the failure it is meant to show; the generator checks this crate fails
//! it there, for that reason, before writing it down.

use super::merkle::{mth, path, proof as consistency_nodes};
use super::signing::{Key, cbor, certificate, code_state_tree, state_tree};
use candid::Principal;
use icinfer_api::{
    CodeEpoch, DeploymentMode, EntryKind, GenerationReceipt, LogEntry, LogHead, LogProof, Sampling,
    StopReason, Tensor, TensorData,
};
use icinfer_verify::Outcome;
use icinfer_verify::bundle::{Bundle, BundleReport, report_bundle};
use icinfer_verify::entry::encode_entry;
use icinfer_verify::generation::{completion_hash, tokens_hash};
use icinfer_verify::head::{encode_head_witness, head_commitment, leb128};
use icinfer_verify::merkle::Hash;
use icinfer_verify::report::Report;
use icinfer_verify::tensor::{encode_tensor_list, output_hash};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

/// Milliseconds-aligned (the TypeScript port's clock is in milliseconds).
const NOW: u64 = 1_750_000_000_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const ROOT: u8 = 1;
const OTHER_ROOT: u8 = 9;
const INSTALLED: [u8; 32] = [0x3c; 32];
const UPGRADED: [u8; 32] = [0x4d; 32];
pub const COMPLETION: &[u8] = "The answer is 42.\n".as_bytes();
const TOKENS: [u32; 6] = [464, 3280, 318, 5433, 13, 198];

fn canister() -> Principal {
    Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, 0x07, 1, 1])
}

fn digest(hash: &[u8]) -> ByteBuf {
    ByteBuf::from(hash.to_vec())
}

pub fn outputs() -> Vec<Tensor> {
    vec![
        Tensor {
            name: "probabilities".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![0.125, 0.75, 0.125]),
        },
        Tensor {
            name: "label".into(),
            shape: vec![1],
            data: TensorData::I64(vec![1]),
        },
    ]
}

/// The outputs' canonical tensor list: an inference's content file.
pub fn output_content() -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_tensor_list(&outputs(), &mut |b| bytes.extend_from_slice(b));
    bytes
}

fn base(seq: u64) -> LogEntry {
    LogEntry {
        seq,
        timestamp_ns: NOW - 10 * MINUTE + seq * MINUTE,
        caller: Principal::from_slice(&[0xa1; 29]),
        model_id: "digits".into(),
        model_sha256: digest(&[0x11; 32]),
        input_hash: digest(&[0x22; 32]),
        output_hash: digest(&output_hash(&outputs())),
        input_salted: true,
        instructions: 120_000 + seq,
        messages: Some(1),
        kind: None,
    }
}

fn epoch(seq: u64, first_index: u64, module: [u8; 32], mode: DeploymentMode) -> LogEntry {
    LogEntry {
        caller: canister(),
        model_id: String::new(),
        model_sha256: digest(&[0; 32]),
        input_hash: digest(&[0; 32]),
        output_hash: digest(&[0; 32]),
        input_salted: false,
        kind: Some(EntryKind::CodeEpoch(CodeEpoch {
            first_index,
            canister_version: first_index + 1,
            started_ns: NOW - 11 * MINUTE + seq * MINUTE,
            module_hash: digest(&module),
            mode,
            deployed_version: first_index + 1,
            deployed_ns: NOW - 11 * MINUTE + seq * MINUTE,
            total_num_changes: first_index + 2,
            controllers: vec![Principal::from_slice(&[0xc0; 29])],
        })),
        ..base(seq)
    }
}

fn entries() -> Vec<LogEntry> {
    let generation = LogEntry {
        model_id: "tiny-gpt".into(),
        output_hash: digest(&completion_hash(COMPLETION)),
        kind: Some(EntryKind::Generation(Box::new(GenerationReceipt {
            tokenizer_sha256: digest(&[0x44; 32]),
            completion_tokens_sha256: digest(&tokens_hash(&TOKENS)),
            sampling: Sampling::Greedy,
            prompt_tokens: 5,
            generated_tokens: TOKENS.len() as u32,
            stop_reason: StopReason::Eos,
        }))),
        ..base(2)
    };
    vec![
        epoch(0, 0, INSTALLED, DeploymentMode::Install),
        base(1),
        generation,
        epoch(3, 3, UPGRADED, DeploymentMode::Upgrade),
        base(4),
    ]
}

struct Log {
    entries: Vec<LogEntry>,
    bytes: Vec<Vec<u8>>,
}

impl Log {
    fn new() -> Log {
        let entries = entries();
        let bytes = entries.iter().map(|e| encode_entry(e).unwrap()).collect();
        Log { entries, bytes }
    }

    fn head(&self, key: &Key) -> LogHead {
        let (size, root) = (self.bytes.len() as u64, mth(&self.bytes));
        let tree = state_tree(
            &canister(),
            &head_commitment(size, &root),
            Some(&leb128(NOW - MINUTE)),
        );
        LogHead {
            tree_size: size,
            root_hash: digest(&root),
            certificate: Some(ByteBuf::from(certificate(tree, key, None))),
            witness: ByteBuf::from(encode_head_witness(size, &root)),
        }
    }

    /// Entry `index` in the tree of `tree_size`, linked to the head of all five.
    fn proof(&self, index: usize, tree_size: usize) -> LogProof {
        let nodes = |hashes: Vec<Hash>| hashes.iter().map(|h| digest(h)).collect();
        LogProof {
            entry: self.entries[index].clone(),
            entry_bytes: ByteBuf::from(self.bytes[index].clone()),
            tree_size: tree_size as u64,
            tree_root: digest(&mth(&self.bytes[..tree_size])),
            inclusion_proof: nodes(path(index, &self.bytes[..tree_size])),
            consistency_proof: nodes(consistency_nodes(tree_size, &self.bytes)),
            head: self.head(&Key::new(ROOT)),
        }
    }
}

/// The read_state certificate of the canister's module hash (`module`) and controllers.
fn code_certificate(module: [u8; 32]) -> Vec<u8> {
    let controllers = cbor(&vec![ByteBuf::from(&[0xc0; 29][..])]);
    let tree = code_state_tree(
        &canister(),
        Some(&controllers),
        Some(&module),
        &leb128(NOW - MINUTE),
    );
    certificate(tree, &Key::new(ROOT), None)
}

/// Entry `seq` (proven in the tree of `tree_size`) with the epoch entry `epoch`.
fn bundle(log: &Log, seq: usize, tree_size: usize, epoch: Option<usize>) -> Bundle {
    Bundle {
        canister_id: canister(),
        network: "http://127.0.0.1:4944".into(),
        created_ns: NOW,
        entry: log.proof(seq, tree_size),
        code_epoch: epoch.map(|e| log.proof(e, log.bytes.len())),
        code_certificate: Some(code_certificate(UPGRADED)),
        content_file: Some(
            if seq == 2 {
                "answer.txt"
            } else {
                "outputs.bin"
            }
            .into(),
        ),
    }
}

/// The failure a case is meant to show: the part (`entry`, `code-epoch`, `attribution`,
/// `content`) and the reason code.
type Failure = Option<(&'static str, &'static str)>;

fn checks(report: &Report) -> Value {
    Value::Array(
        report
            .checks
            .iter()
            .map(|check| outcome(check.kind.key(), &check.outcome))
            .collect(),
    )
}

fn outcome(key: &str, outcome: &Outcome) -> Value {
    let mut value = json!({ "check": key, "status": outcome.status() });
    if let Outcome::Failed(e) = outcome {
        value["reason"] = json!(e.reason());
    }
    value
}

/// The report in the corpus's form.
pub fn report_json(report: &BundleReport) -> Value {
    let failure = report.failure();
    json!({
        "verified": report.proven.is_some(),
        "failure": failure.map(|(part, e)| json!({ "part": part, "reason": e.reason() })),
        "entry": checks(&report.entry),
        "code_epoch": report.epoch.as_ref().map(checks),
        "attribution": outcome("attribution", &report.attribution),
        "content": outcome("content", &report.content),
        "module_hash": report.proven.as_ref().and_then(|p| p.epoch.as_ref()).map(|(_, e)| hex::encode(&e.module_hash)),
    })
}

struct Cases {
    log: Log,
    out: Vec<Value>,
}

impl Cases {
    fn add(
        &mut self,
        name: &str,
        intended: Failure,
        bundle: &Bundle,
        root_key: &[u8],
        content: Option<&[u8]>,
        expected: &[Hash],
    ) {
        let report = report_bundle(bundle, root_key, content, expected);
        let failure = report.failure().map(|(part, e)| (part, e.reason()));
        assert_eq!(failure, intended, "{name}: {report}");
        // What is written is what is read: a bundle survives its JSON form.
        let text = bundle.to_json().to_string();
        assert_eq!(&Bundle::parse(&text).unwrap(), bundle, "{name}");
        self.out.push(json!({
            "name": name,
            "root_key": hex::encode(root_key),
            "content": content.map(hex::encode),
            "expected_module_hashes": expected.iter().map(hex::encode).collect::<Vec<_>>(),
            "bundle": bundle.to_json(),
            "expected": report_json(&report),
        }));
    }

    /// A bundle of entry `seq` with epoch `epoch`, checked with `content` under the root.
    fn plain(
        &mut self,
        name: &str,
        intended: Failure,
        seq: usize,
        epoch: Option<usize>,
        content: Option<&[u8]>,
    ) {
        let bundle = bundle(&self.log, seq, seq + 1, epoch);
        self.add(name, intended, &bundle, &Key::new(ROOT).der(), content, &[]);
    }

    fn tampered(&mut self, name: &str, intended: Failure, change: impl FnOnce(&mut Bundle)) {
        let mut bundle = bundle(&self.log, 1, 2, Some(0));
        change(&mut bundle);
        let content = output_content();
        self.add(
            name,
            intended,
            &bundle,
            &Key::new(ROOT).der(),
            Some(&content),
            &[],
        );
    }
}

fn flip(bytes: &mut ByteBuf, at: usize, mask: u8) {
    bytes[at] ^= mask;
}

pub fn corpus() -> Value {
    let mut c = Cases {
        log: Log::new(),
        out: Vec::new(),
    };
    let outputs = output_content();
    c.plain(
        "an inference's outputs (their canonical tensor list), written by the installed module",
        None,
        1,
        Some(0),
        Some(&outputs),
    );
    c.plain(
        "a generation's completion, written by the installed module",
        None,
        2,
        Some(0),
        Some(COMPLETION),
    );
    c.plain(
        "an inference written by the upgraded module, proven in the whole tree",
        None,
        4,
        Some(3),
        Some(&outputs),
    );
    c.plain(
        "no content given: the entry and its epoch are proven, the content is not",
        None,
        1,
        Some(0),
        None,
    );
    c.plain(
        "no code epoch in the bundle: the entry is not attributed",
        None,
        1,
        None,
        Some(&outputs),
    );
    let mut changed = outputs.clone();
    *changed.last_mut().unwrap() ^= 0x01;
    c.plain(
        "a changed content byte",
        Some(("content", "output-hash-mismatch")),
        1,
        Some(0),
        Some(&changed),
    );
    let mut longer = COMPLETION.to_vec();
    longer.push(b'!');
    c.plain(
        "a completion with a byte added",
        Some(("content", "output-hash-mismatch")),
        2,
        Some(0),
        Some(&longer),
    );
    c.plain(
        "the completion given for an inference (hashed as its outputs' tensor list)",
        Some(("content", "output-hash-mismatch")),
        1,
        Some(0),
        Some(COMPLETION),
    );
    c.plain(
        "content for a code epoch entry, which has none",
        Some(("content", "no-content")),
        0,
        Some(0),
        Some(COMPLETION),
    );
    c.plain(
        "the epoch that began after the entry",
        Some(("attribution", "epoch-after-entry")),
        1,
        Some(3),
        Some(&outputs),
    );
    c.plain(
        "an inference named as the code epoch",
        Some(("attribution", "not-a-code-epoch")),
        4,
        Some(1),
        Some(&outputs),
    );
    c.tampered(
        "a tampered inclusion proof",
        Some(("entry", "tree-root-mismatch")),
        |b| flip(&mut b.entry.inclusion_proof[0], 0, 0x80),
    );
    c.tampered(
        "a tampered entry byte (the output hash)",
        Some(("entry", "entry-mismatch")),
        |b| {
            let at = b.entry.entry_bytes.len() - 40;
            flip(&mut b.entry.entry_bytes, at, 0x01)
        },
    );
    c.tampered(
        "the readable entry does not match its bytes",
        Some(("entry", "entry-mismatch")),
        |b| b.entry.entry.output_hash = digest(&[0x99; 32]),
    );
    c.tampered(
        "a tampered head certificate",
        Some(("entry", "invalid-signature")),
        |b| {
            let certificate = b.entry.head.certificate.as_mut().unwrap();
            let at = certificate.len() - 1;
            flip(certificate, at, 0x01)
        },
    );
    c.tampered(
        "a tampered code epoch proof",
        Some(("code-epoch", "tree-root-mismatch")),
        |b| {
            flip(
                &mut b.code_epoch.as_mut().unwrap().inclusion_proof[0],
                3,
                0x01,
            )
        },
    );
    c.tampered(
        "another canister's bundle",
        Some(("entry", "missing-certified-data")),
        |b| b.canister_id = Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, 0x08, 1, 1]),
    );
    c.tampered(
        "made long after its certificates",
        Some(("entry", "not-fresh")),
        |b| b.created_ns = NOW + 60 * MINUTE,
    );
    let bundle_1 = bundle(&c.log, 1, 2, Some(0));
    c.add(
        "a wrong root key",
        Some(("entry", "invalid-signature")),
        &bundle_1,
        &Key::new(OTHER_ROOT).der(),
        Some(&outputs),
        &[],
    );
    c.add(
        "the module certified at labelling time is the one expected",
        None,
        &bundle(&c.log, 4, 5, Some(3)),
        &Key::new(ROOT).der(),
        Some(&outputs),
        &[UPGRADED],
    );
    c.add(
        "another module expected than the one certified",
        Some(("entry", "module-hash-mismatch")),
        &bundle_1,
        &Key::new(ROOT).der(),
        Some(&outputs),
        &[INSTALLED],
    );
    let valid = bundle_1.to_json();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut value = valid.clone();
        change(&mut value);
        value.to_string()
    };
    let unreadable = [
        ("not JSON", "{\"format\": ".to_string(), "not-json"),
        (
            "another format",
            with(&|v| v["format"] = json!("icinfer-receipt")),
            "not-a-bundle",
        ),
        (
            "a later version",
            with(&|v| v["version"] = json!(2)),
            "unsupported-bundle-version",
        ),
        (
            "the entry bytes missing",
            with(&|v| v["entry"]["entry_bytes"] = Value::Null),
            "malformed-bundle",
        ),
        (
            "a proof node not hex",
            with(&|v| v["entry"]["inclusion_proof"][0] = json!("zz")),
            "malformed-bundle",
        ),
        (
            "a tree size as a number",
            with(&|v| v["entry"]["tree_size"] = json!(2)),
            "malformed-bundle",
        ),
    ];
    for (name, text, reason) in &unreadable {
        let e = Bundle::parse(text).expect_err(name);
        assert_eq!(e.reason(), *reason, "{name}: {e}");
    }
    json!({
        "about": "Provenance bundles (docs/provenance.md, \"Content labels\") over one log of five \
                  entries, the root key, content (hex) and expected module hashes each is \
                  checked with, and the report: each check of the entry's and the code epoch's \
                  proofs, the attribution, the content, and the first failure (part and reason). \
                  Unreadable: files that are no bundle, with the reason. Written by crates/verify \
                  (tests/corpus/bundle.rs); regenerate: ICINFER_WRITE_TESTDATA=1 cargo test -p \
                  icinfer-verify --test testdata",
        "bundles": c.out,
        "unreadable": unreadable.iter().map(|(name, text, reason)| json!({
            "name": name, "text": text, "reason": reason,
        })).collect::<Vec<_>>(),
    })
}
