//! testdata/verifier.json: `log_proof` responses with their certificates (signed here by test
//! keys as the IC signs), what the verifier trusts and holds, and the report this crate makes:
//! every check's status and the failed one's reason. Valid proofs, and every tampering the
//! verifier must catch, each with the check that must catch it; byte sweeps (flip each byte
//! of a field: the named check fails); and `log_consistency` responses.
//!
//! Each case states the failure it is meant to show, and the generator checks this crate
//! fails it there, for that reason, before writing it down.

use super::json::{Holding, Tensors, head_json, hex, proof_json, trust_json, u64_text};
use super::merkle::{mth, path, proof as consistency_nodes};
use super::signing::{Key, Ranges, cbor, certificate, delegation, range, state_tree};
use candid::Principal;
use ic_certification::hash_tree::pruned;
use ic_certification::{Certificate, Delegation};
use icinfer_api::{LogConsistency, LogEntry, LogHead, LogProof, Tensor, TensorData};
use icinfer_verify::entry::encode_entry;
use icinfer_verify::head::{encode_head_witness, head_commitment, leb128};
use icinfer_verify::merkle::Hash;
use icinfer_verify::tensor::{input_hash, output_hash};
use icinfer_verify::{CheckKind, Outcome, Trust, report_log_proof, verify_log_consistency};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

use CheckKind::{
    Certificate as Cert, Consistency, Entry, Freshness, InputHash, Model, OutputHash, Witness,
};

/// Milliseconds-aligned, so that the TypeScript port's millisecond clock sees the same ages.
const NOW: u64 = 1_750_000_000_000_000_000;
const MINUTE: u64 = 60_000_000_000;
const MAX_AGE: u64 = 5 * MINUTE;
const MS: u64 = 1_000_000;
/// Entry 4 is unsalted; the others are salted with this nonce.
const NONCE: [u8; 32] = [7; 32];
const UNSALTED: u64 = 4;
/// Key seeds: the root, the subnet it delegates to, a rogue delegator, another root.
const ROOT: u8 = 1;
const SUBNET: u8 = 2;
const ROGUE: u8 = 3;
const OTHER_ROOT: u8 = 9;

fn canister() -> Principal {
    canister_with_low_byte(0x07)
}

fn canister_with_low_byte(byte: u8) -> Principal {
    Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, byte, 1, 1])
}

fn subnet() -> Principal {
    Principal::from_slice(&[0x5b; 29])
}

fn tensor(name: &str, shape: &[u64], data: TensorData) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        data,
    }
}

fn inputs() -> Vec<Tensor> {
    vec![tensor("x", &[1, 3], TensorData::F32(vec![1.0, 2.0, 3.0]))]
}

fn outputs() -> Vec<Tensor> {
    vec![
        tensor("y", &[1, 3], TensorData::F32(vec![4.0, 6.0, 8.0])),
        tensor("label", &[1], TensorData::I64(vec![2])),
    ]
}

fn entry(seq: u64) -> LogEntry {
    let salted = seq != UNSALTED;
    LogEntry {
        seq,
        timestamp_ns: NOW - MINUTE + seq,
        caller: Principal::from_slice(&[0xa1; 29]),
        model_id: "affine".into(),
        model_sha256: ByteBuf::from(vec![0x11; 32]),
        input_hash: digest(&input_hash(&inputs(), salted.then_some(&NONCE[..])).unwrap()),
        output_hash: digest(&output_hash(&outputs())),
        input_salted: salted,
        instructions: 100_000 + seq,
        // Entries of both encoding versions in one log: v1 (written before jobs) and v2.
        messages: (seq % 2 == 1).then_some(seq),
        kind: None,
    }
}

fn digest(hash: &[u8]) -> ByteBuf {
    ByteBuf::from(hash.to_vec())
}

/// Everything the caller of entry `seq` kept: tensors and nonce, receipt, the model's hash.
fn kept(seq: u64) -> Holding {
    Holding {
        receipt: Some(entry(seq)),
        model_sha256: Some([0x11; 32]),
        ..tensors_of(seq)
    }
}

/// The tensors and nonce of entry `seq` only.
fn tensors_of(seq: u64) -> Holding {
    opening(
        inputs(),
        (seq != UNSALTED).then(|| NONCE.to_vec()),
        outputs(),
    )
}

fn opening(inputs: Vec<Tensor>, nonce: Option<Vec<u8>>, outputs: Vec<Tensor>) -> Holding {
    Holding {
        opening: Some(Tensors {
            inputs,
            nonce,
            outputs,
        }),
        ..Holding::default()
    }
}

/// How the head's certificate is made.
struct Signing {
    signer: Key,
    delegation: Option<Delegation>,
    certified_for: Principal,
    /// The /time leaf: None leaves it out.
    time: Option<Vec<u8>>,
}

fn by_root() -> Signing {
    Signing {
        signer: Key::new(ROOT),
        delegation: None,
        certified_for: canister(),
        time: Some(leb128(NOW - MINUTE)),
    }
}

/// Signed by the subnet key, with a delegation to it from `delegator` for `ranges`.
fn delegated(ranges: Ranges, with_key: bool, delegator: u8) -> Signing {
    let subnet_key = Key::new(SUBNET);
    let time = NOW - 10 * MINUTE;
    let delegation = delegation(
        &Key::new(delegator),
        &subnet(),
        &subnet_key,
        ranges,
        with_key,
        time,
    );
    Signing {
        signer: subnet_key,
        delegation: Some(delegation),
        ..by_root()
    }
}

fn in_range() -> Ranges {
    Ranges::Flat(vec![range(&canister(), &canister())])
}

/// A log of entries 0..size.
struct Log {
    bytes: Vec<Vec<u8>>,
}

impl Log {
    fn new(size: u64) -> Log {
        Log {
            bytes: (0..size)
                .map(|i| encode_entry(&entry(i)).unwrap())
                .collect(),
        }
    }
    fn root(&self, size: usize) -> Hash {
        mth(&self.bytes[..size])
    }
    fn head(&self, signing: Signing) -> LogHead {
        let (size, root) = (self.bytes.len() as u64, self.root(self.bytes.len()));
        let certified = head_commitment(size, &root);
        let tree = state_tree(&signing.certified_for, &certified, signing.time.as_deref());
        let certificate = certificate(tree, &signing.signer, signing.delegation);
        LogHead {
            tree_size: size,
            root_hash: digest(&root),
            certificate: Some(ByteBuf::from(certificate)),
            witness: ByteBuf::from(encode_head_witness(size, &root)),
        }
    }
    /// Entry `index` proven in the tree of `tree_size` entries, linked to the head signed so.
    fn proof(&self, index: usize, tree_size: usize, signing: Signing) -> LogProof {
        let nodes = |hashes: Vec<Hash>| hashes.iter().map(|h| digest(h)).collect();
        LogProof {
            entry: entry(index as u64),
            entry_bytes: ByteBuf::from(self.bytes[index].clone()),
            tree_size: tree_size as u64,
            tree_root: digest(&self.root(tree_size)),
            inclusion_proof: nodes(path(index, &self.bytes[..tree_size])),
            consistency_proof: nodes(consistency_nodes(tree_size, &self.bytes)),
            head: self.head(signing),
        }
    }
}

fn trust() -> Trust {
    Trust {
        root_key: Key::new(ROOT).der(),
        canister_id: canister(),
        now_ns: NOW,
        max_age_ns: MAX_AGE,
    }
}

fn trust_at(now_ns: u64) -> Trust {
    Trust { now_ns, ..trust() }
}

/// The failure a case is meant to show: the check, and the reason code.
type Failure = Option<(CheckKind, &'static str)>;

/// The cases, around one base: entry 1 in the tree of 2, linked to a head of 3.
struct Cases {
    log: Log,
    base: LogProof,
    out: Vec<Value>,
}

const BASE: &str = "entry 1 in the tree of 2, consistent with the certified head of 3; tensors, nonce, receipt and model held";

impl Cases {
    /// A case: the report this crate makes must fail as `intended` says, or pass.
    fn add(
        &mut self,
        name: &str,
        intended: Failure,
        proof: &LogProof,
        trust: &Trust,
        holding: &Holding,
    ) {
        let report = report_log_proof(proof, trust, &holding.held());
        let failure = report.failure().map(|(kind, e)| (kind, e.reason()));
        assert_eq!(failure, intended, "{name}: {report}");
        let checks: Vec<Value> = report
            .checks
            .iter()
            .map(|check| {
                let mut value =
                    json!({ "check": check.kind.key(), "status": check.outcome.status() });
                if let Outcome::Failed(e) = &check.outcome {
                    value["reason"] = json!(e.reason());
                }
                value
            })
            .collect();
        self.out.push(json!({
            "name": name,
            "trust": trust_json(trust),
            "held": holding.to_json(),
            "proof": proof_json(proof),
            "expected": { "verified": intended.is_none(), "checks": checks },
        }));
    }

    /// The base proof changed by `change`, with entry 1's tensors held.
    fn tampered(&mut self, name: &str, intended: Failure, change: impl FnOnce(&mut LogProof)) {
        let mut proof = self.base.clone();
        change(&mut proof);
        self.add(name, intended, &proof, &trust(), &tensors_of(1));
    }

    /// The base proof under a head signed as `signing` says, with everything held.
    fn signed(&mut self, name: &str, intended: Failure, signing: Signing) {
        let proof = self.log.proof(1, 2, signing);
        self.add(name, intended, &proof, &trust(), &kept(1));
    }

    /// The base proof, trusted so.
    fn trusting(&mut self, name: &str, intended: Failure, trust: Trust) {
        let base = self.base.clone();
        self.add(name, intended, &base, &trust, &kept(1));
    }

    /// The base proof, with `holding` held.
    fn holding(&mut self, name: &str, intended: Failure, holding: Holding) {
        let base = self.base.clone();
        self.add(name, intended, &base, &trust(), &holding);
    }
}

pub fn corpus() -> Value {
    let log = Log::new(3);
    let base = log.proof(1, 2, by_root());
    let mut cases = Cases {
        log,
        base,
        out: Vec::new(),
    };
    valid(&mut cases);
    certificates(&mut cases);
    heads(&mut cases);
    entries_and_proofs(&mut cases);
    held(&mut cases);
    let sweeps = [
        ("head.certificate", 0x01, Cert),
        ("head.witness", 0x01, Witness),
        ("entry_bytes", 0x04, Entry),
        ("inclusion_proof.0", 0x80, CheckKind::Inclusion),
        ("consistency_proof.0", 0x80, Consistency),
    ];
    json!({
        "about": "log_proof responses, what the verifier trusts and holds, and the report: every \
                  check's status (passed, failed, skipped: nothing held to check it against, \
                  not-run: an earlier check failed) and the failed check's reason. Sweeps: flip \
                  each byte of the field of the named case (xor): the check named must fail. \
                  log_consistency: checked by crates/verify (the web page verifies log proofs \
                  only). Written by crates/verify (tests/corpus/verifier.rs); regenerate: \
                  ICINFER_WRITE_TESTDATA=1 cargo test -p icinfer-verify --test testdata",
        "log_proofs": cases.out,
        "sweeps": sweeps.iter().map(|(field, xor, check)| json!({
            "case": BASE, "field": field, "xor": xor, "check": check.key(),
        })).collect::<Vec<_>>(),
        "log_consistency": consistency(),
    })
}

fn valid(c: &mut Cases) {
    let base = c.base.clone();
    c.add(BASE, None, &base, &trust(), &kept(1));
    let nothing = "the same, nothing held: the tensor and model checks are skipped";
    c.holding(nothing, None, Holding::default());
    let five = Log::new(5);
    for index in 0..5 {
        for tree_size in index + 1..=5 {
            let name = format!(
                "entry {index} in the tree of {tree_size}, consistent with the head of 5; tensors held"
            );
            let proof = five.proof(index, tree_size, by_root());
            c.add(&name, None, &proof, &trust(), &tensors_of(index as u64));
        }
    }
    let unsalted = five.proof(UNSALTED as usize, 5, by_root());
    let name = "an unsalted entry, with its tensors and no nonce";
    c.add(name, None, &unsalted, &trust(), &kept(UNSALTED));
    let one = Log::new(1).proof(0, 1, by_root());
    let name = "a one-entry log: empty inclusion and consistency proofs";
    c.add(name, None, &one, &trust(), &kept(0));
    let ranges = || {
        vec![
            range(&canister_with_low_byte(0x00), &canister_with_low_byte(0x01)),
            range(&canister_with_low_byte(0x05), &canister_with_low_byte(0x0f)),
        ]
    };
    for (format, ranges) in [
        ("flat", Ranges::Flat(ranges())),
        ("sharded (beside a pruned shard)", Ranges::Sharded(ranges())),
    ] {
        let name =
            format!("delegated to a subnet: {format} canister ranges that contain the canister");
        c.signed(&name, None, delegated(ranges, true, ROOT));
    }
    let exact = delegated(in_range(), true, ROOT);
    c.signed(
        "delegated to a subnet: a range of exactly the canister (bounds are inclusive)",
        None,
        exact,
    );
    let raw = Trust {
        root_key: Key::new(ROOT).public().to_vec(),
        ..trust()
    };
    c.trusting("the root key as 96 raw bytes rather than DER", None, raw);
    let before = trust_at(NOW - MINUTE + MAX_AGE);
    c.trusting(
        "certified exactly max_age before the verifier's clock",
        None,
        before,
    );
    let after = trust_at(NOW - MINUTE - MAX_AGE);
    c.trusting(
        "certified exactly max_age after the verifier's clock",
        None,
        after,
    );
}

fn certificates(c: &mut Cases) {
    let fails = |reason| Some((Cert, reason));
    let name = "no certificate (the head came from an update call)";
    c.tampered(name, fails("no-certificate"), |p| p.head.certificate = None);
    let name = "the certificate truncated to 50 bytes";
    c.tampered(name, fails("malformed-certificate"), |p| {
        p.head.certificate.as_mut().unwrap().truncate(50)
    });
    let other = Trust {
        root_key: Key::new(OTHER_ROOT).der(),
        ..trust()
    };
    c.trusting("another root key", fails("invalid-signature"), other);
    let short = Trust {
        root_key: vec![1; 50],
        ..trust()
    };
    c.trusting("a root key of 50 bytes", fails("malformed-root-key"), short);
    let name = "the signature's last bit flipped (the page's demonstration)";
    c.tampered(name, fails("invalid-signature"), |p| {
        let bytes = p.head.certificate.as_mut().unwrap();
        let mut certificate: Certificate = ciborium::from_reader(&bytes[..]).unwrap();
        *certificate.signature.last_mut().unwrap() ^= 0x01;
        *bytes = ByteBuf::from(cbor(&certificate));
    });
    let elsewhere = Signing {
        certified_for: canister_with_low_byte(0x08),
        ..by_root()
    };
    c.signed(
        "certified data for another canister only",
        fails("missing-certified-data"),
        elsewhere,
    );
    let untimed = Signing {
        time: None,
        ..by_root()
    };
    c.signed("no /time", fails("missing-time"), untimed);
    let mut padded = leb128(NOW - MINUTE);
    *padded.last_mut().unwrap() |= 0x80;
    padded.push(0);
    let padded = Signing {
        time: Some(padded),
        ..by_root()
    };
    c.signed(
        "/time in a padded (non-canonical) LEB128 form",
        fails("missing-time"),
        padded,
    );

    let elsewhere = || {
        vec![range(
            &canister_with_low_byte(0x10),
            &canister_with_low_byte(0x20),
        )]
    };
    for (format, ranges) in [
        ("flat", Ranges::Flat(elsewhere())),
        ("sharded", Ranges::Sharded(elsewhere())),
    ] {
        let name = format!("delegated: {format} canister ranges that do not contain the canister");
        c.signed(
            &name,
            fails("canister-out-of-range"),
            delegated(ranges, true, ROOT),
        );
    }
    let none = delegated(Ranges::None, true, ROOT);
    c.signed(
        "delegated: no canister ranges for the subnet",
        fails("missing-canister-ranges"),
        none,
    );
    let keyless = delegated(in_range(), false, ROOT);
    c.signed(
        "delegated: no public key for the subnet",
        fails("missing-subnet-key"),
        keyless,
    );
    let rogue = delegated(in_range(), true, ROGUE);
    c.signed(
        "delegated: the delegation signed by a key other than the root key",
        fails("invalid-signature"),
        rogue,
    );
    let by_the_root = Signing {
        signer: Key::new(ROOT),
        ..delegated(in_range(), true, ROOT)
    };
    let name =
        "delegated: the certificate signed by the root key, not the subnet key it delegates to";
    c.signed(name, fails("invalid-signature"), by_the_root);
    let mut renamed = delegated(in_range(), true, ROOT);
    renamed.delegation.as_mut().unwrap().subnet_id = vec![0x5c; 29];
    let name = "delegated: the delegation names a subnet its certificate says nothing of";
    c.signed(name, fails("missing-canister-ranges"), renamed);
    let mut nested = delegated(in_range(), true, ROOT);
    let delegation = nested.delegation.as_mut().unwrap();
    let mut outer: Certificate = ciborium::from_reader(&delegation.certificate[..]).unwrap();
    outer.delegation = delegated(in_range(), true, ROOT).delegation;
    delegation.certificate = cbor(&outer);
    let name = "delegated: the delegation's certificate carries a delegation itself";
    c.signed(name, fails("nested-delegation"), nested);
}

fn heads(c: &mut Cases) {
    let stale = "certified 1 ms more than max_age before the verifier's clock";
    let early = "certified 1 ms more than max_age after the verifier's clock";
    c.trusting(
        stale,
        Some((Freshness, "not-fresh")),
        trust_at(NOW - MINUTE + MAX_AGE + MS),
    );
    c.trusting(
        early,
        Some((Freshness, "not-fresh")),
        trust_at(NOW - MINUTE - MAX_AGE - MS),
    );
    let fails = |reason| Some((Witness, reason));
    let root = c.log.root(3);
    let witness = |bytes: Vec<u8>| move |p: &mut LogProof| p.head.witness = ByteBuf::from(bytes);
    let mut flipped = encode_head_witness(3, &root);
    *flipped.last_mut().unwrap() ^= 0x01;
    let name = "the witness's last byte flipped (the page's demonstration)";
    c.tampered(name, fails("witness-not-certified"), witness(flipped));
    let other = encode_head_witness(4, &root);
    c.tampered(
        "a witness of another size",
        fails("witness-not-certified"),
        witness(other),
    );
    c.tampered(
        "a witness that is not CBOR",
        fails("malformed-witness"),
        witness(vec![0xff; 10]),
    );
    let pruned = cbor(&pruned::<Vec<u8>, _>(head_commitment(3, &root)));
    let name = "the head's tree pruned to its hash: the same digest, no size or root";
    c.tampered(name, fails("head-mismatch"), witness(pruned));
    let name = "the head claims another size than the witness";
    c.tampered(name, fails("head-mismatch"), |p| p.head.tree_size = 2);
    let other_root = digest(&c.log.root(2));
    let name = "the head claims another root than the witness";
    c.tampered(name, fails("head-mismatch"), |p| {
        p.head.root_hash = other_root
    });
}

fn entries_and_proofs(c: &mut Cases) {
    let entry_mismatch = Some((Entry, "entry-mismatch"));
    let inclusion = |reason| Some((CheckKind::Inclusion, reason));
    // The output hash ends before the flags byte, and in version 1 also before the u64 of
    // instructions.
    let trailer = if c.base.entry_bytes[0] == 1 { 9 } else { 1 };
    let output_hash_end = c.base.entry_bytes.len() - trailer;
    let name = "an entry byte flipped (the page's demonstration)";
    c.tampered(name, entry_mismatch, |p| {
        p.entry_bytes[output_hash_end - 1] ^= 0x01
    });
    let name = "the entry shown with other instructions than its bytes";
    c.tampered(name, entry_mismatch, |p| p.entry.instructions += 1);
    let name = "the output hash forged in the entry and its bytes alike (the page's demonstration)";
    c.tampered(name, inclusion("tree-root-mismatch"), |p| {
        p.entry_bytes[output_hash_end - 1] ^= 0x01;
        p.entry.output_hash = digest(&p.entry_bytes[output_hash_end - 32..output_hash_end]);
    });
    let mut other_receipt = kept(1);
    other_receipt.receipt.as_mut().unwrap().timestamp_ns += 1;
    c.holding(
        "the entry is not the receipt held",
        Some((Entry, "not-the-receipt")),
        other_receipt,
    );
    let entry_0 = c.log.bytes[0].clone();
    c.tampered(
        "another entry (0) under entry 1's proof",
        inclusion("tree-root-mismatch"),
        |p| {
            p.entry = entry(0);
            p.entry_bytes = ByteBuf::from(entry_0);
        },
    );
    let zero_node = || ByteBuf::from(vec![0; 32]);
    let name = "tree size 1: entry 1 is beyond it";
    c.tampered(name, inclusion("wrong-index"), |p| p.tree_size = 1);
    let name = "tree size 3 for a proof in the tree of 2";
    c.tampered(name, inclusion("proof-too-short"), |p| p.tree_size = 3);
    let root_3 = digest(&c.log.root(3));
    let name = "the response names another tree root";
    c.tampered(name, inclusion("tree-root-mismatch"), |p| {
        p.tree_root = root_3
    });
    let four = Log::new(4);
    let mut moved = four.proof(1, 4, by_root());
    moved.inclusion_proof = four.proof(2, 4, by_root()).inclusion_proof;
    let name = "the inclusion path of entry 2 for entry 1";
    c.add(
        name,
        inclusion("tree-root-mismatch"),
        &moved,
        &trust(),
        &Holding::default(),
    );
    let mut extra = Log::new(1).proof(0, 1, by_root());
    extra.inclusion_proof.push(zero_node());
    let name = "a one-entry tree with an inclusion node added (the page's demonstration)";
    c.add(
        name,
        inclusion("proof-too-long"),
        &extra,
        &trust(),
        &Holding::default(),
    );
    // Each proof damaged alike: (field, the check, the reason a flipped node fails for).
    type Nodes = fn(&mut LogProof) -> &mut Vec<ByteBuf>;
    let proofs: [(&str, Nodes, CheckKind, &str); 2] = [
        (
            "inclusion",
            |p| &mut p.inclusion_proof,
            CheckKind::Inclusion,
            "tree-root-mismatch",
        ),
        (
            "consistency",
            |p| &mut p.consistency_proof,
            Consistency,
            "root-mismatch",
        ),
    ];
    for (proof, nodes, check, flipped) in proofs {
        let fails = |reason| Some((check, reason));
        let name = format!("{proof} proof: a node's last bit flipped");
        c.tampered(&name, fails(flipped), |p| nodes(p)[0][31] ^= 0x80);
        let name = format!("{proof} proof: the node missing");
        c.tampered(&name, fails("proof-too-short"), |p| nodes(p).clear());
        let name = format!("{proof} proof: a node added");
        c.tampered(&name, fails("proof-too-long"), |p| {
            nodes(p).push(zero_node())
        });
        let name = format!("{proof} proof: a node of 31 bytes");
        c.tampered(&name, fails("malformed-node"), |p| nodes(p)[0].truncate(31));
    }
}

fn held(c: &mut Cases) {
    let nonce = || Some(NONCE.to_vec());
    let mut other_inputs = inputs();
    other_inputs[0].data = TensorData::F32(vec![1.0, 2.0, 3.5]);
    let input = |reason| Some((InputHash, reason));
    let output = Some((OutputHash, "output-hash-mismatch"));
    c.holding(
        "other inputs",
        input("input-hash-mismatch"),
        opening(other_inputs, nonce(), outputs()),
    );
    let other_nonce = opening(inputs(), Some(vec![8; 32]), outputs());
    c.holding("another nonce", input("input-hash-mismatch"), other_nonce);
    let long_nonce = opening(inputs(), Some(vec![7; 256]), outputs());
    c.holding(
        "a nonce of 256 bytes (too long to encode)",
        input("input-hash-mismatch"),
        long_nonce,
    );
    let no_nonce = opening(inputs(), None, outputs());
    c.holding(
        "no nonce for a salted entry",
        input("salt-mismatch"),
        no_nonce,
    );
    let unsalted = Log::new(5).proof(UNSALTED as usize, 5, by_root());
    let with_nonce = opening(inputs(), nonce(), outputs());
    let name = "a nonce for an unsalted entry";
    c.add(
        name,
        input("salt-mismatch"),
        &unsalted,
        &trust(),
        &with_nonce,
    );
    let mut reshaped = outputs();
    reshaped[0].shape = vec![3, 1];
    c.holding(
        "outputs of another shape",
        output,
        opening(inputs(), nonce(), reshaped),
    );
    let one_output = outputs()[..1].to_vec();
    c.holding(
        "an output missing",
        output,
        opening(inputs(), nonce(), one_output),
    );
    let other_model = Holding {
        model_sha256: Some([0x12; 32]),
        ..kept(1)
    };
    c.holding(
        "another model",
        Some((Model, "model-mismatch")),
        other_model,
    );
}

/// `log_consistency` responses: a head seen earlier, proven a prefix of the certified head.
fn consistency() -> Vec<Value> {
    let log = Log::new(3);
    let response = |from: usize| LogConsistency {
        from_size: from as u64,
        from_root: digest(&log.root(from)),
        to_size: 3,
        to_root: digest(&log.root(3)),
        proof: consistency_nodes(from, &log.bytes)
            .iter()
            .map(|h| digest(h))
            .collect(),
        head: log.head(by_root()),
    };
    let mut flipped = response(2);
    flipped.proof[0][0] ^= 1;
    let mut short = response(2);
    short.to_size = 2;
    let seen = |size: usize| Some((size as u64, log.root(size)));
    [
        ("2 -> 3, from the head seen", response(2), seen(2), None),
        ("0 -> 3: the empty proof", response(0), None, None),
        (
            "2 -> 3, but the head seen was 1",
            response(2),
            seen(1),
            Some("not-from-the-expected-head"),
        ),
        (
            "2 -> 3, a proof node flipped",
            flipped,
            None,
            Some("root-mismatch"),
        ),
        (
            "a response that ends before the certified head",
            short,
            None,
            Some("not-the-certified-head"),
        ),
    ]
    .into_iter()
    .map(|(name, response, seen, intended)| {
        let seen_ref = seen.as_ref().map(|(size, root)| (*size, root));
        let result = verify_log_consistency(&response, &trust(), seen_ref);
        assert_eq!(
            result.as_ref().err().map(|e| e.reason()),
            intended,
            "{name}"
        );
        json!({
            "name": name,
            "trust": trust_json(&trust()),
            "response": {
                "from_size": u64_text(response.from_size),
                "from_root": hex(&response.from_root),
                "to_size": u64_text(response.to_size),
                "to_root": hex(&response.to_root),
                "proof": response.proof.iter().map(|n| hex(n)).collect::<Vec<_>>(),
                "head": head_json(&response.head),
            },
            "seen": seen.map(|(size, root)| json!({ "size": u64_text(size), "root": hex(&root) })),
            "reason": intended,
        })
    })
    .collect()
}
