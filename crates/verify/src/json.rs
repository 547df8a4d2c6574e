//! The JSON forms of the API types that testdata/ and provenance bundles use
//! (testdata/README.md, "Forms"): bytes as lowercase hex, u64 as decimal strings
//! (JavaScript numbers stop at 2^53), principals as text. The TypeScript side reads the same
//! forms (frontend/src/verify/json.ts).
//!
//! Reading is strict and never panics: a bundle is data from anyone, so every missing or
//! ill-typed field is a [`JsonError`] naming it.

use candid::Principal;
use icinfer_api::{
    CodeEpoch, DType, DeploymentMode, Dim, EntryKind, GenerationReceipt, KvPair, LanguageModel,
    LogEntry, LogHead, LogProof, ModelDeclaration, SampleSettings, Sampling, StopReason,
    TensorFact, TokenizerFile,
};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

use crate::hex as hex_text;

/// A field that is missing or not of its form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// The field's name, e.g. `entry.output_hash`.
    pub field: String,
    /// What the form requires, e.g. "hex".
    pub expected: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: expected {}", self.field, self.expected)
    }
}

impl std::error::Error for JsonError {}

type Read<T> = Result<T, JsonError>;

fn error(field: &str, expected: &'static str) -> JsonError {
    JsonError {
        field: field.into(),
        expected,
    }
}

pub fn hex(bytes: &[u8]) -> Value {
    Value::String(hex_text(bytes))
}

pub fn u64_text(value: u64) -> Value {
    Value::String(value.to_string())
}

pub fn text<'a>(value: &'a Value, field: &str) -> Read<&'a str> {
    value.as_str().ok_or_else(|| error(field, "a string"))
}

pub fn bytes(value: &Value, field: &str) -> Read<Vec<u8>> {
    let text = text(value, field)?;
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if !text.len().is_multiple_of(2) {
        return Err(error(field, "lowercase hex"));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| error(field, "lowercase hex"))
}

fn blob(value: &Value, field: &str) -> Read<ByteBuf> {
    bytes(value, field).map(ByteBuf::from)
}

pub fn u64_of(value: &Value, field: &str) -> Read<u64> {
    let text = text(value, field)?;
    // Decimal digits only: `u64::from_str` also takes a leading '+'.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(field, "a decimal u64 as a string"));
    }
    text.parse()
        .map_err(|_| error(field, "a decimal u64 as a string"))
}

fn u32_of(value: &Value, field: &str) -> Read<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| error(field, "a u32 number"))
}

fn bool_of(value: &Value, field: &str) -> Read<bool> {
    value.as_bool().ok_or_else(|| error(field, "true or false"))
}

pub fn list<'a>(value: &'a Value, field: &str) -> Read<&'a Vec<Value>> {
    value.as_array().ok_or_else(|| error(field, "a list"))
}

pub fn principal(value: &Value, field: &str) -> Read<Principal> {
    Principal::from_text(text(value, field)?).map_err(|_| error(field, "a principal's text"))
}

/// A log entry, field by field (a new entry version adds its fields here and in json.ts).
/// A generation's receipt is under "generation", absent for an inference.
pub fn entry_json(entry: &LogEntry) -> Value {
    let mut value = inference_json(entry);
    if let Some(EntryKind::Generation(receipt)) = &entry.kind {
        value["generation"] = generation_json(receipt);
    }
    value
}

fn generation_json(r: &GenerationReceipt) -> Value {
    let sampling = match &r.sampling {
        Sampling::Greedy => json!("greedy"),
        Sampling::Sample(s) => json!({
            "temperature": f64::from(s.temperature),
            "top_k": s.top_k,
            "top_p": s.top_p.map(f64::from),
            "seed": s.seed.as_ref().map(|seed| hex(seed)),
        }),
    };
    json!({
        "tokenizer_sha256": hex(&r.tokenizer_sha256),
        "completion_tokens_sha256": hex(&r.completion_tokens_sha256),
        "sampling": sampling,
        "prompt_tokens": r.prompt_tokens,
        "generated_tokens": r.generated_tokens,
        "stop_reason": r.stop_reason.to_string(),
    })
}

fn generation_from(value: &Value) -> Read<GenerationReceipt> {
    let field = |name: &str| format!("entry.generation.{name}");
    let float = |value: &Value, name: &str| {
        value
            .as_f64()
            .map(|x| x as f32)
            .ok_or_else(|| error(&field(name), "a number"))
    };
    let sampling = match &value["sampling"] {
        Value::String(s) if s == "greedy" => Sampling::Greedy,
        s @ Value::Object(_) => Sampling::Sample(SampleSettings {
            temperature: float(&s["temperature"], "sampling.temperature")?,
            top_k: match &s["top_k"] {
                Value::Null => None,
                k => Some(u32_of(k, &field("sampling.top_k"))?),
            },
            top_p: match &s["top_p"] {
                Value::Null => None,
                p => Some(float(p, "sampling.top_p")?),
            },
            seed: match &s["seed"] {
                Value::Null => None,
                seed => Some(blob(seed, &field("sampling.seed"))?),
            },
        }),
        _ => {
            return Err(error(
                &field("sampling"),
                "\"greedy\" or the sampling settings",
            ));
        }
    };
    let stop_reason = match text(&value["stop_reason"], &field("stop_reason"))? {
        "max_new_tokens" => StopReason::MaxNewTokens,
        "eos" => StopReason::Eos,
        "stop_sequence" => StopReason::StopSequence,
        "context_full" => StopReason::ContextFull,
        _ => return Err(error(&field("stop_reason"), "a stop reason")),
    };
    Ok(GenerationReceipt {
        tokenizer_sha256: blob(&value["tokenizer_sha256"], &field("tokenizer_sha256"))?,
        completion_tokens_sha256: blob(
            &value["completion_tokens_sha256"],
            &field("completion_tokens_sha256"),
        )?,
        sampling,
        prompt_tokens: u32_of(&value["prompt_tokens"], &field("prompt_tokens"))?,
        generated_tokens: u32_of(&value["generated_tokens"], &field("generated_tokens"))?,
        stop_reason,
    })
}

fn inference_json(entry: &LogEntry) -> Value {
    json!({
        "seq": u64_text(entry.seq),
        "timestamp_ns": u64_text(entry.timestamp_ns),
        "caller": entry.caller.to_text(),
        "model_id": entry.model_id,
        "model_sha256": hex(&entry.model_sha256),
        "input_hash": hex(&entry.input_hash),
        "output_hash": hex(&entry.output_hash),
        "input_salted": entry.input_salted,
        "instructions": u64_text(entry.instructions),
        "messages": entry.messages.map(u64_text),
        "kind": entry.kind.as_ref().and_then(kind_json),
    })
}

pub fn mode_text(mode: DeploymentMode) -> &'static str {
    match mode {
        DeploymentMode::Install => "install",
        DeploymentMode::Reinstall => "reinstall",
        DeploymentMode::Upgrade => "upgrade",
    }
}

/// `{"inference": null}`, `{"model": {...}}` or `{"code_epoch": {...}}`, as Candid names the variant; none for
/// a generation, whose receipt is under "generation" (`entry_json`).
fn kind_json(kind: &EntryKind) -> Option<Value> {
    Some(match kind {
        EntryKind::Inference => json!({ "inference": null }),
        EntryKind::Generation(_) => return None,
        EntryKind::Model(d) => json!({ "model": declaration_json(d) }),
        EntryKind::CodeEpoch(e) => json!({ "code_epoch": {
            "first_index": u64_text(e.first_index),
            "canister_version": u64_text(e.canister_version),
            "started_ns": u64_text(e.started_ns),
            "module_hash": hex(&e.module_hash),
            "mode": mode_text(e.mode),
            "deployed_version": u64_text(e.deployed_version),
            "deployed_ns": u64_text(e.deployed_ns),
            "total_num_changes": u64_text(e.total_num_changes),
            "controllers": e.controllers.iter().map(|p| p.to_text()).collect::<Vec<_>>(),
        }}),
    })
}

/// A model entry's declaration: facts with dtype names and dims as `{"fixed": "n"}` or
/// `{"symbol": "s"}`, optional fields as null.
fn declaration_json(d: &ModelDeclaration) -> Value {
    let facts = d.input_facts.iter().map(|f| {
        let shape = f.shape.iter().map(|dim| match dim {
            Dim::Fixed(n) => json!({ "fixed": u64_text(*n) }),
            Dim::Symbol(s) => json!({ "symbol": s }),
        });
        json!({ "name": f.name, "dtype": f.dtype.name(), "shape": shape.collect::<Vec<_>>() })
    });
    let language_model = d.language_model.as_ref().map(|lm| {
        json!({
            "input_ids": lm.input_ids,
            "logits": lm.logits,
            "attention_mask": lm.attention_mask,
            "position_ids": lm.position_ids,
            "past": lm.past.iter().map(|p| json!({ "input": p.input, "output": p.output })).collect::<Vec<_>>(),
            "context_length": lm.context_length,
            "eos_token": lm.eos_token,
            "tokenizer": { "sha256": hex(&lm.tokenizer.sha256), "size_bytes": u64_text(lm.tokenizer.size_bytes) },
        })
    });
    json!({ "input_facts": facts.collect::<Vec<_>>(), "language_model": language_model })
}

fn declaration_from(value: &Value) -> Read<ModelDeclaration> {
    let field = |name: &str| format!("entry.kind.model.{name}");
    let name = |v: &Value, f: &str| text(v, &field(f)).map(str::to_string);
    let optional_name = |v: &Value, f: &str| match v {
        Value::Null => Ok(None),
        v => name(v, f).map(Some),
    };
    let dim = |d: &Value| match d.get("fixed") {
        Some(n) => u64_of(n, &field("input_facts.shape.fixed")).map(Dim::Fixed),
        None => name(&d["symbol"], "input_facts.shape.symbol").map(Dim::Symbol),
    };
    let fact = |f: &Value| -> Read<TensorFact> {
        let dtype = text(&f["dtype"], &field("input_facts.dtype"))?;
        Ok(TensorFact {
            name: name(&f["name"], "input_facts.name")?,
            dtype: DType::ALL
                .into_iter()
                .find(|d| d.name() == dtype)
                .ok_or_else(|| error(&field("input_facts.dtype"), "a dtype name"))?,
            shape: list(&f["shape"], &field("input_facts.shape"))?
                .iter()
                .map(dim)
                .collect::<Read<_>>()?,
        })
    };
    let input_facts = list(&value["input_facts"], &field("input_facts"))?
        .iter()
        .map(fact)
        .collect::<Read<_>>()?;
    let lm = &value["language_model"];
    let language_model = match lm {
        Value::Null => None,
        lm => Some(LanguageModel {
            input_ids: name(&lm["input_ids"], "language_model.input_ids")?,
            logits: name(&lm["logits"], "language_model.logits")?,
            attention_mask: optional_name(&lm["attention_mask"], "language_model.attention_mask")?,
            position_ids: optional_name(&lm["position_ids"], "language_model.position_ids")?,
            past: list(&lm["past"], &field("language_model.past"))?
                .iter()
                .map(|p| {
                    Ok(KvPair {
                        input: name(&p["input"], "language_model.past.input")?,
                        output: name(&p["output"], "language_model.past.output")?,
                    })
                })
                .collect::<Read<_>>()?,
            context_length: u32_of(
                &lm["context_length"],
                &field("language_model.context_length"),
            )?,
            eos_token: match &lm["eos_token"] {
                Value::Null => None,
                t => Some(u32_of(t, &field("language_model.eos_token"))?),
            },
            tokenizer: TokenizerFile {
                sha256: blob(
                    &lm["tokenizer"]["sha256"],
                    &field("language_model.tokenizer.sha256"),
                )?,
                size_bytes: u64_of(
                    &lm["tokenizer"]["size_bytes"],
                    &field("language_model.tokenizer.size_bytes"),
                )?,
            },
        }),
    };
    Ok(ModelDeclaration {
        input_facts,
        language_model,
    })
}

fn kind_from(value: &Value) -> Read<Option<EntryKind>> {
    if value.is_null() {
        return Ok(None);
    }
    if value.get("inference").is_some() {
        return Ok(Some(EntryKind::Inference));
    }
    if let Some(model) = value.get("model") {
        return Ok(Some(EntryKind::Model(Box::new(declaration_from(model)?))));
    }
    let e = &value["code_epoch"];
    let field = |name: &str| format!("entry.kind.code_epoch.{name}");
    let number = |name: &str| u64_of(&e[name], &field(name));
    let mode = match text(&e["mode"], &field("mode"))? {
        "install" => DeploymentMode::Install,
        "reinstall" => DeploymentMode::Reinstall,
        "upgrade" => DeploymentMode::Upgrade,
        _ => return Err(error(&field("mode"), "install, reinstall or upgrade")),
    };
    Ok(Some(EntryKind::CodeEpoch(CodeEpoch {
        first_index: number("first_index")?,
        canister_version: number("canister_version")?,
        started_ns: number("started_ns")?,
        module_hash: blob(&e["module_hash"], &field("module_hash"))?,
        mode,
        deployed_version: number("deployed_version")?,
        deployed_ns: number("deployed_ns")?,
        total_num_changes: number("total_num_changes")?,
        controllers: list(&e["controllers"], &field("controllers"))?
            .iter()
            .map(|p| principal(p, &field("controllers")))
            .collect::<Read<_>>()?,
    })))
}

pub fn entry_from(value: &Value) -> Read<LogEntry> {
    let field = |name: &str| format!("entry.{name}");
    let number = |name: &str| u64_of(&value[name], &field(name));
    let digest = |name: &str| blob(&value[name], &field(name));
    Ok(LogEntry {
        seq: number("seq")?,
        timestamp_ns: number("timestamp_ns")?,
        caller: principal(&value["caller"], &field("caller"))?,
        model_id: text(&value["model_id"], &field("model_id"))?.into(),
        model_sha256: digest("model_sha256")?,
        input_hash: digest("input_hash")?,
        output_hash: digest("output_hash")?,
        input_salted: bool_of(&value["input_salted"], &field("input_salted"))?,
        instructions: number("instructions")?,
        messages: match &value["messages"] {
            Value::Null => None,
            _ => Some(number("messages")?),
        },
        kind: match &value["generation"] {
            Value::Null => kind_from(&value["kind"])?,
            receipt => Some(EntryKind::Generation(Box::new(generation_from(receipt)?))),
        },
    })
}

fn nodes_json(nodes: &[ByteBuf]) -> Value {
    Value::Array(nodes.iter().map(|n| hex(n)).collect())
}

fn nodes_from(value: &Value, field: &str) -> Read<Vec<ByteBuf>> {
    list(value, field)?.iter().map(|n| blob(n, field)).collect()
}

pub fn head_json(head: &LogHead) -> Value {
    json!({
        "tree_size": u64_text(head.tree_size),
        "root_hash": hex(&head.root_hash),
        "certificate": head.certificate.as_ref().map(|c| hex(c)),
        "witness": hex(&head.witness),
    })
}

pub fn head_from(value: &Value, field: &str) -> Read<LogHead> {
    let at = |name: &str| format!("{field}.{name}");
    Ok(LogHead {
        tree_size: u64_of(&value["tree_size"], &at("tree_size"))?,
        root_hash: blob(&value["root_hash"], &at("root_hash"))?,
        certificate: match &value["certificate"] {
            Value::Null => None,
            certificate => Some(blob(certificate, &at("certificate"))?),
        },
        witness: blob(&value["witness"], &at("witness"))?,
    })
}

/// A `log_proof` response.
pub fn proof_json(proof: &LogProof) -> Value {
    json!({
        "entry": entry_json(&proof.entry),
        "entry_bytes": hex(&proof.entry_bytes),
        "tree_size": u64_text(proof.tree_size),
        "tree_root": hex(&proof.tree_root),
        "inclusion_proof": nodes_json(&proof.inclusion_proof),
        "consistency_proof": nodes_json(&proof.consistency_proof),
        "head": head_json(&proof.head),
    })
}

/// A `log_proof` response; `field` names it in errors.
pub fn proof_from(value: &Value, field: &str) -> Read<LogProof> {
    let at = |name: &str| format!("{field}.{name}");
    Ok(LogProof {
        entry: entry_from(&value["entry"]).map_err(|e| JsonError {
            field: format!("{field}.{}", e.field),
            ..e
        })?,
        entry_bytes: blob(&value["entry_bytes"], &at("entry_bytes"))?,
        tree_size: u64_of(&value["tree_size"], &at("tree_size"))?,
        tree_root: blob(&value["tree_root"], &at("tree_root"))?,
        inclusion_proof: nodes_from(&value["inclusion_proof"], &at("inclusion_proof"))?,
        consistency_proof: nodes_from(&value["consistency_proof"], &at("consistency_proof"))?,
        head: head_from(&value["head"], &at("head"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_bytes_have_one_form() {
        assert_eq!(u64_of(&json!("18446744073709551615"), "n"), Ok(u64::MAX));
        for bad in [
            json!("+1"),
            json!(""),
            json!("18446744073709551616"),
            json!(1),
        ] {
            assert!(u64_of(&bad, "n").is_err(), "{bad}");
        }
        assert_eq!(bytes(&json!("00ff"), "b"), Ok(vec![0, 255]));
        for bad in [json!("0"), json!("00FF"), json!("zz"), json!(null)] {
            assert!(bytes(&bad, "b").is_err(), "{bad}");
        }
    }
}
