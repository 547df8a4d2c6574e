//! Rewrites of tract's optimised graph that tract does not make itself, through its
//! extension point for operators: a `TypedOp` of our own, patched in before the plan is built.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::logic::Iff;

/// Replaces every `Iff(IsNan(x), c, x)` on f32, with `c` a constant scalar and no broadcasting,
/// by [`ReplaceNan`]. torch's exporter puts one after every attention softmax (all-MiniLM-L6-v2:
/// six, of [1, 12, 128, 128] each), and tract evaluates the pair with its generic
/// broadcasting code: 155 instructions an element, 182 M of MiniLM's inference.
pub fn fuse_nan_guards(model: TypedModel) -> TractResult<TypedModel> {
    let mut model = model;
    let mut fused = false;
    while let Some((node, value, replacement)) = next_nan_guard(&model)? {
        let patch = TypedModelPatch::replace_single_op(
            &model,
            model.node(node),
            &[value],
            ReplaceNan {
                replacement_bits: replacement.to_bits(),
            },
        )?;
        patch.apply(&mut model)?;
        fused = true;
    }
    if fused {
        model = model.into_compact()?;
    }
    Ok(model)
}

/// The first `Iff` node that is a NaN guard: its id, the guarded outlet and the replacement.
fn next_nan_guard(model: &TypedModel) -> TractResult<Option<(usize, OutletId, f32)>> {
    for node in model.nodes() {
        if !node.op_is::<Iff>() {
            continue;
        }
        let &[condition, replacement, value] = &node.inputs[..] else {
            continue;
        };
        let guard = model.node(condition.node);
        if guard.op.name() != "IsNan" || guard.inputs.first() != Some(&value) {
            continue;
        }
        let fact = model.outlet_fact(value)?;
        let Some(replacement) = model.outlet_fact(replacement)?.konst.as_ref() else {
            continue;
        };
        if fact.datum_type != f32::datum_type()
            || replacement.datum_type() != f32::datum_type()
            || replacement.len() != 1
            || model.outlet_fact(node.id.into())?.shape != fact.shape
        {
            continue;
        }
        let replacement = replacement.cast_to_scalar::<f32>()?;
        return Ok(Some((node.id, value, replacement)));
    }
    Ok(None)
}

/// Every NaN of an f32 tensor replaced by a constant, in place when the plan hands over the
/// only reference to its input (as it does when nothing else reads it).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ReplaceNan {
    /// The replacement's bits: an `f32` is neither `Eq` nor `Hash`, as ops must be.
    replacement_bits: u32,
}

impl Op for ReplaceNan {
    fn name(&self) -> StaticName {
        "ReplaceNan".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "replacement: {}",
            f32::from_bits(self.replacement_bits)
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ReplaceNan {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut tensor = args_1!(inputs).into_tensor();
        icinfer_kernels::elementwise::replace_nan(
            tensor.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
            f32::from_bits(self.replacement_bits),
        );
        Ok(tvec!(tensor.into_tvalue()))
    }
}

impl TypedOp for ReplaceNan {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn run(model: TypedModel, input: Tensor) -> TractResult<Tensor> {
        let plan = model.into_runnable()?;
        Ok(plan
            .run(tvec!(input.into_tvalue()))?
            .remove(0)
            .into_tensor())
    }

    #[test]
    fn a_nan_guard_becomes_one_op_with_the_same_results() -> TractResult<()> {
        let input = tensor2(&[[1.0f32, f32::NAN, -0.0], [f32::INFINITY, f32::NAN, 2.5]]);
        let model = guarded(-7.0)?;
        let expected = run(model.clone(), input.clone())?;
        let fused = fuse_nan_guards(model)?;
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
        let bits = |t: &Tensor| -> TractResult<Vec<u32>> {
            Ok(t.try_as_plain_ram()?
                .as_slice::<f32>()?
                .iter()
                .map(|x| x.to_bits())
                .collect())
        };
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
        let fused = fuse_nan_guards(model)?;
        assert!(fused.nodes().iter().any(|n| n.op_is::<Iff>()));
        Ok(())
    }
}
