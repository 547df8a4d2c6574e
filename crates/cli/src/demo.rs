//! `icinfer demo`: the whole product in one run, on the local host.

use crate::local::LocalCanister;
use anyhow::{Context, Result, ensure};
use candid::Principal;
use icinfer_api::{
    CreateModelArgs, Error, FindLogArgs, FindLogResult, InferArgs, InferResult, LogEntry,
    LogFilter, ModelInfo, Tensor, TensorData, UploadChunkArgs, UploadProgress,
};
use icinfer_core::limits::CHUNK_BYTES;
use icinfer_core::{runtime, tensor};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The bundled model: small enough to embed, real enough to show typed outputs.
const MODEL_ID: &str = "classify";
const MODEL: &[u8] = include_bytes!("../../../models/tiny/classify.onnx");

/// A fixed demo nonce, so that runs are reproducible. Real callers draw 32 random bytes.
const NONCE: [u8; 32] = *b"icinfer demo nonce: keep secret!";

pub fn run(wasm_path: &Path) -> Result<()> {
    let wasm = std::fs::read(wasm_path).with_context(|| {
        format!(
            "reading {}; build it with: bash scripts/build-canister.sh",
            wasm_path.display()
        )
    })?;
    let operator = Principal::from_slice(&[0x1c; 29]);
    let user = Principal::from_slice(&[0x2d; 29]);

    println!("icinfer demo: verifiable inference on a local IC host\n");
    let mut local = LocalCanister::start(&wasm, operator)?;
    println!(
        "1. Installed the inference canister {} (module SHA-256 {}, {} instructions)",
        local.canister,
        hex::encode(Sha256::digest(&wasm)),
        local.instructions
    );

    let info = upload(&mut local, operator)?;
    println!(
        "2. Uploaded model '{MODEL_ID}' ({} bytes, SHA-256 {}) and finalized it ({} instructions)",
        info.size_bytes,
        hex::encode(&info.sha256),
        local.instructions
    );
    for fact in &info.inputs {
        println!(
            "     input  {} : {}",
            fact.name,
            runtime::describe_fact(fact)
        );
    }
    for fact in &info.outputs {
        println!(
            "     output {} : {}",
            fact.name,
            runtime::describe_fact(fact)
        );
    }

    let inputs = vec![
        tensor_f32("x", &[1.0, 2.0, 3.0, 4.0]),
        tensor_f32("w", &[1.0, 1.0, -1.0, 0.5]),
    ];
    let args = InferArgs {
        model_id: MODEL_ID.into(),
        inputs: inputs.clone(),
        nonce: Some(ByteBuf::from(NONCE.to_vec())),
    };
    let result: Result<InferResult, Error> = local.update(user, "infer", (args,))?;
    let result = result.context("infer")?;
    println!("3. infer as {user} ({} instructions)", local.instructions);
    for t in &inputs {
        println!("     in  {} = {}", t.name, show(t));
    }
    for t in &result.outputs {
        println!("     out {} = {}", t.name, show(t));
    }

    let receipt = &result.receipt;
    println!("4. Receipt: provenance log entry #{}", receipt.seq);
    println!(
        "     time          {} ns since the epoch",
        receipt.timestamp_ns
    );
    println!("     caller        {}", receipt.caller);
    println!(
        "     model         {} sha256 {}",
        receipt.model_id,
        hex::encode(&receipt.model_sha256)
    );
    println!(
        "     input_hash    {} (salted: {})",
        hex::encode(&receipt.input_hash),
        receipt.input_salted
    );
    println!("     output_hash   {}", hex::encode(&receipt.output_hash));
    println!("     instructions  {}", receipt.instructions);

    println!("5. Verification, recomputed here:");
    check(
        receipt.model_sha256[..] == Sha256::digest(MODEL)[..],
        "model_sha256 is the SHA-256 of the bundled model file",
    )?;
    check(
        receipt.input_hash[..] == tensor::input_hash(&inputs, Some(&NONCE))[..],
        "input_hash is the salted commitment to these inputs and this nonce",
    )?;
    check(
        receipt.output_hash[..] == tensor::output_hash(&result.outputs)[..],
        "output_hash is the hash of these outputs",
    )?;
    let logged: Result<LogEntry, Error> = local.query(user, "log_entry", (receipt.seq,))?;
    check(
        &logged.context("log_entry")? == receipt,
        "the public log holds this receipt at its sequence number",
    )?;
    let found: Result<FindLogResult, Error> = local.query(
        user,
        "find_log_entries",
        (FindLogArgs {
            filter: LogFilter::OutputHash(receipt.output_hash.clone()),
            start: 0,
            limit: 10,
        },),
    )?;
    check(
        found.context("find_log_entries")?.entries.contains(receipt),
        "searching the log by output hash finds it",
    )?;
    println!(
        "   Not yet checked: an IC certificate over the log (the certified Merkle log is the next step).\n"
    );
    Ok(())
}

fn upload(local: &mut LocalCanister, operator: Principal) -> Result<ModelInfo> {
    let created: Result<ModelInfo, Error> = local.update(
        operator,
        "create_model",
        (CreateModelArgs {
            id: MODEL_ID.into(),
            sha256: ByteBuf::from(Sha256::digest(MODEL).to_vec()),
            size_bytes: MODEL.len() as u64,
            description: Some("two inputs, softmax scores and an argmax label".into()),
        },),
    )?;
    created.context("create_model")?;
    for (index, chunk) in MODEL.chunks(CHUNK_BYTES as usize).enumerate() {
        let progress: Result<UploadProgress, Error> = local.update(
            operator,
            "upload_model_chunk",
            (UploadChunkArgs {
                id: MODEL_ID.into(),
                offset: index as u64 * CHUNK_BYTES,
                data: ByteBuf::from(chunk.to_vec()),
            },),
        )?;
        progress.context("upload_model_chunk")?;
    }
    let finalized: Result<ModelInfo, Error> =
        local.update(operator, "finalize_model", (MODEL_ID.to_string(),))?;
    finalized.context("finalize_model")
}

fn tensor_f32(name: &str, values: &[f32]) -> Tensor {
    Tensor {
        name: name.into(),
        shape: vec![1, values.len() as u64],
        data: TensorData::F32(values.to_vec()),
    }
}

fn show(t: &Tensor) -> String {
    let values = match &t.data {
        TensorData::F32(v) => format!("{v:?}"),
        TensorData::F64(v) => format!("{v:?}"),
        TensorData::I64(v) => format!("{v:?}"),
        TensorData::I32(v) => format!("{v:?}"),
        TensorData::I8(v) => format!("{v:?}"),
        TensorData::U8(v) => format!("{:?}", v.as_slice()),
        TensorData::Bool(v) => format!("{v:?}"),
    };
    format!("{}{:?} {values}", t.data.dtype(), t.shape)
}

fn check(ok: bool, what: &str) -> Result<()> {
    ensure!(ok, "FAILED: {what}");
    println!("   ✓ {what}");
    Ok(())
}
