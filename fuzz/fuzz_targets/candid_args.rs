//! Candid decoding of every endpoint's argument, as ic-cdk decodes it (first byte: the
//! endpoint, the rest: the argument bytes). Properties: decoding returns a value or an
//! error, never a panic, within libFuzzer's time and memory limits (decoding bombs); what
//! decodes encodes again, and that encoding decodes to a value with the same encoding.
#![no_main]

use icinfer_fuzz::endpoints;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // The table is the interface, method for method: a new endpoint gets fuzzed.
    init: assert_eq!(endpoints::interface_methods(), endpoints::NAMES),
    |input: &[u8]| round_trip(input)
);

fn round_trip(input: &[u8]) {
    let Some((&endpoint, bytes)) = input.split_first() else {
        return;
    };
    let Ok(call) = endpoints::decode(endpoint.into(), bytes) else {
        return;
    };
    let encoded = call.encode();
    let again = endpoints::decode(endpoint.into(), &encoded)
        .unwrap_or_else(|e| panic!("{}: its own encoding does not decode: {e}", call.name()));
    // Compared by encoding: a float argument may be NaN, which is not equal to itself.
    assert_eq!(
        again.encode(),
        encoded,
        "{}: the round trip changed the value",
        call.name()
    );
}
