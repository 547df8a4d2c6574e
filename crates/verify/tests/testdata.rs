//! The shared corpus (testdata/ at the repository's root, described in its README.md): the
//! committed files must be exactly what the generator (tests/corpus) writes, and this crate
//! must pass every vector, proof, probe and verifier case in them, as the TypeScript port
//! must (frontend/src/verify/corpus.test.ts).
//!
//! Regenerate after a deliberate change:
//! `ICINFER_WRITE_TESTDATA=1 cargo test -p icinfer-verify --test testdata`.

mod corpus;

use corpus::json::{
    Holding, Tensors, bytes, entry_from, hash, hashes, head_from, list, proof_from, tensors_from,
    text, trust_from, u64_of,
};
use ic_certification::HashTree;
use icinfer_api::LogConsistency;
use icinfer_verify::entry::{decode_entry, encode_entry};
use icinfer_verify::head::{decode_leb128, encode_head_witness, head_commitment, leb128};
use icinfer_verify::merkle::{
    leaf_hash, node_hash, root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
use icinfer_verify::tensor::{encode_tensor_list, input_hash, output_hash};
use icinfer_verify::{
    Outcome, Report, Trust, report_log_proof, verify_log_consistency, verify_log_proof,
};
use serde_bytes::ByteBuf;
use serde_json::Value;
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn read(file: &str) -> Value {
    let path = testdata().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn the_committed_corpus_is_what_the_generator_writes() {
    let write = std::env::var_os("ICINFER_WRITE_TESTDATA").is_some();
    for (file, value) in corpus::files() {
        let path = testdata().join(file);
        let generated = corpus::to_text(&value);
        if write {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "testdata/{file} is not what the generator writes: if the change is deliberate, \
             run ICINFER_WRITE_TESTDATA=1 cargo test -p icinfer-verify --test testdata"
        );
    }
}

// --- hashing.json ----------------------------------------------------------------------------

#[test]
fn tensor_lists_encode_and_hash_as_the_corpus_says() {
    let corpus = read("hashing.json");
    for case in list(&corpus["tensor_lists"]) {
        let name = text(&case["name"]);
        let tensors = tensors_from(&case["tensors"]);
        let mut encoding = Vec::new();
        encode_tensor_list(&tensors, &mut |b| encoding.extend_from_slice(b));
        assert_eq!(hex(&encoding), text(&case["encoding"]), "{name}");
        assert_eq!(
            hex(&input_hash(&tensors, None).unwrap()),
            text(&case["input_hash"])
        );
        assert_eq!(hex(&output_hash(&tensors)), text(&case["output_hash"]));
        for salted in list(&case["salted"]) {
            let nonce = bytes(&salted["nonce"]);
            let expected = salted["input_hash"].as_str();
            let hash = input_hash(&tensors, Some(&nonce)).map(|h| hex(&h));
            assert_eq!(hash.as_deref(), expected, "{name}, nonce {}", nonce.len());
        }
    }
}

#[test]
fn entries_encode_decode_and_refuse_as_the_corpus_says() {
    let corpus = read("hashing.json");
    let entries = list(&corpus["entries"]);
    for case in entries
        .iter()
        .chain(list(&corpus["code_epoch_entries"]))
        .chain(list(&corpus["generation_entries"]))
        .chain(list(&corpus["model_entries"]))
    {
        let entry = entry_from(&case["entry"]);
        let encoded = encode_entry(&entry).unwrap();
        assert_eq!(hex(&encoded), text(&case["bytes"]), "{}", case["name"]);
        assert_eq!(decode_entry(&encoded), Some(entry));
        assert_eq!(hex(&leaf_hash(&encoded)), text(&case["leaf_hash"]));
    }
    for case in list(&corpus["entries_without_encoding"]) {
        let reason = match encode_entry(&entry_from(&case["entry"])) {
            Err(e) => e.reason(),
            Ok(_) => "encoded",
        };
        assert_eq!(reason, text(&case["reason"]), "{}", case["name"]);
    }
    for probe in list(&corpus["entry_bytes_that_do_not_decode"])
        .iter()
        .chain(list(&corpus["model_entry_bytes_that_do_not_decode"]))
    {
        assert_eq!(
            decode_entry(&bytes(&probe["bytes"])),
            None,
            "{}",
            probe["name"]
        );
    }
}

#[test]
fn leb128_heads_and_tree_hashes_are_as_the_corpus_says() {
    let corpus = read("hashing.json");
    for case in list(&corpus["leb128"]) {
        let value = u64_of(&case["value"]);
        assert_eq!(hex(&leb128(value)), text(&case["bytes"]));
        assert_eq!(decode_leb128(&bytes(&case["bytes"])), Some(value));
    }
    for case in list(&corpus["leb128_invalid"]) {
        assert_eq!(
            decode_leb128(&bytes(&case["bytes"])),
            None,
            "{}",
            case["name"]
        );
    }
    for head in list(&corpus["heads"]) {
        let (size, root) = (u64_of(&head["size"]), hash(&head["root"]));
        assert_eq!(
            hex(&head_commitment(size, &root)),
            text(&head["commitment"])
        );
        let witness = encode_head_witness(size, &root);
        assert_eq!(hex(&witness), text(&head["witness"]));
        // The witness is the IC hash tree of the head, and hashes to the commitment.
        let tree: HashTree = ciborium::from_reader(&witness[..]).unwrap();
        assert_eq!(hex(&tree.digest()), text(&head["commitment"]));
    }
    for case in list(&corpus["leaf_hashes"]) {
        assert_eq!(hex(&leaf_hash(&bytes(&case["data"]))), text(&case["hash"]));
    }
    for case in list(&corpus["node_hashes"]) {
        let (left, right) = (hash(&case["left"]), hash(&case["right"]));
        assert_eq!(hex(&node_hash(&left, &right)), text(&case["hash"]));
    }
}

/// docs/hashing.md quotes vectors for readers: each must be in the corpus.
#[test]
fn the_vectors_docs_hashing_md_quotes_are_the_corpus_s() {
    let doc = std::fs::read_to_string(testdata().join("../docs/hashing.md")).unwrap();
    let corpus = std::fs::read_to_string(testdata().join("hashing.json")).unwrap();
    let quoted: Vec<String> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.replace(' ', ""))
        .filter(|span| span.len() >= 16 && span.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    assert!(quoted.len() >= 4, "{quoted:?}");
    for vector in quoted {
        assert!(
            corpus.contains(&vector),
            "docs/hashing.md quotes {vector}, not in the corpus"
        );
    }
}

// --- merkle.json -----------------------------------------------------------------------------

#[test]
fn every_known_answer_root_and_proof_verifies() {
    let corpus = read("merkle.json");
    for tree in list(&corpus["trees"]) {
        let leaves: Vec<Vec<u8>> = list(&tree["leaves"]).iter().map(bytes).collect();
        let roots = hashes(&tree["roots"]);
        assert_eq!(roots.len(), leaves.len() + 1);
        for case in list(&tree["inclusion"]) {
            let (index, size) = (u64_of(&case["index"]), u64_of(&case["size"]));
            let leaf = leaf_hash(&leaves[index as usize]);
            let proof = hashes(&case["proof"]);
            verify_inclusion(index, size, &leaf, &proof, &roots[size as usize])
                .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));
        }
        for case in list(&tree["consistency"]) {
            let (m, n) = (u64_of(&case["from_size"]), u64_of(&case["to_size"]));
            let proof = hashes(&case["proof"]);
            verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &proof)
                .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
        }
    }
}

#[test]
fn every_merkle_probe_is_rejected_for_its_reason() {
    let corpus = read("merkle.json");
    let scale = &corpus["u64_scale"];
    let (index, size) = (u64_of(&scale["index"]), u64_of(&scale["size"]));
    let root = root_from_inclusion_proof(index, size, &[0; 32], &[[0; 32]; 63]).unwrap();
    assert_eq!(hex(&root), text(&scale["root"]));
    let probes = list(&scale["probes"])
        .iter()
        .chain(list(&corpus["inclusion_probes"]));
    for probe in probes {
        let result = verify_inclusion(
            u64_of(&probe["index"]),
            u64_of(&probe["size"]),
            &hash(&probe["leaf_hash"]),
            &hashes(&probe["proof"]),
            &hash(&probe["root"]),
        );
        let reason = result.err().map(|e| e.reason());
        assert_eq!(reason, probe["reason"].as_str(), "{}", probe["name"]);
    }
    for probe in list(&corpus["consistency_probes"]) {
        let result = verify_consistency(
            u64_of(&probe["from_size"]),
            u64_of(&probe["to_size"]),
            &hash(&probe["from_root"]),
            &hash(&probe["to_root"]),
            &hashes(&probe["proof"]),
        );
        let reason = result.err().map(|e| e.reason());
        assert_eq!(reason, probe["reason"].as_str(), "{}", probe["name"]);
    }
}

// --- verifier.json ---------------------------------------------------------------------------

/// The report as the corpus writes it: (check, status, reason) in order.
fn summary(report: &Report) -> Vec<(String, String, Option<String>)> {
    report
        .checks
        .iter()
        .map(|check| {
            let reason = match &check.outcome {
                Outcome::Failed(e) => Some(e.reason().to_string()),
                _ => None,
            };
            (
                check.kind.key().into(),
                check.outcome.status().into(),
                reason,
            )
        })
        .collect()
}

fn expected_summary(expected: &Value) -> Vec<(String, String, Option<String>)> {
    list(&expected["checks"])
        .iter()
        .map(|c| {
            (
                text(&c["check"]).into(),
                text(&c["status"]).into(),
                c["reason"].as_str().map(String::from),
            )
        })
        .collect()
}

#[test]
fn every_log_proof_case_reports_as_the_corpus_says() {
    let corpus = read("verifier.json");
    let cases = list(&corpus["log_proofs"]);
    assert!(cases.len() > 40);
    for case in cases {
        let name = text(&case["name"]);
        let (proof, trust) = (proof_from(&case["proof"]), trust_from(&case["trust"]));
        let holding = Holding::from_json(&case["held"]);
        let report = report_log_proof(&proof, &trust, &holding.held());
        assert_eq!(
            summary(&report),
            expected_summary(&case["expected"]),
            "{name}"
        );
        let verified = case["expected"]["verified"].as_bool().unwrap();
        assert_eq!(report.proven.is_some(), verified, "{name}");
        // The first-error API agrees, where it is given the same (it takes tensors only).
        if holding.receipt.is_none() && holding.model_sha256.is_none() {
            let result = verify_log_proof(&proof, &trust, holding.opening().as_ref());
            assert_eq!(result.is_ok(), verified, "{name}");
        }
    }
}

#[test]
fn every_byte_of_a_swept_field_is_caught_by_its_check() {
    let corpus = read("verifier.json");
    for sweep in list(&corpus["sweeps"]) {
        let case = list(&corpus["log_proofs"])
            .iter()
            .find(|c| c["name"] == sweep["case"])
            .expect("the swept case");
        let (proof, trust) = (proof_from(&case["proof"]), trust_from(&case["trust"]));
        let holding = Holding::from_json(&case["held"]);
        let field = text(&sweep["field"]);
        let xor = sweep["xor"].as_u64().unwrap() as u8;
        let len = field_of(&mut proof.clone(), field).len();
        for at in 0..len {
            let mut tampered = proof.clone();
            field_of(&mut tampered, field)[at] ^= xor;
            let report = report_log_proof(&tampered, &trust, &holding.held());
            let failed = report.failure().map(|(kind, _)| kind.key());
            assert_eq!(failed, sweep["check"].as_str(), "{field} byte {at}");
        }
    }
}

fn field_of<'a>(proof: &'a mut icinfer_api::LogProof, field: &str) -> &'a mut ByteBuf {
    match field {
        "head.certificate" => proof.head.certificate.as_mut().unwrap(),
        "head.witness" => &mut proof.head.witness,
        "entry_bytes" => &mut proof.entry_bytes,
        "inclusion_proof.0" => &mut proof.inclusion_proof[0],
        "consistency_proof.0" => &mut proof.consistency_proof[0],
        other => panic!("unknown field {other}"),
    }
}

#[test]
fn every_log_consistency_case_verifies_as_the_corpus_says() {
    let corpus = read("verifier.json");
    for case in list(&corpus["log_consistency"]) {
        let r = &case["response"];
        let response = LogConsistency {
            from_size: u64_of(&r["from_size"]),
            from_root: ByteBuf::from(bytes(&r["from_root"])),
            to_size: u64_of(&r["to_size"]),
            to_root: ByteBuf::from(bytes(&r["to_root"])),
            proof: list(&r["proof"])
                .iter()
                .map(|n| ByteBuf::from(bytes(n)))
                .collect(),
            head: head_from(&r["head"]),
        };
        let seen = &case["seen"];
        let seen = (!seen.is_null()).then(|| (u64_of(&seen["size"]), hash(&seen["root"])));
        let result = verify_log_consistency(
            &response,
            &trust_from(&case["trust"]),
            seen.as_ref().map(|(size, root)| (*size, root)),
        );
        let reason = result.as_ref().err().map(|e| e.reason());
        assert_eq!(reason, case["reason"].as_str(), "{}", case["name"]);
        if let Ok(growth) = result {
            assert!(growth.to_string().contains("only grew"));
        }
    }
}

/// A proof `icinfer serve` made (testdata/host-log-proof.json, captured as its "about" says).
#[test]
fn the_proof_the_host_made_verifies_with_what_its_caller_kept() {
    let fixture = read("host-log-proof.json");
    let proof = proof_from(&fixture["proof"]);
    let opening = &fixture["opening"];
    let holding = Holding {
        opening: Some(Tensors {
            inputs: tensors_from(&opening["inputs"]),
            nonce: Some(bytes(&opening["nonce"])),
            outputs: tensors_from(&opening["outputs"]),
        }),
        receipt: Some(entry_from(&opening["receipt"])),
        model_sha256: None,
        ..Holding::default()
    };
    let trust = Trust {
        root_key: bytes(&fixture["root_key"]),
        canister_id: candid::Principal::from_text(text(&fixture["canister_id"])).unwrap(),
        // The certificate was made a moment after the entry.
        now_ns: proof.entry.timestamp_ns + 1_000_000_000,
        max_age_ns: 300_000_000_000,
    };
    let report = report_log_proof(&proof, &trust, &holding.held());
    let statuses: Vec<_> = report.checks.iter().map(|c| c.outcome.status()).collect();
    assert_eq!(
        statuses,
        [["passed"; 8].as_slice(), &["skipped"; 3]].concat(),
        "{report}"
    );
    assert_eq!(report.proven.unwrap().head.tree_size, 2);
}

/// The report in words, as `icinfer verify` prints it.
#[test]
fn the_report_says_what_was_proven_and_what_failed() {
    let corpus = read("verifier.json");
    let case = |name: &str| {
        let case = list(&corpus["log_proofs"])
            .iter()
            .find(|c| text(&c["name"]).starts_with(name))
            .unwrap();
        let holding = Holding::from_json(&case["held"]);
        report_log_proof(
            &proof_from(&case["proof"]),
            &trust_from(&case["trust"]),
            &holding.held(),
        )
        .to_string()
    };
    let proven = case("entry 1 in the tree of 2");
    for line in [
        "✓ IC certificate (BLS signature, delegation, certified data): signed (BLS12-381) by the root key directly",
        "✓ RFC 9162 inclusion proof: entry #1 is in the log",
        "it is the receipt you hold",
        "✓ Model SHA-256 is the entry's",
        "Entry #1 is in that log",
        "inputs and nonce and outputs given hash",
        "Not proven: that the module certified now",
    ] {
        assert!(proven.contains(line), "missing {line:?} in:\n{proven}");
    }
    let code = case("code identity: the certified module hash is the one expected");
    for line in [
        "✓ Module hash the IC certifies for the canister now: a read_state certificate",
        "/module_hash = 3c3c",
        "the module hash expected",
        "✓ Controllers the IC certifies for the canister now:",
        "- Code now: the IC certified at",
    ] {
        assert!(code.contains(line), "missing {line:?} in:\n{code}");
    }
    let mismatch = case("code identity: another module hash than the one expected");
    assert!(
        mismatch.contains("NOT VERIFIED: Module hash the IC certifies for the canister now: the IC certifies module hash 3c3c"),
        "{mismatch}"
    );
    let skipped = case("the same, nothing held");
    assert!(skipped.contains("The canister's code was not read"));
    assert!(skipped.contains("– Input hash recomputed from the inputs and nonce: not proven"));
    assert!(skipped.contains("No tensors were given"));
    let failed = case("inclusion proof: a node's last bit flipped");
    assert!(
        failed.contains("✗ RFC 9162 inclusion proof: FAILED"),
        "{failed}"
    );
    assert!(failed.contains("· RFC 9162 consistency proof to the certified head: not checked"));
    assert!(failed.contains("NOT VERIFIED: RFC 9162 inclusion proof"));
}

// --- bundle.json -----------------------------------------------------------------------------

/// A bundle case's root key, content and expected module hashes, and its report.
fn check_bundle_case(case: &Value) -> icinfer_verify::bundle::BundleReport {
    let bundle = icinfer_verify::bundle::Bundle::parse(&case["bundle"].to_string())
        .unwrap_or_else(|e| panic!("{}: {e}", text(&case["name"])));
    let content = case["content"].as_str().map(|_| bytes(&case["content"]));
    icinfer_verify::bundle::report_bundle(
        &bundle,
        &bytes(&case["root_key"]),
        content.as_deref(),
        &hashes(&case["expected_module_hashes"]),
    )
}

#[test]
fn every_bundle_case_reports_as_the_corpus_says() {
    let corpus = read("bundle.json");
    for case in list(&corpus["bundles"]) {
        let report = check_bundle_case(case);
        assert_eq!(
            corpus::bundle::report_json(&report),
            case["expected"],
            "{}: {report}",
            text(&case["name"])
        );
    }
}

#[test]
fn every_unreadable_bundle_is_refused_for_its_reason() {
    let corpus = read("bundle.json");
    for case in list(&corpus["unreadable"]) {
        let e = icinfer_verify::bundle::Bundle::parse(text(&case["text"])).unwrap_err();
        assert_eq!(e.reason(), text(&case["reason"]), "{}", text(&case["name"]));
    }
    let huge = " ".repeat(icinfer_verify::bundle::MAX_BUNDLE_BYTES + 1);
    let e = icinfer_verify::bundle::Bundle::parse(&huge).unwrap_err();
    assert_eq!(e.reason(), "bundle-too-large");
}

/// Every byte of each verified case's content, flipped, fails the content check: through
/// the whole report for the first byte, through the check itself for the others (the
/// proofs' checks do not depend on the content).
#[test]
fn every_changed_content_byte_is_caught() {
    let corpus = read("bundle.json");
    for case in list(&corpus["bundles"]) {
        if case["expected"]["verified"] != true || case["content"].is_null() {
            continue;
        }
        let name = text(&case["name"]);
        let report = check_bundle_case(case);
        let entry = &report.proven.as_ref().expect(name).entry.entry;
        let content = bytes(&case["content"]);
        for at in 0..content.len() {
            let mut changed = content.clone();
            changed[at] ^= 0x01;
            let e = icinfer_verify::bundle::check_content(entry, &changed).unwrap_err();
            assert_eq!(e.reason(), "output-hash-mismatch", "{name} byte {at}");
            if at == 0 {
                let mut case = case.clone();
                case["content"] = Value::String(hex(&changed));
                let report = check_bundle_case(&case);
                assert_eq!(
                    report.failure().map(|(part, e)| (part, e.reason())),
                    Some(("content", "output-hash-mismatch")),
                    "{name}"
                );
            }
        }
    }
}
