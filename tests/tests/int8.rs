//! The int8 kernels and rewrites as the canister module runs them (Wasm SIMD), against tract's
//! own int8 path run natively without them: a tiny quantised model (models/tiny/int8.onnx,
//! made by make_tiny.py) with one convolution of each shape our code treats apart: pointwise
//! with k = 6 (our panel packing, the int8 matrix kernels), depthwise 3×3 at strides 1 and 2 and
//! 5×5 on u8, full 3×3 at strides 1 and 2 (our im2col), depthwise 3×3 on i8, the
//! quantisation around them, and u8 pixels normalised per channel before they are quantised
//! (our byte table). Integer arithmetic and
//! tract's rounding throughout, so the outputs must be equal to the bit. The crates' unit tests
//! check the same code natively (plain arrays for the SIMD); this checks the SIMD itself, in
//! the default tier (the int8 registry models are in the slow one).

use candid::Principal;
use icinfer_api::{InferArgs, Tensor, TensorData};
use icinfer_tests::{InferenceCanister, model_bytes};
use tract_onnx::prelude::*;

const SHAPE: [usize; 4] = [1, 6, 13, 19];
const PIXELS: [usize; 4] = [1, 3, 13, 19];

#[test]
fn int8_convolutions_in_the_canister_give_tracts_own_values() -> TractResult<()> {
    let bytes = model_bytes("tiny/int8.onnx");
    let x: Vec<f32> = (0..SHAPE.iter().product::<usize>())
        .map(|i| (i as f32 * 0.37).sin() * 3.0)
        .collect();
    let pixels: Vec<u8> = (0..PIXELS.iter().product::<usize>())
        .map(|i| (i * 97 + 13) as u8)
        .collect();

    let tract = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])?
        .into_optimized()?
        .into_runnable()?;
    let expected = tract.run(tvec!(
        tract_ndarray::Array4::from_shape_vec(SHAPE, x.clone())?
            .into_tensor()
            .into(),
        tract_ndarray::Array4::from_shape_vec(PIXELS, pixels.clone())?
            .into_tensor()
            .into()
    ))?;

    let mut canister = InferenceCanister::install(Principal::from_slice(&[0xc0; 29]));
    canister.install_model("int8", &bytes);
    let shape = |s: [usize; 4]| s.iter().map(|&d| d as u64).collect();
    let inputs = vec![
        Tensor {
            name: "x".into(),
            shape: shape(SHAPE),
            data: TensorData::F32(x),
        },
        Tensor {
            name: "pixels".into(),
            shape: shape(PIXELS),
            data: TensorData::U8(pixels.into()),
        },
    ];
    let result = canister
        .infer(
            Principal::from_slice(&[0x0c; 29]),
            InferArgs {
                model_id: "int8".into(),
                inputs,
                nonce: None,
            },
        )
        .expect("the canister runs the int8 model");

    assert_eq!(result.outputs.len(), 3);
    for (got, want) in result.outputs.iter().zip(&expected) {
        let TensorData::F32(got) = &got.data else {
            panic!("{}: f32 expected", got.name)
        };
        let want = want.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        assert_eq!(got.len(), want.len(), "{}", result.outputs[0].name);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(got), bits(&want), "output {}", got.len());
        // Varied values, or equality would say little.
        let mut distinct = bits(got);
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 30, "{} distinct values", distinct.len());
    }
    Ok(())
}
