//! Helpers shared by the HTTP tests: the test canister, a served host, raw HTTP posts.
#![allow(dead_code)]

use candid::Principal;
use icinfer_host::{Host, HostConfig};
use icinfer_http::{HandleOptions, HostHandle, Options, ServerHandle, serve};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ic-cdk test canister of crates/host, built (or brought up to date) once per process.
pub fn test_canister_wasm() -> Vec<u8> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let root = workspace();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--target",
                "wasm32-unknown-unknown",
                "--release",
                "-p",
                "host-test-canister",
            ])
            .status()
            .expect("run cargo to build the test canister");
        assert!(status.success(), "building host-test-canister failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("wasm32-unknown-unknown/release/host_test_canister.wasm")
    });
    std::fs::read(path).expect("read host_test_canister.wasm")
}

/// The controller the tests install with (through the host API, not HTTP).
pub fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

/// A host with the test canister installed, behind a handle, served on 127.0.0.1:<free port>.
pub struct Served {
    pub handle: HostHandle,
    pub server: ServerHandle,
    pub canister: Principal,
}

/// Creates a canister running `wasm` through the host API.
pub fn install(handle: &HostHandle, wasm: Vec<u8>) -> Principal {
    handle.with(move |h: &mut Host| {
        let id = h.create_canister(vec![controller()]);
        h.install_code(
            id,
            &wasm,
            &candid::encode_one(None::<String>).unwrap(),
            controller(),
        )
        .expect("install the test canister");
        id
    })
}

pub fn serve_test_canister() -> Served {
    serve_with(HandleOptions::default(), Options::default())
}

pub fn serve_with(handle_options: HandleOptions, options: Options) -> Served {
    let handle = HostHandle::open(HostConfig::default(), handle_options).expect("open the host");
    let canister = install(&handle, test_canister_wasm());
    let server = serve(handle.clone(), "127.0.0.1:0".parse().unwrap(), options).expect("serve");
    Served {
        handle,
        server,
        canister,
    }
}

/// POSTs a CBOR body; returns the status and the body.
pub async fn post(url: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// Decodes a CBOR body (self-describing tag removed).
pub fn cbor(bytes: &[u8]) -> ciborium::Value {
    icinfer_http::cbor::decode(bytes).expect("CBOR")
}

/// A field of a CBOR map.
pub fn field<'a>(v: &'a ciborium::Value, key: &str) -> &'a ciborium::Value {
    icinfer_http::cbor::Fields::of(v, "a map")
        .unwrap()
        .get(key)
        .unwrap_or_else(|| panic!("no field `{key}` in {v:?}"))
}
