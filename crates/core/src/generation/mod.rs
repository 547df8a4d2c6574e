//! Text generation with a decoder language model (docs/generation.md).
//!
//! A [`Language`] is what a model declared as a language model adds to its plan: the
//! tokenizer and which of the plan's inputs and outputs are token ids, attention mask,
//! positions, logits and KV cache. A [`Generation`] is one generation's heap state: the
//! token ids so far, the KV cache as tract values from the last forward pass, and the
//! forward pass in progress, run node by node ([`PlanRun`]) so that it may span messages.
//!
//! The prompt is prefilled in forward passes of up to `MAX_PREFILL_BATCH` tokens; then
//! every forward pass takes the last token and yields the logits of the next. The present
//! keys and values each pass outputs are the next pass's past (a graph without a cache
//! runs over the whole context instead).

pub mod sampling;
pub mod tokenizer;

use crate::limits::MAX_PREFILL_BATCH;
use crate::runtime::{Plan, datum_of};
use crate::stepping::{PlanRun, Schedule, SpareState};
use icinfer_api::{DType, Dim, Error, LanguageModel, TensorFact};
use std::sync::Arc;
use tract_onnx::prelude::{DatumType, TValue, TVec, Tensor as TractTensor};

pub use tokenizer::Tokenizer;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Ids,
    Mask,
    Positions,
    Past(usize),
}

pub struct Language {
    pub declared: LanguageModel,
    pub tokenizer: Tokenizer,
    /// The role of each of the plan's inputs, in the plan's order.
    roles: Vec<Role>,
    /// The element type of the ids, mask and positions (i64 or i32).
    index_type: DatumType,
    logits: usize,
    /// Output index of each past pair's present.
    presents: Vec<usize>,
    /// Element type, heads and head size of each past input.
    past_shapes: Vec<(DatumType, usize, usize)>,
}

fn rejected(reason: String) -> Error {
    Error::ModelRejected { reason }
}

impl Language {
    /// Checks a declaration against the loaded model's facts: every input has a role, the
    /// named outputs exist, the past inputs are `[batch, heads, past, head_dim]` with fixed
    /// heads and head size.
    pub fn new(
        declared: &LanguageModel,
        tokenizer: Tokenizer,
        inputs: &[TensorFact],
        outputs: &[TensorFact],
    ) -> Result<Language, Error> {
        let mut roles = Vec::with_capacity(inputs.len());
        let mut past_shapes = vec![(DatumType::F32, 0, 0); declared.past.len()];
        let mut index_type = None;
        for fact in inputs {
            let role = if fact.name == declared.input_ids {
                Role::Ids
            } else if declared.attention_mask.as_ref() == Some(&fact.name) {
                Role::Mask
            } else if declared.position_ids.as_ref() == Some(&fact.name) {
                Role::Positions
            } else if let Some(k) = declared.past.iter().position(|p| p.input == fact.name) {
                Role::Past(k)
            } else {
                return Err(rejected(format!(
                    "input '{}' is not declared in language_model (ids, mask, positions or past)",
                    fact.name
                )));
            };
            match role {
                Role::Past(k) => {
                    let (Some(Dim::Fixed(heads)), Some(Dim::Fixed(head_dim))) =
                        (fact.shape.get(1), fact.shape.get(3))
                    else {
                        return Err(rejected(format!(
                            "past input '{}' must be [batch, heads, past, head_dim] with fixed heads and head_dim, is {:?}",
                            fact.name, fact.shape
                        )));
                    };
                    if fact.shape.len() != 4 || matches!(fact.shape[2], Dim::Fixed(_)) {
                        return Err(rejected(format!(
                            "past input '{}' must have rank 4 and a symbolic past length",
                            fact.name
                        )));
                    }
                    past_shapes[k] = (datum_of(fact.dtype), *heads as usize, *head_dim as usize);
                }
                _ => {
                    if !matches!(fact.dtype, DType::I64 | DType::I32) || fact.shape.len() != 2 {
                        return Err(rejected(format!(
                            "input '{}' must be i64 or i32 [batch, sequence]",
                            fact.name
                        )));
                    }
                    let dt = datum_of(fact.dtype);
                    if index_type.is_some_and(|t| t != dt) {
                        return Err(rejected(
                            "ids, mask and positions must share one element type".into(),
                        ));
                    }
                    index_type = Some(dt);
                }
            }
            roles.push(role);
        }
        if !roles.contains(&Role::Ids) {
            return Err(rejected(format!(
                "input_ids names '{}', which is not an input",
                declared.input_ids
            )));
        }
        for (k, pair) in declared.past.iter().enumerate() {
            if !roles.contains(&Role::Past(k)) {
                return Err(rejected(format!(
                    "past input '{}' is not an input",
                    pair.input
                )));
            }
        }
        let output = |name: &str| {
            outputs
                .iter()
                .position(|f| f.name == name)
                .ok_or_else(|| rejected(format!("output '{name}' is not an output")))
        };
        let logits = output(&declared.logits)?;
        if outputs[logits].dtype != DType::F32 || outputs[logits].shape.len() != 3 {
            return Err(rejected(format!(
                "logits '{}' must be f32 [batch, sequence, vocabulary]",
                declared.logits
            )));
        }
        if let Dim::Fixed(vocabulary) = outputs[logits].shape[2]
            && let Some(eos) = declared.eos_token
            && u64::from(eos) >= vocabulary
        {
            return Err(rejected(format!(
                "eos_token {eos} is beyond the vocabulary of {vocabulary}"
            )));
        }
        let presents = declared
            .past
            .iter()
            .map(|pair| output(&pair.output))
            .collect::<Result<_, _>>()?;
        Ok(Language {
            declared: declared.clone(),
            tokenizer,
            roles,
            index_type: index_type.expect("input_ids has a role"),
            logits,
            presents,
            past_shapes,
        })
    }

    fn has_cache(&self) -> bool {
        !self.presents.is_empty()
    }
}

/// One generation's heap state.
pub struct Generation {
    /// Prompt tokens, then the generated ones.
    pub ids: Vec<u32>,
    pub prompt_tokens: usize,
    /// Tokens whose keys and values `past` holds.
    cached: usize,
    past: TVec<TValue>,
    /// The forward pass in progress and the tokens it takes.
    forward: Option<(PlanRun, usize)>,
    /// Built at the first pass, for all of them; and the last pass's state, cleared.
    schedule: Option<Arc<Schedule>>,
    spare: Option<SpareState>,
}

impl Generation {
    pub fn new(language: &Language, prompt: Vec<u32>) -> Result<Generation, Error> {
        let past = language
            .past_shapes
            .iter()
            .map(|&(dt, heads, head_dim)| {
                TractTensor::zero_dt(dt, &[1, heads, 0, head_dim])
                    .map(TValue::from)
                    .map_err(failed)
            })
            .collect::<Result<_, _>>()?;
        Ok(Generation {
            prompt_tokens: prompt.len(),
            ids: prompt,
            cached: 0,
            past,
            forward: None,
            schedule: None,
            spare: None,
        })
    }

    /// The forward pass to run, started if none is in progress.
    pub fn forward(&mut self, plan: &Plan, language: &Language) -> Result<&mut PlanRun, Error> {
        if self.forward.is_none() {
            let (from, to) = if !language.has_cache() {
                (0, self.ids.len())
            } else if self.cached < self.prompt_tokens {
                (
                    self.cached,
                    self.prompt_tokens.min(self.cached + MAX_PREFILL_BATCH),
                )
            } else {
                (self.cached, self.ids.len())
            };
            let inputs = self.inputs(language, from, to)?;
            let schedule = match &self.schedule {
                Some(schedule) => schedule,
                None => self.schedule.insert(Arc::new(Schedule::of(plan))),
            };
            let run = PlanRun::start_values(plan, schedule, self.spare.take(), inputs)?;
            self.forward = Some((run, to - from));
        }
        Ok(&mut self.forward.as_mut().expect("started above").0)
    }

    fn inputs(&self, language: &Language, from: usize, to: usize) -> Result<TVec<TValue>, Error> {
        let index_tensor = |values: Vec<i64>| {
            let n = values.len();
            match language.index_type {
                DatumType::I32 => {
                    let v: Vec<i32> = values.iter().map(|&x| x as i32).collect();
                    TractTensor::from_shape(&[1, n], &v)
                }
                _ => TractTensor::from_shape(&[1, n], &values),
            }
            .map(TValue::from)
            .map_err(failed)
        };
        let past = if language.has_cache() { from } else { 0 };
        language
            .roles
            .iter()
            .map(|role| match *role {
                Role::Ids => {
                    index_tensor(self.ids[from..to].iter().map(|&t| i64::from(t)).collect())
                }
                Role::Mask => index_tensor(vec![1; to]),
                Role::Positions => index_tensor((past as i64..to as i64).collect()),
                Role::Past(k) => Ok(self.past[k].clone()),
            })
            .collect()
    }

    /// After the forward pass has run its last node: keeps its KV cache and returns the
    /// logits of the next token, or None while the prompt is still being prefilled.
    pub fn finish_forward(&mut self, language: &Language) -> Result<Option<Vec<f32>>, Error> {
        let (mut run, tokens) = self.forward.take().expect("a forward pass in progress");
        let outputs = run.take_values()?;
        self.spare = Some(run.into_state());
        if language.has_cache() {
            self.past = language
                .presents
                .iter()
                .map(|&i| outputs[i].clone())
                .collect();
            self.cached += tokens;
            if self.cached < self.prompt_tokens {
                return Ok(None);
            }
        }
        let value = &outputs[language.logits];
        let shape = value.shape();
        let view = value.try_as_plain_ram().map_err(failed)?;
        let logits = view.as_slice::<f32>().map_err(failed)?;
        let vocabulary = shape[2];
        if shape[0] != 1 || shape[1] != tokens || vocabulary == 0 {
            return Err(Error::InferenceFailed {
                reason: format!("logits of shape {shape:?} for {tokens} tokens"),
            });
        }
        Ok(Some(logits[logits.len() - vocabulary..].to_vec()))
    }

    pub fn in_forward(&self) -> bool {
        self.forward.is_some()
    }

    pub fn forward_run(&self) -> Option<&PlanRun> {
        self.forward.as_ref().map(|(run, _)| run)
    }
}

fn failed(e: tract_onnx::prelude::TractError) -> Error {
    Error::InferenceFailed {
        reason: format!("{e:#}"),
    }
}
