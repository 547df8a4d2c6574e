//! A served host with persistence: calls committed over HTTP survive a restart of the server.

mod common;

use candid::{Decode, Encode};
use common::*;
use ic_agent::Agent;
use ic_agent::identity::BasicIdentity;
use icinfer_host::{Host, HostConfig};
use icinfer_http::{HandleOptions, Options, PersistOptions, serve};

fn options(dir: &std::path::Path) -> HandleOptions {
    HandleOptions {
        persist: Some(PersistOptions::new(dir)),
        ..HandleOptions::default()
    }
}

async fn agent(url: &str) -> Agent {
    let agent = Agent::builder()
        .with_url(url)
        .with_identity(BasicIdentity::from_raw_key(&[21; 32]))
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    agent
}

#[tokio::test]
async fn a_restarted_server_keeps_its_canisters_and_root_key() {
    let dir = std::env::temp_dir().join(format!("icinfer-http-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // The journal follows each committed call.
    let s = serve_with(options(&dir), Options::default());
    let (canister, url) = (s.canister, s.server.url());
    let a = agent(&url).await;
    a.update(&canister, "set_heap")
        .with_arg(Encode!(&31u64).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let on_disk = Host::load(HostConfig::default(), &dir)
        .expect("a consistent state while the server runs")
        .query_call(
            canister,
            candid::Principal::anonymous(),
            "get_heap",
            &Encode!().unwrap(),
        )
        .unwrap()
        .unwrap_reply();
    assert_eq!(
        Decode!(&on_disk, u64).unwrap(),
        31,
        "saved before the reply"
    );
    let root_key = a.read_root_key();
    drop(s);

    // A clean shutdown checkpoints; the next start reads the checkpoint.
    let handle =
        icinfer_http::HostHandle::open(HostConfig::default(), options(&dir)).expect("restore");
    let server = serve(
        handle.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Options::default(),
    )
    .unwrap();
    let a = agent(&server.url()).await;
    assert_eq!(a.read_root_key(), root_key);
    let v = a
        .query(&canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&v, u64).unwrap(), 31);
    a.update(&canister, "set_heap")
        .with_arg(Encode!(&32u64).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let hash = a.read_state_canister_module_hash(canister).await.unwrap();
    drop(a);
    drop(server);
    drop(handle);

    let handle = icinfer_http::HostHandle::open(HostConfig::default(), options(&dir))
        .expect("restore again");
    let server = serve(
        handle.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Options::default(),
    )
    .unwrap();
    let a = agent(&server.url()).await;
    let v = a
        .query(&canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&v, u64).unwrap(), 32, "saved at shutdown");
    assert_eq!(
        a.read_state_canister_module_hash(canister).await.unwrap(),
        hash
    );
    drop(server);
    drop(handle);
    let _ = std::fs::remove_dir_all(&dir);
}
