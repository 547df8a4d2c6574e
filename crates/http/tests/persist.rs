//! A served host with persistence: calls committed over HTTP survive a restart of the server.

mod common;

use candid::{Decode, Encode};
use common::*;
use ic_agent::Agent;
use ic_agent::identity::BasicIdentity;
use icinfer_host::{Host, HostConfig};
use icinfer_http::{HandleOptions, Options, PersistOptions, serve};
use std::time::Duration;

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

/// A crash (no clean shutdown, so no checkpoint: only the journal holds the call), then the
/// same signed call sent again: it is answered from its recorded status and does not run twice.
#[tokio::test]
async fn a_signed_call_sent_again_after_a_crash_runs_once() {
    let dir = std::env::temp_dir().join(format!("icinfer-http-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = serve_with(options(&dir), Options::default());
    let canister = s.canister;
    let a = agent(&s.server.url()).await;
    let signed = a
        .update(&canister, "log")
        .with_arg(Encode!(&"once".to_string()).unwrap())
        .sign()
        .unwrap();
    let path = format!("/api/v3/canister/{canister}/call");
    let (status, body) = post(
        &format!("{}{path}", s.server.url()),
        signed.signed_update.clone(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let lines = move |h: &Host| {
        h.logs(canister)
            .iter()
            .filter(|l| l.content.contains("once"))
            .count()
    };
    assert_eq!(s.handle.with(move |h| lines(h)), 1);
    // The crash: the server goes, the host thread never saves.
    let Served { handle, server, .. } = s;
    server.shutdown();
    std::mem::forget(handle);

    let handle = icinfer_http::HostHandle::open(HostConfig::default(), options(&dir)).unwrap();
    assert_eq!(
        handle.with(move |h| lines(h)),
        1,
        "the journal kept the call"
    );
    let server = serve(
        handle.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Options::default(),
    )
    .unwrap();
    let (status, body) = post(&format!("{}{path}", server.url()), signed.signed_update).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let reply = cbor(&body);
    let status = reply
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("status"))
        .map(|(_, v)| v.as_text().unwrap().to_string());
    assert_eq!(status.as_deref(), Some("replied"));
    assert_eq!(handle.with(move |h| lines(h)), 1, "not executed twice");
    // Its status is certified after the restart too.
    let a = agent(&server.url()).await;
    let (reply, _) = a.wait(&signed.request_id, canister).await.unwrap();
    assert!(reply.starts_with(b"DIDL"));
    drop(server);
    drop(handle);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a query replica, a query is answered while a long update runs on the host thread, and
/// a query sent after an update's reply sees that update.
#[tokio::test]
async fn queries_are_answered_during_a_long_update() {
    let dir = std::env::temp_dir().join(format!("icinfer-http-replica-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = serve_with(
        HandleOptions {
            query_replica: true,
            ..options(&dir)
        },
        Options::default(),
    );
    let canister = s.canister;
    let a = agent(&s.server.url()).await;
    for v in [5u64, 6, 7] {
        a.update(&canister, "set_heap")
            .with_arg(Encode!(&v).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let got = a
            .query(&canister, "get_heap")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(
            Decode!(&got, u64).unwrap(),
            v,
            "the query sees the reply's change"
        );
    }
    let long = {
        let a = agent(&s.server.url()).await;
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            a.update(&canister, "burn")
                .with_arg(Encode!(&1_000_000_000u64).unwrap())
                .call_and_wait()
                .await
                .unwrap();
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = std::time::Instant::now();
    let got = a
        .query(&canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    let query_took = start.elapsed();
    assert_eq!(Decode!(&got, u64).unwrap(), 7);
    assert!(!long.is_finished(), "the update still runs");
    let update_took = long.await.unwrap();
    println!("query during a long update: {query_took:?} (the update took {update_took:?})");
    assert!(
        query_took < update_took / 2,
        "{query_took:?} vs {update_took:?}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
