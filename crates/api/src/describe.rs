//! Tensor types as people read them, in error messages and listings: `f32[N, 3, 224, 224]`.
//! One formatter for the canister's errors and for every client.

use crate::{Dim, Tensor, TensorFact};

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

/// A fact's type and shape, symbols by name: `f32[N, 64]`.
pub fn describe_fact(fact: &TensorFact) -> String {
    let dims: Vec<String> = fact.shape.iter().map(Dim::to_string).collect();
    format!("{}[{}]", fact.dtype, dims.join(", "))
}

/// A tensor's type and shape: `f32[1, 64]`.
pub fn describe_tensor(tensor: &Tensor) -> String {
    let dims: Vec<String> = tensor.shape.iter().map(u64::to_string).collect();
    format!("{}[{}]", tensor.data.dtype(), dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, TensorData};

    #[test]
    fn facts_and_tensors_read_as_type_and_shape() {
        let fact = TensorFact {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![Dim::Symbol("N".into()), Dim::Fixed(3), Dim::Fixed(224)],
        };
        assert_eq!(describe_fact(&fact), "f32[N, 3, 224]");
        let scalar = TensorFact {
            shape: Vec::new(),
            dtype: DType::I64,
            ..fact
        };
        assert_eq!(describe_fact(&scalar), "i64[]");
        let tensor = Tensor {
            name: "x".into(),
            shape: vec![1, 2],
            data: TensorData::U8(vec![7, 8].into()),
        };
        assert_eq!(describe_tensor(&tensor), "u8[1, 2]");
    }
}
