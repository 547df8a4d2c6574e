//! The corpus's JSON forms of the API types, both ways (testdata/README.md; entries, heads and
//! proofs are icinfer_verify::json's): bytes as
//! lowercase hex, u64 as decimal strings (JavaScript numbers stop at 2^53), principals as
//! text, i64 elements as strings, other elements as numbers. The TypeScript side reads the
//! same forms (frontend/src/verify/corpus.ts).

use candid::Principal;
use icinfer_api::{LogEntry, LogHead, LogProof, Tensor, TensorData};
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

// Log entries, heads and proofs: the library's forms (provenance bundles use them too).
pub use icinfer_verify::json::{entry_json, head_json, proof_json};

pub fn entry_from(value: &Value) -> LogEntry {
    icinfer_verify::json::entry_from(value).unwrap_or_else(|e| panic!("{e}"))
}

pub fn head_from(value: &Value) -> LogHead {
    icinfer_verify::json::head_from(value, "head").unwrap_or_else(|e| panic!("{e}"))
}

pub fn proof_from(value: &Value) -> LogProof {
    icinfer_verify::json::proof_from(value, "proof").unwrap_or_else(|e| panic!("{e}"))
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
