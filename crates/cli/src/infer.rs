//! `icinfer infer`: inputs from files, outputs and the receipt on screen (and on disk).

use crate::client::Client;
use crate::receipt::{SavedInference, entry_json};
use crate::tensors::{describe_output, read_input};
use anyhow::{Context, Result, bail};
use icinfer_api::{
    Error, InferArgs, InferResult, LogEntry, ModelInfo, ModelState, QueryInferResult, Tensor,
    describe_fact,
};
use icinfer_preprocess::{Manifest, Preset};
use serde_bytes::ByteBuf;
use std::path::PathBuf;

pub enum Nonce {
    /// 32 fresh random bytes: the input hash reveals nothing about the inputs.
    Random,
    /// No nonce: the input hash is the plain hash of the inputs, so anyone holding candidate
    /// inputs can test them against the log.
    Unsalted,
    Given(Vec<u8>),
}

pub struct InferOptions {
    pub model: String,
    /// `name=source` or, for a model with one input, `source`.
    pub inputs: Vec<String>,
    /// How pictures become inputs, as given on the command line: what it leaves unset comes
    /// from the model's preset in models/manifest.json.
    pub preprocess: Preset,
    pub nonce: Nonce,
    /// `infer_query`: one replica, not logged, no receipt.
    pub query: bool,
    /// Run as a job from the start (`infer` switches to one by itself when the canister
    /// answers that the model needs it).
    pub job: bool,
    pub save: Option<PathBuf>,
    pub top_k: usize,
    pub labels: Option<PathBuf>,
    pub json: bool,
}

pub async fn run(client: &Client, options: InferOptions) -> Result<()> {
    if options.query && options.save.is_some() {
        bail!(
            "--save keeps a receipt, and a query makes none (it is neither logged nor \
             certified)\n  fix: drop --query to get a receipt to save, or drop --save"
        );
    }
    let info: Result<ModelInfo, Error> =
        client.query("model_info", (options.model.clone(),)).await?;
    let info = info.map_err(|e| client.explain("model_info", e))?;
    if info.state != ModelState::Ready {
        bail!(
            "model '{}' is still uploading\n  fix: finish it with `icinfer upload <file> --id {}`",
            info.id,
            info.id
        );
    }
    let preset = Manifest::bundled()
        .preset_for(&info.id, &hex::encode(&info.sha256))
        .overridden_by(&options.preprocess);
    let inputs = read_inputs(&info, &options.inputs, &preset)?;
    let nonce = match &options.nonce {
        Nonce::Random => {
            let mut bytes = vec![0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            Some(bytes)
        }
        Nonce::Unsalted => None,
        Nonce::Given(bytes) => Some(bytes.clone()),
    };
    let args = InferArgs {
        model_id: info.id.clone(),
        inputs: inputs.clone(),
        nonce: nonce.clone().map(ByteBuf::from),
    };
    let labels = match &options.labels {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the labels {}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => preset.labels.clone().unwrap_or_default(),
    };

    if options.query {
        let result: Result<QueryInferResult, Error> = client.query("infer_query", (args,)).await?;
        let result = result.map_err(|e| client.explain("infer_query", e))?;
        print_outputs(&result.outputs, &options, &labels, None)?;
        if !options.json {
            println!(
                "({} instructions; a query runs on one replica and is neither logged nor certified)",
                result.instructions
            );
        }
        return Ok(());
    }

    let result = if options.job {
        crate::job::run(client, args).await?
    } else {
        let answer: Result<InferResult, Error> = client.update("infer", (args.clone(),)).await?;
        match answer {
            Ok(result) => result,
            Err(Error::UseJob { reason, .. }) => {
                eprintln!("{reason}: running it as a job (--job does so from the start)");
                crate::job::run(client, args).await?
            }
            Err(e) => return Err(client.explain("infer", e)),
        }
    };
    print_outputs(&result.outputs, &options, &labels, Some(&result.receipt))?;
    if let Some(dir) = &options.save {
        SavedInference {
            network: client.network.url(),
            canister: client.canister,
            entry: result.receipt.clone(),
            nonce,
            inputs,
            outputs: result.outputs,
        }
        .save(dir)?;
        if !options.json {
            println!(
                "saved to {}; check it any time with `icinfer verify --receipt {}`",
                dir.display(),
                dir.display()
            );
        }
    } else if nonce.is_some() && !options.json {
        println!(
            "the nonce was not kept: pass --save DIR to be able to prove later which inputs were used"
        );
    }
    Ok(())
}

fn read_inputs(info: &ModelInfo, specs: &[String], preset: &Preset) -> Result<Vec<Tensor>> {
    let names: Vec<&str> = info.inputs.iter().map(|f| f.name.as_str()).collect();
    let mut tensors = Vec::new();
    for spec in specs {
        let (name, source) = match spec.split_once('=') {
            Some((name, source)) if names.contains(&name) => (name, source),
            _ if names.len() == 1 => (names[0], spec.as_str()),
            _ => bail!(
                "--input '{spec}': name the input, one of {}: --input <name>=<file or JSON>",
                names.join(", ")
            ),
        };
        let fact = info
            .inputs
            .iter()
            .find(|f| f.name == name)
            .expect("a known name");
        tensors.push(read_input(name, source, fact, preset)?);
    }
    if tensors.is_empty() {
        let wanted: Vec<String> = info
            .inputs
            .iter()
            .map(|f| format!("{}: {}", f.name, describe_fact(f)))
            .collect();
        bail!(
            "no inputs: model '{}' takes {}\n  fix: --input <name>=<file.npy|file.json|image|JSON>",
            info.id,
            wanted.join("; ")
        );
    }
    Ok(tensors)
}

fn print_outputs(
    outputs: &[Tensor],
    options: &InferOptions,
    labels: &[String],
    receipt: Option<&LogEntry>,
) -> Result<()> {
    if options.json {
        let outputs: Vec<_> = outputs
            .iter()
            .map(|t| serde_json::json!({ "name": t.name, "shape": t.shape, "data": t.data }))
            .collect();
        let mut out = serde_json::json!({ "outputs": outputs });
        if let Some(entry) = receipt {
            out["receipt"] = entry_json(entry);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for t in outputs {
        println!(
            "out {} = {}",
            t.name,
            describe_output(t, options.top_k, labels)
        );
    }
    if let Some(entry) = receipt {
        print_entry(entry);
    }
    Ok(())
}

pub fn print_entry(e: &LogEntry) {
    println!("receipt: provenance log entry #{}", e.seq);
    println!(
        "  time          {} ({} ns)",
        crate::log::utc(e.timestamp_ns),
        e.timestamp_ns
    );
    println!("  caller        {}", e.caller);
    println!(
        "  model         {} sha256 {}",
        e.model_id,
        hex::encode(&e.model_sha256)
    );
    println!(
        "  input_hash    {} ({})",
        hex::encode(&e.input_hash),
        if e.input_salted {
            "salted with a nonce"
        } else {
            "unsalted"
        }
    );
    println!("  output_hash   {}", hex::encode(&e.output_hash));
    println!("  instructions  {}", e.instructions);
    if let Some(messages) = e.messages.filter(|&m| m > 1) {
        println!("  messages      {messages} (a job)");
    }
}
