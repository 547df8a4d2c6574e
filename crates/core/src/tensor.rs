//! Tensors as callers send them: self-consistency checks before anything runs or is hashed.
//!
//! The canonical encoding and the input/output hashes live in `icinfer_verify::tensor`, so
//! that the canister and every verifier share one implementation (docs/hashing.md); they are
//! re-exported here.

use crate::limits::{MAX_NONCE_BYTES, MAX_RANK, MAX_TENSOR_NAME_BYTES, MAX_TENSORS};
use icinfer_api::{Error, Tensor};
pub use icinfer_verify::tensor::{
    INPUTS_DOMAIN, OUTPUTS_DOMAIN, SALTED_INPUTS_DOMAIN, dtype_code, encode_tensor_list,
    output_hash,
};

/// The input commitment: salted when a nonce is given. The nonce must already have been
/// checked against `MAX_NONCE_BYTES`.
pub fn input_hash(inputs: &[Tensor], nonce: Option<&[u8]>) -> [u8; 32] {
    const {
        assert!(
            MAX_NONCE_BYTES <= 255,
            "the nonce length is encoded in one byte"
        )
    };
    icinfer_verify::tensor::input_hash(inputs, nonce)
        .expect("nonce length is checked before hashing")
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
    use icinfer_api::TensorData;

    fn tensor(name: &str, shape: Vec<u64>, data: TensorData) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            data,
        }
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
