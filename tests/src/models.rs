//! The models of models/manifest.json and their reference cases (inputs and onnxruntime's
//! outputs as .npy files), for the conformance tests and the benchmarks.

use crate::workspace_root;
use icinfer_api::{DType, Dim, Tensor, TensorData, TensorFact};
use serde::Deserialize;
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct Manifest {
    models: Vec<ManifestModel>,
}

#[derive(Deserialize)]
struct ManifestModel {
    id: String,
    file: String,
    references: String,
    tolerance: f64,
    make: String,
    #[serde(default)]
    input_facts: Vec<DeclaredFact>,
    /// Present on language models, whose references are generations, not tensor cases
    /// (tests/src/gpt.rs reads them).
    #[serde(default)]
    language_model: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct DeclaredFact {
    name: String,
    dtype: String,
    shape: Vec<u64>,
}

#[derive(Deserialize)]
struct CasesFile {
    cases: Vec<CaseFiles>,
}

#[derive(Deserialize)]
struct CaseFiles {
    inputs: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
}

/// A model of the manifest, with its bytes loaded.
pub struct Model {
    pub id: String,
    pub bytes: Vec<u8>,
    /// Largest absolute difference allowed against onnxruntime's float outputs.
    pub tolerance: f64,
    /// Input facts to declare at `create_model`, if the model's own are not enough.
    pub input_facts: Option<Vec<TensorFact>>,
    pub cases: Vec<Case>,
}

/// One reference case: inputs, and onnxruntime's outputs by name.
pub struct Case {
    pub inputs: Vec<Tensor>,
    pub outputs: BTreeMap<String, Tensor>,
}

pub fn models_dir() -> PathBuf {
    workspace_root().join("models")
}

/// The models with tensor reference cases: language models are benched by generation.
pub fn model_ids() -> Vec<String> {
    manifest()
        .models
        .into_iter()
        .filter(|m| m.language_model.is_none())
        .map(|m| m.id)
        .collect()
}

fn manifest() -> Manifest {
    let path = models_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("models/manifest.json parses")
}

/// Loads a model and its reference cases. A missing file is an error that says how to
/// make it.
pub fn load_model(id: &str) -> Result<Model, String> {
    let entry = manifest()
        .models
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| format!("model {id} is not in models/manifest.json"))?;
    let path = models_dir().join(&entry.file);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("{}: {e}. Make it with: {}", path.display(), entry.make))?;
    let references = models_dir().join(&entry.references);
    let index = references.join("cases.json");
    let text = std::fs::read_to_string(&index)
        .map_err(|e| format!("{}: {e}. Make it with: {}", index.display(), entry.make))?;
    let files: CasesFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let cases = files
        .cases
        .iter()
        .map(|case| Case {
            inputs: case
                .inputs
                .iter()
                .map(|(name, file)| read_npy(&references.join(file), name))
                .collect(),
            outputs: case
                .outputs
                .iter()
                .map(|(name, file)| (name.clone(), read_npy(&references.join(file), name)))
                .collect(),
        })
        .collect();
    let input_facts = (!entry.input_facts.is_empty()).then(|| {
        entry
            .input_facts
            .iter()
            .map(|fact| TensorFact {
                name: fact.name.clone(),
                dtype: DType::ALL
                    .into_iter()
                    .find(|d| d.name() == fact.dtype)
                    .unwrap_or_else(|| panic!("unknown dtype {}", fact.dtype)),
                shape: fact.shape.iter().map(|&d| Dim::Fixed(d)).collect(),
            })
            .collect()
    });
    Ok(Model {
        id: entry.id,
        bytes,
        tolerance: entry.tolerance,
        input_facts,
        cases,
    })
}

/// Reads a .npy file as a named tensor.
pub fn read_npy(path: &Path, name: &str) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<u64> = npy.shape().to_vec();
    let descr = npy.header().dtype().descr();
    let data = match descr.trim_matches('\'') {
        "<f4" => TensorData::F32(npy.into_vec().unwrap()),
        "<f8" => TensorData::F64(npy.into_vec().unwrap()),
        "<i8" => TensorData::I64(npy.into_vec().unwrap()),
        "<i4" => TensorData::I32(npy.into_vec().unwrap()),
        "|i1" => TensorData::I8(npy.into_vec().unwrap()),
        "|u1" => TensorData::U8(ByteBuf::from(npy.into_vec::<u8>().unwrap())),
        "|b1" => TensorData::Bool(npy.into_vec().unwrap()),
        other => panic!("{}: unsupported dtype {other}", path.display()),
    };
    Tensor {
        name: name.to_string(),
        shape,
        data,
    }
}
