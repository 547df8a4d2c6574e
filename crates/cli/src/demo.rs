//! `icinfer demo`: the whole product in one run, through the same paths a user takes.
//!
//! A throw-away host (fresh root key, no state on disk) is served on a free loopback port with
//! the inference canister installed; then the demo is `icinfer upload`, `icinfer infer --save`
//! and `icinfer verify --receipt` against it, over the IC HTTP interface, as an Ed25519
//! identity made for the occasion.

use crate::client::Client;
use crate::identity::LoadedIdentity;
use crate::network::Network;
use crate::{infer, tensors, upload, verify};
use anyhow::{Context, Result};
use candid::encode_args;
use ic_agent::identity::BasicIdentity;
use icinfer_host::{Host, HostConfig};
use icinfer_http::{HostHandle, Options};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The bundled model: the digits classifier (models/README.md), and a test image it never
/// saw in training.
const MODEL_ID: &str = "digits";
const MODEL: &[u8] = include_bytes!("../../../models/digits/digits.onnx");
const IMAGE: &[u8] = include_bytes!("../../../models/digits/reference/case0_in_pixels.npy");

pub async fn run(wasm_path: &Path) -> Result<()> {
    let wasm = std::fs::read(wasm_path).with_context(|| {
        format!(
            "reading {}\n  fix: build it with `bash scripts/build-canister.sh`",
            wasm_path.display()
        )
    })?;
    let work = std::env::temp_dir().join(format!("icinfer-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = run_in(&wasm, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "\n(The demo's host, receipt and files end with it; `icinfer serve` keeps them across runs.)"
    );
    result
}

async fn run_in(wasm: &[u8], work: &Path) -> Result<()> {
    println!("icinfer demo: verifiable inference on a local IC host\n");
    let identity = LoadedIdentity {
        identity: Box::new(BasicIdentity::from_raw_key(&random_bytes()?)),
        source: "a key made for this demo".into(),
    };
    let me = identity.principal();

    let handle = HostHandle::new(Host::new(HostConfig {
        seed: random_bytes()?.to_vec(),
        ..HostConfig::default()
    }));
    let module = wasm.to_vec();
    let (canister, instructions) = handle.with(move |host| -> Result<_> {
        let id = host.create_canister(vec![me]);
        let done = host.install_code(id, &module, &encode_args(()).expect("no arguments"), me)?;
        Ok((id, done.instructions))
    })?;
    let server = icinfer_http::serve(
        handle.clone(),
        "127.0.0.1:0".parse().expect("an address"),
        Options::default(),
    )?;
    println!(
        "1. Installed the inference canister {canister} (module SHA-256 {}, {instructions} \
         instructions) and served it at {} as `icinfer serve` does; you are {me}\n",
        hex::encode(Sha256::digest(wasm)),
        server.url()
    );
    let client = Client::connect(Network::Url(server.url()), canister, identity).await?;

    println!("2. icinfer upload {MODEL_ID}.onnx");
    let model = work.join(format!("{MODEL_ID}.onnx"));
    std::fs::write(&model, MODEL)?;
    upload::run(
        &client,
        upload::UploadOptions {
            file: &model,
            id: MODEL_ID.into(),
            description: Some("64-128-10 MLP trained on scikit-learn's digits".into()),
            input_facts: Vec::new(),
            replace: false,
            progress: false,
            language_model: None,
        },
    )
    .await?;

    println!("\n3. icinfer infer {MODEL_ID}: an 8x8 handwritten digit from the held-out test set");
    let image = work.join("pixels.npy");
    std::fs::write(&image, IMAGE)?;
    if let icinfer_api::TensorData::F32(pixels) = tensors::read_npy("pixels", &image)?.data {
        for row in pixels.chunks(8) {
            let shades: String = row
                .iter()
                .map(|&p| [' ', '.', ':', '+', '#'][(p * 4.0).round().clamp(0.0, 4.0) as usize])
                .flat_map(|c| [c, c])
                .collect();
            println!("   |{shades}|");
        }
    }
    let saved = work.join("receipt");
    infer::run(
        &client,
        infer::InferOptions {
            model: MODEL_ID.into(),
            inputs: vec![image.display().to_string()],
            preprocess: icinfer_preprocess::Preset::default(),
            nonce: infer::Nonce::Random,
            query: false,
            job: false,
            save: Some(saved.clone()),
            top_k: 3,
            labels: None,
            json: false,
        },
    )
    .await?;

    println!("\n4. icinfer verify --receipt, as a third party would:");
    verify::run(
        &client,
        verify::VerifyOptions {
            seq: None,
            receipt: Some(saved),
            inputs: Vec::new(),
            outputs: Vec::new(),
            nonce: None,
            // The demo made the host, so it knows the key rather than trusting what it serves.
            root_key: Some(hex::encode(handle.root_key_der())),
            model: Some(model),
            max_age_secs: 300,
            expect_module_hash: None,
            release: None,
            replay: Default::default(),
        },
    )
    .await
}

fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes)
}
