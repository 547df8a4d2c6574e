//! Replays of entries made here by the built module (target/wasm32-unknown-unknown/release,
//! `bash scripts/build-canister.sh`): each original runs on a local host as on the IC, and
//! the replay must reproduce it, or fail with the reason when one thing is changed.

use super::local::Replayer;
use super::*;
use crate::tensors::read_npy;
use icinfer_api::{
    DType, Dim, KvPair, LanguageModel, LogPage, LogPageArgs, SampleSettings, Sampling, TensorData,
    TensorFact, TokenizerFile,
};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> Vec<u8> {
    let path = workspace().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The module as dfx installs it: gzipped.
const MODULE: &str = "target/wasm32-unknown-unknown/release/inference.wasm.gz";

/// An entry the built module wrote, and everything a user keeps to replay it.
struct Original {
    module: Vec<u8>,
    model: Vec<u8>,
    tokenizer: Option<Vec<u8>>,
    entry: LogEntry,
    model_entry: LogEntry,
    inputs: Vec<Tensor>,
    nonce: Option<Vec<u8>>,
    outputs: Vec<Tensor>,
    /// A generation's prompt, completion and tokens.
    generation: Option<(String, Vec<u8>, Vec<u32>)>,
}

impl Original {
    fn request(&self) -> Replay<'_> {
        Replay {
            entry: &self.entry,
            module_hash: Sha256::digest(&self.module).into(),
            model_entry: &self.model_entry,
            module: &self.module,
            model: &self.model,
            tokenizer: self.tokenizer.as_deref(),
            work: match &self.generation {
                Some((prompt, completion, tokens)) => Work::Generation {
                    prompt,
                    nonce: self.nonce.as_deref(),
                    completion,
                    tokens,
                },
                None => Work::Inference {
                    inputs: &self.inputs,
                    nonce: self.nonce.as_deref(),
                    outputs: &self.outputs,
                },
            },
        }
    }

    fn replay(&self) -> Result<Replayed, ReplayError> {
        replay(&self.request())
    }
}

/// The latest model entry (kind 4) in the canister's log.
fn latest_model_entry(canister: &mut Replayer) -> LogEntry {
    let page: LogPage = canister
        .call(
            "log_entries",
            "log_entries",
            (LogPageArgs {
                start: 0,
                limit: 100,
            },),
            true,
        )
        .unwrap();
    page.entries
        .into_iter()
        .rev()
        .find(|e| matches!(e.kind, Some(EntryKind::Model(_))))
        .expect("finalize logged a model entry")
}

const NONCE: [u8; 16] = [0x9e; 16];

fn original_inference(
    model: &str,
    id: &str,
    facts: Vec<TensorFact>,
    inputs: Vec<Tensor>,
) -> Original {
    let (module, model) = (read(MODULE), read(model));
    let mut canister = Replayer::install(&module).unwrap();
    let declaration = ModelDeclaration {
        input_facts: facts.clone(),
        language_model: None,
    };
    canister.load_model(id, &model, None, &declaration).unwrap();
    let model_entry = latest_model_entry(&mut canister);
    assert_eq!(
        model_entry.kind,
        Some(EntryKind::Model(Box::new(declaration)))
    );
    let result = canister.infer(id, &inputs, Some(&NONCE)).unwrap();
    assert!(model_entry.seq < result.receipt.seq);
    Original {
        module,
        model,
        tokenizer: None,
        entry: result.receipt,
        model_entry,
        inputs,
        nonce: Some(NONCE.to_vec()),
        outputs: result.outputs,
        generation: None,
    }
}

fn npy(name: &str, relative: &str) -> Tensor {
    read_npy(name, &workspace().join(relative)).unwrap()
}

fn digits() -> Original {
    original_inference(
        "models/digits/digits.onnx",
        "digits",
        Vec::new(),
        vec![npy("pixels", "models/digits/reference/case0_in_pixels.npy")],
    )
}

fn flip_first_byte(tensor: &mut Tensor) {
    match &mut tensor.data {
        TensorData::F32(v) => v[0] = f32::from_bits(v[0].to_bits() ^ 1),
        TensorData::I64(v) => v[0] ^= 1,
        other => panic!("no byte flip for {other:?}"),
    }
}

fn differs(result: Result<Replayed, ReplayError>) -> &'static str {
    match result {
        Err(ReplayError::Differs { field, .. }) => field,
        other => panic!("expected a difference, got {other:?}"),
    }
}

#[test]
fn an_image_inference_replays_exactly_and_every_change_is_named() {
    let original = digits();
    let replayed = original.replay().unwrap();
    assert_eq!(replayed.receipt.output_hash, original.entry.output_hash);
    assert_eq!(replayed.receipt.input_hash, original.entry.input_hash);
    assert!(replayed.instructions > 0);

    let mut changed_input = digits_like(&original);
    flip_first_byte(&mut changed_input.inputs[0]);
    assert_eq!(changed_input.replay().unwrap_err(), ReplayError::InputHash);

    let mut other_model = digits_like(&original);
    other_model.model = read("models/tiny/affine.onnx");
    let error = other_model.replay().unwrap_err();
    assert!(matches!(error, ReplayError::ModelHash { .. }), "{error}");
    assert!(
        error.to_string().contains("the model file has SHA-256"),
        "{error}"
    );

    // The IC hashes the module as installed: the same module uncompressed is another hash.
    let mut raw_module = digits_like(&original);
    raw_module.module = read("target/wasm32-unknown-unknown/release/inference.wasm");
    let error = replay(&Replay {
        module_hash: Sha256::digest(&original.module).into(),
        ..raw_module.request()
    })
    .unwrap_err();
    assert!(matches!(error, ReplayError::ModuleHash { .. }), "{error}");
    assert!(error.to_string().contains("hashed compressed"), "{error}");

    let mut forged_output = digits_like(&original);
    forged_output.entry.output_hash = ByteBuf::from(vec![0xf0; 32]);
    assert_eq!(differs(forged_output.replay()), "output hash");

    let mut forged_bytes = digits_like(&original);
    flip_first_byte(&mut forged_bytes.outputs[1]);
    assert_eq!(differs(forged_bytes.replay()), "output bytes");
}

/// The original's entries and files, to change one of them.
fn digits_like(original: &Original) -> Original {
    Original {
        module: original.module.clone(),
        model: original.model.clone(),
        tokenizer: original.tokenizer.clone(),
        entry: original.entry.clone(),
        model_entry: original.model_entry.clone(),
        inputs: original.inputs.clone(),
        nonce: original.nonce.clone(),
        outputs: original.outputs.clone(),
        generation: original.generation.clone(),
    }
}

fn cls_facts(width: u64) -> Vec<TensorFact> {
    vec![TensorFact {
        name: "x".into(),
        dtype: DType::F32,
        shape: [1, 3, 48, width].map(Dim::Fixed).to_vec(),
    }]
}

/// PP-OCR's direction classifier (fetched by scripts/test.sh) runs only with its input's
/// size declared: the facts come from the model entry.
#[test]
fn declared_facts_come_from_the_model_entry_and_a_wrong_record_fails() {
    let original = original_inference(
        "models/cache/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "cls",
        cls_facts(192),
        vec![npy("x", "models/ppocr/cls/case0_in_x.npy")],
    );
    original.replay().unwrap();

    let with_facts = |facts| {
        let mut changed = digits_like(&original);
        changed.model_entry.kind = Some(EntryKind::Model(Box::new(ModelDeclaration {
            input_facts: facts,
            language_model: None,
        })));
        changed.replay().unwrap_err()
    };
    let error = with_facts(cls_facts(96));
    assert!(
        matches!(error, ReplayError::Refused { step: "infer", .. }),
        "{error}"
    );
    // Without the declaration the model does not load as the canister loaded it.
    let error = with_facts(Vec::new());
    assert!(matches!(error, ReplayError::Refused { .. }), "{error}");

    let mut other_model = digits_like(&original);
    other_model.model_entry.model_id = "other".into();
    let error = other_model.replay().unwrap_err();
    assert!(matches!(error, ReplayError::ModelEntry(_)), "{error}");
    let mut later = digits_like(&original);
    later.model_entry.seq = original.entry.seq + 1;
    assert!(matches!(later.replay(), Err(ReplayError::ModelEntry(_))));
    let mut not_a_model = digits_like(&original);
    not_a_model.model_entry.kind = None;
    assert!(matches!(
        not_a_model.replay(),
        Err(ReplayError::ModelEntry(_))
    ));
}

const TINY_GPT: &str = "models/tiny-gpt/tiny-gpt.onnx";
const TOKENIZER: &str = "models/tiny-gpt/tokenizer.json";

/// tiny-gpt as a text model: token ids in, logits and the KV cache out, one pass.
#[test]
fn a_text_model_inference_replays_exactly() {
    // Ids within the vocabulary of 1,024.
    let ids = [464i64, 110, 286, 262, 453];
    let mut inputs = vec![Tensor {
        name: "input_ids".into(),
        shape: vec![1, ids.len() as u64],
        data: TensorData::I64(ids.to_vec()),
    }];
    for layer in 0..4 {
        for kv in ["key", "value"] {
            inputs.push(Tensor {
                name: format!("past_key_values.{layer}.{kv}"),
                shape: vec![1, 4, 0, 32],
                data: TensorData::F32(Vec::new()),
            });
        }
    }
    let original = original_inference(TINY_GPT, "tiny-gpt", Vec::new(), inputs);
    let replayed = original.replay().unwrap();
    assert_eq!(replayed.receipt.output_hash, original.entry.output_hash);
    let mut changed = digits_like(&original);
    flip_first_byte(&mut changed.inputs[0]);
    assert_eq!(changed.replay().unwrap_err(), ReplayError::InputHash);
}

fn tiny_gpt_declaration(tokenizer: &[u8]) -> ModelDeclaration {
    ModelDeclaration {
        input_facts: Vec::new(),
        language_model: Some(LanguageModel {
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
        }),
    }
}

fn original_generation(sampling: Sampling, stop: Vec<String>) -> Original {
    let (module, model, tokenizer) = (read(MODULE), read(TINY_GPT), read(TOKENIZER));
    let mut canister = Replayer::install(&module).unwrap();
    let declaration = tiny_gpt_declaration(&tokenizer);
    canister
        .load_model("tiny-gpt", &model, Some(&tokenizer), &declaration)
        .unwrap();
    let model_entry = latest_model_entry(&mut canister);
    let prompt = "And the LORD said unto Moses,";
    let status = canister
        .generate(GenerateArgs {
            model_id: "tiny-gpt".into(),
            prompt: prompt.into(),
            max_new_tokens: 24,
            sampling,
            stop,
            nonce: Some(ByteBuf::from(NONCE.to_vec())),
        })
        .unwrap();
    let GenerationState::Done(entry) = status.state else {
        panic!("the generation ended as {:?}", status.state);
    };
    Original {
        module,
        model,
        tokenizer: Some(tokenizer),
        entry,
        model_entry,
        inputs: Vec::new(),
        nonce: Some(NONCE.to_vec()),
        outputs: Vec::new(),
        generation: Some((prompt.into(), status.completion.to_vec(), status.tokens)),
    }
}

#[test]
fn a_sampled_generation_replays_exactly_from_its_seed() {
    let sampling = Sampling::Sample(SampleSettings {
        temperature: 0.8,
        top_k: Some(40),
        top_p: Some(0.95),
        seed: Some(ByteBuf::from(vec![7; 32])),
    });
    let original = original_generation(sampling, Vec::new());
    let replayed = original.replay().unwrap();
    assert_eq!(replayed.receipt.output_hash, original.entry.output_hash);
    let Some(EntryKind::Generation(receipt)) = &original.entry.kind else {
        panic!("a generation entry");
    };
    assert_eq!(receipt.generated_tokens, 24);

    let mut forged = digits_like(&original);
    if let Some((_, completion, _)) = &mut forged.generation {
        completion[0] ^= 1;
    }
    assert_eq!(differs(forged.replay()), "completion");

    let mut other_seed = digits_like(&original);
    if let Some(EntryKind::Generation(receipt)) = &mut other_seed.entry.kind {
        receipt.sampling = Sampling::Sample(SampleSettings {
            temperature: 0.8,
            top_k: Some(40),
            top_p: Some(0.95),
            seed: Some(ByteBuf::from(vec![8; 32])),
        });
    }
    let field = differs(other_seed.replay());
    assert!(
        ["completion tokens hash", "generation receipt"].contains(&field),
        "{field}"
    );

    let mut other_tokenizer = digits_like(&original);
    other_tokenizer.tokenizer = Some(b"{}".to_vec());
    assert!(matches!(
        other_tokenizer.replay(),
        Err(ReplayError::Tokenizer(_))
    ));
    let mut no_tokenizer = digits_like(&original);
    no_tokenizer.tokenizer = None;
    assert!(matches!(
        no_tokenizer.replay(),
        Err(ReplayError::Tokenizer(_))
    ));
}

#[test]
fn a_generation_cut_by_a_stop_sequence_replays_as_a_prefix() {
    // A stop sequence taken from the greedy completion itself, so that it surely cuts.
    let uncut = original_generation(Sampling::Greedy, Vec::new());
    let text = String::from_utf8_lossy(&uncut.generation.as_ref().unwrap().1).into_owned();
    let stop: String = text
        .chars()
        .skip(text.chars().count() / 2)
        .take(3)
        .collect();
    assert_eq!(
        stop.chars().count(),
        3,
        "the completion {text:?} is too short"
    );
    let original = original_generation(Sampling::Greedy, vec![stop.clone()]);
    let Some(EntryKind::Generation(receipt)) = &original.entry.kind else {
        panic!("a generation entry");
    };
    assert_eq!(
        receipt.stop_reason,
        StopReason::StopSequence,
        "{text:?} / {stop:?}"
    );
    let replayed = original.replay().unwrap();
    assert_ne!(
        replayed.receipt.output_hash, original.entry.output_hash,
        "the replay runs past the cut (no stop sequences in the receipt)"
    );
}
