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
//! Every method checks all of its preconditions before it writes anything, so a call that
//! returns an error has changed nothing.

use crate::limits::{
    CHUNK_BYTES, MAX_CONTEXT_LENGTH, MAX_DESCRIPTION_BYTES, MAX_KV_PAIRS, MAX_MODEL_BYTES,
    MAX_MODEL_ID_BYTES, MAX_MODELS, MAX_RANK, MAX_TENSOR_NAME_BYTES, MAX_TENSORS,
    MAX_TOKENIZER_BYTES, MAX_TOTAL_MODEL_BYTES,
};
use crate::nested::Nested;
use crate::runtime::profile;
use candid::{CandidType, Deserialize, Principal};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeMap, BTreeSet, Memory, Storable};
use icinfer_api::{
    CreateModelArgs, Dim, Error, LanguageModel, ModelInfo, ModelState, TensorFact, UploadChunkArgs,
    UploadProgress, UploadStatus,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

const BLOCKS_MAGIC: &[u8; 3] = b"ICB";
const BLOCKS_VERSION: u8 = 1;
const BLOCKS_BASE: u64 = 64 << 10;
const WASM_PAGE: u64 = 64 << 10;
const RECORD_VERSION: u8 = 1;
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
    /// Absent on records written before text generation (candid reads them as None).
    /// Nested (crate::nested), so that uploads of other models do not pay for its type.
    pub language_model: Option<Nested<LanguageModel>>,
    pub tokenizer_chunks_received: Option<u32>,
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
            state: if self.ready.is_some() {
                ModelState::Ready
            } else {
                ModelState::Uploading
            },
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
        assert_eq!(
            bytes.first(),
            Some(&RECORD_VERSION),
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
        if let Some(lm) = &args.language_model {
            check_language_model(lm)?;
        }
        let tokenizer_bytes = args
            .language_model
            .as_ref()
            .map_or(0, |lm| lm.tokenizer.size_bytes);
        if self.records.contains_key(&args.id) {
            return Err(Error::AlreadyExists {
                kind: "model".into(),
                id: args.id,
            });
        }
        limit("MAX_MODELS", MAX_MODELS, self.records.len() + 1)?;
        limit(
            "MAX_TOTAL_MODEL_BYTES",
            MAX_TOTAL_MODEL_BYTES,
            self.total_bytes() + args.size_bytes + tokenizer_bytes,
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
            tokenizer_chunks_received: args.language_model.as_ref().map(|_| 0),
            language_model: args.language_model.map(Nested),
        };
        let info = record.info(&args.id);
        self.set_counter(8, next_slot);
        self.records.insert(args.id, record);
        Ok(info)
    }

    /// Stores one chunk. Sending a chunk again overwrites it; the SHA-256 check at
    /// finalize decides what counts.
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
        let index = ModelRecord::first_chunk(part) + (args.offset / CHUNK_BYTES) as u32;
        let key = chunk_key(record.slot, index);
        let block = match self.chunks.get(&key) {
            Some(block) => block,
            None => {
                let block = self.allocate_block()?;
                self.chunks.insert(key, block);
                match part {
                    Part::Model => record.chunks_received += 1,
                    Part::Tokenizer => {
                        record.tokenizer_chunks_received = Some(record.part_received(part) + 1)
                    }
                }
                block
            }
        };
        self.blocks.write(block_offset(block), &args.data);
        let progress = UploadProgress {
            chunks_received: record.part_received(part),
            chunks_total: chunks_in(size_bytes),
        };
        self.records.insert(args.id, record);
        Ok(progress)
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
        let total = record.chunks_total();
        let mut missing = Vec::new();
        let mut next = 0u32;
        for key in self
            .chunks
            .keys_range(chunk_key(record.slot, 0)..chunk_key(record.slot, total))
        {
            let index = key as u32;
            missing.extend(next..index);
            next = index + 1;
        }
        missing.extend(next..total);
        Ok(UploadStatus {
            id: id.to_string(),
            state: record.info(id).state,
            size_bytes: record.size_bytes,
            chunk_size: CHUNK_BYTES,
            chunks_total: total,
            chunks_received: record.chunks_received,
            missing_chunks: missing,
        })
    }

    /// The whole model file, if every chunk has arrived, and its SHA-256.
    pub fn assemble(&self, id: &str) -> Result<(Vec<u8>, [u8; 32]), Error> {
        self.assemble_part(id, Part::Model)
    }

    /// A file of the model (its tokenizer: none unless it is a language model), if every
    /// chunk has arrived, and its SHA-256.
    pub fn assemble_part(&self, id: &str, part: Part) -> Result<(Vec<u8>, [u8; 32]), Error> {
        let record = self.require(id)?;
        let size_bytes = record.part_size(part).unwrap_or(0);
        let total = chunks_in(size_bytes);
        let received = record.part_received(part);
        if received < total {
            return Err(Error::UploadIncomplete {
                id: id.to_string(),
                missing_chunks: total - received,
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
        let sha256 = profile::span("load: sha256", || Sha256::digest(&bytes).into());
        Ok((bytes, sha256))
    }

    /// Records that the model is ready. The caller has verified its bytes.
    pub fn mark_ready(&mut self, id: &str, facts: ReadyFacts) -> Result<ModelInfo, Error> {
        let mut record = self.require(id)?;
        record.ready = Some(facts);
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
