//! Log entry decoding (crates/verify/src/entry.rs), and the LEB128 numbers of certified heads
//! (crates/verify/src/head.rs). The first byte chooses the property:
//! - any bytes that decode are exactly the canonical encoding of what they decode to (every
//!   entry has one encoding, so a leaf hash names one entry);
//! - any entry that encodes decodes back to itself (an inference written with kind
//!   `inference` reads back as kind `null`: both are an inference, with one encoding);
//! - LEB128 likewise: bytes that decode are the shortest encoding of their value, and every
//!   value's encoding decodes to it.
#![no_main]

use arbitrary::Unstructured;
use icinfer_api::EntryKind;
use icinfer_fuzz::entries::arbitrary_entry;
use icinfer_verify::entry::{decode_entry_checked, encode_entry};
use icinfer_verify::head::{decode_leb128, leb128};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode % 3 == 2 {
        if let Some(value) = decode_leb128(rest) {
            assert_eq!(leb128(value), rest, "LEB128 accepted a non-canonical form");
        }
        let value = rest
            .iter()
            .take(8)
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        assert_eq!(decode_leb128(&leb128(value)), Some(value));
        return;
    }
    if mode % 3 == 0 {
        if let Ok(entry) = decode_entry_checked(rest) {
            let encoded = encode_entry(&entry).expect("a decoded entry has an encoding");
            assert_eq!(
                encoded, rest,
                "decoding accepted a non-canonical encoding: {entry:?}"
            );
        }
        return;
    }
    let Ok(mut entry) = arbitrary_entry(&mut Unstructured::new(rest)) else {
        return;
    };
    let Ok(encoded) = encode_entry(&entry) else {
        return;
    };
    let decoded = decode_entry_checked(&encoded).expect("an encoded entry decodes");
    if entry.kind == Some(EntryKind::Inference) {
        entry.kind = None;
    }
    assert_eq!(decoded, entry);
});
