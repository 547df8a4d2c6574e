//! `icinfer demo`: the whole product in one run, on the local host.

use crate::local::LocalCanister;
use anyhow::{Context, Result, ensure};
use candid::Principal;
use icinfer_api::{
    CreateModelArgs, Error, InferArgs, InferResult, LogProof, LogProofArgs, ModelInfo, Tensor,
    TensorData, UploadChunkArgs, UploadProgress,
};
use icinfer_core::limits::CHUNK_BYTES;
use icinfer_core::runtime;
use icinfer_verify::verifier::{Opening, Trust, verify_log_proof};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The bundled model: the digits classifier (models/README.md), and a test image it never
/// saw in training.
const MODEL_ID: &str = "digits";
const MODEL: &[u8] = include_bytes!("../../../models/digits/digits.onnx");
const IMAGE: &[u8] = include_bytes!("../../../models/digits/reference/case0_in_pixels.npy");

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

    let pixels: Vec<f32> = npyz::NpyFile::new(IMAGE)?.into_vec()?;
    let inputs = vec![Tensor {
        name: "pixels".into(),
        shape: vec![1, 64],
        data: TensorData::F32(pixels.clone()),
    }];
    let args = InferArgs {
        model_id: MODEL_ID.into(),
        inputs: inputs.clone(),
        nonce: Some(ByteBuf::from(NONCE.to_vec())),
    };
    let result: Result<InferResult, Error> = local.update(user, "infer", (args,))?;
    let result = result.context("infer")?;
    println!("3. infer as {user} ({} instructions)", local.instructions);
    println!("     in  pixels: an 8x8 handwritten digit from the held-out test set");
    for row in pixels.chunks(8) {
        let shades: String = row
            .iter()
            .map(|&p| [' ', '.', ':', '+', '#'][(p * 4.0).round().clamp(0.0, 4.0) as usize])
            .flat_map(|c| [c, c])
            .collect();
        println!("         |{shades}|");
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

    println!("5. Verification, as a third party would do it:");
    check(
        receipt.model_sha256[..] == Sha256::digest(MODEL)[..],
        "model_sha256 is the SHA-256 of the bundled model file",
    )?;
    let proof: Result<LogProof, Error> = local.query(
        user,
        "log_proof",
        (LogProofArgs {
            index: receipt.seq,
            tree_size: None,
        },),
    )?;
    let proof = proof.context("log_proof")?;
    check(
        &proof.entry == receipt,
        "the log's entry at the receipt's sequence number is the receipt",
    )?;
    let trust = Trust {
        root_key: local.host.root_key_der(),
        canister_id: local.canister,
        now_ns: local.host.time_ns(),
        max_age_ns: 5 * 60 * 1_000_000_000,
    };
    let opening = Opening {
        inputs: &inputs,
        nonce: Some(&NONCE),
        outputs: &result.outputs,
    };
    let proven = verify_log_proof(&proof, &trust, Some(&opening))
        .map_err(|e| anyhow::anyhow!("FAILED: the receipt does not verify: {e}"))?;
    println!(
        "   ✓ certificate, Merkle proof and recomputed hashes verify against the host's root key"
    );
    println!("\n{proven}");
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
            description: Some("64-128-10 MLP trained on scikit-learn's digits".into()),
            input_facts: None,
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
