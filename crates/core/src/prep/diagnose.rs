//! tract's load errors, classified into what the user can do about them: a shape conflict
//! names the node and the input facts to declare; anything else keeps tract's words.

use icinfer_api::Error;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ValueInfoProto};

/// "x: f32[batch, 3, height, width]" for each input of the graph.
fn describe_inputs(graph: &GraphProto) -> String {
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let describe = |input: &ValueInfoProto| {
        let dims = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(TypeValue::TensorType(tensor)) => tensor.shape.as_ref().map(|shape| {
                shape
                    .dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(DimValue::DimValue(v)) => v.to_string(),
                        Some(DimValue::DimParam(p)) => p.clone(),
                        None => "?".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            None => None,
        };
        format!("'{}' [{}]", input.name, dims.unwrap_or_else(|| "?".into()))
    };
    graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .map(describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The node an analysis error names ("Failed analyse for node #12 \"conv\" ..."), the
/// innermost one.
fn failed_node(message: &str) -> Option<&str> {
    let marker = "for node #";
    let at = message.rfind(marker)? + marker.len();
    let rest = &message[at..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(&rest[start..end])
}

/// The rejection for a model tract failed to load.
pub fn explain(
    error: &tract_onnx::prelude::TractError,
    graph: &GraphProto,
    declared: bool,
) -> Error {
    let message = format!("{error:#}");
    let shapes = [
        "Impossible to unify",
        "Failed analyse",
        "Source node without a determined fact",
        "Condition failed",
    ];
    if !shapes.iter().any(|s| message.contains(s)) {
        return Error::ModelRejected { reason: message };
    }
    let node = failed_node(&message).unwrap_or("?");
    let advice = if declared {
        "the declared input facts do not fit the model: check them against the inputs"
    } else {
        "declare every input's fact at create_model (input_facts, fixed sizes)"
    };
    Error::ModelRejected {
        reason: format!(
            "shape conflict at node '{node}': {advice}; the model declares {}. tract: {message}",
            describe_inputs(graph)
        ),
    }
}
