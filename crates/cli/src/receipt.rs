//! A saved inference: what a user keeps to prove later what the canister computed.
//!
//! `icinfer infer --save DIR` writes `DIR/receipt.json` (the log entry, the canister, the nonce
//! and the tensor names in order) and each tensor as `.npy`; `icinfer verify --receipt DIR`
//! reads them back. The nonce is the secret that opens the input hash: whoever holds this
//! directory can show which inputs were used, and nobody else can test guesses against the log.

use anyhow::{Context, Result, ensure};
use candid::Principal;
use icinfer_api::{LogEntry, Tensor};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub struct SavedInference {
    pub network: String,
    pub canister: Principal,
    pub entry: LogEntry,
    pub nonce: Option<Vec<u8>>,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

const FILE: &str = "receipt.json";

fn tensor_file(dir: &Path, kind: &str, index: usize) -> PathBuf {
    dir.join(format!("{kind}-{index}.npy"))
}

pub fn entry_json(e: &LogEntry) -> Value {
    json!({
        "seq": e.seq,
        "timestamp_ns": e.timestamp_ns,
        "caller": e.caller.to_text(),
        "model_id": e.model_id,
        "model_sha256": hex::encode(&e.model_sha256),
        "input_hash": hex::encode(&e.input_hash),
        "output_hash": hex::encode(&e.output_hash),
        "input_salted": e.input_salted,
        "instructions": e.instructions,
        "messages": e.messages,
        // A generation's receipt (serde's form; absent for an inference).
        "kind": e.kind,
    })
}

pub fn entry_from_json(v: &Value) -> Result<LogEntry> {
    let text = |key: &str| {
        v[key]
            .as_str()
            .with_context(|| format!("entry.{key} missing"))
    };
    let number = |key: &str| {
        v[key]
            .as_u64()
            .with_context(|| format!("entry.{key} missing"))
    };
    let blob = |key: &str| -> Result<serde_bytes::ByteBuf> {
        Ok(serde_bytes::ByteBuf::from(
            hex::decode(text(key)?).with_context(|| format!("entry.{key} is not hex"))?,
        ))
    };
    Ok(LogEntry {
        seq: number("seq")?,
        timestamp_ns: number("timestamp_ns")?,
        caller: Principal::from_text(text("caller")?)?,
        model_id: text("model_id")?.to_string(),
        model_sha256: blob("model_sha256")?,
        input_hash: blob("input_hash")?,
        output_hash: blob("output_hash")?,
        input_salted: v["input_salted"]
            .as_bool()
            .context("entry.input_salted missing")?,
        instructions: number("instructions")?,
        // Absent from receipts of version 1 entries.
        messages: v["messages"].as_u64(),
        kind: match &v["kind"] {
            Value::Null => None,
            kind => Some(serde_json::from_value(kind.clone()).context("entry.kind")?),
        },
    })
}

impl SavedInference {
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (kind, tensors) in [("input", &self.inputs), ("output", &self.outputs)] {
            for (index, tensor) in tensors.iter().enumerate() {
                crate::tensors::write_npy(&tensor_file(dir, kind, index), tensor)?;
            }
        }
        let names = |tensors: &[Tensor]| -> Vec<String> {
            tensors.iter().map(|t| t.name.clone()).collect()
        };
        let receipt = json!({
            "network": self.network,
            "canister": self.canister.to_text(),
            "entry": entry_json(&self.entry),
            "nonce": self.nonce.as_ref().map(hex::encode),
            "inputs": names(&self.inputs),
            "outputs": names(&self.outputs),
        });
        let path = dir.join(FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&receipt)? + "\n")
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(dir: &Path) -> Result<SavedInference> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}: save a receipt with `icinfer infer --save {}`",
                path.display(),
                dir.display()
            )
        })?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let tensors = |kind: &str| -> Result<Vec<Tensor>> {
            let names = v[format!("{kind}s")]
                .as_array()
                .with_context(|| format!("{kind}s missing"))?;
            names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let name = name.as_str().context("a tensor name is not text")?;
                    crate::tensors::read_npy(name, &tensor_file(dir, kind, index))
                })
                .collect()
        };
        let nonce = match v["nonce"].as_str() {
            Some(h) => Some(hex::decode(h).context("nonce is not hex")?),
            None => None,
        };
        let saved = SavedInference {
            network: v["network"].as_str().unwrap_or_default().to_string(),
            canister: Principal::from_text(v["canister"].as_str().context("canister missing")?)?,
            entry: entry_from_json(&v["entry"])?,
            nonce,
            inputs: tensors("input")?,
            outputs: tensors("output")?,
        };
        ensure!(
            saved.entry.input_salted == saved.nonce.is_some(),
            "{}: the entry's input_salted does not match the presence of a nonce",
            path.display()
        );
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use icinfer_api::TensorData;
    use serde_bytes::ByteBuf;

    #[test]
    fn a_saved_inference_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let saved = SavedInference {
            network: "http://127.0.0.1:4944".into(),
            canister: Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
            entry: LogEntry {
                seq: 7,
                timestamp_ns: 1_700_000_000_000_000_000,
                caller: Principal::from_slice(&[9; 29]),
                model_id: "digits".into(),
                model_sha256: ByteBuf::from(vec![1; 32]),
                input_hash: ByteBuf::from(vec![2; 32]),
                output_hash: ByteBuf::from(vec![3; 32]),
                input_salted: true,
                instructions: 1_500_000,
                messages: Some(1),
                kind: None,
            },
            nonce: Some(vec![4; 32]),
            inputs: vec![Tensor {
                name: "pixels".into(),
                shape: vec![1, 2],
                data: TensorData::F32(vec![0.25, 1.0]),
            }],
            outputs: vec![
                Tensor {
                    name: "label".into(),
                    shape: vec![1],
                    data: TensorData::I64(vec![3]),
                },
                Tensor {
                    name: "p".into(),
                    shape: vec![1, 2],
                    data: TensorData::F32(vec![0.1, 0.9]),
                },
            ],
        };
        saved.save(dir.path()).unwrap();
        let loaded = SavedInference::load(dir.path()).unwrap();
        assert_eq!(loaded.entry, saved.entry);
        assert_eq!(loaded.nonce, saved.nonce);
        assert_eq!(loaded.inputs, saved.inputs);
        assert_eq!(loaded.outputs, saved.outputs);
        assert_eq!(loaded.canister, saved.canister);
    }
}
