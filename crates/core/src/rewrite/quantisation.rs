//! Quantisation as tract computes it, in fewer instructions: `QuantizeLinear`,
//! `DequantizeLinear`, the requantisation through a clip between them, `DynamicQuantizeLinear`,
//! and u8 activations handed to the int8 kernels as i8.

use super::mapping::{Mapping, Operator, Tract};
use super::{is_named_on_one_f32, replace};
use icinfer_kernels::elementwise::{self, Bound, Scaling};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::OptBinChain;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearU8};

/// tract-onnx's `DynamicQuantizeLinearU8` (on f32), as [`DynamicQuantiseU8`]: scalar loops
/// compiled for size, 92 instructions an element, 190 M of the int8 MiniLM's inference.
pub fn dynamic_quantise(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    if !is_named_on_one_f32(model, node, "DynamicQuantizeLinearU8")? {
        return Ok(None);
    }
    replace(model, node, &node.inputs, DynamicQuantiseU8)
}

/// tract-core's `OffsetU8asI8`, which hands u8 activations to the int8 kernels as i8 (`x − 128`,
/// the zero point moved along), as [`U8AsI8`]: a scalar loop at 20 instructions a byte, 41 M of
/// the int8 MiniLM's inference and 136 M of the int8 MobileNetV2's.
pub fn u8_as_i8(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    if node.op.name() != "OffsetU8asI8" || node.inputs.len() != 1 {
        return Ok(None);
    }
    let input = model.outlet_fact(node.inputs[0])?;
    let output = model.outlet_fact(node.id.into())?;
    if input.datum_type.unquantized() != u8::datum_type()
        || output.datum_type.unquantized() != i8::datum_type()
    {
        return Ok(None);
    }
    let op = U8AsI8 {
        output: output.datum_type,
    };
    replace(model, node, &node.inputs, op)
}

/// tract-core's `QuantizeLinearU8` on f32, as [`QuantiseU8`]: the statically quantised
/// MobileNetV2 quantises every activation its float operators (residual additions, clips)
/// produce, 90 instructions an element in tract's scalar loop, 577 M of its inference.
pub fn quantise(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let Some(op) = node.op_as::<ElementWiseOp>() else {
        return Ok(None);
    };
    let Some(q) = op.0.downcast_ref::<QuantizeLinearU8>() else {
        return Ok(None);
    };
    let &[input] = &node.inputs[..] else {
        return Ok(None);
    };
    let output = model.outlet_fact(node.id.into())?;
    if model.outlet_fact(input)?.datum_type != f32::datum_type()
        || output.datum_type.unquantized() != u8::datum_type()
    {
        return Ok(None);
    }
    let op = QuantiseU8 {
        scale_bits: q.scale.to_bits(),
        zero_point: q.zero_point,
        output: output.datum_type,
    };
    replace(model, node, &[input], op)
}

/// tract-core's `DequantizeLinearF32` on u8 or i8, as [`DequantiseF32`]: 26 instructions an
/// element in tract's scalar loop, 168 M of the statically quantised MobileNetV2's inference.
pub fn dequantise(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let Some(op) = node.op_as::<DequantizeLinearF32>() else {
        return Ok(None);
    };
    let &[input] = &node.inputs[..] else {
        return Ok(None);
    };
    let signed = match model.outlet_fact(input)?.datum_type {
        DatumType::U8 => false,
        DatumType::I8 => true,
        _ => return Ok(None),
    };
    let op = DequantiseF32 {
        signed,
        zero_point: op.zero_point,
        scale_bits: op.scale.to_bits(),
    };
    replace(model, node, &[input], op)
}

/// [`DequantiseF32`], a clip (tract's `OptBinChain` of `Max` and `Min` by constants) and
/// [`QuantiseU8`] in a row, each read only by the next, as [`RequantiseClipped`]: how the
/// statically quantised MobileNetV2 applies ReLU6 in f32 between its quantised convolutions
/// (5.5 instructions an element for the clip, 16.5 for the three). `node` is the last.
pub fn requantise_chain(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(Tract(quantise)) = node.op_as::<Tract<QuantiseU8>>() else {
        return Ok(None);
    };
    let clip = model.node(node.inputs[0].node);
    let Some(chain) = clip.op_as::<OptBinChain>() else {
        return Ok(None);
    };
    let dequantise = model.node(clip.inputs[0].node);
    let Some(Tract(dq)) = dequantise.op_as::<Tract<DequantiseF32>>() else {
        return Ok(None);
    };
    let only_reader = |outlet: OutletId| model.outlet_successors(outlet).len() == 1;
    if !only_reader(clip.inputs[0]) || !only_reader(node.inputs[0]) {
        return Ok(None);
    }
    let mut bounds = Vec::new();
    for (step, &operand) in chain.steps.iter().zip(&clip.inputs[1..]) {
        let value = match &model.outlet_fact(operand)?.konst {
            Some(c) if c.len() == 1 && c.datum_type() == f32::datum_type() => {
                c.cast_to_scalar::<f32>()?
            }
            _ => break,
        };
        match step.binop.name() {
            "Max" => bounds.push(Bound::Lower(value.to_bits())),
            "Min" => bounds.push(Bound::Upper(value.to_bits())),
            _ => break,
        }
    }
    if bounds.len() != chain.steps.len() || f32::from_bits(dq.scale_bits) <= 0.0 {
        return Ok(None);
    }
    let op = RequantiseClipped {
        signed: dq.signed,
        in_zero_point: dq.zero_point,
        in_scale_bits: dq.scale_bits,
        bounds,
        out_scale_bits: quantise.scale_bits,
        out_zero_point: quantise.zero_point,
        output: quantise.output,
    };
    replace(model, node, &[dequantise.inputs[0]], op)
}

/// u8 as i8 with the same zero: `x − 128` wrapping, which is the top bit flipped, eight bytes
/// to a 64-bit word. The output type is tract's (i8, or quantised i8 with its zero point − 128).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct U8AsI8 {
    output: DatumType,
}

impl Mapping for U8AsI8 {
    const NAME: &'static str = "U8AsI8";

    fn output_type(&self) -> DatumType {
        self.output
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        elementwise::flip_top_bits(
            output.try_as_plain_ram_mut()?.as_bytes_mut(),
            input.try_as_plain_ram()?.as_bytes(),
        );
        Ok(())
    }
}

/// `QuantiseU8(clip(DequantiseF32(x)))` in one pass, with the three operators' arithmetic
/// (icinfer_kernels::elementwise::requantise_clipped).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct RequantiseClipped {
    signed: bool,
    in_zero_point: i32,
    in_scale_bits: u32,
    bounds: Vec<Bound>,
    out_scale_bits: u32,
    out_zero_point: u8,
    output: DatumType,
}

impl Mapping for RequantiseClipped {
    const NAME: &'static str = "RequantiseClipped";

    fn output_type(&self) -> DatumType {
        self.output
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        elementwise::requantise_clipped(
            output.try_as_plain_ram_mut()?.as_bytes_mut(),
            input.try_as_plain_ram()?.as_bytes(),
            self.signed,
            (self.in_zero_point, f32::from_bits(self.in_scale_bits)),
            &self.bounds,
            (f32::from_bits(self.out_scale_bits), self.out_zero_point),
        );
        Ok(())
    }
}

/// ONNX's `QuantizeLinear` to u8 from f32 as tract-core computes it: every value multiplied
/// by `scale` (the reciprocal of the model's), rounded to even, offset by the zero point and
/// saturated to u8. The output type is tract's (u8, or quantised u8).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct QuantiseU8 {
    /// The multiplier's bits: an `f32` is neither `Eq` nor `Hash`, as ops must be.
    scale_bits: u32,
    zero_point: u8,
    output: DatumType,
}

impl Mapping for QuantiseU8 {
    const NAME: &'static str = "QuantiseU8";

    fn output_type(&self) -> DatumType {
        self.output
    }

    fn info(&self) -> Vec<String> {
        let scale = f32::from_bits(self.scale_bits);
        vec![format!("scale: {scale} zero_point: {}", self.zero_point)]
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        elementwise::quantise_u8(
            output.try_as_plain_ram_mut()?.as_bytes_mut(),
            input.try_as_plain_ram()?.as_slice::<f32>()?,
            Scaling::MultiplyBy(f32::from_bits(self.scale_bits)),
            self.zero_point,
        );
        Ok(())
    }
}

/// ONNX's `DequantizeLinear` to f32 from u8 or i8 as tract-core computes it:
/// `(x − zero_point) as f32 · scale`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct DequantiseF32 {
    signed: bool,
    zero_point: i32,
    scale_bits: u32,
}

impl Mapping for DequantiseF32 {
    const NAME: &'static str = "DequantiseF32";

    fn output_type(&self) -> DatumType {
        f32::datum_type()
    }

    fn info(&self) -> Vec<String> {
        let scale = f32::from_bits(self.scale_bits);
        vec![format!("scale: {scale} zero_point: {}", self.zero_point)]
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        elementwise::dequantise(
            output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
            input.try_as_plain_ram()?.as_bytes(),
            self.signed,
            self.zero_point,
            f32::from_bits(self.scale_bits),
        );
        Ok(())
    }
}

/// ONNX's `DynamicQuantizeLinear` on f32, computed as tract-onnx computes it: the range of the
/// values and 0; `scale = (max − min) / 255`; the zero point `−min / scale` rounded to even and
/// clamped to [0, 255]; then every value divided by the scale, rounded to even, offset by the
/// zero point and saturated to u8. Outputs: the u8 tensor, the scale, the zero point.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct DynamicQuantiseU8;

impl Operator for DynamicQuantiseU8 {
    const NAME: &'static str = "DynamicQuantiseU8";

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(
            u8::fact(inputs[0].shape.clone()),
            f32::fact([0usize; 0]),
            u8::fact([0usize; 0])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let values = input.try_as_plain_ram()?;
        let values = values.as_slice::<f32>()?;
        let (min, max) = elementwise::range_with_zero(values);
        let scale = (max - min) / 255.0;
        // All values 0: scale 0 and a NaN here, which casts to 0, the zero point tract-onnx's
        // max and min give it.
        let zero_point = (-min / scale).round_ties_even().clamp(0.0, 255.0) as u8;
        let mut quantised = unsafe { Tensor::uninitialized_dt(u8::datum_type(), input.shape())? };
        elementwise::quantise_u8(
            quantised.try_as_plain_ram_mut()?.as_slice_mut::<u8>()?,
            values,
            Scaling::DivideBy(scale),
            zero_point,
        );
        Ok(tvec!(
            quantised.into_tvalue(),
            tensor0(scale).into_tvalue(),
            tensor0(zero_point).into_tvalue()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::after_optimise;
    use crate::rewrite::testing::{OnnxType, onnx_model, value_info};
    use tract_onnx::pb;
    use tract_onnx::tract_core::ops::quant::offset_u8_as_i8;

    /// ONNX `DynamicQuantizeLinear` over an f32 vector of `len`.
    fn dynamic_quantize_linear(len: usize) -> TractResult<TypedModel> {
        let node = pb::NodeProto {
            op_type: "DynamicQuantizeLinear".into(),
            input: vec!["x".into()],
            output: vec!["y".into(), "scale".into(), "zero_point".into()],
            ..Default::default()
        };
        onnx_model(
            node,
            vec![],
            vec![value_info("x", OnnxType::Float, &[len])],
            vec![
                value_info("y", OnnxType::Uint8, &[len]),
                value_info("scale", OnnxType::Float, &[]),
                value_info("zero_point", OnnxType::Uint8, &[]),
            ],
        )
    }

    #[test]
    fn dynamic_quantize_linear_becomes_our_op_with_tracts_bytes_scale_and_zero_point()
    -> TractResult<()> {
        let ramp = |n: usize, low: f32, high: f32| -> Vec<f32> {
            (0..n)
                .map(|i| low + (high - low) * i as f32 / (n - 1) as f32)
                .collect()
        };
        let mut ties = vec![-127.0, 128.0, 0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 127.5];
        ties.resize(37, 3.5);
        let cases: Vec<Vec<f32>> = vec![
            ramp(103, -3.3, 5.7),
            ramp(64, 0.25, 9.0),
            ramp(48, -9.0, -0.25),
            vec![0.0; 33],
            ties,
            {
                let mut v = ramp(35, -2.0, 2.0);
                v[3] = f32::NAN;
                v[20] = f32::INFINITY;
                v
            },
            ramp(5, -1.0, 1.0),
        ];
        for values in cases {
            let model = dynamic_quantize_linear(values.len())?;
            assert!(
                model
                    .nodes()
                    .iter()
                    .any(|n| n.op.name() == "DynamicQuantizeLinearU8")
            );
            let ours = after_optimise(model.clone())?;
            assert!(
                ours.nodes()
                    .iter()
                    .any(|n| n.op_is::<Tract<DynamicQuantiseU8>>())
            );
            let input = || tvec!(tensor1(&values).into_tvalue());
            let expected = model.into_runnable()?.run(input())?;
            let got = ours.into_runnable()?.run(input())?;
            let bytes = |t: &TValue| -> TractResult<Vec<u8>> {
                Ok(t.try_as_plain_ram()?.as_slice::<u8>()?.to_vec())
            };
            assert_eq!(bytes(&got[0])?, bytes(&expected[0])?, "{values:?}");
            let scale = |t: &TValue| t.cast_to_scalar::<f32>().map(f32::to_bits);
            assert_eq!(scale(&got[1])?, scale(&expected[1])?, "{values:?}");
            assert_eq!(bytes(&got[2])?, bytes(&expected[2])?, "{values:?}");
        }
        Ok(())
    }

    #[test]
    fn u8_as_i8_becomes_our_op_with_tracts_bytes_and_type() -> TractResult<()> {
        let quantised = u8::datum_type().quantize(QParams::ZpScale {
            zero_point: 131,
            scale: 0.25,
        });
        for dt in [u8::datum_type(), quantised] {
            let mut model = TypedModel::default();
            let x = model.add_source("x", dt.fact([43]))?;
            let y = model.wire_node("offset", offset_u8_as_i8(), &[x])?[0];
            model.select_output_outlets(&[y])?;
            let ours = after_optimise(model.clone())?;
            assert!(ours.nodes().iter().any(|n| n.op_is::<Tract<U8AsI8>>()));
            assert_eq!(
                ours.output_fact(0)?.datum_type,
                model.output_fact(0)?.datum_type
            );
            let bytes: Vec<u8> = (0..43).map(|i| (i * 37 % 256) as u8).collect();
            let input = || -> TractResult<TVec<TValue>> {
                let mut t = tensor1(&bytes);
                unsafe { t.set_datum_type(dt) };
                Ok(tvec!(t.into_tvalue()))
            };
            let expected = model.into_runnable()?.run(input()?)?.remove(0);
            let got = ours.into_runnable()?.run(input()?)?.remove(0);
            assert_eq!(got.datum_type(), expected.datum_type());
            assert_eq!(
                got.try_as_plain_ram()?.as_bytes(),
                expected.try_as_plain_ram()?.as_bytes()
            );
        }
        Ok(())
    }

    #[test]
    fn quantise_and_dequantise_become_our_ops_with_tracts_values() -> TractResult<()> {
        use tract_onnx::tract_core::ops::quant::quantize_linear_u8;
        // Ties at this multiplier, NaN and values beyond both ends of u8. (Not +∞: tract adds
        // the zero point to i32::MAX, which wraps in the canister and panics in a debug build.)
        let mut values: Vec<f32> = (0..83).map(|i| (i as f32 - 40.0) * 0.625).collect();
        values.extend([f32::NAN, f32::NEG_INFINITY, -1e30, 1e3, 0.25, -0.25]);
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([values.len()]))?;
        let q = model.wire_node("q", quantize_linear_u8(2.0, 131), &[x])?[0];
        let d = model.wire_node("d", DequantizeLinearF32::new(0.375, 131), &[q])?[0];
        let s = model.wire_node("s", offset_u8_as_i8(), &[q])?[0];
        let ds = model.wire_node("ds", DequantizeLinearF32::new(0.5, -3), &[s])?[0];
        model.select_output_outlets(&[q, d, ds])?;
        let ours = after_optimise(model.clone())?;
        for name in ["QuantiseU8", "DequantiseF32", "U8AsI8"] {
            assert!(ours.nodes().iter().any(|n| n.op.name() == name), "{name}");
        }
        let input = || tvec!(tensor1(&values).into_tvalue());
        let expected = model.into_runnable()?.run(input())?;
        let got = ours.into_runnable()?.run(input())?;
        let raw =
            |t: &TValue| -> TractResult<Vec<u8>> { Ok(t.try_as_plain_ram()?.as_bytes().to_vec()) };
        for (got, expected) in got.iter().zip(&expected) {
            assert_eq!(got.datum_type(), expected.datum_type());
            assert_eq!(raw(got)?, raw(expected)?);
        }
        Ok(())
    }

    #[test]
    fn a_dequantise_clip_quantise_chain_becomes_one_op_with_tracts_bytes() -> TractResult<()> {
        use tract_onnx::tract_core::ops::math;
        use tract_onnx::tract_core::ops::quant::quantize_linear_u8;
        // ReLU6 (lower bound first: the fast path) on u8 and i8, and the bounds the other
        // way round (the general one).
        for (in_dt, zero_point, lower_first) in [
            (u8::datum_type(), 131, true),
            (i8::datum_type(), -7, true),
            (u8::datum_type(), 100, false),
        ] {
            let mut model = TypedModel::default();
            let x = model.add_source("x", in_dt.fact([256]))?;
            let d = model.wire_node("d", DequantizeLinearF32::new(0.0235, zero_point), &[x])?[0];
            let low = model.add_const("low", tensor1(&[0f32]))?;
            let high = model.add_const("high", tensor1(&[6f32]))?;
            let c = if lower_first {
                let c = model.wire_node("max", math::max(), &[d, low])?[0];
                model.wire_node("min", math::min(), &[c, high])?[0]
            } else {
                let c = model.wire_node("min", math::min(), &[d, high])?[0];
                model.wire_node("max", math::max(), &[c, low])?[0]
            };
            let q = model.wire_node("q", quantize_linear_u8(42.5, 3), &[c])?[0];
            model.select_output_outlets(&[q])?;
            let model = model.into_optimized()?;
            assert!(model.nodes().iter().any(|n| n.op_is::<OptBinChain>()));
            let ours = after_optimise(model.clone())?;
            assert!(
                ours.nodes()
                    .iter()
                    .any(|n| n.op_is::<Tract<RequantiseClipped>>())
            );
            assert_eq!(ours.nodes().len(), 2, "{ours}");
            // Every byte.
            let mut bytes = tensor1(&(0..=255u8).collect::<Vec<_>>());
            unsafe { bytes.set_datum_type(in_dt) };
            let input = || tvec!(bytes.clone().into_tvalue());
            let expected = model.into_runnable()?.run(input())?.remove(0);
            let got = ours.into_runnable()?.run(input())?.remove(0);
            let raw = |t: &TValue| -> TractResult<Vec<u8>> {
                Ok(t.try_as_plain_ram()?.as_bytes().to_vec())
            };
            assert_eq!(raw(&got)?, raw(&expected)?);
            assert!(
                raw(&got)?
                    .iter()
                    .collect::<std::collections::HashSet<_>>()
                    .len()
                    > 100
            );
        }
        Ok(())
    }
}
