//! `icinfer upload`: a model in chunks, resumable, checked by SHA-256, then finalized.
//!
//! Resuming needs no local state: the canister's `upload_status` says which chunks it has, and
//! chunks are idempotent, so an interrupted upload is finished by running the command again.
//! A model too large to finalize in one message finalizes as a job: the command follows it
//! (`upload_status`) until the model is ready or failed. A failed upload of the same file is
//! retried with the input facts given now (`create_model` again keeps its chunks).

use crate::client::Client;
use crate::log::utc;
use crate::models::print_model;
use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt};
use icinfer_api::{
    CreateModelArgs, DType, Dim, Error, ModelInfo, ModelState, TensorFact, UploadChunkArgs,
    UploadProgress, UploadStatus,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// Chunks in flight at once: hides the latency of each update call (about two seconds on
/// mainnet) without queueing much on a single-threaded canister.
const CONCURRENT_CHUNKS: usize = 4;

pub struct UploadOptions<'a> {
    pub file: &'a Path,
    pub id: String,
    pub description: Option<String>,
    pub input_facts: Vec<TensorFact>,
    /// Delete a different model of the same id first.
    pub replace: bool,
    pub progress: bool,
    /// A language model's declaration and its tokenizer's bytes (`--tokenizer`).
    pub language_model: Option<(icinfer_api::LanguageModel, Vec<u8>)>,
}

pub async fn run(client: &Client, options: UploadOptions<'_>) -> Result<ModelInfo> {
    let bytes = std::fs::read(options.file)
        .with_context(|| format!("reading the model {}", options.file.display()))?;
    let sha256 = Sha256::digest(&bytes).to_vec();
    let id = options.id.clone();
    println!(
        "model '{id}': {} ({} bytes, SHA-256 {})",
        options.file.display(),
        bytes.len(),
        hex::encode(&sha256)
    );

    let existing: Result<ModelInfo, Error> = client.query("model_info", (id.clone(),)).await?;
    match existing {
        Ok(info) if info.sha256[..] == sha256[..] && info.state == ModelState::Ready => {
            println!("already uploaded and finalized: nothing to do");
            return Ok(info);
        }
        Ok(info) if info.sha256[..] == sha256[..] => match &info.state {
            ModelState::Failed { error } => {
                println!("the last finalize failed ({error}); trying again with these input facts");
                create(client, &options, &bytes, &sha256).await?;
            }
            ModelState::Finalizing(_) => {
                println!("the upload is complete and being finalized");
                return follow_finalize(client, &id, options.progress).await;
            }
            _ => println!("resuming the upload begun at {}", utc(info.created_at_ns)),
        },
        Ok(info) if options.replace => {
            let deleted: Result<(), Error> = client.update("delete_model", (id.clone(),)).await?;
            deleted.map_err(|e| client.explain("delete_model", e))?;
            println!(
                "deleted the previous '{id}' (SHA-256 {})",
                hex::encode(&info.sha256)
            );
            create(client, &options, &bytes, &sha256).await?;
        }
        Ok(info) => bail!(
            "a different model '{id}' is on the canister (SHA-256 {})\n  fix: pass --replace to \
             delete it first, or choose another --id",
            hex::encode(&info.sha256)
        ),
        Err(Error::NotFound { .. }) => create(client, &options, &bytes, &sha256).await?,
        Err(e) => return Err(client.explain("model_info", e)),
    }

    let status: Result<UploadStatus, Error> = client.query("upload_status", (id.clone(),)).await?;
    let status = status.map_err(|e| client.explain("upload_status", e))?;
    let model = Missing {
        file: "model",
        method: "upload_model_chunk",
        bytes: &bytes,
        chunks: &status.missing_chunks,
        chunks_total: status.chunks_total,
        chunks_received: status.chunks_received,
    };
    send_missing_chunks(client, &id, model, status.chunk_size, options.progress).await?;
    if let Some((_, tokenizer)) = &options.language_model {
        let Some(sent) = &status.tokenizer else {
            bail!("the canister's '{id}' is not a language model; pass --replace to create it anew")
        };
        let tokenizer = Missing {
            file: "tokenizer",
            method: "upload_tokenizer_chunk",
            bytes: tokenizer,
            chunks: &sent.missing_chunks,
            chunks_total: sent.chunks_total,
            chunks_received: sent.chunks_received,
        };
        send_missing_chunks(client, &id, tokenizer, status.chunk_size, options.progress).await?;
    }

    let finalized: Result<ModelInfo, Error> =
        client.update("finalize_model", (id.clone(),)).await?;
    let info = finalized.map_err(|e| client.explain("finalize_model", e))?;
    if let ModelState::Finalizing(_) = info.state {
        println!("finalizing as a job (the model does not fit one message)");
        return follow_finalize(client, &id, options.progress).await;
    }
    finished(info)
}

fn finished(info: ModelInfo) -> Result<ModelInfo> {
    println!("finalized: the canister checked the SHA-256 and loaded the model");
    print_model(&info);
    Ok(info)
}

/// Polls `upload_status` while the finalize job runs, showing its progress, until the model
/// is ready (returned) or failed (the canister's reason, explained).
async fn follow_finalize(client: &Client, id: &str, show_progress: bool) -> Result<ModelInfo> {
    let bar = if show_progress {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    loop {
        let status: Result<UploadStatus, Error> =
            client.query("upload_status", (id.to_string(),)).await?;
        match status
            .map_err(|e| client.explain("upload_status", e))?
            .state
        {
            ModelState::Finalizing(p) => {
                let text = format!(
                    "finalizing: {}/{} chunks hashed, {} messages, {} instructions{}",
                    p.chunks_hashed,
                    p.chunks_total,
                    p.messages,
                    p.instructions,
                    if p.chunks_hashed == p.chunks_total {
                        "; parsing and optimising"
                    } else {
                        ""
                    }
                );
                if show_progress {
                    bar.set_message(text);
                    bar.tick();
                } else {
                    println!("{text}");
                }
            }
            ModelState::Failed { error } => {
                bar.finish_and_clear();
                return Err(client.explain("finalize_model", error));
            }
            ModelState::Uploading => {
                bar.finish_and_clear();
                bail!("'{id}' is back to uploading: run the command again to resume");
            }
            ModelState::Ready => {
                bar.finish_and_clear();
                let info: Result<ModelInfo, Error> =
                    client.query("model_info", (id.to_string(),)).await?;
                return finished(info.map_err(|e| client.explain("model_info", e))?);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A language model's tokenizer, every chunk (it is small; chunks are idempotent).
async fn create(
    client: &Client,
    options: &UploadOptions<'_>,
    bytes: &[u8],
    sha256: &[u8],
) -> Result<()> {
    let created: Result<ModelInfo, Error> = client
        .update(
            "create_model",
            (CreateModelArgs {
                id: options.id.clone(),
                sha256: ByteBuf::from(sha256.to_vec()),
                size_bytes: bytes.len() as u64,
                description: options.description.clone(),
                input_facts: (!options.input_facts.is_empty()).then(|| options.input_facts.clone()),
                language_model: options.language_model.as_ref().map(|(lm, _)| lm.clone()),
            },),
        )
        .await?;
    created.map_err(|e| client.explain("create_model", e))?;
    Ok(())
}

/// The chunks of one file of an upload that the canister has not got (`upload_status`).
struct Missing<'a> {
    /// "model" or "tokenizer".
    file: &'a str,
    method: &'static str,
    bytes: &'a [u8],
    chunks: &'a [u32],
    chunks_total: u32,
    chunks_received: u32,
}

async fn send_missing_chunks(
    client: &Client,
    id: &str,
    missing: Missing<'_>,
    chunk_size: u64,
    show_progress: bool,
) -> Result<()> {
    let Missing {
        file,
        method,
        bytes,
        ..
    } = missing;
    let chunk_size = chunk_size as usize;
    let chunk = |index: u32| {
        let start = index as usize * chunk_size;
        &bytes[start..(start + chunk_size).min(bytes.len())]
    };
    let missing_bytes: u64 = missing.chunks.iter().map(|&i| chunk(i).len() as u64).sum();
    let prefix = if file == "model" {
        String::new()
    } else {
        format!("{file}: ")
    };
    println!(
        "{prefix}{} of {} chunks to send ({} bytes; the canister has the other {})",
        missing.chunks.len(),
        missing.chunks_total,
        missing_bytes,
        missing.chunks_received
    );
    let bar = if show_progress {
        ProgressBar::new(missing_bytes)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("a valid template"),
    );
    futures_util::stream::iter(missing.chunks.iter().copied())
        .map(|index| {
            let bar = &bar;
            async move {
                let data = chunk(index);
                let sent: Result<UploadProgress, Error> = client
                    .update(
                        method,
                        (UploadChunkArgs {
                            id: id.to_string(),
                            offset: index as u64 * chunk_size as u64,
                            data: ByteBuf::from(data.to_vec()),
                        },),
                    )
                    .await
                    .with_context(|| {
                        format!("sending {file} chunk {index}; run the command again to resume")
                    })?;
                sent.map_err(|e| client.explain(method, e))?;
                bar.inc(data.len() as u64);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENT_CHUNKS)
        .try_collect::<()>()
        .await?;
    bar.finish_and_clear();
    Ok(())
}

/// `name=f32[1,3,height,width]`: an input fact for models whose free dimensions tract cannot
/// work out (models/README.md). A dimension is a number or a symbol.
pub fn parse_input_fact(text: &str) -> Result<TensorFact> {
    let bad = || {
        anyhow::anyhow!(
            "input fact '{text}': expected name=dtype[dim,...], e.g. x=f32[1,3,height,width]"
        )
    };
    let (name, fact) = text.split_once('=').ok_or_else(bad)?;
    let (dtype, dims) = fact.split_once('[').ok_or_else(bad)?;
    let dims = dims.strip_suffix(']').ok_or_else(bad)?;
    let dtype = parse_dtype(dtype.trim()).ok_or_else(bad)?;
    let shape = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.parse::<u64>() {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Symbol(d.to_string()),
        })
        .collect();
    Ok(TensorFact {
        name: name.trim().to_string(),
        dtype,
        shape,
    })
}

pub fn parse_dtype(name: &str) -> Option<DType> {
    [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::I8,
        DType::U8,
        DType::Bool,
    ]
    .into_iter()
    .find(|d| d.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_facts_parse() {
        let fact = parse_input_fact("x=f32[1, 3, height,width]").unwrap();
        assert_eq!(fact.name, "x");
        assert_eq!(fact.dtype, DType::F32);
        assert_eq!(
            fact.shape,
            vec![
                Dim::Fixed(1),
                Dim::Fixed(3),
                Dim::Symbol("height".into()),
                Dim::Symbol("width".into())
            ]
        );
        assert!(parse_input_fact("x=float[1]").is_err());
        assert!(parse_input_fact("x[1]").is_err());
        assert!(parse_input_fact("x=f32[1").is_err());
    }
}
