//! `icinfer generate`: a text generation streamed as the canister writes it, with a
//! progress line; `--save DIR` keeps the receipt, the nonce, the prompt and the completion
//! for `icinfer verify --receipt DIR`. Also the language-model declaration `icinfer upload`
//! takes (`--tokenizer` and friends).

use crate::client::Client;
use crate::infer::Nonce;
use crate::receipt::entry_json;
use anyhow::{Context, Result, bail, ensure};
use candid::Principal;
use icinfer_api::{
    EntryKind, Error, GenerateArgs, GenerationState, GenerationStatus, KvPair, LanguageModel,
    LogEntry, SampleSettings, Sampling, TokenizerFile,
};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the status is polled while the generation runs.
const POLL: Duration = Duration::from_millis(250);

/// `icinfer upload`'s declaration of a language model.
#[derive(clap::Args, Clone, Default)]
pub struct LanguageModelArgs {
    /// Declare the model a language model with this Hugging Face tokenizer.json (a
    /// byte-level BPE), uploaded beside it; the options below name its inputs and outputs.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Tokens of prompt and completion together.
    #[arg(long, requires = "tokenizer", default_value_t = 1024)]
    pub context_length: u32,
    #[arg(long, requires = "tokenizer")]
    pub eos_token: Option<u32>,
    /// KV-cache layers, named as optimum exports them: past_key_values.{i}.key/.value in,
    /// present.{i}.key/.value out (0: no cache).
    #[arg(long, requires = "tokenizer", default_value_t = 0)]
    pub kv_layers: u32,
    #[arg(long, requires = "tokenizer", default_value = "input_ids")]
    pub input_ids: String,
    #[arg(long, requires = "tokenizer", default_value = "logits")]
    pub logits: String,
    #[arg(long, requires = "tokenizer")]
    pub attention_mask: Option<String>,
    #[arg(long, requires = "tokenizer")]
    pub position_ids: Option<String>,
}

impl LanguageModelArgs {
    /// The declaration and the tokenizer's bytes, if --tokenizer was given.
    pub fn declaration(&self) -> Result<Option<(LanguageModel, Vec<u8>)>> {
        let Some(path) = &self.tokenizer else {
            return Ok(None);
        };
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the tokenizer {}", path.display()))?;
        let declared = LanguageModel {
            input_ids: self.input_ids.clone(),
            logits: self.logits.clone(),
            attention_mask: self.attention_mask.clone(),
            position_ids: self.position_ids.clone(),
            past: (0..self.kv_layers)
                .flat_map(|i| {
                    ["key", "value"].map(|kv| KvPair {
                        input: format!("past_key_values.{i}.{kv}"),
                        output: format!("present.{i}.{kv}"),
                    })
                })
                .collect(),
            context_length: self.context_length,
            eos_token: self.eos_token,
            tokenizer: TokenizerFile {
                sha256: ByteBuf::from(Sha256::digest(&bytes).to_vec()),
                size_bytes: bytes.len() as u64,
            },
        };
        Ok(Some((declared, bytes)))
    }
}

pub struct GenerateOptions {
    pub model: String,
    pub prompt: String,
    pub max_new_tokens: u32,
    /// None: greedy.
    pub temperature: Option<f32>,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
    pub seed: Option<Vec<u8>>,
    pub stop: Vec<String>,
    pub nonce: Nonce,
    pub save: Option<PathBuf>,
    pub json: bool,
}

pub async fn run(client: &Client, options: GenerateOptions) -> Result<()> {
    let sampling = match options.temperature {
        None => {
            ensure!(
                options.top_k.is_none() && options.top_p.is_none() && options.seed.is_none(),
                "--top-k, --top-p and --seed sample: pass --temperature too"
            );
            Sampling::Greedy
        }
        Some(temperature) => Sampling::Sample(SampleSettings {
            temperature,
            top_k: options.top_k,
            top_p: options.top_p,
            seed: options.seed.clone().map(ByteBuf::from),
        }),
    };
    let nonce = match &options.nonce {
        Nonce::Random => {
            let mut bytes = vec![0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            Some(bytes)
        }
        Nonce::Unsalted => None,
        Nonce::Given(bytes) => Some(bytes.clone()),
    };
    let args = GenerateArgs {
        model_id: options.model.clone(),
        prompt: options.prompt.clone(),
        max_new_tokens: options.max_new_tokens,
        sampling,
        stop: options.stop.clone(),
        nonce: nonce.clone().map(ByteBuf::from),
    };
    let started: Result<u64, Error> = client.update("generate_start", (args,)).await?;
    let id = started.map_err(|e| client.explain("generate_start", e))?;
    let status = stream(client, id, !options.json).await?;
    let entry = match &status.state {
        GenerationState::Done(entry) => entry.clone(),
        GenerationState::Failed(failure) => bail!("generation {id} failed: {failure}"),
        GenerationState::Cancelled => bail!("generation {id} was cancelled"),
        GenerationState::Pending => unreachable!("stream returns a finished generation"),
    };
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "text": status.text,
                "completion_hex": hex::encode(&status.completion),
                "tokens": status.tokens,
                "receipt": entry_json(&entry),
            }))?
        );
    } else {
        print_receipt(&entry);
    }
    if let Some(dir) = &options.save {
        SavedGeneration {
            network: client.network.url(),
            canister: client.canister,
            entry,
            nonce,
            prompt: options.prompt,
            completion: status.completion.to_vec(),
            tokens: status.tokens,
        }
        .save(dir)?;
        if !options.json {
            println!(
                "saved to {}; check it any time with `icinfer verify --receipt {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Polls the status, writing the new bytes of the completion to stdout as they come and a
/// progress line to stderr, until the generation ends.
async fn stream(client: &Client, id: u64, show: bool) -> Result<GenerationStatus> {
    let mut written = 0usize;
    loop {
        let status: Result<GenerationStatus, Error> =
            client.query("generation_status", (id,)).await?;
        let status = status.map_err(|e| client.explain("generation_status", e))?;
        let done = status.state != GenerationState::Pending;
        // The bytes of a stop sequence show while they arrive; the canister cuts the
        // completion before it at the end, and the last line says so.
        if show && status.completion.len() > written {
            let mut out = std::io::stdout();
            out.write_all(&status.completion[written..])?;
            out.flush()?;
            written = status.completion.len();
        }
        if show {
            let p = &status.progress;
            eprint!(
                "\r\x1b[2K[{} + {} tokens, {} messages, {} instructions{}]",
                p.prompt_tokens,
                p.generated_tokens,
                p.messages,
                p.instructions,
                if p.restarts > 0 {
                    format!(", {} restarts", p.restarts)
                } else {
                    String::new()
                }
            );
        }
        if done {
            if show {
                eprintln!();
                if status.completion.len() < written {
                    println!(
                        "\n(the completion ends before a stop sequence: {:?})",
                        status.text
                    );
                } else {
                    println!();
                }
            }
            return Ok(status);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_receipt(entry: &LogEntry) {
    println!("receipt: log entry #{}", entry.seq);
    println!(
        "  model           {} (SHA-256 {})",
        entry.model_id,
        hex::encode(&entry.model_sha256)
    );
    if let Some(EntryKind::Generation(r)) = &entry.kind {
        println!(
            "  tokenizer       SHA-256 {}",
            hex::encode(&r.tokenizer_sha256)
        );
        println!(
            "  tokens          {} prompt, {} generated; stop: {}",
            r.prompt_tokens, r.generated_tokens, r.stop_reason
        );
        match &r.sampling {
            Sampling::Greedy => println!("  sampling        greedy"),
            Sampling::Sample(s) => println!(
                "  sampling        temperature {}, top_k {:?}, top_p {:?}, seed {}",
                s.temperature,
                s.top_k,
                s.top_p,
                s.seed.as_ref().map(hex::encode).unwrap_or_default()
            ),
        }
        println!(
            "  token ids hash  {}",
            hex::encode(&r.completion_tokens_sha256)
        );
    }
    println!(
        "  prompt          commitment {}{}",
        hex::encode(&entry.input_hash),
        if entry.input_salted { " (salted)" } else { "" }
    );
    println!(
        "  completion      SHA-256 {}",
        hex::encode(&entry.output_hash)
    );
    println!(
        "  cost            {} instructions in {} messages",
        entry.instructions,
        entry.messages.unwrap_or(1)
    );
}

/// What `--save` keeps: receipt.json (the entry, the nonce, the token ids), prompt.txt and
/// completion.bin, the exact bytes the hashes are of.
pub struct SavedGeneration {
    pub network: String,
    pub canister: Principal,
    pub entry: LogEntry,
    pub nonce: Option<Vec<u8>>,
    pub prompt: String,
    pub completion: Vec<u8>,
    pub tokens: Vec<u32>,
}

const RECEIPT: &str = "receipt.json";
const PROMPT: &str = "prompt.txt";
const COMPLETION: &str = "completion.bin";

impl SavedGeneration {
    /// Whether `dir` holds a saved generation (rather than an inference).
    pub fn is_in(dir: &Path) -> bool {
        dir.join(PROMPT).exists()
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let receipt = json!({
            "network": self.network,
            "canister": self.canister.to_text(),
            "entry": entry_json(&self.entry),
            "nonce": self.nonce.as_ref().map(hex::encode),
            "tokens": self.tokens,
        });
        std::fs::write(
            dir.join(RECEIPT),
            serde_json::to_string_pretty(&receipt)? + "\n",
        )?;
        std::fs::write(dir.join(PROMPT), &self.prompt)?;
        std::fs::write(dir.join(COMPLETION), &self.completion)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<SavedGeneration> {
        let path = dir.join(RECEIPT);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let v: Value = serde_json::from_str(&text)?;
        let nonce = match v["nonce"].as_str() {
            Some(h) => Some(hex::decode(h).context("nonce is not hex")?),
            None => None,
        };
        let tokens = v["tokens"]
            .as_array()
            .context("tokens missing")?
            .iter()
            .map(|t| {
                t.as_u64()
                    .map(|t| t as u32)
                    .context("a token id is not a number")
            })
            .collect::<Result<_>>()?;
        let saved = SavedGeneration {
            network: v["network"].as_str().unwrap_or_default().to_string(),
            canister: Principal::from_text(v["canister"].as_str().context("canister missing")?)?,
            entry: crate::receipt::entry_from_json(&v["entry"])?,
            nonce,
            prompt: std::fs::read_to_string(dir.join(PROMPT))
                .with_context(|| format!("reading {}", dir.join(PROMPT).display()))?,
            completion: std::fs::read(dir.join(COMPLETION))
                .with_context(|| format!("reading {}", dir.join(COMPLETION).display()))?,
            tokens,
        };
        ensure!(
            matches!(saved.entry.kind, Some(EntryKind::Generation(_))),
            "{}: the entry is not a generation's",
            path.display()
        );
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use icinfer_api::{GenerationReceipt, StopReason};

    #[test]
    fn a_saved_generation_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let saved = SavedGeneration {
            network: "http://127.0.0.1:4944".into(),
            canister: Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
            entry: LogEntry {
                seq: 3,
                timestamp_ns: 1_700_000_000_000_000_000,
                caller: Principal::from_slice(&[9; 29]),
                model_id: "tiny".into(),
                model_sha256: ByteBuf::from(vec![1; 32]),
                input_hash: ByteBuf::from(vec![2; 32]),
                output_hash: ByteBuf::from(vec![3; 32]),
                input_salted: true,
                instructions: 9_000_000,
                messages: Some(4),
                kind: Some(EntryKind::Generation(Box::new(GenerationReceipt {
                    tokenizer_sha256: ByteBuf::from(vec![4; 32]),
                    completion_tokens_sha256: ByteBuf::from(vec![5; 32]),
                    sampling: Sampling::Sample(SampleSettings {
                        temperature: 0.8,
                        top_k: Some(40),
                        top_p: None,
                        seed: Some(ByteBuf::from(vec![6; 32])),
                    }),
                    prompt_tokens: 4,
                    generated_tokens: 2,
                    stop_reason: StopReason::Eos,
                }))),
            },
            nonce: Some(vec![7; 32]),
            prompt: "In the beginning".into(),
            completion: vec![b' ', b't', 0xe2, 0x82],
            tokens: vec![259, 17],
        };
        saved.save(dir.path()).unwrap();
        assert!(SavedGeneration::is_in(dir.path()));
        let loaded = SavedGeneration::load(dir.path()).unwrap();
        assert_eq!(loaded.entry, saved.entry);
        assert_eq!(
            (
                loaded.nonce,
                loaded.prompt,
                loaded.completion,
                loaded.tokens
            ),
            (saved.nonce, saved.prompt, saved.completion, saved.tokens)
        );
    }
}
