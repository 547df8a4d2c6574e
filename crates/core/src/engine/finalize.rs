//! Finalize: verify a complete upload against its declared SHA-256, load and optimise it,
//! and make the model ready — in one message when it fits, as a job when it does not.
//!
//! ```text
//!  finalize_model ──(hashed, file ≤ MAX_INLINE_FINALIZE_BYTES)──▶ load ──▶ ready
//!        │                                                          └─▶ failed { error }
//!        └──▶ finalizing ──finalize_step × n: hash chunks──▶ finalize_step: load ──▶ ready
//!                  │                                              └─▶ failed { error }
//!                  └─ a step traps (finalize_trapped) ──▶ failed { ModelRejected "…trapped…" }
//!  failed ──finalize_model──▶ (again)    failed ──create_model──▶ uploading (new facts)
//! ```
//!
//! Most of the hash is taken as the chunks arrive (crate::store); finalize hashes what is
//! left, a step budget of it per message. Parsing and optimising cannot be split: tract
//! builds the whole graph in one call, so the load is one message of its own, started by
//! the canister, whose trap the driver records as the model's failure. A trap in an inline
//! finalize (`finalize_model` itself) rolls that message back and leaves the model as it
//! was (`uploading` or `failed`), the reject's text going to the caller only. The job's
//! state is all in the model record, in stable memory, so an upgrade in the middle does not
//! lose it: the driver resumes after `post_upgrade` where it stood.

use super::{Engine, Environment, Runnable, StepOutcome, language_of};
use crate::generation::Language;
use crate::limits::MAX_INLINE_FINALIZE_BYTES;
use crate::runtime;
use crate::store::{ModelRecord, Part, ReadyFacts};
use ic_stable_structures::Memory;
use icinfer_api::{EntryKind, Error, LogEntry, ModelDeclaration, ModelInfo};
use serde_bytes::ByteBuf;
use std::sync::Arc;

impl<M: Memory> Engine<M> {
    /// Finalizes a complete upload: hashes what the uploads left unhashed (up to the step
    /// budget), then, if the whole file is hashed and small enough, loads it here and the
    /// model is ready. Otherwise the model is `finalizing` and the canister finishes the
    /// job in later messages (`finalize_step`); `upload_status` follows it. A failed
    /// finalize (its typed error returned) leaves the model `failed`, with the error.
    pub fn finalize_model(&mut self, env: &impl Environment, id: &str) -> Result<ModelInfo, Error> {
        self.require_manager(env)?;
        let start = env.instructions();
        let record = self.store.require(id)?;
        if record.ready.is_some() {
            return Err(Error::InvalidState {
                id: id.to_string(),
                reason: "the model is already finalized".into(),
            });
        }
        if record.finalizing.is_some() {
            return Err(Error::InvalidState {
                id: id.to_string(),
                reason: "the model is being finalized as a job; upload_status follows it".into(),
            });
        }
        for part in [Part::Model, Part::Tokenizer] {
            let missing_chunks = record.missing_chunks(part);
            if missing_chunks > 0 {
                return Err(Error::UploadIncomplete {
                    id: id.to_string(),
                    missing_chunks,
                });
            }
        }
        let budget = self.step_budget;
        let record = self
            .store
            .hash_while(id, record, || env.instructions() < budget)?;
        if !record.is_hashed() || record.size_bytes > MAX_INLINE_FINALIZE_BYTES {
            self.finalizing.insert(id.to_string());
            return self
                .store
                .count_finalize_message(id, env.instructions().saturating_sub(start));
        }
        self.complete_finalize(env, id, record, start, 0)
    }

    /// One message of a finalize job: hashes chunks until it has used the step budget, or,
    /// once the whole file is hashed, loads the model (in a message that does nothing else).
    pub fn finalize_step(
        &mut self,
        env: &impl Environment,
        id: &str,
    ) -> Result<StepOutcome, Error> {
        let Some(record) = self.store.get(id).filter(|r| r.finalizing.is_some()) else {
            self.finalizing.remove(id);
            return Ok(StepOutcome::Finished);
        };
        let start = env.instructions();
        if !record.is_hashed() {
            let budget = self.step_budget;
            if let Err(error) = self
                .store
                .hash_while(id, record, || env.instructions() < budget)
            {
                self.fail_finalize(id, error);
                return Ok(StepOutcome::Finished);
            }
            self.store
                .count_finalize_message(id, env.instructions().saturating_sub(start))?;
            return Ok(StepOutcome::Continue);
        }
        let earlier = record.finalizing.as_ref().map_or(0, |run| run.instructions);
        // The typed error is kept in the record; the step itself succeeded.
        let _ = self.complete_finalize(env, id, record, start, earlier);
        Ok(StepOutcome::Finished)
    }

    /// A finalize step trapped and was rolled back: the driver, which made the call,
    /// records the reject as the model's failure.
    pub fn finalize_trapped(&mut self, id: &str, message: String) {
        if self.store.get(id).is_some_and(|r| r.finalizing.is_some()) {
            self.fail_finalize(id, crate::prep::diagnose::explain_trap(&message));
        }
    }

    /// Ids of the models whose finalize runs as a job, in id order.
    pub fn finalizing_models(&self) -> Vec<String> {
        self.finalizing.iter().cloned().collect()
    }

    /// Checks the file's hash, loads it, and makes the model ready; or records the typed
    /// error as the model's failure and returns it. `earlier`: instructions of the job's
    /// earlier messages.
    fn complete_finalize(
        &mut self,
        env: &impl Environment,
        id: &str,
        record: ModelRecord,
        start: u64,
        earlier: u64,
    ) -> Result<ModelInfo, Error> {
        self.finalizing.remove(id);
        let (loaded, language) = match self.load_hashed(id, &record) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.fail_finalize(id, error.clone());
                return Err(error);
            }
        };
        let facts = ReadyFacts {
            finalized_at_ns: env.now_ns(),
            inputs: loaded.inputs,
            outputs: loaded.outputs,
            load_instructions: earlier + env.instructions().saturating_sub(start),
        };
        self.log_model(env, id, &record, &facts);
        let info = self.store.mark_ready(id, record, facts.clone());
        self.plans.insert(
            id,
            Runnable {
                sha256: info.sha256.clone(),
                facts: Arc::new(facts),
                plan: loaded.plan,
                infer_instructions: None,
                language,
            },
        );
        Ok(info)
    }

    /// The model's bytes, checked against its declared SHA-256 (whose computation the
    /// uploads and finalize have finished), loaded by tract; and for a language model, its
    /// tokenizer, checked and read first (`Engine::load_tokenizer`).
    fn load_hashed(
        &self,
        id: &str,
        record: &ModelRecord,
    ) -> Result<(runtime::LoadedModel, Option<Arc<Language>>), Error> {
        let sha256 = self.store.file_sha256(record);
        if sha256[..] != record.sha256[..] {
            return Err(Error::HashMismatch {
                expected: record.sha256.clone(),
                actual: ByteBuf::from(sha256.to_vec()),
            });
        }
        let tokenizer = self.load_tokenizer(id, record)?;
        let bytes = self.store.assemble(id)?;
        let declared = record.input_facts.as_deref().unwrap_or_default();
        let loaded = runtime::load(bytes, declared)?;
        let language = language_of(record, tokenizer, &loaded)?;
        Ok((loaded, language))
    }

    /// Appends the model entry (kind 4): the model's file hash with the declarations that
    /// shaped its plan, so that a replay of a later entry can load it as this finalize did
    /// (docs/provenance.md, "Replay"). Its caller is the model's creator, who declared them;
    /// its cost is the finalize's, over all its messages.
    fn log_model(
        &mut self,
        env: &impl Environment,
        id: &str,
        record: &ModelRecord,
        facts: &ReadyFacts,
    ) {
        let empty = || ByteBuf::from(vec![0u8; 32]);
        let messages = 1 + record.finalizing.as_ref().map_or(0, |run| run.messages);
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: facts.finalized_at_ns,
            caller: record.created_by,
            model_id: id.to_string(),
            model_sha256: record.sha256.clone(),
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            instructions: facts.load_instructions,
            messages: Some(messages),
            kind: Some(EntryKind::Model(Box::new(ModelDeclaration {
                input_facts: record.input_facts.clone().unwrap_or_default(),
                language_model: record.language_model.as_deref().cloned(),
            }))),
        };
        self.log.append(&entry);
        self.certify_head(env);
    }

    fn fail_finalize(&mut self, id: &str, error: Error) {
        self.finalizing.remove(id);
        // The model exists: every caller has just read its record.
        let _ = self.store.mark_failed(id, error);
    }
}
