//! The canonical encoding of tensor lists and the input and output hashes the provenance log
//! records. docs/hashing.md specifies them for reimplementation elsewhere; testdata/hashing.json
//! pins them (tests/testdata.rs; its first vectors came from the independent Python
//! implementation in docs/reference/hashing.py).
//!
//! ```text
//! tensor list := count:u32 | tensor*            (tensors sorted by name, bytewise)
//! tensor      := name_len:u32 | name:utf8 | dtype:u8 | rank:u32 | dim:u64 * rank
//!                | data_len:u64 | data          (elements little-endian, bool as 0/1)
//! input hash  := SHA-256("icinfer/v1/inputs\0" | tensor list)
//!              | SHA-256("icinfer/v1/inputs-salted\0" | nonce_len:u8 | nonce | tensor list)
//! output hash := SHA-256("icinfer/v1/outputs\0" | tensor list)
//! ```
//! All integers are little-endian.
//!
//! These functions hash whatever they are given; whether a tensor is well formed (its shape
//! matches its data, names are unique) is checked by the canister before it hashes, and a
//! verifier recomputing a hash only needs to reproduce the canister's bytes.

use icinfer_api::{DType, Tensor, TensorData};
use sha2::{Digest, Sha256};

pub const INPUTS_DOMAIN: &[u8] = b"icinfer/v1/inputs\0";
pub const SALTED_INPUTS_DOMAIN: &[u8] = b"icinfer/v1/inputs-salted\0";
pub const OUTPUTS_DOMAIN: &[u8] = b"icinfer/v1/outputs\0";

/// The dtype's code in the canonical encoding. Codes are never reused.
pub fn dtype_code(dtype: DType) -> u8 {
    match dtype {
        DType::F32 => 1,
        DType::F64 => 2,
        DType::I64 => 3,
        DType::I32 => 4,
        DType::I8 => 5,
        DType::U8 => 6,
        DType::Bool => 7,
    }
}

/// The input commitment: salted when a nonce is given.
///
/// A nonce longer than 255 bytes cannot be encoded (its length is one byte); the canister
/// only accepts 16 to 64 bytes, so no entry was ever made with one, and this returns `None`.
pub fn input_hash(inputs: &[Tensor], nonce: Option<&[u8]>) -> Option<[u8; 32]> {
    let mut hasher = Sha256::new();
    match nonce {
        None => hasher.update(INPUTS_DOMAIN),
        Some(nonce) => {
            let len = u8::try_from(nonce.len()).ok()?;
            hasher.update(SALTED_INPUTS_DOMAIN);
            hasher.update([len]);
            hasher.update(nonce);
        }
    }
    encode_tensor_list(inputs, &mut |bytes| hasher.update(bytes));
    Some(hasher.finalize().into())
}

pub fn output_hash(outputs: &[Tensor]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(OUTPUTS_DOMAIN);
    encode_tensor_list(outputs, &mut |bytes| hasher.update(bytes));
    hasher.finalize().into()
}

/// Streams the canonical encoding of `tensors` into `sink`, without materialising it.
pub fn encode_tensor_list(tensors: &[Tensor], sink: &mut impl FnMut(&[u8])) {
    let mut order: Vec<&Tensor> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    sink(&(order.len() as u32).to_le_bytes());
    for tensor in order {
        sink(&(tensor.name.len() as u32).to_le_bytes());
        sink(tensor.name.as_bytes());
        sink(&[dtype_code(tensor.data.dtype())]);
        sink(&(tensor.shape.len() as u32).to_le_bytes());
        for dim in &tensor.shape {
            sink(&dim.to_le_bytes());
        }
        let data_len = tensor.data.len() as u64 * tensor.data.dtype().size_bytes() as u64;
        sink(&data_len.to_le_bytes());
        encode_data(&tensor.data, sink);
    }
}

// The canonical element encoding is little-endian, bool as 0/1: on a little-endian target
// that is exactly how the elements sit in memory, so every tensor is hashed straight from its
// buffer. Converting element by element cost about 185 instructions an element in the
// canister, more than twice SHA-256's own 77 a byte (docs/performance.md).
#[cfg(not(target_endian = "little"))]
compile_error!("the canonical tensor encoding is taken from memory: little-endian targets only");

fn encode_data(data: &TensorData, sink: &mut impl FnMut(&[u8])) {
    match data {
        TensorData::F32(v) => sink(bytemuck::cast_slice(v)),
        TensorData::F64(v) => sink(bytemuck::cast_slice(v)),
        TensorData::I64(v) => sink(bytemuck::cast_slice(v)),
        TensorData::I32(v) => sink(bytemuck::cast_slice(v)),
        TensorData::I8(v) => sink(bytemuck::cast_slice(v)),
        TensorData::U8(v) => sink(v),
        // A Rust `bool` is one byte holding 0 or 1.
        TensorData::Bool(v) => sink(bytemuck::cast_slice(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, shape: Vec<u64>, data: TensorData) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            data,
        }
    }

    fn encode(tensors: &[Tensor]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_tensor_list(tensors, &mut |b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn hashes_do_not_depend_on_tensor_order_but_on_everything_else() {
        let a = tensor("a", vec![2], TensorData::F32(vec![1.0, 2.0]));
        let b = tensor("b", vec![1], TensorData::I32(vec![7]));
        let hash = |inputs: &[Tensor], nonce: Option<&[u8]>| input_hash(inputs, nonce).unwrap();
        let base = hash(&[a.clone(), b.clone()], None);
        assert_eq!(base, hash(&[b.clone(), a.clone()], None));
        assert_ne!(base, output_hash(&[a.clone(), b.clone()]), "domains differ");
        assert_ne!(base, hash(&[a.clone(), b.clone()], Some(&[0; 16])));
        let mut reshaped = a.clone();
        reshaped.shape = vec![1, 2];
        assert_ne!(base, hash(&[reshaped, b.clone()], None));
        let retyped = tensor("b", vec![1], TensorData::F32(vec![7.0]));
        assert_ne!(base, hash(&[a.clone(), retyped], None));
        let renamed = tensor("c", vec![1], TensorData::I32(vec![7]));
        assert_ne!(base, hash(&[a, renamed], None));
    }

    #[test]
    fn large_tensors_hash_like_their_bytes() {
        let values: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
        let t = tensor("big", vec![10_000], TensorData::F32(values.clone()));
        let bytes = encode(std::slice::from_ref(&t));
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(bytes.ends_with(&data));
        assert_eq!(bytes.len(), 4 + 4 + 3 + 1 + 4 + 8 + 8 + data.len());
    }
}
