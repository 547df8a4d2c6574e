//! Rewrites of tract's optimised graph that tract does not make itself, through its
//! extension point for operators: `TypedOp`s of our own, patched in before the plan is built.
//! Each replaces a pattern tract runs through its generic code with one that computes the same
//! bits in a fraction of the instructions.

use icinfer_kernels::elementwise::{self, Arith, Bound, Scaling};
use icinfer_kernels::{depthwise_i8, planes, requantise};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::{OptBinChain, TypedBinOp};
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::cnn::conv::Im2Col;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::logic::Iff;
use tract_onnx::tract_core::ops::matmul::pack::{DynPackedExoticFact, OptMatMulPack};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearU8};
use tract_onnx::tract_core::tract_linalg;
use tract_onnx::tract_core::tract_linalg::mmm::{
    EagerPackedInput, MMMInputValue, PackedExoticFact, PackedMatrixStorage,
};
use tract_onnx::tract_core::tract_linalg::pack::PackedI8K4;

/// A node to replace: its id, the inputs its replacement takes, the replacement.
struct Replacement {
    node: usize,
    inputs: TVec<OutletId>,
    op: Box<dyn TypedOp>,
}

type Finder = fn(&TypedModel) -> TractResult<Option<Replacement>>;

/// Rewrites of tract's decluttered graph, before its codegen lowers the operators they
/// replace.
pub fn before_codegen(model: TypedModel) -> TractResult<TypedModel> {
    let model = flatten_quantised_pointwise(model)?;
    apply(model, &[byte_tables, quantised_depthwise])
}

/// A chain of element-wise operators from a byte tensor (u8 or i8) to a byte tensor of the
/// same shape, whose constant operands vary along one axis at most, as [`ByteTable`]: each
/// output byte is then a function of the input byte and its index on that axis, which tract's
/// own operators tabulate at load, 256 entries per index. The int8 MobileNetV2 takes u8 pixels
/// and normalises them per channel (`Cast`, `Mul`, `Add`, `QuantizeLinear`): 7.4 M of its
/// inference in tract's three passes (multiply and add fused), one a generic cast at 34
/// instructions a byte.
fn byte_tables(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let mut variable = node
            .inputs
            .iter()
            .filter(|&&i| model.outlet_fact(i).is_ok_and(|fact| fact.konst.is_none()));
        let (Some(&input), None) = (variable.next(), variable.next()) else {
            continue;
        };
        let fact = model.outlet_fact(input)?;
        let Some(shape) = fact.shape.as_concrete() else {
            continue;
        };
        if !is_byte(fact.datum_type) || model.node(input.node).op_is::<Mapped<ByteTable>>() {
            continue;
        }
        let Some(chain) = ByteChain::from(model, input, node.id, shape)? else {
            continue;
        };
        let table = chain.tabulate(model, fact.datum_type, shape)?;
        let output = model.outlet_fact(chain.last().into())?.datum_type;
        return Ok(Some(Replacement {
            node: chain.last(),
            inputs: tvec![input],
            op: Box::new(Mapped(ByteTable {
                axis: chain.axis,
                table,
                output,
            })),
        }));
    }
    Ok(None)
}

fn is_byte(datum_type: DatumType) -> bool {
    matches!(datum_type.unquantized(), DatumType::U8 | DatumType::I8)
}

/// A tabulable chain: its input, its nodes first to last, and the one axis its constants vary
/// along.
struct ByteChain {
    input: OutletId,
    nodes: Vec<usize>,
    axis: Option<usize>,
}

impl ByteChain {
    /// The longest chain from `first` that ends on a byte tensor: each node element-wise on its
    /// predecessor alone (other operands constant), of `shape`, each but the last read only by
    /// the next.
    fn from(
        model: &TypedModel,
        input: OutletId,
        first: usize,
        shape: &[usize],
    ) -> TractResult<Option<Self>> {
        let mut chain = ByteChain {
            input,
            nodes: vec![],
            axis: None,
        };
        let (mut end, mut id, mut wire) = (0, first, input);
        loop {
            let node = model.node(id);
            if !chain.admits(model, node, wire, shape)? {
                break;
            }
            chain.nodes.push(id);
            let outlet = OutletId::new(id, 0);
            if is_byte(model.outlet_fact(outlet)?.datum_type) {
                end = chain.nodes.len();
            }
            let successors = &node.outputs[0].successors;
            if node.outputs.len() != 1
                || successors.len() != 1
                || model.output_outlets()?.contains(&outlet)
            {
                break;
            }
            (id, wire) = (successors[0].node, outlet);
        }
        chain.nodes.truncate(end);
        Ok((!chain.nodes.is_empty()).then_some(chain))
    }

    fn last(&self) -> usize {
        *self.nodes.last().expect("a chain has a node")
    }

    /// Whether `node` is element-wise on `wire`, keeps `shape`, and takes no constant that
    /// varies along another axis than the chain's (which it then fixes).
    fn admits(
        &mut self,
        model: &TypedModel,
        node: &TypedNode,
        wire: OutletId,
        shape: &[usize],
    ) -> TractResult<bool> {
        if node.outputs.len() != 1
            || model.outlet_fact(node.id.into())?.shape.as_concrete() != Some(shape)
        {
            return Ok(false);
        }
        if node.op_is::<Cast>() || node.op_is::<ElementWiseOp>() {
            return Ok(node.inputs[..] == [wire]);
        }
        if !node.op_is::<TypedBinOp>() || node.inputs.len() != 2 {
            return Ok(false);
        }
        let Some(&constant) = node.inputs.iter().find(|&&i| i != wire) else {
            return Ok(false);
        };
        let Some(konst) = &model.outlet_fact(constant)?.konst else {
            return Ok(false);
        };
        if !node.inputs.contains(&wire) || konst.rank() != shape.len() {
            return Ok(false);
        }
        for (axis, (&k, &n)) in konst.shape().iter().zip(shape).enumerate() {
            if k == 1 {
                continue;
            }
            if k != n || self.axis.is_some_and(|a| a != axis) {
                return Ok(false);
            }
            self.axis = Some(axis);
        }
        Ok(true)
    }

    /// The chain's outputs for every byte at every index along its axis: tract's own
    /// operators, run on a tensor of `shape`'s rank that holds those 256 · n inputs and nothing
    /// else. Row `i` of the table, `table[256·i..][..256]`, is index `i`'s.
    fn tabulate(
        &self,
        model: &TypedModel,
        input: DatumType,
        shape: &[usize],
    ) -> TractResult<Vec<u8>> {
        let rank = shape.len();
        let channels = self.axis.map_or(1, |a| shape[a]);
        // Bytes along the last axis that is not the chain's; the rank-0 case has no table.
        let Some(byte_axis) = (0..rank).rev().find(|&a| Some(a) != self.axis) else {
            bail!("a byte table needs an axis for the bytes");
        };
        let mut table_shape = vec![1; rank];
        table_shape[byte_axis] = 256;
        if let Some(axis) = self.axis {
            table_shape[axis] = channels;
        }
        let bytes_first = self.axis.is_some_and(|a| a > byte_axis);
        let inputs: Vec<u8> = (0..channels * 256)
            .map(|i| if bytes_first { i / channels } else { i % 256 } as u8)
            .collect();
        let mut inputs = Tensor::from_shape(&table_shape, &inputs)?;
        // SAFETY: a byte type in place of a byte type.
        unsafe { inputs.set_datum_type(input) };

        let mut tabulator = TypedModel::default();
        let mut wire = tabulator.add_source("byte_table.input", input.fact(&table_shape))?;
        let mut previous = self.input;
        for &id in &self.nodes {
            let node = model.node(id);
            let mut wires = tvec![];
            for (slot, &outlet) in node.inputs.iter().enumerate() {
                wires.push(if outlet == previous {
                    wire
                } else {
                    let konst = model.outlet_fact(outlet)?.konst.clone();
                    let konst = konst.context("a chain's other operands are constants")?;
                    tabulator.add_const(format!("{}.{slot}", node.name), konst)?
                });
            }
            wire = tabulator.wire_node(&node.name, node.op.clone(), &wires)?[0];
            previous = id.into();
        }
        tabulator.select_output_outlets(&[wire])?;
        let outputs = tabulator
            .into_runnable()?
            .run(tvec![inputs.into_tvalue()])?;
        let outputs = outputs[0].try_as_plain_ram()?.as_bytes();
        Ok((0..channels * 256)
            .map(|i| {
                let (channel, byte) = (i / 256, i % 256);
                outputs[if bytes_first {
                    byte * channels + channel
                } else {
                    i
                }]
            })
            .collect())
    }
}

/// Quantised 1×1 convolutions, which tract's declutter turns into quantised `EinSum`s such as
/// `IHW,OI,O,,,,,,->OHW`, see their input's height and width as one axis (`IX,…->OX`, the
/// input reshaped from `[I, H, W]` to `[I, H·W]` and the output back). Over `H` as a batch
/// axis, tract makes one matrix product per image row, n = W wide (7 to 112 in the int8
/// MobileNetV2), and pays the fused requantisation, packing and dispatch of every tile per
/// row; over the merged axis it makes one product per convolution. Each position is computed
/// alone either way, so the values are the same.
fn flatten_quantised_pointwise(mut model: TypedModel) -> TractResult<TypedModel> {
    let mut patched = false;
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(einsum) = node.op_as::<EinSum>() else {
            continue;
        };
        let formula = einsum.axes.to_string();
        let Some((inputs, output)) = formula.split_once("->") else {
            continue;
        };
        let mut inputs: Vec<String> = inputs.split(',').map(String::from).collect();
        let shape = model
            .outlet_fact(node.inputs[0])?
            .shape
            .as_concrete()
            .map(|s| s.to_vec());
        let (Some(shape), true) = (shape, einsum.q_params.is_some() && inputs.len() == 9) else {
            continue;
        };
        // The input's last two axes are the output's last two, and nothing else has them.
        let (first, out) = (inputs[0].clone(), output.to_string());
        let (Some(grid), true) = (
            first.get(first.len().saturating_sub(2)..),
            first.len() >= 3 && out.len() >= 3 && shape.len() == first.len(),
        ) else {
            continue;
        };
        if !out.ends_with(grid)
            || inputs[1..]
                .iter()
                .any(|i| i.chars().any(|c| grid.contains(c)))
            || shape[shape.len() - 2] == 1
        {
            continue;
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
            .map(|&i| patch.tap_model(&model, i))
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
        patch.shunt_outside(&model, id.into(), y)?;
        patch.apply(&mut model)?;
        patched = true;
    }
    if patched {
        model = model.into_compact()?;
    }
    Ok(model)
}

/// Rewrites of tract's optimised graph, before the plan is built.
pub fn rewrite(model: TypedModel) -> TractResult<TypedModel> {
    apply(
        model,
        &[
            nan_guard,
            broadcast_binary,
            gelu_exact,
            dynamic_quantize,
            u8_as_i8,
            quantize,
            dequantize,
            requantise_chain,
            pack_i8k4,
            im2col_i8k4,
        ],
    )
}

/// Applies every rewrite, each until it finds nothing more to replace.
fn apply(model: TypedModel, finders: &[Finder]) -> TractResult<TypedModel> {
    let mut model = model;
    let mut patched = false;
    for find in finders {
        while let Some(Replacement { node, inputs, op }) = find(&model)? {
            TypedModelPatch::replace_single_op(&model, model.node(node), &inputs, op)?
                .apply(&mut model)?;
            patched = true;
        }
    }
    if patched {
        model = model.into_compact()?;
    }
    Ok(model)
}

/// `Iff(IsNan(x), c, x)` on f32, with `c` a constant scalar and no broadcasting, as
/// [`ReplaceNan`]. torch's exporter puts one after every attention softmax (all-MiniLM-L6-v2:
/// six, of [1, 12, 128, 128] each), and tract evaluates the pair with its generic
/// broadcasting select: 155 instructions an element, 182 M of MiniLM's inference.
fn nan_guard(model: &TypedModel) -> TractResult<Option<Replacement>> {
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
        let replacement_bits = replacement.cast_to_scalar::<f32>()?.to_bits();
        return Ok(Some(Replacement {
            node: node.id,
            inputs: tvec![value],
            op: Box::new(ReplaceNan { replacement_bits }),
        }));
    }
    Ok(None)
}

/// f32 `Add` and `Mul` whose smaller operand repeats along whole leading or trailing axes of
/// the other, as [`BroadcastBinary`]: the batch norms and squeeze-excitation products of the
/// PP-OCR models (`[3, 96, 88] + [1, 1, 88]`), which tract leaves to its generic broadcasting
/// code at about 80 instructions an element.
fn broadcast_binary(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(TypedBinOp(mini, None)) = node.op_as::<TypedBinOp>() else {
            continue;
        };
        let op = match mini.name() {
            "Add" => Arith::Add,
            "Mul" => Arith::Mul,
            _ => continue,
        };
        let &[a, b] = &node.inputs[..] else {
            continue;
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
            continue;
        };
        // Both operations commute bit for bit, so the full-sized operand goes first.
        let ((full, full_shape), (part, part_shape)) = if sa == so {
            ((a, sa), (b, sb))
        } else {
            ((b, sb), (a, sa))
        };
        if !f32_only || full_shape != so {
            continue;
        }
        let Some(layout) = Broadcast::of(full_shape, part_shape) else {
            continue;
        };
        return Ok(Some(Replacement {
            node: node.id,
            inputs: tvec![full, part],
            op: Box::new(BroadcastBinary { op, layout }),
        }));
    }
    Ok(None)
}

/// tract's `GeluExact` on f32, as [`GeluExactF32`]: the same arithmetic, with the two
/// element-wise passes around tract's SIMD `erf` vectorised too. tract-core runs them as scalar
/// loops compiled for size: 71 instructions an element, 84 M of MiniLM's inference.
fn gelu_exact(model: &TypedModel) -> TractResult<Option<Replacement>> {
    one_f32_input_named(model, "GeluExact", || Box::new(GeluExactF32))
}

/// The first node named `name` whose only input is f32, to be replaced by `op()` on it.
fn one_f32_input_named(
    model: &TypedModel,
    name: &str,
    op: impl Fn() -> Box<dyn TypedOp>,
) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        if node.op.name() != name
            || node.inputs.len() != 1
            || model.outlet_fact(node.inputs[0])?.datum_type != f32::datum_type()
        {
            continue;
        }
        return Ok(Some(Replacement {
            node: node.id,
            inputs: node.inputs.iter().copied().collect(),
            op: op(),
        }));
    }
    Ok(None)
}

/// tract-onnx's `DynamicQuantizeLinearU8` (on f32), as [`DynamicQuantizeU8`]: scalar loops
/// compiled for size, 92 instructions an element, 190 M of the int8 MiniLM's inference.
fn dynamic_quantize(model: &TypedModel) -> TractResult<Option<Replacement>> {
    one_f32_input_named(model, "DynamicQuantizeLinearU8", || {
        Box::new(DynamicQuantizeU8)
    })
}

/// tract-core's `OffsetU8asI8`, which hands u8 activations to the int8 kernels as i8 (`x − 128`,
/// the zero point moved along), as [`U8AsI8`]: a scalar loop at 20 instructions a byte, 41 M of
/// the int8 MiniLM's inference and 136 M of the int8 MobileNetV2's.
fn u8_as_i8(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        if node.op.name() != "OffsetU8asI8" || node.inputs.len() != 1 {
            continue;
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let output = model.outlet_fact(node.id.into())?;
        if input.datum_type.unquantized() != u8::datum_type()
            || output.datum_type.unquantized() != i8::datum_type()
        {
            continue;
        }
        return Ok(Some(Replacement {
            node: node.id,
            inputs: node.inputs.iter().copied().collect(),
            op: Box::new(Mapped(U8AsI8 {
                output: output.datum_type,
            })),
        }));
    }
    Ok(None)
}

/// tract's `OptMatMulPack` of an int8 activation into the `PackedI8K4` panels of our int8
/// kernels, as [`PackI8K4`]: tract's packer moves a byte at a time, 50 M instructions of the
/// int8 MobileNetV2's inference.
fn pack_i8k4(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        if !node.op_is::<OptMatMulPack>() || node.inputs.len() != 1 {
            continue;
        }
        let Some(packed) = output_exotic::<DynPackedExoticFact>(model, node)? else {
            continue;
        };
        let [format] = &packed.packers[..] else {
            continue;
        };
        let Some(format) = format.downcast_ref::<PackedI8K4>() else {
            continue;
        };
        let input = model.outlet_fact(node.inputs[0])?;
        let output = model.outlet_fact(node.id.into())?;
        let mapping = node
            .op
            .as_typed()
            .unwrap()
            .axes_mapping(&[input], &[output])?;
        let axis = |repr| mapping.axis(repr).map(|a| a.inputs[0][0]);
        if input.datum_type.size_of() != 1 || !matches!(format.r, 8 | 16) {
            continue;
        }
        return Ok(Some(Replacement {
            node: node.id,
            inputs: node.inputs.iter().copied().collect(),
            op: Box::new(PackI8K4 {
                format: format.clone(),
                k_axis: axis('K')?,
                mn_axis: axis('M')?,
            }),
        }));
    }
    Ok(None)
}

/// The panels of tract's `OptMatMulPack` with a `PackedI8K4` format, the same bytes:
/// icinfer_kernels::gemm_i8::pack_k4 where the mn axis is contiguous, else tract's packer.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct PackI8K4 {
    format: PackedI8K4,
    k_axis: usize,
    mn_axis: usize,
}

impl PackI8K4 {
    fn pack(&self, view: &TensorView) -> TractResult<Box<dyn MMMInputValue>> {
        let (k, mn) = (view.shape()[self.k_axis], view.shape()[self.mn_axis]);
        let strides = view.strides();
        if strides[self.mn_axis] != 1 || k == 0 || mn == 0 {
            return self.format.pack_view(view, self.k_axis, self.mn_axis);
        }
        let k_stride = strides[self.k_axis] as usize;
        // SAFETY: the view's bytes, from its first element to its last.
        let src = unsafe {
            std::slice::from_raw_parts(view.as_ptr_unchecked::<u8>(), (k - 1) * k_stride + mn)
        };
        Ok(packed_i8k4(&self.format, src, k_stride, (k, mn)))
    }

    fn output_shape<D: Clone>(&self, input: &[D]) -> TVec<D> {
        let mut shape: TVec<D> = input.into();
        shape.remove(self.mn_axis.max(self.k_axis));
        shape.remove(self.mn_axis.min(self.k_axis));
        shape
    }
}

impl Op for PackI8K4 {
    fn name(&self) -> StaticName {
        "PackI8K4".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?}, k axis {}, mn axis {}",
            self.format, self.k_axis, self.mn_axis
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackI8K4 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let output_shape = self.output_shape(input.shape());
        // One panel set per coordinate of the other axes, as tract's OptMatMulPack.
        let mut batch: TVec<usize> = input.shape().into();
        batch[self.k_axis] = 1;
        batch[self.mn_axis] = 1;
        let mut values: TVec<Box<dyn MMMInputValue>> = tvec![];
        for coord in tract_ndarray::indices(&*batch) {
            let offset: isize = tract_ndarray::Dimension::slice(&coord)
                .iter()
                .zip(input.strides())
                .map(|(&x, &s)| x as isize * s)
                .sum();
            // SAFETY: the offset of an element of `input` (bytes: one per element).
            let view =
                unsafe { TensorView::from_bytes(&input, offset, input.shape(), input.strides()) };
            values.push(self.pack(&view)?);
        }
        let stores =
            PackedMatrixStorage::new_batched(&output_shape, values).into_tensor(input.datum_type());
        Ok(tvec!(stores.into_tvalue()))
    }
}

impl TypedOp for PackI8K4 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        let packed = DynPackedExoticFact {
            k: shape[self.k_axis].clone(),
            mn: shape[self.mn_axis].clone(),
            packers: vec![Box::new(self.format.clone())],
        };
        Ok(tvec!(
            inputs[0]
                .datum_type
                .fact(self.output_shape(shape))
                .with_exotic_fact(packed)
        ))
    }

    as_op!();
}

/// The exotic fact of type `F` of `node`'s (first) output, if it has one.
fn output_exotic<'m, F: ExoticFact>(
    model: &'m TypedModel,
    node: &TypedNode,
) -> TractResult<Option<&'m F>> {
    let fact = model.outlet_fact(node.id.into())?;
    Ok(fact.exotic_fact().and_then(|f| f.downcast_ref::<F>()))
}

/// A `k × mn` matrix of bytes, row `kk` at `src[kk·k_stride..]`, as tract's packed input in
/// `format`: the panels icinfer_kernels::gemm_i8::pack_k4 writes.
fn packed_i8k4(
    format: &PackedI8K4,
    src: &[u8],
    k_stride: usize,
    (k, mn): (usize, usize),
) -> Box<dyn MMMInputValue> {
    let panel = 4 * format.r * k.div_ceil(4);
    // SAFETY: pack_k4 writes every byte of the blob.
    let mut blob =
        unsafe { Blob::new_for_size_and_align(mn.div_ceil(format.r) * panel, format.align) };
    icinfer_kernels::gemm_i8::pack_k4(src, k_stride, k, mn, format.r, blob.as_bytes_mut());
    Box::new(EagerPackedInput {
        fact: PackedExoticFact {
            format: Box::new(format.clone()),
            mn: mn.to_dim(),
            k,
        },
        packed: blob.into(),
        panel_bytes: panel,
        mn,
    })
}

/// tract's `Im2col` of an int8 convolution into the `PackedI8K4` panels of our int8 kernels,
/// as [`Im2colI8K4`]: tract writes its patches a byte at a time through a packing writer, 16 M
/// instructions for the first convolution of the int8 MobileNetV2 (3 channels, 224×224, 3×3
/// at stride 2), about 45 a byte.
fn im2col_i8k4(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(im2col) = node.op_as::<Im2Col>() else {
            continue;
        };
        let Some(packed) = output_exotic::<PackedExoticFact>(model, node)? else {
            continue;
        };
        let Some(format) = packed.format.downcast_ref::<PackedI8K4>() else {
            continue;
        };
        let spec = &im2col.pool_spec;
        let input = model.outlet_fact(node.inputs[0])?;
        let batched = match spec.data_format {
            DataFormat::NCHW => true,
            DataFormat::CHW => false,
            _ => continue,
        };
        let Some(shape) = input.shape.as_concrete() else {
            continue;
        };
        let strides = spec.strides();
        let pad_is_scalar = match node.inputs.get(1) {
            Some(&pad) => model.outlet_fact(pad)?.shape.volume() == 1.to_dim(),
            None => true,
        };
        if im2col.group != 1
            || spec.rank() != 2
            || shape.len() != if batched { 4 } else { 3 }
            || input.datum_type.size_of() != 1
            || !matches!(format.r, 8 | 16)
            || spec.dilations().iter().any(|&d| d != 1)
            || strides[0] != strides[1]
            || !matches!(strides[0], 1 | 2)
            || !pad_is_scalar
            || node.inputs.len() > 2
        {
            continue;
        }
        let [channels, height, width] = [
            shape[shape.len() - 3],
            shape[shape.len() - 2],
            shape[shape.len() - 1],
        ];
        let kernel = [spec.kernel_shape[0], spec.kernel_shape[1]];
        if packed.k != channels * kernel[0] * kernel[1] {
            continue;
        }
        let padding = spec.computed_padding(&[height, width]);
        return Ok(Some(Replacement {
            node: node.id,
            inputs: node.inputs.iter().copied().collect(),
            op: Box::new(Im2colI8K4 {
                format: format.clone(),
                batched,
                input: [channels, height, width],
                output: [padding[0].convoluted, padding[1].convoluted],
                kernel,
                stride: strides[0],
                pad_before: [padding[0].pad_before, padding[1].pad_before],
                pad_after: [padding[0].pad_after, padding[1].pad_after],
            }),
        }));
    }
    Ok(None)
}

/// The patches of a 2-D convolution (one group, no dilation, stride 1 or 2) in `PackedI8K4`
/// panels, the bytes of tract's `Im2col`: row `k = (c·kh + ky)·kw + kx` of the patch matrix
/// holds, for every output position, the input at `(oy·stride + ky, ox·stride + kx)` of
/// channel `c` padded with the pad value (tract's second input, else 0). Each row is gathered
/// from a padded plane eight bytes at a time, then the matrix is packed as [`PackI8K4`] packs.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Im2colI8K4 {
    format: PackedI8K4,
    /// A batch axis leads the input.
    batched: bool,
    /// Channels, height and width in; height and width out.
    input: [usize; 3],
    output: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad_before: [usize; 2],
    pad_after: [usize; 2],
}

impl Op for Im2colI8K4 {
    fn name(&self) -> StaticName {
        "Im2colI8K4".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel {:?} stride {} pad {:?} -> {:?}, {:?}",
            self.kernel, self.stride, self.pad_before, self.output, self.format
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Im2colI8K4 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [channels, height, width] = self.input;
        let [kh, kw] = self.kernel;
        let [oh, ow] = self.output;
        let (k, n) = (channels * kh * kw, oh * ow);
        let pad = match inputs.get(1) {
            Some(pad) => pad.try_as_plain_ram()?.as_bytes()[0],
            None => 0,
        };
        let input = &inputs[0];
        let mut padding =
            planes::Padding::new([height, width], self.pad_before, self.pad_after, pad);
        let mut patches = vec![0u8; k * n];
        let mut values: TVec<Box<dyn MMMInputValue>> = tvec![];
        for image in input
            .try_as_plain_ram()?
            .as_bytes()
            .chunks_exact(channels * height * width)
        {
            let mut rows = patches.chunks_exact_mut(n);
            for plane in image.chunks_exact(height * width) {
                padding.fill(plane, width);
                for (ky, kx) in (0..kh).flat_map(|ky| (0..kw).map(move |kx| (ky, kx))) {
                    let row = rows.next().expect("k rows");
                    for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                        let from = (oy * self.stride + ky) * padding.width() + kx;
                        planes::gather_row(&padding.bytes()[from..], self.stride, out);
                    }
                }
            }
            values.push(packed_i8k4(&self.format, &patches, n, (k, n)));
        }
        let batch = values.len();
        let stores =
            PackedMatrixStorage::new_batched(&[batch, 1], values).into_tensor(input.datum_type());
        Ok(tvec!(stores.into_tvalue()))
    }
}

impl TypedOp for Im2colI8K4 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [channels, ..] = self.input;
        let packed = PackedExoticFact {
            format: Box::new(self.format.clone()),
            k: channels * self.kernel[0] * self.kernel[1],
            mn: (self.output[0] * self.output[1]).to_dim(),
        };
        let batch = if self.batched {
            inputs[0].shape[0].clone()
        } else {
            1.to_dim()
        };
        Ok(tvec!(
            inputs[0]
                .datum_type
                .fact(&[batch, 1.to_dim()])
                .with_exotic_fact(packed)
        ))
    }

    as_op!();
}

/// Bytes mapped through a table of 256 entries per index along `axis` (one table if none):
/// a [`ByteChain`] in one pass.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ByteTable {
    axis: Option<usize>,
    /// Index `i`'s entries at `[256·i..][..256]`.
    table: Vec<u8>,
    output: DatumType,
}

impl Mapping for ByteTable {
    const NAME: &'static str = "ByteTable";

    fn output_type(&self) -> DatumType {
        self.output
    }

    fn info(&self) -> Vec<String> {
        vec![format!(
            "axis: {:?}, {} tables",
            self.axis,
            self.table.len() / 256
        )]
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        let shape = input.shape();
        // Runs of `inner` bytes share an index along the axis, which cycles through the tables.
        let inner: usize = self
            .axis
            .map_or(input.len(), |a| shape[a + 1..].iter().product());
        let tables = self.table.as_chunks::<256>().0;
        ensure!(self.axis.is_none_or(|a| shape[a] == tables.len()));
        let from = input.try_as_plain_ram()?.as_bytes().chunks(inner.max(1));
        for ((into, from), table) in output
            .try_as_plain_ram_mut()?
            .as_bytes_mut()
            .chunks_mut(inner.max(1))
            .zip(from)
            .zip(tables.iter().cycle())
        {
            elementwise::look_up(into, from, table);
        }
        Ok(())
    }
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

/// A quantised depthwise convolution (one group per channel, NCHW, 2-D, u8 or i8 in and out,
/// every parameter constant and per tensor), as [`QuantisedDepthwise`]. tract lowers it to an
/// im2col, one matrix product per channel with a single row, and a chain of element-wise
/// zero-point, scale and clamp operators: 146 instructions per multiply-accumulate, 2.9 B of
/// the int8 MobileNetV2's 4.7 B.
fn quantised_depthwise(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        if let Some(op) = QuantisedDepthwise::of(model, node, conv)? {
            return Ok(Some(Replacement {
                node: node.id,
                inputs: tvec![node.inputs[0]],
                op: Box::new(op),
            }));
        }
    }
    Ok(None)
}

/// tract-core's `QuantizeLinearU8` on f32, as [`QuantizeU8`]: the statically quantised
/// MobileNetV2 quantises every activation its float operators (residual additions, clips)
/// produce, 90 instructions an element in tract's scalar loop, 577 M of its inference.
fn quantize(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(op) = node.op_as::<ElementWiseOp>() else {
            continue;
        };
        let Some(q) = op.0.downcast_ref::<QuantizeLinearU8>() else {
            continue;
        };
        let &[input] = &node.inputs[..] else {
            continue;
        };
        let output = model.outlet_fact(node.id.into())?;
        if model.outlet_fact(input)?.datum_type != f32::datum_type()
            || output.datum_type.unquantized() != u8::datum_type()
        {
            continue;
        }
        return Ok(Some(Replacement {
            node: node.id,
            inputs: tvec![input],
            op: Box::new(Mapped(QuantizeU8 {
                scale_bits: q.scale.to_bits(),
                zero_point: q.zero_point,
                output: output.datum_type,
            })),
        }));
    }
    Ok(None)
}

/// tract-core's `DequantizeLinearF32` on u8 or i8, as [`DequantizeF32`]: 26 instructions an
/// element in tract's scalar loop, 168 M of the statically quantised MobileNetV2's inference.
fn dequantize(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(op) = node.op_as::<DequantizeLinearF32>() else {
            continue;
        };
        let &[input] = &node.inputs[..] else {
            continue;
        };
        let signed = match model.outlet_fact(input)?.datum_type {
            DatumType::U8 => false,
            DatumType::I8 => true,
            _ => continue,
        };
        return Ok(Some(Replacement {
            node: node.id,
            inputs: tvec![input],
            op: Box::new(Mapped(DequantizeF32 {
                signed,
                zero_point: op.zero_point,
                scale_bits: op.scale.to_bits(),
            })),
        }));
    }
    Ok(None)
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

impl Op for QuantisedDepthwise {
    fn name(&self) -> StaticName {
        "QuantisedDepthwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "kernel {:?} stride {} pad {:?} -> {:?}",
            self.kernel, self.stride, self.pad_before, self.output
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QuantisedDepthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let [channels, height, width] = self.input;
        let mut shape: TVec<usize> = input.shape().into();
        let rank = shape.len();
        shape[rank - 2..].copy_from_slice(&self.output);
        let mut output = unsafe { Tensor::uninitialized_dt(self.output_type, &shape)? };
        // One padded plane, reused: the border stays x0, the inside is each channel in turn.
        let mut padding = planes::Padding::new(
            [height, width],
            self.pad_before,
            self.pad_after,
            self.x0 as u8,
        );
        let requantise = requantise::Requantise::new(f32::from_bits(self.scale_bits));
        let taps = self.kernel[0] * self.kernel[1];
        let bytes = input.try_as_plain_ram()?;
        let mut out_view = output.try_as_plain_ram_mut()?;
        let out_plane = self.output[0] * self.output[1];
        let out_bytes = out_view.as_bytes_mut();
        let signed_output = self.output_type.unquantized() == DatumType::I8;
        for (index, plane) in bytes.as_bytes().chunks_exact(height * width).enumerate() {
            padding.fill(plane, width);
            let channel = index % channels;
            depthwise_i8::Plane {
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

impl TypedOp for QuantisedDepthwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = inputs[0].shape.to_tvec();
        let rank = shape.len();
        shape[rank - 2] = self.output[0].to_dim();
        shape[rank - 1] = self.output[1].to_dim();
        Ok(tvec!(self.output_type.fact(shape)))
    }

    as_op!();
}

/// [`DequantizeF32`], a clip (tract's `OptBinChain` of `Max` and `Min` by constants) and
/// [`QuantizeU8`] in a row, each read only by the next, as [`RequantiseClipped`]: how the
/// statically quantised MobileNetV2 applies ReLU6 in f32 between its quantised convolutions
/// (5.5 instructions an element for the clip, 16.5 for the three).
fn requantise_chain(model: &TypedModel) -> TractResult<Option<Replacement>> {
    for node in model.nodes() {
        let Some(Mapped(quantize)) = node.op_as::<Mapped<QuantizeU8>>() else {
            continue;
        };
        let clip = model.node(node.inputs[0].node);
        let Some(chain) = clip.op_as::<OptBinChain>() else {
            continue;
        };
        let dequantize = model.node(clip.inputs[0].node);
        let Some(Mapped(dq)) = dequantize.op_as::<Mapped<DequantizeF32>>() else {
            continue;
        };
        let only_reader = |outlet: OutletId| model.outlet_successors(outlet).len() == 1;
        if !only_reader(clip.inputs[0]) || !only_reader(node.inputs[0]) {
            continue;
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
            continue;
        }
        return Ok(Some(Replacement {
            node: node.id,
            inputs: tvec![dequantize.inputs[0]],
            op: Box::new(Mapped(RequantiseClipped {
                signed: dq.signed,
                in_zero_point: dq.zero_point,
                in_scale_bits: dq.scale_bits,
                bounds,
                out_scale_bits: quantize.scale_bits,
                out_zero_point: quantize.zero_point,
                output: quantize.output,
            })),
        }));
    }
    Ok(None)
}

/// `QuantizeU8(clip(DequantizeF32(x)))` in one pass, with the three operators' arithmetic
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
pub struct QuantizeU8 {
    /// The multiplier's bits: an `f32` is neither `Eq` nor `Hash`, as ops must be.
    scale_bits: u32,
    zero_point: u8,
    output: DatumType,
}

impl Mapping for QuantizeU8 {
    const NAME: &'static str = "QuantizeU8";

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
pub struct DequantizeF32 {
    signed: bool,
    zero_point: i32,
    scale_bits: u32,
}

impl Mapping for DequantizeF32 {
    const NAME: &'static str = "DequantizeF32";

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

/// An element-wise operator that writes a new tensor of its input's shape: what [`Mapped`]
/// makes a tract operator of.
pub trait Mapping: std::fmt::Debug + Clone + std::hash::Hash + Eq + Send + Sync + 'static {
    const NAME: &'static str;

    /// The output's element type.
    fn output_type(&self) -> DatumType;

    /// Parameters, for profiles.
    fn info(&self) -> Vec<String> {
        vec![]
    }

    /// Fills `output`, uninitialised, of the input's shape and [`Mapping::output_type`].
    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()>;
}

/// The tract operator of a [`Mapping`].
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Mapped<M>(M);

impl<M: Mapping> Op for Mapped<M> {
    fn name(&self) -> StaticName {
        M::NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(self.0.info())
    }

    op_as_typed_op!();
}

impl<M: Mapping> EvalOp for Mapped<M> {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let mut output = unsafe { Tensor::uninitialized_dt(self.0.output_type(), input.shape())? };
        self.0.map(&input, &mut output)?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl<M: Mapping> TypedOp for Mapped<M> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.0.output_type().fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// ONNX's `DynamicQuantizeLinear` on f32, computed as tract-onnx computes it: the range of the
/// values and 0; `scale = (max − min) / 255`; the zero point `−min / scale` rounded to even and
/// clamped to [0, 255]; then every value divided by the scale, rounded to even, offset by the
/// zero point and saturated to u8. Outputs: the u8 tensor, the scale, the zero point.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct DynamicQuantizeU8;

impl Op for DynamicQuantizeU8 {
    fn name(&self) -> StaticName {
        "DynamicQuantizeU8".into()
    }

    op_as_typed_op!();
}

impl EvalOp for DynamicQuantizeU8 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

impl TypedOp for DynamicQuantizeU8 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(
            u8::fact(inputs[0].shape.clone()),
            f32::fact([0usize; 0]),
            u8::fact([0usize; 0])
        ))
    }

    as_op!();
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

impl Op for BroadcastBinary {
    fn name(&self) -> StaticName {
        "BroadcastBinary".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} by {:?}", self.op, self.layout)])
    }

    op_as_typed_op!();
}

impl EvalOp for BroadcastBinary {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

impl TypedOp for BroadcastBinary {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    as_op!();
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

impl Op for GeluExactF32 {
    fn name(&self) -> StaticName {
        "GeluExactF32".into()
    }

    op_as_typed_op!();
}

impl EvalOp for GeluExactF32 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

impl TypedOp for GeluExactF32 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::math;
    use tract_onnx::tract_core::ops::quant::offset_u8_as_i8;

    #[test]
    fn packing_i8_panels_writes_the_bytes_of_tracts_own_packer_for_every_batch() -> TractResult<()>
    {
        // [batch, k, mn] (k = 7: a last block of three), and [k, batch, mn]: k rows strided over
        // the batch, which the kernel reads in place.
        for (shape, k_axis) in [([2, 7, 19], 1), ([9, 3, 24], 0)] {
            let mn_axis = 2;
            let values: Vec<i8> = (0..shape.iter().product::<usize>())
                .map(|i| (i * 37 + 5) as u8 as i8)
                .collect();
            let input = Tensor::from_shape(&shape, &values)?;
            for r in [8, 16] {
                let format = PackedI8K4::new(r);
                let op = PackI8K4 {
                    format: format.clone(),
                    k_axis,
                    mn_axis,
                };
                let fact = i8::fact(shape);
                assert_eq!(
                    op.output_facts(&[&fact])?[0].shape.as_concrete(),
                    Some(&[shape[1 - k_axis]][..])
                );
                let packed = op.eval(
                    &EvalContext::out_of_plan(),
                    tvec!(input.clone().into_tvalue()),
                )?;
                let storage = packed[0].try_storage_as::<PackedMatrixStorage>()?;
                let batch = shape[1 - k_axis];
                assert_eq!(storage.values().len(), batch);
                for b in 0..batch {
                    let mut start = [0; 3];
                    start[1 - k_axis] = b;
                    let offset: isize = start
                        .iter()
                        .zip(input.strides())
                        .map(|(&x, &s)| x as isize * s)
                        .sum();
                    // SAFETY: element `start` of `input`.
                    let view = unsafe {
                        TensorView::from_bytes(&input, offset, input.shape(), input.strides())
                    };
                    let theirs = format.pack_view(&view, k_axis, mn_axis)?;
                    let [theirs, ours] = [&*theirs, storage.value_at_flat(b)]
                        .map(|v| v.downcast_ref::<EagerPackedInput>().unwrap());
                    assert_eq!(
                        ours.packed.as_bytes(),
                        theirs.packed.as_bytes(),
                        "{shape:?} r={r} batch {b}"
                    );
                    assert_eq!(
                        (ours.panel_bytes, ours.mn, ours.fact.k),
                        (theirs.panel_bytes, theirs.mn, theirs.fact.k)
                    );
                }
            }
        }
        Ok(())
    }

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

    /// The model's only output on these inputs.
    fn run_all(model: TypedModel, inputs: TVec<TValue>) -> TractResult<Tensor> {
        Ok(model.into_runnable()?.run(inputs)?.remove(0).into_tensor())
    }

    fn run(model: TypedModel, input: Tensor) -> TractResult<Tensor> {
        run_all(model, tvec!(input.into_tvalue()))
    }

    /// An f32 tensor's bits, to compare results exactly (NaNs included).
    fn bits(t: &Tensor) -> TractResult<Vec<u32>> {
        Ok(t.try_as_plain_ram()?
            .as_slice::<f32>()?
            .iter()
            .map(|x| x.to_bits())
            .collect())
    }

    #[test]
    fn a_nan_guard_becomes_one_op_with_the_same_results() -> TractResult<()> {
        let input = tensor2(&[[1.0f32, f32::NAN, -0.0], [f32::INFINITY, f32::NAN, 2.5]]);
        let model = guarded(-7.0)?;
        let expected = run(model.clone(), input.clone())?;
        let fused = rewrite(model)?;
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
        let fused = rewrite(model)?;
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
        let rewritten = rewrite(model)?;
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
        let rewritten = rewrite(model)?;
        assert!(rewritten.nodes().iter().any(|n| n.op_is::<GeluExactF32>()));
        let got = run(rewritten, input)?;
        assert_eq!(bits(&got)?, bits(&expected)?);
        Ok(())
    }

    use tract_onnx::pb;
    use tract_onnx::pb::tensor_proto::DataType as OnnxType;

    /// An ONNX graph input or output: name, element type, shape.
    fn value_info(name: &str, elem_type: OnnxType, shape: &[usize]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{Dimension, dimension};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: elem_type as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: shape
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(dimension::Value::DimValue(d as i64)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A one-node ONNX model through tract-onnx's parser and declutter: what tract's own
    /// operators for it compute (several are private to tract-onnx).
    fn onnx_model(
        node: pb::NodeProto,
        initializer: Vec<pb::TensorProto>,
        inputs: Vec<pb::ValueInfoProto>,
        outputs: Vec<pb::ValueInfoProto>,
    ) -> TractResult<TypedModel> {
        use tract_onnx::prelude::{Framework, InferenceModelExt};
        let proto = pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(pb::GraphProto {
                node: vec![node],
                initializer,
                input: inputs,
                output: outputs,
                ..Default::default()
            }),
            ..Default::default()
        };
        tract_onnx::onnx()
            .model_for_proto_model(&proto)?
            .into_typed()?
            .into_decluttered()
    }

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
            let ours = rewrite(model.clone())?;
            assert!(ours.nodes().iter().any(|n| n.op_is::<DynamicQuantizeU8>()));
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
            let ours = rewrite(model.clone())?;
            assert!(ours.nodes().iter().any(|n| n.op_is::<Mapped<U8AsI8>>()));
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
    fn quantize_and_dequantize_become_our_ops_with_tracts_values() -> TractResult<()> {
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
        let ours = rewrite(model.clone())?;
        for name in ["QuantizeU8", "DequantizeF32", "U8AsI8"] {
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

    /// A constant tensor of an ONNX model.
    fn initializer(
        name: &str,
        data_type: OnnxType,
        dims: &[usize],
        raw: Vec<u8>,
    ) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            data_type: data_type as i32,
            dims: dims.iter().map(|&d| d as i64).collect(),
            raw_data: raw,
            ..Default::default()
        }
    }

    /// ONNX `QLinearConv` on u8 [1, C, H, W] with the given output channels, groups, kernel
    /// size, stride and padding, deterministic weights, bias and quantisation parameters.
    fn quantised_conv(
        [c, h, w]: [usize; 3],
        (out_channels, group): (usize, usize),
        k: usize,
        stride: usize,
        pad: usize,
        (x0, k0, y0): (u8, i8, u8),
        scales: [f32; 3],
    ) -> TractResult<TypedModel> {
        let int = |name: &str, value: i64| pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: value,
            ..Default::default()
        };
        let ints = |name: &str, values: Vec<i64>| pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ints: values,
            ..Default::default()
        };
        let weights: Vec<u8> = (0..out_channels * c / group * k * k)
            .map(|i| ((i * 73 + 11) % 256) as u8)
            .collect();
        let bias: Vec<u8> = (0..out_channels as i32)
            .flat_map(|i| ((i * 7919) % 20011 - 10000).to_le_bytes())
            .collect();
        let scalar = |name: &str, t: OnnxType, raw: Vec<u8>| initializer(name, t, &[], raw);
        let node = pb::NodeProto {
            op_type: "QLinearConv".into(),
            input: ["x", "xs", "x0", "w", "ws", "w0", "ys", "y0", "b"]
                .map(String::from)
                .to_vec(),
            output: vec!["y".into()],
            attribute: vec![
                int("group", group as i64),
                ints("kernel_shape", vec![k as i64; 2]),
                ints("strides", vec![stride as i64; 2]),
                ints("pads", vec![pad as i64; 4]),
            ],
            ..Default::default()
        };
        let (oh, ow) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        onnx_model(
            node,
            vec![
                scalar("xs", OnnxType::Float, scales[0].to_le_bytes().to_vec()),
                scalar("x0", OnnxType::Uint8, vec![x0]),
                initializer(
                    "w",
                    OnnxType::Int8,
                    &[out_channels, c / group, k, k],
                    weights,
                ),
                scalar("ws", OnnxType::Float, scales[1].to_le_bytes().to_vec()),
                scalar("w0", OnnxType::Int8, vec![k0 as u8]),
                scalar("ys", OnnxType::Float, scales[2].to_le_bytes().to_vec()),
                scalar("y0", OnnxType::Uint8, vec![y0]),
                initializer("b", OnnxType::Int32, &[out_channels], bias),
            ],
            vec![value_info("x", OnnxType::Uint8, &[1, c, h, w])],
            vec![value_info("y", OnnxType::Uint8, &[1, out_channels, oh, ow])],
        )
    }

    /// Runs a u8 [1, C, H, W] input through `model` optimised by tract alone and through
    /// `ours` (the model after `before_codegen`), asserts the output bytes are the same and
    /// returns them.
    fn same_bytes_as_tract(
        model: TypedModel,
        mut ours: TypedModel,
        [c, h, w]: [usize; 3],
    ) -> TractResult<Vec<u8>> {
        let bytes: Vec<u8> = (0..c * h * w)
            .map(|i| ((i * 97 + 13) % 256) as u8)
            .collect();
        let input = || -> TractResult<TVec<TValue>> {
            Ok(tvec!(
                Tensor::from_shape(&[1, c, h, w], &bytes)?.into_tvalue()
            ))
        };
        let expected = model
            .into_optimized()?
            .into_runnable()?
            .run(input()?)?
            .remove(0);
        ours.optimize()?;
        let got = ours.into_runnable()?.run(input()?)?.remove(0);
        assert_eq!(got.shape(), expected.shape());
        let got = got.try_as_plain_ram()?.as_bytes().to_vec();
        assert_eq!(
            got,
            expected.try_as_plain_ram()?.as_bytes(),
            "[{c}, {h}, {w}]"
        );
        Ok(got)
    }

    /// `input → Cast f32 → · scale → + shift → QuantizeLinear` with `scale` and `shift` of
    /// `constants`' shape: a normalisation of pixels per channel, then quantised.
    fn normalised(
        input: TypedFact,
        constants: &[usize],
        output: (f32, u8),
    ) -> TractResult<TypedModel> {
        use tract_onnx::tract_core::ops::{math, quant::quantize_linear_u8};
        let count = constants.iter().product::<usize>();
        let values = |a: f32, b: f32| -> TractResult<Tensor> {
            let v: Vec<f32> = (0..count).map(|i| a + b * i as f32).collect();
            Tensor::from_shape(constants, &v)
        };
        let mut model = TypedModel::default();
        let x = model.add_source("pixels", input)?;
        let x = model.wire_node("cast", Cast::new(f32::datum_type()), &[x])?[0];
        let scale = model.add_const("scale.k", values(0.0171, 0.0007)?)?;
        let x = model.wire_node("scale", math::mul(), &[scale, x])?[0];
        let shift = model.add_const("shift.k", values(-2.1, 0.3)?)?;
        let x = model.wire_node("shift", math::add(), &[x, shift])?[0];
        let y = model.wire_node("q", quantize_linear_u8(output.0, output.1), &[x])?[0];
        model.select_output_outlets(&[y])?;
        Ok(model)
    }

    #[test]
    fn element_wise_chains_between_byte_tensors_become_one_table_with_tracts_bytes()
    -> TractResult<()> {
        // Channels first and last (bytes tabulated before the channel axis), one table for all,
        // and i8 in.
        let cases = [
            (u8::datum_type(), [1, 3, 9, 11], [1, 3, 1, 1], Some(1)),
            (u8::datum_type(), [1, 6, 5, 3], [1, 1, 1, 3], Some(3)),
            (u8::datum_type(), [2, 3, 4, 5], [1, 1, 1, 1], None),
            (i8::datum_type(), [1, 4, 8, 8], [1, 4, 1, 1], Some(1)),
        ];
        for (dt, shape, constants, axis) in cases {
            let model = normalised(dt.fact(shape), &constants, (19.5, 111))?;
            let ours = before_codegen(model.clone())?;
            let tables: Vec<&Mapped<ByteTable>> =
                ours.nodes().iter().filter_map(|n| n.op_as()).collect();
            assert_eq!(tables.len(), 1, "{ours}");
            assert_eq!(tables[0].0.axis, axis);
            assert_eq!(ours.nodes().len(), 2, "{ours}");
            let len = shape.iter().product::<usize>();
            let mut input = Tensor::from_shape(
                &shape,
                &(0..len).map(|i| (i * 97 + 13) as u8).collect::<Vec<_>>(),
            )?;
            unsafe { input.set_datum_type(dt) };
            let run = |m: TypedModel| -> TractResult<Vec<u8>> {
                let y = m.into_runnable()?.run(tvec![input.clone().into_tvalue()])?;
                Ok(y[0].try_as_plain_ram()?.as_bytes().to_vec())
            };
            let expected = run(model.into_optimized()?)?;
            let got = run(ours.into_optimized()?)?;
            assert_eq!(got, expected, "{shape:?}");
            let distinct = got.iter().collect::<std::collections::HashSet<_>>().len();
            assert!(distinct > 50, "{distinct}");
        }
        Ok(())
    }

    #[test]
    fn chains_that_are_no_byte_table_are_left_alone() -> TractResult<()> {
        // Constants that vary along two axes; a chain that ends in f32.
        let model = normalised(u8::fact([1, 3, 4, 4]), &[1, 3, 4, 1], (19.5, 111))?;
        let ours = before_codegen(model)?;
        assert!(
            !ours.nodes().iter().any(|n| n.op_is::<Mapped<ByteTable>>()),
            "{ours}"
        );
        let mut model = TypedModel::default();
        let x = model.add_source("pixels", u8::fact([1, 3, 4, 4]))?;
        let y = model.wire_node("cast", Cast::new(f32::datum_type()), &[x])?[0];
        model.select_output_outlets(&[y])?;
        let ours = before_codegen(model)?;
        assert!(
            !ours.nodes().iter().any(|n| n.op_is::<Mapped<ByteTable>>()),
            "{ours}"
        );
        Ok(())
    }

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
                ours.nodes().iter().any(|n| n.op_is::<QuantisedDepthwise>()),
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
            let ours = rewrite(model.clone())?;
            assert!(
                ours.nodes()
                    .iter()
                    .any(|n| n.op_is::<Mapped<RequantiseClipped>>())
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
