//! The ONNX preparation pass: the decoded protobuf (`tract_onnx::pb::ModelProto`) is
//! checked and adjusted here before tract sees it, one file per concern.
//!
//! tract's analysis evaluates constants eagerly and builds both branches of every `If`, and
//! its switches (`with_ignore_value_info`) are all or nothing, so what a model may cost and
//! what it means is settled on the protobuf first:
//! - [`bounds`]: node count, tensor dimensions and volumes, the shapes constant subgraphs
//!   can materialise, all before any tensor is built (issue #20);
//! - [`operators`]: every operator classified by its protobuf domain; the contrib
//!   operators `crate::contrib` implements are renamed to their registered names, other
//!   unsupported ones refused by name, domain and node (tract looks operators up by name
//!   only);
//! - [`facts`]: declared input facts resolve the model's symbolic dimensions, and
//!   `value_info` hints that would conflict with them are dropped;
//! - [`branches`]: `If` nodes whose condition is known before inference (a constant, or
//!   a function of shapes the facts fix) are replaced by the branch they take;
//! - [`names`]: repeated node names made unique (tract refuses duplicates);
//! - [`diagnose`]: tract's load errors turned into what the user should do.
//!
//! Nothing here changes what a model computes: every rewrite keeps onnxruntime's meaning.

pub mod bounds;
pub mod branches;
pub mod diagnose;
pub mod facts;
pub mod names;
pub mod operators;

use icinfer_api::{Error, TensorFact};
use tract_onnx::Onnx;
use tract_onnx::pb::{GraphProto, ModelProto};

/// Decodes the file and runs every check and rewrite that needs no tract analysis.
pub fn prepare(onnx: &Onnx, bytes: Vec<u8>, declared: &[TensorFact]) -> Result<ModelProto, Error> {
    use prost::Message;
    // Decoded from the file itself, which is then dropped: loading peaks at the heap's
    // high-water mark, which never comes down, and tract's `proto_model_for_read` would copy
    // the file and keep both while decoding (docs/performance.md, "Large models").
    let mut proto = ModelProto::decode(bytes.as_slice()).map_err(|e| Error::ModelRejected {
        reason: format!("not an ONNX model: the protobuf does not decode ({e})"),
    })?;
    drop(bytes);
    let graph = proto.graph.as_mut().ok_or_else(|| Error::ModelRejected {
        reason: "the ONNX model has no graph".into(),
    })?;
    bounds::check_graph(graph)?;
    names::check_references(graph)?;
    operators::classify(onnx, graph)?;
    facts::resolve_declared(graph, declared)?;
    names::make_unique(graph);
    branches::fold(onnx, &mut proto);
    Ok(proto)
}

/// Every node of a graph and of its subgraphs (the branches of `If`, the bodies of `Loop`
/// and `Scan`), depth first.
pub(crate) fn visit_nodes<'g>(
    graph: &'g GraphProto,
    visit: &mut impl FnMut(&'g tract_onnx::pb::NodeProto) -> Result<(), Error>,
) -> Result<(), Error> {
    for node in &graph.node {
        visit(node)?;
        for attribute in &node.attribute {
            if let Some(body) = &attribute.g {
                visit_nodes(body, visit)?;
            }
            for body in &attribute.graphs {
                visit_nodes(body, visit)?;
            }
        }
    }
    Ok(())
}

/// A node's name for messages: its own, else its first output's.
pub(crate) fn node_label(node: &tract_onnx::pb::NodeProto) -> &str {
    if !node.name.is_empty() {
        &node.name
    } else {
        node.output.first().map(String::as_str).unwrap_or("")
    }
}

/// Drops every `value_info` hint of the graph and its subgraphs, for the second attempt
/// at a model whose hints tract could not reconcile. Returns whether there were any.
pub fn drop_value_info(graph: &mut GraphProto) -> bool {
    let mut dropped = !graph.value_info.is_empty();
    graph.value_info.clear();
    for node in &mut graph.node {
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                dropped |= drop_value_info(body);
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream;
