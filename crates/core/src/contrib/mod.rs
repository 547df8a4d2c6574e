//! onnxruntime's contrib operators (domain `com.microsoft`) that quantised models use,
//! where onnxruntime's definition is clear enough to compute as it does. tract looks
//! operators up by name and ignores the domain, so the preparation pass
//! (`prep::operators`) renames each node of a known contrib operator to its domain-qualified
//! name, under which [`register`] puts the operator in tract's registry: a standard
//! operator of the same name can never be taken for it, nor it for one. The QOperator
//! format's operators need no operator of their own: [`qoperators`] rewrites each into the
//! standard operators that define it.

pub mod lstm;
pub mod qoperators;
pub mod quantize;

use tract_onnx::Onnx;

/// The contrib operators registered here: domain, operator, and the name tract knows it by.
pub const OPERATORS: [(&str, &str, &str); 1] =
    [("com.microsoft", "DynamicQuantizeLSTM", lstm::REGISTERED)];

/// The registered name of a contrib operator, if it is one of [`OPERATORS`].
pub fn registered_name(domain: &str, op_type: &str) -> Option<&'static str> {
    OPERATORS
        .iter()
        .find(|(d, op, _)| *d == domain && *op == op_type)
        .map(|(_, _, name)| *name)
}

/// tract-onnx's registry with the contrib operators added.
pub fn framework() -> Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert(lstm::REGISTERED, lstm::build);
    onnx
}
