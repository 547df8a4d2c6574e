//! Kind 4, a model entry: what a model was made ready with, appended when its finalize
//! succeeds (docs/hashing.md, "Kind 4"). The declared input facts and the language-model
//! declaration shape the plan tract builds, so a replay must load the model with exactly
//! these; the entry puts them under the log's Merkle root beside the model's SHA-256.
//!
//! ```text
//! header (as every version 2 entry) | len(id) | model id | model_sha256 (32) |
//!   | n (u16) | n × fact | 00, or 01 language model |
//! fact:  | name | dtype (1) | rank (1) | rank × (00 | fixed (u64), or 01 | len (1) | symbol) |
//!   dtype: 01 f32, 02 f64, 03 i64, 04 i32, 05 i8, 06 u8, 07 bool
//! language model: | input_ids | logits | opt attention_mask | opt position_ids |
//!   | n (u16) | n × (past input | present output) | context_length (u32) |
//!   | opt eos_token (u32) | tokenizer_sha256 (32) | tokenizer_size (u64) |
//! name: | len (u16) | UTF-8 |     opt x: | 00, or 01 | x |
//! ```
//!
//! The entry's input and output digests are 32 zero bytes and `input_salted` false: they
//! are not encoded, and an entry that says otherwise has no encoding.

use super::{DecodeError, EMPTY_DIGEST, ENTRY_VERSION, EncodeError, KIND_MODEL, Reader};
use icinfer_api::{
    DType, Dim, EntryKind, KvPair, LanguageModel, LogEntry, ModelDeclaration, TensorFact,
    TokenizerFile,
};
use serde_bytes::ByteBuf;

/// The dtype codes, in `DType::ALL`'s order from 1.
fn dtype_code(dtype: DType) -> u8 {
    DType::ALL
        .iter()
        .position(|d| *d == dtype)
        .expect("every dtype is in ALL") as u8
        + 1
}

fn dtype_of(code: u8) -> Result<DType, DecodeError> {
    (code as usize)
        .checked_sub(1)
        .and_then(|i| DType::ALL.get(i).copied())
        .ok_or(DecodeError::Malformed)
}

pub(super) fn encode_model_entry(
    entry: &LogEntry,
    declaration: &ModelDeclaration,
) -> Result<Vec<u8>, EncodeError> {
    let messages = entry.messages.ok_or(EncodeError::NotCanonical)?;
    let empty = |d: &ByteBuf| d[..] == EMPTY_DIGEST;
    if entry.input_salted || !empty(&entry.input_hash) || !empty(&entry.output_hash) {
        return Err(EncodeError::NotCanonical);
    }
    let model_id_len =
        u8::try_from(entry.model_id.len()).map_err(|_| EncodeError::ModelIdTooLong {
            len: entry.model_id.len(),
        })?;
    if entry.model_sha256.len() != 32 {
        return Err(EncodeError::DigestLength {
            field: "model_sha256",
            len: entry.model_sha256.len(),
        });
    }
    let caller = entry.caller.as_slice();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[ENTRY_VERSION, KIND_MODEL]);
    out.extend_from_slice(&entry.seq.to_le_bytes());
    out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
    out.push(caller.len() as u8);
    out.extend_from_slice(caller);
    out.extend_from_slice(&entry.instructions.to_le_bytes());
    out.extend_from_slice(&messages.to_le_bytes());
    out.push(model_id_len);
    out.extend_from_slice(entry.model_id.as_bytes());
    out.extend_from_slice(&entry.model_sha256);
    count(&mut out, declaration.input_facts.len())?;
    for fact in &declaration.input_facts {
        name(&mut out, &fact.name)?;
        out.push(dtype_code(fact.dtype));
        out.push(u8::try_from(fact.shape.len()).map_err(|_| EncodeError::Declaration)?);
        for dim in &fact.shape {
            match dim {
                Dim::Fixed(n) => {
                    out.push(0);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                Dim::Symbol(s) => {
                    out.push(1);
                    out.push(u8::try_from(s.len()).map_err(|_| EncodeError::Declaration)?);
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }
    match &declaration.language_model {
        None => out.push(0),
        Some(lm) => {
            out.push(1);
            encode_language_model(&mut out, lm)?;
        }
    }
    Ok(out)
}

fn encode_language_model(out: &mut Vec<u8>, lm: &LanguageModel) -> Result<(), EncodeError> {
    name(out, &lm.input_ids)?;
    name(out, &lm.logits)?;
    for optional in [&lm.attention_mask, &lm.position_ids] {
        match optional {
            None => out.push(0),
            Some(n) => {
                out.push(1);
                name(out, n)?;
            }
        }
    }
    count(out, lm.past.len())?;
    for pair in &lm.past {
        name(out, &pair.input)?;
        name(out, &pair.output)?;
    }
    out.extend_from_slice(&lm.context_length.to_le_bytes());
    match lm.eos_token {
        None => out.push(0),
        Some(token) => {
            out.push(1);
            out.extend_from_slice(&token.to_le_bytes());
        }
    }
    if lm.tokenizer.sha256.len() != 32 {
        return Err(EncodeError::DigestLength {
            field: "tokenizer_sha256",
            len: lm.tokenizer.sha256.len(),
        });
    }
    out.extend_from_slice(&lm.tokenizer.sha256);
    out.extend_from_slice(&lm.tokenizer.size_bytes.to_le_bytes());
    Ok(())
}

fn count(out: &mut Vec<u8>, n: usize) -> Result<(), EncodeError> {
    let n = u16::try_from(n).map_err(|_| EncodeError::Declaration)?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn name(out: &mut Vec<u8>, name: &str) -> Result<(), EncodeError> {
    count(out, name.len())?;
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

impl Reader<'_> {
    /// The rest of a version 2 entry of kind 4, which must end the bytes.
    pub(super) fn model_entry(mut self) -> Result<LogEntry, DecodeError> {
        let (seq, timestamp_ns, caller) = self.seq_time_caller()?;
        let (instructions, messages) = (self.u64()?, self.u64()?);
        let id_len = self.bytes(1)?[0] as usize;
        let model_id = self.text(id_len)?;
        let model_sha256 = ByteBuf::from(self.bytes(32)?.to_vec());
        let input_facts = (0..self.u16()?)
            .map(|_| self.fact())
            .collect::<Result<Vec<_>, _>>()?;
        let language_model = self.optional(Self::language_model)?;
        if !self.0.is_empty() {
            return Err(DecodeError::Malformed);
        }
        let empty = || ByteBuf::from(EMPTY_DIGEST.to_vec());
        Ok(LogEntry {
            seq,
            timestamp_ns,
            caller,
            model_id,
            model_sha256,
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            instructions,
            messages: Some(messages),
            kind: Some(EntryKind::Model(Box::new(ModelDeclaration {
                input_facts,
                language_model,
            }))),
        })
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.bytes(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn text(&mut self, len: usize) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes(len)?.to_vec()).map_err(|_| DecodeError::Malformed)
    }

    fn name(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        self.text(len)
    }

    fn fact(&mut self) -> Result<TensorFact, DecodeError> {
        let name = self.name()?;
        let dtype = dtype_of(self.bytes(1)?[0])?;
        let rank = self.bytes(1)?[0];
        let shape = (0..rank)
            .map(|_| match self.bytes(1)?[0] {
                0 => Ok(Dim::Fixed(self.u64()?)),
                1 => {
                    let len = self.bytes(1)?[0] as usize;
                    Ok(Dim::Symbol(self.text(len)?))
                }
                _ => Err(DecodeError::Malformed),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TensorFact { name, dtype, shape })
    }

    fn language_model(&mut self) -> Result<LanguageModel, DecodeError> {
        let input_ids = self.name()?;
        let logits = self.name()?;
        let attention_mask = self.optional(Self::name)?;
        let position_ids = self.optional(Self::name)?;
        let past = (0..self.u16()?)
            .map(|_| {
                Ok(KvPair {
                    input: self.name()?,
                    output: self.name()?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        let context_length = self.u32()?;
        let eos_token = self.optional(Self::u32)?;
        let sha256 = ByteBuf::from(self.bytes(32)?.to_vec());
        let size_bytes = self.u64()?;
        Ok(LanguageModel {
            input_ids,
            logits,
            attention_mask,
            position_ids,
            past,
            context_length,
            eos_token,
            tokenizer: TokenizerFile { sha256, size_bytes },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{decode_entry, decode_entry_checked, encode_entry};
    use super::*;
    use candid::Principal;

    /// A model entry as finalize writes it; `language` adds a language-model declaration.
    pub(crate) fn model_entry(seq: u64, language: bool) -> LogEntry {
        let empty = || ByteBuf::from(vec![0; 32]);
        LogEntry {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            caller: Principal::from_slice(&[7; 29]),
            model_id: "ppocr-cls".into(),
            model_sha256: ByteBuf::from(vec![0xa1; 32]),
            input_hash: empty(),
            output_hash: empty(),
            input_salted: false,
            instructions: 1_234_567,
            messages: Some(3),
            kind: Some(EntryKind::Model(Box::new(ModelDeclaration {
                input_facts: vec![
                    TensorFact {
                        name: "x".into(),
                        dtype: DType::F32,
                        shape: vec![Dim::Fixed(1), Dim::Fixed(3), Dim::Symbol("h".into())],
                    },
                    TensorFact {
                        name: "mask".into(),
                        dtype: DType::Bool,
                        shape: vec![],
                    },
                ],
                language_model: language.then(|| LanguageModel {
                    input_ids: "input_ids".into(),
                    logits: "logits".into(),
                    attention_mask: None,
                    position_ids: Some("position_ids".into()),
                    past: vec![KvPair {
                        input: "past_key_values.0.key".into(),
                        output: "present.0.key".into(),
                    }],
                    context_length: 128,
                    eos_token: Some(0),
                    tokenizer: TokenizerFile {
                        sha256: ByteBuf::from(vec![0x70; 32]),
                        size_bytes: 4096,
                    },
                }),
            }))),
        }
    }

    #[test]
    fn model_entries_round_trip_and_refuse_every_damage() {
        for language in [false, true] {
            let entry = model_entry(5, language);
            let bytes = encode_entry(&entry).unwrap();
            assert_eq!(&bytes[..2], &[ENTRY_VERSION, KIND_MODEL]);
            assert_eq!(decode_entry_checked(&bytes), Ok(entry));
            for cut in 0..bytes.len() {
                assert_eq!(decode_entry(&bytes[..cut]), None, "truncated at {cut}");
            }
            let mut extended = bytes.clone();
            extended.push(0);
            assert_eq!(decode_entry_checked(&extended), Err(DecodeError::Malformed));
        }
        let bytes = encode_entry(&model_entry(5, false)).unwrap();
        // The first fact's dtype follows the header, the id, the hash, the count and "x".
        let dtype_at = 2 + 16 + 1 + 29 + 16 + 1 + 9 + 32 + 2 + 2 + 1;
        assert_eq!(bytes[dtype_at], 1);
        for bad in [0, 8] {
            let mut damaged = bytes.clone();
            damaged[dtype_at] = bad;
            assert_eq!(decode_entry_checked(&damaged), Err(DecodeError::Malformed));
        }
        let mut no_language_tag = bytes.clone();
        *no_language_tag.last_mut().unwrap() = 2;
        assert_eq!(
            decode_entry_checked(&no_language_tag),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn model_entries_without_a_canonical_form_do_not_encode() {
        let salted = LogEntry {
            input_salted: true,
            ..model_entry(5, false)
        };
        assert_eq!(encode_entry(&salted), Err(EncodeError::NotCanonical));
        let with_output = LogEntry {
            output_hash: ByteBuf::from(vec![1; 32]),
            ..model_entry(5, false)
        };
        assert_eq!(encode_entry(&with_output), Err(EncodeError::NotCanonical));
        let without_messages = LogEntry {
            messages: None,
            ..model_entry(5, false)
        };
        assert_eq!(
            encode_entry(&without_messages),
            Err(EncodeError::NotCanonical)
        );
        let mut long_symbol = model_entry(5, false);
        if let Some(EntryKind::Model(d)) = &mut long_symbol.kind {
            d.input_facts[0].shape[2] = Dim::Symbol("s".repeat(256));
        }
        assert_eq!(encode_entry(&long_symbol), Err(EncodeError::Declaration));
    }
}
