//! The large model's graph (models/make_large.py), built in Rust for the CI tier and the
//! bench: `y = tanh(… tanh(x·W0) … ·W{L-1})`, x f32[1, width].

use prost::Message;
use tract_onnx::pb;

/// The graph of models/make_large.py with `layers` `width`×`width` weights drawn from a
/// seeded generator (xorshift; the script uses numpy's PCG64, so the bytes differ, the
/// shapes and operators do not).
pub fn dense_chain(layers: usize, width: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let scale = 1.0 / (width as f32).sqrt();
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Uniform in [-sqrt(3), sqrt(3)): unit variance, like the script's normal draws.
        ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 3f32.sqrt() * scale
    };
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: [1, width as i64]
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .to_vec(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let node = |op: &str, inputs: Vec<String>, output: String| pb::NodeProto {
        op_type: op.into(),
        input: inputs,
        output: vec![output],
        ..Default::default()
    };
    let mut graph = pb::GraphProto {
        name: "large".into(),
        input: vec![value("x")],
        output: vec![value("y")],
        ..Default::default()
    };
    let mut previous = "x".to_string();
    for layer in 0..layers {
        let weights: Vec<u8> = (0..width * width)
            .flat_map(|_| next().to_le_bytes())
            .collect();
        graph.initializer.push(pb::TensorProto {
            name: format!("w{layer}"),
            dims: vec![width as i64, width as i64],
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: weights,
            ..Default::default()
        });
        graph.node.push(node(
            "MatMul",
            vec![previous.clone(), format!("w{layer}")],
            format!("h{layer}"),
        ));
        let out = if layer == layers - 1 {
            "y".to_string()
        } else {
            format!("a{layer}")
        };
        graph
            .node
            .push(node("Tanh", vec![format!("h{layer}")], out.clone()));
        previous = out;
    }
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}
