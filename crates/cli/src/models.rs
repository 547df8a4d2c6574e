//! `icinfer models`: the canister's models with their input and output facts.

use crate::client::Client;
use anyhow::Result;
use icinfer_api::{ModelInfo, ModelState, describe_fact};

pub async fn run(client: &Client, json: bool) -> Result<()> {
    let models: Vec<ModelInfo> = client.query("list_models", ()).await?;
    if json {
        let list: Vec<_> = models.iter().map(model_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if models.is_empty() {
        println!(
            "no models on {} at {}: add one with `icinfer upload <model.onnx> --id <id>`",
            client.canister,
            client.network.url()
        );
    }
    for info in &models {
        print_model(info);
    }
    Ok(())
}

pub fn print_model(info: &ModelInfo) {
    let state = match &info.state {
        ModelState::Ready => "ready".to_string(),
        ModelState::Uploading => "uploading".to_string(),
        ModelState::Finalizing(p) => format!(
            "finalizing: {}/{} chunks hashed, {} messages",
            p.chunks_hashed, p.chunks_total, p.messages
        ),
        ModelState::Failed { error } => format!("failed: {error}"),
    };
    println!("{}  [{state}]  {} bytes", info.id, info.size_bytes);
    println!("  sha256  {}", hex::encode(&info.sha256));
    if let Some(description) = &info.description {
        println!("  about   {description}");
    }
    for fact in &info.inputs {
        println!("  input   {}: {}", fact.name, describe_fact(fact));
    }
    for fact in &info.outputs {
        println!("  output  {}: {}", fact.name, describe_fact(fact));
    }
    if let Some(instructions) = info.load_instructions {
        println!("  loaded in {instructions} instructions");
    }
}

fn model_json(info: &ModelInfo) -> serde_json::Value {
    let facts = |facts: &[icinfer_api::TensorFact]| -> Vec<serde_json::Value> {
        facts
            .iter()
            .map(|f| serde_json::json!({ "name": f.name, "fact": describe_fact(f) }))
            .collect()
    };
    serde_json::json!({
        "id": info.id,
        "sha256": hex::encode(&info.sha256),
        "size_bytes": info.size_bytes,
        "description": info.description,
        "ready": info.state == ModelState::Ready,
        "created_at_ns": info.created_at_ns,
        "created_by": info.created_by.to_text(),
        "inputs": facts(&info.inputs),
        "outputs": facts(&info.outputs),
        "load_instructions": info.load_instructions,
    })
}
