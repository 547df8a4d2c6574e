//! A plan run one node at a time, so an inference can span many messages.
//!
//! tract's `SimpleState::run` evaluates the whole plan in one call. Its pieces are public:
//! `compute_one_with_inputs` evaluates one node, and the plan's evaluation order is
//! `order_without_consts`. What `run` does besides, this module does too, in the same order
//! per node: gather the node's inputs, free the intermediates no later node reads (the
//! flush list, built with `build_flush_list` exactly as the plan builds its own, once per
//! [`Schedule`]),
//! evaluate, and bind symbols from the output shapes until every symbol of the model has a
//! value. The same nodes run on the same values, so the outputs are bit for bit `run`'s.
//! (`run` also lets stateful operators with initial tensors resolve symbols first, and
//! calls a plan's turn handler; the plans `runtime::load` makes have neither.)

use crate::runtime::{self, Plan};
use icinfer_api::{Error, Tensor, TensorFact};
use std::collections::HashSet;
use std::sync::Arc;
use tract_onnx::tract_core::internal::{
    Symbol, TDim, TValue, TVec, ToDim, TractError, TractResult, TurnState,
    TypedSimpleState as State, bail, solve_for,
};
use tract_onnx::tract_core::model::order::build_flush_list;
use tract_onnx::tract_core::ops::konst::Const;

/// What every forward pass of a plan needs besides its values, worked out once per plan
/// user (a job, a generation) instead of once per pass: the evaluation order, the flush
/// list and the symbols to bind. Built per pass with a fresh state, they cost the tiny GPT
/// 1.76 M of its 11.43 M instructions per decoded token (docs/performance.md, "Text
/// generation").
pub struct Schedule {
    /// The plan's evaluation order (constants excluded: the state holds their values).
    order: Vec<usize>,
    /// `flush[step]`: nodes whose values no step from `step` on reads.
    flush: Vec<TVec<usize>>,
    symbols: Vec<Symbol>,
}

impl Schedule {
    pub fn of(plan: &Plan) -> Schedule {
        let model = plan.model();
        let order = plan.order_without_consts().to_vec();
        let flush = build_flush_list(model, &order, &model.outputs, |n| !n.op_is::<Const>());
        #[allow(clippy::mutable_key_type)]
        let mut symbols: HashSet<Symbol> = HashSet::new();
        for node in &model.nodes {
            for output in &node.outputs {
                symbols.extend(output.fact.shape.iter().flat_map(|d| d.symbols()));
            }
        }
        Schedule {
            order,
            flush,
            symbols: symbols.into_iter().collect(),
        }
    }
}

/// A finished pass's state, cleared by [`PlanRun::into_state`].
pub struct SpareState(State);

/// One inference in progress: tract's state with the values computed so far.
pub struct PlanRun {
    state: State,
    schedule: Arc<Schedule>,
    next: usize,
}

impl PlanRun {
    /// Sets the inputs, already ordered and checked by `runtime::match_inputs`.
    pub fn start(plan: &Plan, inputs: &[&Tensor]) -> Result<Self, Error> {
        let values: TVec<TValue> = inputs
            .iter()
            .map(|t| runtime::to_tract(t).map(TValue::from))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        Self::start_values(plan, &Arc::new(Schedule::of(plan)), None, values)
    }

    /// Sets tract values as the inputs, in the model's order (a decoder's KV cache, which
    /// stays in tract's form from one forward pass to the next), on the plan's `schedule`
    /// and on the state a finished pass of the same plan gave back, if there is one.
    pub fn start_values(
        plan: &Plan,
        schedule: &Arc<Schedule>,
        spare: Option<SpareState>,
        values: TVec<TValue>,
    ) -> Result<Self, Error> {
        // A state is used again only if no operator keeps state between passes (no Scan,
        // no sub-model): clearing the values would not clear that.
        let mut state = match spare {
            Some(SpareState(state)) if state.op_states.iter().all(Option::is_none) => state,
            _ => plan.spawn().map_err(failed)?,
        };
        state.set_inputs(values).map_err(failed)?;
        Ok(PlanRun {
            state,
            schedule: Arc::clone(schedule),
            next: 0,
        })
    }

    /// The state, cleared to what a fresh one holds (the constants' values, no symbol
    /// bound), for the next pass of the same plan once this one's outputs are taken: a
    /// pass on it computes what it would on a fresh state, without building one (a few
    /// allocations per node).
    pub fn into_state(mut self) -> SpareState {
        for &node in &self.schedule.order {
            self.state.turn_state.values[node] = None;
        }
        let plan = Arc::clone(self.state.plan());
        for input in &plan.model().inputs {
            self.state.turn_state.values[input.node] = None;
        }
        self.state.turn_state.resolved_symbols = Default::default();
        self.state.turn_state.scenario = None;
        SpareState(self.state)
    }

    pub fn nodes_total(&self) -> u64 {
        self.schedule.order.len() as u64
    }

    pub fn nodes_done(&self) -> u64 {
        self.next as u64
    }

    pub fn is_finished(&self) -> bool {
        self.next == self.schedule.order.len()
    }

    /// The next node, as errors name it: its name, id and operator.
    pub fn next_node_name(&self) -> String {
        self.schedule
            .order
            .get(self.next)
            .map(|&id| describe(&self.state, id))
            .unwrap_or_default()
    }

    /// The node that `step` just ran.
    pub fn last_node_name(&self) -> String {
        self.next
            .checked_sub(1)
            .map(|step| describe(&self.state, self.schedule.order[step]))
            .unwrap_or_default()
    }

    /// Evaluates the next node.
    pub fn step(&mut self) -> Result<(), Error> {
        let node = *self
            .schedule
            .order
            .get(self.next)
            .expect("step after the last node");
        self.step_node(node).map_err(failed)?;
        self.next += 1;
        Ok(())
    }

    fn step_node(&mut self, node: usize) -> TractResult<()> {
        let inputs = self.state.prepare_inputs(node)?;
        for &dead in &self.schedule.flush[self.next] {
            self.state.turn_state.values[dead] = None;
        }
        self.state.compute_one_with_inputs(node, inputs)?;
        if !self.symbols_resolved() {
            let plan = Arc::clone(self.state.plan());
            let shapes: TVec<TVec<usize>> = self.state.turn_state.values[node]
                .as_ref()
                .expect("a computed node has values")
                .iter()
                .map(|value| value.shape().into())
                .collect();
            for (outlet, shape) in plan.model().node(node).outputs.iter().zip(&shapes) {
                for (abstract_dim, &concrete) in outlet.fact.shape.iter().zip(shape) {
                    resolve(&mut self.state.turn_state, abstract_dim, concrete as i64)?;
                }
            }
        }
        Ok(())
    }

    fn symbols_resolved(&self) -> bool {
        let resolved = &self.state.turn_state.resolved_symbols;
        self.schedule
            .symbols
            .iter()
            .all(|s| resolved.get(s).is_some())
    }

    /// Values held at the moment (model inputs, constants and live intermediates).
    pub fn live_values(&self) -> usize {
        self.state
            .turn_state
            .values
            .iter()
            .filter(|v| v.is_some())
            .count()
    }

    /// The outputs in tract's form, in the model's order, once every node has run.
    pub fn take_values(&mut self) -> Result<TVec<TValue>, Error> {
        assert!(self.is_finished(), "outputs before the last node");
        self.state.outputs().map_err(failed)
    }

    /// The outputs, named after the model's output facts, once every node has run.
    pub fn outputs(&mut self, facts: &[TensorFact]) -> Result<Vec<Tensor>, Error> {
        assert!(self.is_finished(), "outputs before the last node");
        let values = self.state.outputs().map_err(failed)?;
        runtime::name_outputs(&values, facts)
    }
}

fn describe(state: &State, id: usize) -> String {
    let node = state.model().node(id);
    format!("'{}' (#{}, {})", node.name, node.id, node.op().name())
}

fn failed(e: TractError) -> Error {
    Error::InferenceFailed {
        reason: format!("{e:#}"),
    }
}

/// tract's `SimpleState::resolve` (private there), which `run` applies to every output
/// dimension until all symbols are bound: a bare symbol takes the size it met; an
/// expression of one unbound symbol is solved for it.
fn resolve(state: &mut TurnState, expression: &TDim, provided: i64) -> TractResult<()> {
    let guess_scenario = |state: &mut TurnState, sym: &Symbol| -> TractResult<()> {
        if state.scenario.is_none()
            && let Some(scope) = sym.scope()
        {
            state.scenario = scope.guess_scenario(&state.resolved_symbols)?;
        }
        Ok(())
    };
    if let TDim::Sym(sym) = expression
        && state.resolved_symbols.get(sym).is_none()
    {
        state.resolved_symbols.set(sym, provided);
        return guess_scenario(state, sym);
    }
    let expected = expression.eval(&state.resolved_symbols);
    if let Some(x) = expected.as_i64()
        && x != provided
    {
        bail!("Clashing resolution for expression. {expression}={x} != {provided}.")
    }
    if expected.symbols().len() == 1 {
        let sym = expected.symbols().into_iter().next().expect("one symbol");
        if let Some(v) = solve_for(&sym, &expected, &provided.to_dim())
            && let Some(v) = v.as_i64()
        {
            state.resolved_symbols.set(&sym, v);
        }
        guess_scenario(state, &sym)?;
    }
    Ok(())
}
