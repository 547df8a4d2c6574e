//! Replay: re-execution as proof (docs/provenance.md, "Replay").
//!
//! A proven log entry says which model (its SHA-256) turned which committed inputs into
//! which outputs; its code epoch says which module did it; the model's entry (kind 4) says
//! with which declared input facts and language-model declaration the model was loaded.
//! [`replay`] takes those three entries, already proven against the root key, and the files
//! they name — the module as the IC installed it, the model file, the tokenizer of a
//! language model — with what `icinfer infer --save` or `generate --save` kept (inputs,
//! nonce, outputs; prompt, completion, tokens). It checks every file against its hash
//! first, then installs the module on a fresh local host (crates/host, in this process, no
//! network), uploads and finalizes the model as declared, runs the same inference or
//! generation, and requires the replayed receipt's hashes and the replayed outputs' bytes to
//! be the entry's. Wasm execution is deterministic, so the same module on any machine
//! computes the same bytes: a match re-derives the output from the inputs without trusting
//! the canister's nodes or controllers, a mismatch is a proof that the entry's output is not
//! what that module computes.

use crate::client::Client;
use crate::generate::SavedGeneration;
use crate::receipt::SavedInference;
use crate::verify::{Proved, VerifyOptions};
use anyhow::{Context, Result, bail};
use icinfer_api::{
    EntryKind, Error, FindLogArgs, FindLogResult, GenerateArgs, GenerationReceipt, GenerationState,
    GenerationStatus, InferResult, LogEntry, LogFilter, LogProof, LogProofArgs, ModelDeclaration,
    StopReason, Tensor,
};
use icinfer_verify::generation::{completion_hash, prompt_commitment, tokens_hash};
use icinfer_verify::tensor::{encode_tensor_list, input_hash, output_hash};
use icinfer_verify::{Held, Trust, report_log_proof};
use local::Replayer;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod local;
#[cfg(test)]
mod tests;

/// `icinfer verify --replay`'s files.
#[derive(clap::Args, Clone, Default)]
pub struct ReplayArgs {
    /// After proving the entry, re-run it on a local host and require the same outputs
    /// (docs/provenance.md, "Replay"): needs --receipt, --module and --model, and
    /// --tokenizer for a generation.
    #[arg(long, requires_all = ["receipt", "module", "model"])]
    pub replay: bool,
    /// The module the entry's code epoch names, as the IC installed it: a release's
    /// .wasm.gz (hashed compressed), or the module built from source.
    #[arg(long, requires = "replay")]
    pub module: Option<PathBuf>,
    /// A language model's tokenizer.json (a generation's replay).
    #[arg(long, requires = "replay")]
    pub tokenizer: Option<PathBuf>,
}

/// `verify --replay`, after the entry and its code epoch are proven: proves the model's
/// entry, reads the files, and replays.
pub async fn run_if_asked(
    client: &Client,
    options: &VerifyOptions,
    proved: &Proved,
    saved: Option<&SavedInference>,
    generation: Option<&SavedGeneration>,
) -> Result<()> {
    let args = &options.replay;
    if !args.replay {
        return Ok(());
    }
    let (Some(module), Some(model)) = (&args.module, &options.model) else {
        bail!("--replay needs --module FILE and --model FILE");
    };
    let Some(module_hash) = proved.module_hash else {
        bail!(
            "NOT REPLAYED: entry #{} is not attributed to a proven code epoch, so no module is named to replay it with",
            proved.entry.seq
        );
    };
    let model_entry = prove_model_entry(client, &proved.trust, &proved.entry).await?;
    let read =
        |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let (module_bytes, model_bytes) = (read(module)?, read(model)?);
    let tokenizer = args.tokenizer.as_deref().map(read).transpose()?;
    let work = match (generation, saved) {
        (Some(g), _) => Work::Generation {
            prompt: &g.prompt,
            nonce: g.nonce.as_deref(),
            completion: &g.completion,
            tokens: &g.tokens,
        },
        (None, Some(s)) => Work::Inference {
            inputs: &s.inputs,
            nonce: s.nonce.as_deref(),
            outputs: &s.outputs,
        },
        (None, None) => {
            bail!("--replay needs --receipt DIR (what infer --save or generate --save kept)")
        }
    };
    let request = Replay {
        entry: &proved.entry,
        module_hash,
        model_entry: &model_entry,
        module: &module_bytes,
        model: &model_bytes,
        tokenizer: tokenizer.as_deref(),
        work,
    };
    println!(
        "\nReplay: entry #{} on a local host, module {}, model {} as declared by entry #{}:",
        proved.entry.seq,
        hex32(&module_hash),
        proved.entry.model_id,
        model_entry.seq
    );
    match tokio::task::block_in_place(|| replay(&request)) {
        Ok(replayed) => {
            println!(
                "- replayed in {} instructions: input hash, output hash {} and every output byte are the entry's.",
                replayed.instructions,
                hex32(&replayed.receipt.output_hash)
            );
            println!(
                "Proven by re-execution: module {} computes this entry's output from its inputs.",
                hex32(&module_hash)
            );
            Ok(())
        }
        Err(e) => bail!("NOT REPLAYED: {e}"),
    }
}

/// The latest model entry (kind 4) of the entry's model before it, proven in the log. The
/// search is an uncertified query: it only says which entry to prove (a hidden later
/// declaration would make the replay load other facts, and differ).
async fn prove_model_entry(client: &Client, trust: &Trust, entry: &LogEntry) -> Result<LogEntry> {
    let mut latest = None;
    let mut start = 0;
    loop {
        let args = FindLogArgs {
            filter: LogFilter::ModelSha256(entry.model_sha256.clone()),
            start,
            limit: 100,
        };
        let page: Result<FindLogResult, Error> = client.query("find_log_entries", (args,)).await?;
        let page = page.map_err(|e| client.explain("find_log_entries", e))?;
        latest = page
            .entries
            .iter()
            .filter(|e| e.seq < entry.seq && e.model_id == entry.model_id)
            .filter(|e| matches!(e.kind, Some(EntryKind::Model(_))))
            .map(|e| e.seq)
            .max()
            .or(latest);
        match page.next {
            Some(next) if next < entry.seq => start = next,
            _ => break,
        }
    }
    let Some(seq) = latest else {
        bail!(
            "NOT REPLAYED: the log holds no model entry for '{}' before entry #{} (written by a release before model entries): its declared input facts are not proven",
            entry.model_id,
            entry.seq
        );
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
    let report = report_log_proof(&proof, trust, &Held::default());
    if let Some((check, e)) = report.failure() {
        bail!(
            "NOT VERIFIED: the model entry #{seq}: {}: {e}",
            check.title()
        );
    }
    let proven = report
        .proven
        .context("a report without failure proves its entry")?
        .entry;
    println!(
        "\nModel entry: #{seq} declares how '{}' was loaded (proven in the log).",
        proven.model_id
    );
    Ok(proven)
}

/// What a replay re-runs, as the user saved it.
pub enum Work<'a> {
    Inference {
        inputs: &'a [Tensor],
        nonce: Option<&'a [u8]>,
        outputs: &'a [Tensor],
    },
    Generation {
        prompt: &'a str,
        nonce: Option<&'a [u8]>,
        completion: &'a [u8],
        tokens: &'a [u32],
    },
}

/// One replay: the proven entries and the files they name.
pub struct Replay<'a> {
    /// The entry to re-run (kind 1 or 2), proven.
    pub entry: &'a LogEntry,
    /// The module hash its code epoch names, proven.
    pub module_hash: [u8; 32],
    /// The model's entry (kind 4) before it, proven.
    pub model_entry: &'a LogEntry,
    /// The module as installed (a `.wasm.gz` compressed: the IC hashes what was installed).
    pub module: &'a [u8],
    pub model: &'a [u8],
    pub tokenizer: Option<&'a [u8]>,
    pub work: Work<'a>,
}

/// What the replay ran and found identical.
#[derive(Debug)]
pub struct Replayed {
    /// The entry the fresh canister wrote: the same hashes as the one replayed.
    pub receipt: LogEntry,
    /// Instructions of the replayed inference or generation, as the host counted them.
    pub instructions: u64,
}

/// Why a replay does not reproduce the entry. Each names the first check that failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The module file is not the module the entry's code epoch names.
    ModuleHash { expected: String, actual: String },
    /// The model file is not the entry's model.
    ModelHash { expected: String, actual: String },
    /// The model entry is not the entry's model record: not kind 4, another model id or
    /// hash, or not before the entry.
    ModelEntry(String),
    /// A language model's tokenizer is missing or not the declared one.
    Tokenizer(String),
    /// The saved inputs (or prompt) and nonce do not open the entry's input commitment.
    InputHash,
    /// The entry is of a kind replay does not re-run (a code epoch, a model entry).
    NotReplayable(&'static str),
    /// The local host refused the module, or the canister refused a step of the replay.
    Refused { step: &'static str, reason: String },
    /// The replay ran and computed something else than the entry records.
    Differs { field: &'static str, detail: String },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::ModuleHash { expected, actual } => write!(
                f,
                "the module file has SHA-256 {actual}, but the entry's code epoch names module {expected} \
                 (pass the module as installed: a .wasm.gz is hashed compressed)"
            ),
            ReplayError::ModelHash { expected, actual } => write!(
                f,
                "the model file has SHA-256 {actual}, but the entry's model is {expected}"
            ),
            ReplayError::ModelEntry(why) => write!(f, "the model entry does not apply: {why}"),
            ReplayError::Tokenizer(why) => write!(f, "the tokenizer: {why}"),
            ReplayError::InputHash => f.write_str(
                "the saved inputs and nonce do not open the entry's input commitment: they are not what was run",
            ),
            ReplayError::NotReplayable(kind) => write!(f, "a {kind} entry is not re-run"),
            ReplayError::Refused { step, reason } => write!(f, "{step} refused: {reason}"),
            ReplayError::Differs { field, detail } => {
                write!(f, "the replay computed a different {field}: {detail}")
            }
        }
    }
}

impl std::error::Error for ReplayError {}

fn hex32(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Re-runs `replay.entry` on a fresh local host and requires the same outputs.
pub fn replay(replay: &Replay) -> Result<Replayed, ReplayError> {
    let declaration = check_files(replay)?;
    let entry = replay.entry;
    let mut canister = Replayer::install(replay.module)?;
    canister.load_model(&entry.model_id, replay.model, replay.tokenizer, declaration)?;
    match &replay.work {
        Work::Inference {
            inputs,
            nonce,
            outputs,
        } => {
            let result = canister.infer(&entry.model_id, inputs, *nonce)?;
            same_inference(entry, result, outputs)
        }
        Work::Generation {
            prompt,
            nonce,
            completion,
            tokens,
        } => {
            let Some(EntryKind::Generation(receipt)) = &entry.kind else {
                return Err(ReplayError::NotReplayable(
                    "inference entry held as a generation",
                ));
            };
            let status = canister.generate(GenerateArgs {
                model_id: entry.model_id.clone(),
                prompt: prompt.to_string(),
                max_new_tokens: replay_length(receipt),
                sampling: receipt.sampling.clone(),
                stop: Vec::new(),
                nonce: nonce.map(|n| ByteBuf::from(n.to_vec())),
            })?;
            same_generation(entry, receipt, status, completion, tokens)
        }
    }
}

/// The receipt keeps no stop sequences: the replay generates as many tokens as the entry
/// did, without them (a stop sequence's cut is checked as a prefix). An end of sequence or
/// a full context ends the replay where it ended the entry, so it may take one token more
/// than the entry did, to stop for the same reason.
fn replay_length(receipt: &GenerationReceipt) -> u32 {
    match receipt.stop_reason {
        StopReason::MaxNewTokens | StopReason::StopSequence => receipt.generated_tokens,
        StopReason::Eos | StopReason::ContextFull => receipt.generated_tokens.saturating_add(1),
    }
}

/// Every file against the hash a proven entry names, before anything runs. Returns the
/// model's declaration.
fn check_files<'a>(replay: &Replay<'a>) -> Result<&'a ModelDeclaration, ReplayError> {
    let (entry, record) = (replay.entry, replay.model_entry);
    let module_sha: [u8; 32] = Sha256::digest(replay.module).into();
    if module_sha != replay.module_hash {
        return Err(ReplayError::ModuleHash {
            expected: hex32(&replay.module_hash),
            actual: hex32(&module_sha),
        });
    }
    let model_sha: [u8; 32] = Sha256::digest(replay.model).into();
    if model_sha[..] != entry.model_sha256[..] {
        return Err(ReplayError::ModelHash {
            expected: hex32(&entry.model_sha256),
            actual: hex32(&model_sha),
        });
    }
    let Some(EntryKind::Model(declaration)) = &record.kind else {
        return Err(ReplayError::ModelEntry(format!(
            "entry #{} is not a model entry",
            record.seq
        )));
    };
    if record.model_id != entry.model_id || record.model_sha256 != entry.model_sha256 {
        return Err(ReplayError::ModelEntry(format!(
            "entry #{} declares model '{}' ({}), the entry ran '{}' ({})",
            record.seq,
            record.model_id,
            hex32(&record.model_sha256),
            entry.model_id,
            hex32(&entry.model_sha256)
        )));
    }
    if record.seq >= entry.seq {
        return Err(ReplayError::ModelEntry(format!(
            "entry #{} comes after entry #{}",
            record.seq, entry.seq
        )));
    }
    let opens = match (&replay.work, &entry.kind) {
        (Work::Inference { inputs, nonce, .. }, None | Some(EntryKind::Inference)) => {
            input_hash(inputs, *nonce)
        }
        (Work::Generation { prompt, nonce, .. }, Some(EntryKind::Generation(_))) => {
            prompt_commitment(prompt, *nonce)
        }
        (_, Some(EntryKind::CodeEpoch(_))) => return Err(ReplayError::NotReplayable("code epoch")),
        (_, Some(EntryKind::Model(_))) => return Err(ReplayError::NotReplayable("model")),
        (Work::Inference { .. }, _) => {
            return Err(ReplayError::NotReplayable(
                "generation entry held as an inference",
            ));
        }
        (Work::Generation { .. }, _) => {
            return Err(ReplayError::NotReplayable(
                "inference entry held as a generation",
            ));
        }
    };
    if opens.is_none_or(|h| h[..] != entry.input_hash[..]) {
        return Err(ReplayError::InputHash);
    }
    match (&declaration.language_model, replay.tokenizer) {
        (Some(lm), Some(tokenizer)) => {
            let sha: [u8; 32] = Sha256::digest(tokenizer).into();
            if sha[..] != lm.tokenizer.sha256[..] {
                return Err(ReplayError::Tokenizer(format!(
                    "the file has SHA-256 {}, the model entry declares {}",
                    hex32(&sha),
                    hex32(&lm.tokenizer.sha256)
                )));
            }
        }
        (Some(_), None) => {
            return Err(ReplayError::Tokenizer(
                "a language model's replay needs its tokenizer file".into(),
            ));
        }
        (None, _) => {}
    }
    Ok(declaration)
}

pub(crate) fn refused(step: &'static str) -> impl Fn(String) -> ReplayError {
    move |reason| ReplayError::Refused { step, reason }
}

fn same_inference(
    entry: &LogEntry,
    result: InferResult,
    outputs: &[Tensor],
) -> Result<Replayed, ReplayError> {
    let receipt = result.receipt;
    same_commitments(entry, &receipt)?;
    let replayed = output_hash(&result.outputs);
    if replayed[..] != entry.output_hash[..] {
        return Err(ReplayError::Differs {
            field: "output hash",
            detail: format!(
                "{} (the entry records {})",
                hex32(&replayed),
                hex32(&entry.output_hash)
            ),
        });
    }
    same_output_bytes(&result.outputs, outputs)?;
    Ok(Replayed {
        instructions: receipt.instructions,
        receipt,
    })
}

fn same_generation(
    entry: &LogEntry,
    receipt: &GenerationReceipt,
    status: GenerationStatus,
    completion: &[u8],
    tokens: &[u32],
) -> Result<Replayed, ReplayError> {
    let GenerationState::Done(replayed) = status.state else {
        return Err(refused("generation")(format!(
            "it ended as {:?}",
            status.state
        )));
    };
    same_commitments(entry, &replayed)?;
    let Some(EntryKind::Generation(again)) = &replayed.kind else {
        return Err(refused("generation")(
            "its entry is not a generation".into(),
        ));
    };
    same_receipt(receipt, again, &status.tokens)?;
    if status.tokens != tokens {
        return Err(ReplayError::Differs {
            field: "token sequence",
            detail: "the saved tokens are not the ones replayed".into(),
        });
    }
    let cut_by_stop = receipt.stop_reason == StopReason::StopSequence;
    let same_completion = match cut_by_stop {
        true => status.completion.starts_with(completion),
        false => status.completion[..] == completion[..],
    };
    if !same_completion {
        return Err(ReplayError::Differs {
            field: "completion",
            detail: "the saved completion's bytes are not the replayed ones".into(),
        });
    }
    if completion_hash(completion)[..] != entry.output_hash[..]
        || !cut_by_stop && replayed.output_hash != entry.output_hash
    {
        return Err(ReplayError::Differs {
            field: "output hash",
            detail: format!(
                "{} (the entry records {})",
                hex32(&replayed.output_hash),
                hex32(&entry.output_hash)
            ),
        });
    }
    Ok(Replayed {
        instructions: replayed.instructions,
        receipt: replayed,
    })
}

/// The replayed entry commits to the same model and inputs (the nonce reproduces a salted
/// commitment).
fn same_commitments(entry: &LogEntry, replayed: &LogEntry) -> Result<(), ReplayError> {
    for (field, ours, theirs) in [
        ("model hash", &replayed.model_sha256, &entry.model_sha256),
        ("input hash", &replayed.input_hash, &entry.input_hash),
    ] {
        if ours != theirs {
            return Err(ReplayError::Differs {
                field,
                detail: format!("{} (the entry records {})", hex32(ours), hex32(theirs)),
            });
        }
    }
    Ok(())
}

fn same_receipt(
    entry: &GenerationReceipt,
    replayed: &GenerationReceipt,
    tokens: &[u32],
) -> Result<(), ReplayError> {
    let differs = |field, detail: String| Err(ReplayError::Differs { field, detail });
    if replayed.completion_tokens_sha256 != entry.completion_tokens_sha256
        || tokens_hash(tokens)[..] != entry.completion_tokens_sha256[..]
    {
        return differs(
            "completion tokens hash",
            format!(
                "{} (the entry records {})",
                hex32(&replayed.completion_tokens_sha256),
                hex32(&entry.completion_tokens_sha256)
            ),
        );
    }
    let stopped_alike = match entry.stop_reason {
        StopReason::StopSequence => replayed.stop_reason == StopReason::MaxNewTokens,
        reason => replayed.stop_reason == reason,
    };
    if replayed.sampling != entry.sampling
        || !stopped_alike
        || replayed.generated_tokens != entry.generated_tokens
        || replayed.prompt_tokens != entry.prompt_tokens
        || replayed.tokenizer_sha256 != entry.tokenizer_sha256
    {
        return differs(
            "generation receipt",
            format!("{replayed:?} (the entry records {entry:?})"),
        );
    }
    Ok(())
}

/// Byte for byte, tensor by tensor: names, dtypes, shapes and data as the output hash
/// encodes them (docs/hashing.md).
fn same_output_bytes(replayed: &[Tensor], saved: &[Tensor]) -> Result<(), ReplayError> {
    let bytes = |t: &Tensor| {
        let mut out = Vec::new();
        encode_tensor_list(std::slice::from_ref(t), &mut |b| out.extend_from_slice(b));
        out
    };
    if replayed.len() != saved.len() {
        return Err(ReplayError::Differs {
            field: "outputs",
            detail: format!(
                "{} tensors, the saved outputs are {}",
                replayed.len(),
                saved.len()
            ),
        });
    }
    for (ours, theirs) in replayed.iter().zip(saved) {
        let (a, b) = (bytes(ours), bytes(theirs));
        if a != b {
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            return Err(ReplayError::Differs {
                field: "output bytes",
                detail: format!(
                    "output '{}' differs from the saved '{}' at byte {at} of its encoding",
                    ours.name, theirs.name
                ),
            });
        }
    }
    Ok(())
}
