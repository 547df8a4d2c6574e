//! The tiny GPT of models/tiny-gpt (committed; models/make_tiny_gpt.py made it: a 4-layer
//! GPT-2-style decoder trained on a registry text corpus, its tokenizer.json and
//! onnxruntime's greedy references), and how a language model is installed.

use crate::{CHUNK_BYTES, Replica, ReplicaExt, workspace_root};
use candid::Principal;
use icinfer_api::{
    CreateModelArgs, Error, KvPair, LanguageModel, ModelInfo, ModelState, TokenizerFile,
    UploadChunkArgs, UploadProgress,
};
use serde_bytes::ByteBuf;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub struct TinyGpt {
    pub onnx: Vec<u8>,
    pub tokenizer: Vec<u8>,
    /// reference/generation.json: per prompt, onnxruntime's greedy tokens.
    pub reference: Value,
    pub parameters: u64,
}

pub fn tiny_gpt_file(name: &str) -> Vec<u8> {
    let path = workspace_root().join("models/tiny-gpt").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the tiny GPT is committed in models/tiny-gpt",
            path.display()
        )
    })
}

pub fn tiny_gpt() -> TinyGpt {
    let training: Value = serde_json::from_slice(&tiny_gpt_file("training.json")).unwrap();
    TinyGpt {
        onnx: tiny_gpt_file("tiny-gpt.onnx"),
        tokenizer: tiny_gpt_file("tokenizer.json"),
        reference: serde_json::from_slice(&tiny_gpt_file("reference/generation.json")).unwrap(),
        parameters: training["model"]["parameters"].as_u64().unwrap(),
    }
}

/// The tiny GPT's declaration: optimum's names, 4 layers of KV cache, context 128,
/// `<|endoftext|>` (id 0) ends a generation.
pub fn tiny_gpt_language_model(tokenizer: &[u8]) -> LanguageModel {
    gpt_language_model(tokenizer, 4, 128, Some(0))
}

/// The declaration of a decoder in models/gpt.py's and models/llama.py's layout (optimum's
/// names: `input_ids`, `logits`, `past_key_values.{i}.key` → `present.{i}.key`, ...).
pub fn gpt_language_model(
    tokenizer: &[u8],
    layers: usize,
    context_length: u32,
    eos_token: Option<u32>,
) -> LanguageModel {
    LanguageModel {
        input_ids: "input_ids".into(),
        logits: "logits".into(),
        attention_mask: None,
        position_ids: None,
        past: (0..layers)
            .flat_map(|i| {
                ["key", "value"].map(|kv| KvPair {
                    input: format!("past_key_values.{i}.{kv}"),
                    output: format!("present.{i}.{kv}"),
                })
            })
            .collect(),
        context_length,
        eos_token,
        tokenizer: TokenizerFile {
            sha256: ByteBuf::from(Sha256::digest(tokenizer).to_vec()),
            size_bytes: tokenizer.len() as u64,
        },
    }
}

fn upload(
    replica: &mut (impl Replica + ?Sized),
    canister: Principal,
    sender: Principal,
    method: &str,
    id: &str,
    bytes: &[u8],
) {
    for (index, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        let args = UploadChunkArgs {
            id: id.into(),
            offset: (index * CHUNK_BYTES) as u64,
            data: ByteBuf::from(chunk.to_vec()),
        };
        let (sent,): (Result<UploadProgress, Error>,) =
            replica.update(canister, sender, method, (args,)).unwrap();
        sent.unwrap_or_else(|e| panic!("{method}: {e}"));
    }
}

/// Creates, uploads (the model, then its tokenizer) and finalizes a language model.
pub fn install_language_model(
    replica: &mut (impl Replica + ?Sized),
    canister: Principal,
    controller: Principal,
    id: &str,
    onnx: &[u8],
    tokenizer: &[u8],
    language_model: LanguageModel,
) -> ModelInfo {
    let create = CreateModelArgs {
        id: id.into(),
        sha256: ByteBuf::from(Sha256::digest(onnx).to_vec()),
        size_bytes: onnx.len() as u64,
        description: None,
        input_facts: None,
        language_model: Some(language_model),
    };
    let (created,): (Result<ModelInfo, Error>,) = replica
        .update(canister, controller, "create_model", (create,))
        .unwrap();
    created.unwrap();
    upload(
        replica,
        canister,
        controller,
        "upload_model_chunk",
        id,
        onnx,
    );
    upload(
        replica,
        canister,
        controller,
        "upload_tokenizer_chunk",
        id,
        tokenizer,
    );
    let (info,): (Result<ModelInfo, Error>,) = replica
        .update(canister, controller, "finalize_model", (id.to_string(),))
        .unwrap();
    let mut info = info.unwrap_or_else(|e| panic!("finalize {id}: {e}"));
    // A model too large for one message finalizes as a job, a step per tick.
    while let ModelState::Finalizing(_) = info.state {
        replica.tick();
        let (now,): (Result<ModelInfo, Error>,) = replica
            .query(canister, controller, "model_info", (id.to_string(),))
            .unwrap();
        info = now.unwrap();
    }
    assert_eq!(info.state, ModelState::Ready, "finalize {id}");
    info
}

/// A slow-tier language model of models/cache/gpt (scripts/gpt-models.sh makes them):
/// GPT-2 small with seeded weights and SmolLM2-135M-Instruct, f32 and int8.
pub struct SlowTierGpt {
    pub id: &'static str,
    pub onnx: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub language_model: LanguageModel,
    pub parameters: u64,
    /// A prompt in the model's own form (SmolLM2's chat template).
    pub prompt: &'static str,
}

/// The slow-tier models that have been made, of `gpt2`, `gpt2-int8`, `smollm2`,
/// `smollm2-int8`; none is an error, so that the slow tier says what it skipped.
pub fn slow_tier_gpt(id: &'static str) -> Option<SlowTierGpt> {
    let (dir, layers, context, eos, prompt) = match id {
        "gpt2" | "gpt2-int8" => ("gpt2", 12, 1024, 50256, "The Internet Computer runs"),
        "smollm2" | "smollm2-int8" => (
            "smollm2",
            30,
            2048,
            2,
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
        ),
        _ => panic!("{id}: not a slow-tier language model"),
    };
    let dir = workspace_root().join("models/cache/gpt").join(dir);
    let onnx = std::fs::read(dir.join(format!("{id}.onnx"))).ok()?;
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).ok()?;
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).ok()?).ok()?;
    Some(SlowTierGpt {
        id,
        language_model: gpt_language_model(&tokenizer, layers, context, Some(eos)),
        onnx,
        tokenizer,
        parameters: summary["parameters"].as_u64()?,
        prompt,
    })
}
