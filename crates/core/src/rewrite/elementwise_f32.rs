//! f32 element-wise operators tract runs through generic or scalar code: the NaN guard after
//! softmax, sums and products broadcast along whole axes, the exact GELU.

use super::mapping::{Operator, same_fact};
use super::{is_named_on_one_f32, replace};
use icinfer_kernels::elementwise::{self, Arith};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::tract_linalg;

/// `Iff(IsNan(x), c, x)` on f32, with `c` a constant scalar and no broadcasting, as
/// [`ReplaceNan`]. torch's exporter puts one after every attention softmax (all-MiniLM-L6-v2:
/// six, of [1, 12, 128, 128] each), and tract evaluates the pair with its generic
/// broadcasting select: 155 instructions an element, 182 M of MiniLM's inference.
pub fn nan_guard(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    if !node.op_is::<Iff>() {
        return Ok(None);
    }
    let &[condition, replacement, value] = &node.inputs[..] else {
        return Ok(None);
    };
    let guard = model.node(condition.node);
    if guard.op.name() != "IsNan" || guard.inputs.first() != Some(&value) {
        return Ok(None);
    }
    let fact = model.outlet_fact(value)?;
    let Some(replacement) = model.outlet_fact(replacement)?.konst.as_ref() else {
        return Ok(None);
    };
    if fact.datum_type != f32::datum_type()
        || replacement.datum_type() != f32::datum_type()
        || replacement.len() != 1
        || model.outlet_fact(node.id.into())?.shape != fact.shape
    {
        return Ok(None);
    }
    let replacement_bits = replacement.cast_to_scalar::<f32>()?.to_bits();
    replace(model, node, &[value], ReplaceNan { replacement_bits })
}

/// f32 `Add` and `Mul` whose smaller operand repeats along whole leading or trailing axes of
/// the other, as [`BroadcastBinary`]: the batch norms and squeeze-excitation products of the
/// PP-OCR models (`[3, 96, 88] + [1, 1, 88]`), which tract leaves to its generic broadcasting
/// code at about 80 instructions an element.
pub fn broadcast_binary(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(TypedBinOp(mini, None)) = node.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    let op = match mini.name() {
        "Add" => Arith::Add,
        "Mul" => Arith::Mul,
        _ => return Ok(None),
    };
    let &[a, b] = &node.inputs[..] else {
        return Ok(None);
    };
    let output = model.outlet_fact(node.id.into())?;
    let (fa, fb) = (model.outlet_fact(a)?, model.outlet_fact(b)?);
    let f32_only = [fa, fb, output]
        .iter()
        .all(|fact| fact.datum_type == f32::datum_type());
    let (Some(sa), Some(sb), Some(so)) = (
        fa.shape.as_concrete(),
        fb.shape.as_concrete(),
        output.shape.as_concrete(),
    ) else {
        return Ok(None);
    };
    // Both operations commute bit for bit, so the full-sized operand goes first.
    let ((full, full_shape), (part, part_shape)) = if sa == so {
        ((a, sa), (b, sb))
    } else {
        ((b, sb), (a, sa))
    };
    if !f32_only || full_shape != so {
        return Ok(None);
    }
    let Some(layout) = Broadcast::of(full_shape, part_shape) else {
        return Ok(None);
    };
    replace(model, node, &[full, part], BroadcastBinary { op, layout })
}

/// tract's `GeluExact` on f32, as [`GeluExactF32`]: the same arithmetic, with the two
/// element-wise passes around tract's SIMD `erf` vectorised too. tract-core runs them as scalar
/// loops compiled for size: 71 instructions an element, 84 M of MiniLM's inference.
pub fn gelu_exact(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    if !is_named_on_one_f32(model, node, "GeluExact")? {
        return Ok(None);
    }
    replace(model, node, &node.inputs, GeluExactF32)
}

/// Every NaN of an f32 tensor replaced by a constant, in place when the plan hands over the
/// only reference to its input (as it does when nothing else reads it).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ReplaceNan {
    /// The replacement's bits: an `f32` is neither `Eq` nor `Hash`, as ops must be.
    replacement_bits: u32,
}

impl Operator for ReplaceNan {
    const NAME: &'static str = "ReplaceNan";

    fn info(&self) -> Vec<String> {
        vec![format!(
            "replacement: {}",
            f32::from_bits(self.replacement_bits)
        )]
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        same_fact(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut tensor = args_1!(inputs).into_tensor();
        elementwise::replace_nan(
            tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
            f32::from_bits(self.replacement_bits),
        );
        Ok(tvec!(tensor.into_tvalue()))
    }
}

/// How the smaller operand of a [`BroadcastBinary`] spans the full one.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum Broadcast {
    /// It is the full shape's trailing axes, repeated along the leading ones.
    Rows,
    /// It is the full shape's leading axes, each value repeated along the trailing ones.
    Blocks,
}

impl Broadcast {
    /// How `part` (ranks aligned on the right, as in ONNX) spans `full`, if it is one of the two.
    fn of(full: &[usize], part: &[usize]) -> Option<Broadcast> {
        if part.len() > full.len() || part.iter().product::<usize>() == 0 {
            return None;
        }
        let padded: Vec<usize> = std::iter::repeat_n(1, full.len() - part.len())
            .chain(part.iter().copied())
            .collect();
        let spans = |head_from_full: bool, k: usize| {
            (0..full.len()).all(|i| {
                let from_full = (i < k) == head_from_full;
                padded[i] == if from_full { full[i] } else { 1 }
            })
        };
        if (0..=full.len()).any(|k| spans(false, k)) {
            Some(Broadcast::Rows)
        } else if (0..=full.len()).any(|k| spans(true, k)) {
            Some(Broadcast::Blocks)
        } else {
            None
        }
    }
}

/// `full op part` for the commutative f32 operations, `part` spanning `full` as `layout` says;
/// in place when the plan hands over the only reference to `full`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct BroadcastBinary {
    op: Arith,
    layout: Broadcast,
}

impl Operator for BroadcastBinary {
    const NAME: &'static str = "BroadcastBinary";

    fn info(&self) -> Vec<String> {
        vec![format!("{:?} by {:?}", self.op, self.layout)]
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        same_fact(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (full, part) = args_2!(inputs);
        let mut output = full.into_tensor();
        let part = part.try_as_plain_ram()?;
        let part = part.as_slice::<f32>()?;
        {
            let mut view = output.try_as_plain_ram_mut()?;
            let values = view.as_slice_mut::<f32>()?;
            ensure!(!part.is_empty() && values.len() % part.len() == 0);
            match self.layout {
                Broadcast::Rows => elementwise::with_rows(self.op, values, part),
                Broadcast::Blocks => elementwise::with_blocks(self.op, values, part),
            }
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

/// `0.5·x·(1 + erf(x/√2))` on f32, computed as tract-core's `GeluExact` computes it (the
/// scale by `1/√2` rounded as tract rounds it, tract's `erf` routine, then
/// `(x · 0.5) · (erf + 1)`), so the bits are tract's; in place when the plan allows.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct GeluExactF32;

impl GeluExactF32 {
    /// Elements per call of tract's `erf` routine, as in tract-core.
    const CHUNK: usize = 1024;
}

impl Operator for GeluExactF32 {
    const NAME: &'static str = "GeluExactF32";

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        same_fact(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let erf = tract_linalg::routines::Func::Erf.ew_f32()?;
        let inv_sqrt2 = 2f32.sqrt().recip();
        let mut tensor = args_1!(inputs).into_tensor();
        {
            let mut view = tensor.try_as_plain_ram_mut()?;
            let values = view.as_slice_mut::<f32>()?;
            let mut scratch = vec![0f32; values.len().min(Self::CHUNK)];
            for chunk in values.chunks_mut(Self::CHUNK) {
                let scaled = &mut scratch[..chunk.len()];
                elementwise::scaled(scaled, chunk, inv_sqrt2);
                erf.run(scaled)?;
                elementwise::gelu_from_erf(chunk, scaled);
            }
        }
        Ok(tvec!(tensor.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::after_optimise;
    use crate::rewrite::mapping::Tract;
    use crate::rewrite::testing::{bits, run, run_all};
    use tract_onnx::tract_core::ops::math;

    /// softmax-like input -> IsNan -> Iff(_, 0, input): the exporter's guard.
    fn guarded(replacement: f32) -> TractResult<TypedModel> {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 3]))?;
        let is_nan = model.wire_node("is_nan", math::is_nan(), &[x])?[0];
        let c = model.add_const("c", tensor2(&[[replacement]]))?;
        let out = model.wire_node("guard", Iff, &[is_nan, c, x])?[0];
        model.select_output_outlets(&[out])?;
        Ok(model)
    }

    #[test]
    fn a_nan_guard_becomes_one_op_with_the_same_results() -> TractResult<()> {
        let input = tensor2(&[[1.0f32, f32::NAN, -0.0], [f32::INFINITY, f32::NAN, 2.5]]);
        let model = guarded(-7.0)?;
        let expected = run(model.clone(), input.clone())?;
        let fused = after_optimise(model)?;
        let ops: Vec<String> = fused
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        assert!(ops.contains(&"ReplaceNan".to_string()), "{ops:?}");
        assert!(
            !ops.iter().any(|op| op == "Iff" || op == "IsNan"),
            "{ops:?}"
        );
        let got = run(fused, input)?;
        assert_eq!(bits(&got)?, bits(&expected)?);
        assert_eq!(got.try_as_plain_ram()?.as_slice::<f32>()?[1], -7.0);
        Ok(())
    }

    #[test]
    fn a_select_that_is_no_nan_guard_is_left_alone() -> TractResult<()> {
        // The condition tests another tensor than the one passed through.
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([4]))?;
        let y = model.add_source("y", f32::fact([4]))?;
        let is_nan = model.wire_node("is_nan", math::is_nan(), &[y])?[0];
        let c = model.add_const("c", tensor1(&[0f32; 4]))?;
        let out = model.wire_node("select", Iff, &[is_nan, c, x])?[0];
        model.select_output_outlets(&[out])?;
        let fused = after_optimise(model)?;
        assert!(fused.nodes().iter().any(|n| n.op_is::<Iff>()));
        Ok(())
    }

    /// `a op b` on two sources of these shapes, before and after the rewrite.
    fn binary(
        op: TypedBinOp,
        a: &[usize],
        b: &[usize],
    ) -> TractResult<(Vec<String>, Vec<u32>, Vec<u32>)> {
        let mut model = TypedModel::default();
        let x = model.add_source("a", f32::fact(a))?;
        let y = model.add_source("b", f32::fact(b))?;
        let out = model.wire_node("op", op, &[x, y])?[0];
        model.select_output_outlets(&[out])?;
        let values = |shape: &[usize], seed: f32| -> TractResult<Tensor> {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|i| (i as f32 * 0.37 + seed).sin() * 3.0)
                .collect();
            Tensor::from_shape(shape, &data)
        };
        let inputs = || -> TractResult<TVec<TValue>> {
            Ok(tvec!(
                values(a, 0.1)?.into_tvalue(),
                values(b, 0.7)?.into_tvalue()
            ))
        };
        let output_bits = |model: TypedModel| bits(&run_all(model, inputs()?)?);
        let expected = output_bits(model.clone())?;
        let rewritten = after_optimise(model)?;
        let ops = rewritten
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        Ok((ops, output_bits(rewritten)?, expected))
    }

    #[test]
    fn broadcast_products_and_sums_become_one_op_with_the_same_results() -> TractResult<()> {
        use tract_onnx::tract_core::ops::math::{add, mul};
        for (op, a, b) in [
            (add(), &[3, 4, 9][..], &[1, 1, 9][..]),
            (mul(), &[1, 1, 9], &[3, 4, 9]),
            (mul(), &[6, 2, 5], &[6, 1, 1]),
            (add(), &[6, 2, 5], &[6, 2, 5]),
        ] {
            let (ops, got, expected) = binary(op, a, b)?;
            assert!(
                ops.iter().any(|op| op == "BroadcastBinary"),
                "{a:?} {b:?}: {ops:?}"
            );
            assert_eq!(got, expected, "{a:?} {b:?}");
        }
        Ok(())
    }

    #[test]
    fn other_broadcasts_and_operations_are_left_to_tract() -> TractResult<()> {
        use tract_onnx::tract_core::ops::math::{add, sub};
        for (op, a, b) in [
            (add(), &[4, 3, 8][..], &[1, 3, 1][..]),
            (sub(), &[3, 9], &[1, 9]),
        ] {
            let (ops, got, expected) = binary(op, a, b)?;
            assert!(
                !ops.iter().any(|op| op == "BroadcastBinary"),
                "{a:?} {b:?}: {ops:?}"
            );
            assert_eq!(got, expected);
        }
        Ok(())
    }

    #[test]
    fn gelu_exact_becomes_our_op_with_the_same_results() -> TractResult<()> {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([3, 1030]))?;
        let gelu = tract_onnx::tract_core::ops::nn::gelu_exact::gelu_exact();
        let out = model.wire_node("gelu", gelu, &[x])?[0];
        model.select_output_outlets(&[out])?;
        let data: Vec<f32> = (0..3090)
            .map(|i| (i as f32 * 0.013 - 20.0).sin() * 6.0)
            .collect();
        let input = Tensor::from_shape(&[3, 1030], &data)?;
        let expected = run(model.clone(), input.clone())?;
        let rewritten = after_optimise(model)?;
        assert!(
            rewritten
                .nodes()
                .iter()
                .any(|n| n.op_is::<Tract<GeluExactF32>>())
        );
        let got = run(rewritten, input)?;
        assert_eq!(bits(&got)?, bits(&expected)?);
        Ok(())
    }
}
