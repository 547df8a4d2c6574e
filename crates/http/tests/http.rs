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
async fn status_is_cbor_with_the_root_key() {
    let s = serve_test_canister();
    let r = reqwest::get(format!("{}/api/v2/status", s.server.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A client that is not a browser page names no origin and gets no CORS headers.
    assert!(r.headers().get("access-control-allow-origin").is_none());
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

async fn preflight(url: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

/// CORS: the served page's own origin and the configured ones may call the API from a
/// browser; any other page is refused, preflight or not, and its call does not run.
#[tokio::test]
async fn only_the_pages_origin_and_configured_ones_may_call_from_a_browser() {
    let s = serve_with(
        HandleOptions::default(),
        Options {
            cors_origins: vec!["http://localhost:5173".into()],
            ..Options::default()
        },
    );
    let own = format!("http://localhost:{}", s.server.local_addr().port());
    let url = format!("{}/api/v3/canister/{}/query", s.server.url(), s.canister);
    for origin in [own.as_str(), "http://localhost:5173"] {
        let r = preflight(&url, origin).await;
        assert_eq!(r.status(), 204, "{origin}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], origin);
        assert_eq!(h["vary"], "Origin");
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
    let evil = "https://evil.example";
    let r = preflight(&url, evil).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // A plain cross-origin POST (a form, text/plain: no preflight) is refused before it runs.
    let call = format!("{}/api/v2/canister/{}/call", s.server.url(), s.canister);
    let r = reqwest::Client::new()
        .post(&call)
        .header("origin", evil)
        .header("content-type", "text/plain")
        .body(vec![0xd9, 0xd9, 0xf7, 0xa0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// `Options::cors_origins = ["*"]` opens the API to every origin, as before.
#[tokio::test]
async fn a_star_allows_every_origin() {
    let s = serve_with(
        HandleOptions::default(),
        Options {
            cors_origins: vec!["*".into()],
            ..Options::default()
        },
    );
    let url = format!("{}/api/v2/status", s.server.url());
    let r = preflight(&url, "https://anywhere.example").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://anywhere.example"
    );
}

/// A connection that never finishes its headers is closed after the header timeout.
#[tokio::test]
async fn a_connection_that_stalls_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve_test_canister();
    let mut stream = tokio::net::TcpStream::connect(s.server.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"POST /api/v2/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        icinfer_http::HEADER_TIMEOUT + std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "still open after {:?}", start.elapsed());
    assert!(start.elapsed() >= icinfer_http::HEADER_TIMEOUT - std::time::Duration::from_secs(1));
}

/// 4 MiB of one-byte CBOR items, unauthenticated: refused at once (400), never decoded.
#[tokio::test]
async fn a_cbor_bomb_is_refused_at_once() {
    let s = serve_test_canister();
    let url = format!("{}/api/v3/canister/{}/query", s.server.url(), s.canister);
    let mut bomb = vec![0xd9, 0xd9, 0xf7, 0x9a, 0x00, 0x3f, 0xff, 0xf0];
    bomb.resize(bomb.len() + 0x3f_fff0, 0x00);
    let start = std::time::Instant::now();
    let (status, body) = post(&url, bomb).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("CBOR items"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
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
            ..Options::default()
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
