//! Rewrites of tract's graphs that tract does not make itself, through its extension point for
//! operators: operators of our own ([`mapping::Operator`]) patched in before the plan is built.
//! Each replaces a pattern tract runs through its generic code with one that computes the same
//! bits in a fraction of the instructions.
//!
//! Written the way tract writes its own optimiser passes (tract-core's `optim/`): a pass is a
//! function of the model and one node that returns the patch rewriting the pattern at that
//! node, if there is one there; `run!` visits every node with each pass of a list in turn.
//! The families of passes, one file each:
//!
//! - [`pointwise`]: quantised 1×1 convolutions over one flattened axis;
//! - [`byte_tables`]: element-wise chains between byte tensors as one table lookup;
//! - [`depthwise`]: quantised depthwise convolutions computed directly;
//! - [`quantisation`]: quantisation, dequantisation, requantisation through a clip, dynamic
//!   quantisation, u8 activations as i8;
//! - [`int8_packing`]: int8 activations and im2col patches packed into our int8 kernels' panels;
//! - [`elementwise_f32`]: the NaN guard, broadcast sums and products, the exact GELU;
//! - [`mapping`]: what makes tract operators of ours.
//!
//! # Where and in which order
//! tract optimises in two stages, declutter then codegen (which lowers operators to kernels
//! and fuses element-wise work into them); [`crate::runtime`] calls [`before_codegen`]
//! between the two and [`after_optimise`] after both. A pass matches tract's operators at one
//! stage only, and a pass that finds its pattern gone does not fail: it finds nothing, and the
//! model runs, correctly and slower. So the order is a matter of speed, and written down here:
//!
//! - [`before_codegen`]'s passes match what codegen lowers: `EinSum` (into matrix products),
//!   quantised `Conv` (into im2col, matrix products and requantisation chains), and chains of
//!   `Cast`, `ElementWiseOp` and `TypedBinOp` (which codegen fuses into other operators). Run
//!   after codegen, these passes would find none of it. The three touch different operators,
//!   so their order among themselves does not matter.
//! - [`after_optimise`]'s match what only codegen makes (`OptMatMulPack`, packed `Im2Col`,
//!   `OptBinChain`, `OffsetU8asI8`) and what it leaves unfused; tract's codegen and fuse passes
//!   do not know our operators, so taken before them an operator tract would have fused into a
//!   matrix product would stay a pass over memory of its own. One order inside the list is
//!   required: [`quantisation::requantise_chain`] matches the `QuantiseU8` and `DequantiseF32`
//!   that [`quantisation::quantise`] and [`quantisation::dequantise`] put in place of tract's
//!   operators, so it runs after both (before them it finds nothing, and each clip between
//!   quantised convolutions costs three passes over memory instead of one).
//! - [`byte_tables::byte_tables`] (before codegen) must see tract's `QuantizeLinearU8`, which
//!   [`quantisation::quantise`] (after) replaces: our operators end a byte chain.

mod byte_tables;
mod depthwise;
mod elementwise_f32;
mod int8_packing;
mod mapping;
mod pointwise;
mod quantisation;
#[cfg(test)]
mod testing;

use mapping::{Operator, Tract};
use tract_onnx::tract_core::internal::*;

/// Runs passes in the order listed, each over every node, a patch applied as soon as it is
/// found; then compacts the model if anything was patched. A pass is a function of the model
/// and one node that returns the patch rewriting the pattern at that node, if one is there. A
/// patch appends its new nodes (which the pass then visits too) and leaves what it replaces in
/// place, unread, until the compaction. The passes are called directly, not through a table of
/// function pointers, which cost about 230 instructions more per node visited in the canister.
macro_rules! run {
    ($model:expr, [$($pass:path),* $(,)?]) => {{
        let mut model: TypedModel = $model;
        let mut patched = false;
        $(patched |= visit_every_node(&mut model, $pass)?;)*
        if patched {
            model = model.into_compact()?;
        }
        Ok(model)
    }};
}

/// The rewrites of tract's decluttered graph, before its codegen lowers what they match.
pub fn before_codegen(model: TypedModel) -> TractResult<TypedModel> {
    run!(
        model,
        [
            pointwise::flatten_quantised_pointwise,
            byte_tables::byte_tables,
            depthwise::quantised_depthwise,
        ]
    )
}

/// The rewrites of tract's optimised graph, after its codegen, before the plan is built.
pub fn after_optimise(model: TypedModel) -> TractResult<TypedModel> {
    run!(
        model,
        [
            elementwise_f32::nan_guard,
            elementwise_f32::broadcast_binary,
            elementwise_f32::gelu_exact,
            quantisation::dynamic_quantise,
            quantisation::u8_as_i8,
            quantisation::quantise,
            quantisation::dequantise,
            // After quantise and dequantise, whose operators it matches.
            quantisation::requantise_chain,
            int8_packing::pack_i8k4,
            int8_packing::im2col_i8k4,
        ]
    )
}

/// One pass over every node (see `run!`); whether it patched anything.
fn visit_every_node(
    model: &mut TypedModel,
    pass: impl Fn(&TypedModel, &TypedNode) -> TractResult<Option<TypedModelPatch>>,
) -> TractResult<bool> {
    let mut patched = false;
    let mut id = 0;
    while id < model.nodes().len() {
        if let Some(patch) = pass(model, model.node(id))? {
            patch.apply(model)?;
            patched = true;
        }
        id += 1;
    }
    Ok(patched)
}

/// The patch that puts `op`, reading `inputs`, in place of `node`.
fn replace(
    model: &TypedModel,
    node: &TypedNode,
    inputs: &[OutletId],
    op: impl Operator,
) -> TractResult<Option<TypedModelPatch>> {
    TypedModelPatch::replace_single_op(model, node, inputs, Tract(op)).map(Some)
}

/// Whether `node` is tract's operator `name` on a single f32 input.
fn is_named_on_one_f32(model: &TypedModel, node: &TypedNode, name: &str) -> TractResult<bool> {
    Ok(node.op.name() == name
        && node.inputs.len() == 1
        && model.outlet_fact(node.inputs[0])?.datum_type == f32::datum_type())
}
