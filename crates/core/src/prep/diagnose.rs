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
    // The declared facts have replaced the file's own input shapes in `graph` by now.
    let advice = if declared {
        "the declared input facts do not fit the model: check them against the inputs; \
         with the declared facts the inputs are"
    } else {
        "declare every input's fact at create_model (input_facts, fixed sizes); the model \
         declares"
    };
    Error::ModelRejected {
        reason: format!(
            "shape conflict at node '{node}': {advice} {}. tract: {message}",
            describe_inputs(graph)
        ),
    }
}

/// The failure recorded when the message loading a model trapped (the replica's reject
/// text), with what to do when the cause is the model's size.
pub fn explain_trap(message: &str) -> Error {
    let advice = if message.contains("instructions for single message execution") {
        "model too large for a message: loading it takes more instructions than one message \
         may use; use a smaller or quantised model. "
    } else if message.contains("Wasm memory limit") {
        "model too large for the canister's memory: loading it needs more heap than the \
         canister's wasm_memory_limit; raise it (update_settings) or use a smaller model. "
    } else {
        ""
    };
    Error::ModelRejected {
        reason: format!("{advice}The finalize message trapped: {message}"),
    }
}
