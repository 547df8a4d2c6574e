//! The canonical encoding of a provenance log entry: what the canister stores, and the bytes
//! of the entry's Merkle leaf (docs/hashing.md, "Log entry encoding"). Two versions, and
//! every verifier reads both; the canister writes version 2 for every new entry.
//!
//! Version 1 (entries written before jobs):
//!
//! ```text
//! 0    1        9              17        18                       +1         +n
//! +----+--------+--------------+---------+--------- ... ----------+----------+--- ...
//! | 01 | seq    | timestamp_ns | len(c)  | caller principal bytes | len(id)  | model id
//! +----+--------+--------------+---------+--------- ... ----------+----------+--- ...
//!   ... | model_sha256 (32) | input_hash (32) | output_hash (32) | flags | instructions
//!                                                                  bit 0: input salted
//! ```
//!
//! Version 2: a header common to every kind of entry, then a kind-specific body.
//!
//! ```text
//! 0    1      2        10             18       19             +8             +8
//! +----+------+--------+--------------+--------+---- ... -----+--------------+----------+
//! | 02 | kind | seq    | timestamp_ns | len(c) | caller bytes | instructions | messages |
//! +----+------+--------+--------------+--------+---- ... -----+--------------+----------+
//! kind 01, inference (an `infer`, or an inference job):
//!   | len(id) | model id | model_sha256 (32) | input_hash (32) | output_hash (32) | flags |
//! kind 02, text generation: the inference body (input_hash: the prompt commitment,
//! output_hash: SHA-256 of the completion's bytes), then
//!   | tokenizer_sha256 (32) | completion_tokens_sha256 (32) | prompt_tokens (u32) |
//!   | generated_tokens (u32) | stop_reason (1) | sampling |
//!   stop_reason: 01 max_new_tokens, 02 eos, 03 stop_sequence, 04 context_full
//!   sampling:    00 (greedy)
//!              | 01 | temperature (f32) | 00, or 01 top_k (u32) | 00, or 01 top_p (f32) | seed (32)
//! kind 03, code epoch (the code that writes the log from first_index on):
//!   | first_index | canister_version | started_ns | module_hash (32) | mode (1 install,
//!   2 reinstall, 3 upgrade) | deployed_version | deployed_ns | total_num_changes |
//!   n | n × (len(p) | controller principal bytes) |
//! kind 04, model (a finalize that made a model ready): | len(id) | model id |
//!   model_sha256 (32) | the declared input facts and language model (module `model`) |
//! ```
//!
//! A code epoch's `LogEntry` has empty model, input and output fields (`model_id` "", the
//! three digests 32 zero bytes, `input_salted` false): they are not encoded, and an entry
//! that says otherwise has no encoding.
//!
//! `instructions` and `messages` are what the work took in all: one message for `infer`,
//! every message of a job. Further kinds (code epochs) are added under
//! version 2 with their own kind byte; a decoder that meets a kind it does not know refuses
//! the entry with [`DecodeError::UnknownKind`], never guesses.
//!
//! Integers are little-endian (u64 unless marked), f32 as its IEEE 754 bits; a sampled
//! generation's seed is always present (the one it used), and its floats are finite. Decoding accepts exactly the bytes encoding produces:
//! every entry has one encoding, so the leaf hash identifies the entry. testdata/hashing.json
//! pins the encodings and the bytes that must not decode: a new version adds its cases to
//! the generator (crates/verify/tests/corpus/hashing.rs, `entry_cases`, `entry_probes`).

use candid::Principal;
use icinfer_api::{
    CodeEpoch, DeploymentMode, EntryKind, GenerationReceipt, LogEntry, SampleSettings, Sampling,
    StopReason, generation::SEED_BYTES,
};
use serde_bytes::ByteBuf;

mod model;

/// The encoding version the canister writes.
pub const ENTRY_VERSION: u8 = 2;
/// The first version, still read by every verifier.
pub const ENTRY_VERSION_1: u8 = 1;
/// Version 2 kinds. Kinds are never reused.
pub const KIND_INFERENCE: u8 = 1;
pub const KIND_GENERATION: u8 = 2;
pub const KIND_CODE_EPOCH: u8 = 3;
pub const KIND_MODEL: u8 = 4;
/// At most this many controllers in a code epoch (the IC allows 10).
pub const MAX_EPOCH_CONTROLLERS: usize = 32;

/// Why an entry has no canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A digest field is not 32 bytes.
    DigestLength { field: &'static str, len: usize },
    /// The model id is longer than its one-byte length prefix allows.
    ModelIdTooLong { len: usize },
    /// A code epoch with model, input or output fields that are not empty, or a version 1
    /// entry of a kind (version 1 has only inferences).
    NotCanonical,
    /// A code epoch with more than [`MAX_EPOCH_CONTROLLERS`] controllers.
    TooManyControllers { len: usize },
    /// A generation entry (kind 2) must record its messages (version 2).
    KindNeedsVersion2,
    /// A sampled generation's receipt names no 32-byte seed, or a float is not finite.
    Sampling,
    /// A model entry's declaration does not fit its length fields (a name over 65,535
    /// bytes, a rank over 255, a symbol over 255 bytes, more than 65,535 facts or pairs).
    Declaration,
}

impl EncodeError {
    /// The reason code the corpus (testdata/hashing.json) names.
    pub fn reason(&self) -> &'static str {
        match self {
            EncodeError::DigestLength { .. } => "digest-length",
            EncodeError::ModelIdTooLong { .. } => "model-id-too-long",
            EncodeError::NotCanonical => "not-canonical",
            EncodeError::TooManyControllers { .. } => "too-many-controllers",
            EncodeError::KindNeedsVersion2 => "kind-needs-version-2",
            EncodeError::Sampling => "sampling",
            EncodeError::Declaration => "declaration",
        }
    }
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::DigestLength { field, len } => {
                write!(f, "{field} must be a 32-byte SHA-256, got {len} bytes")
            }
            EncodeError::ModelIdTooLong { len } => {
                write!(f, "model id of {len} bytes does not fit its length byte")
            }
            EncodeError::NotCanonical => f.write_str(
                "a code epoch entry must have empty model, input and output fields and a messages count",
            ),
            EncodeError::TooManyControllers { len } => write!(
                f,
                "a code epoch of {len} controllers (at most {MAX_EPOCH_CONTROLLERS})"
            ),
            EncodeError::KindNeedsVersion2 => {
                f.write_str("a generation entry must record its messages")
            }
            EncodeError::Sampling => f.write_str(
                "a sampled generation's receipt needs its 32-byte seed and finite settings",
            ),
            EncodeError::Declaration => {
                f.write_str("a model entry's declaration does not fit its length fields")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why bytes are not an entry this build reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte is no encoding version this build knows.
    UnknownVersion(u8),
    /// A version 2 entry of a kind this build does not know (added by a later release).
    UnknownKind(u8),
    /// Truncated, trailing bytes, an unknown flag, a bad principal or model id.
    Malformed,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownVersion(v) => write!(
                f,
                "log entry encoding version {v} is unknown (this verifier reads versions {ENTRY_VERSION_1} and {ENTRY_VERSION})"
            ),
            DecodeError::UnknownKind(k) => write!(
                f,
                "log entry kind {k} is unknown to this verifier (it reads kinds {KIND_INFERENCE}, inference, {KIND_GENERATION}, generation, {KIND_CODE_EPOCH}, code epoch, and {KIND_MODEL}, model); update the verifier"
            ),
            DecodeError::Malformed => f.write_str("the bytes are not a canonical log entry"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes an entry canonically: version 2 (kind inference) when it records the messages
/// it took, version 1 when it does not (an entry read back from the version 1 era).
pub fn encode_entry(entry: &LogEntry) -> Result<Vec<u8>, EncodeError> {
    let generation = match &entry.kind {
        Some(EntryKind::CodeEpoch(epoch)) => return encode_code_epoch(entry, epoch),
        Some(EntryKind::Model(declaration)) => {
            return model::encode_model_entry(entry, declaration);
        }
        Some(EntryKind::Generation(receipt)) => Some(receipt),
        None | Some(EntryKind::Inference) => None,
    };
    // A principal is at most 29 bytes, so its length always fits one byte.
    let caller = entry.caller.as_slice();
    let model_id_len =
        u8::try_from(entry.model_id.len()).map_err(|_| EncodeError::ModelIdTooLong {
            len: entry.model_id.len(),
        })?;
    let mut out =
        Vec::with_capacity(2 + 16 + 1 + caller.len() + 16 + 1 + entry.model_id.len() + 97);
    let model_and_hashes = |out: &mut Vec<u8>| -> Result<(), EncodeError> {
        out.push(model_id_len);
        out.extend_from_slice(entry.model_id.as_bytes());
        for (field, digest) in [
            ("model_sha256", &entry.model_sha256),
            ("input_hash", &entry.input_hash),
            ("output_hash", &entry.output_hash),
        ] {
            if digest.len() != 32 {
                return Err(EncodeError::DigestLength {
                    field,
                    len: digest.len(),
                });
            }
            out.extend_from_slice(digest);
        }
        out.push(u8::from(entry.input_salted));
        Ok(())
    };
    match entry.messages {
        None if generation.is_some() => return Err(EncodeError::KindNeedsVersion2),
        None => {
            out.push(ENTRY_VERSION_1);
            out.extend_from_slice(&entry.seq.to_le_bytes());
            out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
            out.push(caller.len() as u8);
            out.extend_from_slice(caller);
            model_and_hashes(&mut out)?;
            out.extend_from_slice(&entry.instructions.to_le_bytes());
        }
        Some(messages) => {
            out.push(ENTRY_VERSION);
            out.push(match generation {
                None => KIND_INFERENCE,
                Some(_) => KIND_GENERATION,
            });
            out.extend_from_slice(&entry.seq.to_le_bytes());
            out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
            out.push(caller.len() as u8);
            out.extend_from_slice(caller);
            out.extend_from_slice(&entry.instructions.to_le_bytes());
            out.extend_from_slice(&messages.to_le_bytes());
            model_and_hashes(&mut out)?;
            if let Some(receipt) = generation {
                encode_generation(receipt, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The empty fields of a code epoch entry: no model, no inputs, no outputs.
const EMPTY_DIGEST: [u8; 32] = [0; 32];

fn has_empty_inference_fields(entry: &LogEntry) -> bool {
    entry.model_id.is_empty()
        && !entry.input_salted
        && [&entry.model_sha256, &entry.input_hash, &entry.output_hash]
            .iter()
            .all(|d| d[..] == EMPTY_DIGEST)
}

fn mode_code(mode: DeploymentMode) -> u8 {
    match mode {
        DeploymentMode::Install => 1,
        DeploymentMode::Reinstall => 2,
        DeploymentMode::Upgrade => 3,
    }
}

fn encode_code_epoch(entry: &LogEntry, epoch: &CodeEpoch) -> Result<Vec<u8>, EncodeError> {
    let messages = entry.messages.ok_or(EncodeError::NotCanonical)?;
    if !has_empty_inference_fields(entry) {
        return Err(EncodeError::NotCanonical);
    }
    if epoch.module_hash.len() != 32 {
        return Err(EncodeError::DigestLength {
            field: "module_hash",
            len: epoch.module_hash.len(),
        });
    }
    if epoch.controllers.len() > MAX_EPOCH_CONTROLLERS {
        return Err(EncodeError::TooManyControllers {
            len: epoch.controllers.len(),
        });
    }
    let caller = entry.caller.as_slice();
    let mut out = Vec::with_capacity(128 + 30 * epoch.controllers.len());
    out.extend_from_slice(&[ENTRY_VERSION, KIND_CODE_EPOCH]);
    out.extend_from_slice(&entry.seq.to_le_bytes());
    out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
    out.push(caller.len() as u8);
    out.extend_from_slice(caller);
    out.extend_from_slice(&entry.instructions.to_le_bytes());
    out.extend_from_slice(&messages.to_le_bytes());
    for n in [epoch.first_index, epoch.canister_version, epoch.started_ns] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&epoch.module_hash);
    out.push(mode_code(epoch.mode));
    for n in [
        epoch.deployed_version,
        epoch.deployed_ns,
        epoch.total_num_changes,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(epoch.controllers.len() as u8);
    for controller in &epoch.controllers {
        out.push(controller.as_slice().len() as u8);
        out.extend_from_slice(controller.as_slice());
    }
    Ok(out)
}

fn encode_generation(receipt: &GenerationReceipt, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for (field, digest) in [
        ("tokenizer_sha256", &receipt.tokenizer_sha256),
        (
            "completion_tokens_sha256",
            &receipt.completion_tokens_sha256,
        ),
    ] {
        if digest.len() != 32 {
            return Err(EncodeError::DigestLength {
                field,
                len: digest.len(),
            });
        }
        out.extend_from_slice(digest);
    }
    out.extend_from_slice(&receipt.prompt_tokens.to_le_bytes());
    out.extend_from_slice(&receipt.generated_tokens.to_le_bytes());
    out.push(stop_code(receipt.stop_reason));
    match &receipt.sampling {
        Sampling::Greedy => out.push(0),
        Sampling::Sample(s) => {
            let seed = s.seed.as_ref().filter(|seed| seed.len() == SEED_BYTES);
            let finite = s.temperature.is_finite() && s.top_p.is_none_or(f32::is_finite);
            let Some(seed) = seed.filter(|_| finite) else {
                return Err(EncodeError::Sampling);
            };
            out.push(1);
            out.extend_from_slice(&s.temperature.to_le_bytes());
            match s.top_k {
                None => out.push(0),
                Some(k) => {
                    out.push(1);
                    out.extend_from_slice(&k.to_le_bytes());
                }
            }
            match s.top_p {
                None => out.push(0),
                Some(p) => {
                    out.push(1);
                    out.extend_from_slice(&p.to_le_bytes());
                }
            }
            out.extend_from_slice(seed);
        }
    }
    Ok(())
}

fn stop_code(reason: StopReason) -> u8 {
    match reason {
        StopReason::MaxNewTokens => 1,
        StopReason::Eos => 2,
        StopReason::StopSequence => 3,
        StopReason::ContextFull => 4,
    }
}

/// Decodes an entry written by [`encode_entry`]. Returns None on anything it does not read:
/// use [`decode_entry_checked`] to learn why.
pub fn decode_entry(bytes: &[u8]) -> Option<LogEntry> {
    decode_entry_checked(bytes).ok()
}

/// Decodes an entry of either version, saying why it refuses one.
pub fn decode_entry_checked(bytes: &[u8]) -> Result<LogEntry, DecodeError> {
    let mut reader = Reader(bytes);
    let version = reader.take(1).ok_or(DecodeError::Malformed)?[0];
    // The versions differ in where the costs stand, not in what an entry holds.
    let ((seq, timestamp_ns, caller), instructions, messages, body, kind) = match version {
        ENTRY_VERSION_1 => {
            let header = reader.seq_time_caller()?;
            let body = reader.inference_body()?;
            (header, reader.u64()?, None, body, None)
        }
        ENTRY_VERSION => {
            let kind = reader.take(1).ok_or(DecodeError::Malformed)?[0];
            if kind == KIND_CODE_EPOCH {
                return reader.code_epoch_entry();
            }
            if kind == KIND_MODEL {
                return reader.model_entry();
            }
            if kind != KIND_INFERENCE && kind != KIND_GENERATION {
                return Err(DecodeError::UnknownKind(kind));
            }
            let header = reader.seq_time_caller()?;
            let (instructions, messages) = (reader.u64()?, reader.u64()?);
            let body = reader.inference_body()?;
            let kind = match kind {
                KIND_GENERATION => Some(EntryKind::Generation(Box::new(reader.generation()?))),
                _ => None,
            };
            (header, instructions, Some(messages), body, kind)
        }
        other => return Err(DecodeError::UnknownVersion(other)),
    };
    let (model_id, model_sha256, input_hash, output_hash, input_salted) = body;
    let entry = LogEntry {
        seq,
        timestamp_ns,
        caller,
        model_id,
        model_sha256,
        input_hash,
        output_hash,
        input_salted,
        instructions,
        messages,
        kind,
    };
    if !reader.0.is_empty() {
        return Err(DecodeError::Malformed);
    }
    Ok(entry)
}

struct Reader<'a>(&'a [u8]);

type InferenceBody = (String, ByteBuf, ByteBuf, ByteBuf, bool);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.take(n).ok_or(DecodeError::Malformed)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn principal(&mut self) -> Result<Principal, DecodeError> {
        let len = self.bytes(1)?[0] as usize;
        Principal::try_from_slice(self.bytes(len)?).map_err(|_| DecodeError::Malformed)
    }

    /// The rest of a version 2 entry of kind 3, which must end the bytes.
    fn code_epoch_entry(mut self) -> Result<LogEntry, DecodeError> {
        let (seq, timestamp_ns, caller) = self.seq_time_caller()?;
        let (instructions, messages) = (self.u64()?, self.u64()?);
        let (first_index, canister_version, started_ns) = (self.u64()?, self.u64()?, self.u64()?);
        let module_hash = ByteBuf::from(self.bytes(32)?);
        let mode = match self.bytes(1)?[0] {
            1 => DeploymentMode::Install,
            2 => DeploymentMode::Reinstall,
            3 => DeploymentMode::Upgrade,
            _ => return Err(DecodeError::Malformed),
        };
        let (deployed_version, deployed_ns, total_num_changes) =
            (self.u64()?, self.u64()?, self.u64()?);
        let count = self.bytes(1)?[0] as usize;
        if count > MAX_EPOCH_CONTROLLERS {
            return Err(DecodeError::Malformed);
        }
        let controllers = (0..count)
            .map(|_| self.principal())
            .collect::<Result<Vec<_>, _>>()?;
        if !self.0.is_empty() {
            return Err(DecodeError::Malformed);
        }
        let empty = || ByteBuf::from(EMPTY_DIGEST.to_vec());
        Ok(LogEntry {
            seq,
            timestamp_ns,
            caller,
            model_id: String::new(),
            model_sha256: empty(),
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            instructions,
            messages: Some(messages),
            kind: Some(EntryKind::CodeEpoch(CodeEpoch {
                first_index,
                canister_version,
                started_ns,
                module_hash,
                mode,
                deployed_version,
                deployed_ns,
                total_num_changes,
                controllers,
            })),
        })
    }

    fn seq_time_caller(&mut self) -> Result<(u64, u64, Principal), DecodeError> {
        let seq = self.u64()?;
        let timestamp_ns = self.u64()?;
        let caller_len = self.bytes(1)?[0] as usize;
        let caller = Principal::try_from_slice(self.bytes(caller_len)?)
            .map_err(|_| DecodeError::Malformed)?;
        Ok((seq, timestamp_ns, caller))
    }

    /// Model id, the three digests and the flags byte.
    fn inference_body(&mut self) -> Result<InferenceBody, DecodeError> {
        let id_len = self.bytes(1)?[0] as usize;
        let model_id =
            String::from_utf8(self.bytes(id_len)?.to_vec()).map_err(|_| DecodeError::Malformed)?;
        let mut digest = || Ok::<_, DecodeError>(ByteBuf::from(self.bytes(32)?.to_vec()));
        let (model_sha256, input_hash, output_hash) = (digest()?, digest()?, digest()?);
        let flags = self.bytes(1)?[0];
        if flags > 1 {
            return Err(DecodeError::Malformed);
        }
        Ok((model_id, model_sha256, input_hash, output_hash, flags == 1))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn finite_f32(&mut self) -> Result<f32, DecodeError> {
        Some(f32::from_bits(self.u32()?))
            .filter(|x| x.is_finite())
            .ok_or(DecodeError::Malformed)
    }

    /// A presence byte (0 or 1), then the value if present.
    fn optional<T>(
        &mut self,
        value: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.bytes(1)?[0] {
            0 => Ok(None),
            1 => value(self).map(Some),
            _ => Err(DecodeError::Malformed),
        }
    }

    fn generation(&mut self) -> Result<GenerationReceipt, DecodeError> {
        let tokenizer_sha256 = ByteBuf::from(self.bytes(32)?.to_vec());
        let completion_tokens_sha256 = ByteBuf::from(self.bytes(32)?.to_vec());
        let prompt_tokens = self.u32()?;
        let generated_tokens = self.u32()?;
        let stop_reason = match self.bytes(1)?[0] {
            1 => StopReason::MaxNewTokens,
            2 => StopReason::Eos,
            3 => StopReason::StopSequence,
            4 => StopReason::ContextFull,
            _ => return Err(DecodeError::Malformed),
        };
        let sampling = match self.bytes(1)?[0] {
            0 => Sampling::Greedy,
            1 => Sampling::Sample(SampleSettings {
                temperature: self.finite_f32()?,
                top_k: self.optional(Self::u32)?,
                top_p: self.optional(Self::finite_f32)?,
                seed: Some(ByteBuf::from(self.bytes(SEED_BYTES)?.to_vec())),
            }),
            _ => return Err(DecodeError::Malformed),
        };
        Ok(GenerationReceipt {
            tokenizer_sha256,
            completion_tokens_sha256,
            sampling,
            prompt_tokens,
            generated_tokens,
            stop_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, messages: Option<u64>) -> LogEntry {
        LogEntry {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            caller: Principal::anonymous(),
            model_id: "digits".into(),
            model_sha256: ByteBuf::from(vec![0xaa; 32]),
            input_hash: ByteBuf::from(vec![0xbb; 32]),
            output_hash: ByteBuf::from(vec![0xcc; 32]),
            input_salted: seq % 2 == 1,
            instructions: 123_456 + seq,
            messages,
            kind: None,
        }
    }

    fn generation(sampling: Sampling) -> LogEntry {
        LogEntry {
            kind: Some(EntryKind::Generation(Box::new(GenerationReceipt {
                tokenizer_sha256: ByteBuf::from(vec![0xdd; 32]),
                completion_tokens_sha256: ByteBuf::from(vec![0xee; 32]),
                sampling,
                prompt_tokens: 5,
                generated_tokens: 9,
                stop_reason: StopReason::StopSequence,
            }))),
            ..entry(3, Some(4))
        }
    }

    fn sampled(top_k: Option<u32>, top_p: Option<f32>) -> Sampling {
        Sampling::Sample(SampleSettings {
            temperature: 0.7,
            top_k,
            top_p,
            seed: Some(ByteBuf::from(vec![0x5e; 32])),
        })
    }

    #[test]
    fn generation_entries_round_trip_and_refuse_every_damage() {
        for sampling in [
            Sampling::Greedy,
            sampled(None, None),
            sampled(Some(40), None),
            sampled(None, Some(0.9)),
            sampled(Some(1), Some(1.0)),
        ] {
            let entry = generation(sampling);
            let bytes = encode_entry(&entry).unwrap();
            assert_eq!((bytes[0], bytes[1]), (ENTRY_VERSION, KIND_GENERATION));
            assert_eq!(decode_entry_checked(&bytes), Ok(entry.clone()));
            for cut in 0..bytes.len() {
                assert_eq!(decode_entry(&bytes[..cut]), None, "truncated at {cut}");
            }
            let mut extended = bytes.clone();
            extended.push(0);
            assert_eq!(decode_entry_checked(&extended), Err(DecodeError::Malformed));
            // As an inference entry, the generation body is trailing bytes.
            let mut as_inference = bytes.clone();
            as_inference[1] = KIND_INFERENCE;
            assert_eq!(decode_entry(&as_inference), None);
        }
    }

    #[test]
    fn generation_entries_without_a_canonical_form_do_not_encode() {
        let mut v1 = generation(Sampling::Greedy);
        v1.messages = None;
        assert_eq!(encode_entry(&v1), Err(EncodeError::KindNeedsVersion2));
        let mut unseeded = sampled(None, None);
        if let Sampling::Sample(s) = &mut unseeded {
            s.seed = None;
        }
        assert_eq!(
            encode_entry(&generation(unseeded)),
            Err(EncodeError::Sampling)
        );
        assert_eq!(
            encode_entry(&generation(sampled(None, Some(f32::NAN)))),
            Err(EncodeError::Sampling)
        );
    }

    #[test]
    fn unknown_stop_reasons_and_sampling_tags_are_malformed() {
        let bytes = encode_entry(&generation(Sampling::Greedy)).unwrap();
        let (stop_at, sampling_at) = (bytes.len() - 2, bytes.len() - 1);
        for (at, value) in [(stop_at, 0), (stop_at, 5), (sampling_at, 2)] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            assert_eq!(decode_entry_checked(&damaged), Err(DecodeError::Malformed));
        }
    }

    #[test]
    fn malformed_entries_do_not_decode() {
        for messages in [None, Some(7)] {
            let bytes = encode_entry(&entry(0, messages)).unwrap();
            for cut in 0..bytes.len() {
                assert_eq!(decode_entry(&bytes[..cut]), None, "truncated at {cut}");
            }
            let mut extended = bytes.clone();
            extended.push(0);
            assert_eq!(decode_entry_checked(&extended), Err(DecodeError::Malformed));
            let mut wrong_version = bytes.clone();
            wrong_version[0] = 3;
            assert_eq!(
                decode_entry_checked(&wrong_version),
                Err(DecodeError::UnknownVersion(3))
            );
            let mut unknown_flag = bytes.clone();
            let flags_at = match messages {
                None => bytes.len() - 9,
                Some(_) => bytes.len() - 1,
            };
            unknown_flag[flags_at] = 2;
            assert_eq!(
                decode_entry_checked(&unknown_flag),
                Err(DecodeError::Malformed)
            );
        }
    }

    /// A code epoch entry, as the canister writes it (docs/hashing.md, kind 3).
    pub(crate) fn code_epoch(seq: u64, controllers: usize) -> LogEntry {
        let empty = || ByteBuf::from(vec![0; 32]);
        LogEntry {
            model_id: String::new(),
            model_sha256: empty(),
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            messages: Some(1),
            kind: Some(EntryKind::CodeEpoch(CodeEpoch {
                first_index: seq - 1,
                canister_version: 4,
                started_ns: 1_700_000_000_000_000_000,
                module_hash: ByteBuf::from(vec![0x3c; 32]),
                mode: DeploymentMode::Upgrade,
                deployed_version: 5,
                deployed_ns: 1_699_999_999_000_000_000,
                total_num_changes: 9,
                controllers: (0..controllers)
                    .map(|i| Principal::from_slice(&[i as u8; 29]))
                    .collect(),
            })),
            ..entry(seq, Some(1))
        }
    }

    #[test]
    fn code_epochs_round_trip_and_refuse_what_is_not_canonical() {
        for controllers in [0, 1, 10] {
            let epoch = code_epoch(3, controllers);
            let bytes = encode_entry(&epoch).unwrap();
            assert_eq!(&bytes[..2], &[ENTRY_VERSION, KIND_CODE_EPOCH]);
            assert_eq!(decode_entry_checked(&bytes), Ok(epoch));
            for cut in 0..bytes.len() {
                assert_eq!(decode_entry(&bytes[..cut]), None, "truncated at {cut}");
            }
            let mut extended = bytes.clone();
            extended.push(0);
            assert_eq!(decode_entry_checked(&extended), Err(DecodeError::Malformed));
        }
        let bytes = encode_entry(&code_epoch(3, 1)).unwrap();
        // The mode byte follows the header (2 + 16 + 2 + 16), three u64s and the hash.
        let mode_at = 2 + 16 + 2 + 16 + 24 + 32;
        assert_eq!(bytes[mode_at], 3);
        let mut unknown_mode = bytes.clone();
        unknown_mode[mode_at] = 4;
        assert_eq!(
            decode_entry_checked(&unknown_mode),
            Err(DecodeError::Malformed)
        );
        let with_model = LogEntry {
            model_id: "m".into(),
            ..code_epoch(3, 1)
        };
        assert_eq!(encode_entry(&with_model), Err(EncodeError::NotCanonical));
        let salted = LogEntry {
            input_salted: true,
            ..code_epoch(3, 1)
        };
        assert_eq!(encode_entry(&salted), Err(EncodeError::NotCanonical));
        let without_messages = LogEntry {
            messages: None,
            ..code_epoch(3, 1)
        };
        assert_eq!(
            encode_entry(&without_messages),
            Err(EncodeError::NotCanonical)
        );
        assert_eq!(
            encode_entry(&code_epoch(3, MAX_EPOCH_CONTROLLERS + 1)),
            Err(EncodeError::TooManyControllers {
                len: MAX_EPOCH_CONTROLLERS + 1
            })
        );
    }

    #[test]
    fn unknown_kinds_are_refused_by_name() {
        let mut bytes = encode_entry(&entry(0, Some(1))).unwrap();
        bytes[1] = 9;
        let error = decode_entry_checked(&bytes).unwrap_err();
        assert_eq!(error, DecodeError::UnknownKind(9));
        assert!(error.to_string().contains("kind 9 is unknown"));
    }

    #[test]
    fn entries_without_a_canonical_form_do_not_encode() {
        for messages in [None, Some(1)] {
            let mut short_digest = entry(0, messages);
            short_digest.output_hash = ByteBuf::from(vec![0; 31]);
            assert_eq!(
                encode_entry(&short_digest),
                Err(EncodeError::DigestLength {
                    field: "output_hash",
                    len: 31
                })
            );
            let mut long_id = entry(0, messages);
            long_id.model_id = "m".repeat(256);
            assert_eq!(
                encode_entry(&long_id),
                Err(EncodeError::ModelIdTooLong { len: 256 })
            );
        }
    }
}
