//! Text generation natively, on the tiny GPT of models/tiny-gpt (committed;
//! models/make_tiny_gpt.py made it): the tokenizer against the `tokenizers` library's ids, greedy
//! tokens against onnxruntime's decode loop, a generation split over many messages, an
//! upgrade in the middle, seeded sampling, stops, cancellation and the typed errors.

use candid::Principal;
use ic_stable_structures::VectorMemory;
use icinfer_api::{
    CreateModelArgs, EntryKind, Error, GenerateArgs, GenerationState, GenerationStatus, KvPair,
    LanguageModel, SampleSettings, Sampling, StopReason, TokenizerFile, UploadChunkArgs,
};
use icinfer_core::generation::Tokenizer;
use icinfer_core::limits::CHUNK_BYTES;
use icinfer_core::{Engine, Environment, StepOutcome};
use icinfer_verify::generation::{completion_hash, prompt_commitment, tokens_hash};
use serde_bytes::ByteBuf;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::path::PathBuf;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn alice() -> Principal {
    Principal::from_slice(&[0xa1; 29])
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny-gpt")
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the tiny GPT is committed in models/tiny-gpt",
            path.display()
        )
    })
}

fn reference(name: &str) -> Value {
    serde_json::from_slice(&read(&format!("reference/{name}"))).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// Each message has its own counter, advanced by `per_read` on every read.
struct Env {
    caller: Cell<Principal>,
    now: Cell<u64>,
    counter: Cell<u64>,
    per_read: Cell<u64>,
}

impl Env {
    fn new() -> Self {
        Env {
            caller: Cell::new(controller()),
            now: Cell::new(1_750_000_000_000_000_000),
            counter: Cell::new(0),
            per_read: Cell::new(1),
        }
    }
    fn message(&self, caller: Principal) -> &Self {
        self.caller.set(caller);
        self.counter.set(0);
        self
    }
}

impl Environment for Env {
    fn caller(&self) -> Principal {
        self.caller.get()
    }
    fn is_controller(&self, principal: &Principal) -> bool {
        *principal == controller()
    }
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1);
        self.now.get()
    }
    fn instructions(&self) -> u64 {
        self.counter.set(self.counter.get() + self.per_read.get());
        self.counter.get()
    }
    fn heap_bytes(&self) -> u64 {
        0
    }
    fn set_certified_data(&self, _: &[u8]) {}
    fn data_certificate(&self) -> Option<Vec<u8>> {
        None
    }
}

fn language_model(tokenizer: &[u8]) -> LanguageModel {
    LanguageModel {
        input_ids: "input_ids".into(),
        logits: "logits".into(),
        attention_mask: None,
        position_ids: None,
        past: (0..4)
            .flat_map(|i| {
                ["key", "value"].map(|kv| KvPair {
                    input: format!("past_key_values.{i}.{kv}"),
                    output: format!("present.{i}.{kv}"),
                })
            })
            .collect(),
        context_length: 128,
        eos_token: Some(0),
        tokenizer: TokenizerFile {
            sha256: ByteBuf::from(Sha256::digest(tokenizer).to_vec()),
            size_bytes: tokenizer.len() as u64,
        },
    }
}

fn upload(
    engine: &mut Engine<VectorMemory>,
    env: &Env,
    id: &str,
    lm: LanguageModel,
    tokenizer: &[u8],
) -> Result<(), Error> {
    let onnx = read("tiny-gpt.onnx");
    engine.create_model(
        env.message(controller()),
        CreateModelArgs {
            id: id.into(),
            sha256: ByteBuf::from(Sha256::digest(&onnx).to_vec()),
            size_bytes: onnx.len() as u64,
            description: None,
            input_facts: None,
            language_model: Some(lm),
        },
    )?;
    for (i, chunk) in onnx.chunks(CHUNK_BYTES as usize).enumerate() {
        let args = UploadChunkArgs {
            id: id.into(),
            offset: i as u64 * CHUNK_BYTES,
            data: ByteBuf::from(chunk.to_vec()),
        };
        engine.upload_model_chunk(env.message(controller()), args)?;
    }
    let args = UploadChunkArgs {
        id: id.into(),
        offset: 0,
        data: ByteBuf::from(tokenizer.to_vec()),
    };
    engine.upload_tokenizer_chunk(env.message(controller()), args)?;
    engine
        .finalize_model(env.message(controller()), id)
        .map(|_| ())
}

fn engine() -> (Engine<VectorMemory>, VectorMemory, Env) {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    let env = Env::new();
    let tokenizer = read("tokenizer.json");
    upload(
        &mut engine,
        &env,
        "tiny",
        language_model(&tokenizer),
        &tokenizer,
    )
    .unwrap();
    (engine, memory, env)
}

fn greedy(prompt: &str, max_new_tokens: u32) -> GenerateArgs {
    GenerateArgs {
        model_id: "tiny".into(),
        prompt: prompt.into(),
        max_new_tokens,
        sampling: Sampling::Greedy,
        stop: Vec::new(),
        nonce: None,
    }
}

fn sampled(prompt: &str, seed: u8) -> GenerateArgs {
    GenerateArgs {
        sampling: Sampling::Sample(SampleSettings {
            temperature: 0.9,
            top_k: Some(40),
            top_p: Some(0.95),
            seed: Some(ByteBuf::from(vec![seed; 32])),
        }),
        ..greedy(prompt, 24)
    }
}

fn status(engine: &Engine<VectorMemory>, env: &Env, id: u64) -> GenerationStatus {
    engine.generation_status(env.message(alice()), id).unwrap()
}

/// Steps until done; returns the steps.
fn run(engine: &mut Engine<VectorMemory>, env: &Env, id: u64) -> u64 {
    for steps in 1..100_000 {
        let outcome = engine
            .job_step(env.message(Principal::management_canister()), id)
            .unwrap();
        if outcome == StepOutcome::Finished {
            return steps;
        }
    }
    panic!("generation {id} does not finish");
}

fn generate(engine: &mut Engine<VectorMemory>, env: &Env, args: GenerateArgs) -> GenerationStatus {
    let id = engine.generate_start(env.message(alice()), args).unwrap();
    run(engine, env, id);
    status(engine, env, id)
}

#[test]
fn the_tokenizer_gives_the_tokenizers_librarys_ids_and_bytes() {
    let tokenizer = Tokenizer::from_json(&read("tokenizer.json")).unwrap();
    let cases = reference("tokenizer.json");
    for case in cases["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected = ids(&case["ids"]);
        assert_eq!(tokenizer.encode(text), expected, "{text:?}");
        let bytes: Vec<String> = expected
            .iter()
            .map(|&id| hex::encode(tokenizer.token_bytes(id)))
            .collect();
        let want: Vec<&str> = case["token_bytes_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(bytes, want, "{text:?}");
    }
}

/// GPT-2's own tokenizer and SmolLM2's (models/cache/gpt/gpt2, smollm2: the slow tier's
/// language models, made by the genmodel scripts), against `tokenizers`' vectors, where
/// those files have been made.
#[test]
fn the_slow_tiers_tokenizers_give_the_librarys_ids_and_bytes() {
    let cache = dir().join("..");
    for model in ["gpt2", "smollm2"] {
        let (Ok(json), Ok(vectors)) = (
            std::fs::read(cache.join(model).join("tokenizer.json")),
            std::fs::read(cache.join(model).join("tokenizer-vectors.json")),
        ) else {
            println!("{model}: not made (python3 models/make_gpt2.py), not checked");
            continue;
        };
        let tokenizer = Tokenizer::from_json(&json).unwrap_or_else(|e| panic!("{model}: {e}"));
        let vectors: Value = serde_json::from_slice(&vectors).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(
                tokenizer.encode(text),
                ids(&case["ids"]),
                "{model}: {text:?}"
            );
        }
    }
}

#[test]
fn greedy_tokens_are_onnxruntimes_and_the_receipt_commits_to_them() {
    let (mut engine, _, env) = engine();
    let generation = reference("generation.json");
    for case in generation["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let max = case["max_new_tokens"].as_u64().unwrap() as u32;
        let done = generate(&mut engine, &env, greedy(prompt, max));
        let GenerationState::Done(entry) = &done.state else {
            panic!("{prompt}: {:?}", done.state)
        };
        assert_eq!(
            done.progress.prompt_tokens as usize,
            ids(&case["prompt_ids"]).len()
        );
        // Exact as long as onnxruntime's top two logits are further apart than the two
        // runtimes' rounding: compare up to the first near-tie.
        let expected = ids(&case["greedy_ids"]);
        let margins: Vec<f64> = case["top2_margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect();
        let exact = margins
            .iter()
            .position(|&m| m < 1e-3)
            .unwrap_or(expected.len());
        assert_eq!(
            done.tokens[..exact.min(done.tokens.len())],
            expected[..exact.min(done.tokens.len())],
            "{prompt}"
        );
        if exact == expected.len() && !expected.contains(&0) {
            assert_eq!(done.tokens, expected);
            assert_eq!(
                hex::encode(&done.completion),
                case["completion_hex"].as_str().unwrap()
            );
        }
        let Some(EntryKind::Generation(receipt)) = &entry.kind else {
            panic!("a generation's entry")
        };
        assert_eq!(
            entry.input_hash[..],
            prompt_commitment(prompt, None).unwrap()
        );
        assert_eq!(entry.output_hash[..], completion_hash(&done.completion));
        assert_eq!(
            receipt.completion_tokens_sha256[..],
            tokens_hash(&done.tokens)
        );
        assert_eq!(
            hex::encode(&receipt.tokenizer_sha256),
            generation["tokenizer_sha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&entry.model_sha256),
            generation["model_sha256"].as_str().unwrap()
        );
        assert_eq!(receipt.generated_tokens as usize, done.tokens.len());
        assert_eq!(done.text, String::from_utf8_lossy(&done.completion));
        // The log's search answers "was this text generated here?".
        let found = engine
            .find_log_entries(&icinfer_api::FindLogArgs {
                filter: icinfer_api::LogFilter::OutputHash(ByteBuf::from(
                    completion_hash(&done.completion).to_vec(),
                )),
                start: 0,
                limit: 10,
            })
            .unwrap();
        assert!(found.entries.contains(entry));
    }
}

#[test]
fn a_generation_over_many_messages_and_an_upgrade_gives_the_same_tokens() {
    let (mut engine, memory, env) = engine();
    let prompt = "In the beginning";
    let whole = generate(&mut engine, &env, greedy(prompt, 20));
    // A budget of a few nodes per message: the forward passes span messages.
    engine
        .set_job_step_budget(env.message(controller()), 10_000)
        .unwrap();
    env.per_read.set(2_000);
    let id = engine
        .generate_start(env.message(alice()), greedy(prompt, 20))
        .unwrap();
    for _ in 0..300 {
        engine
            .job_step(env.message(Principal::management_canister()), id)
            .unwrap();
    }
    assert!(
        status(&engine, &env, id).tokens.len() < 20,
        "still pending before the upgrade"
    );
    // An upgrade: the heap (KV cache, forward pass) is gone.
    let mut engine = Engine::init(memory).unwrap();
    engine
        .set_job_step_budget(env.message(controller()), 10_000)
        .unwrap();
    let steps = run(&mut engine, &env, id);
    let split = status(&engine, &env, id);
    assert_eq!(split.progress.restarts, 1);
    assert_eq!(split.tokens, whole.tokens);
    assert_eq!(split.completion, whole.completion);
    assert!(
        split.progress.messages > steps,
        "{} messages",
        split.progress.messages
    );
    let (GenerationState::Done(a), GenerationState::Done(b)) = (&whole.state, &split.state) else {
        panic!()
    };
    assert_eq!((&a.output_hash, &a.kind), (&b.output_hash, &b.kind));
}

#[test]
fn a_seed_replays_its_sample_and_stops_cut_the_completion() {
    let (mut engine, _, env) = engine();
    let first = generate(&mut engine, &env, sampled("The king", 7));
    let again = generate(&mut engine, &env, sampled("The king", 7));
    let other = generate(&mut engine, &env, sampled("The king", 8));
    assert_eq!(first.tokens, again.tokens);
    assert_eq!(first.completion, again.completion);
    assert_ne!(first.tokens, other.tokens, "another seed, another sample");
    let short = generate(&mut engine, &env, greedy("The king", 3));
    assert_eq!(short.tokens.len(), 3);
    let GenerationState::Done(entry) = &short.state else {
        panic!()
    };
    let Some(EntryKind::Generation(receipt)) = &entry.kind else {
        panic!()
    };
    assert_eq!(receipt.stop_reason, StopReason::MaxNewTokens);
    // Stop at the second token's text: the completion is the first token's bytes only.
    let tokenizer = Tokenizer::from_json(&read("tokenizer.json")).unwrap();
    let second = String::from_utf8(tokenizer.token_bytes(short.tokens[1]).to_vec()).unwrap();
    let first_bytes = tokenizer.token_bytes(short.tokens[0]).to_vec();
    if !String::from_utf8_lossy(&first_bytes).contains(second.as_str()) {
        let stopped = generate(
            &mut engine,
            &env,
            GenerateArgs {
                stop: vec![second.clone()],
                ..greedy("The king", 30)
            },
        );
        let GenerationState::Done(entry) = &stopped.state else {
            panic!()
        };
        let Some(EntryKind::Generation(receipt)) = &entry.kind else {
            panic!()
        };
        assert_eq!(receipt.stop_reason, StopReason::StopSequence);
        assert_eq!(stopped.completion.to_vec(), first_bytes);
        assert_eq!(entry.output_hash[..], completion_hash(&first_bytes));
    }
}

#[test]
fn cancelling_a_generation_writes_no_entry() {
    let (mut engine, _, env) = engine();
    let id = engine
        .generate_start(env.message(alice()), greedy("The king", 40))
        .unwrap();
    engine
        .set_job_step_budget(env.message(controller()), 10_000)
        .unwrap();
    env.per_read.set(2_000);
    for _ in 0..5 {
        engine
            .job_step(env.message(Principal::management_canister()), id)
            .unwrap();
    }
    engine.job_cancel(env.message(alice()), id).unwrap();
    assert_eq!(status(&engine, &env, id).state, GenerationState::Cancelled);
    assert_eq!(work_entries(&engine), 0);
}

#[test]
fn bad_generations_are_typed_errors() {
    let (mut engine, _, env) = engine();
    let start =
        |engine: &mut Engine<VectorMemory>, args| engine.generate_start(env.message(alice()), args);
    let long = "word ".repeat(200);
    assert!(matches!(
        start(&mut engine, greedy(&long, 1)),
        Err(Error::LimitExceeded { limit, max: 127, .. }) if limit.starts_with("context_length")
    ));
    assert!(
        matches!(start(&mut engine, greedy("", 1)), Err(Error::InvalidArgument { field, .. }) if field == "prompt")
    );
    assert!(
        matches!(start(&mut engine, greedy("a", 0)), Err(Error::InvalidArgument { field, .. }) if field == "max_new_tokens")
    );
    assert!(matches!(
        start(&mut engine, greedy("a", 5000)),
        Err(Error::LimitExceeded { .. })
    ));
    let mut bad = sampled("a", 1);
    if let Sampling::Sample(s) = &mut bad.sampling {
        s.temperature = -1.0;
    }
    assert!(
        matches!(start(&mut engine, bad), Err(Error::InvalidArgument { field, .. }) if field == "sampling.temperature")
    );
    let missing = GenerateArgs {
        model_id: "nope".into(),
        ..greedy("a", 1)
    };
    assert!(matches!(
        start(&mut engine, missing),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(work_entries(&engine), 0);
}

#[test]
fn a_wrong_tokenizer_fails_finalize_with_a_typed_error() {
    let memory = VectorMemory::default();
    let mut engine = Engine::init(memory).unwrap();
    let env = Env::new();
    let tokenizer = read("tokenizer.json");
    let mut other = tokenizer.clone();
    other.push(b' ');
    // Declared hash of `tokenizer`, uploaded bytes of another file of the same length.
    let mut lm = language_model(&tokenizer);
    lm.tokenizer.size_bytes = other.len() as u64;
    let refused = upload(&mut engine, &env, "tiny", lm, &other);
    assert!(
        matches!(refused, Err(Error::TokenizerRejected { reason }) if reason.contains("SHA-256")),
    );
    // Not a tokenizer at all, hashed right.
    let junk = b"{\"model\": 1}".to_vec();
    let refused = upload(&mut engine, &env, "tiny2", language_model(&junk), &junk);
    assert!(matches!(refused, Err(Error::TokenizerRejected { .. })));
    // A declaration that names no input of the graph.
    let mut lm = language_model(&tokenizer);
    lm.input_ids = "tokens".into();
    let refused = upload(&mut engine, &env, "tiny3", lm, &tokenizer);
    assert!(
        matches!(refused, Err(Error::ModelRejected { reason }) if reason.contains("input_ids")),
    );
}

#[test]
fn the_tokenizer_is_uploaded_under_the_models_rules() {
    let mut engine = Engine::init(VectorMemory::default()).unwrap();
    let env = Env::new();
    let onnx = read("tiny-gpt.onnx");
    let tokenizer = read("tokenizer.json");
    engine
        .create_model(
            env.message(controller()),
            CreateModelArgs {
                id: "tiny".into(),
                sha256: ByteBuf::from(Sha256::digest(&onnx).to_vec()),
                size_bytes: onnx.len() as u64,
                description: None,
                input_facts: None,
                language_model: Some(language_model(&tokenizer)),
            },
        )
        .unwrap();
    for (i, chunk) in onnx.chunks(CHUNK_BYTES as usize).enumerate() {
        let args = UploadChunkArgs {
            id: "tiny".into(),
            offset: i as u64 * CHUNK_BYTES,
            data: ByteBuf::from(chunk.to_vec()),
        };
        engine
            .upload_model_chunk(env.message(controller()), args)
            .unwrap();
    }
    // upload_status lists what is missing of each file, so a client resends only that.
    let tokenizer_status = |received: u32, missing: Vec<u32>| {
        Some(icinfer_api::TokenizerUpload {
            size_bytes: tokenizer.len() as u64,
            chunks_total: 1,
            chunks_received: received,
            missing_chunks: missing,
        })
    };
    let status = engine.upload_status("tiny").unwrap();
    assert_eq!(status.missing_chunks, Vec::<u32>::new());
    assert_eq!(status.tokenizer, tokenizer_status(0, vec![0]));
    // Finalize waits for the tokenizer's chunks as for the model's.
    assert!(matches!(
        engine.finalize_model(env.message(controller()), "tiny"),
        Err(Error::UploadIncomplete {
            missing_chunks: 1,
            ..
        })
    ));
    let chunk = |data: &[u8]| UploadChunkArgs {
        id: "tiny".into(),
        offset: 0,
        data: ByteBuf::from(data.to_vec()),
    };
    let sent = engine
        .upload_tokenizer_chunk(env.message(controller()), chunk(&tokenizer))
        .unwrap();
    assert_eq!((sent.chunks_received, sent.chunks_total), (1, 1));
    assert_eq!(
        engine.upload_status("tiny").unwrap().tokenizer,
        tokenizer_status(1, vec![])
    );
    // Sent again, the same bytes change nothing; other bytes are refused, as for a model.
    let again = engine
        .upload_tokenizer_chunk(env.message(controller()), chunk(&tokenizer))
        .unwrap();
    assert_eq!(again, sent);
    let mut other = tokenizer.clone();
    other[0] ^= 1;
    assert!(matches!(
        engine.upload_tokenizer_chunk(env.message(controller()), chunk(&other)),
        Err(Error::InvalidState { reason, .. }) if reason.contains("cannot be rewritten")
    ));
    let info = engine
        .finalize_model(env.message(controller()), "tiny")
        .unwrap();
    assert!(info.language_model.is_some());
}

/// Entries other than the models' own (kind 4, one per finalize): what the work logged.
fn work_entries(engine: &Engine<VectorMemory>) -> u64 {
    (0..engine.log_size())
        .filter(|&i| !matches!(engine.log_entry(i).unwrap().kind, Some(EntryKind::Model(_))))
        .count() as u64
}

/// Below this top-2 margin of onnxruntime's logits, the two runtimes' rounding (different
/// summation orders, f32) may pick the other token: greedy tokens must be equal only while
/// every margin so far is above it.
const NEAR_TIE: f32 = 1e-3;

/// A `.npy` of little-endian f32 (numpy's `np.save` of a C-order array): its shape and values.
fn read_npy_f32(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not a .npy file");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape[..shape.find(')').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The conformance rule against onnxruntime's decode loop (models/gpt.py `greedy_decode`,
/// which saved every step's logits along its own greedy path): our forward passes take
/// onnxruntime's tokens, one per step, so that both runtimes see the same context at every
/// step; our greedy choice must be onnxruntime's at every step up to the first near-tie
/// (a top-2 margin under `NEAR_TIE`), and our logits must be within `logit_tolerance` of
/// onnxruntime's at every step, before and after it. Returns the largest difference.
fn check_against_onnxruntime(
    onnx: Vec<u8>,
    tokenizer: &[u8],
    declared: &LanguageModel,
    reference_dir: &std::path::Path,
    logit_tolerance: f32,
) -> f32 {
    use icinfer_core::generation::{Generation, Language};
    let loaded = icinfer_core::runtime::load(onnx, &[]).unwrap();
    let language = Language::new(
        declared,
        Tokenizer::from_json(tokenizer).unwrap(),
        &loaded.inputs,
        &loaded.outputs,
    )
    .unwrap();
    let generation: Value =
        serde_json::from_slice(&std::fs::read(reference_dir.join("generation.json")).unwrap())
            .unwrap();
    let mut largest = 0f32;
    for case in generation["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let prompt_ids = ids(&case["prompt_ids"]);
        assert_eq!(language.tokenizer.encode(prompt), prompt_ids, "{prompt:?}");
        let expected = ids(&case["greedy_ids"]);
        let margins: Vec<f32> = case["top2_margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap() as f32)
            .collect();
        let file = case["step_logits"].as_str().unwrap();
        let (shape, reference) = read_npy_f32(&std::fs::read(reference_dir.join(file)).unwrap());
        assert_eq!(shape[0], expected.len());
        let vocabulary = shape[1];
        let first_tie = margins.iter().position(|&m| m < NEAR_TIE);
        let mut generation = Generation::new(&language, prompt_ids).unwrap();
        for (step, &token) in expected.iter().enumerate() {
            let logits = loop {
                let run = generation.forward(&loaded.plan, &language).unwrap();
                while !run.is_finished() {
                    run.step().unwrap();
                }
                if let Some(logits) = generation.finish_forward(&language).unwrap() {
                    break logits;
                }
            };
            assert_eq!(logits.len(), vocabulary);
            let theirs = &reference[step * vocabulary..(step + 1) * vocabulary];
            let difference = logits
                .iter()
                .zip(theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                difference <= logit_tolerance,
                "{prompt:?} step {step}: logits differ by {difference} (tolerance {logit_tolerance})"
            );
            largest = largest.max(difference);
            if first_tie.is_none_or(|tie| step < tie) {
                assert_eq!(argmax(&logits), token, "{prompt:?} step {step}");
            }
            generation.ids.push(token);
        }
        println!(
            "{prompt:?}: {} steps, greedy equal up to {}, logits within {largest:e}",
            expected.len(),
            first_tie.map_or("the end".to_string(), |t| format!(
                "the near-tie at step {t}"
            ))
        );
    }
    largest
}

/// CI: the tiny GPT against onnxruntime, step by step (see `check_against_onnxruntime`).
/// Its smallest top-2 margin (0.011, the first prompt's first step) is above `NEAR_TIE`, so
/// its greedy tokens must be onnxruntime's throughout; GPT-2's random weights (slow tier)
/// fall under it.
#[test]
fn the_tiny_gpts_logits_are_onnxruntimes_step_by_step_past_any_near_tie() {
    let tokenizer = read("tokenizer.json");
    let largest = check_against_onnxruntime(
        read("tiny-gpt.onnx"),
        &tokenizer,
        &language_model(&tokenizer),
        &dir().join("reference"),
        1e-4,
    );
    assert!(
        largest > 0.0,
        "two runtimes, bit-identical logits: check the reference"
    );
}

/// Slow tier: GPT-2 small with seeded random weights (models/make_gpt2.py; random weights
/// give near-ties), f32 and int8, natively (tract's x86-64 or aarch64 kernels).
#[test]
#[ignore = "slow tier: needs models/cache/gpt/gpt2 (scripts/gpt-models.sh gpt2)"]
fn gpt2s_logits_are_onnxruntimes_step_by_step_past_any_near_tie() {
    let gpt2 = dir().join("../cache/gpt/gpt2");
    let tokenizer = std::fs::read(gpt2.join("tokenizer.json")).unwrap();
    let mut declared = language_model(&tokenizer);
    declared.past = (0..12)
        .flat_map(|i| {
            ["key", "value"].map(|kv| KvPair {
                input: format!("past_key_values.{i}.{kv}"),
                output: format!("present.{i}.{kv}"),
            })
        })
        .collect();
    declared.context_length = 1024;
    declared.eos_token = Some(50256);
    for (model, tolerance) in [("gpt2", 1e-3), ("gpt2-int8", 5e-2)] {
        let onnx = std::fs::read(gpt2.join(format!("{model}.onnx"))).unwrap();
        let largest = check_against_onnxruntime(
            onnx,
            &tokenizer,
            &declared,
            &gpt2.join(format!("{model}-reference")),
            tolerance,
        );
        println!("{model}: logits within {largest:e} of onnxruntime's");
    }
}
