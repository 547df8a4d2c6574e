//! Node names made unique within each graph. ONNX names only tensors; node names are
//! labels, and exporters repeat them (OpenVINO writes "F0::anon" twice in silero's
//! `silero_vad_openvino_16k.onnx`), while tract names its nodes after them and refuses
//! duplicates when it compacts the graph. A repeated name gets the suffix "#k".

use std::collections::HashMap;
use tract_onnx::pb::GraphProto;

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
