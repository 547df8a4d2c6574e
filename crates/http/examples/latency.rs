//! Measures request latency through ic-agent against a served host (query signatures and
//! certificates verified by the agent): `cargo run --release -p icinfer-http --example latency
//! -- <host_test_canister.wasm>`.

use candid::{Decode, Encode};
use ic_agent::Agent;
use ic_agent::identity::BasicIdentity;
use icinfer_host::{Host, HostConfig, Principal};
use icinfer_http::{HostHandle, Options, serve};
use std::time::{Duration, Instant};

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<28} n={:<4} median {:>7.2?}  p95 {:>7.2?}  max {:>7.2?}",
        samples.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}

#[tokio::main]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/wasm32-unknown-unknown/release/host_test_canister.wasm".into());
    let wasm = std::fs::read(&path).expect("the test canister wasm");
    let handle = HostHandle::new(Host::new(HostConfig::default()));
    let controller = Principal::from_slice(&[0xc0; 29]);
    let canister = handle.with(move |h| {
        let id = h.create_canister(vec![controller]);
        h.install_code(id, &wasm, &Encode!(&None::<String>).unwrap(), controller)
            .unwrap();
        id
    });
    let server = serve(handle, "127.0.0.1:0".parse().unwrap(), Options::default()).unwrap();
    let agent = Agent::builder()
        .with_url(server.url())
        .with_identity(BasicIdentity::from_raw_key(&[1; 32]))
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    // Warm up (the agent fetches the subnet's node keys once).
    agent
        .query(&canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();

    let mut q = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let r = agent
            .query(&canister, "get_heap")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        q.push(t.elapsed());
        Decode!(&r, u64).unwrap();
    }
    summary("query (verified)", q);
    let mut u = Vec::new();
    for i in 0..200u64 {
        let t = Instant::now();
        agent
            .update(&canister, "set_heap")
            .with_arg(Encode!(&i).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        u.push(t.elapsed());
    }
    summary("sync update (v4, verified)", u);
    let mut r = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        agent
            .read_state_canister_module_hash(canister)
            .await
            .unwrap();
        r.push(t.elapsed());
    }
    summary("read_state module_hash", r);
}
