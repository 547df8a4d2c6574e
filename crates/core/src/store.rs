//! The model store: model records, chunked uploads, and the model bytes themselves.
//!
//! Model bytes live in a memory of fixed-size blocks, one block per upload chunk, so an
//! upload writes its chunk straight to its final place and loading a model reads one
//! block per MiB. A chunk map records which block holds chunk `i` of model slot `s`.
//! Deleting a model returns its blocks to a free set that later uploads reuse (stable
//! memory never shrinks on the IC, but it stops growing).
//!
//! ```text
//! BLOCKS memory:
//!   0           3     4              8             12                 BLOCKS_BASE
//!   +-----------+-----+--------------+--------------+------ ... -------+
//!   | "ICB"     | v=1 | next_block   | next_slot    |    reserved      |
//!   +-----------+-----+--------------+--------------+------ ... -------+
//!   BLOCKS_BASE + b * CHUNK_BYTES: block b (CHUNK_BYTES long)
//! MODELS:      id -> record (version byte, then Candid)
//! CHUNKS:      slot << 32 | chunk index -> block
//!              (a language model's tokenizer: chunk index TOKENIZER_CHUNKS + i)
//! FREE_BLOCKS: block
//! ```
//!
//! The file's SHA-256 is computed as its bytes arrive: the record keeps the hasher's state
//! after the in-order prefix of chunks received so far (`hashed_chunks`). A chunk that
//! extends the prefix is hashed in its own upload message, together with chunks that came
//! out of order and now follow the prefix, at most MAX_HASH_CHUNKS_PER_UPLOAD of them; what
//! is left, finalize hashes (`hash_while`), in as many messages as it takes. The state lives
//! in the record, in stable memory, so an upgrade in the middle of an upload keeps it.
//! Chunks cannot be rewritten: the same bytes again are accepted and change nothing, other
//! bytes are refused (they could not change a hash already taken).
//!
//! Every method checks all of its preconditions before it writes anything, so a call that
//! returns an error has changed nothing.

use crate::limits::{
    CHUNK_BYTES, MAX_CONTEXT_LENGTH, MAX_DESCRIPTION_BYTES, MAX_HASH_CHUNKS_PER_UPLOAD,
    MAX_KV_PAIRS, MAX_MODEL_BYTES, MAX_MODEL_ID_BYTES, MAX_MODELS, MAX_RANK, MAX_TENSOR_NAME_BYTES,
    MAX_TENSORS, MAX_TOKENIZER_BYTES, MAX_TOTAL_MODEL_BYTES,
};
use crate::nested::Nested;
use crate::runtime::profile;
use candid::{CandidType, Deserialize, Principal};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeMap, BTreeSet, Memory, Storable};
use icinfer_api::{
    CreateModelArgs, Dim, Error, FinalizeProgress, LanguageModel, ModelInfo, ModelState,
    TensorFact, TokenizerUpload, UploadChunkArgs, UploadProgress, UploadStatus,
};
use serde_bytes::ByteBuf;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

const BLOCKS_MAGIC: &[u8; 3] = b"ICB";
const BLOCKS_VERSION: u8 = 1;
const BLOCKS_BASE: u64 = 64 << 10;
const WASM_PAGE: u64 = 64 << 10;
/// 1: no hash state, no finalize job. 2: + `hashed_chunks`, `hash_state`, `finalizing`,
/// `failed`, `infer_instructions`: optional fields, so a record of version 1 reads as one
/// of version 2 with none of them (no chunk hashed yet: finalize hashes them all).
/// `language_model` and `tokenizer_chunks_received` are optional too (absent: not a
/// language model).
const RECORD_VERSION: u8 = 2;
const OLDEST_RECORD_VERSION: u8 = 1;
/// First chunk index of a tokenizer: above any model's chunks (MAX_MODEL_BYTES / CHUNK_BYTES).
const TOKENIZER_CHUNKS: u32 = 1 << 31;

/// The files of a model: the ONNX graph, and a language model's tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Model,
    Tokenizer,
}

/// A model as stored. `ready` is set once, by finalize; after that the record and its
/// bytes never change until the model is deleted.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelRecord {
    pub slot: u32,
    pub sha256: ByteBuf,
    pub size_bytes: u64,
    pub description: Option<String>,
    pub created_at_ns: u64,
    pub created_by: Principal,
    pub chunks_received: u32,
    /// Declared input facts that replace the model's own at load.
    pub input_facts: Option<Vec<TensorFact>>,
    pub ready: Option<ReadyFacts>,
    /// Chunks `0..hashed_chunks` are hashed into `hash_state`.
    pub hashed_chunks: Option<u32>,
    /// The SHA-256 state after `hashed_chunks` chunks (sha2's serialized state).
    pub hash_state: Option<ByteBuf>,
    /// Set while finalize runs as a job.
    pub finalizing: Option<FinalizeRun>,
    /// Why the last finalize failed, cleared by the next attempt: an `Error`, Candid-encoded
    /// on its own (`failure`), which keeps Error's type (twelve variants) out of the record's
    /// encoding, and so out of every decoding of a record.
    pub failed: Option<ByteBuf>,
    /// The most instructions an inference of this model took, measured by a job or by an
    /// `infer` that stopped at the one-message limit (a lower bound then).
    pub infer_instructions: Option<u64>,
    /// Absent on records written before text generation (candid reads them as None).
    /// Nested (crate::nested), so that uploads of other models do not pay for its type.
    pub language_model: Option<Nested<LanguageModel>>,
    pub tokenizer_chunks_received: Option<u32>,
}

/// A finalize job's counters: its messages and their instructions so far.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct FinalizeRun {
    pub messages: u64,
    pub instructions: u64,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct ReadyFacts {
    pub finalized_at_ns: u64,
    pub inputs: Vec<TensorFact>,
    pub outputs: Vec<TensorFact>,
    pub load_instructions: u64,
}

impl ModelRecord {
    pub fn chunks_total(&self) -> u32 {
        chunks_in(self.size_bytes)
    }

    /// Why the last finalize failed.
    pub fn failure(&self) -> Option<Error> {
        self.failed
            .as_ref()
            .map(|bytes| candid::decode_one(bytes).expect("a stored finalize failure decodes"))
    }

    pub fn hashed_chunks(&self) -> u32 {
        self.hashed_chunks.unwrap_or(0)
    }

    pub fn is_hashed(&self) -> bool {
        self.hashed_chunks() == self.chunks_total()
    }

    pub fn state(&self) -> ModelState {
        if self.ready.is_some() {
            ModelState::Ready
        } else if let Some(error) = self.failure() {
            ModelState::Failed { error }
        } else if let Some(run) = &self.finalizing {
            ModelState::Finalizing(FinalizeProgress {
                chunks_hashed: self.hashed_chunks(),
                chunks_total: self.chunks_total(),
                messages: run.messages,
                instructions: run.instructions,
            })
        } else {
            ModelState::Uploading
        }
    }

    /// Chunks of a file of the model (its tokenizer: none unless it is a language model)
    /// still to arrive.
    pub fn missing_chunks(&self, part: Part) -> u32 {
        chunks_in(self.part_size(part).unwrap_or(0)) - self.part_received(part)
    }

    fn part_size(&self, part: Part) -> Option<u64> {
        match part {
            Part::Model => Some(self.size_bytes),
            Part::Tokenizer => self
                .language_model
                .as_ref()
                .map(|lm| lm.tokenizer.size_bytes),
        }
    }

    fn part_received(&self, part: Part) -> u32 {
        match part {
            Part::Model => self.chunks_received,
            Part::Tokenizer => self.tokenizer_chunks_received.unwrap_or(0),
        }
    }

    fn first_chunk(part: Part) -> u32 {
        match part {
            Part::Model => 0,
            Part::Tokenizer => TOKENIZER_CHUNKS,
        }
    }

    pub fn info(&self, id: &str) -> ModelInfo {
        ModelInfo {
            id: id.to_string(),
            sha256: self.sha256.clone(),
            size_bytes: self.size_bytes,
            description: self.description.clone(),
            state: self.state(),
            created_at_ns: self.created_at_ns,
            created_by: self.created_by,
            finalized_at_ns: self.ready.as_ref().map(|r| r.finalized_at_ns),
            inputs: self
                .ready
                .as_ref()
                .map_or_else(Vec::new, |r| r.inputs.clone()),
            outputs: self
                .ready
                .as_ref()
                .map_or_else(Vec::new, |r| r.outputs.clone()),
            load_instructions: self.ready.as_ref().map(|r| r.load_instructions),
            language_model: self.language_model.as_deref().cloned(),
        }
    }
}

impl Storable for ModelRecord {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.clone().into_bytes())
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = vec![RECORD_VERSION];
        bytes.extend(candid::encode_one(&self).expect("a model record always encodes"));
        bytes
    }

    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        assert!(
            bytes
                .first()
                .is_some_and(|v| (OLDEST_RECORD_VERSION..=RECORD_VERSION).contains(v)),
            "model record of an unknown version: stable memory is from a newer build"
        );
        candid::decode_one(&bytes[1..]).expect("a stored model record always decodes")
    }

    const BOUND: Bound = Bound::Unbounded;
}

fn chunks_in(size_bytes: u64) -> u32 {
    size_bytes.div_ceil(CHUNK_BYTES) as u32
}

fn chunk_key(slot: u32, index: u32) -> u64 {
    (u64::from(slot) << 32) | u64::from(index)
}

pub struct ModelStore<M: Memory> {
    records: BTreeMap<String, ModelRecord, M>,
    chunks: BTreeMap<u64, u32, M>,
    blocks: M,
    free_blocks: BTreeSet<u32, M>,
}

impl<M: Memory> ModelStore<M> {
    /// Creates an empty store over fresh memories.
    pub fn new(records: M, chunks: M, blocks: M, free_blocks: M) -> Self {
        if blocks.size() == 0 {
            assert!(
                blocks.grow(BLOCKS_BASE / WASM_PAGE) != -1,
                "stable memory full"
            );
        }
        let store = Self {
            records: BTreeMap::new(records),
            chunks: BTreeMap::new(chunks),
            blocks,
            free_blocks: BTreeSet::new(free_blocks),
        };
        let mut header = [0u8; 12];
        header[..3].copy_from_slice(BLOCKS_MAGIC);
        header[3] = BLOCKS_VERSION;
        store.blocks.write(0, &header);
        store
    }

    /// Reopens a store; the caller has checked the memories' magics.
    pub fn open(records: M, chunks: M, blocks: M, free_blocks: M) -> Self {
        let mut version = [0u8; 1];
        blocks.read(3, &mut version);
        assert_eq!(
            version[0], BLOCKS_VERSION,
            "model block memory of an unknown version"
        );
        Self {
            records: BTreeMap::init(records),
            chunks: BTreeMap::init(chunks),
            blocks,
            free_blocks: BTreeSet::init(free_blocks),
        }
    }

    fn counter(&self, offset: u64) -> u32 {
        let mut bytes = [0u8; 4];
        self.blocks.read(offset, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn set_counter(&self, offset: u64, value: u32) {
        self.blocks.write(offset, &value.to_le_bytes());
    }

    pub fn get(&self, id: &str) -> Option<ModelRecord> {
        self.records.get(&id.to_string())
    }

    pub fn require(&self, id: &str) -> Result<ModelRecord, Error> {
        self.get(id).ok_or_else(|| Error::NotFound {
            kind: "model".into(),
            id: id.to_string(),
        })
    }

    pub fn list(&self) -> Vec<ModelInfo> {
        self.records
            .iter()
            .map(|e| e.value().info(e.key()))
            .collect()
    }

    pub fn len(&self) -> u64 {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes of all models together (with their tokenizers), as declared at creation.
    pub fn total_bytes(&self) -> u64 {
        self.records
            .values()
            .map(|r| r.size_bytes + r.part_size(Part::Tokenizer).unwrap_or(0))
            .sum()
    }

    pub fn create(
        &mut self,
        args: CreateModelArgs,
        caller: Principal,
        now_ns: u64,
    ) -> Result<ModelInfo, Error> {
        check_model_id(&args.id)?;
        if args.sha256.len() != 32 {
            return Err(invalid("sha256", "must be 32 bytes"));
        }
        if args.size_bytes == 0 {
            return Err(invalid("size_bytes", "must be positive"));
        }
        limit("MAX_MODEL_BYTES", MAX_MODEL_BYTES, args.size_bytes)?;
        if let Some(description) = &args.description {
            limit(
                "MAX_DESCRIPTION_BYTES",
                MAX_DESCRIPTION_BYTES as u64,
                description.len() as u64,
            )?;
        }
        if let Some(facts) = &args.input_facts {
            check_declared_facts(facts)?;
        }
        let replaced = self.records.get(&args.id);
        if let Some(existing) = &replaced {
            if existing.failed.is_none() {
                return Err(Error::AlreadyExists {
                    kind: "model".into(),
                    id: args.id,
                });
            }
            if keeps_chunks(existing, &args) {
                return Ok(self.retry_failed(args, existing.clone()));
            }
        }
        let tokenizer_bytes =
            |lm: Option<&LanguageModel>| lm.map_or(0, |lm| lm.tokenizer.size_bytes);
        if let Some(lm) = &args.language_model {
            check_language_model(lm)?;
        }
        let freed = replaced.as_ref().map_or(0, |r| {
            r.size_bytes + tokenizer_bytes(r.language_model.as_deref())
        });
        let count = self.records.len() + u64::from(replaced.is_none());
        limit("MAX_MODELS", MAX_MODELS, count)?;
        limit(
            "MAX_TOTAL_MODEL_BYTES",
            MAX_TOTAL_MODEL_BYTES,
            self.total_bytes() - freed
                + args.size_bytes
                + tokenizer_bytes(args.language_model.as_ref()),
        )?;
        let slot = self.counter(8);
        let next_slot = slot.checked_add(1).ok_or_else(|| Error::LimitExceeded {
            limit: "model slots".into(),
            max: u64::from(u32::MAX),
            got: u64::from(slot) + 1,
        })?;
        let record = ModelRecord {
            slot,
            sha256: args.sha256,
            size_bytes: args.size_bytes,
            description: args.description,
            created_at_ns: now_ns,
            created_by: caller,
            chunks_received: 0,
            input_facts: args.input_facts,
            ready: None,
            hashed_chunks: Some(0),
            hash_state: None,
            finalizing: None,
            failed: None,
            infer_instructions: None,
            tokenizer_chunks_received: args.language_model.as_ref().map(|_| 0),
            language_model: args.language_model.map(Nested),
        };
        let info = record.info(&args.id);
        if replaced.is_some() {
            // A failed upload of another file, or whose bytes were the failure: start over.
            self.delete(&args.id)?;
        }
        self.set_counter(8, next_slot);
        self.records.insert(args.id, record);
        Ok(info)
    }

    /// `create_model` again on a failed upload of the same file: new input facts and
    /// description, the chunks and their hash kept, ready to finalize again.
    fn retry_failed(&mut self, args: CreateModelArgs, mut record: ModelRecord) -> ModelInfo {
        record.input_facts = args.input_facts;
        record.description = args.description;
        record.failed = None;
        let info = record.info(&args.id);
        self.records.insert(args.id, record);
        info
    }

    /// Stores one chunk and extends the hashed prefix. A chunk sent again must hold the
    /// same bytes (and then changes nothing).
    pub fn upload_chunk(&mut self, args: UploadChunkArgs) -> Result<UploadProgress, Error> {
        self.upload_part(args, Part::Model)
    }

    /// Stores one chunk of a model's file or of its tokenizer, which is chunked alike.
    pub fn upload_part(
        &mut self,
        args: UploadChunkArgs,
        part: Part,
    ) -> Result<UploadProgress, Error> {
        let mut record = self.require(&args.id)?;
        let Some(size_bytes) = record.part_size(part) else {
            return Err(Error::InvalidState {
                id: args.id,
                reason: "the model is not a language model: it has no tokenizer".into(),
            });
        };
        if record.ready.is_some() {
            return Err(Error::InvalidState {
                id: args.id,
                reason: "the model is finalized and immutable".into(),
            });
        }
        if record.finalizing.is_some() {
            return Err(Error::InvalidState {
                id: args.id,
                reason: "the model is being finalized; its chunks are complete".into(),
            });
        }
        if !args.offset.is_multiple_of(CHUNK_BYTES) {
            return Err(invalid(
                "offset",
                &format!("must be a multiple of the chunk size {CHUNK_BYTES}"),
            ));
        }
        if args.offset >= size_bytes {
            return Err(invalid(
                "offset",
                &format!("{} is past the file's end {size_bytes}", args.offset),
            ));
        }
        let expected = CHUNK_BYTES.min(size_bytes - args.offset);
        if args.data.len() as u64 != expected {
            return Err(invalid(
                "data",
                &format!(
                    "the chunk at offset {} must be {expected} bytes, got {}",
                    args.offset,
                    args.data.len()
                ),
            ));
        }
        let index = (args.offset / CHUNK_BYTES) as u32;
        let key = chunk_key(record.slot, ModelRecord::first_chunk(part) + index);
        let progress = |record: &ModelRecord| UploadProgress {
            chunks_received: record.part_received(part),
            chunks_total: chunks_in(size_bytes),
        };
        if let Some(block) = self.chunks.get(&key) {
            let mut stored = vec![0u8; args.data.len()];
            self.blocks.read(block_offset(block), &mut stored);
            if stored != args.data.as_slice() {
                return Err(Error::InvalidState {
                    id: args.id,
                    reason: format!(
                        "chunk {index} was received already, with other bytes; chunks cannot be \
                         rewritten (delete the model to upload another file)"
                    ),
                });
            }
            return Ok(progress(&record));
        }
        let block = self.allocate_block()?;
        self.chunks.insert(key, block);
        self.blocks.write(block_offset(block), &args.data);
        match part {
            Part::Model => {
                record.chunks_received += 1;
                self.extend_hash(
                    &mut record,
                    Some((index, &args.data)),
                    MAX_HASH_CHUNKS_PER_UPLOAD,
                );
            }
            // Hashed at finalize: a tokenizer is a few MiB at most (MAX_TOKENIZER_BYTES).
            Part::Tokenizer => {
                record.tokenizer_chunks_received = Some(record.part_received(part) + 1)
            }
        }
        let progress = progress(&record);
        self.records.insert(args.id, record);
        Ok(progress)
    }

    /// Hashes chunks that follow the hashed prefix, at most `max_chunks`: `arrived` (the
    /// chunk just received, already in memory) and stored chunks. Updates `record` only.
    fn extend_hash(
        &self,
        record: &mut ModelRecord,
        arrived: Option<(u32, &[u8])>,
        max_chunks: u32,
    ) -> u32 {
        let total = record.chunks_total();
        let mut next = record.hashed_chunks();
        if next == total || max_chunks == 0 {
            return 0;
        }
        let mut hasher = hasher_of(record);
        let mut hashed = 0;
        let mut buffer = Vec::new();
        while hashed < max_chunks && next < total {
            match arrived {
                Some((index, bytes)) if index == next => hasher.update(bytes),
                _ => {
                    let Some(block) = self.chunks.get(&chunk_key(record.slot, next)) else {
                        break;
                    };
                    buffer.resize(chunk_len(record.size_bytes, next), 0);
                    self.blocks.read(block_offset(block), &mut buffer);
                    hasher.update(buffer.as_slice());
                }
            }
            next += 1;
            hashed += 1;
        }
        if hashed > 0 {
            record.hashed_chunks = Some(next);
            record.hash_state = Some(ByteBuf::from(hasher.serialize().to_vec()));
        }
        hashed
    }

    /// Finalize's share of the hashing: extends the hashed prefix one chunk at a time while
    /// `go_on` says so (asked before each chunk but the first), and returns `record` as it
    /// now stands (stored, if a chunk was hashed). Every chunk must have arrived.
    pub fn hash_while(
        &mut self,
        id: &str,
        mut record: ModelRecord,
        mut go_on: impl FnMut() -> bool,
    ) -> Result<ModelRecord, Error> {
        let mut hashed = 0;
        while !record.is_hashed() && (hashed == 0 || go_on()) {
            if self.extend_hash(&mut record, None, 1) == 0 {
                return Err(incomplete(id, &record));
            }
            hashed += 1;
        }
        if hashed > 0 {
            self.records.insert(id.to_string(), record.clone());
        }
        Ok(record)
    }

    /// The SHA-256 of the whole file, once every chunk is hashed.
    pub fn file_sha256(&self, record: &ModelRecord) -> [u8; 32] {
        assert!(record.is_hashed(), "file_sha256 before the last chunk");
        hasher_of(record).finalize().into()
    }

    /// Takes a block from the free set, or grows the block memory by one. Nothing is
    /// changed if growing fails.
    fn allocate_block(&mut self) -> Result<u32, Error> {
        if let Some(block) = self.free_blocks.pop_first() {
            return Ok(block);
        }
        let block = self.counter(4);
        let end = block_offset(block) + CHUNK_BYTES;
        let needed_pages = end.div_ceil(WASM_PAGE);
        let have = self.blocks.size();
        if needed_pages > have && self.blocks.grow(needed_pages - have) == -1 {
            return Err(Error::LimitExceeded {
                limit: "stable memory".into(),
                max: have * WASM_PAGE,
                got: end,
            });
        }
        self.set_counter(4, block + 1);
        Ok(block)
    }

    pub fn upload_status(&self, id: &str) -> Result<UploadStatus, Error> {
        let record = self.require(id)?;
        let tokenizer = record
            .part_size(Part::Tokenizer)
            .map(|size_bytes| TokenizerUpload {
                size_bytes,
                chunks_total: chunks_in(size_bytes),
                chunks_received: record.part_received(Part::Tokenizer),
                missing_chunks: self.missing(&record, Part::Tokenizer),
            });
        Ok(UploadStatus {
            id: id.to_string(),
            state: record.state(),
            size_bytes: record.size_bytes,
            chunk_size: CHUNK_BYTES,
            chunks_total: record.chunks_total(),
            chunks_received: record.chunks_received,
            missing_chunks: self.missing(&record, Part::Model),
            tokenizer,
        })
    }

    /// Indices (within the file) of a file's chunks still to arrive, ascending.
    fn missing(&self, record: &ModelRecord, part: Part) -> Vec<u32> {
        let first = ModelRecord::first_chunk(part);
        let total = chunks_in(record.part_size(part).unwrap_or(0));
        let mut missing = Vec::new();
        let mut next = 0u32;
        for key in self
            .chunks
            .keys_range(chunk_key(record.slot, first)..chunk_key(record.slot, first + total))
        {
            let index = key as u32 - first;
            missing.extend(next..index);
            next = index + 1;
        }
        missing.extend(next..total);
        missing
    }

    /// The whole model file, if every chunk has arrived.
    pub fn assemble(&self, id: &str) -> Result<Vec<u8>, Error> {
        self.assemble_part(id, Part::Model)
    }

    /// A file of the model (its tokenizer: none unless it is a language model), if every
    /// chunk has arrived.
    pub fn assemble_part(&self, id: &str, part: Part) -> Result<Vec<u8>, Error> {
        let record = self.require(id)?;
        let size_bytes = record.part_size(part).unwrap_or(0);
        let missing = record.missing_chunks(part);
        if missing > 0 {
            return Err(Error::UploadIncomplete {
                id: id.to_string(),
                missing_chunks: missing,
            });
        }
        let first = ModelRecord::first_chunk(part);
        let mut bytes = vec![0u8; size_bytes as usize];
        profile::span("load: read stable memory", || {
            for (index, piece) in bytes.chunks_mut(CHUNK_BYTES as usize).enumerate() {
                let block = self
                    .chunks
                    .get(&chunk_key(record.slot, first + index as u32))
                    .expect("chunks_received counts the chunk map's entries");
                self.blocks.read(block_offset(block), piece);
            }
        });
        Ok(bytes)
    }

    /// Records that the model is ready. The caller has verified its bytes, and passes its
    /// record as it read it.
    pub fn mark_ready(
        &mut self,
        id: &str,
        mut record: ModelRecord,
        facts: ReadyFacts,
    ) -> ModelInfo {
        record.ready = Some(facts);
        record.finalizing = None;
        record.failed = None;
        record.hash_state = None;
        let info = record.info(id);
        self.records.insert(id.to_string(), record);
        info
    }

    /// Records why finalize failed; the chunks stay (ModelState::Failed).
    pub fn mark_failed(&mut self, id: &str, error: Error) -> Result<ModelInfo, Error> {
        self.update(id, |record| {
            record.finalizing = None;
            record.failed = Some(ByteBuf::from(
                candid::encode_one(&error).expect("an error always encodes"),
            ));
        })
    }

    /// Starts or continues a finalize job, adding one message and its instructions.
    pub fn count_finalize_message(
        &mut self,
        id: &str,
        instructions: u64,
    ) -> Result<ModelInfo, Error> {
        self.update(id, |record| {
            let run = record.finalizing.get_or_insert_with(FinalizeRun::default);
            run.messages += 1;
            run.instructions += instructions;
            record.failed = None;
        })
    }

    /// Keeps the largest inference cost measured.
    pub fn note_infer_instructions(&mut self, id: &str, instructions: u64) {
        if let Some(mut record) = self.get(id)
            && record
                .infer_instructions
                .is_none_or(|known| known < instructions)
        {
            record.infer_instructions = Some(instructions);
            self.records.insert(id.to_string(), record);
        }
    }

    /// Ids of the models whose finalize runs as a job (at most MAX_MODELS).
    pub fn finalizing(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|e| e.value().finalizing.is_some())
            .map(|e| e.key().clone())
            .collect()
    }

    fn update(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut ModelRecord),
    ) -> Result<ModelInfo, Error> {
        let mut record = self.require(id)?;
        change(&mut record);
        let info = record.info(id);
        self.records.insert(id.to_string(), record);
        Ok(info)
    }

    /// Removes a model and frees its blocks.
    pub fn delete(&mut self, id: &str) -> Result<(), Error> {
        let record = self.require(id)?;
        let tokenizer_chunks = chunks_in(record.part_size(Part::Tokenizer).unwrap_or(0));
        let ranges = [
            chunk_key(record.slot, 0)..chunk_key(record.slot, record.chunks_total()),
            chunk_key(record.slot, TOKENIZER_CHUNKS)
                ..chunk_key(record.slot, TOKENIZER_CHUNKS + tokenizer_chunks),
        ];
        let owned: Vec<(u64, u32)> = ranges
            .into_iter()
            .flat_map(|range| self.chunks.range(range))
            .map(|entry| (*entry.key(), entry.value()))
            .collect();
        for (key, block) in owned {
            self.chunks.remove(&key);
            self.free_blocks.insert(block);
        }
        self.records.remove(&id.to_string());
        Ok(())
    }

    /// Blocks ever allocated and blocks free, for tests and stats.
    pub fn block_counts(&self) -> (u32, u64) {
        (self.counter(4), self.free_blocks.len())
    }
}

fn block_offset(block: u32) -> u64 {
    BLOCKS_BASE + u64::from(block) * CHUNK_BYTES
}

/// Bytes of chunk `index` of a file of `size_bytes`.
fn chunk_len(size_bytes: u64, index: u32) -> usize {
    CHUNK_BYTES.min(size_bytes - u64::from(index) * CHUNK_BYTES) as usize
}

/// The hasher as the record left it.
fn hasher_of(record: &ModelRecord) -> Sha256 {
    match &record.hash_state {
        None => Sha256::new(),
        Some(bytes) => SerializedState::<Sha256>::try_from(bytes.as_slice())
            .ok()
            .and_then(|state| Sha256::deserialize(&state).ok())
            .expect("a stored hash state deserializes"),
    }
}

/// Whether `create_model` again on a failed upload keeps its chunks: the same file, and
/// the chunks were not what failed.
fn keeps_chunks(record: &ModelRecord, args: &CreateModelArgs) -> bool {
    record.sha256 == args.sha256
        && record.size_bytes == args.size_bytes
        && record.language_model.as_deref() == args.language_model.as_ref()
        && !matches!(
            record.failure(),
            Some(Error::HashMismatch { .. } | Error::TokenizerRejected { .. })
        )
}

fn incomplete(id: &str, record: &ModelRecord) -> Error {
    Error::UploadIncomplete {
        id: id.to_string(),
        missing_chunks: record.chunks_total() - record.chunks_received,
    }
}

fn check_model_id(id: &str) -> Result<(), Error> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_MODEL_ID_BYTES || !id.chars().all(ok_char) {
        return Err(invalid(
            "id",
            &format!("must be 1 to {MAX_MODEL_ID_BYTES} characters of [A-Za-z0-9._-]"),
        ));
    }
    Ok(())
}

fn check_declared_facts(facts: &[TensorFact]) -> Result<(), Error> {
    limit("MAX_TENSORS", MAX_TENSORS as u64, facts.len() as u64)?;
    for (index, fact) in facts.iter().enumerate() {
        if fact.name.is_empty() || fact.name.len() > MAX_TENSOR_NAME_BYTES {
            return Err(invalid("input_facts", "names must be 1 to 256 bytes"));
        }
        if facts[..index].iter().any(|other| other.name == fact.name) {
            return Err(invalid(
                "input_facts",
                &format!("'{}' appears twice", fact.name),
            ));
        }
        limit("MAX_RANK", MAX_RANK as u64, fact.shape.len() as u64)?;
        let symbol_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if fact
            .shape
            .iter()
            .any(|dim| matches!(dim, Dim::Symbol(s) if !symbol_ok(s)))
        {
            return Err(invalid(
                "input_facts",
                "symbols must be 1 to 64 characters of [A-Za-z0-9_]",
            ));
        }
    }
    Ok(())
}

fn check_language_model(lm: &LanguageModel) -> Result<(), Error> {
    let field = |name: &str| format!("language_model.{name}");
    let names = [
        Some(&lm.input_ids),
        Some(&lm.logits),
        lm.attention_mask.as_ref(),
        lm.position_ids.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(lm.past.iter().flat_map(|p| [&p.input, &p.output]));
    for name in names {
        if name.is_empty() || name.len() > MAX_TENSOR_NAME_BYTES {
            return Err(invalid(
                &field("names"),
                "tensor names must be 1 to 256 bytes",
            ));
        }
    }
    limit("MAX_KV_PAIRS", MAX_KV_PAIRS as u64, lm.past.len() as u64)?;
    if lm.context_length == 0 {
        return Err(invalid(&field("context_length"), "must be positive"));
    }
    limit(
        "MAX_CONTEXT_LENGTH",
        u64::from(MAX_CONTEXT_LENGTH),
        u64::from(lm.context_length),
    )?;
    if lm.tokenizer.sha256.len() != 32 {
        return Err(invalid(&field("tokenizer.sha256"), "must be 32 bytes"));
    }
    if lm.tokenizer.size_bytes == 0 {
        return Err(invalid(&field("tokenizer.size_bytes"), "must be positive"));
    }
    limit(
        "MAX_TOKENIZER_BYTES",
        MAX_TOKENIZER_BYTES,
        lm.tokenizer.size_bytes,
    )
}

fn invalid(field: &str, reason: &str) -> Error {
    Error::InvalidArgument {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn limit(name: &str, max: u64, got: u64) -> Result<(), Error> {
    if got > max {
        return Err(Error::LimitExceeded {
            limit: name.to_string(),
            max,
            got,
        });
    }
    Ok(())
}
