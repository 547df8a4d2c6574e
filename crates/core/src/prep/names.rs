//! Node names made unique within each graph. ONNX names only tensors; node names are
//! labels, and exporters repeat them (OpenVINO writes "F0::anon" twice in silero's
//! `silero_vad_openvino_16k.onnx`), while tract names its nodes after them and refuses
//! duplicates when it compacts the graph. A repeated name gets the suffix "#k".

use std::collections::HashSet;
use tract_onnx::pb::GraphProto;

pub fn make_unique(graph: &mut GraphProto) {
    let mut seen: HashSet<String> = HashSet::new();
    for node in &mut graph.node {
        if !node.name.is_empty() && !seen.insert(node.name.clone()) {
            let base = node.name.clone();
            let mut k = 1;
            while !seen.insert(format!("{base}#{k}")) {
                k += 1;
            }
            node.name = format!("{base}#{k}");
        }
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                make_unique(body);
            }
        }
    }
}
