//! Operators classified by their protobuf domain before tract parses the graph. tract
//! looks operators up by name and ignores the domain, so an onnxruntime contrib operator
//! (domain `com.microsoft`) would either be taken for a standard operator of the same name
//! or become a placeholder that fails later with "Wrong number of outputs". Here every
//! node is one of:
//! - a standard operator (domain `""`, `ai.onnx` or `ai.onnx.ml`) that tract registers;
//! - an operator of another domain, refused: no contrib operator is registered yet,
//!   because none of the corpus's (`DynamicQuantizeLSTM`) has a definition we can
//!   reproduce bit for bit (its activations are requantised at every time step);
//! - anything else, refused with its name, domain and node.

use super::{node_label, visit_nodes};
use icinfer_api::Error;
use tract_onnx::Onnx;
use tract_onnx::pb::GraphProto;

const STANDARD_DOMAINS: [&str; 3] = ["", "ai.onnx", "ai.onnx.ml"];

/// Refuses the first node whose operator tract cannot run, naming it.
pub fn check(onnx: &Onnx, graph: &GraphProto) -> Result<(), Error> {
    visit_nodes(graph, &mut |node| {
        let domain = node.domain.as_str();
        let registered = onnx.op_register.0.contains_key(&node.op_type);
        if STANDARD_DOMAINS.contains(&domain) && registered {
            return Ok(());
        }
        let shown = if domain.is_empty() { "ai.onnx" } else { domain };
        let advice = if domain.starts_with("com.microsoft") {
            "an onnxruntime contrib operator; export or quantise the model with standard \
             ONNX operators (for quantised weights: QuantizeLinear, DequantizeLinear, \
             QLinearConv, MatMulInteger, ConvInteger)"
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
