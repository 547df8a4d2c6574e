//! The engine: every canister operation, over stable memory and an [`Environment`] that
//! stands for the IC's system API, so the whole canister logic runs natively in tests.
//!
//! Each operation checks everything it can before it changes anything: a call that returns
//! an error leaves the state as it found it (one exception, a measurement and not the call's
//! effect: an `infer` stopped at the one-message limit notes the model's cost, see `run`). `infer` runs the model, appends to the log and
//! its Merkle tree, and certifies the new head in one synchronous call, so on the IC a trap
//! anywhere in it commits nothing.

mod epochs;
mod finalize;
mod generation;
mod inspect;
mod jobs;

pub use self::epochs::{CodeHistory, Deployment, EpochError, MAX_LISTED_EPOCHS};
pub use self::inspect::{Callers, METHODS};
use self::jobs::JobRuns;
pub use self::jobs::{StepOutcome, Work};
use crate::epochs::CodeEpochs;
use crate::generation::{Language, Tokenizer};
use crate::jobs::JobStore;
use crate::limits::{
    DEFAULT_STEP_BUDGET, MAX_ADMINS, MAX_CACHED_PLANS, MAX_INLINE_FINALIZE_BYTES, MAX_INPUT_BYTES,
    MAX_NONCE_BYTES, MAX_ONE_MESSAGE_INFER_INSTRUCTIONS, MAX_OUTPUT_BYTES, MIN_NONCE_BYTES,
};
use crate::memory::{self, LayoutError, VMem};
use crate::merkle::TreeError;
use crate::policy::Policy;
use crate::provenance::{self, ProvenanceLog};
use crate::runtime::{self, Plan};
use crate::store::{ModelRecord, ModelStore, Part, ReadyFacts, limit};
use crate::tensor;
use candid::Principal;
use ic_stable_structures::{BTreeSet, Memory};
use icinfer_api::{
    CreateModelArgs, Error, FindLogArgs, FindLogResult, InferArgs, InferResult, InferencePolicy,
    LogConsistency, LogConsistencyArgs, LogEntry, LogHead, LogPage, LogPageArgs, LogProof,
    LogProofArgs, ModelInfo, QueryInferResult, Stats, Tensor, UploadChunkArgs, UploadProgress,
    UploadStatus,
};
use icinfer_verify::head::{encode_head_witness, head_commitment};
use icinfer_verify::merkle::Hash;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet as HeapSet;
use std::sync::Arc;

/// What the engine needs from the platform. The canister implements it with ic-cdk; tests
/// with plain fields.
pub trait Environment {
    fn caller(&self) -> Principal;
    fn is_controller(&self, principal: &Principal) -> bool;
    /// IC time, nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
    /// Instructions the current message has used so far.
    fn instructions(&self) -> u64;
    fn heap_bytes(&self) -> u64;
    /// Sets the canister's certified data (at most 32 bytes).
    fn set_certified_data(&self, data: &[u8]);
    /// The IC's certificate of the certified data: only in non-replicated queries.
    fn data_certificate(&self) -> Option<Vec<u8>>;
    /// Called by `infer` after the model ran and before anything is written: the test-hooks
    /// build traps here to show that such a trap writes nothing. A no-op otherwise.
    fn inference_ran(&self) {}
}

pub struct Engine<M: Memory> {
    raw: M,
    store: ModelStore<VMem<M>>,
    admins: BTreeSet<Principal, VMem<M>>,
    log: ProvenanceLog<VMem<M>>,
    plans: PlanCache,
    last_infer_instructions: Option<u64>,
    jobs: JobStore<VMem<M>>,
    epochs: CodeEpochs<VMem<M>>,
    policy: Policy<VMem<M>>,
    /// Running jobs' tract states (their intermediate tensors), which an upgrade drops.
    runs: JobRuns,
    step_budget: u64,
    /// Models whose finalize runs as a job: a heap index of the records' `finalizing`,
    /// rebuilt by `init`, so the job driver need not decode every record.
    finalizing: HeapSet<String>,
    /// `infer` refuses (UseJob) a model whose inference was measured above this, and stops
    /// an inference that passes it.
    one_message_limit: u64,
}

impl<M: Memory + Clone> Engine<M> {
    /// Lays out a fresh stable memory, or reopens the one an earlier version left, after
    /// checking that it is ours and of a version this build reads. Structures a layout of
    /// an earlier version did not have are created (or, for the Merkle tree, built) here,
    /// and the header then records the current version, in the same (upgrade) message.
    pub fn init(raw: M) -> Result<Self, LayoutError> {
        let fresh = memory::is_fresh(&raw);
        let manager = memory::open_manager(raw.clone())?;
        let version = if fresh {
            None
        } else {
            Some(memory::check_layout(&manager)?)
        };
        let m = |id| manager.get(id);
        let (models, chunks, blocks, free_blocks) = (
            m(memory::MODELS),
            m(memory::CHUNKS),
            m(memory::BLOCKS),
            m(memory::FREE_BLOCKS),
        );
        let store = match version {
            None => ModelStore::new(models, chunks, blocks, free_blocks),
            Some(_) => ModelStore::open(models, chunks, blocks, free_blocks),
        };
        let admins = match version {
            None => BTreeSet::new(m(memory::ADMINS)),
            Some(_) => BTreeSet::init(m(memory::ADMINS)),
        };
        let (index, data, search, tree) = (
            m(memory::LOG_INDEX),
            m(memory::LOG_DATA),
            m(memory::LOG_SEARCH),
            m(memory::MERKLE),
        );
        let log = match version {
            None => ProvenanceLog::new(index, data, search, tree),
            // Layout 1 had no Merkle tree: build it from the entries.
            Some(1) => ProvenanceLog::open_building_tree(index, data, search, tree),
            Some(_) => ProvenanceLog::open(index, data, search, tree)?,
        };
        let jobs = JobStore::open(
            m(memory::JOBS),
            m(memory::JOB_TENSORS),
            m(memory::JOB_COUNTER),
        )?;
        let epochs = match version {
            Some(v) if v >= 4 => CodeEpochs::open(m(memory::CODE_EPOCHS)),
            _ => CodeEpochs::new(m(memory::CODE_EPOCHS)),
        };
        let policy = match version {
            Some(v) if v >= 5 => Policy::open(m(memory::POLICY), m(memory::QUOTA_USAGE))?,
            _ => Policy::new(m(memory::POLICY), m(memory::QUOTA_USAGE)),
        };
        if version != Some(memory::LAYOUT_VERSION) {
            memory::write_layout_header(&m(memory::LAYOUT));
        }
        let finalizing = store.finalizing().into_iter().collect();
        let mut engine = Self {
            raw,
            store,
            admins,
            log,
            plans: PlanCache::default(),
            last_infer_instructions: None,
            jobs,
            epochs,
            policy,
            runs: JobRuns::default(),
            step_budget: DEFAULT_STEP_BUDGET,
            finalizing,
            one_message_limit: MAX_ONE_MESSAGE_INFER_INSTRUCTIONS,
        };
        engine.restart_pending_jobs();
        Ok(engine)
    }
}

impl<M: Memory> Engine<M> {
    // --- access ------------------------------------------------------------------------

    fn require_controller(&self, env: &impl Environment) -> Result<(), Error> {
        let caller = env.caller();
        if env.is_controller(&caller) {
            return Ok(());
        }
        Err(Error::Unauthorized {
            caller,
            required: "a controller".into(),
        })
    }

    fn require_manager(&self, env: &impl Environment) -> Result<(), Error> {
        let caller = env.caller();
        if env.is_controller(&caller) || self.admins.contains(&caller) {
            return Ok(());
        }
        Err(Error::Unauthorized {
            caller,
            required: "a controller or an admin".into(),
        })
    }

    pub fn add_admin(&mut self, env: &impl Environment, admin: Principal) -> Result<(), Error> {
        self.require_controller(env)?;
        if admin == Principal::anonymous() {
            return Err(Error::InvalidArgument {
                field: "admin".into(),
                reason: "the anonymous principal cannot be an admin".into(),
            });
        }
        if self.admins.contains(&admin) {
            return Err(Error::AlreadyExists {
                kind: "admin".into(),
                id: admin.to_text(),
            });
        }
        limit("MAX_ADMINS", MAX_ADMINS, self.admins.len() + 1)?;
        self.admins.insert(admin);
        Ok(())
    }

    pub fn remove_admin(&mut self, env: &impl Environment, admin: Principal) -> Result<(), Error> {
        self.require_controller(env)?;
        if !self.admins.remove(&admin) {
            return Err(Error::NotFound {
                kind: "admin".into(),
                id: admin.to_text(),
            });
        }
        Ok(())
    }

    pub fn list_admins(&self) -> Vec<Principal> {
        self.admins.iter().collect()
    }

    /// The inference policy (crate::policy): controllers only.
    pub fn policy(&self, env: &impl Environment) -> Result<InferencePolicy, Error> {
        self.require_controller(env)?;
        Ok(self.policy.get().clone())
    }

    pub fn set_policy(
        &mut self,
        env: &impl Environment,
        policy: InferencePolicy,
    ) -> Result<(), Error> {
        self.require_controller(env)?;
        self.policy.set(policy)
    }

    /// The policy's admission of the caller for an inference: access, then quotas.
    fn admit_inference(&self, env: &impl Environment) -> Result<crate::policy::Admission, Error> {
        if let Some(everyone) = self.policy.unrestricted() {
            return Ok(everyone);
        }
        let caller = env.caller();
        self.policy
            .admit(caller, || env.is_controller(&caller), env.now_ns())
    }

    // --- models ------------------------------------------------------------------------

    pub fn create_model(
        &mut self,
        env: &impl Environment,
        args: CreateModelArgs,
    ) -> Result<ModelInfo, Error> {
        self.require_manager(env)?;
        self.store.create(args, env.caller(), env.now_ns())
    }

    pub fn upload_model_chunk(
        &mut self,
        env: &impl Environment,
        args: UploadChunkArgs,
    ) -> Result<UploadProgress, Error> {
        self.require_manager(env)?;
        self.store.upload_chunk(args)
    }

    /// One chunk of a language model's tokenizer file, chunked as the model is.
    pub fn upload_tokenizer_chunk(
        &mut self,
        env: &impl Environment,
        args: UploadChunkArgs,
    ) -> Result<UploadProgress, Error> {
        self.require_manager(env)?;
        self.store.upload_part(args, Part::Tokenizer)
    }

    /// Deletes a model and frees its bytes. The log keeps every entry that names it.
    pub fn delete_model(&mut self, env: &impl Environment, id: &str) -> Result<(), Error> {
        self.require_manager(env)?;
        self.store.delete(id)?;
        self.plans.remove(id);
        self.finalizing.remove(id);
        self.fail_jobs_of_deleted_model(env, id);
        Ok(())
    }

    pub fn model_info(&self, id: &str) -> Result<ModelInfo, Error> {
        self.store.require(id).map(|record| record.info(id))
    }

    pub fn list_models(&self) -> Vec<ModelInfo> {
        self.store.list()
    }

    pub fn upload_status(&self, id: &str) -> Result<UploadStatus, Error> {
        self.store.upload_status(id)
    }

    // --- inference ---------------------------------------------------------------------

    /// Runs a model and appends the receipt to the provenance log. An inference that would
    /// not fit one message gets `UseJob` (see `run`), and nothing is logged.
    pub fn infer(&mut self, env: &impl Environment, args: InferArgs) -> Result<InferResult, Error> {
        let admission = self.admit_inference(env)?;
        let (outputs, model_sha256) = self.run(env, &args, Some(self.one_message_limit))?;
        env.inference_ran();
        let input_hash = digest(tensor::input_hash(&args.inputs, nonce(&args)));
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: env.now_ns(),
            caller: env.caller(),
            model_id: args.model_id,
            model_sha256,
            input_hash,
            output_hash: digest(tensor::output_hash(&outputs)),
            input_salted: args.nonce.is_some(),
            instructions: env.instructions(),
            messages: Some(1),
            kind: None,
        };
        self.log.append(&entry);
        self.certify_head(env);
        self.policy
            .charge(admission, entry.timestamp_ns, 1, entry.instructions);
        self.last_infer_instructions = Some(entry.instructions);
        Ok(InferResult {
            outputs,
            receipt: entry,
        })
    }

    /// Runs a model without logging anything (the canister's unreplicated query).
    pub fn infer_query(
        &mut self,
        env: &impl Environment,
        args: InferArgs,
    ) -> Result<QueryInferResult, Error> {
        let (outputs, _) = self.run(env, &args, None)?;
        Ok(QueryInferResult {
            outputs,
            instructions: env.instructions(),
        })
    }

    /// Checks the arguments and runs the model; returns the outputs and the model's hash.
    ///
    /// With a `one_message_limit` (an update's `infer`), the inference must fit one
    /// message: a model measured above the limit is refused with `UseJob` before it runs,
    /// and a run that passes the limit stops before its next node with `UseJob`, saying
    /// what it measured. That measurement is kept in the model's record
    /// (`infer_instructions`, the largest one, as a job's is), so the next `infer` refuses
    /// at once instead of spending 32 B instructions to find out again. The note is not the
    /// failed call's effect (the log, the certified head and the caller's data are as
    /// they were): it is a bounded fact about the model, one number in its record, which
    /// deleting the model drops. A query (`None`) runs as before: it commits nothing, and
    /// the IC stops it at its own limit.
    fn run(
        &mut self,
        env: &impl Environment,
        args: &InferArgs,
        one_message_limit: Option<u64>,
    ) -> Result<(Vec<Tensor>, ByteBuf), Error> {
        let (model, ordered) = self.prepare(args)?;
        let Some(limit) = one_message_limit else {
            let outputs = runtime::run(&model.plan, &model.facts.outputs, &ordered)?;
            check_output_bytes(&outputs)?;
            return Ok((outputs, model.sha256));
        };
        if let Some(measured) = model.infer_instructions
            && measured > limit
        {
            return Err(use_job(
                &args.model_id,
                format!(
                    "its inference was measured at {measured} instructions, over the {limit} \
                     one message may use"
                ),
            ));
        }
        let within = runtime::run_within(
            &model.plan,
            &model.facts.outputs,
            &ordered,
            || env.instructions(),
            limit,
        )?;
        let outputs = match within {
            runtime::Within::Done(outputs) => outputs,
            runtime::Within::Stopped {
                instructions,
                nodes_done,
                nodes_total,
            } => {
                self.note_infer_instructions(&args.model_id, instructions);
                return Err(use_job(
                    &args.model_id,
                    format!(
                        "this call stopped after {nodes_done} of {nodes_total} nodes at \
                         {instructions} instructions, over the {limit} one message may use"
                    ),
                ));
            }
        };
        check_output_bytes(&outputs)?;
        Ok((outputs, model.sha256))
    }

    /// Keeps the largest inference cost measured for a model (by a job, or by an `infer`
    /// that stopped at the one-message limit), in its record and in the plan cache.
    fn note_infer_instructions(&mut self, model_id: &str, instructions: u64) {
        self.store.note_infer_instructions(model_id, instructions);
        self.plans.note_infer_instructions(model_id, instructions);
    }

    /// Checks the arguments of an inference (`infer` or a job) and finds the model: returns
    /// it and the inputs in the model's order.
    fn prepare<'a>(&mut self, args: &'a InferArgs) -> Result<(Runnable, Vec<&'a Tensor>), Error> {
        check_nonce(args.nonce.as_ref())?;
        let input_bytes = tensor::check_tensor_list(&args.inputs)?;
        limit("MAX_INPUT_BYTES", MAX_INPUT_BYTES, input_bytes)?;
        let model = self.runnable(&args.model_id)?;
        let ordered = runtime::match_inputs(&model.facts.inputs, &args.inputs)?;
        crate::prep::bounds::check_outputs_for(
            &model.facts.inputs,
            &model.facts.outputs,
            &ordered,
        )?;
        Ok((model, ordered))
    }

    /// The model as inference needs it: from the heap cache, or read from stable memory
    /// and loaded again (after an upgrade, or when the cache evicted it), its bytes checked
    /// against the recorded hash first. A hit touches no stable memory: a ready model never
    /// changes, and deleting it drops its cache entry.
    fn runnable(&mut self, id: &str) -> Result<Runnable, Error> {
        if let Some(model) = self.plans.get(id) {
            return Ok(model);
        }
        let record = self.store.require(id)?;
        let Some(facts) = record.ready.clone() else {
            return Err(Error::InvalidState {
                id: id.to_string(),
                reason: "the model is still uploading; finalize it first".into(),
            });
        };
        let (loaded, language) = self.reload(id, &record)?;
        let model = Runnable {
            plan: loaded.plan,
            sha256: record.sha256,
            facts: Arc::new(facts),
            infer_instructions: record.infer_instructions,
            language,
        };
        self.plans.insert(id, model.clone());
        Ok(model)
    }

    /// A ready model's plan (and a language model's tokenizer), loaded again for the plan
    /// cache. Its bytes were verified at finalize and never change; a file small enough to
    /// finalize in one message is checked again (the block store's invariant), a larger one
    /// is not: hashing 1 GiB alone costs twice the message limit. A tokenizer is small and
    /// always checked again.
    fn reload(
        &self,
        id: &str,
        record: &ModelRecord,
    ) -> Result<(runtime::LoadedModel, Option<Arc<Language>>), Error> {
        let bytes = self.store.assemble(id)?;
        if record.size_bytes <= MAX_INLINE_FINALIZE_BYTES {
            let sha256: [u8; 32] =
                runtime::profile::span("load: sha256", || Sha256::digest(&bytes).into());
            assert!(
                sha256[..] == record.sha256[..],
                "stored bytes of finalized model '{id}' no longer match its SHA-256"
            );
        }
        let tokenizer = match self.load_tokenizer(id, record) {
            Err(Error::TokenizerRejected { .. }) => {
                panic!("stored tokenizer of finalized model '{id}' no longer matches its SHA-256")
            }
            tokenizer => tokenizer?,
        };
        let declared = record.input_facts.as_deref().unwrap_or_default();
        let loaded = runtime::load(bytes, declared)?;
        let language = language_of(record, tokenizer, &loaded)?;
        Ok((loaded, language))
    }

    /// A language model's tokenizer, its chunks assembled, checked against the declared
    /// SHA-256 and read; `None` for any other model. Shared by finalize and the plan cache,
    /// both of which read it before the graph (it is small, and cheap to refuse).
    fn load_tokenizer(&self, id: &str, record: &ModelRecord) -> Result<Option<Tokenizer>, Error> {
        let Some(lm) = record.language_model.as_deref() else {
            return Ok(None);
        };
        let bytes = self.store.assemble_part(id, Part::Tokenizer)?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        if sha256[..] != lm.tokenizer.sha256[..] {
            return Err(Error::TokenizerRejected {
                reason: format!(
                    "SHA-256 mismatch: declared {}, uploaded {}",
                    hex(&lm.tokenizer.sha256),
                    hex(&sha256)
                ),
            });
        }
        Tokenizer::from_json(&bytes).map(Some)
    }

    /// Loads the plan of one ready model that is not cached yet, while the cache has room,
    /// and returns its id. Meant for a timer after an upgrade, so that queries, which
    /// cannot keep what they load, find plans ready.
    pub fn warm_next(&mut self) -> Option<String> {
        if self.plans.len() >= MAX_CACHED_PLANS {
            return None;
        }
        let candidate = self
            .store
            .list()
            .into_iter()
            .filter(|m| m.finalized_at_ns.is_some())
            .find(|m| !self.plans.contains(&m.id))?;
        self.runnable(&candidate.id).ok()?;
        Some(candidate.id)
    }

    // --- provenance --------------------------------------------------------------------

    pub fn log_size(&self) -> u64 {
        self.log.len()
    }

    pub fn log_entry(&self, seq: u64) -> Result<LogEntry, Error> {
        self.log.get(seq).ok_or_else(|| Error::NotFound {
            kind: "log entry".into(),
            id: seq.to_string(),
        })
    }

    pub fn log_entries(&self, args: &LogPageArgs) -> Result<LogPage, Error> {
        self.log.page(args)
    }

    pub fn find_log_entries(&self, args: &FindLogArgs) -> Result<FindLogResult, Error> {
        self.log.find(args)
    }

    pub fn log(&self) -> &ProvenanceLog<VMem<M>> {
        &self.log
    }

    /// Sets the certified data to the commitment to the log's head (`icinfer_verify::head`).
    /// Called after every append, and in init and post_upgrade: certified data does not
    /// survive an upgrade, the tree does.
    pub fn certify_head(&self, env: &impl Environment) {
        let (size, root) = self.head();
        env.set_certified_data(&head_commitment(size, &root));
    }

    fn head(&self) -> (u64, Hash) {
        let tree = self.log.tree();
        (tree.len(), tree.root())
    }

    /// The certified head: size, root, the witness and, in a non-replicated query, the
    /// IC's certificate. O(log n).
    pub fn log_head(&self, env: &impl Environment) -> LogHead {
        let (tree_size, root) = self.head();
        LogHead {
            tree_size,
            root_hash: digest(root),
            certificate: env.data_certificate().map(ByteBuf::from),
            witness: ByteBuf::from(encode_head_witness(tree_size, &root)),
        }
    }

    /// An entry, its canonical bytes and its inclusion proof in the tree of `tree_size`
    /// entries (default: all), linked to the certified head by a consistency proof.
    /// O(log n) reads and hashes.
    pub fn log_proof(
        &self,
        env: &impl Environment,
        args: &LogProofArgs,
    ) -> Result<LogProof, Error> {
        let size = self.log.len();
        let bytes = self
            .log
            .get_bytes(args.index)
            .ok_or_else(|| Error::NotFound {
                kind: "log entry".into(),
                id: args.index.to_string(),
            })?;
        let tree_size = args.tree_size.unwrap_or(size);
        let tree = self.log.tree();
        let inclusion = tree
            .inclusion_proof(args.index, tree_size)
            .map_err(|e| tree_error(e, "tree_size"))?;
        let tree_root = tree
            .root_at(tree_size)
            .map_err(|e| tree_error(e, "tree_size"))?;
        let consistency = tree
            .consistency_proof(tree_size, size)
            .map_err(|e| tree_error(e, "tree_size"))?;
        let entry = provenance::decode_entry(&bytes.0).expect("stored log entries are canonical");
        Ok(LogProof {
            entry,
            entry_bytes: ByteBuf::from(bytes.0),
            tree_size,
            tree_root: digest(tree_root),
            inclusion_proof: inclusion.into_iter().map(digest).collect(),
            consistency_proof: consistency.into_iter().map(digest).collect(),
            head: self.log_head(env),
        })
    }

    /// The consistency proof between two sizes of the log, with the certified head.
    /// O(log n) reads and hashes.
    pub fn log_consistency(
        &self,
        env: &impl Environment,
        args: &LogConsistencyArgs,
    ) -> Result<LogConsistency, Error> {
        let tree = self.log.tree();
        let proof = tree
            .consistency_proof(args.from_size, args.to_size)
            .map_err(|e| tree_error(e, "to_size"))?;
        Ok(LogConsistency {
            from_size: args.from_size,
            from_root: digest(
                tree.root_at(args.from_size)
                    .map_err(|e| tree_error(e, "from_size"))?,
            ),
            to_size: args.to_size,
            to_root: digest(
                tree.root_at(args.to_size)
                    .map_err(|e| tree_error(e, "to_size"))?,
            ),
            proof: proof.into_iter().map(digest).collect(),
            head: self.log_head(env),
        })
    }

    /// Benchmarks only (feature `bench`): appends `count` synthetic entries like the ones
    /// `infer` makes (a 29-byte caller, a short model id), without the search index, and
    /// certifies the head once.
    #[cfg(feature = "bench")]
    pub fn bench_fill_log(&mut self, env: &impl Environment, count: u64) {
        for _ in 0..count {
            let seq = self.log.len();
            let byte = seq as u8;
            self.log.append_unindexed(&LogEntry {
                seq,
                timestamp_ns: env.now_ns(),
                caller: Principal::from_slice(&[byte; 29]),
                model_id: "bench-model".into(),
                model_sha256: ByteBuf::from(vec![0x11; 32]),
                input_hash: ByteBuf::from(seq.to_le_bytes().repeat(4)),
                output_hash: ByteBuf::from(seq.to_be_bytes().repeat(4)),
                input_salted: seq.is_multiple_of(2),
                instructions: 1_000_000 + seq,
                messages: Some(1),
                kind: None,
            });
        }
        self.certify_head(env);
    }

    /// Benchmarks only: the instructions of what `infer` does after running the model (the
    /// append with its search index and Merkle tree, and the certification) for one entry.
    #[cfg(feature = "bench")]
    pub fn bench_append_one(&mut self, env: &impl Environment) -> u64 {
        let entry = LogEntry {
            seq: self.log.len(),
            timestamp_ns: env.now_ns(),
            caller: env.caller(),
            model_id: "bench-model".into(),
            model_sha256: ByteBuf::from(vec![0x11; 32]),
            input_hash: ByteBuf::from(vec![0x22; 32]),
            output_hash: ByteBuf::from(vec![0x33; 32]),
            input_salted: false,
            instructions: 0,
            messages: Some(1),
            kind: None,
        };
        let start = env.instructions();
        self.log.append(&entry);
        self.certify_head(env);
        env.instructions() - start
    }

    // --- operations --------------------------------------------------------------------

    pub fn stats(&self, env: &impl Environment) -> Stats {
        let models = self.store.list();
        Stats {
            models: models.len() as u64,
            models_ready: models
                .iter()
                .filter(|m| m.finalized_at_ns.is_some())
                .count() as u64,
            model_bytes: self.store.total_bytes(),
            log_size: self.log.len(),
            heap_bytes: env.heap_bytes(),
            stable_bytes: self.raw.size() * 65536,
            cached_plans: self.plans.len() as u32,
            last_infer_instructions: self.last_infer_instructions,
        }
    }

    pub fn store(&self) -> &ModelStore<VMem<M>> {
        &self.store
    }
}

fn use_job(model_id: &str, reason: String) -> Error {
    Error::UseJob {
        model_id: model_id.to_string(),
        reason,
    }
}

fn check_output_bytes(outputs: &[Tensor]) -> Result<(), Error> {
    let output_bytes = outputs
        .iter()
        .map(|t| t.data.len() as u64 * t.data.dtype().size_bytes() as u64)
        .sum();
    limit("MAX_OUTPUT_BYTES", MAX_OUTPUT_BYTES, output_bytes)
}

/// A nonce salts a commitment: 16 to 64 bytes.
fn check_nonce(nonce: Option<&ByteBuf>) -> Result<(), Error> {
    if let Some(nonce) = nonce
        && !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&nonce.len())
    {
        return Err(Error::InvalidArgument {
            field: "nonce".into(),
            reason: format!(
                "must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes, got {}",
                nonce.len()
            ),
        });
    }
    Ok(())
}

fn nonce(args: &InferArgs) -> Option<&[u8]> {
    args.nonce.as_ref().map(|n| n.as_slice())
}

/// A language model's tokenizer and its declaration matched with the loaded graph's inputs
/// and outputs (their roles); `None` for any other model.
fn language_of(
    record: &ModelRecord,
    tokenizer: Option<Tokenizer>,
    loaded: &runtime::LoadedModel,
) -> Result<Option<Arc<Language>>, Error> {
    match (record.language_model.as_deref(), tokenizer) {
        (Some(lm), Some(tokenizer)) => Ok(Some(Arc::new(Language::new(
            lm,
            tokenizer,
            &loaded.inputs,
            &loaded.outputs,
        )?))),
        _ => Ok(None),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(bytes: [u8; 32]) -> ByteBuf {
    ByteBuf::from(bytes.to_vec())
}

fn tree_error(error: TreeError, field: &str) -> Error {
    let reason = match error {
        TreeError::SizeBeyondTree { size, tree_size } => {
            format!("{size} is beyond the log's {tree_size} entries")
        }
        TreeError::IndexBeyondSize { index, size } => {
            format!("entry {index} is not in the log's first {size} entries")
        }
        TreeError::SizesOutOfOrder { from_size, to_size } => {
            format!("from_size {from_size} is larger than to_size {to_size}")
        }
    };
    Error::InvalidArgument {
        field: field.to_string(),
        reason,
    }
}

/// A ready model as inference needs it. Immutable, so it can live on the heap.
#[derive(Clone)]
struct Runnable {
    sha256: ByteBuf,
    facts: Arc<ReadyFacts>,
    plan: Plan,
    /// The record's `infer_instructions`, kept current by `Engine::note_infer_instructions`.
    infer_instructions: Option<u64>,
    /// A language model's tokenizer and roles.
    language: Option<Arc<Language>>,
}

/// Ready models with their optimised plans on the heap, least recently used first out.
/// Deleting a model removes its entry, so a model created again under the same id never
/// runs the old plan.
#[derive(Default)]
struct PlanCache {
    entries: Vec<(String, Runnable)>,
}

impl PlanCache {
    fn get(&mut self, id: &str) -> Option<Runnable> {
        let at = self.entries.iter().position(|(i, _)| i == id)?;
        let entry = self.entries.remove(at);
        let model = entry.1.clone();
        self.entries.push(entry);
        Some(model)
    }

    fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|(i, _)| i == id)
    }

    fn insert(&mut self, id: &str, model: Runnable) {
        self.remove(id);
        if self.entries.len() >= MAX_CACHED_PLANS {
            self.entries.remove(0);
        }
        self.entries.push((id.to_string(), model));
    }

    fn remove(&mut self, id: &str) {
        self.entries.retain(|(i, _)| i != id);
    }

    fn note_infer_instructions(&mut self, id: &str, instructions: u64) {
        for (_, model) in self.entries.iter_mut().filter(|(i, _)| i == id) {
            model.infer_instructions =
                Some(model.infer_instructions.unwrap_or(0).max(instructions));
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
