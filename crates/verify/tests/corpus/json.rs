//! The corpus's JSON forms of the API types, both ways (testdata/README.md): bytes as
//! lowercase hex, u64 as decimal strings (JavaScript numbers stop at 2^53), principals as
//! text, i64 elements as strings, other elements as numbers. The TypeScript side reads the
//! same forms (frontend/src/verify/corpus.ts).

use candid::Principal;
use icinfer_api::{
    CodeEpoch, DType, DeploymentMode, Dim, EntryKind, GenerationReceipt, KvPair, LanguageModel,
    LogEntry, LogHead, LogProof, ModelDeclaration, SampleSettings, Sampling, StopReason, Tensor,
    TensorData, TensorFact, TokenizerFile,
};
use icinfer_verify::{Held, Opening, Trust};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

pub fn hex(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

pub fn u64_text(value: u64) -> Value {
    Value::String(value.to_string())
}

pub fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(text(value)).expect("hex")
}

pub fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

pub fn u64_of(value: &Value) -> u64 {
    text(value).parse().expect("a decimal u64")
}

pub fn hash(value: &Value) -> [u8; 32] {
    bytes(value).try_into().expect("32 bytes")
}

pub fn hashes(value: &Value) -> Vec<[u8; 32]> {
    list(value).iter().map(hash).collect()
}

pub fn list(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
}

pub fn tensor_json(tensor: &Tensor) -> Value {
    let data: Vec<Value> = match &tensor.data {
        TensorData::F32(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::I64(v) => v.iter().map(|x| json!(x.to_string())).collect(),
        TensorData::I32(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::I8(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| json!(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| json!(x)).collect(),
    };
    json!({
        "name": tensor.name,
        "dtype": serde_json::to_value(tensor.data.dtype()).unwrap(),
        "shape": tensor.shape.iter().map(|&d| u64_text(d)).collect::<Vec<_>>(),
        "data": data,
    })
}

pub fn tensor_from(value: &Value) -> Tensor {
    let data = list(&value["data"]);
    let number = |v: &Value| v.as_f64().expect("a number");
    let integer = |v: &Value| v.as_i64().expect("an integer");
    let data = match text(&value["dtype"]) {
        "f32" => TensorData::F32(data.iter().map(|v| number(v) as f32).collect()),
        "f64" => TensorData::F64(data.iter().map(number).collect()),
        "i64" => TensorData::I64(data.iter().map(|v| text(v).parse().unwrap()).collect()),
        "i32" => TensorData::I32(data.iter().map(|v| integer(v) as i32).collect()),
        "i8" => TensorData::I8(data.iter().map(|v| integer(v) as i8).collect()),
        "u8" => TensorData::U8(ByteBuf::from(
            data.iter().map(|v| integer(v) as u8).collect::<Vec<_>>(),
        )),
        "bool" => TensorData::Bool(data.iter().map(|v| v.as_bool().unwrap()).collect()),
        other => panic!("unknown dtype {other}"),
    };
    Tensor {
        name: text(&value["name"]).into(),
        shape: list(&value["shape"]).iter().map(u64_of).collect(),
        data,
    }
}

pub fn tensors_json(tensors: &[Tensor]) -> Value {
    Value::Array(tensors.iter().map(tensor_json).collect())
}

pub fn tensors_from(value: &Value) -> Vec<Tensor> {
    list(value).iter().map(tensor_from).collect()
}

/// A log entry, field by field (a new entry version adds its fields here and in corpus.ts).
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

fn generation_from(value: &Value) -> GenerationReceipt {
    let sampling = match &value["sampling"] {
        Value::String(s) if s == "greedy" => Sampling::Greedy,
        s => Sampling::Sample(SampleSettings {
            temperature: s["temperature"].as_f64().unwrap() as f32,
            top_k: s["top_k"].as_u64().map(|k| k as u32),
            top_p: s["top_p"].as_f64().map(|p| p as f32),
            seed: (!s["seed"].is_null()).then(|| ByteBuf::from(bytes(&s["seed"]))),
        }),
    };
    let stop_reason = match text(&value["stop_reason"]) {
        "max_new_tokens" => StopReason::MaxNewTokens,
        "eos" => StopReason::Eos,
        "stop_sequence" => StopReason::StopSequence,
        "context_full" => StopReason::ContextFull,
        other => panic!("stop reason {other}"),
    };
    GenerationReceipt {
        tokenizer_sha256: ByteBuf::from(bytes(&value["tokenizer_sha256"])),
        completion_tokens_sha256: ByteBuf::from(bytes(&value["completion_tokens_sha256"])),
        sampling,
        prompt_tokens: value["prompt_tokens"].as_u64().unwrap() as u32,
        generated_tokens: value["generated_tokens"].as_u64().unwrap() as u32,
        stop_reason,
    }
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

fn mode_text(mode: DeploymentMode) -> &'static str {
    match mode {
        DeploymentMode::Install => "install",
        DeploymentMode::Reinstall => "reinstall",
        DeploymentMode::Upgrade => "upgrade",
    }
}

/// `{"inference": null}` or `{"code_epoch": {...}}`, as Candid names the variant; none for
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

fn declaration_from(value: &Value) -> ModelDeclaration {
    let name = |v: &Value| text(v).to_string();
    let optional_name = |v: &Value| v.as_str().map(str::to_string);
    let input_facts = list(&value["input_facts"])
        .iter()
        .map(|f| TensorFact {
            name: name(&f["name"]),
            dtype: DType::ALL
                .into_iter()
                .find(|d| d.name() == text(&f["dtype"]))
                .expect("a dtype name"),
            shape: list(&f["shape"])
                .iter()
                .map(|dim| match dim.get("fixed") {
                    Some(n) => Dim::Fixed(u64_of(n)),
                    None => Dim::Symbol(name(&dim["symbol"])),
                })
                .collect(),
        })
        .collect();
    let lm = &value["language_model"];
    let language_model = (!lm.is_null()).then(|| LanguageModel {
        input_ids: name(&lm["input_ids"]),
        logits: name(&lm["logits"]),
        attention_mask: optional_name(&lm["attention_mask"]),
        position_ids: optional_name(&lm["position_ids"]),
        past: list(&lm["past"])
            .iter()
            .map(|p| KvPair {
                input: name(&p["input"]),
                output: name(&p["output"]),
            })
            .collect(),
        context_length: lm["context_length"].as_u64().expect("a number") as u32,
        eos_token: lm["eos_token"].as_u64().map(|t| t as u32),
        tokenizer: TokenizerFile {
            sha256: ByteBuf::from(bytes(&lm["tokenizer"]["sha256"])),
            size_bytes: u64_of(&lm["tokenizer"]["size_bytes"]),
        },
    });
    ModelDeclaration {
        input_facts,
        language_model,
    }
}

fn kind_from(value: &Value) -> Option<EntryKind> {
    if value.is_null() {
        return None;
    }
    if value.get("inference").is_some() {
        return Some(EntryKind::Inference);
    }
    if let Some(model) = value.get("model") {
        return Some(EntryKind::Model(Box::new(declaration_from(model))));
    }
    let e = &value["code_epoch"];
    let mode = match text(&e["mode"]) {
        "install" => DeploymentMode::Install,
        "reinstall" => DeploymentMode::Reinstall,
        "upgrade" => DeploymentMode::Upgrade,
        other => panic!("unknown mode {other}"),
    };
    Some(EntryKind::CodeEpoch(CodeEpoch {
        first_index: u64_of(&e["first_index"]),
        canister_version: u64_of(&e["canister_version"]),
        started_ns: u64_of(&e["started_ns"]),
        module_hash: ByteBuf::from(bytes(&e["module_hash"])),
        mode,
        deployed_version: u64_of(&e["deployed_version"]),
        deployed_ns: u64_of(&e["deployed_ns"]),
        total_num_changes: u64_of(&e["total_num_changes"]),
        controllers: list(&e["controllers"])
            .iter()
            .map(|p| Principal::from_text(text(p)).unwrap())
            .collect(),
    }))
}

pub fn entry_from(value: &Value) -> LogEntry {
    LogEntry {
        seq: u64_of(&value["seq"]),
        timestamp_ns: u64_of(&value["timestamp_ns"]),
        caller: Principal::from_text(text(&value["caller"])).unwrap(),
        model_id: text(&value["model_id"]).into(),
        model_sha256: ByteBuf::from(bytes(&value["model_sha256"])),
        input_hash: ByteBuf::from(bytes(&value["input_hash"])),
        output_hash: ByteBuf::from(bytes(&value["output_hash"])),
        input_salted: value["input_salted"].as_bool().unwrap(),
        instructions: u64_of(&value["instructions"]),
        messages: (!value["messages"].is_null()).then(|| u64_of(&value["messages"])),
        kind: match &value["generation"] {
            Value::Null => kind_from(&value["kind"]),
            receipt => Some(EntryKind::Generation(Box::new(generation_from(receipt)))),
        },
    }
}

fn nodes_json(nodes: &[ByteBuf]) -> Value {
    Value::Array(nodes.iter().map(|n| hex(n)).collect())
}

fn nodes_from(value: &Value) -> Vec<ByteBuf> {
    list(value)
        .iter()
        .map(|n| ByteBuf::from(bytes(n)))
        .collect()
}

pub fn head_json(head: &LogHead) -> Value {
    json!({
        "tree_size": u64_text(head.tree_size),
        "root_hash": hex(&head.root_hash),
        "certificate": head.certificate.as_ref().map(|c| hex(c)),
        "witness": hex(&head.witness),
    })
}

pub fn head_from(value: &Value) -> LogHead {
    LogHead {
        tree_size: u64_of(&value["tree_size"]),
        root_hash: ByteBuf::from(bytes(&value["root_hash"])),
        certificate: (!value["certificate"].is_null())
            .then(|| ByteBuf::from(bytes(&value["certificate"]))),
        witness: ByteBuf::from(bytes(&value["witness"])),
    }
}

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

pub fn proof_from(value: &Value) -> LogProof {
    LogProof {
        entry: entry_from(&value["entry"]),
        entry_bytes: ByteBuf::from(bytes(&value["entry_bytes"])),
        tree_size: u64_of(&value["tree_size"]),
        tree_root: ByteBuf::from(bytes(&value["tree_root"])),
        inclusion_proof: nodes_from(&value["inclusion_proof"]),
        consistency_proof: nodes_from(&value["consistency_proof"]),
        head: head_from(&value["head"]),
    }
}

pub fn trust_json(trust: &Trust) -> Value {
    json!({
        "root_key": hex(&trust.root_key),
        "canister_id": trust.canister_id.to_text(),
        "now_ns": u64_text(trust.now_ns),
        "max_age_ns": u64_text(trust.max_age_ns),
    })
}

pub fn trust_from(value: &Value) -> Trust {
    Trust {
        root_key: bytes(&value["root_key"]),
        canister_id: Principal::from_text(text(&value["canister_id"])).unwrap(),
        now_ns: u64_of(&value["now_ns"]),
        max_age_ns: u64_of(&value["max_age_ns"]),
    }
}

/// The tensors and nonce of an inference, owned (lent as an [`Opening`]).
#[derive(Clone)]
pub struct Tensors {
    pub inputs: Vec<Tensor>,
    pub nonce: Option<Vec<u8>>,
    pub outputs: Vec<Tensor>,
}

/// What a verifier holds, owned (lent as [`Held`]).
#[derive(Clone, Default)]
pub struct Holding {
    pub opening: Option<Tensors>,
    pub receipt: Option<LogEntry>,
    pub model_sha256: Option<[u8; 32]>,
    pub code_certificate: Option<Vec<u8>>,
    pub expected_module_hashes: Vec<[u8; 32]>,
}

impl Holding {
    pub fn opening(&self) -> Option<Opening<'_>> {
        self.opening.as_ref().map(|t| Opening {
            inputs: &t.inputs,
            nonce: t.nonce.as_deref(),
            outputs: &t.outputs,
        })
    }

    pub fn held(&self) -> Held<'_> {
        Held {
            opening: self.opening(),
            receipt: self.receipt.as_ref(),
            model_sha256: self.model_sha256.as_ref(),
            code_certificate: self.code_certificate.as_deref(),
            expected_module_hashes: &self.expected_module_hashes,
            generation: None,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "opening": self.opening.as_ref().map(|t| json!({
                "inputs": tensors_json(&t.inputs),
                "nonce": t.nonce.as_ref().map(|n| hex(n)),
                "outputs": tensors_json(&t.outputs),
            })),
            "receipt": self.receipt.as_ref().map(entry_json),
            "model_sha256": self.model_sha256.as_ref().map(|h| hex(h)),
            "code_certificate": self.code_certificate.as_ref().map(|c| hex(c)),
            "expected_module_hashes": self.expected_module_hashes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
        })
    }

    pub fn from_json(value: &Value) -> Holding {
        let opening = &value["opening"];
        Holding {
            opening: (!opening.is_null()).then(|| Tensors {
                inputs: tensors_from(&opening["inputs"]),
                nonce: opening["nonce"].as_str().map(|_| bytes(&opening["nonce"])),
                outputs: tensors_from(&opening["outputs"]),
            }),
            receipt: (!value["receipt"].is_null()).then(|| entry_from(&value["receipt"])),
            model_sha256: value["model_sha256"]
                .as_str()
                .map(|_| hash(&value["model_sha256"])),
            code_certificate: value["code_certificate"]
                .as_str()
                .map(|_| bytes(&value["code_certificate"])),
            expected_module_hashes: value["expected_module_hashes"]
                .as_array()
                .map_or_else(Vec::new, |_| hashes(&value["expected_module_hashes"])),
        }
    }
}
