//! testdata/verifier.json as the fuzz targets use it: the valid `log_proof` cases, and the
//! certificates with the trusts they are checked under. Parsed once per process.

use crate::json::{Holding, list, proof_from, trust_from};
use candid::Principal;
use icinfer_api::LogProof;
use icinfer_verify::Trust;
use std::sync::OnceLock;

fn verifier_json() -> serde_json::Value {
    serde_json::from_str(include_str!("../../testdata/verifier.json"))
        .expect("testdata/verifier.json is JSON")
}

/// A `log_proof` case the corpus says verifies.
pub struct Case {
    pub name: String,
    pub proof: LogProof,
    pub trust: Trust,
    pub holding: Holding,
}

pub fn valid_cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let corpus = verifier_json();
        list(&corpus["log_proofs"])
            .iter()
            .filter(|case| case["expected"]["verified"].as_bool() == Some(true))
            .map(|case| Case {
                name: case["name"].as_str().unwrap_or_default().to_owned(),
                proof: proof_from(&case["proof"]),
                trust: trust_from(&case["trust"]),
                holding: Holding::from_json(&case["held"]),
            })
            .collect()
    })
}

/// A certificate of the corpus (a head's data certificate, or a `read_state` of the code)
/// and the key and canister it is checked against.
pub struct SignedBytes {
    pub certificate: Vec<u8>,
    pub root_key: Vec<u8>,
    pub canister: Principal,
}

/// Every distinct certificate of the `log_proof` cases, valid or not, with its case's trust.
pub fn certificates() -> &'static [SignedBytes] {
    static CERTIFICATES: OnceLock<Vec<SignedBytes>> = OnceLock::new();
    CERTIFICATES.get_or_init(|| {
        let corpus = verifier_json();
        let mut out = Vec::new();
        for case in list(&corpus["log_proofs"]) {
            let proof = proof_from(&case["proof"]);
            let trust = trust_from(&case["trust"]);
            let holding = Holding::from_json(&case["held"]);
            let signed = |certificate: Vec<u8>| SignedBytes {
                certificate,
                root_key: trust.root_key.clone(),
                canister: trust.canister_id,
            };
            out.extend(proof.head.certificate.map(|c| signed(c.into_vec())));
            out.extend(holding.code_certificate.map(signed));
        }
        // Cases share certificates: each is verified once per trust, and pairings are slow.
        out.sort_by(|a, b| (&a.certificate, &a.root_key).cmp(&(&b.certificate, &b.root_key)));
        out.dedup_by(|a, b| a.certificate == b.certificate && a.root_key == b.root_key);
        out
    })
}

/// The distinct (root key, canister) pairs the certificates are checked under.
pub fn trusts() -> &'static [(Vec<u8>, Principal)] {
    static TRUSTS: OnceLock<Vec<(Vec<u8>, Principal)>> = OnceLock::new();
    TRUSTS.get_or_init(|| {
        let mut trusts: Vec<(Vec<u8>, Principal)> = certificates()
            .iter()
            .map(|c| (c.root_key.clone(), c.canister))
            .collect();
        trusts.sort();
        trusts.dedup();
        trusts
    })
}
