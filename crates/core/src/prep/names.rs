//! Node names made unique within each graph. ONNX names only tensors; node names are
//! labels, and exporters repeat them (OpenVINO writes "F0::anon" twice in silero's
//! `silero_vad_openvino_16k.onnx`), while tract names its nodes after them and refuses
//! duplicates when it compacts the graph. A repeated name gets the suffix "#k".
//!
//! Tensor names must also refer to something: tract panics ("no entry found for key") on a
//! graph output or node input that no input, initializer or node of its scope (or an
//! enclosing one) produces, so `check_references` refuses such a file by name first (found
//! by the `onnx_load` fuzz target, fuzz/findings/onnx_load/).

use icinfer_api::Error;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::GraphProto;

/// Every graph output and node input names a tensor of its scope or an enclosing one.
pub fn check_references(graph: &GraphProto) -> Result<(), Error> {
    check_scope(graph, &mut Vec::new())
}

fn check_scope<'g>(graph: &'g GraphProto, outer: &mut Vec<HashSet<&'g str>>) -> Result<(), Error> {
    let mut known: HashSet<&str> = HashSet::new();
    known.extend(graph.input.iter().map(|i| i.name.as_str()));
    known.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    known.extend(
        graph
            .sparse_initializer
            .iter()
            .filter_map(|t| t.values.as_ref())
            .map(|t| t.name.as_str()),
    );
    for node in &graph.node {
        known.extend(node.output.iter().map(String::as_str));
    }
    let missing = |name: &str, known: &HashSet<&str>, outer: &[HashSet<&str>]| {
        !name.is_empty() && !known.contains(name) && !outer.iter().any(|scope| scope.contains(name))
    };
    for node in &graph.node {
        if let Some(name) = node.input.iter().find(|n| missing(n, &known, outer)) {
            return Err(Error::ModelRejected {
                reason: format!(
                    "node '{}' ({}) reads the tensor '{name}', which nothing in the graph produces",
                    super::node_label(node),
                    node.op_type
                ),
            });
        }
    }
    if let Some(output) = graph
        .output
        .iter()
        .find(|o| missing(&o.name, &known, outer))
    {
        return Err(Error::ModelRejected {
            reason: format!(
                "the graph output '{}' names a tensor that nothing in the graph produces",
                output.name
            ),
        });
    }
    outer.push(known);
    for node in &graph.node {
        for attribute in &node.attribute {
            for body in attribute.g.iter().chain(&attribute.graphs) {
                check_scope(body, outer)?;
            }
        }
    }
    outer.pop();
    Ok(())
}

pub fn make_unique(graph: &mut GraphProto) {
    // The same map type as `branches`' producers (one copy of the table code).
    let mut taken: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut repeated: Vec<usize> = vec![];
    for (i, node) in graph.node.iter().enumerate() {
        if !node.name.is_empty() && taken.insert(&node.name, (0, i)).is_some() {
            repeated.push(i);
        }
    }
    let mut given: Vec<String> = vec![];
    for &i in &repeated {
        let base = &graph.node[i].name;
        let name = (1..)
            .map(|k| format!("{base}#{k}"))
            .find(|n| !taken.contains_key(n.as_str()) && !given.contains(n))
            .unwrap_or_default();
        given.push(name);
    }
    for (i, name) in repeated.into_iter().zip(given) {
        graph.node[i].name = name;
    }
    for node in &mut graph.node {
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                make_unique(body);
            }
        }
    }
}
