//! ONNX parsing and loading, natively: the preparation pass on the decoded protobuf
//! (crates/core/src/prep: bounds, operators, facts, `If` folding) and tract's parse, typing
//! and optimisation behind it (crates/core/src/runtime.rs `load`, what `finalize_model`
//! runs). Seeds: models/tiny (the hostile models included) and models/digits. Property: any
//! bytes give a loaded model or a typed refusal, never a panic (a trap in the canister),
//! within libFuzzer's time and memory limits (the bounds hold before tract evaluates).
#![no_main]

use icinfer_api::Error;
use icinfer_core::runtime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|onnx: &[u8]| {
    match runtime::load(onnx.to_vec(), &[]) {
        Ok(model) => {
            assert!(!model.outputs.is_empty() || model.plan.model().outputs.is_empty());
        }
        Err(Error::ModelRejected { .. } | Error::LimitExceeded { .. }) => {}
        Err(other) => panic!("load refused a model with an error of another kind: {other:?}"),
    }
});
