//! Conformance: each model runs through the canister on the replica, and its outputs equal
//! onnxruntime's within the model's stated tolerance.
//!
//! Setup: models/manifest.json lists the models, their files, reference cases (inputs and
//! onnxruntime outputs as .npy, made by the models/ scripts) and tolerances.
//! Runbook: install the canister, upload the model in chunks, finalize, infer every
//! reference case; infer the first case again, upgrade, and infer it once more.
//! Success criteria: every float output within tolerance of onnxruntime's (the maximum
//! absolute error is printed), integer outputs equal; the repeated inferences give
//! identical output bytes and output hashes. Instructions, heap and stable memory are
//! printed per model.
//!
//! The default tier runs the models that CI can afford; `scripts/conformance-all.sh`
//! generates the torch-exported models and runs the ignored tests too.

use candid::{Encode, Principal};
use icinfer_api::{InferArgs, Stats, TensorData};
use icinfer_tests::InferenceCanister;
use icinfer_tests::models::load_model;

/// Largest absolute difference; integer and bool outputs must be equal.
fn max_abs_error(got: &TensorData, want: &TensorData) -> f64 {
    match (got, want) {
        (TensorData::F32(g), TensorData::F32(w)) => {
            assert_eq!(g.len(), w.len());
            g.iter()
                .zip(w)
                .map(|(a, b)| f64::from((a - b).abs()))
                .fold(0.0, f64::max)
        }
        (TensorData::F64(g), TensorData::F64(w)) => {
            assert_eq!(g.len(), w.len());
            g.iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        }
        (got, want) => {
            assert_eq!(got, want, "non-float outputs must be equal");
            0.0
        }
    }
}

fn user() -> Principal {
    Principal::from_slice(&[0x0c; 29])
}

fn conformance(id: &str) {
    let model = load_model(id).unwrap_or_else(|e| panic!("{e}"));
    let mut canister = InferenceCanister::install(Principal::from_slice(&[0xc0; 29]));
    let info = canister.install_model_declaring(id, &model.bytes, model.input_facts.clone());
    let stats: Stats = canister.query0("stats");
    println!(
        "[model] {id}: {} bytes; finalize {} instructions; heap {} MiB, stable {} MiB after load",
        model.bytes.len(),
        info.load_instructions.unwrap_or_default(),
        stats.heap_bytes >> 20,
        stats.stable_bytes >> 20
    );

    let mut worst = 0.0f64;
    let mut first = None;
    for (number, case) in model.cases.iter().enumerate() {
        let args = InferArgs {
            model_id: id.into(),
            inputs: case.inputs.clone(),
            nonce: None,
        };
        let result = canister
            .infer(user(), args.clone())
            .unwrap_or_else(|e| panic!("{id} case {number}: {e}"));
        println!(
            "[model] {id} case {number}: infer {} instructions in the message, {} before logging",
            canister.replica.last_instructions().unwrap_or_default(),
            result.receipt.instructions
        );
        assert_eq!(
            result.outputs.len(),
            case.outputs.len(),
            "{id}: output count"
        );
        for output in &result.outputs {
            let want = case
                .outputs
                .get(&output.name)
                .unwrap_or_else(|| panic!("{id}: unexpected output {}", output.name));
            assert_eq!(
                output.shape, want.shape,
                "{id} case {number}: {} shape",
                output.name
            );
            let error = max_abs_error(&output.data, &want.data);
            assert!(
                error <= model.tolerance,
                "{id} case {number}: {} differs from onnxruntime by {error:e} > {:e}",
                output.name,
                model.tolerance
            );
            worst = worst.max(error);
        }
        first.get_or_insert((args, result));
    }
    println!(
        "[model] {id}: max |Δ| against onnxruntime {worst:e} (tolerance {:e})",
        model.tolerance
    );

    let (args, result) = first.expect("at least one reference case");
    let again = canister.infer(user(), args.clone()).unwrap();
    canister.upgrade();
    let after_upgrade = canister.infer(user(), args).unwrap();
    for other in [&again, &after_upgrade] {
        assert_eq!(
            Encode!(&other.outputs).unwrap(),
            Encode!(&result.outputs).unwrap(),
            "{id}: outputs must be byte-identical"
        );
        assert_eq!(other.receipt.output_hash, result.receipt.output_hash);
    }
}

#[test]
fn digits_matches_onnxruntime() {
    conformance("digits");
}

#[test]
fn ppocr_direction_classifier_matches_onnxruntime() {
    conformance("ppocr-cls");
}

#[test]
fn ppocr_text_detector_matches_onnxruntime() {
    conformance("ppocr-det");
}

#[test]
#[ignore = "slow tier: scripts/conformance-all.sh makes the model with torch"]
fn mobilenetv2_matches_onnxruntime() {
    conformance("mobilenetv2");
}

#[test]
#[ignore = "slow tier: scripts/conformance-all.sh makes the model with torch"]
fn minilm_matches_onnxruntime() {
    conformance("minilm");
}

#[test]
#[ignore = "slow tier: scripts/conformance-all.sh makes the model with torch"]
fn mobilenetv2_int8_matches_onnxruntime() {
    conformance("mobilenetv2-int8");
}

#[test]
#[ignore = "slow tier: scripts/conformance-all.sh makes the model with torch"]
fn minilm_int8_matches_onnxruntime() {
    conformance("minilm-int8");
}
