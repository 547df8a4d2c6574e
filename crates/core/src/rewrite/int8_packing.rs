//! int8 activations and im2col patches packed straight into the `PackedI8K4` panels of our
//! int8 kernels (icinfer_kernels::gemm_i8), where tract moves a byte at a time.

use super::mapping::Operator;
use super::replace;
use icinfer_kernels::planes;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::conv::Im2Col;
use tract_onnx::tract_core::ops::matmul::pack::{DynPackedExoticFact, OptMatMulPack};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg::mmm::{
    EagerPackedInput, MMMInputValue, PackedExoticFact, PackedMatrixStorage,
};
use tract_onnx::tract_core::tract_linalg::pack::PackedI8K4;

/// tract's `OptMatMulPack` of an int8 activation into the `PackedI8K4` panels of our int8
/// kernels, as [`PackI8K4`]: tract's packer moves a byte at a time, 50 M instructions of the
/// int8 MobileNetV2's inference.
pub fn pack_i8k4(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    if !node.op_is::<OptMatMulPack>() || node.inputs.len() != 1 {
        return Ok(None);
    }
    let Some(packed) = output_exotic::<DynPackedExoticFact>(model, node)? else {
        return Ok(None);
    };
    let [format] = &packed.packers[..] else {
        return Ok(None);
    };
    let Some(format) = format.downcast_ref::<PackedI8K4>() else {
        return Ok(None);
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
        return Ok(None);
    }
    replace(
        model,
        node,
        &node.inputs,
        PackI8K4 {
            format: format.clone(),
            k_axis: axis('K')?,
            mn_axis: axis('M')?,
        },
    )
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

impl Operator for PackI8K4 {
    const NAME: &'static str = "PackI8K4";

    fn info(&self) -> Vec<String> {
        vec![format!(
            "{:?}, k axis {}, mn axis {}",
            self.format, self.k_axis, self.mn_axis
        )]
    }

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

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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
pub fn im2col_i8k4(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let Some(im2col) = node.op_as::<Im2Col>() else {
        return Ok(None);
    };
    let Some(packed) = output_exotic::<PackedExoticFact>(model, node)? else {
        return Ok(None);
    };
    let Some(format) = packed.format.downcast_ref::<PackedI8K4>() else {
        return Ok(None);
    };
    let spec = &im2col.pool_spec;
    let input = model.outlet_fact(node.inputs[0])?;
    let batched = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        _ => return Ok(None),
    };
    let Some(shape) = input.shape.as_concrete() else {
        return Ok(None);
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
        return Ok(None);
    }
    let [channels, height, width] = [
        shape[shape.len() - 3],
        shape[shape.len() - 2],
        shape[shape.len() - 1],
    ];
    let kernel = [spec.kernel_shape[0], spec.kernel_shape[1]];
    if packed.k != channels * kernel[0] * kernel[1] {
        return Ok(None);
    }
    let padding = spec.computed_padding(&[height, width]);
    replace(
        model,
        node,
        &node.inputs,
        Im2colI8K4 {
            format: format.clone(),
            batched,
            input: [channels, height, width],
            output: [padding[0].convoluted, padding[1].convoluted],
            kernel,
            stride: strides[0],
            pad_before: [padding[0].pad_before, padding[1].pad_before],
            pad_after: [padding[0].pad_after, padding[1].pad_after],
        },
    )
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

impl Operator for Im2colI8K4 {
    const NAME: &'static str = "Im2colI8K4";

    fn info(&self) -> Vec<String> {
        vec![format!(
            "kernel {:?} stride {} pad {:?} -> {:?}, {:?}",
            self.kernel, self.stride, self.pad_before, self.output, self.format
        )]
    }

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

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
                let packed = op.eval(tvec!(input.clone().into_tvalue()))?;
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
}
