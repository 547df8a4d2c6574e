//! What the fuzz targets share (docs/fuzzing.md): the canister's endpoints as Candid
//! decoders, the verifier corpus of testdata/, and a reference Merkle prover.

pub mod corpus;
pub mod endpoints;
pub mod entries;
pub mod reference;
pub mod tensors;

/// The corpus's JSON forms of the API types, as the verifier's own tests read them: one
/// implementation, shared by path.
#[path = "../../crates/verify/tests/corpus/json.rs"]
#[allow(dead_code)]
pub mod json;

/// Flips `mask` into byte `at` (modulo the length) of `bytes`; returns whether anything
/// changed (an empty buffer or a zero mask changes nothing).
pub fn flip(bytes: &mut [u8], at: usize, mask: u8) -> bool {
    if bytes.is_empty() || mask == 0 {
        return false;
    }
    let at = at % bytes.len();
    bytes[at] ^= mask;
    true
}
