//! Tensors as callers send them: self-consistency checks, the canonical byte encoding and
//! the hashes the provenance log records. docs/hashing.md specifies the encoding for
//! reimplementation elsewhere; the golden vectors in the tests pin it.
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

use crate::limits::{MAX_RANK, MAX_TENSOR_NAME_BYTES, MAX_TENSORS};
use icinfer_api::{DType, Error, Tensor, TensorData};
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

/// Checks a tensor on its own: a sane name and rank, and as many elements as its shape
/// says. Returns the size of its data in canonical bytes.
pub fn check_tensor(tensor: &Tensor) -> Result<u64, Error> {
    let invalid = |reason: String| Error::InvalidArgument {
        field: format!("tensor '{}'", truncated(&tensor.name)),
        reason,
    };
    if tensor.name.is_empty() || tensor.name.len() > MAX_TENSOR_NAME_BYTES {
        return Err(invalid(format!(
            "name must be 1 to {MAX_TENSOR_NAME_BYTES} bytes"
        )));
    }
    if tensor.shape.len() > MAX_RANK {
        return Err(Error::LimitExceeded {
            limit: "MAX_RANK".into(),
            max: MAX_RANK as u64,
            got: tensor.shape.len() as u64,
        });
    }
    let elements = element_count(&tensor.shape)
        .ok_or_else(|| invalid(format!("shape {:?} overflows", tensor.shape)))?;
    if elements != tensor.data.len() as u64 {
        return Err(invalid(format!(
            "shape {:?} needs {elements} elements, data has {}",
            tensor.shape,
            tensor.data.len()
        )));
    }
    Ok(elements * tensor.data.dtype().size_bytes() as u64)
}

/// Checks a list of tensors: each one, their number, unique names. Returns the total data
/// size in canonical bytes.
pub fn check_tensor_list(tensors: &[Tensor]) -> Result<u64, Error> {
    if tensors.len() > MAX_TENSORS {
        return Err(Error::LimitExceeded {
            limit: "MAX_TENSORS".into(),
            max: MAX_TENSORS as u64,
            got: tensors.len() as u64,
        });
    }
    let mut total = 0u64;
    for tensor in tensors {
        total = total.saturating_add(check_tensor(tensor)?);
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::InvalidArgument {
            field: "inputs".into(),
            reason: format!("tensor name '{}' appears twice", truncated(pair[0])),
        });
    }
    Ok(total)
}

pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// The input commitment: salted when a nonce is given.
pub fn input_hash(inputs: &[Tensor], nonce: Option<&[u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match nonce {
        None => hasher.update(INPUTS_DOMAIN),
        Some(nonce) => {
            let len = u8::try_from(nonce.len()).expect("nonce length is checked before hashing");
            hasher.update(SALTED_INPUTS_DOMAIN);
            hasher.update([len]);
            hasher.update(nonce);
        }
    }
    encode_tensor_list(inputs, &mut |bytes| hasher.update(bytes));
    hasher.finalize().into()
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

/// Elements are converted in batches so that hashing a large tensor costs one sink call
/// per few KiB rather than one per element.
fn encode_data(data: &TensorData, sink: &mut impl FnMut(&[u8])) {
    fn batched<T: Copy, const N: usize>(
        values: &[T],
        to_le: impl Fn(T) -> [u8; N],
        sink: &mut impl FnMut(&[u8]),
    ) {
        let mut buffer = [0u8; 4096];
        for batch in values.chunks(4096 / N) {
            for (slot, &value) in buffer.chunks_exact_mut(N).zip(batch) {
                slot.copy_from_slice(&to_le(value));
            }
            sink(&buffer[..batch.len() * N]);
        }
    }
    match data {
        TensorData::F32(v) => batched(v, f32::to_le_bytes, sink),
        TensorData::F64(v) => batched(v, f64::to_le_bytes, sink),
        TensorData::I64(v) => batched(v, i64::to_le_bytes, sink),
        TensorData::I32(v) => batched(v, i32::to_le_bytes, sink),
        TensorData::I8(v) => batched(v, i8::to_le_bytes, sink),
        TensorData::U8(v) => sink(v),
        TensorData::Bool(v) => batched(v, |b| [u8::from(b)], sink),
    }
}

fn truncated(name: &str) -> &str {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;

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
    fn encoding_is_pinned_byte_for_byte() {
        let t = tensor("x", vec![2], TensorData::F32(vec![1.0, -2.5]));
        let expected = concat!(
            "01000000", // one tensor
            "01000000",
            "78",               // name "x"
            "01",               // f32
            "01000000",         // rank 1
            "0200000000000000", // dim 2
            "0800000000000000", // 8 data bytes
            "0000803f",
            "000020c0"
        );
        assert_eq!(hex::encode(encode(&[t])), expected);
    }

    #[test]
    fn every_dtype_encodes_little_endian() {
        let cases = [
            (TensorData::F64(vec![1.0]), "000000000000f03f"),
            (TensorData::I64(vec![-2]), "feffffffffffffff"),
            (TensorData::I32(vec![258]), "02010000"),
            (TensorData::I8(vec![-1]), "ff"),
            (TensorData::U8(ByteBuf::from(vec![7])), "07"),
            (TensorData::Bool(vec![true]), "01"),
        ];
        for (data, data_hex) in cases {
            let code = dtype_code(data.dtype());
            let bytes = encode(&[tensor("t", vec![1], data)]);
            assert_eq!(bytes[9], code);
            assert!(hex::encode(&bytes).ends_with(data_hex));
        }
    }

    #[test]
    /// Vectors computed by an independent Python implementation of docs/hashing.md.
    fn golden_hashes() {
        let inputs = [
            tensor("b", vec![1, 2], TensorData::I64(vec![3, 4])),
            tensor("a", vec![3], TensorData::F32(vec![0.5, 0.25, -1.0])),
        ];
        assert_eq!(
            hex::encode(input_hash(&inputs, None)),
            "abf1302de9d89cadd63e069e1f896dd9a4a8f2e2b7e551ea82eeee4708f05368"
        );
        let nonce = [0x42u8; 16];
        assert_eq!(
            hex::encode(input_hash(&inputs, Some(&nonce))),
            "37f44f3f87b48296a9eb7b03a99a7e54705c45e388cd6c7636a804faacc76506"
        );
        assert_eq!(
            hex::encode(output_hash(&inputs)),
            "b75da9fa8ee474829df1e70cac86cd89c1417ef5ae6b3d51f12c28437fbdbd9a"
        );
    }

    #[test]
    fn hashes_do_not_depend_on_tensor_order_but_on_everything_else() {
        let a = tensor("a", vec![2], TensorData::F32(vec![1.0, 2.0]));
        let b = tensor("b", vec![1], TensorData::I32(vec![7]));
        let base = input_hash(&[a.clone(), b.clone()], None);
        assert_eq!(base, input_hash(&[b.clone(), a.clone()], None));
        assert_ne!(base, output_hash(&[a.clone(), b.clone()]), "domains differ");
        assert_ne!(base, input_hash(&[a.clone(), b.clone()], Some(&[0; 16])));
        let mut reshaped = a.clone();
        reshaped.shape = vec![1, 2];
        assert_ne!(base, input_hash(&[reshaped, b.clone()], None));
        let retyped = tensor("b", vec![1], TensorData::F32(vec![7.0]));
        assert_ne!(base, input_hash(&[a.clone(), retyped], None));
        let renamed = tensor("c", vec![1], TensorData::I32(vec![7]));
        assert_ne!(base, input_hash(&[a, renamed], None));
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

    #[test]
    fn inconsistent_tensors_are_rejected() {
        let short = tensor("x", vec![2, 2], TensorData::F32(vec![1.0; 3]));
        assert!(matches!(
            check_tensor(&short),
            Err(Error::InvalidArgument { .. })
        ));
        let overflow = tensor("x", vec![u64::MAX, 2], TensorData::F32(vec![]));
        assert!(matches!(
            check_tensor(&overflow),
            Err(Error::InvalidArgument { .. })
        ));
        let deep = tensor("x", vec![1; MAX_RANK + 1], TensorData::F32(vec![1.0]));
        assert!(matches!(
            check_tensor(&deep),
            Err(Error::LimitExceeded { .. })
        ));
        let unnamed = tensor("", vec![1], TensorData::F32(vec![1.0]));
        assert!(check_tensor(&unnamed).is_err());
        let ok = tensor("x", vec![2, 2], TensorData::F32(vec![1.0; 4]));
        assert_eq!(check_tensor(&ok), Ok(16));
        assert!(matches!(
            check_tensor_list(&[ok.clone(), ok]),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
