//! `icinfer verify`: prove a log entry against the root key, as a third party would.
//!
//! Everything the canister sends is checked by icinfer-verify rather than trusted, and this
//! prints its report (`icinfer_verify::report`), check by check: the certificate's BLS
//! signature and freshness, the witness that binds the log's size and root to the canister's
//! certified data, the entry's encoding (and that it is the saved receipt), its Merkle
//! inclusion proof and the consistency of its tree with the certified head; and, given the
//! tensors (and the nonce) and the model file, the hashes recomputed from them. What this
//! file adds is gathering those inputs: the receipt, the .npy files, the root key to trust.

use crate::client::Client;
use crate::generate::SavedGeneration;
use crate::receipt::SavedInference;
use crate::tensors::read_npy;
use anyhow::{Context, Result, bail, ensure};
use icinfer_api::{Error, LogProof, LogProofArgs, Tensor};
use icinfer_verify::{GenerationOpening, Held, Opening, Trust, report_log_proof};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct VerifyOptions {
    pub seq: Option<u64>,
    pub receipt: Option<PathBuf>,
    /// `name=file.npy`, in the model's input order.
    pub inputs: Vec<String>,
    /// `name=file.npy`, in the model's output order.
    pub outputs: Vec<String>,
    pub nonce: Option<String>,
    /// Pin the root key instead of taking the network's (hex of the DER or raw key, or a file).
    pub root_key: Option<String>,
    /// The model file, to check the entry's model SHA-256 against.
    pub model: Option<PathBuf>,
    /// How old the certificate may be.
    pub max_age_secs: u64,
}

pub async fn run(client: &Client, options: VerifyOptions) -> Result<()> {
    let generation = options
        .receipt
        .as_deref()
        .filter(|dir| SavedGeneration::is_in(dir))
        .map(SavedGeneration::load)
        .transpose()?;
    if let Some(generation) = &generation {
        ensure!(
            options.inputs.is_empty() && options.outputs.is_empty() && options.nonce.is_none(),
            "--receipt brings its own prompt, completion and nonce: do not also pass --input, --output or --nonce"
        );
        let saved = SavedInference {
            network: generation.network.clone(),
            canister: generation.canister,
            entry: generation.entry.clone(),
            nonce: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        return prove(client, &options, Some(&saved), Some(generation)).await;
    }
    let saved = options
        .receipt
        .as_deref()
        .map(SavedInference::load)
        .transpose()?;
    prove(client, &options, saved.as_ref(), None).await
}

/// Proves the entry and checks what is held against it: a saved inference's tensors, or a
/// saved generation's prompt and completion.
async fn prove(
    client: &Client,
    options: &VerifyOptions,
    saved: Option<&SavedInference>,
    generation: Option<&SavedGeneration>,
) -> Result<()> {
    let seq = match (saved, options.seq) {
        (Some(saved), Some(seq)) if saved.entry.seq != seq => bail!(
            "the receipt is entry #{}, not #{seq}: drop one of them",
            saved.entry.seq
        ),
        (Some(saved), _) => saved.entry.seq,
        (None, Some(seq)) => seq,
        (None, None) => bail!("which entry? pass its number, or --receipt DIR"),
    };
    if let Some(saved) = saved {
        ensure!(
            saved.canister == client.canister,
            "the receipt is from canister {}, but this would ask {}\n  fix: pass --canister {} \
             (and --network {})",
            saved.canister,
            client.canister,
            saved.canister,
            saved.network
        );
    }
    let (inputs, outputs, nonce) = match saved {
        Some(_) if generation.is_some() => (Vec::new(), Vec::new(), None),
        Some(saved) => {
            ensure!(
                options.inputs.is_empty() && options.outputs.is_empty() && options.nonce.is_none(),
                "--receipt brings its own tensors and nonce: do not also pass --input, --output or --nonce"
            );
            (
                saved.inputs.clone(),
                saved.outputs.clone(),
                saved.nonce.clone(),
            )
        }
        None => (
            tensor_files(&options.inputs, "--input")?,
            tensor_files(&options.outputs, "--output")?,
            options
                .nonce
                .as_deref()
                .map(|h| hex::decode(h).context("--nonce is not hex"))
                .transpose()?,
        ),
    };
    if !inputs.is_empty() && outputs.is_empty() || inputs.is_empty() && !outputs.is_empty() {
        bail!("pass both the inputs and the outputs (--input and --output), or neither");
    }

    let (root_key, root_key_source) = match &options.root_key {
        Some(key) => (read_root_key(key)?, "the root key you pinned"),
        None if client.network.is_mainnet() => (
            client.root_key(),
            "the Internet Computer's root key, built into ic-agent",
        ),
        None => (
            client.root_key(),
            "the root key the network reported (trust it as far as you trust that connection; \
             pin one with --root-key)",
        ),
    };
    let proof: Result<LogProof, Error> = client
        .query(
            "log_proof",
            (LogProofArgs {
                index: seq,
                tree_size: None,
            },),
        )
        .await?;
    let proof = proof.map_err(|e| client.explain("log_proof", e))?;
    let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let trust = Trust {
        root_key: root_key.clone(),
        canister_id: client.canister,
        now_ns,
        max_age_ns: options.max_age_secs.saturating_mul(1_000_000_000),
    };
    let model_sha256: Option<[u8; 32]> = match &options.model {
        Some(model) => {
            let bytes =
                std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
            Some(Sha256::digest(&bytes).into())
        }
        None => None,
    };
    let held = Held {
        opening: (!inputs.is_empty()).then_some(Opening {
            inputs: &inputs,
            nonce: nonce.as_deref(),
            outputs: &outputs,
        }),
        receipt: saved.map(|saved| &saved.entry),
        model_sha256: model_sha256.as_ref(),
        generation: generation.map(|g| GenerationOpening {
            prompt: &g.prompt,
            nonce: g.nonce.as_deref(),
            completion: &g.completion,
            tokens: &g.tokens,
        }),
    };
    println!("verifying log entry #{seq} of canister {}", client.canister);
    println!("  against {root_key_source}:");
    println!("  {}", hex::encode(&root_key));
    if let Some(model) = &options.model {
        println!("  holding the model {}", model.display());
    }
    let report = report_log_proof(&proof, &trust, &held);
    println!("{report}");
    match report.failure() {
        Some((check, e)) => bail!("NOT VERIFIED: {}: {e}", check.title()),
        None => Ok(()),
    }
}

/// `name=file.npy` or `file.npy` (named after the file).
fn tensor_files(specs: &[String], flag: &str) -> Result<Vec<Tensor>> {
    specs
        .iter()
        .map(|spec| {
            let (name, path) = match spec.split_once('=') {
                Some((name, path)) => (name.to_string(), PathBuf::from(path)),
                None => {
                    let path = PathBuf::from(spec);
                    let stem = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .with_context(|| format!("{flag} {spec}: pass <name>=<file.npy>"))?;
                    (stem.to_string(), path)
                }
            };
            read_npy(&name, &path)
        })
        .collect()
}

fn read_root_key(key: &str) -> Result<Vec<u8>> {
    let text = match std::fs::read_to_string(key) {
        Ok(text) => text,
        Err(_) => key.to_string(),
    };
    let bytes = hex::decode(text.trim()).context("--root-key: expected hex, or a file of hex")?;
    ensure!(
        bytes.len() == 133 || bytes.len() == 96,
        "--root-key: a BLS12-381 root key is 133 bytes of DER or 96 raw, got {}",
        bytes.len()
    );
    Ok(bytes)
}
