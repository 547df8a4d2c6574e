//! Declared input facts applied to the protobuf: each symbolic dimension of a declared
//! input (`batch`, `height`) takes the declared size everywhere the graph names it, and
//! `value_info` entries that still carry symbols are dropped. `value_info` is only a hint
//! (onnxruntime infers shapes itself); torch writes expressions of the input symbols there
//! ("(height+1)/2"), which tract cannot unify with the sizes the declared facts give.

use icinfer_api::{Dim, Error, TensorFact};
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ValueInfoProto};

fn dims_mut(
    info: &mut ValueInfoProto,
) -> Option<&mut Vec<tract_onnx::pb::tensor_shape_proto::Dimension>> {
    match info.r#type.as_mut()?.value.as_mut()? {
        TypeValue::TensorType(tensor) => Some(&mut tensor.shape.as_mut()?.dim),
    }
}

fn symbolic(info: &ValueInfoProto) -> bool {
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(tensor)) => tensor.shape.as_ref().is_some_and(|shape| {
            shape
                .dim
                .iter()
                .any(|d| matches!(d.value, Some(DimValue::DimParam(_))))
        }),
        None => false,
    }
}

/// Binds the declared inputs' symbols and drops the `value_info` hints that still name a
/// symbol. Without declared facts the graph is left as it is.
pub fn resolve_declared(graph: &mut GraphProto, declared: &[TensorFact]) -> Result<(), Error> {
    if declared.is_empty() {
        return Ok(());
    }
    let mut bound: Vec<(String, i64)> = vec![];
    for fact in declared {
        let Some(input) = graph.input.iter_mut().find(|i| i.name == fact.name) else {
            continue;
        };
        let Some(dims) = dims_mut(input) else {
            continue;
        };
        if dims.len() != fact.shape.len() {
            return Err(Error::ModelRejected {
                reason: format!(
                    "input_facts gives '{}' rank {}, the model declares rank {}",
                    fact.name,
                    fact.shape.len(),
                    dims.len()
                ),
            });
        }
        for (dim, declared) in dims.iter_mut().zip(&fact.shape) {
            if let (Some(DimValue::DimParam(symbol)), Dim::Fixed(size)) = (&dim.value, declared) {
                bound.push((symbol.clone(), *size as i64));
            }
            dim.value = Some(match declared {
                Dim::Fixed(size) => DimValue::DimValue(*size as i64),
                Dim::Symbol(symbol) => DimValue::DimParam(symbol.clone()),
            });
        }
    }
    for info in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        if let Some(dims) = dims_mut(info) {
            for dim in dims {
                if let Some(DimValue::DimParam(symbol)) = &dim.value
                    && let Some(&(_, size)) = bound.iter().find(|(s, _)| s == symbol)
                {
                    dim.value = Some(DimValue::DimValue(size));
                }
            }
        }
    }
    graph.value_info.retain(|info| !symbolic(info));
    Ok(())
}
