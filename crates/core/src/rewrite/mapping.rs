//! What makes tract operators of ours: an [`Operator`] says what tract asks of every operator
//! (its outputs' facts, its evaluation, a name and parameters for profiles) and [`Tract`] is
//! the tract operator of it; a [`Mapping`] is an element-wise operator that writes a new
//! tensor, and an [`Operator`] by that alone.

use std::fmt::Debug;
use std::hash::Hash;
use tract_onnx::tract_core::internal::*;

/// One of our operators. Its parameters must be `Eq` and `Hash`, as tract's are: floats are
/// kept as their bits.
pub trait Operator: Debug + Clone + Hash + Eq + Send + Sync + 'static {
    const NAME: &'static str;

    /// Parameters, for profiles.
    fn info(&self) -> Vec<String> {
        vec![]
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;

    /// The outputs of `inputs`, which the plan hands over: an input that nothing else reads
    /// is its only reference, and can be written in place.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// The tract operator of an [`Operator`].
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Tract<O>(pub O);

impl<O: Operator> Op for Tract<O> {
    fn name(&self) -> StaticName {
        O::NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(Operator::info(&self.0))
    }

    op_as_typed_op!();
}

impl<O: Operator> EvalOp for Tract<O> {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }
}

impl<O: Operator> TypedOp for Tract<O> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}

/// An element-wise operator that writes a new tensor of its input's shape.
pub trait Mapping: Debug + Clone + Hash + Eq + Send + Sync + 'static {
    const NAME: &'static str;

    /// The output's element type.
    fn output_type(&self) -> DatumType;

    /// Parameters, for profiles.
    fn info(&self) -> Vec<String> {
        vec![]
    }

    /// Fills `output`, uninitialised, of the input's shape and [`Mapping::output_type`].
    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()>;
}

impl<M: Mapping> Operator for M {
    const NAME: &'static str = <M as Mapping>::NAME;

    fn info(&self) -> Vec<String> {
        Mapping::info(self)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.output_type().fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let mut output = unsafe { Tensor::uninitialized_dt(self.output_type(), input.shape())? };
        self.map(&input, &mut output)?;
        Ok(tvec!(output.into_tvalue()))
    }
}

/// The fact of an operator's only output when it is its first input's (an operator in place).
pub fn same_fact(inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
}
