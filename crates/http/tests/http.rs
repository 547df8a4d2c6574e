//! The HTTP surface without an agent: status, CORS, the static frontend, refusals, binding.

mod common;

use common::*;
use icinfer_http::{HandleOptions, Options, serve};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icinfer-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn status_is_cbor_with_the_root_key_and_cors() {
    let s = serve_test_canister();
    let r = reqwest::get(format!("{}/api/v2/status", s.server.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["content-type"], "application/cbor");
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[..3], &[0xd9, 0xd9, 0xf7], "self-describing tag");
    let v = cbor(&body);
    let root_key = s.handle.root_key_der().to_vec();
    assert_eq!(field(&v, "root_key"), &ciborium::Value::Bytes(root_key));
    assert_eq!(
        field(&v, "replica_health_status"),
        &ciborium::Value::Text("healthy".into())
    );
}

#[tokio::test]
async fn preflight_allows_cross_origin_posts() {
    let s = serve_test_canister();
    let url = format!("{}/api/v3/canister/{}/query", s.server.url(), s.canister);
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("content-type")
    );
}

#[tokio::test]
async fn refusals_have_the_specified_status_codes() {
    let s = serve_test_canister();
    let base = s.server.url();
    let query = format!("{base}/api/v3/canister/{}/query", s.canister);
    // Not CBOR.
    let (status, _) = post(&query, b"not cbor".to_vec()).await;
    assert_eq!(status, 400);
    // Too large.
    let (status, _) = post(&query, vec![0; icinfer_http::MAX_BODY_BYTES + 1]).await;
    assert_eq!(status, 413);
    // Unknown endpoint, and a GET where a POST is needed.
    let r = reqwest::get(format!("{base}/api/v2/nothing"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(&query).await.unwrap();
    assert_eq!(r.status(), 405);
    // A read_state path the specification does not allow: 404. Anonymous, so unsigned.
    let expiry = s.handle.now_ns() + 60_000_000_000;
    let read_state = |paths: Vec<Vec<&[u8]>>| {
        let paths = ciborium::Value::Array(
            paths
                .into_iter()
                .map(|p| {
                    ciborium::Value::Array(
                        p.into_iter()
                            .map(|l| ciborium::Value::Bytes(l.to_vec()))
                            .collect(),
                    )
                })
                .collect(),
        );
        icinfer_http::cbor::encode(icinfer_http::cbor::map([(
            "content",
            icinfer_http::cbor::map([
                ("request_type", ciborium::Value::Text("read_state".into())),
                ("sender", ciborium::Value::Bytes(vec![4])),
                ("ingress_expiry", ciborium::Value::Integer(expiry.into())),
                ("paths", paths),
            ]),
        )]))
    };
    let rs = format!("{base}/api/v3/canister/{}/read_state", s.canister);
    let (status, _) = post(
        &rs,
        read_state(vec![vec![
            b"canister",
            s.canister.as_slice(),
            b"certified_data",
        ]]),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(&rs, read_state(vec![vec![b"time"]])).await;
    assert_eq!(status, 200);
    // Another canister's module hash through this canister's endpoint: 400.
    let other = candid::Principal::from_slice(&[1; 10]);
    let (status, _) = post(
        &rs,
        read_state(vec![vec![b"canister", other.as_slice(), b"module_hash"]]),
    )
    .await;
    assert_eq!(status, 400);
    // An anonymous request that carries a signature: 400.
    let mut env = cbor(&read_state(vec![vec![b"time"]]));
    if let ciborium::Value::Map(m) = &mut env {
        m.push((
            ciborium::Value::Text("sender_sig".into()),
            ciborium::Value::Bytes(vec![0; 64]),
        ));
    }
    let (status, _) = post(&rs, icinfer_http::cbor::encode(env)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_frontend_directory_is_served_same_origin() {
    let dir = temp_dir("frontend");
    std::fs::write(dir.join("index.html"), "<h1>icinfer</h1>").unwrap();
    std::fs::create_dir(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
    let s = serve_with(
        HandleOptions::default(),
        Options {
            frontend: Some(dir.clone()),
            files: [(
                "/icinfer.json".to_string(),
                b"{\"canisterId\":\"x\"}".to_vec(),
            )]
            .into(),
        },
    );
    let base = s.server.url();
    // A generated file takes precedence; its type follows its extension.
    let r = reqwest::get(format!("{base}/icinfer.json")).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"canisterId":"x"}"#);
    let r = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.text().await.unwrap(), "<h1>icinfer</h1>");
    let r = reqwest::get(format!("{base}/assets/app.js")).await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(r.text().await.unwrap(), "console.log(1)");
    for missing in [
        "/nope.html",
        "/assets/../../etc/passwd",
        "/%2e%2e/Cargo.toml",
        "/assets/%00",
    ] {
        let r = reqwest::get(format!("{base}{missing}")).await.unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }
    // The API is still there.
    let r = reqwest::get(format!("{base}/api/v2/status")).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn only_loopback_addresses_are_served() {
    let handle =
        icinfer_http::HostHandle::new(icinfer_host::Host::new(icinfer_host::HostConfig::default()));
    let err = serve(
        handle.clone(),
        "0.0.0.0:0".parse().unwrap(),
        Options::default(),
    )
    .err()
    .expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let server = serve(handle, "[::1]:0".parse().unwrap(), Options::default());
    // IPv6 loopback may be unavailable in a container; when it binds, it is on ::1.
    if let Ok(server) = server {
        assert!(server.local_addr().ip().is_loopback());
    }
}
