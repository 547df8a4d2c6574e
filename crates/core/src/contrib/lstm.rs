//! `com.microsoft.DynamicQuantizeLSTM`: an ONNX LSTM whose weights are int8 (or uint8),
//! as onnxruntime's quantiser writes it, computed as onnxruntime's CPU kernel does
//! (`contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc` over `UniDirectionalLstm`):
//! - `W` is `[directions, input, 4·hidden]` and `R` `[directions, hidden, 4·hidden]`
//!   (transposed against the ONNX LSTM), gates in ONNX's order i, o, f, c, with one scale
//!   per direction or per column and the first zero point of each direction;
//! - the whole input sequence is quantised to u8 once (one scale, one zero point), and the
//!   hidden state once per time step, by [`quantize`](super::quantize);
//! - the integer products are scaled to f32 and summed, then the gates are float: bias,
//!   clip, sigmoid, tanh, `C = C₋₁·f + i·c`, `H = tanh(C)·o`.
//!
//! Not reproduced, and refused: `sequence_lens` and activations other than the defaults.
//! onnxruntime also splits a batch above 4 (or of 2 to 4 with hidden ≤ 256) over its threads
//! and quantises each part's hidden state apart, which depends on the thread count; here the
//! hidden state of the whole batch is quantised together, onnxruntime's single-thread result.

use super::quantize::{Quantized, Weights, quantize};
use tract_onnx::model::{ParsingContext, optional_inputs, optional_outputs};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::{as_op, op_as_typed_op, op_out_of_plan};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_ndarray::{ArrayD, IxDyn};

/// The name the preparation pass gives the operator before tract parses it.
pub const REGISTERED: &str = "com.microsoft.DynamicQuantizeLSTM";

/// Where each optional input sits among the node's real inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slots {
    bias: Option<usize>,
    initial_h: Option<usize>,
    initial_c: Option<usize>,
    peepholes: Option<usize>,
    w_scale: usize,
    w_zero_point: usize,
    r_scale: usize,
    r_zero_point: usize,
    /// Which of Y, Y_h, Y_c the node names, in order.
    outputs: [bool; 3],
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DynamicQuantizeLstm {
    slots: Slots,
    hidden: usize,
    directions: usize,
    reverse_only: bool,
    input_forget: bool,
    /// The clip attribute's bits (f32 is not `Eq`); `f32::MAX` when absent.
    clip_bits: u32,
}

/// The operator builder tract's registry calls for a node named [`REGISTERED`].
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let slot: Vec<Option<usize>> = optional_inputs(node).take(12).collect();
    if slot[4].is_some() {
        bail!("DynamicQuantizeLSTM with sequence_lens is not supported");
    }
    let required = |i: usize, name: &str| {
        slot[i].ok_or_else(|| format_err!("DynamicQuantizeLSTM needs its {name} input"))
    };
    let direction = node.get_attr_opt::<&str>("direction")?.unwrap_or("forward");
    let (directions, reverse_only) = match direction {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => bail!("DynamicQuantizeLSTM: unknown direction {other}"),
    };
    if let Some(activations) = node.get_attr_opt_vec::<&str>("activations")? {
        let defaults = ["Sigmoid", "Tanh", "Tanh"];
        if activations
            .iter()
            .enumerate()
            .any(|(i, a)| !a.eq_ignore_ascii_case(defaults[i % 3]))
        {
            bail!(
                "DynamicQuantizeLSTM: only the default activations (Sigmoid, Tanh, Tanh) are supported"
            );
        }
    }
    let outputs: Vec<Option<usize>> = optional_outputs(node).take(3).collect();
    let op = DynamicQuantizeLstm {
        slots: Slots {
            bias: slot[3],
            initial_h: slot[5],
            initial_c: slot[6],
            peepholes: slot[7],
            w_scale: required(8, "W_scale")?,
            w_zero_point: required(9, "W_zero_point")?,
            r_scale: required(10, "R_scale")?,
            r_zero_point: required(11, "R_zero_point")?,
            outputs: [0, 1, 2].map(|i| outputs[i].is_some()),
        },
        hidden: node.get_attr::<i64>("hidden_size")?.try_into()?,
        directions,
        reverse_only,
        input_forget: node.get_attr_opt::<i64>("input_forget")?.unwrap_or(0) != 0,
        clip_bits: node
            .get_attr_opt::<f32>("clip")?
            .unwrap_or(f32::MAX)
            .to_bits(),
    };
    Ok((expand(op), vec![]))
}

impl Expansion for DynamicQuantizeLstm {
    fn name(&self) -> StaticName {
        "DynamicQuantizeLSTM".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.slots.outputs.iter().filter(|named| **named).count())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, self.nboutputs()?)?;
        let x = &inputs[0];
        s.equals(&x.datum_type, f32::datum_type())?;
        s.equals(&x.rank, 3)?;
        s.equals(&inputs[1].rank, 3)?;
        s.equals(&inputs[2].rank, 3)?;
        let mut named = 0;
        for (which, present) in self.slots.outputs.iter().enumerate() {
            if !present {
                continue;
            }
            let output = &outputs[named];
            named += 1;
            s.equals(&output.datum_type, f32::datum_type())?;
            if which == 0 {
                // Y: [sequence, directions, batch, hidden]
                s.equals(&output.rank, 4)?;
                s.equals(&output.shape[0], &x.shape[0])?;
                s.equals(&output.shape[1], self.directions.to_dim())?;
                s.equals(&output.shape[2], &x.shape[1])?;
                s.equals(&output.shape[3], self.hidden.to_dim())?;
            } else {
                // Y_h, Y_c: [directions, batch, hidden]
                s.equals(&output.rank, 3)?;
                s.equals(&output.shape[0], self.directions.to_dim())?;
                s.equals(&output.shape[1], &x.shape[1])?;
                s.equals(&output.shape[2], self.hidden.to_dim())?;
            }
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let all = model.wire_node(prefix, self.clone(), inputs)?;
        Ok((0..3)
            .filter(|&i| self.slots.outputs[i])
            .map(|i| all[i])
            .collect())
    }
}

impl Op for DynamicQuantizeLstm {
    fn name(&self) -> StaticName {
        "DynamicQuantizeLSTM".into()
    }

    op_as_typed_op!();
}

impl TypedOp for DynamicQuantizeLstm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = &inputs[0].shape;
        ensure!(
            x.rank() == 3,
            "DynamicQuantizeLSTM: X must be [sequence, batch, input]"
        );
        let (dirs, hidden) = (self.directions.to_dim(), self.hidden.to_dim());
        let y = f32::fact([x[0].clone(), dirs.clone(), x[1].clone(), hidden.clone()]);
        let state = f32::fact([dirs, x[1].clone(), hidden]);
        Ok(tvec![y, state.clone(), state])
    }

    as_op!();
}

impl EvalOp for DynamicQuantizeLstm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let &[sequence, batch, input] = x.shape() else {
            bail!("DynamicQuantizeLSTM: X must be [sequence, batch, input]");
        };
        let x: Vec<f32> = x.iter().copied().collect();
        let (h, dirs) = (self.hidden, self.directions);
        let mut y = vec![0f32; sequence * dirs * batch * h];
        let mut y_h = vec![0f32; dirs * batch * h];
        let mut y_c = vec![0f32; dirs * batch * h];
        let optional = |slot: Option<usize>, len: usize, dir: usize| -> TractResult<Vec<f32>> {
            match slot {
                None => Ok(vec![]),
                Some(i) => {
                    let all = values::<f32>(&inputs[i])?;
                    ensure!(
                        all.len() == dirs * len,
                        "DynamicQuantizeLSTM: input {i} has {} values",
                        all.len()
                    );
                    Ok(all[dir * len..(dir + 1) * len].to_vec())
                }
            }
        };
        for dir in 0..dirs {
            let direction = Direction {
                input_weights: self.weights(
                    &inputs,
                    1,
                    self.slots.w_scale,
                    self.slots.w_zero_point,
                    dir,
                    input,
                )?,
                recurrent_weights: self.weights(
                    &inputs,
                    2,
                    self.slots.r_scale,
                    self.slots.r_zero_point,
                    dir,
                    h,
                )?,
                bias: optional(self.slots.bias, 8 * h, dir)?,
                peepholes: optional(self.slots.peepholes, 3 * h, dir)?,
                initial_h: optional(self.slots.initial_h, batch * h, dir)?,
                initial_c: optional(self.slots.initial_c, batch * h, dir)?,
                reverse: dir == 1 || self.reverse_only,
            };
            let run = self.run(&direction, &x, sequence, batch, input);
            for t in 0..sequence {
                let at = ((t * dirs + dir) * batch) * h;
                y[at..at + batch * h].copy_from_slice(&run.y[t * batch * h..(t + 1) * batch * h]);
            }
            y_h[dir * batch * h..(dir + 1) * batch * h].copy_from_slice(&run.h);
            y_c[dir * batch * h..(dir + 1) * batch * h].copy_from_slice(&run.c);
        }
        let tensor = |shape: &[usize], data: Vec<f32>| -> TractResult<TValue> {
            Ok(ArrayD::from_shape_vec(IxDyn(shape), data)?.into_tvalue())
        };
        Ok(tvec![
            tensor(&[sequence, dirs, batch, h], y)?,
            tensor(&[dirs, batch, h], y_h)?,
            tensor(&[dirs, batch, h], y_c)?,
        ])
    }
}

/// One direction's weights and initial state.
struct Direction {
    input_weights: Weights,
    recurrent_weights: Weights,
    bias: Vec<f32>,
    peepholes: Vec<f32>,
    initial_h: Vec<f32>,
    initial_c: Vec<f32>,
    reverse: bool,
}

/// One direction's outputs in its own time order put back into the input's:
/// `y` is `[sequence, batch, hidden]`.
struct Run {
    y: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
}

/// A tensor's values, in order.
fn values<T: Datum>(value: &TValue) -> TractResult<&[T]> {
    value
        .to_plain_array_view::<T>()?
        .to_slice()
        .context("DynamicQuantizeLSTM: an input is not contiguous")
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl DynamicQuantizeLstm {
    /// The direction's `[k, 4·hidden]` weights, less the direction's zero point (onnxruntime
    /// reads the first of them), with the direction's scales.
    fn weights(
        &self,
        inputs: &[TValue],
        weights: usize,
        scale: usize,
        zero_point: usize,
        dir: usize,
        k: usize,
    ) -> TractResult<Weights> {
        let n = 4 * self.hidden;
        let scales = values::<f32>(&inputs[scale])?;
        let per_direction = scales.len() / self.directions;
        ensure!(
            (per_direction == 1 || per_direction == n)
                && scales.len() == per_direction * self.directions,
            "DynamicQuantizeLSTM: a scale input has {} values",
            scales.len()
        );
        let weights = &inputs[weights];
        let zero_points = &inputs[zero_point];
        ensure!(
            weights.shape() == [self.directions, k, n],
            "DynamicQuantizeLSTM: weights of shape {:?}, expected {:?}",
            weights.shape(),
            [self.directions, k, n]
        );
        let range = dir * k * n..(dir + 1) * k * n;
        let zp_at = dir * per_direction;
        let centered: Vec<i16> = match weights.datum_type() {
            DatumType::I8 => {
                let zp = i16::from(values::<i8>(zero_points)?[zp_at]);
                values::<i8>(weights)?[range]
                    .iter()
                    .map(|&w| i16::from(w) - zp)
                    .collect()
            }
            DatumType::U8 => {
                let zp = i16::from(values::<u8>(zero_points)?[zp_at]);
                values::<u8>(weights)?[range]
                    .iter()
                    .map(|&w| i16::from(w) - zp)
                    .collect()
            }
            other => bail!("DynamicQuantizeLSTM: weights of type {other:?}, expected i8 or u8"),
        };
        Ok(Weights {
            centered,
            k,
            n,
            scales: scales[zp_at..zp_at + per_direction].to_vec(),
        })
    }

    fn run(&self, d: &Direction, x: &[f32], sequence: usize, batch: usize, input: usize) -> Run {
        let h = self.hidden;
        let clip = f32::from_bits(self.clip_bits);
        let step_len = batch * input;
        // The reverse direction reads the sequence backwards (onnxruntime reverses the input
        // first; the quantisation of the whole input does not depend on its order).
        let ordered: Vec<f32> = if d.reverse {
            (0..sequence)
                .rev()
                .flat_map(|t| x[t * step_len..(t + 1) * step_len].iter().copied())
                .collect()
        } else {
            x.to_vec()
        };
        let mut gates = vec![0f32; sequence * batch * 4 * h];
        d.input_weights
            .multiply(&quantize(&ordered), sequence * batch, &mut gates, false);
        // W's and R's biases, summed once, per gate.
        let bias: Vec<f32> = if d.bias.is_empty() {
            vec![]
        } else {
            (0..4 * h).map(|j| d.bias[j] + d.bias[j + 4 * h]).collect()
        };
        let mut hidden = if d.initial_h.is_empty() {
            vec![0f32; batch * h]
        } else {
            d.initial_h.clone()
        };
        let mut cell = if d.initial_c.is_empty() {
            vec![0f32; batch * h]
        } else {
            d.initial_c.clone()
        };
        let mut y = vec![0f32; sequence * batch * h];
        let activate = |values: &mut [f32], bias_at: usize, f: fn(f32) -> f32| {
            for (j, v) in values.iter_mut().enumerate() {
                let with_bias = if bias.is_empty() {
                    *v
                } else {
                    *v + bias[bias_at + j]
                };
                *v = f(with_bias.min(clip).max(-clip));
            }
        };
        for step in 0..sequence {
            let step_gates = &mut gates[step * batch * 4 * h..(step + 1) * batch * 4 * h];
            let hidden_q: Quantized = quantize(&hidden);
            d.recurrent_weights
                .multiply(&hidden_q, batch, step_gates, true);
            for b in 0..batch {
                let g = &mut step_gates[b * 4 * h..(b + 1) * 4 * h];
                let (i, rest) = g.split_at_mut(h);
                let (o, rest) = rest.split_at_mut(h);
                let (f, c) = rest.split_at_mut(h);
                let c_prev = &mut cell[b * h..(b + 1) * h];
                if !d.peepholes.is_empty() {
                    let (p_i, rest) = d.peepholes.split_at(h);
                    let p_f = &rest[h..];
                    for (j, &c) in c_prev.iter().enumerate() {
                        i[j] += c * p_i[j];
                        f[j] += c * p_f[j];
                    }
                }
                activate(i, 0, sigmoid);
                if self.input_forget {
                    for (f, &i) in f.iter_mut().zip(i.iter()) {
                        *f = 1.0 - i;
                    }
                } else {
                    activate(f, 2 * h, sigmoid);
                }
                activate(c, 3 * h, f32::tanh);
                for (j, cell) in c_prev.iter_mut().enumerate() {
                    *cell = *cell * f[j] + i[j] * c[j];
                }
                if !d.peepholes.is_empty() {
                    let p_o = &d.peepholes[h..2 * h];
                    for (j, o) in o.iter_mut().enumerate() {
                        *o += c_prev[j] * p_o[j];
                    }
                }
                activate(o, h, sigmoid);
                for ((out, &cell), &o) in hidden[b * h..(b + 1) * h]
                    .iter_mut()
                    .zip(c_prev.iter())
                    .zip(o.iter())
                {
                    *out = cell.tanh() * o;
                }
            }
            let t = if d.reverse { sequence - 1 - step } else { step };
            y[t * batch * h..(t + 1) * batch * h].copy_from_slice(&hidden);
        }
        Run {
            y,
            h: hidden,
            c: cell,
        }
    }
}
