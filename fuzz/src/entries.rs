//! Log entries built from fuzz input, shaped so that many of them have an encoding (digests
//! of 32 bytes, code epochs with empty model fields, finite sampling settings) and the rest
//! probe the encoder's refusals.

use arbitrary::{Result, Unstructured};
use candid::Principal;
use icinfer_api::{
    CodeEpoch, DeploymentMode, EntryKind, GenerationReceipt, LogEntry, SampleSettings, Sampling,
    StopReason,
};
use serde_bytes::ByteBuf;

fn digest(u: &mut Unstructured) -> Result<ByteBuf> {
    // Mostly well formed: one in eight has a length of its own.
    let len = if u.ratio(1, 8)? {
        u.int_in_range(0..=40)?
    } else {
        32
    };
    Ok(ByteBuf::from(u.bytes(len)?.to_vec()))
}

fn principal(u: &mut Unstructured) -> Result<Principal> {
    let len = u.int_in_range(0..=29)?;
    Ok(Principal::from_slice(u.bytes(len)?))
}

fn sampling(u: &mut Unstructured) -> Result<Sampling> {
    if u.arbitrary()? {
        return Ok(Sampling::Greedy);
    }
    let seed = if u.ratio(7, 8)? {
        Some(digest(u)?)
    } else {
        None
    };
    Ok(Sampling::Sample(SampleSettings {
        temperature: u.arbitrary()?,
        top_k: u.arbitrary()?,
        top_p: u.arbitrary()?,
        seed,
    }))
}

fn kind(u: &mut Unstructured) -> Result<Option<EntryKind>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(EntryKind::Inference),
        2 => Some(EntryKind::Generation(Box::new(GenerationReceipt {
            tokenizer_sha256: digest(u)?,
            completion_tokens_sha256: digest(u)?,
            sampling: sampling(u)?,
            prompt_tokens: u.arbitrary()?,
            generated_tokens: u.arbitrary()?,
            stop_reason: *u.choose(&[
                StopReason::MaxNewTokens,
                StopReason::Eos,
                StopReason::StopSequence,
                StopReason::ContextFull,
            ])?,
        }))),
        _ => {
            let controllers = u.int_in_range(0..=34)?;
            Some(EntryKind::CodeEpoch(CodeEpoch {
                first_index: u.arbitrary()?,
                canister_version: u.arbitrary()?,
                started_ns: u.arbitrary()?,
                module_hash: digest(u)?,
                mode: *u.choose(&[
                    DeploymentMode::Install,
                    DeploymentMode::Reinstall,
                    DeploymentMode::Upgrade,
                ])?,
                deployed_version: u.arbitrary()?,
                deployed_ns: u.arbitrary()?,
                total_num_changes: u.arbitrary()?,
                controllers: (0..controllers)
                    .map(|_| principal(u))
                    .collect::<Result<_>>()?,
            }))
        }
    })
}

pub fn arbitrary_entry(u: &mut Unstructured) -> Result<LogEntry> {
    let kind = kind(u)?;
    let epoch = matches!(kind, Some(EntryKind::CodeEpoch(_)));
    let mut entry = LogEntry {
        seq: u.arbitrary()?,
        timestamp_ns: u.arbitrary()?,
        caller: principal(u)?,
        model_id: u.arbitrary()?,
        model_sha256: digest(u)?,
        input_hash: digest(u)?,
        output_hash: digest(u)?,
        input_salted: u.arbitrary()?,
        instructions: u.arbitrary()?,
        messages: if u.ratio(7, 8)? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        kind,
    };
    // A code epoch's model, input and output fields are empty (docs/hashing.md); mostly so.
    if epoch && u.ratio(7, 8)? {
        let zero = ByteBuf::from(vec![0; 32]);
        entry.model_id.clear();
        entry.model_sha256 = zero.clone();
        entry.input_hash = zero.clone();
        entry.output_hash = zero;
        entry.input_salted = false;
    }
    Ok(entry)
}
