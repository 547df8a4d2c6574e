//! The engine: every canister operation, over stable memory and an [`Environment`] that
//! stands for the IC's system API, so the whole canister logic runs natively in tests.
//!
//! Each operation checks everything it can before it changes anything: a call that returns
//! an error leaves the state as it found it. `infer` runs the model and appends to the log
//! in one synchronous call, so on the IC a trap anywhere in it commits nothing.

use crate::limits::{
    MAX_ADMINS, MAX_CACHED_PLANS, MAX_INPUT_BYTES, MAX_NONCE_BYTES, MAX_OUTPUT_BYTES,
    MIN_NONCE_BYTES,
};
use crate::memory::{self, LayoutError, VMem};
use crate::provenance::ProvenanceLog;
use crate::runtime::{self, Plan};
use crate::store::{ModelStore, ReadyFacts, limit};
use crate::tensor;
use candid::Principal;
use ic_stable_structures::{BTreeSet, Memory};
use icinfer_api::{
    CreateModelArgs, Error, FindLogArgs, FindLogResult, InferArgs, InferResult, LogEntry, LogPage,
    LogPageArgs, ModelInfo, QueryInferResult, Stats, Tensor, UploadChunkArgs, UploadProgress,
    UploadStatus,
};
use serde_bytes::ByteBuf;

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
}

pub struct Engine<M: Memory> {
    raw: M,
    store: ModelStore<VMem<M>>,
    admins: BTreeSet<Principal, VMem<M>>,
    log: ProvenanceLog<VMem<M>>,
    plans: PlanCache,
    last_infer_instructions: Option<u64>,
}

impl<M: Memory + Clone> Engine<M> {
    /// Lays out a fresh stable memory, or reopens the one an earlier version left, after
    /// checking that it is ours and of a version this build reads.
    pub fn init(raw: M) -> Result<Self, LayoutError> {
        let fresh = memory::is_fresh(&raw);
        let manager = memory::open_manager(raw.clone())?;
        let m = |id| manager.get(id);
        let (store, admins, log) = if fresh {
            memory::write_layout_header(&m(memory::LAYOUT));
            (
                ModelStore::new(
                    m(memory::MODELS),
                    m(memory::CHUNKS),
                    m(memory::BLOCKS),
                    m(memory::FREE_BLOCKS),
                ),
                BTreeSet::new(m(memory::ADMINS)),
                ProvenanceLog::new(
                    m(memory::LOG_INDEX),
                    m(memory::LOG_DATA),
                    m(memory::LOG_SEARCH),
                ),
            )
        } else {
            memory::check_layout(&manager)?;
            (
                ModelStore::open(
                    m(memory::MODELS),
                    m(memory::CHUNKS),
                    m(memory::BLOCKS),
                    m(memory::FREE_BLOCKS),
                ),
                BTreeSet::init(m(memory::ADMINS)),
                ProvenanceLog::open(
                    m(memory::LOG_INDEX),
                    m(memory::LOG_DATA),
                    m(memory::LOG_SEARCH),
                ),
            )
        };
        Ok(Self {
            raw,
            store,
            admins,
            log,
            plans: PlanCache::default(),
            last_infer_instructions: None,
        })
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

    /// Verifies the assembled bytes against the declared SHA-256, loads and optimises the
    /// model with tract, records its facts and caches its plan. Only then is the model
    /// ready, and from then on immutable.
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
        let (bytes, sha256) = self.store.assemble(id)?;
        if sha256[..] != record.sha256[..] {
            return Err(Error::HashMismatch {
                expected: record.sha256,
                actual: ByteBuf::from(sha256.to_vec()),
            });
        }
        let loaded = runtime::load(&bytes)?;
        drop(bytes);
        let facts = ReadyFacts {
            finalized_at_ns: env.now_ns(),
            inputs: loaded.inputs,
            outputs: loaded.outputs,
            load_instructions: env.instructions().saturating_sub(start),
        };
        let info = self.store.mark_ready(id, facts)?;
        self.plans.insert(id, &record.sha256, loaded.plan);
        Ok(info)
    }

    /// Deletes a model and frees its bytes. The log keeps every entry that names it.
    pub fn delete_model(&mut self, env: &impl Environment, id: &str) -> Result<(), Error> {
        self.require_manager(env)?;
        self.store.delete(id)?;
        self.plans.remove(id);
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

    /// Runs a model and appends the receipt to the provenance log.
    pub fn infer(&mut self, env: &impl Environment, args: InferArgs) -> Result<InferResult, Error> {
        let (outputs, model_sha256) = self.run(&args)?;
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
        };
        self.log.append(&entry);
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
        let (outputs, _) = self.run(&args)?;
        Ok(QueryInferResult {
            outputs,
            instructions: env.instructions(),
        })
    }

    /// Checks the arguments and runs the model; returns the outputs and the model's hash.
    fn run(&mut self, args: &InferArgs) -> Result<(Vec<Tensor>, ByteBuf), Error> {
        if let Some(nonce) = &args.nonce
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
        let input_bytes = tensor::check_tensor_list(&args.inputs)?;
        limit("MAX_INPUT_BYTES", MAX_INPUT_BYTES, input_bytes)?;
        let record = self.store.require(&args.model_id)?;
        let Some(facts) = &record.ready else {
            return Err(Error::InvalidState {
                id: args.model_id.clone(),
                reason: "the model is still uploading; finalize it first".into(),
            });
        };
        let ordered = runtime::match_inputs(&facts.inputs, &args.inputs)?;
        let plan = self.plan(&args.model_id, &record.sha256)?;
        let outputs = runtime::run(&plan, &facts.outputs, &ordered)?;
        let output_bytes = outputs
            .iter()
            .map(|t| t.data.len() as u64 * t.data.dtype().size_bytes() as u64)
            .sum();
        limit("MAX_OUTPUT_BYTES", MAX_OUTPUT_BYTES, output_bytes)?;
        Ok((outputs, record.sha256))
    }

    /// The cached plan, or one loaded again from stable memory (after an upgrade, or when
    /// the cache evicted it). The bytes are checked against the recorded hash first.
    fn plan(&mut self, id: &str, sha256: &[u8]) -> Result<Plan, Error> {
        if let Some(plan) = self.plans.get(id, sha256) {
            return Ok(plan);
        }
        let (bytes, actual) = self.store.assemble(id)?;
        assert_eq!(
            &actual[..],
            sha256,
            "stored bytes of finalized model '{id}' no longer match its SHA-256"
        );
        let plan = runtime::load(&bytes)?.plan;
        self.plans.insert(id, sha256, plan.clone());
        Ok(plan)
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
            .find(|m| self.plans.get(&m.id, &m.sha256).is_none())?;
        self.plan(&candidate.id, &candidate.sha256).ok()?;
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

fn nonce(args: &InferArgs) -> Option<&[u8]> {
    args.nonce.as_ref().map(|n| n.as_slice())
}

fn digest(bytes: [u8; 32]) -> ByteBuf {
    ByteBuf::from(bytes.to_vec())
}

/// Optimised plans on the heap, least recently used first out. Keyed by id and hash so a
/// model deleted and created again under the same id never runs the old plan.
#[derive(Default)]
struct PlanCache {
    entries: Vec<(String, ByteBuf, Plan)>,
}

impl PlanCache {
    fn get(&mut self, id: &str, sha256: &[u8]) -> Option<Plan> {
        let at = self
            .entries
            .iter()
            .position(|(i, s, _)| i == id && s.as_slice() == sha256)?;
        let entry = self.entries.remove(at);
        let plan = entry.2.clone();
        self.entries.push(entry);
        Some(plan)
    }

    fn insert(&mut self, id: &str, sha256: &[u8], plan: Plan) {
        self.remove(id);
        if self.entries.len() >= MAX_CACHED_PLANS {
            self.entries.remove(0);
        }
        self.entries
            .push((id.to_string(), ByteBuf::from(sha256.to_vec()), plan));
    }

    fn remove(&mut self, id: &str) {
        self.entries.retain(|(i, _, _)| i != id);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
