//! A saved inference: what a user keeps to prove later what the canister computed.
//!
//! `icinfer infer --save DIR` writes `DIR/receipt.json` (the log entry, the canister, the nonce,
//! the tensor names in order and the file of each) and each tensor as `.npy`, named after the
//! tensor (`input-pixels.npy`, `output-probabilities.npy`); `icinfer verify --receipt DIR`
//! reads them back. Receipts saved before the files were named (no `input_files`) name them
//! by position, `input-0.npy`, and still load. The nonce is the secret that opens the input hash: whoever holds this
//! directory can show which inputs were used, and nobody else can test guesses against the log.

use anyhow::{Context, Result, ensure};
use candid::Principal;
use icinfer_api::{LogEntry, Tensor};
use serde_json::{Value, json};
use std::path::Path;

pub struct SavedInference {
    pub network: String,
    pub canister: Principal,
    pub entry: LogEntry,
    pub nonce: Option<Vec<u8>>,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

const FILE: &str = "receipt.json";

/// Longest tensor-name part of a file name: a tensor name can be any string, a file name
/// cannot.
const MAX_NAME_IN_FILE: usize = 64;

/// The files for `tensors` of `kind` ("input" or "output"): `<kind>-<name>.npy`, with every
/// character but ASCII letters, digits, `.`, `-` and `_` replaced by `_`. Names that become
/// equal (compared without case, for case-insensitive file systems) or empty take their
/// position as a suffix, so no two tensors share a file.
fn tensor_files(kind: &str, tensors: &[Tensor], taken: &mut Vec<String>) -> Vec<String> {
    tensors
        .iter()
        .enumerate()
        .map(|(index, tensor)| {
            let clean: String = tensor
                .name
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
                    _ => '_',
                })
                .take(MAX_NAME_IN_FILE)
                .collect();
            let clean = clean.trim_matches('.');
            let mut file = if clean.is_empty() {
                format!("{kind}-{index}.npy")
            } else {
                format!("{kind}-{clean}.npy")
            };
            let mut attempt = 0;
            while taken.iter().any(|t| t.eq_ignore_ascii_case(&file)) {
                attempt += 1;
                file = match attempt {
                    1 => format!("{kind}-{clean}-{index}.npy"),
                    _ => format!("{kind}-{clean}-{index}-{attempt}.npy"),
                };
            }
            taken.push(file.clone());
            file
        })
        .collect()
}

/// Receipts saved before `input_files` existed: by position.
fn positional_file(kind: &str, index: usize) -> String {
    format!("{kind}-{index}.npy")
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
        let mut taken = vec![FILE.to_string()];
        let input_files = tensor_files("input", &self.inputs, &mut taken);
        let output_files = tensor_files("output", &self.outputs, &mut taken);
        for (tensors, files) in [(&self.inputs, &input_files), (&self.outputs, &output_files)] {
            for (tensor, file) in tensors.iter().zip(files) {
                crate::tensors::write_npy(&dir.join(file), tensor)?;
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
            "input_files": input_files,
            "output_files": output_files,
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
            let files = v[format!("{kind}_files")].as_array();
            ensure!(
                files.is_none_or(|f| f.len() == names.len()),
                "{}: {kind}_files does not list one file per {kind}",
                path.display()
            );
            names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let name = name.as_str().context("a tensor name is not text")?;
                    let file = match files {
                        Some(files) => {
                            let file = files[index].as_str().context("a file name is not text")?;
                            // The directory's own files only: a receipt is data from anyone.
                            ensure!(
                                Path::new(file).file_name() == Some(std::ffi::OsStr::new(file)),
                                "{}: '{file}' is not a file name in the receipt's directory",
                                path.display()
                            );
                            file.to_string()
                        }
                        None => positional_file(kind, index),
                    };
                    crate::tensors::read_npy(name, &dir.join(file))
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
        for file in ["input-pixels.npy", "output-label.npy", "output-p.npy"] {
            assert!(dir.path().join(file).exists(), "{file}");
        }

        // A receipt saved before the files were named: by position.
        let receipt = dir.path().join(FILE);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("input_files");
        v.as_object_mut().unwrap().remove("output_files");
        std::fs::write(&receipt, v.to_string()).unwrap();
        for (from, to) in [
            ("input-pixels.npy", "input-0.npy"),
            ("output-label.npy", "output-0.npy"),
            ("output-p.npy", "output-1.npy"),
        ] {
            std::fs::rename(dir.path().join(from), dir.path().join(to)).unwrap();
        }
        let old = SavedInference::load(dir.path()).unwrap();
        assert_eq!(old.outputs, saved.outputs);

        // A receipt may not name a file outside its directory.
        v["output_files"] = json!(["../output-0.npy", "output-1.npy"]);
        v["input_files"] = json!(["input-0.npy"]);
        std::fs::write(&receipt, v.to_string()).unwrap();
        let err = SavedInference::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a file name"), "{err}");
    }

    fn named(names: &[&str]) -> Vec<Tensor> {
        names
            .iter()
            .map(|name| Tensor {
                name: name.to_string(),
                shape: vec![1],
                data: TensorData::Bool(vec![true]),
            })
            .collect()
    }

    #[test]
    fn tensor_files_are_sanitised_names_and_never_collide() {
        let mut taken = vec![FILE.to_string()];
        let inputs = tensor_files(
            "input",
            &named(&["image:0", "image/0", "IMAGE_0", "", "..", "ä"]),
            &mut taken,
        );
        assert_eq!(
            inputs,
            [
                "input-image_0.npy",
                "input-image_0-1.npy",
                "input-IMAGE_0-2.npy",
                "input-3.npy",
                "input-4.npy",
                "input-_.npy",
            ]
        );
        // Inputs and outputs of the same name do not collide either; long names are cut.
        let long = "x".repeat(300);
        let outputs = tensor_files("output", &named(&["image:0", &long]), &mut taken);
        assert_eq!(outputs[0], "output-image_0.npy");
        assert_eq!(outputs[1].len(), "output-.npy".len() + MAX_NAME_IN_FILE);
        let mut unique = taken.clone();
        unique.sort_by_key(|t| t.to_ascii_lowercase());
        unique.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        assert_eq!(unique.len(), taken.len());
    }
}
