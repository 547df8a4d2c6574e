//! Element-wise chains between byte tensors as one table lookup per channel.

use super::mapping::{Mapping, Tract};
use super::replace;
use icinfer_kernels::elementwise;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;

/// A chain of element-wise operators from a byte tensor (u8 or i8) to a byte tensor of the
/// same shape, whose constant operands vary along one axis at most, as [`ByteTable`]: each
/// output byte is then a function of the input byte and its index on that axis, which tract's
/// own operators tabulate at load, 256 entries per index. The int8 MobileNetV2 takes u8 pixels
/// and normalises them per channel (`Cast`, `Mul`, `Add`, `QuantizeLinear`): 7.4 M of its
/// inference in tract's three passes (multiply and add fused), one a generic cast at 34
/// instructions a byte. `node` is the chain's first.
pub fn byte_tables(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let mut variable = node
        .inputs
        .iter()
        .filter(|&&i| model.outlet_fact(i).is_ok_and(|fact| fact.konst.is_none()));
    let (Some(&input), None) = (variable.next(), variable.next()) else {
        return Ok(None);
    };
    let fact = model.outlet_fact(input)?;
    let Some(shape) = fact.shape.as_concrete() else {
        return Ok(None);
    };
    if !is_byte(fact.datum_type) || model.node(input.node).op_is::<Tract<ByteTable>>() {
        return Ok(None);
    }
    let Some(chain) = ByteChain::from(model, input, node.id, shape)? else {
        return Ok(None);
    };
    let table = chain.tabulate(model, fact.datum_type, shape)?;
    let output = model.outlet_fact(chain.last().into())?.datum_type;
    let op = ByteTable {
        axis: chain.axis,
        table,
        output,
    };
    replace(model, model.node(chain.last()), &[input], op)
}

fn is_byte(datum_type: DatumType) -> bool {
    matches!(datum_type.unquantized(), DatumType::U8 | DatumType::I8)
}

/// A tabulable chain: its input, its nodes first to last, and the one axis its constants vary
/// along.
struct ByteChain {
    input: OutletId,
    nodes: Vec<usize>,
    axis: Option<usize>,
}

impl ByteChain {
    /// The longest chain from `first` that ends on a byte tensor: each node element-wise on its
    /// predecessor alone (other operands constant), of `shape`, each but the last read only by
    /// the next.
    fn from(
        model: &TypedModel,
        input: OutletId,
        first: usize,
        shape: &[usize],
    ) -> TractResult<Option<Self>> {
        let mut chain = ByteChain {
            input,
            nodes: vec![],
            axis: None,
        };
        let (mut end, mut id, mut wire) = (0, first, input);
        loop {
            let node = model.node(id);
            if !chain.admits(model, node, wire, shape)? {
                break;
            }
            chain.nodes.push(id);
            let outlet = OutletId::new(id, 0);
            if is_byte(model.outlet_fact(outlet)?.datum_type) {
                end = chain.nodes.len();
            }
            let successors = &node.outputs[0].successors;
            if node.outputs.len() != 1
                || successors.len() != 1
                || model.output_outlets()?.contains(&outlet)
            {
                break;
            }
            (id, wire) = (successors[0].node, outlet);
        }
        chain.nodes.truncate(end);
        Ok((!chain.nodes.is_empty()).then_some(chain))
    }

    fn last(&self) -> usize {
        *self.nodes.last().expect("a chain has a node")
    }

    /// Whether `node` is element-wise on `wire`, keeps `shape`, and takes no constant that
    /// varies along another axis than the chain's (which it then fixes).
    fn admits(
        &mut self,
        model: &TypedModel,
        node: &TypedNode,
        wire: OutletId,
        shape: &[usize],
    ) -> TractResult<bool> {
        if node.outputs.len() != 1
            || model.outlet_fact(node.id.into())?.shape.as_concrete() != Some(shape)
        {
            return Ok(false);
        }
        if node.op_is::<Cast>() || node.op_is::<ElementWiseOp>() {
            return Ok(node.inputs[..] == [wire]);
        }
        if !node.op_is::<TypedBinOp>() || node.inputs.len() != 2 {
            return Ok(false);
        }
        let Some(&constant) = node.inputs.iter().find(|&&i| i != wire) else {
            return Ok(false);
        };
        let Some(konst) = &model.outlet_fact(constant)?.konst else {
            return Ok(false);
        };
        if !node.inputs.contains(&wire) || konst.rank() != shape.len() {
            return Ok(false);
        }
        for (axis, (&k, &n)) in konst.shape().iter().zip(shape).enumerate() {
            if k == 1 {
                continue;
            }
            if k != n || self.axis.is_some_and(|a| a != axis) {
                return Ok(false);
            }
            self.axis = Some(axis);
        }
        Ok(true)
    }

    /// The chain's outputs for every byte at every index along its axis: tract's own
    /// operators, run on a tensor of `shape`'s rank that holds those 256 · n inputs and nothing
    /// else. Row `i` of the table, `table[256·i..][..256]`, is index `i`'s.
    fn tabulate(
        &self,
        model: &TypedModel,
        input: DatumType,
        shape: &[usize],
    ) -> TractResult<Vec<u8>> {
        let rank = shape.len();
        let channels = self.axis.map_or(1, |a| shape[a]);
        // Bytes along the last axis that is not the chain's; the rank-0 case has no table.
        let Some(byte_axis) = (0..rank).rev().find(|&a| Some(a) != self.axis) else {
            bail!("a byte table needs an axis for the bytes");
        };
        let mut table_shape = vec![1; rank];
        table_shape[byte_axis] = 256;
        if let Some(axis) = self.axis {
            table_shape[axis] = channels;
        }
        let bytes_first = self.axis.is_some_and(|a| a > byte_axis);
        let inputs: Vec<u8> = (0..channels * 256)
            .map(|i| if bytes_first { i / channels } else { i % 256 } as u8)
            .collect();
        let mut inputs = Tensor::from_shape(&table_shape, &inputs)?;
        // SAFETY: a byte type in place of a byte type.
        unsafe { inputs.set_datum_type(input) };

        let mut tabulator = TypedModel::default();
        let mut wire = tabulator.add_source("byte_table.input", input.fact(&table_shape))?;
        let mut previous = self.input;
        for &id in &self.nodes {
            let node = model.node(id);
            let mut wires = tvec![];
            for (slot, &outlet) in node.inputs.iter().enumerate() {
                wires.push(if outlet == previous {
                    wire
                } else {
                    let konst = model.outlet_fact(outlet)?.konst.clone();
                    let konst = konst.context("a chain's other operands are constants")?;
                    tabulator.add_const(format!("{}.{slot}", node.name), konst)?
                });
            }
            wire = tabulator.wire_node(&node.name, node.op.clone(), &wires)?[0];
            previous = id.into();
        }
        tabulator.select_output_outlets(&[wire])?;
        let outputs = tabulator
            .into_runnable()?
            .run(tvec![inputs.into_tvalue()])?;
        let outputs = outputs[0].try_as_plain_ram()?.as_bytes();
        Ok((0..channels * 256)
            .map(|i| {
                let (channel, byte) = (i / 256, i % 256);
                outputs[if bytes_first {
                    byte * channels + channel
                } else {
                    i
                }]
            })
            .collect())
    }
}

/// Bytes mapped through a table of 256 entries per index along `axis` (one table if none):
/// a [`ByteChain`] in one pass.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ByteTable {
    axis: Option<usize>,
    /// Index `i`'s entries at `[256·i..][..256]`.
    table: Vec<u8>,
    output: DatumType,
}

impl Mapping for ByteTable {
    const NAME: &'static str = "ByteTable";

    fn output_type(&self) -> DatumType {
        self.output
    }

    fn info(&self) -> Vec<String> {
        vec![format!(
            "axis: {:?}, {} tables",
            self.axis,
            self.table.len() / 256
        )]
    }

    fn map(&self, input: &Tensor, output: &mut Tensor) -> TractResult<()> {
        let shape = input.shape();
        // Runs of `inner` bytes share an index along the axis, which cycles through the tables.
        let inner: usize = self
            .axis
            .map_or(input.len(), |a| shape[a + 1..].iter().product());
        let tables = self.table.as_chunks::<256>().0;
        ensure!(self.axis.is_none_or(|a| shape[a] == tables.len()));
        let from = input.try_as_plain_ram()?.as_bytes().chunks(inner.max(1));
        for ((into, from), table) in output
            .try_as_plain_ram_mut()?
            .as_bytes_mut()
            .chunks_mut(inner.max(1))
            .zip(from)
            .zip(tables.iter().cycle())
        {
            elementwise::look_up(into, from, table);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::before_codegen;

    /// `input → Cast f32 → · scale → + shift → QuantizeLinear` with `scale` and `shift` of
    /// `constants`' shape: a normalisation of pixels per channel, then quantised.
    fn normalised(
        input: TypedFact,
        constants: &[usize],
        output: (f32, u8),
    ) -> TractResult<TypedModel> {
        use tract_onnx::tract_core::ops::{math, quant::quantize_linear_u8};
        let count = constants.iter().product::<usize>();
        let values = |a: f32, b: f32| -> TractResult<Tensor> {
            let v: Vec<f32> = (0..count).map(|i| a + b * i as f32).collect();
            Tensor::from_shape(constants, &v)
        };
        let mut model = TypedModel::default();
        let x = model.add_source("pixels", input)?;
        let x = model.wire_node("cast", Cast::new(f32::datum_type()), &[x])?[0];
        let scale = model.add_const("scale.k", values(0.0171, 0.0007)?)?;
        let x = model.wire_node("scale", math::mul(), &[scale, x])?[0];
        let shift = model.add_const("shift.k", values(-2.1, 0.3)?)?;
        let x = model.wire_node("shift", math::add(), &[x, shift])?[0];
        let y = model.wire_node("q", quantize_linear_u8(output.0, output.1), &[x])?[0];
        model.select_output_outlets(&[y])?;
        Ok(model)
    }

    #[test]
    fn element_wise_chains_between_byte_tensors_become_one_table_with_tracts_bytes()
    -> TractResult<()> {
        // Channels first and last (bytes tabulated before the channel axis), one table for all,
        // and i8 in.
        let cases = [
            (u8::datum_type(), [1, 3, 9, 11], [1, 3, 1, 1], Some(1)),
            (u8::datum_type(), [1, 6, 5, 3], [1, 1, 1, 3], Some(3)),
            (u8::datum_type(), [2, 3, 4, 5], [1, 1, 1, 1], None),
            (i8::datum_type(), [1, 4, 8, 8], [1, 4, 1, 1], Some(1)),
        ];
        for (dt, shape, constants, axis) in cases {
            let model = normalised(dt.fact(shape), &constants, (19.5, 111))?;
            let ours = before_codegen(model.clone())?;
            let tables: Vec<&Tract<ByteTable>> =
                ours.nodes().iter().filter_map(|n| n.op_as()).collect();
            assert_eq!(tables.len(), 1, "{ours}");
            assert_eq!(tables[0].0.axis, axis);
            assert_eq!(ours.nodes().len(), 2, "{ours}");
            let len = shape.iter().product::<usize>();
            let mut input = Tensor::from_shape(
                &shape,
                &(0..len).map(|i| (i * 97 + 13) as u8).collect::<Vec<_>>(),
            )?;
            unsafe { input.set_datum_type(dt) };
            let run = |m: TypedModel| -> TractResult<Vec<u8>> {
                let y = m.into_runnable()?.run(tvec![input.clone().into_tvalue()])?;
                Ok(y[0].try_as_plain_ram()?.as_bytes().to_vec())
            };
            let expected = run(model.into_optimized()?)?;
            let got = run(ours.into_optimized()?)?;
            assert_eq!(got, expected, "{shape:?}");
            let distinct = got.iter().collect::<std::collections::HashSet<_>>().len();
            assert!(distinct > 50, "{distinct}");
        }
        Ok(())
    }

    #[test]
    fn chains_that_are_no_byte_table_are_left_alone() -> TractResult<()> {
        // Constants that vary along two axes; a chain that ends in f32.
        let model = normalised(u8::fact([1, 3, 4, 4]), &[1, 3, 4, 1], (19.5, 111))?;
        let ours = before_codegen(model)?;
        assert!(
            !ours.nodes().iter().any(|n| n.op_is::<Tract<ByteTable>>()),
            "{ours}"
        );
        let mut model = TypedModel::default();
        let x = model.add_source("pixels", u8::fact([1, 3, 4, 4]))?;
        let y = model.wire_node("cast", Cast::new(f32::datum_type()), &[x])?[0];
        model.select_output_outlets(&[y])?;
        let ours = before_codegen(model)?;
        assert!(
            !ours.nodes().iter().any(|n| n.op_is::<Tract<ByteTable>>()),
            "{ours}"
        );
        Ok(())
    }
}
