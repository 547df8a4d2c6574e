//! Text generation on the replica: the tiny GPT of models/tiny-gpt (committed;
//! models/make_tiny_gpt.py made it) uploaded with its tokenizer and declared a language model.
//!
//! Setup: the inference canister with the tiny GPT and the digits model; for the split
//! runs, the step budget lowered so that a generation takes many messages.
//! Runbook: start generations, tick the replica (each tick runs one step), and interleave
//! `infer`, cancellation, an upgrade and sampled generations without a seed (raw_rand).
//! Success criteria: greedy tokens are onnxruntime's; a generation repeated, split over
//! messages or restarted by an upgrade gives the same text and hashes; a seed replays its
//! sample; the receipt's hashes are the verifier's; cancellation logs nothing; bad
//! arguments are typed errors. Instructions per prompt token and per generated token are
//! printed (`[generate]` lines).

use candid::Principal;
use icinfer_api::{
    EntryKind, Error, GenerateArgs, GenerationState, GenerationStatus, InferArgs, LanguageModel,
    LogProof, LogProofArgs, ModelInfo, SampleSettings, Sampling, StopReason,
};
use icinfer_tests::gpt::{install_language_model, tiny_gpt_file, tiny_gpt_language_model};
use icinfer_tests::models::load_model;
use icinfer_tests::{InferenceCanister, LocalHost, Replica, ReplicaExt, canister_wasm};
use icinfer_verify::generation::{completion_hash, prompt_commitment, tokens_hash};
use icinfer_verify::{GenerationOpening, Held, Trust, VerifyError, report_log_proof};
use serde_bytes::ByteBuf;
use serde_json::Value;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

fn read(name: &str) -> Vec<u8> {
    tiny_gpt_file(name)
}

fn language_model(tokenizer: &[u8]) -> LanguageModel {
    tiny_gpt_language_model(tokenizer)
}

/// Creates, uploads (model and tokenizer) and finalizes the tiny GPT as "tiny".
fn install_tiny(replica: &mut (impl Replica + ?Sized), canister: Principal) -> ModelInfo {
    let (onnx, tokenizer) = (read("tiny-gpt.onnx"), read("tokenizer.json"));
    let info = install_language_model(
        replica,
        canister,
        controller(),
        "tiny",
        &onnx,
        &tokenizer,
        language_model(&tokenizer),
    );
    assert_eq!(info.language_model, Some(language_model(&tokenizer)));
    info
}

/// The tiny GPT and digits, installed.
fn canister() -> InferenceCanister {
    let mut canister = InferenceCanister::install(controller());
    let id = canister.id;
    let info = install_tiny(canister.replica.as_mut(), id);
    println!(
        "[generate] tiny: finalize (hash, parse, optimise, tokenizer) {} instructions",
        info.load_instructions.unwrap()
    );
    let digits = load_model("digits").unwrap();
    canister.install_model("digits", &digits.bytes);
    canister
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

fn sampled(prompt: &str, seed: Option<u8>) -> GenerateArgs {
    GenerateArgs {
        sampling: Sampling::Sample(SampleSettings {
            temperature: 0.9,
            top_k: Some(40),
            top_p: Some(0.95),
            seed: seed.map(|s| ByteBuf::from(vec![s; 32])),
        }),
        ..greedy(prompt, 16)
    }
}

fn start(canister: &mut InferenceCanister, caller: Principal, args: GenerateArgs) -> u64 {
    let started: Result<u64, Error> = canister.update(caller, "generate_start", args).unwrap();
    started.unwrap()
}

fn status(canister: &mut InferenceCanister, caller: Principal, id: u64) -> GenerationStatus {
    let (status,): (Result<GenerationStatus, Error>,) = canister
        .replica
        .query(canister.id, caller, "generation_status", (id,))
        .unwrap();
    status.unwrap()
}

fn finish(canister: &mut InferenceCanister, caller: Principal, id: u64) -> GenerationStatus {
    for _ in 0..100_000 {
        let now = status(canister, caller, id);
        if now.state != GenerationState::Pending {
            return now;
        }
        canister.replica.tick();
    }
    panic!("generation {id} does not finish");
}

fn generate(
    canister: &mut InferenceCanister,
    caller: Principal,
    args: GenerateArgs,
) -> GenerationStatus {
    let id = start(canister, caller, args);
    finish(canister, caller, id)
}

fn entry(status: &GenerationStatus) -> (&icinfer_api::LogEntry, &icinfer_api::GenerationReceipt) {
    let GenerationState::Done(entry) = &status.state else {
        panic!("generation {} is not done: {:?}", status.id, status.state)
    };
    let Some(EntryKind::Generation(receipt)) = &entry.kind else {
        panic!("not a generation's entry: {entry:?}")
    };
    (entry, receipt)
}

/// A step budget above the tiny GPT's dearest node on a prompt prefill (its logits' MatMul,
/// about 3 M), so that a generation takes a message every few forward passes.
const BUDGET: u64 = 20_000_000;

fn set_budget(canister: &mut InferenceCanister, budget: u64) {
    let set: Result<(), Error> = canister
        .update(controller(), "set_job_step_budget", budget)
        .unwrap();
    set.unwrap();
}

#[test]
fn greedy_generation_is_onnxruntimes_twice_over_with_the_receipts_hashes() {
    let mut canister = canister();
    let reference: Value = serde_json::from_slice(&read("reference/generation.json")).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let max = case["max_new_tokens"].as_u64().unwrap() as u32;
        let nonce = ByteBuf::from(vec![0x6e; 24]);
        let args = GenerateArgs {
            nonce: Some(nonce.clone()),
            ..greedy(prompt, max)
        };
        let first = generate(&mut canister, user(1), args.clone());
        let second = generate(&mut canister, user(1), args);
        let expected: Vec<u32> = case["greedy_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let margins: Vec<f64> = case["top2_margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect();
        let exact = margins
            .iter()
            .position(|&m| m < 1e-3)
            .unwrap_or(expected.len())
            .min(first.tokens.len());
        assert_eq!(first.tokens[..exact], expected[..exact], "{prompt}");
        assert_eq!(first.tokens, second.tokens);
        assert_eq!(first.completion, second.completion);
        let ((a, receipt), (b, _)) = (entry(&first), entry(&second));
        assert_eq!(
            (&a.output_hash, &a.input_hash, &a.kind),
            (&b.output_hash, &b.input_hash, &b.kind)
        );
        assert_eq!(
            a.input_hash[..],
            prompt_commitment(prompt, Some(&nonce)).unwrap()
        );
        assert!(a.input_salted);
        assert_eq!(a.output_hash[..], completion_hash(&first.completion));
        assert_eq!(
            receipt.completion_tokens_sha256[..],
            tokens_hash(&first.tokens)
        );
        assert_eq!(receipt.prompt_tokens, first.progress.prompt_tokens);
        let p = &first.progress;
        println!(
            "[generate] tiny {prompt:?}: {} prompt + {} generated tokens in {} messages, {} instructions, {:.0} per token",
            p.prompt_tokens,
            p.generated_tokens,
            p.messages,
            p.instructions,
            p.instructions as f64 / f64::from(p.prompt_tokens + p.generated_tokens)
        );
    }
}

#[test]
fn an_upgrade_mid_generation_restarts_it_and_it_ends_with_the_same_text() {
    let mut canister = canister();
    let whole = generate(&mut canister, user(2), greedy("The king", 24));
    set_budget(&mut canister, BUDGET);
    let id = start(&mut canister, user(2), greedy("The king", 24));
    for _ in 0..4 {
        canister.replica.tick();
    }
    let before = status(&mut canister, user(2), id);
    assert_eq!(before.state, GenerationState::Pending);
    canister.upgrade();
    let after = finish(&mut canister, user(2), id);
    assert_eq!(after.progress.restarts, 1);
    assert!(after.progress.messages > before.progress.messages);
    assert_eq!(after.tokens, whole.tokens);
    assert_eq!(after.completion, whole.completion);
    assert_eq!(entry(&after).0.output_hash, entry(&whole).0.output_hash);
    assert_eq!(canister.inference_log_size(), 2);
}

#[test]
fn seeds_replay_and_unseeded_samples_draw_and_record_theirs() {
    let mut canister = canister();
    let a = generate(
        &mut canister,
        user(3),
        sampled("And the LORD said", Some(5)),
    );
    let b = generate(
        &mut canister,
        user(3),
        sampled("And the LORD said", Some(5)),
    );
    assert_eq!((&a.tokens, &a.completion), (&b.tokens, &b.completion));
    // No seed: the first step draws one from raw_rand, and the receipt names it, so the
    // generation replays from the receipt.
    let drawn = generate(&mut canister, user(3), sampled("And the LORD said", None));
    let Sampling::Sample(settings) = &entry(&drawn).1.sampling else {
        panic!()
    };
    let seed = settings
        .seed
        .clone()
        .expect("the drawn seed is in the receipt");
    assert_eq!(seed.len(), 32);
    let replay = GenerateArgs {
        sampling: entry(&drawn).1.sampling.clone(),
        ..sampled("And the LORD said", None)
    };
    let replayed = generate(&mut canister, user(3), replay);
    assert_eq!(replayed.tokens, drawn.tokens);
}

#[test]
fn stops_and_max_new_tokens_end_the_completion() {
    let mut canister = canister();
    let three = generate(&mut canister, user(4), greedy("Blessed are the", 3));
    assert_eq!(three.tokens.len(), 3);
    assert_eq!(entry(&three).1.stop_reason, StopReason::MaxNewTokens);
    // A stop sequence of the completion's own text cuts it there; the hash is of the cut.
    let text = String::from_utf8(three.completion.to_vec()).unwrap();
    let stop = text.trim_start().chars().take(2).collect::<String>();
    let at = text.find(&stop).unwrap();
    let stopped = generate(
        &mut canister,
        user(4),
        GenerateArgs {
            stop: vec![stop.clone()],
            ..greedy("Blessed are the", 30)
        },
    );
    let (entry, receipt) = entry(&stopped);
    assert_eq!(receipt.stop_reason, StopReason::StopSequence);
    assert_eq!(stopped.completion[..], three.completion[..at]);
    assert_eq!(entry.output_hash[..], completion_hash(&stopped.completion));
}

#[test]
fn bad_generations_are_typed_errors_and_cancelled_ones_log_nothing() {
    let mut canister = canister();
    let refused = |canister: &mut InferenceCanister, args: GenerateArgs| -> Error {
        let started: Result<u64, Error> = canister.update(user(5), "generate_start", args).unwrap();
        started.unwrap_err()
    };
    let long = "word ".repeat(300);
    assert!(
        matches!(refused(&mut canister, greedy(&long, 4)), Error::LimitExceeded { limit, .. } if limit.starts_with("context_length"))
    );
    assert!(
        matches!(refused(&mut canister, greedy("", 4)), Error::InvalidArgument { field, .. } if field == "prompt")
    );
    assert!(matches!(
        refused(&mut canister, greedy("a", 0)),
        Error::InvalidArgument { .. }
    ));
    let digits = GenerateArgs {
        model_id: "digits".into(),
        ..greedy("a", 4)
    };
    assert!(
        matches!(refused(&mut canister, digits), Error::InvalidState { reason, .. } if reason.contains("not a language model"))
    );
    let mut bad = sampled("a", Some(1));
    if let Sampling::Sample(s) = &mut bad.sampling {
        s.top_p = Some(2.0);
    }
    assert!(
        matches!(refused(&mut canister, bad), Error::InvalidArgument { field, .. } if field == "sampling.top_p")
    );
    set_budget(&mut canister, BUDGET);
    let id = start(&mut canister, user(5), greedy("The king", 40));
    canister.replica.tick();
    let others: Result<GenerationStatus, Error> = canister
        .replica
        .query::<_, (Result<GenerationStatus, Error>,)>(
            canister.id,
            user(6),
            "generation_status",
            (id,),
        )
        .unwrap()
        .0;
    assert!(
        matches!(others, Err(Error::Unauthorized { .. })),
        "the text is the caller's"
    );
    let cancelled: Result<(), Error> = canister.update(user(5), "job_cancel", id).unwrap();
    cancelled.unwrap();
    for _ in 0..5 {
        canister.replica.tick();
    }
    assert_eq!(
        status(&mut canister, user(5), id).state,
        GenerationState::Cancelled
    );
    assert_eq!(canister.inference_log_size(), 0);
}

#[test]
fn generations_interleave_with_plain_infer_calls() {
    let mut canister = canister();
    let alone = generate(&mut canister, user(7), greedy("In the beginning", 12));
    let digits = load_model("digits").unwrap();
    let infer_args = InferArgs {
        model_id: "digits".into(),
        inputs: digits.cases[0].inputs.clone(),
        nonce: None,
    };
    let expected = canister.infer(user(8), infer_args.clone()).unwrap();
    set_budget(&mut canister, BUDGET);
    let ids: Vec<(Principal, u64)> = (0..3)
        .map(|n| {
            (
                user(20 + n),
                start(&mut canister, user(20 + n), greedy("In the beginning", 12)),
            )
        })
        .collect();
    for _ in 0..6 {
        let got = canister.infer(user(8), infer_args.clone()).unwrap();
        assert_eq!(got.outputs, expected.outputs);
        canister.replica.tick();
    }
    for (caller, id) in ids {
        let done = finish(&mut canister, caller, id);
        entry(&done);
        assert_eq!(done.tokens, alone.tokens);
        assert!(done.progress.messages > 2);
    }
    assert_eq!(canister.inference_log_size(), 1 + 1 + 6 + 3);
}

#[test]
fn a_generation_receipt_is_proven_with_its_prompt_completion_and_tokens() {
    let mut local = LocalHost::new();
    let id = local.create_canister(controller());
    local.install(
        id,
        &canister_wasm("inference"),
        candid::encode_args(()).unwrap(),
        controller(),
    );
    install_tiny(&mut local, id);
    let nonce = vec![0x17; 32];
    let prompt = "Blessed are the";
    let args = GenerateArgs {
        nonce: Some(ByteBuf::from(nonce.clone())),
        ..sampled(prompt, Some(9))
    };
    let (started,): (Result<u64, Error>,) = local
        .update(id, user(9), "generate_start", (args,))
        .unwrap();
    let job = started.unwrap();
    let done = loop {
        let (now,): (Result<GenerationStatus, Error>,) = local
            .query(id, user(9), "generation_status", (job,))
            .unwrap();
        let now = now.unwrap();
        if now.state != GenerationState::Pending {
            break now;
        }
        local.tick();
    };
    let (receipt, _) = entry(&done);
    let (proof,): (Result<LogProof, Error>,) = local
        .query(
            id,
            user(9),
            "log_proof",
            (LogProofArgs {
                index: receipt.seq,
                tree_size: None,
            },),
        )
        .unwrap();
    let proof = proof.unwrap();
    let trust = Trust {
        root_key: local.host.root_key_der(),
        canister_id: id,
        now_ns: local.host.time_ns(),
        max_age_ns: 300_000_000_000,
    };
    let held = |completion: &[u8], tokens: &[u32], nonce: Option<&[u8]>| {
        let held = Held {
            receipt: Some(receipt),
            generation: Some(GenerationOpening {
                prompt,
                nonce,
                completion,
                tokens,
            }),
            ..Held::default()
        };
        report_log_proof(&proof, &trust, &held).into_result()
    };
    let proven = held(&done.completion, &done.tokens, Some(&nonce)).unwrap();
    assert!(proven.tensors_checked);
    assert_eq!(&proven.entry, receipt);
    let mut other = done.completion.to_vec();
    other.push(b'!');
    assert_eq!(
        held(&other, &done.tokens, Some(&nonce)).unwrap_err(),
        VerifyError::OutputHashMismatch
    );
    assert_eq!(
        held(&done.completion, &done.tokens[1..], Some(&nonce)).unwrap_err(),
        VerifyError::CompletionTokensMismatch
    );
    assert_eq!(
        held(&done.completion, &done.tokens, Some(&[0x18; 32])).unwrap_err(),
        VerifyError::InputHashMismatch
    );
}
