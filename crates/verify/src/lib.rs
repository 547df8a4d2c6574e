//! # icinfer-verify: check icinfer's provenance from the IC root key alone
//!
//! The inference canister appends one entry per inference to a log, keeps an RFC 9162
//! Merkle tree over the entries and certifies the tree's (size, root) through the IC. This
//! crate holds everything a verifier recomputes, and the canister uses the same code so
//! there is one implementation of each encoding:
//!
//! - [`tensor`]: the canonical tensor encoding, input and output hashes.
//! - [`entry`]: the canonical log entry encoding (the Merkle leaf).
//! - [`generation`]: a text generation's prompt commitment, completion and token hashes.
//! - [`merkle`]: RFC 9162 hashing and inclusion/consistency proof verification.
//! - [`head`]: the certified-data commitment to (size, root) and its witness.
//! - [`certificate`] (feature `certificate`): IC certificates, BLS signatures, delegations.
//! - [`verifier`] (feature `certificate`): the checks end to end, reporting what they proved.
//! - [`report`] (feature `certificate`): that report, check by check.
//! - [`bundle`] (feature `bundle`): provenance bundles, checked offline; [`json`]: the JSON
//!   forms they and testdata/ use.
//!
//! `testdata/` at the repository's root holds the vectors and mutation probes every
//! implementation (this crate, and the TypeScript port in frontend/src/verify) is tested
//! against; `tests/testdata.rs` writes them from this crate and checks they have not drifted.
//!
//! No ic-cdk, no tract, no clock and no I/O: the caller passes the time and the bytes, so
//! the crate builds for `wasm32-unknown-unknown` and runs in a browser.

pub mod entry;
pub mod generation;
pub mod head;
pub mod merkle;
pub mod tensor;

#[cfg(feature = "bundle")]
pub mod bundle;
#[cfg(feature = "certificate")]
pub mod certificate;
#[cfg(feature = "bundle")]
pub mod json;
#[cfg(feature = "certificate")]
pub mod report;
#[cfg(feature = "certificate")]
pub mod verifier;

#[cfg(feature = "certificate")]
pub use report::{CheckKind, Outcome, Report};
#[cfg(feature = "certificate")]
pub use verifier::{
    CertifiedCode, CertifiedHead, GenerationOpening, Held, Opening, ProvenEntry, ProvenGrowth,
    Trust, VerifyError, report_log_proof, verify_head, verify_log_consistency, verify_log_proof,
};

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "certificate")]
pub(crate) fn short_hex(bytes: &[u8]) -> String {
    let mut text = hex(&bytes[..bytes.len().min(8)]);
    if bytes.len() > 8 {
        text.push('…');
    }
    text
}
