//! Quantised depthwise convolutions computed directly, one channel plane at a time.

use super::mapping::Operator;
use super::replace;
use icinfer_kernels::depthwise_i8::{self, Plane};
use icinfer_kernels::planes::Padding;
use icinfer_kernels::requantise::Requantise;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// A quantised depthwise convolution (one group per channel, NCHW, 2-D, u8 or i8 in and out,
/// every parameter constant and per tensor), as [`QuantisedDepthwise`]. tract lowers it to an
/// im2col, one matrix product per channel with a single row, and a chain of element-wise
/// zero-point, scale and clamp operators: 146 instructions per multiply-accumulate, 2.9 B of
/// the int8 MobileNetV2's 4.7 B.
pub fn quantised_depthwise(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    match QuantisedDepthwise::of(model, node, conv)? {
        Some(op) => replace(model, node, &[node.inputs[0]], op),
        None => Ok(None),
    }
}

/// A quantised depthwise convolution computed directly, with tract's arithmetic: per output,
/// `bias + Σ (x − x0)·(w − k0)` over the taps (tract pads with `x0`, which adds nothing), the sum
/// scaled by `k_scale·x_scale / y_scale` with tract's rounding (ties to even), plus `y0`,
/// saturated to the output type. The kernel is icinfer_kernels::depthwise_i8.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct QuantisedDepthwise {
    /// Channels, height and width in; height and width out (a batch axis, if any, leads both).
    input: [usize; 3],
    output: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad_before: [usize; 2],
    pad_after: [usize; 2],
    /// `w − k0`, [C, kh, kw].
    weights: Vec<i16>,
    bias: Vec<i32>,
    x0: i16,
    signed_input: bool,
    /// The scale's bits: an `f32` is neither `Eq` nor `Hash`, as ops must be.
    scale_bits: u32,
    y0: i32,
    output_type: DatumType,
}

impl QuantisedDepthwise {
    /// The operator for `node` if it is a convolution this op computes.
    fn of(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        let channels = spec.input_channels;
        let &[x, kernel, bias, x0, x_scale, k0, k_scale, y0, y_scale] = &node.inputs[..] else {
            return Ok(None);
        };
        let batched = match spec.data_format {
            DataFormat::NCHW => true,
            DataFormat::CHW => false,
            _ => return Ok(None),
        };
        let strides = spec.strides();
        if conv.q_params.is_none()
            || conv.kernel_fmt != KernelFormat::OIHW
            || spec.rank() != 2
            || conv.group != channels
            || spec.output_channels != channels
            || spec.dilations().iter().any(|&d| d != 1)
            || strides[0] != strides[1]
            || !matches!(strides[0], 1 | 2)
            || spec.kernel_shape.iter().product::<usize>() > depthwise_i8::MAX_TAPS
        {
            return Ok(None);
        }
        let x_fact = model.outlet_fact(x)?;
        let signed_input = match x_fact.datum_type.unquantized() {
            DatumType::U8 => false,
            DatumType::I8 => true,
            _ => return Ok(None),
        };
        let output_fact = model.outlet_fact(node.id.into())?;
        if !matches!(
            output_fact.datum_type.unquantized(),
            DatumType::U8 | DatumType::I8
        ) {
            return Ok(None);
        }
        let (Some(input), Some(output)) =
            (x_fact.shape.as_concrete(), output_fact.shape.as_concrete())
        else {
            return Ok(None);
        };
        // The batch, if any, leads; then channels, height, width.
        let rank = if batched { 4 } else { 3 };
        if input.len() != rank || output.len() != rank || output[..rank - 2] != input[..rank - 2] {
            return Ok(None);
        }
        let (input, output) = (&input[rank - 3..], &output[rank - 2..]);
        let constant = |outlet: OutletId| model.outlet_fact(outlet).map(|f| f.konst.clone());
        let (Some(kernel), Some(bias)) = (constant(kernel)?, constant(bias)?) else {
            return Ok(None);
        };
        let mut scales = [0f32; 3];
        for (value, outlet) in scales.iter_mut().zip([x_scale, k_scale, y_scale]) {
            match constant(outlet)? {
                Some(t) if t.len() == 1 && t.datum_type() == f32::datum_type() => {
                    *value = t.cast_to_scalar::<f32>()?
                }
                _ => return Ok(None),
            }
        }
        let mut zero_points = [0i32; 3];
        for (value, outlet) in zero_points.iter_mut().zip([x0, k0, y0]) {
            match constant(outlet)? {
                Some(t) if t.len() == 1 && !t.datum_type().is_float() => {
                    *value = t.cast_to_scalar::<i32>()?
                }
                _ => return Ok(None),
            }
        }
        let [x_scale, k_scale, y_scale] = scales;
        let [x0, k0, y0] = zero_points;
        let [kh, kw] = [spec.kernel_shape[0], spec.kernel_shape[1]];
        if input[0] != channels
            || kernel.datum_type().unquantized() != DatumType::I8
            || kernel.shape() != [channels, 1, kh, kw]
            || bias.len() != channels
            || !(-128..=255).contains(&x0)
            || !(-128..=127).contains(&k0)
        {
            return Ok(None);
        }
        let padding = spec.computed_padding(&input[1..]);
        if padding.iter().zip(output).any(|(p, &o)| p.convoluted != o) {
            return Ok(None);
        }
        let weights = kernel
            .try_as_plain_ram()?
            .as_bytes()
            .iter()
            .map(|&w| i16::from(w as i8) - k0 as i16)
            .collect();
        // tract's combine_scales: k_scale · x_scale, then / y_scale.
        let scale = (k_scale * x_scale) / y_scale;
        Ok(Some(QuantisedDepthwise {
            input: [input[0], input[1], input[2]],
            output: [output[0], output[1]],
            kernel: [kh, kw],
            stride: strides[0],
            pad_before: [padding[0].pad_before, padding[1].pad_before],
            pad_after: [padding[0].pad_after, padding[1].pad_after],
            weights,
            bias: bias
                .cast_to::<i32>()?
                .try_as_plain_ram()?
                .as_slice::<i32>()?
                .to_vec(),
            x0: x0 as i16,
            signed_input,
            scale_bits: scale.to_bits(),
            y0,
            output_type: output_fact.datum_type,
        }))
    }
}

impl Operator for QuantisedDepthwise {
    const NAME: &'static str = "QuantisedDepthwise";

    fn info(&self) -> Vec<String> {
        vec![format!(
            "kernel {:?} stride {} pad {:?} -> {:?}",
            self.kernel, self.stride, self.pad_before, self.output
        )]
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = inputs[0].shape.to_tvec();
        let rank = shape.len();
        shape[rank - 2] = self.output[0].to_dim();
        shape[rank - 1] = self.output[1].to_dim();
        Ok(tvec!(self.output_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let [channels, height, width] = self.input;
        let mut shape: TVec<usize> = input.shape().into();
        let rank = shape.len();
        shape[rank - 2..].copy_from_slice(&self.output);
        let mut output = unsafe { Tensor::uninitialized_dt(self.output_type, &shape)? };
        // One padded plane, reused: the border stays x0, the inside is each channel in turn.
        let mut padding = Padding::new(
            [height, width],
            self.pad_before,
            self.pad_after,
            self.x0 as u8,
        );
        let requantise = Requantise::new(f32::from_bits(self.scale_bits));
        let taps = self.kernel[0] * self.kernel[1];
        let bytes = input.try_as_plain_ram()?;
        let mut out_view = output.try_as_plain_ram_mut()?;
        let out_plane = self.output[0] * self.output[1];
        let out_bytes = out_view.as_bytes_mut();
        let signed_output = self.output_type.unquantized() == DatumType::I8;
        for (index, plane) in bytes.as_bytes().chunks_exact(height * width).enumerate() {
            padding.fill(plane, width);
            let channel = index % channels;
            Plane {
                padded: padding.bytes(),
                width: padding.width(),
                signed_input: self.signed_input,
                signed_output,
                x0: self.x0,
                weights: &self.weights[channel * taps..][..taps],
                kernel: self.kernel,
                stride: self.stride,
                bias: self.bias[channel],
                requantise: &requantise,
                y0: self.y0,
            }
            .convolve(
                &mut out_bytes[index * out_plane..],
                self.output[0],
                self.output[1],
            );
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::before_codegen;
    use crate::rewrite::mapping::Tract;
    use crate::rewrite::testing::{quantised_conv, same_bytes_as_tract};

    #[test]
    fn quantised_depthwise_convolutions_become_our_op_with_tracts_bytes() -> TractResult<()> {
        let cases = [
            // MobileNetV2's: 3×3, pad 1, strides 1 and 2, widths that are no multiple of 8.
            ([5, 14, 14], 3, 1, 1, (131, 0, 7), [0.05, 0.01, 0.7], true),
            ([4, 15, 13], 3, 2, 1, (0, 3, 100), [0.02, 0.013, 1.1], true),
            ([3, 9, 21], 5, 1, 2, (255, -9, 128), [0.1, 0.02, 5.0], true),
            ([2, 11, 10], 5, 2, 0, (77, 0, 0), [0.5, 0.25, 500.0], true),
            // A power of two, 2⁻⁸: every sum ≡ 128 (mod 256) is a tie, rounded to even.
            (
                [2, 30, 30],
                3,
                1,
                1,
                (128, 0, 128),
                [0.0625, 0.0625, 1.0],
                true,
            ),
            // A scale of exactly 1 (no scaling), and one too large for the f64 path: the
            // outputs saturate, but through other code.
            ([2, 6, 6], 3, 1, 1, (128, 0, 128), [0.5, 2.0, 1.0], false),
            ([2, 6, 6], 3, 1, 1, (128, 5, 128), [300.0, 2.0, 1.0], false),
        ];
        for (shape, k, stride, pad, zero_points, scales, varied) in cases {
            let depthwise = (shape[0], shape[0]);
            let model = quantised_conv(shape, depthwise, k, stride, pad, zero_points, scales)?;
            let ours = before_codegen(model.clone())?;
            assert!(
                ours.nodes()
                    .iter()
                    .any(|n| n.op_is::<Tract<QuantisedDepthwise>>()),
                "{shape:?} k={k} stride={stride}"
            );
            let got = same_bytes_as_tract(model, ours, shape)?;
            // Mostly unsaturated, or the comparison would say little.
            let inside = got.iter().filter(|&&b| b != 0 && b != 255).count();
            assert!(
                !varied || inside > got.len() / 2,
                "{shape:?} k={k} stride={stride}: {inside} of {}",
                got.len()
            );
        }
        Ok(())
    }
}
