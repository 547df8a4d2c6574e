//! Text generation jobs (docs/generation.md): a generation is a job (engine::jobs) whose
//! steps run forward passes of a language model instead of one inference.
//!
//! ```text
//!  generate_start ──▶ pending ──(raw_rand, if sampled without a seed)──job_step × n──▶ done
//!     prompt tokenized,     each step: forward passes node by node until the step budget;
//!     checked, committed    after each pass that yields logits, one token is chosen and
//!                           the stops are checked (eos, stop sequence, max_new_tokens,
//!                           context full); the log entry is appended in the last step
//! ```
//!
//! The record (prompt, settings, seed, tokens so far) is in stable memory; the KV cache
//! and the forward pass in progress are on the heap. After an upgrade a generation starts
//! again from its prompt with the same seed and produces the same tokens; `restarts` says so.

use super::{Engine, Environment, Runnable, check_nonce, digest};
use crate::generation::{Generation, Language, sampling};
use crate::jobs::{GenerationRecord, JobRecord, RecordState};
use crate::limits::{MAX_NEW_TOKENS, MAX_PROMPT_BYTES, MAX_STOP_BYTES, MAX_STOP_SEQUENCES};
use crate::nested::Nested;
use crate::store::limit;
use ic_stable_structures::Memory;
use icinfer_api::{
    EntryKind, Error, GenerateArgs, GenerationProgress, GenerationReceipt, GenerationState,
    GenerationStatus, JobFailure, JobId, JobProgress, LogEntry, Sampling, StopReason,
};
use icinfer_verify::generation::{completion_hash, prompt_commitment, tokens_hash};
use serde_bytes::ByteBuf;
use std::sync::Arc;

use super::jobs::StepOutcome;

/// A generation's heap half.
pub(in crate::engine) struct GenerationRun {
    model: Runnable,
    language: Arc<Language>,
    generation: Generation,
}

impl<M: Memory> Engine<M> {
    /// Checks a generation, tokenizes its prompt and starts it as a job; returns its id.
    pub fn generate_start(
        &mut self,
        env: &impl Environment,
        args: GenerateArgs,
    ) -> Result<JobId, Error> {
        let admission = self.admit_inference(env)?;
        check_nonce(args.nonce.as_ref())?;
        check_generate_args(&args)?;
        self.check_job_room(env)?;
        let (model, language) = self.language_model(&args.model_id)?;
        let prompt = language.tokenizer.encode(&args.prompt);
        let context = language.declared.context_length;
        if prompt.len() as u64 >= u64::from(context) {
            return Err(Error::LimitExceeded {
                limit: "context_length (prompt tokens)".into(),
                max: u64::from(context) - 1,
                got: prompt.len() as u64,
            });
        }
        let generation = Generation::new(&language, prompt)?;
        let nonce = args.nonce.as_deref().map(|n| n.as_slice());
        let input_hash = prompt_commitment(&args.prompt, nonce)
            .expect("the nonce's length is checked before hashing");
        let mut record = JobRecord {
            caller: env.caller(),
            model_id: args.model_id,
            model_sha256: model.sha256.clone(),
            input_hash: digest(input_hash),
            input_salted: args.nonce.is_some(),
            created_at_ns: env.now_ns(),
            finished_at_ns: None,
            progress: JobProgress {
                nodes_done: 0,
                nodes_total: model.plan.order_without_consts().len() as u64,
                instructions: 0,
                messages: 1,
                restarts: 0,
            },
            state: RecordState::Pending,
            generation: Some(Nested(GenerationRecord {
                prompt: args.prompt,
                max_new_tokens: args.max_new_tokens,
                sampling: args.sampling,
                stop: args.stop,
                tokenizer_sha256: language.declared.tokenizer.sha256.clone(),
                prompt_tokens: generation.prompt_tokens as u32,
                tokens: Vec::new(),
                completion: ByteBuf::new(),
                stop_reason: None,
            })),
        };
        record.progress.instructions = env.instructions();
        let id = self.jobs.insert(record, Vec::new());
        self.runs.generations.insert(
            id,
            GenerationRun {
                model,
                language,
                generation,
            },
        );
        self.policy.charge(admission, env.now_ns(), 1, 0);
        Ok(id)
    }

    /// The model and its language, or a typed error for a model that is not one.
    fn language_model(&mut self, id: &str) -> Result<(Runnable, Arc<Language>), Error> {
        let model = self.runnable(id)?;
        let language = model.language.clone().ok_or_else(|| Error::InvalidState {
            id: id.to_string(),
            reason: "not a language model: generation needs one created with language_model".into(),
        })?;
        Ok((model, language))
    }

    /// Whether a pending generation waits for its seed (the driver draws it with raw_rand
    /// before the job's next step).
    pub fn generation_needs_seed(&self, id: JobId) -> bool {
        self.jobs
            .get(id)
            .filter(JobRecord::is_pending)
            .and_then(|r| r.generation)
            .is_some_and(|g| g.needs_seed())
    }

    /// Sets the seed a sampled generation without one drew; it is in the receipt.
    pub fn set_generation_seed(&mut self, id: JobId, seed: &[u8]) {
        let Some(mut record) = self.jobs.get(id).filter(JobRecord::is_pending) else {
            return;
        };
        if let Some(generation) = &mut record.generation
            && let Sampling::Sample(settings) = &mut generation.sampling
            && settings.seed.is_none()
        {
            settings.seed = Some(ByteBuf::from(seed.to_vec()));
            self.jobs.put(id, record);
        }
    }

    /// One message of a generation: forward passes node by node until the message has
    /// used the step budget; a token after each pass that yields logits.
    pub(super) fn generation_step(
        &mut self,
        env: &impl Environment,
        id: JobId,
        mut record: JobRecord,
    ) -> StepOutcome {
        let mut run = match self.runs.generations.remove(&id) {
            Some(run) => run,
            None => match self.restart_generation(&record) {
                Ok(run) => run,
                Err(failure) => return self.fail(env, id, record, failure),
            },
        };
        let failed = |error| JobFailure::Failed { error };
        let Some(mut generation) = record.generation.take() else {
            unreachable!("generation_step is called for generation jobs");
        };
        if generation.needs_seed() {
            let error = Error::InvalidState {
                id: format!("job {id}"),
                reason: "a sampled generation stepped before its seed was drawn".into(),
            };
            record.generation = Some(generation);
            return self.fail(env, id, record, failed(error));
        }
        let budget = self.step_budget;
        let mut ran = 0u64;
        loop {
            let forward = match run.generation.forward(&run.model.plan, &run.language) {
                Ok(forward) => forward,
                Err(error) => {
                    record.generation = Some(generation);
                    return self.fail(env, id, record, failed(error));
                }
            };
            while !forward.is_finished() {
                let before = env.instructions();
                if ran > 0 && before >= budget {
                    record.progress.nodes_done = forward.nodes_done();
                    record.progress.instructions += env.instructions();
                    record.generation = Some(generation);
                    self.jobs.put(id, record);
                    self.runs.generations.insert(id, run);
                    return StepOutcome::Continue;
                }
                if let Err(error) = forward.step() {
                    record.generation = Some(generation);
                    return self.fail(env, id, record, failed(error));
                }
                ran += 1;
                let spent = env.instructions().saturating_sub(before);
                if spent > budget {
                    let failure = JobFailure::NodeOverBudget {
                        node: forward.last_node_name(),
                        instructions: spent,
                        budget,
                    };
                    record.generation = Some(generation);
                    return self.fail(env, id, record, failure);
                }
            }
            let logits = match run.generation.finish_forward(&run.language) {
                Ok(Some(logits)) => logits,
                Ok(None) => continue,
                Err(error) => {
                    record.generation = Some(generation);
                    return self.fail(env, id, record, failed(error));
                }
            };
            let step = generation.tokens.len() as u32;
            let token = sampling::choose(&generation.sampling, &logits, step);
            if let Some(reason) = accept(&mut generation, &mut run, token) {
                generation.stop_reason = Some(reason);
                record.generation = Some(generation);
                self.finish_generation(env, id, record);
                return StepOutcome::Finished;
            }
        }
    }

    /// Appends the receipt and marks the job done.
    fn finish_generation(&mut self, env: &impl Environment, id: JobId, mut record: JobRecord) {
        let generation = record.generation.as_mut().expect("a generation's record");
        let receipt = GenerationReceipt {
            tokenizer_sha256: generation.tokenizer_sha256.clone(),
            completion_tokens_sha256: digest(tokens_hash(&generation.tokens)),
            sampling: generation.sampling.clone(),
            prompt_tokens: generation.prompt_tokens,
            generated_tokens: generation.tokens.len() as u32,
            stop_reason: generation
                .stop_reason
                .expect("a finished generation's reason"),
        };
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: env.now_ns(),
            caller: record.caller,
            model_id: record.model_id.clone(),
            model_sha256: record.model_sha256.clone(),
            input_hash: record.input_hash.clone(),
            output_hash: digest(completion_hash(&generation.completion)),
            input_salted: record.input_salted,
            instructions: record.progress.instructions + env.instructions(),
            messages: Some(record.progress.messages),
            kind: Some(EntryKind::Generation(Box::new(receipt))),
        };
        generation.forget_prompt();
        self.log.append(&entry);
        self.certify_head(env);
        self.policy
            .charge_finished_job(record.caller, entry.timestamp_ns, entry.instructions);
        self.runs.generations.remove(&id);
        record.progress.instructions = entry.instructions;
        record.finished_at_ns = Some(entry.timestamp_ns);
        record.state = RecordState::Done { seq: entry.seq };
        self.jobs.finish(id, record, None);
    }

    /// The heap state of a generation that has none (after an upgrade): its prompt again.
    fn restart_generation(&mut self, record: &JobRecord) -> Result<GenerationRun, JobFailure> {
        if self.model_was_deleted(record) {
            return Err(JobFailure::ModelDeleted {
                model_id: record.model_id.clone(),
            });
        }
        let failed = |error| JobFailure::Failed { error };
        let (model, language) = self.language_model(&record.model_id).map_err(failed)?;
        let prompt = &record.generation.as_ref().expect("a generation").prompt;
        let generation =
            Generation::new(&language, language.tokenizer.encode(prompt)).map_err(failed)?;
        Ok(GenerationRun {
            model,
            language,
            generation,
        })
    }

    /// A generation's text so far, its progress and, once done, its receipt: for its
    /// caller and controllers (the text is what the salted commitment keeps private).
    pub fn generation_status(
        &self,
        env: &impl Environment,
        id: JobId,
    ) -> Result<GenerationStatus, Error> {
        let record = self.job_record_for(env, id)?;
        let Some(Nested(generation)) = record.generation else {
            return Err(Error::InvalidArgument {
                field: "id".into(),
                reason: format!("job {id} is an inference: job_status follows it"),
            });
        };
        let state = match &record.state {
            RecordState::Pending => GenerationState::Pending,
            RecordState::Done { seq } => GenerationState::Done(
                self.log
                    .get(*seq)
                    .expect("a done generation's entry is in the log"),
            ),
            RecordState::Failed(failure) => GenerationState::Failed(failure.clone()),
            RecordState::Cancelled => GenerationState::Cancelled,
        };
        Ok(GenerationStatus {
            id,
            model_id: record.model_id,
            caller: record.caller,
            created_at_ns: record.created_at_ns,
            finished_at_ns: record.finished_at_ns,
            text: String::from_utf8_lossy(&generation.completion).into_owned(),
            completion: generation.completion,
            progress: GenerationProgress {
                prompt_tokens: generation.prompt_tokens,
                generated_tokens: generation.tokens.len() as u32,
                instructions: record.progress.instructions,
                messages: record.progress.messages,
                restarts: record.progress.restarts,
            },
            tokens: generation.tokens,
            state,
        })
    }
}

/// Takes the chosen token; returns why the generation stops, if it does.
fn accept(
    generation: &mut GenerationRecord,
    run: &mut GenerationRun,
    token: u32,
) -> Option<StopReason> {
    let declared = &run.language.declared;
    if declared.eos_token == Some(token) {
        return Some(StopReason::Eos);
    }
    generation.tokens.push(token);
    run.generation.ids.push(token);
    let before = generation.completion.len();
    generation
        .completion
        .extend_from_slice(run.language.tokenizer.token_bytes(token));
    if let Some(at) = first_stop(&generation.completion, before, &generation.stop) {
        generation.completion.truncate(at);
        return Some(StopReason::StopSequence);
    }
    if generation.tokens.len() as u32 >= generation.max_new_tokens {
        return Some(StopReason::MaxNewTokens);
    }
    if generation.prompt_tokens as usize + generation.tokens.len()
        >= declared.context_length as usize
    {
        return Some(StopReason::ContextFull);
    }
    None
}

/// Where the first stop sequence starts in `text`, given that none ended before `new`.
fn first_stop(text: &[u8], new: usize, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|stop| {
            let stop = stop.as_bytes();
            let from = new.saturating_sub(stop.len() - 1);
            text[from..]
                .windows(stop.len())
                .position(|w| w == stop)
                .map(|at| from + at)
        })
        .min()
}

fn check_generate_args(args: &GenerateArgs) -> Result<(), Error> {
    let invalid = |field: &str, reason: String| Error::InvalidArgument {
        field: field.to_string(),
        reason,
    };
    if args.prompt.is_empty() {
        return Err(invalid("prompt", "must not be empty".into()));
    }
    limit(
        "MAX_PROMPT_BYTES",
        MAX_PROMPT_BYTES as u64,
        args.prompt.len() as u64,
    )?;
    if args.max_new_tokens == 0 {
        return Err(invalid("max_new_tokens", "must be at least 1".into()));
    }
    limit(
        "MAX_NEW_TOKENS",
        u64::from(MAX_NEW_TOKENS),
        u64::from(args.max_new_tokens),
    )?;
    limit(
        "MAX_STOP_SEQUENCES",
        MAX_STOP_SEQUENCES as u64,
        args.stop.len() as u64,
    )?;
    if args
        .stop
        .iter()
        .any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
    {
        return Err(invalid(
            "stop",
            format!("each stop sequence must be 1 to {MAX_STOP_BYTES} bytes"),
        ));
    }
    sampling::check(&args.sampling)
}
