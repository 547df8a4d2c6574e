//! Hostile models against the canister's load path (issue #20): each crafted file is
//! refused at finalize with a typed error before tract builds anything, at a cost of
//! instructions that is printed and bounded, and the canister keeps serving.
//!
//! Setup: models/tiny/hostile/ (written by make_hostile.py, committed).
//! Runbook: create, upload and finalize each model on the built inference canister; then
//! install the digits model and infer, to see the canister unharmed.
//! Success criteria: the typed error of each model; every refusal under 50 M
//! instructions (the 176-byte ConstantOfShape bomb cost 28.5 B before the preparation
//! pass); the digits model loads and infers afterwards.

use candid::Principal;
use icinfer_api::{Error, InferArgs};
use icinfer_tests::InferenceCanister;
use icinfer_tests::models::load_model;

const MAX_REFUSAL_INSTRUCTIONS: u64 = 50_000_000;

fn refuse(canister: &mut InferenceCanister, file: &str) -> Error {
    let bytes = std::fs::read(
        icinfer_tests::models::models_dir()
            .join("tiny/hostile")
            .join(file),
    )
    .unwrap();
    let controller = Principal::from_slice(&[0xc0; 29]);
    let id = file.trim_end_matches(".onnx");
    canister.create_model(controller, id, &bytes).unwrap();
    canister.upload_chunk(controller, id, &bytes, 0).unwrap();
    let error = canister
        .finalize(id)
        .expect_err("a hostile model is refused");
    let spent = canister.replica.last_instructions().unwrap_or_default();
    println!(
        "[hostile] {file} ({} bytes): refused in {spent} instructions: {error}",
        bytes.len()
    );
    assert!(spent < MAX_REFUSAL_INSTRUCTIONS, "{file}: {spent}");
    error
}

#[test]
fn hostile_models_are_refused_cheaply_and_typed() {
    let mut canister = InferenceCanister::install(Principal::from_slice(&[0xc0; 29]));
    let limit = |error: Error| match error {
        Error::LimitExceeded { limit, max, got } => (limit, max, got),
        other => panic!("expected LimitExceeded, got {other:?}"),
    };
    let (name, _, got) = limit(refuse(&mut canister, "constant_of_shape_bomb.onnx"));
    assert!(name.starts_with("MAX_TENSOR_BYTES"), "{name}");
    assert_eq!(got, 8 << 28);
    let (name, _, got) = limit(refuse(&mut canister, "oversized_initializer.onnx"));
    assert_eq!(name, "MAX_DIMENSION: a dimension of initializer 'w'");
    assert_eq!(got, (1 << 32) + 4);
    let (name, _, got) = limit(refuse(&mut canister, "huge_dimension.onnx"));
    assert_eq!(name, "MAX_DIMENSION: a dimension of input 'x'");
    assert_eq!(got, 1 << 31);
    match refuse(&mut canister, "contrib_operator.onnx") {
        Error::ModelRejected { reason } => assert!(
            reason.starts_with(
                "unsupported operator QAttention (domain com.microsoft) at node 'attention_0'"
            ),
            "{reason}"
        ),
        other => panic!("expected ModelRejected, got {other:?}"),
    }

    let digits = load_model("digits").unwrap();
    canister.install_model("digits", &digits.bytes);
    let result = canister.infer(
        Principal::from_slice(&[0x0c; 29]),
        InferArgs {
            model_id: "digits".into(),
            inputs: digits.cases[0].inputs.clone(),
            nonce: None,
        },
    );
    assert!(result.is_ok(), "{result:?}");
}
