//! Where an inference's instructions go, per tract node and per kind of operator, and a model
//! load's (finalize), per phase, for the profiling build of the inference canister (`bash scripts/profile.sh MODEL...` builds it and
//! runs this). Prints a summary per operator and writes every node to
//! target/profile/<model>.tsv (op, node, info, instructions, evaluations).

use candid::Principal;
use icinfer_api::InferArgs;
use icinfer_tests::models::load_model;
use icinfer_tests::{InferenceCanister, LocalHost, Replica, workspace_root};
use std::collections::BTreeMap;

fn main() {
    let controller = Principal::from_slice(&[0xbe; 29]);
    let user = Principal::from_slice(&[0xbf; 29]);
    let out_dir = workspace_root().join("target").join("profile");
    std::fs::create_dir_all(&out_dir).unwrap();
    let models: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        !models.is_empty(),
        "usage: profile MODEL... (ids from models/manifest.json)"
    );
    for id in models {
        let model = load_model(&id).unwrap_or_else(|e| panic!("{e}"));
        let mut canister = InferenceCanister::install_on(profiling_host(), controller);
        let info = canister.install_model_declaring(&id, &model.bytes, model.input_facts.clone());
        let args = InferArgs {
            model_id: id.clone(),
            inputs: model.cases[0].inputs.clone(),
            nonce: None,
        };
        canister.infer(user, args).unwrap();
        let message = canister.replica.last_instructions().unwrap();
        let raw = canister
            .replica
            .query_raw(
                canister.id,
                user,
                "profile_dump",
                candid::encode_args(()).unwrap(),
            )
            .expect(
                "profile_dump: run through scripts/profile.sh, which builds the profiling module",
            );
        let (table,): (String,) = candid::decode_args(&raw).unwrap();
        let path = out_dir.join(format!("{id}.tsv"));
        std::fs::write(&path, &table).unwrap();

        let mut by_op: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut load_phases = Vec::new();
        let mut run = 0;
        for line in table.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let spent: u64 = fields[3].parse().unwrap();
            if fields[0] == "<run>" {
                run = spent;
                continue;
            }
            if fields[0] == "<load>" {
                load_phases.push((fields[1].to_string(), spent));
                continue;
            }
            let entry = by_op.entry(fields[0].to_string()).or_default();
            entry.0 += spent;
            entry.1 += 1;
        }
        let mut ops: Vec<_> = by_op.into_iter().collect();
        ops.sort_by_key(|(_, (spent, _))| std::cmp::Reverse(*spent));
        println!("{id}: {message} instructions for the infer message, {run} in tract's run");
        for (op, (spent, nodes)) in ops {
            println!(
                "  {op:28} {spent:>14} {:>6.1} %  ({nodes} nodes)",
                100.0 * spent as f64 / run.max(1) as f64
            );
        }
        println!("  every node: {}", path.display());
        let finalize = info.load_instructions.unwrap_or_default();
        println!("{id}: {finalize} instructions to finalize (load), by phase:");
        for (phase, spent) in load_phases {
            println!(
                "  {phase:28} {spent:>14} {:>6.1} %",
                100.0 * spent as f64 / finalize.max(1) as f64
            );
        }
    }
}

/// The local host with the IC's limits, but for the code section: the profiling build reads
/// the instruction counter around every tract node and optimiser pass, which takes it over the
/// 10 MiB the shipped module fits in (tests/tests/wasm.rs holds that one to the limit).
fn profiling_host() -> Box<dyn Replica> {
    let mut config = icinfer_host::HostConfig::default();
    config.validation.max_code_section_bytes = 16 << 20;
    Box::new(LocalHost::with_config(config))
}
