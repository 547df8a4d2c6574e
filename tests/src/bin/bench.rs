//! Instruction benchmarks of the built inference canister on the local host, in the spirit
//! of canbench. Instruction counts are deterministic, so a comparison with the committed
//! baseline is a gate, not a timing.
//!
//! ```text
//! cargo run -p icinfer-tests --bin bench -- [--tier ci|all] [--write | --check]
//! ```
//! `--write` stores the run as benches/results.json; `--check` fails when a benchmark
//! costs more than 2 % above the committed figure. The `ci` tier runs the models CI can
//! afford; `all` adds the slow-tier models (scripts/conformance-all.sh makes them).

use candid::Principal;
use icinfer_api::InferArgs;
use icinfer_tests::models::{Model, load_model, model_ids};
use icinfer_tests::{CHUNK_BYTES, InferenceCanister, workspace_root};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Slow-tier models: only with `--tier all`.
const SLOW: [&str; 2] = ["mobilenetv2", "minilm"];
/// Allowed growth before `--check` fails.
const TOLERANCE: f64 = 0.02;

type Results = BTreeMap<String, BTreeMap<String, u64>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = args.windows(2).any(|w| w[0] == "--tier" && w[1] == "all");
    let results = run(all);
    let path = workspace_root().join("benches").join("results.json");
    if args.iter().any(|a| a == "--write") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut merged: Results = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        merged.extend(results);
        std::fs::write(&path, serde_json::to_string_pretty(&merged).unwrap() + "\n").unwrap();
        println!("wrote {}", path.display());
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--check") {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; record a baseline with --write", path.display()));
        let baseline: Results = serde_json::from_str(&text).expect("results.json parses");
        return check(&baseline, &results);
    }
    for (name, fields) in &results {
        println!("{name:36} {:>16}", fields["instructions"]);
    }
    ExitCode::SUCCESS
}

fn check(baseline: &Results, fresh: &Results) -> ExitCode {
    let mut failed = false;
    for (name, fields) in fresh {
        let now = fields["instructions"];
        match baseline.get(name).map(|b| b["instructions"]) {
            None => println!("{name:36} {now:>16}  new: not in benches/results.json"),
            Some(then) => {
                let change = now as f64 / then as f64 - 1.0;
                let verdict = if change > TOLERANCE {
                    failed = true;
                    "REGRESSION"
                } else if change < -TOLERANCE {
                    "improved: update the baseline with --write"
                } else {
                    "ok"
                };
                println!(
                    "{name:36} {now:>16}  {then:>16}  {:+.2} %  {verdict}",
                    change * 100.0
                );
            }
        }
    }
    for name in baseline.keys().filter(|n| !fresh.contains_key(*n)) {
        println!("{name:36} not run in this tier");
    }
    if failed {
        println!(
            "instructions grew more than {} % above the baseline",
            TOLERANCE * 100.0
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn record(results: &mut Results, name: &str, instructions: u64) {
    println!("[bench] {name}: {instructions}");
    results.insert(
        name.to_string(),
        BTreeMap::from([("instructions".to_string(), instructions)]),
    );
}

fn run(all: bool) -> Results {
    let controller = Principal::from_slice(&[0xbe; 29]);
    let user = Principal::from_slice(&[0xbf; 29]);
    let mut results = Results::new();

    // Upload: a 4 MiB model in four chunks (the bytes need not be ONNX to be uploaded).
    let mut canister = InferenceCanister::install(controller);
    let blob: Vec<u8> = (0..4 * CHUNK_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    canister.create_model(controller, "blob", &blob).unwrap();
    let mut upload = 0;
    for index in 0..4 {
        canister
            .upload_chunk(controller, "blob", &blob, index)
            .unwrap();
        upload += canister.replica.last_instructions().unwrap();
    }
    record(&mut results, "upload/per_mib", upload / 4);

    // Per model: finalize (hash, parse, optimise) and one inference, on a fresh canister.
    let mut present: Vec<Model> = Vec::new();
    for id in model_ids() {
        if SLOW.contains(&id.as_str()) && !all {
            continue;
        }
        let model = load_model(&id).unwrap_or_else(|e| panic!("{e}"));
        let mut canister = InferenceCanister::install(controller);
        canister
            .create_model_declaring(controller, &id, &model.bytes, model.input_facts.clone())
            .unwrap();
        for index in 0..model.bytes.len().div_ceil(CHUNK_BYTES) {
            canister
                .upload_chunk(controller, &id, &model.bytes, index)
                .unwrap();
        }
        canister.finalize(&id).unwrap();
        record(
            &mut results,
            &format!("finalize/{id}"),
            canister.replica.last_instructions().unwrap(),
        );
        let args = InferArgs {
            model_id: id.clone(),
            inputs: model.cases[0].inputs.clone(),
            nonce: None,
        };
        canister.infer(user, args).unwrap();
        record(
            &mut results,
            &format!("infer/{id}"),
            canister.replica.last_instructions().unwrap(),
        );
        present.push(model);
    }

    // An upgrade with the CI-tier models present (the same set in every tier, so the
    // figure is comparable).
    let mut canister = InferenceCanister::install(controller);
    for model in present.iter().filter(|m| !SLOW.contains(&m.id.as_str())) {
        canister.install_model_declaring(&model.id, &model.bytes, model.input_facts.clone());
    }
    canister.upgrade();
    record(
        &mut results,
        "upgrade/with_models",
        canister.replica.last_instructions().unwrap(),
    );
    results
}
