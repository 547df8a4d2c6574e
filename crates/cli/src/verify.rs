//! `icinfer verify`: prove a log entry against the root key, as a third party would.
//!
//! Everything the canister sends is checked by icinfer-verify rather than trusted, and this
//! prints its report (`icinfer_verify::report`), check by check: the certificate's BLS
//! signature and freshness, the witness that binds the log's size and root to the canister's
//! certified data, the entry's encoding (and that it is the saved receipt), its Merkle
//! inclusion proof and the consistency of its tree with the certified head; and, given the
//! tensors (and the nonce) and the model file, the hashes recomputed from them; and the code
//! the canister runs now: a certified `read_state` of its module hash and controllers,
//! compared with `--expect-module-hash` or a `--release` manifest when given. What this
//! file adds is gathering those inputs: the receipt, the .npy files, the root key to trust,
//! the code certificate.

use crate::client::Client;
use crate::generate::SavedGeneration;
use crate::receipt::SavedInference;
use crate::release::{ReleaseManifest, parse_hash};
use crate::tensors::read_npy;
use anyhow::{Context, Result, bail, ensure};
use ic_agent::hash_tree::Label;
use icinfer_api::{CodeEpochStatus, Error, LogEntry, LogProof, LogProofArgs, Tensor};
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
    /// The module hash the canister must run (hex).
    pub expect_module_hash: Option<String>,
    /// A release manifest whose module the canister must run.
    pub release: Option<PathBuf>,
    /// `--replay` and its files (crate::replay).
    pub replay: crate::replay::ReplayArgs,
}

/// What `prove` established: the entry, the trust it was proven under, and the module its
/// proven code epoch names (if any).
pub struct Proved {
    pub entry: LogEntry,
    pub trust: Trust,
    pub module_hash: Option<[u8; 32]>,
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
        let proved = prove(client, &options, Some(&saved), Some(generation)).await?;
        return crate::replay::run_if_asked(client, &options, &proved, None, Some(generation))
            .await;
    }
    let saved = options
        .receipt
        .as_deref()
        .map(SavedInference::load)
        .transpose()?;
    let proved = prove(client, &options, saved.as_ref(), None).await?;
    crate::replay::run_if_asked(client, &options, &proved, saved.as_ref(), None).await
}

/// Proves the entry and checks what is held against it: a saved inference's tensors, or a
/// saved generation's prompt and completion.
async fn prove(
    client: &Client,
    options: &VerifyOptions,
    saved: Option<&SavedInference>,
    generation: Option<&SavedGeneration>,
) -> Result<Proved> {
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
    let release = options
        .release
        .as_deref()
        .map(ReleaseManifest::load)
        .transpose()?;
    let expected_module_hashes = match (&release, &options.expect_module_hash) {
        (Some(release), _) => release.module_hashes()?,
        (None, Some(hash)) => vec![parse_hash(hash).context("--expect-module-hash")?],
        (None, None) => Vec::new(),
    };
    let code_certificate = read_code_certificate(client).await?;
    let held = Held {
        opening: (!inputs.is_empty()).then_some(Opening {
            inputs: &inputs,
            nonce: nonce.as_deref(),
            outputs: &outputs,
        }),
        receipt: saved.map(|saved| &saved.entry),
        model_sha256: model_sha256.as_ref(),
        code_certificate: Some(&code_certificate),
        expected_module_hashes: &expected_module_hashes,
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
    match (&release, &options.release, &options.expect_module_hash) {
        (Some(release), Some(path), _) => println!(
            "  expecting the module of release {} ({} at commit {}, {})",
            path.display(),
            release.package,
            release.source_commit,
            release.toolchain
        ),
        (_, _, Some(hash)) => println!("  expecting module hash {hash}"),
        _ => {}
    }
    let report = report_log_proof(&proof, &trust, &held);
    println!("{report}");
    if let Some((check, e)) = report.failure() {
        bail!("NOT VERIFIED: {}: {e}", check.title());
    }
    let certified_now = report.proven.as_ref().and_then(|p| p.code.as_ref());
    let module_hash = attribute(client, &trust, seq, certified_now.map(|c| c.module_hash)).await?;
    let entry = report.into_result().map_err(anyhow::Error::msg)?.entry;
    Ok(Proved {
        entry,
        trust,
        module_hash,
    })
}

/// Which code wrote entry `seq`: the epoch it falls in (`code_epochs`), whose own entry is
/// proven in the log as this one is (docs/provenance.md, "Code epochs"). The list of
/// epochs is an uncertified query: it only says which entry to prove. Returns the module
/// hash of the proven epoch.
async fn attribute(
    client: &Client,
    trust: &Trust,
    seq: u64,
    certified_now: Option<[u8; 32]>,
) -> Result<Option<[u8; 32]>> {
    let epochs: Vec<CodeEpochStatus> = match client.query("code_epochs", ()).await {
        Ok(epochs) => epochs,
        Err(_) => {
            println!("
Code epoch: the canister serves no code_epochs (an older release): the entry is not attributed to a module.");
            return Ok(None);
        }
    };
    let Some(epoch) = epochs.iter().rev().find(|e| e.first_index <= seq) else {
        println!("
Code epoch: none begins at or before entry #{seq}: written before epochs were recorded, by an unknown module.");
        return Ok(None);
    };
    let Some(epoch_seq) = epoch.entry else {
        println!(
            "
Code epoch from entry #{}: its canister_info call has not answered yet ({} failed attempts): the module is not known yet.",
            epoch.first_index, epoch.failed_attempts
        );
        return Ok(None);
    };
    let proof: Result<LogProof, Error> = client
        .query(
            "log_proof",
            (LogProofArgs {
                index: epoch_seq,
                tree_size: None,
            },),
        )
        .await?;
    let proof = proof.map_err(|e| client.explain("log_proof", e))?;
    let report = report_log_proof(&proof, trust, &Held::default());
    if let Some((check, e)) = report.failure() {
        bail!(
            "NOT VERIFIED: the code epoch entry #{epoch_seq}: {}: {e}",
            check.title()
        );
    }
    let Some(epoch_proof) = report.proven else {
        bail!("the code epoch entry #{epoch_seq} was not proven");
    };
    let proven = icinfer_verify::bundle::attribute(seq, &epoch_proof.entry)
        .with_context(|| format!("entry #{epoch_seq}, which code_epochs names"))?;
    ensure!(
        proven.first_index == epoch.first_index,
        "the code epoch entry #{epoch_seq} begins at entry #{}, not at #{} as code_epochs says",
        proven.first_index,
        epoch.first_index
    );
    let now = match certified_now {
        Some(now) if now[..] == proven.module_hash[..] => ", the module the IC certifies now",
        Some(_) => "; the canister has been upgraded since",
        None => "",
    };
    println!(
        "
Code epoch: entry #{seq} falls in the epoch that began at entry #{} (its code epoch entry #{epoch_seq} is proven in the log): written by module {} ({:?} at canister version {}){now}.",
        proven.first_index,
        hex::encode(&proven.module_hash),
        proven.mode,
        proven.deployed_version
    );
    Ok(proven.module_hash[..].try_into().ok())
}

/// The certificate of a `read_state` of the canister's module hash and controllers, as the
/// IC sent it (re-encoded: ic-agent hands it over parsed, after checking it itself; the
/// verifier checks it again from the root key, as it checks the log head).
pub(crate) async fn read_code_certificate(client: &Client) -> Result<Vec<u8>> {
    let path = |name: &str| {
        vec![
            Label::from("canister"),
            Label::from_bytes(client.canister.as_slice()),
            Label::from(name),
        ]
    };
    let certificate = client
        .agent
        .read_state_raw(
            vec![path("module_hash"), path("controllers")],
            client.canister,
        )
        .await
        .with_context(|| {
            format!(
                "reading the module hash and controllers of {} (read_state)",
                client.canister
            )
        })?;
    let mut bytes = icinfer_verify::certificate::SELF_DESCRIBING_TAG.to_vec();
    bytes.extend(serde_cbor::to_vec(&certificate).context("encoding the certificate")?);
    Ok(bytes)
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

pub(crate) fn read_root_key(key: &str) -> Result<Vec<u8>> {
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
