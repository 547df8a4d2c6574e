//! The com.microsoft operators of onnxruntime's QOperator format (what its quantiser
//! writes with `quant_format=QOperator`), each rewritten on the protobuf into the standard
//! operators that define it: dequantise the inputs (`DequantizeLinear`), apply the float
//! operator, quantise the result (`QuantizeLinear`, round half to even, saturated).
//! onnxruntime defines them so (its lookup-table kernels, `QLinearSigmoid` and
//! `QLinearLeakyRelu`, tabulate exactly this), but its other kernels compute in fixed
//! point or with the scales folded first (`QLinearAdd`: `A·(sa/sc) + B·(sb/sc)`), so a
//! value that falls within a rounding of a tie can come out one quantisation step apart:
//! the tests allow one step.
//!
//! `DynamicQuantizeMatMul` becomes `DynamicQuantizeLinear` (onnxruntime's parameters),
//! `MatMulInteger`, and the scale and bias in f32, which is what onnxruntime computes.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto};

/// The operators rewritten here, all of domain com.microsoft.
pub const OPERATORS: [&str; 9] = [
    "QLinearAdd",
    "QLinearMul",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearConcat",
    "DynamicQuantizeMatMul",
    "QGemm",
];

/// Rewrites every node of [`OPERATORS`] in the graph and its subgraphs; the nodes this
/// cannot express (a channels-last pool) are left for the operator check to refuse.
pub fn expand(graph: &mut GraphProto) {
    let nodes = std::mem::take(&mut graph.node);
    for mut node in nodes {
        for attribute in &mut node.attribute {
            if let Some(body) = attribute.g.as_mut() {
                expand(body);
            }
            attribute.graphs.iter_mut().for_each(expand);
        }
        match (node.domain == "com.microsoft")
            .then(|| rewrite(&node))
            .flatten()
        {
            Some(replacement) => graph.node.extend(replacement),
            None => graph.node.push(node),
        }
    }
}

/// A node's input, "" when absent (ONNX's optional input).
fn input(node: &NodeProto, i: usize) -> String {
    node.input.get(i).cloned().unwrap_or_default()
}

fn int_of(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// Builds the standard nodes of one rewrite, naming each after the original node.
struct Builder {
    prefix: String,
    nodes: Vec<NodeProto>,
}

impl Builder {
    fn new(node: &NodeProto) -> Builder {
        let label = if node.name.is_empty() {
            &node.output[0]
        } else {
            &node.name
        };
        Builder {
            prefix: label.clone(),
            nodes: vec![],
        }
    }

    /// Adds a node; `output` is the name to write, or a fresh one when `None`.
    fn add(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: Option<&str>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let name = format!("{}.{}{}", self.prefix, op, self.nodes.len());
        let output = output.map(str::to_string).unwrap_or_else(|| name.clone());
        // Trailing absent optional inputs are dropped, as ONNX allows.
        let mut inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        while inputs.last().is_some_and(|s| s.is_empty()) {
            inputs.pop();
        }
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        output
    }

    fn dequantize(&mut self, x: &str, scale: &str, zero_point: &str) -> String {
        self.add("DequantizeLinear", &[x, scale, zero_point], None, vec![])
    }
}

fn float_attribute(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: value,
        r#type: AttributeType::Float as i32,
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: value,
        r#type: AttributeType::Int as i32,
        ..Default::default()
    }
}

/// The standard nodes computing `node`, or None to leave it as it is.
fn rewrite(node: &NodeProto) -> Option<Vec<NodeProto>> {
    let mut b = Builder::new(node);
    let output = node.output.first()?.clone();
    let i = |k: usize| input(node, k);
    match node.op_type.as_str() {
        "QLinearAdd" | "QLinearMul" => {
            let a = b.dequantize(&i(0), &i(1), &i(2));
            let c = b.dequantize(&i(3), &i(4), &i(5));
            let op = if node.op_type == "QLinearAdd" {
                "Add"
            } else {
                "Mul"
            };
            let sum = b.add(op, &[&a, &c], None, vec![]);
            b.add(
                "QuantizeLinear",
                &[&sum, &i(6), &i(7)],
                Some(&output),
                vec![],
            );
        }
        "QLinearSigmoid"
        | "QLinearLeakyRelu"
        | "QLinearGlobalAveragePool"
        | "QLinearAveragePool" => {
            if int_of(node, "channels_last").unwrap_or(0) != 0 {
                return None;
            }
            let x = b.dequantize(&i(0), &i(1), &i(2));
            let (op, attributes) = match node.op_type.as_str() {
                "QLinearSigmoid" => ("Sigmoid", vec![]),
                "QLinearLeakyRelu" => {
                    let alpha = node
                        .attribute
                        .iter()
                        .find(|a| a.name == "alpha")
                        .map_or(0.01, |a| a.f);
                    ("LeakyRelu", vec![float_attribute("alpha", alpha)])
                }
                "QLinearGlobalAveragePool" => ("GlobalAveragePool", vec![]),
                _ => (
                    "AveragePool",
                    node.attribute
                        .iter()
                        .filter(|a| a.name != "channels_last")
                        .cloned()
                        .collect(),
                ),
            };
            let y = b.add(op, &[&x], None, attributes);
            b.add("QuantizeLinear", &[&y, &i(3), &i(4)], Some(&output), vec![]);
        }
        "QLinearConcat" => {
            // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) for each input.
            let axis = int_of(node, "axis")?;
            let parts: Vec<String> = node.input[2..]
                .chunks(3)
                .map(|t| {
                    b.dequantize(&t[0], t.get(1)?, t.get(2).map_or("", String::as_str))
                        .into()
                })
                .collect::<Option<_>>()?;
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let y = b.add("Concat", &parts, None, vec![int_attribute("axis", axis)]);
            b.add("QuantizeLinear", &[&y, &i(0), &i(1)], Some(&output), vec![]);
        }
        "DynamicQuantizeMatMul" => {
            // A (f32), B, b_scale, b_zero_point, bias.
            let quantize = format!("{}.DynamicQuantizeLinear", b.prefix);
            let (aq, a_scale, a_zp) = (
                format!("{quantize}.y"),
                format!("{quantize}.scale"),
                format!("{quantize}.zero_point"),
            );
            b.nodes.push(NodeProto {
                input: vec![i(0)],
                output: vec![aq.clone(), a_scale.clone(), a_zp.clone()],
                name: quantize,
                op_type: "DynamicQuantizeLinear".into(),
                ..Default::default()
            });
            let product = b.add("MatMulInteger", &[&aq, &i(1), &a_zp, &i(3)], None, vec![]);
            let float = b.add("Cast", &[&product], None, vec![int_attribute("to", 1)]);
            let multiplier = b.add("Mul", &[&a_scale, &i(2)], None, vec![]);
            if i(4).is_empty() {
                b.add("Mul", &[&float, &multiplier], Some(&output), vec![]);
            } else {
                let scaled = b.add("Mul", &[&float, &multiplier], None, vec![]);
                b.add("Add", &[&scaled, &i(4)], Some(&output), vec![]);
            }
        }
        "QGemm" => {
            // A, a_scale, a_zp, B, b_scale, b_zp, C (i32, at scale a_scale·b_scale), y_scale,
            // y_zp; alpha, transA, transB. Without y_scale the output is f32.
            let a = b.dequantize(&i(0), &i(1), &i(2));
            let bm = b.dequantize(&i(3), &i(4), &i(5));
            let mut inputs = vec![a, bm];
            if !i(6).is_empty() {
                let c_scale = b.add("Mul", &[&i(1), &i(4)], None, vec![]);
                inputs.push(b.dequantize(&i(6), &c_scale, ""));
            }
            let attributes = node
                .attribute
                .iter()
                .filter(|a| ["alpha", "transA", "transB"].contains(&a.name.as_str()))
                .cloned()
                .collect();
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            if i(7).is_empty() {
                b.add("Gemm", &inputs, Some(&output), attributes);
            } else {
                let y = b.add("Gemm", &inputs, None, attributes);
                b.add("QuantizeLinear", &[&y, &i(7), &i(8)], Some(&output), vec![]);
            }
        }
        _ => return None,
    }
    Some(b.nodes)
}
