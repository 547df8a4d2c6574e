//! The hashes of a text generation's receipt (docs/hashing.md, "Text generation").
//!
//! ```text
//! prompt commitment := input hash of one tensor "prompt", u8 [len], the prompt's UTF-8
//!                      bytes (salted with the nonce exactly as inputs are)
//! output_hash       := SHA-256(completion bytes)          plain: find a text by its hash
//! tokens hash       := SHA-256(id_0 | id_1 | ...)         each id u32 little-endian
//! ```

use crate::tensor::input_hash;
use icinfer_api::{Tensor, TensorData};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

/// The name of the one tensor a prompt commitment hashes.
pub const PROMPT_TENSOR: &str = "prompt";

/// The commitment to a prompt; None for a nonce over 255 bytes (never accepted).
pub fn prompt_commitment(prompt: &str, nonce: Option<&[u8]>) -> Option<[u8; 32]> {
    let tensor = Tensor {
        name: PROMPT_TENSOR.into(),
        shape: vec![prompt.len() as u64],
        data: TensorData::U8(ByteBuf::from(prompt.as_bytes())),
    };
    input_hash(std::slice::from_ref(&tensor), nonce)
}

/// The output hash of a generation: the completion's bytes, nothing else.
pub fn completion_hash(completion: &[u8]) -> [u8; 32] {
    Sha256::digest(completion).into()
}

pub fn tokens_hash(tokens: &[u32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for token in tokens {
        hasher.update(token.to_le_bytes());
    }
    hasher.finalize().into()
}
