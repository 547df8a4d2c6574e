//! `If` nodes whose condition is known before inference are replaced by the branch they
//! take. tract builds and analyses both branches of every `If`, and refuses branches whose
//! outputs differ in rank, or fails analysing a branch that can never run (torch's export
//! of `if x.shape[-1] == 1: x = x.squeeze(-1)` squeezes an axis that is not 1 in the branch
//! not taken). onnxruntime runs only the branch taken, so taking it here keeps the meaning.
//!
//! A condition is known when tract's typing of the subgraph that computes it, alone, gives
//! a constant and every input that subgraph reads has a fixed shape: a constant, or a
//! function of shapes that the file or the declared facts fix. Conditions
//! that depend on input values (silero's sample rate) stay; branches nested inside them are
//! folded with the enclosing scopes' nodes in view.

use super::node_label;
use std::collections::{HashMap, HashSet};
use tract_onnx::Onnx;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
};
use tract_onnx::prelude::{Framework, InferenceModelExt};

/// What a condition is evaluated against: the top-level inputs and the model's opsets.
struct Probe<'a> {
    onnx: &'a Onnx,
    inputs: Vec<ValueInfoProto>,
    opset: Vec<OperatorSetIdProto>,
}

impl Probe<'_> {
    /// The condition's value, from tract's typing of the subgraph of `scopes` that computes
    /// it; None if that is not a constant (or does not type).
    fn evaluate(&self, scopes: &[&GraphProto], condition: &str) -> Option<bool> {
        let producers: HashMap<&str, &NodeProto> = scopes
            .iter()
            .flat_map(|g| g.node.iter())
            .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
            .collect();
        let mut needed: HashSet<&str> = HashSet::new();
        let mut pending = vec![condition];
        while let Some(name) = pending.pop() {
            if !needed.insert(name) {
                continue;
            }
            if let Some(node) = producers.get(name) {
                if ["If", "Loop", "Scan"].contains(&node.op_type.as_str()) {
                    return None;
                }
                pending.extend(
                    node.input
                        .iter()
                        .filter(|i| !i.is_empty())
                        .map(String::as_str),
                );
            }
        }
        // tract takes an unknown symbol for "not 1" (Equal(s, 1) types as false): a
        // condition counts as known only if every input it reads has a fixed shape.
        let fixed =
            |input: &ValueInfoProto| match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(TypeValue::TensorType(tensor)) => tensor.shape.as_ref().is_some_and(|shape| {
                    shape
                        .dim
                        .iter()
                        .all(|d| matches!(d.value, Some(DimValue::DimValue(_))))
                }),
                None => false,
            };
        if self
            .inputs
            .iter()
            .any(|i| needed.contains(i.name.as_str()) && !fixed(i))
        {
            return None;
        }
        let mut probe = GraphProto {
            input: self.inputs.clone(),
            output: vec![ValueInfoProto {
                name: condition.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        for scope in scopes {
            let nodes = scope.node.iter();
            probe.node.extend(
                nodes
                    .filter(|n| n.output.iter().any(|o| needed.contains(o.as_str())))
                    .cloned(),
            );
            let initializers = scope.initializer.iter();
            probe.initializer.extend(
                initializers
                    .filter(|t| needed.contains(t.name.as_str()))
                    .cloned(),
            );
        }
        let model = ModelProto {
            ir_version: 8,
            opset_import: self.opset.clone(),
            graph: Some(probe),
            ..Default::default()
        };
        let typed = self
            .onnx
            .model_for_proto_model(&model)
            .ok()?
            .into_typed()
            .ok()?;
        let outlet = *typed.output_outlets().ok()?.first()?;
        let value = typed.outlet_fact(outlet).ok()?.konst.clone()?;
        value.cast_to_scalar::<bool>().ok()
    }
}

/// Renames every use and definition of `from` in `nodes` and their subgraphs.
fn rename(nodes: &mut [NodeProto], names: &HashMap<String, String>) {
    for node in nodes {
        for name in node.input.iter_mut().chain(node.output.iter_mut()) {
            if let Some(new) = names.get(name) {
                *name = new.clone();
            }
        }
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                rename(&mut body.node, names);
            }
        }
    }
}

/// The nodes that replace `node`, an `If`, when it takes `branch`.
fn inline(
    node: &NodeProto,
    branch: &str,
    initializers: &mut Vec<TensorProto>,
) -> Option<Vec<NodeProto>> {
    let body = node
        .attribute
        .iter()
        .find(|a| a.name == branch)?
        .g
        .as_ref()?;
    if body.output.len() != node.output.len() {
        return None;
    }
    let produced: HashSet<&str> = body
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let mut names = HashMap::new();
    let mut nodes = body.node.clone();
    for (inner, outer) in body.output.iter().zip(&node.output) {
        if produced.contains(inner.name.as_str()) && !names.contains_key(&inner.name) {
            names.insert(inner.name.clone(), outer.clone());
        } else {
            nodes.push(NodeProto {
                input: vec![inner.name.clone()],
                output: vec![outer.clone()],
                name: format!("{}/{branch}/{}", node_label(node), inner.name),
                op_type: "Identity".into(),
                ..Default::default()
            });
        }
    }
    rename(&mut nodes, &names);
    initializers.extend(body.initializer.iter().cloned());
    Some(nodes)
}

/// Folds every `If` of the model's graph (and, inside `If`s that stay, of their branches)
/// whose condition is known. Returns how many were folded.
pub fn fold(onnx: &Onnx, model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    if !graph.node.iter().any(|n| n.op_type == "If") {
        return 0;
    }
    let probe = Probe {
        onnx,
        inputs: graph.input.clone(),
        opset: model.opset_import.clone(),
    };
    fold_scope(&probe, &[], graph)
}

fn fold_scope(probe: &Probe, outer: &[&GraphProto], graph: &mut GraphProto) -> usize {
    let mut folded = 0;
    let mut index = 0;
    while index < graph.node.len() {
        if graph.node[index].op_type != "If" {
            index += 1;
            continue;
        }
        let condition = graph.node[index].input.first().cloned().unwrap_or_default();
        let value = {
            let mut scopes: Vec<&GraphProto> = outer.to_vec();
            scopes.push(graph);
            probe.evaluate(&scopes, &condition)
        };
        let node = graph.node[index].clone();
        let replacement = value.and_then(|taken| {
            inline(
                &node,
                if taken { "then_branch" } else { "else_branch" },
                &mut graph.initializer,
            )
        });
        match replacement {
            Some(nodes) => {
                // The inlined nodes may hold `If`s of their own: they are visited next.
                graph.node.splice(index..=index, nodes);
                folded += 1;
            }
            None => {
                let mut branches: Vec<GraphProto> =
                    node.attribute.iter().filter_map(|a| a.g.clone()).collect();
                let snapshot = graph.clone();
                let mut scopes: Vec<&GraphProto> = outer.to_vec();
                scopes.push(&snapshot);
                let mut inner = 0;
                for branch in &mut branches {
                    inner += fold_scope(probe, &scopes, branch);
                }
                if inner > 0 {
                    let mut updated = node.clone();
                    let mut bodies = branches.into_iter();
                    for attribute in updated.attribute.iter_mut().filter(|a| a.g.is_some()) {
                        attribute.g = bodies.next();
                    }
                    graph.node[index] = updated;
                    folded += inner;
                }
                index += 1;
            }
        }
    }
    folded
}
