//! Operators classified by their protobuf domain before tract parses the graph. tract
//! looks operators up by name and ignores the domain, so an onnxruntime contrib operator
//! (domain `com.microsoft`) would either be taken for a standard operator of the same name
//! or become a placeholder that fails later with "Wrong number of outputs". Here every
//! node is one of:
//! - a standard operator (domain `""`, `ai.onnx` or `ai.onnx.ml`) that tract registers;
//! - a contrib operator that `crate::contrib` implements: a QOperator node is rewritten
//!   into the standard operators that define it, another renamed to the domain-qualified
//!   name it is registered under;
//! - anything else, refused with its name, domain and node.

use super::{node_label, visit_nodes};
use crate::contrib;
use icinfer_api::Error;
use tract_onnx::Onnx;
use tract_onnx::pb::GraphProto;

const STANDARD_DOMAINS: [&str; 3] = ["", "ai.onnx", "ai.onnx.ml"];

/// Rewrites the QOperator contrib nodes into standard ones and renames the nodes of the
/// other known contrib operators (in subgraphs too), then refuses the first node whose
/// operator tract cannot run, naming it.
pub fn classify(onnx: &Onnx, graph: &mut GraphProto) -> Result<(), Error> {
    contrib::qoperators::expand(graph);
    rename_contrib(graph);
    check(onnx, graph)
}

fn rename_contrib(graph: &mut GraphProto) {
    for node in &mut graph.node {
        if let Some(name) = contrib::registered_name(&node.domain, &node.op_type) {
            node.op_type = name.to_string();
        }
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                rename_contrib(body);
            }
            attribute.graphs.iter_mut().for_each(rename_contrib);
        }
    }
}

fn check(onnx: &Onnx, graph: &GraphProto) -> Result<(), Error> {
    visit_nodes(graph, &mut |node| {
        let domain = node.domain.as_str();
        let registered = onnx.op_register.0.contains_key(&node.op_type);
        let contrib = contrib::OPERATORS
            .iter()
            .any(|(_, _, name)| *name == node.op_type);
        if registered && (STANDARD_DOMAINS.contains(&domain) || contrib) {
            return Ok(());
        }
        let shown = if domain.is_empty() { "ai.onnx" } else { domain };
        let advice = if domain.starts_with("com.microsoft") {
            "an onnxruntime contrib operator that icinfer does not implement; export or \
             quantise the model with standard ONNX operators (for quantised weights: \
             QuantizeLinear, DequantizeLinear, QLinearConv, MatMulInteger, ConvInteger)"
        } else if STANDARD_DOMAINS.contains(&domain) {
            "a standard operator that tract 0.23 does not implement"
        } else {
            "an operator of a custom domain"
        };
        Err(Error::ModelRejected {
            reason: format!(
                "unsupported operator {} (domain {shown}) at node '{}': {advice}",
                node.op_type,
                node_label(node)
            ),
        })
    })
}
