//! The tract wrapper: ONNX bytes in, an optimised runnable plan and its input and output
//! facts out; API tensors in, API tensors out. Nothing here knows about storage or the IC.

use crate::tensor::element_count;
use crate::{prep, rewrite};
use icinfer_api::{
    DType, Dim, Error, Tensor, TensorData, TensorFact, describe_fact, describe_tensor,
};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TDim, TValue, TVec,
    TypedFact, TypedModel, TypedRunnableModel,
};

pub type Plan = Arc<TypedRunnableModel>;

/// A model ready to run: the plan and what it expects and promises.
pub struct LoadedModel {
    pub plan: Plan,
    pub inputs: Vec<TensorFact>,
    pub outputs: Vec<TensorFact>,
}

/// tract's `into_optimized` with our rewrites of the decluttered graph between its two stages
/// (the profiling build has its own copy, which times every pass).
#[cfg(not(feature = "profile"))]
fn optimise(mut model: TypedModel) -> tract_onnx::prelude::TractResult<TypedModel> {
    model.declutter()?;
    let mut model = rewrite::before_codegen(model)?;
    model.optimize()?;
    Ok(model)
}

/// Parses, type-checks and optimises an ONNX model. `declared` replaces the facts of the
/// inputs it names (see `CreateModelArgs::input_facts`). The protobuf goes through the
/// preparation pass (`prep`: bounds, operators, declared facts, `If` folding) first; if
/// tract cannot reconcile the file's `value_info` hints, it is typed once more without them.
pub fn load(onnx: Vec<u8>, declared: &[TensorFact]) -> Result<LoadedModel, Error> {
    icinfer_kernels::link();
    let rejected = |e: tract_onnx::prelude::TractError| Error::ModelRejected {
        reason: format!("{e:#}"),
    };
    let framework = crate::contrib::framework();
    let mut proto = profile::span("load: prepare", || {
        prep::prepare(&framework, onnx, declared)
    })?;
    let model = match type_model(&framework, &proto, declared) {
        Ok(model) => model,
        Err(first) => {
            let graph = proto.graph.as_mut().expect("prepare checked the graph");
            if !prep::drop_value_info(graph) {
                return Err(first);
            }
            type_model(&framework, &proto, declared).map_err(|_| first)?
        }
    };
    // tract's tensors hold the weights now: the protobuf's copy goes before optimising
    // makes its packed ones.
    drop(proto);
    prep::bounds::check_typed(&model)?;
    let inputs = facts(&model, model.input_outlets().map_err(rejected)?)?;
    let outputs = facts(&model, model.output_outlets().map_err(rejected)?)?;
    #[cfg(not(feature = "profile"))]
    let model = optimise(model).map_err(rejected)?;
    #[cfg(feature = "profile")]
    let model = profile::span("load: optimise", || profile::optimise(model)).map_err(rejected)?;
    let model =
        profile::span("load: rewrite", || rewrite::after_optimise(model)).map_err(rejected)?;
    let plan = profile::span("load: plan", || model.into_runnable()).map_err(rejected)?;
    Ok(LoadedModel {
        plan,
        inputs,
        outputs,
    })
}

/// tract's parse and typing of a prepared protobuf, with the declared input facts. (Also
/// the `If` conditions' probe of `prep::branches`: one call site of tract's parser and
/// typing in the module, not two.)
pub(crate) fn type_model(
    framework: &tract_onnx::Onnx,
    proto: &tract_onnx::pb::ModelProto,
    declared: &[TensorFact],
) -> Result<TypedModel, Error> {
    let graph = proto.graph.as_ref().expect("prepare checked the graph");
    let explain = |e: tract_onnx::prelude::TractError| {
        prep::diagnose::explain(&e, graph, !declared.is_empty())
    };
    let mut model =
        profile::span("load: parse", || framework.model_for_proto_model(proto)).map_err(explain)?;
    for fact in declared {
        let index = model
            .input_outlets()
            .map_err(explain)?
            .iter()
            .position(|outlet| model.node(outlet.node).name == fact.name)
            .ok_or_else(|| Error::ModelRejected {
                reason: format!("input_facts names '{}', which is not an input", fact.name),
            })?;
        let shape: Vec<TDim> = fact
            .shape
            .iter()
            .map(|dim| match dim {
                Dim::Fixed(size) => TDim::Val(*size as i64),
                Dim::Symbol(name) => TDim::Sym(model.symbols.sym(name)),
            })
            .collect();
        let datum = datum_of(fact.dtype);
        model
            .set_input_fact(index, InferenceFact::dt_shape(datum, shape))
            .map_err(explain)?;
    }
    profile::span("load: type", || model.into_typed()).map_err(explain)
}

fn facts(
    model: &TypedModel,
    outlets: &[tract_onnx::prelude::OutletId],
) -> Result<Vec<TensorFact>, Error> {
    outlets
        .iter()
        .map(|&outlet| {
            let name = model
                .outlet_label(outlet)
                .unwrap_or(&model.node(outlet.node).name)
                .to_string();
            let fact: &TypedFact = model
                .outlet_fact(outlet)
                .map_err(|e| Error::ModelRejected {
                    reason: format!("{e:#}"),
                })?;
            let dtype = dtype_of(fact.datum_type).ok_or_else(|| Error::ModelRejected {
                reason: format!(
                    "tensor '{name}' has element type {:?}; supported: {}",
                    fact.datum_type,
                    DType::ALL.map(DType::name).join(", ")
                ),
            })?;
            let shape = fact.shape.iter().map(dim_of).collect();
            Ok(TensorFact { name, dtype, shape })
        })
        .collect()
}

fn dim_of(dim: &TDim) -> Dim {
    match dim.as_i64() {
        Some(size) if size >= 0 => Dim::Fixed(size as u64),
        _ => Dim::Symbol(dim.to_string()),
    }
}

pub(crate) fn datum_of(dtype: DType) -> DatumType {
    match dtype {
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::I64 => DatumType::I64,
        DType::I32 => DatumType::I32,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
        DType::Bool => DatumType::Bool,
    }
}

fn dtype_of(datum: DatumType) -> Option<DType> {
    Some(match datum {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::I64 => DType::I64,
        DatumType::I32 => DType::I32,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// Orders `inputs` as the model declares them, after checking each against its fact: same
/// names, dtypes, ranks, fixed dimensions, and one size per symbol across all inputs.
/// `inputs` must already have passed `tensor::check_tensor_list`.
pub fn match_inputs<'a>(
    facts: &[TensorFact],
    inputs: &'a [Tensor],
) -> Result<Vec<&'a Tensor>, Error> {
    let mismatch = |tensor: &str, expected: String, got: String| Error::InputMismatch {
        tensor: tensor.to_string(),
        expected,
        got,
    };
    if let Some(extra) = inputs
        .iter()
        .find(|t| !facts.iter().any(|f| f.name == t.name))
    {
        let names: Vec<&str> = facts.iter().map(|f| f.name.as_str()).collect();
        return Err(mismatch(
            &extra.name,
            format!("one of the model's inputs {names:?}"),
            "an unknown input name".into(),
        ));
    }
    let mut symbols: HashMap<&str, (u64, &str)> = HashMap::new();
    let mut ordered = Vec::with_capacity(facts.len());
    for fact in facts {
        let tensor = inputs
            .iter()
            .find(|t| t.name == fact.name)
            .ok_or_else(|| mismatch(&fact.name, describe_fact(fact), "nothing".into()))?;
        let got = || describe_tensor(tensor);
        if tensor.data.dtype() != fact.dtype || tensor.shape.len() != fact.shape.len() {
            return Err(mismatch(&fact.name, describe_fact(fact), got()));
        }
        for (dim, &size) in fact.shape.iter().zip(&tensor.shape) {
            match dim {
                Dim::Fixed(expected) if *expected != size => {
                    return Err(mismatch(&fact.name, describe_fact(fact), got()));
                }
                Dim::Fixed(_) => {}
                Dim::Symbol(symbol) => match symbols.get(symbol.as_str()) {
                    Some(&(bound, other)) if bound != size => {
                        return Err(mismatch(
                            &fact.name,
                            format!("{symbol} = {bound}, as in input '{other}'"),
                            format!("{symbol} = {size}"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        symbols.insert(symbol, (size, &fact.name));
                    }
                },
            }
        }
        ordered.push(tensor);
    }
    Ok(ordered)
}

/// Runs the plan on inputs already ordered and checked by `match_inputs`, and names the
/// outputs after the model's output facts.
pub fn run(
    plan: &Plan,
    output_facts: &[TensorFact],
    inputs: &[&Tensor],
) -> Result<Vec<Tensor>, Error> {
    let failed = |e: tract_onnx::prelude::TractError| Error::InferenceFailed {
        reason: format!("{e:#}"),
    };
    let values: TVec<TValue> = inputs
        .iter()
        .map(|t| to_tract(t).map(TValue::from))
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    #[cfg(not(feature = "profile"))]
    let outputs = plan.run(values).map_err(failed)?;
    #[cfg(feature = "profile")]
    let outputs = profile::run(plan, values).map_err(failed)?;
    name_outputs(&outputs, output_facts)
}

/// What [`run_within`] did.
#[derive(Debug)]
pub enum Within {
    Done(Vec<Tensor>),
    /// The message had used more than the limit before a node: the run stopped there.
    Stopped {
        instructions: u64,
        nodes_done: u64,
        nodes_total: u64,
    },
}

/// `run`, but before each node it reads the message's instruction counter and stops once
/// the counter has passed `limit`, so that an inference too dear for one message ends with
/// what it measured instead of running into the message's limit and trapping. The nodes run
/// by tract's own evaluation loop (`run_plan_with_eval` with tract's `eval`, as `run`
/// does), so the outputs are `run`'s; the check costs one counter read per node.
pub fn run_within(
    plan: &Plan,
    output_facts: &[TensorFact],
    inputs: &[&Tensor],
    instructions: impl Fn() -> u64,
    limit: u64,
) -> Result<Within, Error> {
    #[cfg(feature = "profile")]
    {
        let _ = (&instructions, limit);
        run(plan, output_facts, inputs).map(Within::Done)
    }
    #[cfg(not(feature = "profile"))]
    {
        let failed = |e: tract_onnx::prelude::TractError| Error::InferenceFailed {
            reason: format!("{e:#}"),
        };
        let values: TVec<TValue> = inputs
            .iter()
            .map(|t| to_tract(t).map(TValue::from))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        let mut nodes_done = 0;
        let mut stopped_at = None;
        let mut state = plan.spawn().map_err(failed)?;
        let ran = state.run_plan_with_eval(values, |session, op_state, node, inputs| {
            let spent = instructions();
            if spent > limit {
                stopped_at = Some(spent);
                tract_onnx::tract_core::internal::bail!("stopped at the one-message limit");
            }
            nodes_done += 1;
            tract_onnx::tract_core::plan::eval(session, op_state, node, inputs)
        });
        match (ran, stopped_at) {
            (_, Some(instructions)) => Ok(Within::Stopped {
                instructions,
                nodes_done,
                nodes_total: plan.order_without_consts().len() as u64,
            }),
            (Ok(outputs), None) => name_outputs(&outputs, output_facts).map(Within::Done),
            (Err(e), None) => Err(failed(e)),
        }
    }
}

/// The plan's output values as API tensors, named after the model's output facts.
pub(crate) fn name_outputs(
    outputs: &[TValue],
    output_facts: &[TensorFact],
) -> Result<Vec<Tensor>, Error> {
    outputs
        .iter()
        .zip(output_facts)
        .map(|(value, fact)| {
            from_tract(&fact.name, value).map_err(|e| Error::InferenceFailed {
                reason: format!("{e:#}"),
            })
        })
        .collect()
}

pub(crate) fn to_tract(
    tensor: &Tensor,
) -> tract_onnx::prelude::TractResult<tract_onnx::prelude::Tensor> {
    use tract_onnx::prelude::Tensor as T;
    let shape: Vec<usize> = tensor.shape.iter().map(|&d| d as usize).collect();
    debug_assert_eq!(element_count(&tensor.shape), Some(tensor.data.len() as u64));
    match &tensor.data {
        TensorData::F32(v) => T::from_shape(&shape, v),
        TensorData::F64(v) => T::from_shape(&shape, v),
        TensorData::I64(v) => T::from_shape(&shape, v),
        TensorData::I32(v) => T::from_shape(&shape, v),
        TensorData::I8(v) => T::from_shape(&shape, v),
        TensorData::U8(v) => T::from_shape(&shape, v.as_slice()),
        TensorData::Bool(v) => T::from_shape(&shape, v),
    }
}

fn from_tract(name: &str, value: &TValue) -> tract_onnx::prelude::TractResult<Tensor> {
    let view = value.try_as_plain_ram()?;
    let data = match value.datum_type() {
        DatumType::F32 => TensorData::F32(view.as_slice::<f32>()?.to_vec()),
        DatumType::F64 => TensorData::F64(view.as_slice::<f64>()?.to_vec()),
        DatumType::I64 => TensorData::I64(view.as_slice::<i64>()?.to_vec()),
        DatumType::I32 => TensorData::I32(view.as_slice::<i32>()?.to_vec()),
        DatumType::I8 => TensorData::I8(view.as_slice::<i8>()?.to_vec()),
        DatumType::U8 => TensorData::U8(ByteBuf::from(view.as_slice::<u8>()?.to_vec())),
        DatumType::Bool => TensorData::Bool(view.as_slice::<bool>()?.to_vec()),
        other => {
            return Err(tract_onnx::prelude::TractError::msg(format!(
                "output '{name}' has unsupported type {other:?}"
            )));
        }
    };
    Ok(Tensor {
        name: name.to_string(),
        shape: value.shape().iter().map(|&d| d as u64).collect(),
        data,
    })
}

/// Without the `profile` feature, spans cost nothing.
#[cfg(not(feature = "profile"))]
pub mod profile {
    #[inline(always)]
    pub fn span<T>(_label: &str, f: impl FnOnce() -> T) -> T {
        f()
    }
}

/// Where an inference's instructions go, node by node, and a model load's, phase by phase
/// (feature `profile`, measurement only).
///
/// The counter is the IC's `performance_counter(0)`, imported directly: the engine's
/// `Environment` is not threaded into tract's evaluation loop, and this module never ships.
#[cfg(feature = "profile")]
pub mod profile {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::model::TypedModelPatch;
    use tract_onnx::tract_core::optim::TypedPass;

    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "ic0")]
    unsafe extern "C" {
        fn performance_counter(kind: i32) -> i64;
    }

    fn instructions() -> u64 {
        #[cfg(target_arch = "wasm32")]
        // SAFETY: a System API call without arguments in memory.
        unsafe {
            performance_counter(0) as u64
        }
        #[cfg(not(target_arch = "wasm32"))]
        0
    }

    /// (op, node, op info and output shapes) -> (instructions, evaluations)
    type Nodes = BTreeMap<(String, String, String), (u64, u64)>;

    thread_local! {
        static NODES: RefCell<Nodes> = const { RefCell::new(BTreeMap::new()) };
    }

    /// Counts the instructions of `f` under ("<load>", `label`).
    pub fn span<T>(label: &str, f: impl FnOnce() -> T) -> T {
        let before = instructions();
        let result = f();
        record(
            ("<load>".into(), label.into(), String::new()),
            instructions() - before,
        );
        result
    }

    /// Adds one evaluation of `spent` instructions to `key`.
    fn record(key: (String, String, String), spent: u64) {
        NODES.with_borrow_mut(|nodes| {
            let entry = nodes.entry(key).or_default();
            entry.0 += spent;
            entry.1 += 1;
        });
    }

    /// `into_optimized`, with the instructions of each optimiser pass's search for patches
    /// counted under its name (applying the patches is left in the enclosing span).
    pub fn optimise(mut model: TypedModel) -> TractResult<TypedModel> {
        use tract_onnx::tract_core::optim::Optimizer;
        timed("declutter", Optimizer::declutter()).optimize(&mut model)?;
        let mut model = span("load: optimise: rewrite before codegen", || {
            crate::rewrite::before_codegen(model)
        })?;
        model.optimize_with_session(&mut timed("codegen", Optimizer::codegen()).session())?;
        Ok(model)
    }

    fn timed(
        stage: &str,
        optimiser: tract_onnx::tract_core::optim::Optimizer,
    ) -> tract_onnx::tract_core::optim::Optimizer {
        let passes = optimiser
            .passes
            .into_iter()
            .map(|pass| {
                let name = format!("{pass:?}");
                let name = name.split(',').next().unwrap_or_default().to_string();
                Box::new(Timed {
                    label: format!("load: optimise: {stage}: {name}"),
                    pass,
                }) as Box<dyn TypedPass>
            })
            .collect();
        tract_onnx::tract_core::optim::Optimizer {
            passes,
            steps: optimiser.steps,
        }
    }

    #[derive(Clone, Debug)]
    struct Timed {
        label: String,
        pass: Box<dyn TypedPass>,
    }

    impl TypedPass for Timed {
        fn reset(&mut self) -> TractResult<()> {
            self.pass.reset()
        }
        fn next(
            &mut self,
            session: &mut tract_onnx::tract_core::optim::OptimizerSession,
            model: &TypedModel,
        ) -> TractResult<Option<TypedModelPatch>> {
            let Timed { label, pass } = self;
            span(label, || pass.next(session, model))
        }
        fn run_direct(&mut self, model: &mut TypedModel) -> TractResult<bool> {
            let Timed { label, pass } = self;
            span(label, || pass.run_direct(model))
        }
    }

    pub fn run(plan: &super::Plan, values: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let start = instructions();
        let mut state = plan.spawn()?;
        let outputs = state.run_plan_with_eval(values, |session, op_state, node, inputs| {
            let before = instructions();
            let result = tract_onnx::tract_core::plan::eval(session, op_state, node, inputs);
            let spent = instructions() - before;
            let shapes = match &result {
                Ok(out) => out
                    .iter()
                    .map(|t| format!("{:?}", t.shape()))
                    .collect::<Vec<_>>()
                    .join(","),
                Err(_) => String::new(),
            };
            let info = node.op().info().unwrap_or_default().join("; ");
            let key = (
                node.op().name().to_string(),
                format!("{}#{}", node.name, node.id),
                format!("{info} -> {shapes}"),
            );
            record(key, spent);
            result
        })?;
        record(
            ("<run>".into(), String::new(), String::new()),
            instructions() - start,
        );
        Ok(outputs)
    }

    /// Tab-separated lines: op, node, info, instructions, evaluations; then forgets them.
    pub fn dump() -> String {
        NODES.with_borrow_mut(|nodes| {
            std::mem::take(nodes)
                .into_iter()
                .map(|((op, node, info), (spent, calls))| {
                    format!("{op}\t{node}\t{info}\t{spent}\t{calls}\n")
                })
                .collect()
        })
    }
}
