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
//! ```
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
    EntryKind, GenerationReceipt, LogEntry, SampleSettings, Sampling, StopReason,
    generation::SEED_BYTES,
};
use serde_bytes::ByteBuf;

/// The encoding version the canister writes.
pub const ENTRY_VERSION: u8 = 2;
/// The first version, still read by every verifier.
pub const ENTRY_VERSION_1: u8 = 1;
/// Version 2 kinds. Kinds are never reused.
pub const KIND_INFERENCE: u8 = 1;
pub const KIND_GENERATION: u8 = 2;

/// Why an entry has no canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A digest field is not 32 bytes.
    DigestLength { field: &'static str, len: usize },
    /// The model id is longer than its one-byte length prefix allows.
    ModelIdTooLong { len: usize },
    /// A generation entry (kind 2) must record its messages (version 2).
    KindNeedsVersion2,
    /// A sampled generation's receipt names no 32-byte seed, or a float is not finite.
    Sampling,
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
            EncodeError::KindNeedsVersion2 => {
                f.write_str("a generation entry must record its messages")
            }
            EncodeError::Sampling => f.write_str(
                "a sampled generation's receipt needs its 32-byte seed and finite settings",
            ),
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
                "log entry kind {k} is unknown to this verifier (it reads kinds {KIND_INFERENCE}, inference, and {KIND_GENERATION}, generation); update the verifier"
            ),
            DecodeError::Malformed => f.write_str("the bytes are not a canonical log entry"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes an entry canonically: version 2 (kind inference) when it records the messages
/// it took, version 1 when it does not (an entry read back from the version 1 era).
pub fn encode_entry(entry: &LogEntry) -> Result<Vec<u8>, EncodeError> {
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
    let generation = match &entry.kind {
        None | Some(EntryKind::Inference) => None,
        Some(EntryKind::Generation(receipt)) => Some(receipt),
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
