//! Bounds on what a model may cost to load, checked on the protobuf before tract builds a
//! tensor (issue #20): the node count, every tensor's dimensions and volume, the agreement
//! of each initializer's data with its declared dimensions (as the ONNX checker requires:
//! a tensor declared [2^32 + 4] holding 16 bytes is refused, not read as [4]), and the
//! volume of what constant shapes can materialise (`ConstantOfShape`, `Range`, `Expand`). After tract's typing, [`check_typed`] bounds every
//! intermediate and the outputs of known shape; before each inference,
//! [`check_outputs_for`] bounds the outputs whose shape the inputs' symbols decide.

use super::{node_label, visit_nodes};
use crate::limits::{
    MAX_CONSTANT_BYTES, MAX_DIMENSION, MAX_MODEL_NODES, MAX_OUTPUT_BYTES, MAX_TENSOR_BYTES,
};
use icinfer_api::{Dim, Error, TensorFact};
use std::collections::HashMap;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto, ValueInfoProto};
use tract_onnx::prelude::{SymbolScope, SymbolValues, TypedFact, TypedModel};

fn rejected(reason: String) -> Error {
    Error::ModelRejected { reason }
}

fn exceeded(limit: String, max: u64, got: u64) -> Error {
    Error::LimitExceeded { limit, max, got }
}

/// Bytes per element of the types tract can load, None for the others (tract's raw
/// loader has no case for them and panics).
fn element_bytes(data_type: i32) -> Option<u64> {
    Some(match DataType::try_from(data_type).ok()? {
        DataType::Uint8 | DataType::Int8 | DataType::Bool => 1,
        DataType::Uint16 | DataType::Int16 | DataType::Float16 => 2,
        DataType::Float | DataType::Int32 | DataType::Uint32 => 4,
        DataType::Int64 | DataType::Double | DataType::Uint64 => 8,
        _ => return None,
    })
}

/// Element count of `dims`, each checked against MAX_DIMENSION; `what` names the tensor.
fn volume(dims: impl IntoIterator<Item = i64>, what: &str) -> Result<u64, Error> {
    dims.into_iter().try_fold(1u64, |count, dim| {
        let dim = u64::try_from(dim)
            .map_err(|_| rejected(format!("{what} has a negative dimension {dim}")))?;
        if dim > MAX_DIMENSION {
            return Err(exceeded(
                format!("MAX_DIMENSION: a dimension of {what}"),
                MAX_DIMENSION,
                dim,
            ));
        }
        Ok(count.saturating_mul(dim))
    })
}

fn bytes_of(count: u64, element: u64, what: &str) -> Result<u64, Error> {
    let bytes = count.saturating_mul(element);
    if bytes > MAX_TENSOR_BYTES {
        return Err(exceeded(
            format!("MAX_TENSOR_BYTES: the bytes of {what}"),
            MAX_TENSOR_BYTES,
            bytes,
        ));
    }
    Ok(bytes)
}

/// One stored tensor: a known type, dimensions in range, data present and exactly as long
/// as the dimensions say. Returns its bytes.
fn check_tensor(tensor: &TensorProto, what: &str) -> Result<u64, Error> {
    if tensor.data_location == Some(DataLocation::External as i32)
        || !tensor.external_data.is_empty()
    {
        return Err(rejected(format!(
            "{what} keeps its data in an external file; save the model with its tensors inside the .onnx file"
        )));
    }
    let element = element_bytes(tensor.data_type).ok_or_else(|| {
        rejected(format!(
            "{what} has ONNX data type {}, which tract cannot load",
            tensor.data_type
        ))
    })?;
    let count = volume(tensor.dims.iter().copied(), what)?;
    let bytes = bytes_of(count, element, what)?;
    let stored = if !tensor.raw_data.is_empty() {
        tensor.raw_data.len() as u64
    } else {
        let values = [
            tensor.float_data.len(),
            tensor.int32_data.len(),
            tensor.int64_data.len(),
            tensor.double_data.len(),
            tensor.uint64_data.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        values as u64 * element
    };
    if stored != bytes {
        return Err(rejected(format!(
            "{what} is declared {:?} ({bytes} bytes) but holds {stored} bytes, which the ONNX checker refuses",
            tensor.dims
        )));
    }
    Ok(bytes)
}

fn check_value_info(info: &ValueInfoProto, kind: &str) -> Result<(), Error> {
    if let Some(TypeValue::TensorType(tensor)) = info.r#type.as_ref().and_then(|t| t.value.as_ref())
        && let Some(shape) = &tensor.shape
    {
        let what = format!("{kind} '{}'", info.name);
        // Exporters write -1 for a free dimension (Paddle does): unknown, as tract reads it.
        let known = shape.dim.iter().filter_map(|d| match d.value {
            Some(DimValue::DimValue(v)) if v >= 0 => Some(v),
            _ => None,
        });
        volume(known, &what)?;
    }
    Ok(())
}

/// Where each constant of the graph sits by output name: (0, i) for initializer i, (1, i)
/// for `Constant` node i. (The same map type as `branches`' producers: one copy of the
/// hash table's code in the module.)
fn constants(graph: &GraphProto) -> HashMap<&str, (usize, usize)> {
    let mut found: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, tensor) in graph.initializer.iter().enumerate() {
        found.insert(&tensor.name, (0, i));
    }
    for (i, node) in graph.node.iter().enumerate() {
        if node.op_type == "Constant"
            && let Some(output) = node.output.first()
        {
            found.insert(output, (1, i));
        }
    }
    found
}

/// The values of a constant int64 tensor.
fn constant_ints(graph: &GraphProto, (kind, i): (usize, usize)) -> Option<Vec<i64>> {
    let tensor = if kind == 0 {
        &graph.initializer[i]
    } else {
        let value = graph.node[i].attribute.iter().find(|a| a.name == "value");
        value?.t.as_ref()?
    };
    if tensor.data_type != DataType::Int64 as i32 {
        return None;
    }
    if tensor.raw_data.is_empty() {
        return Some(tensor.int64_data.clone());
    }
    let chunks = tensor.raw_data.chunks_exact(8);
    Some(
        chunks
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect(),
    )
}

/// Bytes a node of constant shape materialises (`ConstantOfShape`, `Expand`, `Range`),
/// counted at 8 bytes an element, if its shape is known here.
fn materialised_bytes(
    graph: &GraphProto,
    node: &NodeProto,
    constants: &HashMap<&str, (usize, usize)>,
) -> Result<Option<u64>, Error> {
    let shape_input = match node.op_type.as_str() {
        "ConstantOfShape" | "Range" => 0,
        "Expand" => 1,
        _ => return Ok(None),
    };
    let input = |i: usize| {
        let position = constants.get(node.input.get(i)?.as_str())?;
        constant_ints(graph, *position)
    };
    let what = format!("the output of {} node '{}'", node.op_type, node_label(node));
    let count = if node.op_type == "Range" {
        match (
            input(0).as_deref(),
            input(1).as_deref(),
            input(2).as_deref(),
        ) {
            (Some([start]), Some([limit]), Some([delta])) => {
                let span = limit.saturating_sub(*start);
                let count = if span != 0 && (span > 0) == (*delta > 0) {
                    span.unsigned_abs().div_ceil(delta.unsigned_abs())
                } else {
                    0
                };
                volume([i64::try_from(count).unwrap_or(i64::MAX)], &what)?
            }
            _ => return Ok(None),
        }
    } else {
        match input(shape_input) {
            Some(shape) => volume(shape, &what)?,
            None => return Ok(None),
        }
    };
    bytes_of(count, 8, &what).map(Some)
}

/// Every bound that the protobuf alone decides, on the graph and its subgraphs.
pub fn check_graph(graph: &GraphProto) -> Result<(), Error> {
    let mut nodes = 0u64;
    visit_nodes(graph, &mut |_| {
        nodes += 1;
        Ok(())
    })?;
    if nodes > MAX_MODEL_NODES {
        return Err(exceeded(
            "MAX_MODEL_NODES: the model's nodes (too large to load in one message)".into(),
            MAX_MODEL_NODES,
            nodes,
        ));
    }
    let mut constant_bytes = 0u64;
    check_scope(graph, &mut constant_bytes)?;
    if constant_bytes > MAX_CONSTANT_BYTES {
        return Err(exceeded(
            "MAX_CONSTANT_BYTES: the bytes of the model's constants".into(),
            MAX_CONSTANT_BYTES,
            constant_bytes,
        ));
    }
    Ok(())
}

fn check_scope(graph: &GraphProto, constant_bytes: &mut u64) -> Result<(), Error> {
    for tensor in &graph.initializer {
        *constant_bytes += check_tensor(tensor, &format!("initializer '{}'", tensor.name))?;
    }
    for (infos, kind) in [
        (&graph.input, "input"),
        (&graph.output, "output"),
        (&graph.value_info, "value_info"),
    ] {
        for info in infos {
            check_value_info(info, kind)?;
        }
    }
    let constants = constants(graph);
    for node in &graph.node {
        for attribute in &node.attribute {
            let what = || {
                format!(
                    "attribute '{}' of node '{}'",
                    attribute.name,
                    node_label(node)
                )
            };
            if let Some(tensor) = &attribute.t {
                *constant_bytes += check_tensor(tensor, &what())?;
            }
            for tensor in &attribute.tensors {
                *constant_bytes += check_tensor(tensor, &what())?;
            }
            if let Some(body) = &attribute.g {
                check_scope(body, constant_bytes)?;
            }
            for body in &attribute.graphs {
                check_scope(body, constant_bytes)?;
            }
        }
        *constant_bytes += materialised_bytes(graph, node, &constants)?.unwrap_or(0);
    }
    Ok(())
}

fn fact_bytes(fact: &TypedFact) -> Option<u64> {
    let count = fact
        .shape
        .as_concrete()?
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))?;
    count.checked_mul(fact.datum_type.size_of() as u64)
}

/// After typing: no intermediate of known shape above MAX_TENSOR_BYTES, and outputs of
/// known shape within MAX_OUTPUT_BYTES, so that no inference is paid for a reply that
/// cannot be sent.
pub fn check_typed(model: &TypedModel) -> Result<(), Error> {
    for node in model.nodes() {
        for output in &node.outputs {
            if let Some(bytes) = fact_bytes(&output.fact)
                && bytes > MAX_TENSOR_BYTES
            {
                return Err(exceeded(
                    format!(
                        "MAX_TENSOR_BYTES: the bytes of the output of node '{}'",
                        node.name
                    ),
                    MAX_TENSOR_BYTES,
                    bytes,
                ));
            }
        }
    }
    let mut total = 0u64;
    for outlet in model
        .output_outlets()
        .map_err(|e| rejected(format!("{e:#}")))?
    {
        let fact = model
            .outlet_fact(*outlet)
            .map_err(|e| rejected(format!("{e:#}")))?;
        total = total.saturating_add(fact_bytes(fact).unwrap_or(0));
    }
    if total > MAX_OUTPUT_BYTES {
        return Err(exceeded(
            "MAX_OUTPUT_BYTES: the bytes of the model's outputs, known at load".into(),
            MAX_OUTPUT_BYTES,
            total,
        ));
    }
    Ok(())
}

/// Before an inference: the outputs' bytes once the inputs' shapes fix the symbols, within
/// MAX_OUTPUT_BYTES, so that no inference is paid for a reply that cannot be sent.
/// `check_typed` bounded the outputs of known shape at load; this bounds those whose shape
/// is a function of the inputs' symbols (`2·batch`, `(height + 15) / 16`). A dimension only
/// the inference decides (a detector's box count) is left to the check after it.
pub fn check_outputs_for(
    input_facts: &[TensorFact],
    output_facts: &[TensorFact],
    inputs: &[&icinfer_api::Tensor],
) -> Result<(), Error> {
    let symbolic = |facts: &[TensorFact]| {
        facts
            .iter()
            .any(|f| f.shape.iter().any(|d| matches!(d, Dim::Symbol(_))))
    };
    if !symbolic(output_facts) {
        return Ok(()); // bounded at load by `check_typed`
    }
    // A dimension that names an input's symbol is read directly; only expressions
    // (`2*N`) go through tract's parser, whose setup costs tens of thousands of
    // instructions per inference.
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for (fact, tensor) in input_facts.iter().zip(inputs) {
        for (dim, &size) in fact.shape.iter().zip(&tensor.shape) {
            if let Dim::Symbol(name) = dim {
                sizes.insert(name, size);
            }
        }
    }
    let mut parsed: Option<(SymbolScope, SymbolValues)> = None;
    let mut evaluate = |expression: &str| -> Option<u64> {
        if let Some(&size) = sizes.get(expression) {
            return Some(size);
        }
        let (scope, values) = parsed.get_or_insert_with(|| {
            let scope = SymbolScope::default();
            let mut values = SymbolValues::default();
            for (name, &size) in &sizes {
                values.set(&scope.sym(name), size as i64);
            }
            (scope, values)
        });
        let value = scope
            .parse_tdim(expression)
            .ok()?
            .eval(values)
            .to_i64()
            .ok()?;
        u64::try_from(value).ok()
    };
    let mut total = 0u64;
    for fact in output_facts {
        let mut count = Some(1u64);
        for dim in &fact.shape {
            let size = match dim {
                Dim::Fixed(size) => Some(*size),
                Dim::Symbol(expression) => evaluate(expression),
            };
            count = count.zip(size).and_then(|(c, s)| c.checked_mul(s));
        }
        let bytes = count.map(|c| c.saturating_mul(fact.dtype.size_bytes() as u64));
        total = total.saturating_add(bytes.unwrap_or(0));
    }
    if total > MAX_OUTPUT_BYTES {
        return Err(exceeded(
            "MAX_OUTPUT_BYTES: the bytes of the model's outputs for these input shapes".into(),
            MAX_OUTPUT_BYTES,
            total,
        ));
    }
    Ok(())
}
