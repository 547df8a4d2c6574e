//! What the rewrites' tests share: running models, comparing bits, and ONNX models made in
//! memory, run through tract-onnx's own parser and declutter, so that tract's own operators
//! (several are private to tract-onnx) give the expected values.

use tract_onnx::pb;
pub use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::tract_core::internal::*;

/// The model's only output on these inputs.
pub fn run_all(model: TypedModel, inputs: TVec<TValue>) -> TractResult<Tensor> {
    Ok(model.into_runnable()?.run(inputs)?.remove(0).into_tensor())
}

pub fn run(model: TypedModel, input: Tensor) -> TractResult<Tensor> {
    run_all(model, tvec!(input.into_tvalue()))
}

/// An f32 tensor's bits, to compare results exactly (NaNs included).
pub fn bits(t: &Tensor) -> TractResult<Vec<u32>> {
    Ok(t.try_as_plain_ram()?
        .as_slice::<f32>()?
        .iter()
        .map(|x| x.to_bits())
        .collect())
}

/// An ONNX graph input or output: name, element type, shape.
pub fn value_info(name: &str, elem_type: OnnxType, shape: &[usize]) -> pb::ValueInfoProto {
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
pub fn onnx_model(
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

/// A constant tensor of an ONNX model.
pub fn initializer(
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
pub fn quantised_conv(
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
pub fn same_bytes_as_tract(
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
