//! Instruction benchmarks of the built inference canister on the local host, in the spirit
//! of canbench. Instruction counts are deterministic, so a comparison with the committed
//! baseline is a gate, not a timing.
//!
//! ```text
//! cargo run -p icinfer-tests --bin bench -- [--tier ci|all] [--only generate] [--write | --check]
//! ```
//! `--only generate` runs the `generate/` benchmarks alone (the slow tier's language models
//! take long enough to be worth running apart).
//! `--write` stores the run as benches/results.json; `--write-new` adds only the benchmarks
//! the file does not have yet, leaving the committed figures as they are; `--check` fails
//! when a benchmark costs more than 2 % above the committed figure. The `ci` tier runs the models CI can
//! afford; `all` adds the slow-tier models (scripts/conformance-all.sh makes them) and the
//! certified log at 10^6 entries (the log-bench fixture: `bash scripts/build-canister.sh
//! log-bench`; filling it takes a minute or two).

use candid::{Encode, Principal};
use icinfer_api::{
    Error, GenerateArgs, GenerationState, GenerationStatus, InferArgs, JobState, JobStatus,
    LanguageModel, LogConsistency, LogConsistencyArgs, LogHead, LogProof, LogProofArgs, ModelInfo,
    ModelState, Sampling,
};
use icinfer_core::limits::MAX_STEP_BUDGET;
use icinfer_tests::gpt::{
    install_language_model, slow_tier_gpt, tiny_gpt, tiny_gpt_language_model,
};
use icinfer_tests::models::{Model, load_model, model_ids};
use icinfer_tests::{
    CHUNK_BYTES, InferenceCanister, LocalHost, Replica, ReplicaExt, canister_wasm, workspace_root,
};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Slow-tier models: only with `--tier all`.
const SLOW: [&str; 4] = ["mobilenetv2", "minilm", "mobilenetv2-int8", "minilm-int8"];
/// Allowed growth before `--check` fails.
const TOLERANCE: f64 = 0.02;

type Results = BTreeMap<String, BTreeMap<String, u64>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = args.windows(2).any(|w| w[0] == "--tier" && w[1] == "all");
    let only_generation = args
        .windows(2)
        .any(|w| w[0] == "--only" && w[1] == "generate");
    let results = if only_generation {
        let mut results = Results::new();
        let controller = Principal::from_slice(&[0xbe; 29]);
        generation(
            &mut results,
            controller,
            Principal::from_slice(&[0xbf; 29]),
            all,
        );
        results
    } else {
        run(all)
    };
    let path = workspace_root().join("benches").join("results.json");
    let only_new = args.iter().any(|a| a == "--write-new");
    if only_new || args.iter().any(|a| a == "--write") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut merged: Results = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        for (name, fields) in results {
            if !(only_new && merged.contains_key(&name)) {
                merged.insert(name, fields);
            }
        }
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
    finalize_large_twin(&mut results, controller);

    // Per model: finalize (hash, parse, optimise) and two inferences, on a fresh canister.
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
        // The first inference on a heap also pays its one-time initialisation (tract's
        // routine table, the reply's Candid header); every later one costs what the second does.
        for name in ["infer_first", "infer"] {
            canister.infer(user, args.clone()).unwrap();
            record(
                &mut results,
                &format!("{name}/{id}"),
                canister.replica.last_instructions().unwrap(),
            );
        }
        if JOB_BUDGETS.iter().any(|(m, _)| *m == id) {
            job(&mut results, &mut canister, &args, user);
        }
        present.push(model);
    }

    generation(&mut results, controller, user, all);

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
    if all {
        log_at_a_million(&mut results);
    }
    results
}

/// Finalize as a job: the 10 MiB twin of the large model (tests/tests/large.rs), uploaded
/// first chunk last so that finalize has chunks left to hash, with a 150 M step budget:
/// the job's total and its instructions per message (the last one parses and optimises).
fn finalize_large_twin(results: &mut Results, controller: Principal) {
    let bytes = icinfer_tests::large::dense_chain(10, 512);
    let mut canister = InferenceCanister::install(controller);
    let set: Result<(), Error> = canister
        .update(controller, "set_job_step_budget", 150_000_000u64)
        .unwrap();
    set.unwrap();
    canister.create_model(controller, "large", &bytes).unwrap();
    let chunks = bytes.len().div_ceil(CHUNK_BYTES);
    for index in (1..chunks).chain([0]) {
        canister
            .upload_chunk(controller, "large", &bytes, index)
            .unwrap();
    }
    let mut info = canister.finalize("large").unwrap();
    let mut messages = 1;
    while let ModelState::Finalizing(progress) = &info.state {
        messages = progress.messages + 1;
        canister.replica.tick();
        let (now,): (Result<ModelInfo, Error>,) = canister
            .replica
            .query(
                canister.id,
                controller,
                "model_info",
                ("large".to_string(),),
            )
            .unwrap();
        info = now.unwrap();
    }
    assert_eq!(info.state, ModelState::Ready, "{:?}", info.state);
    let total = info.load_instructions.unwrap();
    println!("[finalize] large-twin: {messages} messages, {total} instructions");
    record(results, "finalize/large-twin/total", total);
    record(results, "finalize/large-twin/per_message", total / messages);
}

/// Step budgets that split the CI-tier models into many messages (tests/tests/jobs.rs).
const JOB_BUDGETS: [(&str, u64); 2] = [("digits", 60_000), ("ppocr-cls", 20_000_000)];

/// An inference as a job, against the same inference by `infer` (recorded just before):
/// what the job costs beyond the inference, per message and per node. The job's
/// instructions are those of all its messages (`infer_start` and every step); the timer
/// messages that schedule the steps are the driver's and not counted.
fn job(results: &mut Results, canister: &mut InferenceCanister, args: &InferArgs, user: Principal) {
    let id = &args.model_id;
    let budget = JOB_BUDGETS.iter().find(|(m, _)| m == id).unwrap().1;
    let infer = canister.replica.last_instructions().unwrap();
    let controller = canister.controller;
    let set: Result<(), Error> = canister
        .update(controller, "set_job_step_budget", budget)
        .unwrap();
    set.unwrap();
    let started: Result<u64, Error> = canister.update(user, "infer_start", args.clone()).unwrap();
    let job = started.unwrap();
    let status = loop {
        let (status,): (Result<JobStatus, Error>,) = canister
            .replica
            .query(canister.id, user, "job_status", (job,))
            .unwrap();
        let status = status.unwrap();
        if status.state != JobState::Pending {
            break status;
        }
        canister.replica.tick();
    };
    assert!(matches!(status.state, JobState::Done(_)), "{status:?}");
    let p = status.progress;
    let overhead = p.instructions.saturating_sub(infer);
    println!(
        "[job] {id}: {} nodes, {} messages, {} instructions (infer {infer})",
        p.nodes_total, p.messages, p.instructions
    );
    record(results, &format!("job/{id}/total"), p.instructions);
    record(
        results,
        &format!("job/{id}/per_message"),
        overhead / p.messages,
    );
    record(
        results,
        &format!("job/{id}/per_node"),
        overhead / p.nodes_total,
    );
}

/// A language model to bench: what `generation` installs and the prompt it continues.
struct LanguageBench {
    id: String,
    onnx: Vec<u8>,
    tokenizer: Vec<u8>,
    declared: LanguageModel,
    prompt: String,
    parameters: u64,
}

/// The tiny GPT (CI) and, in the slow tier, GPT-2 small and SmolLM2-135M, f32 and int8
/// (models/cache/gpt: scripts/gpt-models.sh), those that have been made.
fn language_benches(all: bool) -> Vec<LanguageBench> {
    let gpt = tiny_gpt();
    let mut benches = vec![LanguageBench {
        id: "tiny-gpt".into(),
        declared: tiny_gpt_language_model(&gpt.tokenizer),
        onnx: gpt.onnx,
        tokenizer: gpt.tokenizer,
        prompt: "And the LORD said unto Moses, Go in unto Pharaoh, and tell him".into(),
        parameters: gpt.parameters,
    }];
    if all {
        for id in ["gpt2", "gpt2-int8", "smollm2", "smollm2-int8"] {
            let Some(model) = slow_tier_gpt(id) else {
                println!("[generate] {id}: not made (scripts/gpt-models.sh), not benched");
                continue;
            };
            benches.push(LanguageBench {
                id: id.into(),
                onnx: model.onnx,
                tokenizer: model.tokenizer,
                declared: model.language_model,
                prompt: model.prompt.into(),
                parameters: model.parameters,
            });
        }
    }
    benches
}

/// Text generation, greedy: the instructions of a generation of one token (the prompt's
/// prefill, one sample, the receipt) per prompt token, and the difference that each
/// further token makes (one decode pass over the KV cache, the logits' argmax, the token's
/// bookkeeping), over the first `DECODED` further tokens and over the `DECODED` after
/// them: the growth between the two is what each token more in the cache costs (attention
/// reads it, and the graph's Concat copies it into the present). All of a generation's
/// messages count.
fn generation(results: &mut Results, controller: Principal, user: Principal, all: bool) {
    const DECODED: u32 = 32;
    for bench in language_benches(all) {
        let mut canister = InferenceCanister::install(controller);
        let id = canister.id;
        // No end-of-sequence token: every generation runs to max_new_tokens.
        let mut declared = bench.declared.clone();
        declared.eos_token = None;
        install_language_model(
            canister.replica.as_mut(),
            id,
            controller,
            &bench.id,
            &bench.onnx,
            &bench.tokenizer,
            declared,
        );
        if bench.id != "tiny-gpt" {
            // The largest step budget: one node of GPT-2's prefill (the logits over the
            // vocabulary) takes more than the default 1 B (docs/performance.md).
            let set: Result<(), Error> = canister
                .update(controller, "set_job_step_budget", MAX_STEP_BUDGET)
                .unwrap();
            set.unwrap();
        }
        let mut generate = |max_new_tokens: u32| {
            let args = GenerateArgs {
                model_id: bench.id.clone(),
                prompt: bench.prompt.clone(),
                max_new_tokens,
                sampling: Sampling::Greedy,
                stop: Vec::new(),
                nonce: None,
            };
            let started: Result<u64, Error> =
                canister.update(user, "generate_start", args).unwrap();
            let job = started.unwrap();
            loop {
                let (status,): (Result<GenerationStatus, Error>,) = canister
                    .replica
                    .query(id, user, "generation_status", (job,))
                    .unwrap();
                let status = status.unwrap();
                if status.state != GenerationState::Pending {
                    assert!(
                        matches!(status.state, GenerationState::Done(_)),
                        "{status:?}"
                    );
                    assert_eq!(status.tokens.len() as u32, max_new_tokens, "no early stop");
                    return status.progress;
                }
                canister.replica.tick();
            }
        };
        let one = generate(1);
        let first = generate(1 + DECODED);
        let second = generate(1 + 2 * DECODED);
        let prefill = one.instructions / u64::from(one.prompt_tokens);
        let decode = (first.instructions - one.instructions) / u64::from(DECODED);
        let later = (second.instructions - first.instructions) / u64::from(DECODED);
        let name = &bench.id;
        println!(
            "[generate] {name}: {} prompt tokens, {} instructions for one token ({} messages); \
             {decode} per further token over the next {DECODED}, {later} over the {DECODED} after \
             ({:+.0} per token more in the cache); {:.0} tokens per 40 B message; \
             {:.3} instructions per parameter per token ({} parameters)",
            one.prompt_tokens,
            one.instructions,
            one.messages,
            (later as f64 - decode as f64) / f64::from(DECODED),
            40e9 / decode as f64,
            decode as f64 / bench.parameters as f64,
            bench.parameters
        );
        record(
            results,
            &format!("generate/{name}/prefill_per_token"),
            prefill,
        );
        record(
            results,
            &format!("generate/{name}/decode_per_token"),
            decode,
        );
    }
}

/// The certified log's costs at 10^6 entries, on the log-bench fixture (the inference
/// canister's log code with endpoints that fill it): one append with its Merkle update and
/// certification, when empty and when full; and the proof queries, the largest over a
/// spread of indices and sizes (each is O(log n)).
fn log_at_a_million(results: &mut Results) {
    const ENTRIES: u64 = 1_000_000;
    let controller = Principal::from_slice(&[0xc0; 29]);
    let user = Principal::from_slice(&[0x05; 29]);
    let mut local = LocalHost::new();
    let id = local.create_canister(controller);
    local.install(
        id,
        &canister_wasm("log_bench"),
        Encode!().unwrap(),
        controller,
    );
    let (at_one,): (u64,) = local.update(id, user, "bench_append_one", ()).unwrap();
    record(results, "log/append_certify_at_1", at_one);
    let mut size = 1;
    while size < ENTRIES {
        let (new_size,): (u64,) = local
            .update(id, user, "bench_fill_log", ((ENTRIES - size).min(200_000),))
            .unwrap();
        size = new_size;
    }
    let (at_million,): (u64,) = local.update(id, user, "bench_append_one", ()).unwrap();
    record(results, "log/append_certify_at_1000000", at_million);
    size += 1;

    let _: (LogHead,) = local.query(id, user, "log_head", ()).unwrap();
    record(
        results,
        "log/head_at_1000000",
        local.last_instructions().unwrap(),
    );
    let mut proof = 0;
    // The last one proves inclusion in an older tree, and so carries a consistency proof.
    let proofs = [
        (0, None),
        (size / 2, None),
        (size - 1, None),
        (12_345, Some(700_001)),
    ];
    for (index, tree_size) in proofs {
        let (p,): (Result<LogProof, Error>,) = local
            .query(id, user, "log_proof", (LogProofArgs { index, tree_size },))
            .unwrap();
        p.unwrap();
        proof = proof.max(local.last_instructions().unwrap());
    }
    record(results, "log/proof_at_1000000", proof);
    let mut consistency = 0;
    for from_size in [1, 524_288, size - 1] {
        let (c,): (Result<LogConsistency, Error>,) = local
            .query(
                id,
                user,
                "log_consistency",
                (LogConsistencyArgs {
                    from_size,
                    to_size: size,
                },),
            )
            .unwrap();
        c.unwrap();
        consistency = consistency.max(local.last_instructions().unwrap());
    }
    record(results, "log/consistency_at_1000000", consistency);
}
