//! The canonical tensor encoding and the input and output hashes (crates/verify/src/tensor.rs)
//! against their definition in docs/hashing.md. Properties:
//! - the encoding parses back, by the documented grammar, into the tensors sorted by name,
//!   with their elements encoded one by one (so two different lists never encode alike);
//! - with distinct names, the hashes do not depend on the order of the list;
//! - output hash = SHA-256(domain | encoding); the input hash is salted with any nonce of
//!   at most 255 bytes and refuses a longer one.
#![no_main]

use arbitrary::Unstructured;
use icinfer_api::Tensor;
use icinfer_fuzz::tensors::{arbitrary_tensors, canonical_data};
use icinfer_verify::tensor::{
    INPUTS_DOMAIN, OUTPUTS_DOMAIN, SALTED_INPUTS_DOMAIN, dtype_code, encode_tensor_list,
    input_hash, output_hash,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn encode(tensors: &[Tensor]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_tensor_list(tensors, &mut |bytes| out.extend_from_slice(bytes));
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn u32(&mut self) -> usize {
        u32::from_le_bytes(self.take(4).try_into().unwrap()) as usize
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
}

/// Reads the encoding back and compares it, field by field, with `sorted`.
fn parses_back_as(encoding: &[u8], sorted: &[&Tensor]) {
    let mut reader = Reader(encoding);
    assert_eq!(reader.u32(), sorted.len());
    for tensor in sorted {
        let name_len = reader.u32();
        assert_eq!(reader.take(name_len), tensor.name.as_bytes());
        assert_eq!(reader.take(1)[0], dtype_code(tensor.data.dtype()));
        let rank = reader.u32();
        let shape: Vec<u64> = (0..rank).map(|_| reader.u64()).collect();
        assert_eq!(shape, tensor.shape);
        let data_len = reader.u64() as usize;
        assert_eq!(reader.take(data_len), canonical_data(&tensor.data));
    }
    assert!(reader.0.is_empty(), "bytes after the last tensor");
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let Ok(tensors) = arbitrary_tensors(&mut u) else {
        return;
    };
    let nonce_len = u.int_in_range(0..=300).unwrap_or(0);
    let nonce = u.bytes(nonce_len).unwrap_or_default().to_vec();

    let encoding = encode(&tensors);
    let mut sorted: Vec<&Tensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    parses_back_as(&encoding, &sorted);

    let sha = |parts: &[&[u8]]| -> [u8; 32] {
        let mut hasher = Sha256::new();
        parts.iter().for_each(|part| hasher.update(part));
        hasher.finalize().into()
    };
    assert_eq!(output_hash(&tensors), sha(&[OUTPUTS_DOMAIN, &encoding]));
    assert_eq!(
        input_hash(&tensors, None),
        Some(sha(&[INPUTS_DOMAIN, &encoding]))
    );
    let salted = input_hash(&tensors, Some(&nonce));
    match u8::try_from(nonce.len()) {
        Ok(len) => assert_eq!(
            salted,
            Some(sha(&[SALTED_INPUTS_DOMAIN, &[len], &nonce, &encoding]))
        ),
        Err(_) => assert_eq!(
            salted,
            None,
            "a nonce of {} bytes has no encoding",
            nonce.len()
        ),
    }

    // Order: the canister refuses repeated names (their order would show in the encoding).
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() == tensors.len() {
        let mut reordered = tensors.clone();
        reordered.reverse();
        let shift = u.int_in_range(0..=reordered.len()).unwrap_or(0);
        reordered.rotate_left(shift);
        assert_eq!(encode(&reordered), encoding);
        assert_eq!(output_hash(&reordered), output_hash(&tensors));
    }
});
