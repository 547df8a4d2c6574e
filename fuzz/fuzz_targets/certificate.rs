//! IC certificate verification (crates/verify/src/certificate.rs): CBOR, hash trees,
//! delegations, canister ranges, BLS signatures. Input: a byte choosing the trust (root key
//! and canister) from testdata/verifier.json, then the certificate's bytes; the seeds are
//! the corpus's certificates. Property: whatever the bytes, a certificate that verifies
//! establishes exactly what one of the corpus's genuinely signed certificates establishes
//! under that trust (the fuzzer cannot sign, so anything else is a forgery the verifier let
//! through); and nothing panics.
#![no_main]

use candid::Principal;
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

fn genuine() -> &'static [Genuine] {
    static GENUINE: OnceLock<Vec<Genuine>> = OnceLock::new();
    GENUINE.get_or_init(|| {
        trusts()
            .iter()
            .map(|(key, canister)| Genuine {
                data: certificates()
                    .iter()
                    .filter_map(|c| verify_certificate(&c.certificate, key, canister).ok())
                    .collect(),
                code: certificates()
                    .iter()
                    .filter_map(|c| verify_code_certificate(&c.certificate, key, canister).ok())
                    .collect(),
            })
            .collect()
    })
}

fn check(certificate: &[u8], key: &[u8], canister: &Principal, genuine: &Genuine) {
    if let Ok(verified) = verify_certificate(certificate, key, canister) {
        assert!(
            genuine.data.contains(&verified),
            "a certificate nobody signed verified: {verified:?}"
        );
    }
    if let Ok(state) = verify_code_certificate(certificate, key, canister) {
        assert!(
            genuine.code.contains(&state),
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
    let trusts = trusts();
    let at = trust as usize % trusts.len();
    let (key, canister) = &trusts[at];
    check(certificate, key, canister, &genuine()[at]);
    // The controllers' CBOR decoder on its own, on the same bytes.
    let _ = decode_controllers(certificate);
});
