//! `If` nodes whose condition is known before inference are replaced by the branch they
//! take. tract builds and analyses both branches of every `If`, and refuses branches whose
//! outputs differ in rank, or fails analysing a branch that can never run (torch's export
//! of `if x.shape[-1] == 1: x = x.squeeze(-1)` squeezes an axis that is not 1 in the branch
//! not taken). onnxruntime runs only the branch taken, so taking it here keeps the meaning.
//!
//! A condition is known when tract's typing of the subgraph that computes it, alone, gives
//! a constant and every input that subgraph reads has a fixed shape: a constant, or a
//! function of shapes that the file or the declared facts fix. Conditions that depend on
//! input values (silero's sample rate) stay; the `If`s nested in their branches are folded
//! with the enclosing scopes' nodes in view.
//!
//! Nodes are moved, never cloned: the probe borrows the nodes it needs from the scopes and
//! gives them back (a clone of the protobuf types costs the module tens of kilobytes).

use super::node_label;
use crate::limits::{MAX_CONDITION_NODES, MAX_EVALUATED_CONDITIONS};
use std::collections::HashMap;
use std::mem::take;
use tract_onnx::Onnx;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto};

struct Probe<'a> {
    onnx: &'a Onnx,
    opset: Vec<OperatorSetIdProto>,
    evaluations: usize,
}

fn fixed_shape(input: &ValueInfoProto) -> bool {
    match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(tensor)) => tensor.shape.as_ref().is_some_and(|shape| {
            shape
                .dim
                .iter()
                .all(|d| matches!(d.value, Some(DimValue::DimValue(_))))
        }),
        None => false,
    }
}

/// Where the nodes and initializers a condition needs sit: (scope, index).
#[derive(Default)]
struct Needed {
    nodes: Vec<(usize, usize)>,
    initializers: Vec<(usize, usize)>,
}

impl Probe<'_> {
    /// The nodes and initializers that compute `condition`, if they are few, hold no
    /// control flow and read only inputs of fixed shape (tract takes an unknown symbol for
    /// "not 1": Equal(s, 1) types as false).
    fn needed(scopes: &[GraphProto], condition: &str) -> Option<Needed> {
        let mut producers: HashMap<&str, (usize, usize)> = HashMap::new();
        for (s, scope) in scopes.iter().enumerate() {
            for (i, node) in scope.node.iter().enumerate() {
                for output in &node.output {
                    producers.insert(output, (s, i));
                }
            }
        }
        let mut needed = Needed::default();
        let mut seen: Vec<&str> = vec![];
        let mut pending = vec![condition];
        while let Some(name) = pending.pop() {
            if name.is_empty() || seen.contains(&name) {
                continue;
            }
            seen.push(name);
            if let Some(&(s, i)) = producers.get(name) {
                let node = &scopes[s].node[i];
                if ["If", "Loop", "Scan"].contains(&node.op_type.as_str())
                    || needed.nodes.len() >= MAX_CONDITION_NODES
                {
                    return None;
                }
                needed.nodes.push((s, i));
                pending.extend(node.input.iter().map(String::as_str));
            } else if let Some(found) = scopes.iter().enumerate().find_map(|(s, scope)| {
                let i = scope.initializer.iter().position(|t| t.name == name)?;
                Some((s, i))
            }) {
                needed.initializers.push(found);
            } else if !scopes[0]
                .input
                .iter()
                .any(|i| i.name == name && fixed_shape(i))
            {
                return None;
            }
        }
        needed.nodes.sort_unstable();
        Some(needed)
    }

    /// The condition's value, from tract's typing of the subgraph that computes it alone.
    fn evaluate(&mut self, scopes: &mut [GraphProto], condition: &str) -> Option<bool> {
        if self.evaluations >= MAX_EVALUATED_CONDITIONS {
            return None;
        }
        let needed = Self::needed(scopes, condition)?;
        self.evaluations += 1;
        let mut graph = GraphProto {
            input: take(&mut scopes[0].input),
            output: vec![ValueInfoProto {
                name: condition.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        for &(s, i) in &needed.nodes {
            graph.node.push(take(&mut scopes[s].node[i]));
        }
        for &(s, i) in &needed.initializers {
            graph.initializer.push(take(&mut scopes[s].initializer[i]));
        }
        let model = ModelProto {
            ir_version: 8,
            opset_import: take(&mut self.opset),
            graph: Some(graph),
            ..Default::default()
        };
        let value = crate::runtime::type_model(self.onnx, &model, &[])
            .ok()
            .and_then(|typed| {
                let outlet = *typed.output_outlets().ok()?.first()?;
                let fact = typed.outlet_fact(outlet).ok()?;
                fact.konst.as_ref()?.cast_to_scalar::<bool>().ok()
            });
        // Every node goes back where it was.
        let ModelProto {
            opset_import,
            graph,
            ..
        } = model;
        self.opset = opset_import;
        let mut graph = graph.unwrap_or_default();
        for (&(s, i), node) in needed.nodes.iter().zip(graph.node.iter_mut()) {
            scopes[s].node[i] = take(node);
        }
        for (&(s, i), tensor) in needed.initializers.iter().zip(graph.initializer.iter_mut()) {
            scopes[s].initializer[i] = take(tensor);
        }
        scopes[0].input = take(&mut graph.input);
        value
    }
}

/// Renames the uses and definitions listed in `names` in `nodes` and their subgraphs.
fn rename(nodes: &mut [NodeProto], names: &[(String, String)]) {
    for node in nodes {
        for name in node.input.iter_mut().chain(node.output.iter_mut()) {
            if let Some((_, new)) = names.iter().find(|(old, _)| old == name) {
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

/// Replaces the `If` at `index` of `graph` by the nodes of the branch it takes.
fn inline(graph: &mut GraphProto, index: usize, taken: bool) -> bool {
    let branch = if taken { "then_branch" } else { "else_branch" };
    let node = &mut graph.node[index];
    let Some(attribute) = node.attribute.iter_mut().find(|a| a.name == branch) else {
        return false;
    };
    let Some(mut body) = attribute.g.take() else {
        return false;
    };
    if body.output.len() != node.output.len() {
        attribute.g = Some(body);
        return false;
    }
    let label = node_label(node).to_string();
    let mut names: Vec<(String, String)> = vec![];
    let mut identities = vec![];
    for (inner, outer) in body.output.iter().zip(&node.output) {
        let produced = body.node.iter().any(|n| n.output.contains(&inner.name));
        if produced && !names.iter().any(|(old, _)| *old == inner.name) {
            names.push((inner.name.clone(), outer.clone()));
        } else {
            identities.push(NodeProto {
                input: vec![inner.name.clone()],
                output: vec![outer.clone()],
                name: format!("{label}/{branch}/{}", inner.name),
                op_type: "Identity".into(),
                ..Default::default()
            });
        }
    }
    let mut nodes = take(&mut body.node);
    rename(&mut nodes, &names);
    nodes.append(&mut identities);
    graph.initializer.append(&mut body.initializer);
    graph.node.splice(index..=index, nodes);
    true
}

/// Folds every `If` of the model's graph (and, inside `If`s that stay, of their branches)
/// whose condition is known. Returns how many were folded.
pub fn fold(onnx: &Onnx, model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.take() else {
        return 0;
    };
    let mut scopes = vec![graph];
    let mut folded = 0;
    if scopes[0].node.iter().any(|n| n.op_type == "If") {
        let mut probe = Probe {
            onnx,
            opset: take(&mut model.opset_import),
            evaluations: 0,
        };
        folded = fold_scope(&mut probe, &mut scopes);
        model.opset_import = probe.opset;
    }
    model.graph = scopes.pop();
    folded
}

/// Folds the `If`s of the innermost scope; `scopes` holds the enclosing ones before it.
fn fold_scope(probe: &mut Probe, scopes: &mut Vec<GraphProto>) -> usize {
    let top = scopes.len() - 1;
    let mut folded = 0;
    let mut index = 0;
    while index < scopes[top].node.len() {
        if scopes[top].node[index].op_type != "If" {
            index += 1;
            continue;
        }
        let condition = scopes[top].node[index]
            .input
            .first()
            .cloned()
            .unwrap_or_default();
        if let Some(taken) = probe.evaluate(scopes, &condition)
            && inline(&mut scopes[top], index, taken)
        {
            // The inlined nodes may hold `If`s of their own: they are visited next.
            folded += 1;
            continue;
        }
        let attributes = scopes[top].node[index].attribute.len();
        for a in 0..attributes {
            let Some(body) = scopes[top].node[index].attribute[a].g.take() else {
                continue;
            };
            scopes.push(body);
            folded += fold_scope(probe, scopes);
            scopes[top].node[index].attribute[a].g = scopes.pop();
        }
        index += 1;
    }
    folded
}
