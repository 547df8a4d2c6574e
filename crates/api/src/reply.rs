//! Candid encoding of replies with the header built once per type.
//!
//! `candid::encode_one` rebuilds the header (`DIDL`, the type table, the argument's type) on
//! every call, walking the whole Rust type; for `infer`'s `Result<InferResult, Error>` that is
//! most of the cost of a small reply. The header depends on the type alone, so it is built
//! once per type and heap here, and only the value is serialised per reply.

use candid::CandidType;
use candid::ser::{TypeSerialize, ValueSerializer};
use std::any::TypeId;
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static HEADERS: RefCell<BTreeMap<TypeId, Vec<u8>>> = const { RefCell::new(BTreeMap::new()) };
}

/// The bytes `candid::encode_one(value)` returns.
pub fn encode_one<T: CandidType + 'static>(value: &T) -> Result<Vec<u8>, candid::Error> {
    let mut values = ValueSerializer::new();
    value.idl_serialize(&mut values)?;
    let values = values.get_result();
    HEADERS.with_borrow_mut(|headers| {
        let header = match headers.entry(TypeId::of::<T>()) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(header::<T>()?),
        };
        let mut bytes = Vec::with_capacity(header.len() + values.len());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(values);
        Ok(bytes)
    })
}

/// What `candid::IDLBuilder` writes before the values, for one argument of type `T`.
fn header<T: CandidType>() -> Result<Vec<u8>, candid::Error> {
    // As IDLBuilder::new does: type ids memoised for another builder must not leak in.
    candid::types::internal::env_clear();
    let mut types = TypeSerialize::new();
    types.push_type(&T::ty())?;
    types.serialize()?;
    Ok([b"DIDL".as_slice(), types.get_result()].concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, InferResult, LogEntry, LogPage, Tensor, TensorData};
    use candid::Principal;
    use serde_bytes::ByteBuf;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            caller: Principal::from_slice(&[7; 29]),
            model_id: "digits".into(),
            model_sha256: ByteBuf::from(vec![1; 32]),
            input_hash: ByteBuf::from(vec![2; 32]),
            output_hash: ByteBuf::from(vec![3; 32]),
            input_salted: seq % 2 == 1,
            instructions: 123_456 * seq,
            messages: Some(seq),
            kind: None,
        }
    }

    #[test]
    fn replies_are_byte_for_byte_what_candid_encodes_for_every_type_and_call() {
        let ok: Result<InferResult, Error> = Ok(InferResult {
            outputs: vec![Tensor {
                name: "logits".into(),
                shape: vec![1, 3],
                data: TensorData::F32(vec![0.5, -1.0, f32::NAN]),
            }],
            receipt: entry(4),
        });
        let err: Result<InferResult, Error> = Err(Error::NotFound {
            kind: "model".into(),
            id: "nope".into(),
        });
        let page = LogPage {
            entries: vec![entry(0), entry(1)],
            log_size: 2,
            next: None,
        };
        // Twice each: the first builds the header, the second reuses it; types interleaved.
        for _ in 0..2 {
            assert_eq!(encode_one(&ok).unwrap(), candid::encode_one(&ok).unwrap());
            assert_eq!(
                encode_one(&page).unwrap(),
                candid::encode_one(&page).unwrap()
            );
            assert_eq!(encode_one(&err).unwrap(), candid::encode_one(&err).unwrap());
            assert_eq!(
                encode_one(&7u64).unwrap(),
                candid::encode_one(7u64).unwrap()
            );
        }
    }
}
