//! A value stored inside a stable record as a Candid `blob` of its own Candid encoding.
//!
//! Candid writes a record's whole type table with every value, and a decoder parses it and
//! checks it against the expected type: an optional field of a rich type costs every record
//! that lacks it that work too. Job and model records are decoded and encoded in every job
//! step and upload chunk, so the fields only language models and generations have (their
//! declaration, their progress) are nested: records without them carry `opt blob`, and
//! only those with them pay for their types.

use candid::{CandidType, Decode, Encode};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_bytes::ByteBuf;
use std::ops::{Deref, DerefMut};

#[derive(Clone, Debug, PartialEq)]
pub struct Nested<T>(pub T);

impl<T: CandidType> CandidType for Nested<T> {
    fn _ty() -> candid::types::Type {
        ByteBuf::ty()
    }
    fn idl_serialize<S: candid::types::Serializer>(&self, serializer: S) -> Result<(), S::Error> {
        let bytes = Encode!(&self.0).expect("a nested value encodes");
        serializer.serialize_blob(&bytes)
    }
}

impl<'de, T: CandidType + DeserializeOwned> Deserialize<'de> for Nested<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = ByteBuf::deserialize(deserializer)?;
        Decode!(&bytes, T).map(Nested).map_err(D::Error::custom)
    }
}

impl<T> Deref for Nested<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Nested<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
    struct Outer {
        plain: u32,
        nested: Option<Nested<Vec<String>>>,
    }

    #[test]
    fn a_nested_value_round_trips_and_its_record_names_only_a_blob() {
        for nested in [None, Some(Nested(vec!["a".to_string(), "b".into()]))] {
            let outer = Outer { plain: 7, nested };
            let bytes = Encode!(&outer).unwrap();
            assert_eq!(Decode!(&bytes, Outer).unwrap(), outer);
        }
        assert_eq!(Nested::<Vec<String>>::ty(), ByteBuf::ty());
    }
}
