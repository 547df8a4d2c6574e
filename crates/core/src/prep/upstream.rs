//! The tests proposed to tract upstream (docs/upstream/onnx_import_tests.rs), compiled
//! against the tract this crate links so that they stay valid. Each is ignored: it shows a
//! failure of tract 0.23.9 that this module's passes work around, and
//! `cargo test --workspace --lib upstream -- --ignored` lists which still fail.

include!("../../../../docs/upstream/onnx_import_tests.rs");
