//! `icinfer label`: a provenance bundle beside a generated file, and `icinfer verify
//! --bundle`, which checks one offline.
//!
//! A bundle (icinfer_verify::bundle; docs/provenance.md, "Content labels") holds the
//! entry's `log_proof`, the `log_proof` of the code epoch that wrote it, and a certified
//! `read_state` of the canister's module hash and controllers: everything needed to check,
//! from the IC root key alone, that the file is that entry's output and which module wrote
//! it. The entry comes from a saved receipt (`--receipt DIR`), or from the file itself: its
//! output hash is looked up with `find_log_entries`.
//!
//! The content file of an inference is its outputs' canonical tensor list (docs/hashing.md),
//! which `label` writes from the receipt when the file does not exist yet; a generation's is
//! its completion's bytes.

use crate::client::Client;
use crate::generate::SavedGeneration;
use crate::receipt::SavedInference;
use crate::release::{ReleaseManifest, parse_hash};
use crate::verify::{read_code_certificate, read_root_key};
use anyhow::{Context, Result, bail, ensure};
use icinfer_api::{
    CodeEpochStatus, Error, FindLogArgs, FindLogResult, LogEntry, LogFilter, LogProof, LogProofArgs,
};
use icinfer_verify::bundle::{Bundle, ContentHashing, check_content, report_bundle};
use icinfer_verify::tensor::encode_tensor_list;
use serde_bytes::ByteBuf;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The bundle's file: beside the content, named after it.
pub fn bundle_path(content: &Path) -> PathBuf {
    let mut name = content.file_name().unwrap_or_default().to_os_string();
    name.push(".provenance.json");
    content.with_file_name(name)
}

/// How many entries of one output hash `label` looks through (the same text generated
/// again is another entry with the same hash).
const MAX_MATCHES: u32 = 100;

pub async fn run(client: &Client, content_path: &Path, receipt: Option<&Path>) -> Result<()> {
    let entry = match receipt {
        Some(dir) => from_receipt(client, dir, content_path)?,
        None => from_content(client, content_path).await?,
    };
    let content = std::fs::read(content_path)
        .with_context(|| format!("reading {}", content_path.display()))?;
    check_content(&entry, &content).map_err(|e| {
        anyhow::anyhow!(
            "{} is not the output of entry #{}: {e}",
            content_path.display(),
            entry.seq
        )
    })?;

    let proof = log_proof(client, entry.seq).await?;
    ensure!(
        proof.entry == entry,
        "the canister's entry #{} is not the receipt's: is this the canister it came from?",
        entry.seq
    );
    let bundle = Bundle {
        canister_id: client.canister,
        network: client.network.url(),
        created_ns: SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64,
        entry: proof,
        code_epoch: epoch_proof(client, entry.seq).await?,
        code_certificate: Some(read_code_certificate(client).await?),
        content_file: content_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
    };
    // Written only once it verifies, under the key the connection gave.
    let report = report_bundle(&bundle, &client.root_key(), Some(&content), &[]);
    if let Some((part, e)) = report.failure() {
        bail!("the bundle does not verify ({part}): {e}\n{report}");
    }
    let path = bundle_path(content_path);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&bundle.to_json())? + "\n",
    )
    .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "labelled {} as the output of entry #{} of canister {}{}",
        content_path.display(),
        entry.seq,
        client.canister,
        match &report.proven.and_then(|p| p.epoch) {
            Some((_, epoch)) => format!(", written by module {}", hex::encode(&epoch.module_hash)),
            None => String::new(),
        }
    );
    println!("  bundle {}", path.display());
    println!(
        "  check it offline: icinfer verify --bundle {} --content {}",
        path.display(),
        content_path.display()
    );
    Ok(())
}

/// The receipt's entry; writes the content file from the receipt if it does not exist.
fn from_receipt(client: &Client, dir: &Path, content_path: &Path) -> Result<LogEntry> {
    let (canister, entry, content) = if SavedGeneration::is_in(dir) {
        let saved = SavedGeneration::load(dir)?;
        (saved.canister, saved.entry, saved.completion)
    } else {
        let saved = SavedInference::load(dir)?;
        let mut list = Vec::new();
        encode_tensor_list(&saved.outputs, &mut |b| list.extend_from_slice(b));
        (saved.canister, saved.entry, list)
    };
    ensure!(
        canister == client.canister,
        "the receipt is from canister {canister}, but this would ask {}\n  fix: pass --canister {canister}",
        client.canister
    );
    if !content_path.exists() {
        std::fs::write(content_path, &content)
            .with_context(|| format!("writing {}", content_path.display()))?;
        println!(
            "wrote {} ({} bytes: {})",
            content_path.display(),
            content.len(),
            match ContentHashing::of(&entry) {
                Some(ContentHashing::Completion) => "the completion",
                _ => "the outputs' canonical tensor list, docs/hashing.md",
            }
        );
    }
    Ok(entry)
}

/// The entry whose output the file is: its hash looked up in the log, as a completion's and
/// as an output tensor list's. The earliest entry is labelled; others are named.
async fn from_content(client: &Client, content_path: &Path) -> Result<LogEntry> {
    let content = std::fs::read(content_path)
        .with_context(|| format!("reading {}", content_path.display()))?;
    let mut found = Vec::new();
    for hashing in [ContentHashing::Completion, ContentHashing::OutputTensorList] {
        let args = FindLogArgs {
            filter: LogFilter::OutputHash(ByteBuf::from(hashing.hash(&content).to_vec())),
            start: 0,
            limit: MAX_MATCHES,
        };
        let page: Result<FindLogResult, Error> = client.query("find_log_entries", (args,)).await?;
        let page = page.map_err(|e| client.explain("find_log_entries", e))?;
        found.extend(
            page.entries
                .into_iter()
                .filter(|e| ContentHashing::of(e) == Some(hashing)),
        );
    }
    found.sort_by_key(|e| e.seq);
    let Some(first) = found.first().cloned() else {
        bail!(
            "no entry of canister {} has {} as its output\n  fix: pass the receipt it came with (--receipt DIR), or the canister (--canister)",
            client.canister,
            content_path.display()
        );
    };
    if found.len() > 1 {
        let others: Vec<String> = found[1..].iter().map(|e| format!("#{}", e.seq)).collect();
        println!(
            "{} is the output of {} entries: labelling the first, #{} (also {})",
            content_path.display(),
            found.len(),
            first.seq,
            others.join(", ")
        );
    }
    Ok(first)
}

async fn log_proof(client: &Client, index: u64) -> Result<LogProof> {
    let proof: Result<LogProof, Error> = client
        .query(
            "log_proof",
            (LogProofArgs {
                index,
                tree_size: None,
            },),
        )
        .await?;
    proof.map_err(|e| client.explain("log_proof", e))
}

/// The `log_proof` of the code epoch entry that covers entry `seq`, if recorded. The
/// `code_epochs` list is an uncertified query: it only says which entry to prove, and the
/// bundle's verifier checks what that entry says.
async fn epoch_proof(client: &Client, seq: u64) -> Result<Option<LogProof>> {
    let epochs: Vec<CodeEpochStatus> = match client.query("code_epochs", ()).await {
        Ok(epochs) => epochs,
        Err(_) => {
            println!(
                "the canister serves no code_epochs (an older release): the bundle attributes the entry to no module"
            );
            return Ok(None);
        }
    };
    match epochs.iter().rev().find(|e| e.first_index <= seq) {
        Some(CodeEpochStatus {
            entry: Some(epoch_seq),
            ..
        }) => Ok(Some(log_proof(client, *epoch_seq).await?)),
        Some(epoch) => {
            println!(
                "the code epoch from entry #{} is not recorded yet ({} failed attempts): the bundle attributes the entry to no module; label again later",
                epoch.first_index, epoch.failed_attempts
            );
            Ok(None)
        }
        None => Ok(None),
    }
}

pub struct BundleOptions {
    pub bundle: PathBuf,
    pub content: Option<PathBuf>,
    pub root_key: Option<String>,
    /// Where `icinfer serve` keeps its root key's seed (for bundles of the local host).
    pub state: PathBuf,
    pub expect_module_hash: Option<String>,
    pub release: Option<PathBuf>,
}

/// `icinfer verify --bundle`: checks a bundle offline, from the root key alone.
pub fn verify_bundle(options: BundleOptions) -> Result<()> {
    let text = std::fs::read_to_string(&options.bundle)
        .with_context(|| format!("reading {}", options.bundle.display()))?;
    let bundle = Bundle::parse(&text).with_context(|| options.bundle.display().to_string())?;
    let content = options
        .content
        .as_deref()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let (root_key, source) = bundle_root_key(&bundle, &options)?;
    let expected = match (&options.release, &options.expect_module_hash) {
        (Some(release), _) => ReleaseManifest::load(release)?.module_hashes()?,
        (None, Some(hash)) => vec![parse_hash(hash).context("--expect-module-hash")?],
        (None, None) => Vec::new(),
    };
    println!(
        "verifying the bundle {} (entry #{} of canister {}, labelled at {}){}",
        options.bundle.display(),
        bundle.entry.entry.seq,
        bundle.canister_id,
        crate::log::utc(bundle.created_ns),
        match &options.content {
            Some(path) => format!(" with the content {}", path.display()),
            None => String::new(),
        }
    );
    println!("  offline, against {source}:");
    println!("  {}", hex::encode(&root_key));
    let report = report_bundle(&bundle, &root_key, content.as_deref(), &expected);
    println!("{report}");
    if let Some((part, e)) = report.failure() {
        bail!("NOT VERIFIED: {part}: {e}");
    }
    Ok(())
}

/// The root key to trust: the one pinned; mainnet's for a mainnet bundle; else the local
/// host's, from its state directory.
fn bundle_root_key(bundle: &Bundle, options: &BundleOptions) -> Result<(Vec<u8>, String)> {
    if let Some(key) = &options.root_key {
        return Ok((read_root_key(key)?, "the root key you pinned".into()));
    }
    if crate::network::Network::Url(bundle.network.clone()).is_mainnet() {
        let agent = ic_agent::Agent::builder()
            .with_url(bundle.network.as_str())
            .build()?;
        return Ok((
            agent.read_root_key(),
            "the Internet Computer's root key, built into ic-agent".into(),
        ));
    }
    let seed_path = options.state.join(crate::serve::SEED_FILE);
    let seed = std::fs::read(&seed_path).with_context(|| {
        format!(
            "the bundle is from {}, not mainnet: which root key to trust?\n  fix: pass --root-key \
             (`icinfer serve` prints its key), or --state DIR of the icinfer serve that made it \
             (no {} here)",
            bundle.network,
            seed_path.display()
        )
    })?;
    let key = icinfer_host::certificate::RootKey::from_seed(&seed).public_key_der();
    Ok((
        key,
        format!(
            "the root key of the local host in {}",
            options.state.display()
        ),
    ))
}
