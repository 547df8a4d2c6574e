//! The canister's tensor validation (crates/core/src/tensor.rs) against its contract, on
//! tensor lists built from fuzz input. Property: `check_tensor_list` accepts a list exactly
//! when it has at most MAX_TENSORS tensors, each with a name of 1 to MAX_TENSOR_NAME_BYTES
//! bytes, a rank of at most MAX_RANK and as many elements as its shape says, and no name
//! twice; it then returns the canonical data size, the bytes the hash covers.
#![no_main]

use arbitrary::Unstructured;
use icinfer_core::limits::{MAX_RANK, MAX_TENSOR_NAME_BYTES, MAX_TENSORS};
use icinfer_core::tensor::check_tensor_list;
use icinfer_fuzz::tensors::{arbitrary_tensors, canonical_data};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(tensors) = arbitrary_tensors(&mut Unstructured::new(input)) else {
        return;
    };
    let well_formed = |t: &icinfer_api::Tensor| {
        !t.name.is_empty()
            && t.name.len() <= MAX_TENSOR_NAME_BYTES
            && t.shape.len() <= MAX_RANK
            && t.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
                == Some(t.data.len() as u64)
    };
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    let unique = names.windows(2).all(|pair| pair[0] != pair[1]);
    let valid = tensors.len() <= MAX_TENSORS && tensors.iter().all(well_formed) && unique;
    match check_tensor_list(&tensors) {
        Ok(total) => {
            assert!(valid, "accepted {tensors:?}");
            let bytes: usize = tensors.iter().map(|t| canonical_data(&t.data).len()).sum();
            assert_eq!(total, bytes as u64);
        }
        Err(e) => assert!(!valid, "refused a valid list ({e:?}): {tensors:?}"),
    }
});
