//! IC certificate verification (crates/verify/src/certificate.rs): CBOR, hash trees,
//! delegations, canister ranges, BLS signatures. Input: a byte choosing the trust (root key
//! and canister) from testdata/verifier.json, then the certificate's bytes; the seeds are
//! the corpus's certificates. Property: whatever the bytes, a certificate that verifies
//! establishes exactly what one of the corpus's genuinely signed certificates establishes
//! under that trust (the fuzzer cannot sign, so anything else is a forgery the verifier let
//! through); and nothing panics.
#![no_main]

use icinfer_fuzz::corpus::{certificates, trusts};
use icinfer_verify::certificate::{
    VerifiedCertificate, VerifiedCodeState, decode_controllers, verify_certificate,
    verify_code_certificate,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Per trust: what the corpus's certificates establish under it.
struct Genuine {
    data: Vec<VerifiedCertificate>,
    code: Vec<VerifiedCodeState>,
}

/// What the corpus establishes under trust `at`, computed the first time a certificate
/// verifies under it (a few hundred pairings for all trusts: too slow for every run's start).
fn genuine(at: usize) -> &'static Genuine {
    static GENUINE: OnceLock<Vec<OnceLock<Genuine>>> = OnceLock::new();
    let all = GENUINE.get_or_init(|| trusts().iter().map(|_| OnceLock::new()).collect());
    all[at].get_or_init(|| {
        let (key, canister) = &trusts()[at];
        Genuine {
            data: certificates()
                .iter()
                .filter_map(|c| verify_certificate(&c.certificate, key, canister).ok())
                .collect(),
            code: certificates()
                .iter()
                .filter_map(|c| verify_code_certificate(&c.certificate, key, canister).ok())
                .collect(),
        }
    })
}

fn check(certificate: &[u8], at: usize) {
    let (key, canister) = &trusts()[at];
    if let Ok(verified) = verify_certificate(certificate, key, canister) {
        assert!(
            genuine(at).data.contains(&verified),
            "a certificate nobody signed verified: {verified:?}"
        );
    }
    if let Ok(state) = verify_code_certificate(certificate, key, canister) {
        assert!(
            genuine(at).code.contains(&state),
            "a code certificate nobody signed verified: {state:?}"
        );
        if let Some(controllers) = &state.controllers {
            let _ = decode_controllers(controllers);
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&trust, certificate)) = input.split_first() else {
        return;
    };
    check(certificate, trust as usize % trusts().len());
    // The controllers' CBOR decoder on its own, on the same bytes.
    let _ = decode_controllers(certificate);
});
