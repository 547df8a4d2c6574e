// Proposed tests for tract-onnx (as `onnx/tests/import_real_models.rs`), in the style of
// tract-onnx's own protobuf-built tests (`onnx/src/ops/nn/simplified_layer_norm.rs`): each
// builds the smallest graph showing a failure that real registry models hit (icinfer issue
// #22, models/corpus/manifest.json) and asserts the behaviour onnxruntime has. Written
// against tract-onnx 0.23.9's public API; icinfer compiles them
// (crates/core/src/prep/upstream.rs, ignored there) and they fail on 0.23.9 as README.md
// says.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::*;
use tract_onnx::prelude::*;

/// A float tensor's value info; negative dimensions are the symbols "s1", "s2"...
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                dimension::Value::DimParam(format!("s{}", -d))
            } else {
                dimension::Value::DimValue(d)
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: tensor_proto::DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        name: name.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn model(graph: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: tensor_proto::DataType::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// torch writes `value_info` with its own symbols (`batch`); a caller who fixes the input
/// to [1, 4] must not get "Impossible to unify Sym(s1) with Val(1)": a declared input fact
/// is more specific than a hint. (nudenet 3.4.2's 320n.onnx.)
#[test]
#[ignore = "fails on tract 0.23.9; the proposed fix makes it pass"]
fn a_declared_input_fact_wins_over_a_symbolic_value_info_hint() -> TractResult<()> {
    let graph = GraphProto {
        node: vec![node("Relu", "relu", &["x"], &["h"]), node("Neg", "neg", &["h"], &["y"])],
        input: vec![value_info("x", &[-1, 4])],
        output: vec![value_info("y", &[-1, 4])],
        value_info: vec![value_info("h", &[-1, 4])],
        ..Default::default()
    };
    let mut inference = onnx().model_for_proto_model(&model(graph))?;
    inference.set_input_fact(0, f32::fact([1, 4]).into())?;
    let typed = inference.into_typed()?;
    let output = typed.outlet_fact(typed.output_outlets()?[0])?;
    assert_eq!(output.shape.to_tvec(), tvec![1.to_dim(), 4.to_dim()]);
    Ok(())
}

fn graph_attribute(name: &str, graph: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Graph as i32,
        g: Some(graph),
        ..Default::default()
    }
}

/// An `If` whose condition is a constant runs one branch only; the other may have another
/// rank (silero-vad 6.2.3's 16k_op15 and half files, after their sample-rate input is
/// fixed). tract-onnx picks the branch for the outputs but still analyses both and fails
/// with "Condition failed: then_body.output_fact == else_body.output_fact".
#[test]
#[ignore = "fails on tract 0.23.9; the proposed fix makes it pass"]
fn an_if_with_a_constant_condition_is_typed_by_the_branch_it_takes() -> TractResult<()> {
    let then_branch = GraphProto {
        node: vec![node("Identity", "then", &["x"], &["t"])],
        output: vec![value_info("t", &[2, 3])],
        ..Default::default()
    };
    let else_branch = GraphProto {
        node: vec![node("Unsqueeze", "else", &["x", "axes"], &["e"])],
        output: vec![value_info("e", &[1, 2, 3])],
        ..Default::default()
    };
    let mut iff = node("If", "if", &["condition"], &["y"]);
    iff.attribute = vec![
        graph_attribute("then_branch", then_branch),
        graph_attribute("else_branch", else_branch),
    ];
    let graph = GraphProto {
        node: vec![iff],
        input: vec![value_info("x", &[2, 3])],
        output: vec![ValueInfoProto { name: "y".into(), ..Default::default() }],
        initializer: vec![
            TensorProto {
                name: "condition".into(),
                data_type: tensor_proto::DataType::Bool as i32,
                int32_data: vec![1],
                ..Default::default()
            },
            TensorProto {
                name: "axes".into(),
                dims: vec![1],
                data_type: tensor_proto::DataType::Int64 as i32,
                int64_data: vec![0],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let typed = onnx().model_for_proto_model(&model(graph))?.into_typed()?;
    let output = typed.outlet_fact(typed.output_outlets()?[0])?;
    assert_eq!(output.rank(), 2);
    Ok(())
}

/// tract looks operators up by name and ignores the domain, so onnxruntime's
/// DynamicQuantizeLSTM (com.microsoft, ddddocr 1.6.1's common_old.onnx) became a
/// placeholder that failed with "Wrong number of outputs. Op says 1, node says 3". The
/// error should name the operator and its domain.
#[test]
#[ignore = "fails on tract 0.23.9; the proposed fix makes it pass"]
fn an_unknown_contrib_operator_is_refused_by_name_and_domain() {
    let mut lstm = node("DynamicQuantizeLSTM", "LSTM_202_quant", &["x"], &["y", "y_h", "y_c"]);
    lstm.domain = "com.microsoft".into();
    let graph = GraphProto {
        node: vec![lstm],
        input: vec![value_info("x", &[1, 1, 4])],
        output: vec![value_info("y", &[-1])],
        ..Default::default()
    };
    let error = onnx()
        .model_for_proto_model(&model(graph))
        .and_then(|m| m.into_typed())
        .expect_err("an operator tract does not have");
    let message = format!("{error:#}");
    assert!(message.contains("DynamicQuantizeLSTM") && message.contains("com.microsoft"), "{message}");
    assert!(!message.contains("Wrong number of outputs"), "{message}");
}

/// An operator of a custom domain that shares a standard operator's name is not the
/// standard operator: it must not be run as one.
#[test]
#[ignore = "fails on tract 0.23.9; the proposed fix makes it pass"]
fn a_custom_domain_operator_is_not_taken_for_the_standard_one() {
    let mut relu = node("Relu", "custom", &["x"], &["y"]);
    relu.domain = "com.example".into();
    let graph = GraphProto {
        node: vec![relu],
        input: vec![value_info("x", &[1, 4])],
        output: vec![value_info("y", &[1, 4])],
        ..Default::default()
    };
    let typed = onnx().model_for_proto_model(&model(graph)).and_then(|m| m.into_typed());
    assert!(typed.is_err(), "com.example.Relu ran as ai.onnx Relu");
}

/// [2, 5] + [3] does not broadcast: onnxruntime refuses it at load. tract 0.23.9 types it
/// with an output dimension `broadcast((5), (3))` that no input can ever satisfy.
#[test]
#[ignore = "fails on tract 0.23.9; the proposed fix makes it pass"]
fn an_impossible_broadcast_is_a_typing_error() -> TractResult<()> {
    let graph = GraphProto {
        node: vec![node("Add", "add", &["x", "c"], &["y"])],
        input: vec![value_info("x", &[2, 5])],
        output: vec![ValueInfoProto { name: "y".into(), ..Default::default() }],
        initializer: vec![floats("c", &[3], &[1.0, 2.0, 3.0])],
        ..Default::default()
    };
    let typed = onnx().model_for_proto_model(&model(graph))?.into_typed();
    assert!(typed.is_err(), "{:?}", typed.map(|t| t.output_fact(0).cloned()));
    Ok(())
}
