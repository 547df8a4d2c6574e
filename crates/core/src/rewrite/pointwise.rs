//! Quantised 1×1 convolutions over one flattened axis.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// Quantised 1×1 convolutions, which tract's declutter turns into quantised `EinSum`s such as
/// `IHW,OI,O,,,,,,->OHW`, see their input's height and width as one axis (`IX,…->OX`, the
/// input reshaped from `[I, H, W]` to `[I, H·W]` and the output back). Over `H` as a batch
/// axis, tract makes one matrix product per image row, n = W wide (7 to 112 in the int8
/// MobileNetV2), and pays the fused requantisation, packing and dispatch of every tile per
/// row; over the merged axis it makes one product per convolution. Each position is computed
/// alone either way, so the values are the same.
pub fn flatten_quantised_pointwise(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    let formula = einsum.axes.to_string();
    let Some((inputs, output)) = formula.split_once("->") else {
        return Ok(None);
    };
    let mut inputs: Vec<String> = inputs.split(',').map(String::from).collect();
    let shape = model
        .outlet_fact(node.inputs[0])?
        .shape
        .as_concrete()
        .map(|s| s.to_vec());
    let (Some(shape), true) = (shape, einsum.q_params.is_some() && inputs.len() == 9) else {
        return Ok(None);
    };
    // The input's last two axes are the output's last two, and nothing else has them.
    let (first, out) = (inputs[0].clone(), output.to_string());
    let (Some(grid), true) = (
        first.get(first.len().saturating_sub(2)..),
        first.len() >= 3 && out.len() >= 3 && shape.len() == first.len(),
    ) else {
        return Ok(None);
    };
    if !out.ends_with(grid)
        || inputs[1..]
            .iter()
            .any(|i| i.chars().any(|c| grid.contains(c)))
        || shape[shape.len() - 2] == 1
    {
        return Ok(None);
    }
    let merged = &grid[..1];
    inputs[0] = format!("{}{merged}", &first[..first.len() - 2]);
    let out = format!("{}{merged}", &out[..out.len() - 2]);
    let axes = format!("{}->{out}", inputs.join(",")).parse()?;
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let (grid_dims, row_dims) = (tvec![h.to_dim(), w.to_dim()], tvec![(h * w).to_dim()]);
    let mut patch = TypedModelPatch::default();
    let mut wires = node
        .inputs
        .iter()
        .map(|&i| patch.tap_model(model, i))
        .collect::<TractResult<TVec<_>>>()?;
    wires[0] = patch.wire_node(
        format!("{}.flatten", node.name),
        AxisOp::Reshape(shape.len() - 2, grid_dims.clone(), row_dims.clone()),
        &[wires[0]],
    )?[0];
    let op = EinSum {
        axes,
        ..einsum.clone()
    };
    let y = patch.wire_node(&node.name, op, &wires)?[0];
    let y = patch.wire_node(
        format!("{}.unflatten", node.name),
        AxisOp::Reshape(out.len() - 1, row_dims, grid_dims),
        &[y],
    )?[0];
    patch.shunt_outside(model, node.id.into(), y)?;
    Ok(Some(patch))
}

#[cfg(test)]
mod tests {
    use crate::rewrite::before_codegen;
    use crate::rewrite::testing::{quantised_conv, same_bytes_as_tract};
    use tract_onnx::tract_core::internal::*;

    #[test]
    fn quantised_pointwise_convolutions_run_over_one_flattened_axis_with_tracts_bytes()
    -> TractResult<()> {
        for (shape, out_channels, y_scale) in [([5, 7, 9], 6, 0.3), ([16, 12, 12], 24, 1.5)] {
            let scales = [0.05, 0.01, y_scale];
            let model = quantised_conv(shape, (out_channels, 1), 1, 1, 0, (131, 0, 7), scales)?;
            let ours = before_codegen(model.clone())?;
            assert!(
                ours.nodes().iter().any(|n| n.name.ends_with(".flatten")),
                "{ours}"
            );
            let got = same_bytes_as_tract(model, ours, shape)?;
            let inside = got.iter().filter(|&&b| b != 0 && b != 255).count();
            assert!(inside > got.len() / 2, "{inside} of {}", got.len());
        }
        Ok(())
    }
}
