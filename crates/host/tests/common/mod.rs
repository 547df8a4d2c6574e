//! Helpers shared by the integration tests.
#![allow(dead_code)]

use icinfer_host::{Host, HostConfig, Principal};
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}

pub fn user(n: u8) -> Principal {
    Principal::from_slice(&[n; 29])
}

pub fn host() -> Host {
    Host::new(HostConfig::default())
}

/// Host with one canister running `wasm` (installed with `arg`).
pub fn host_with(wasm: &[u8], arg: &[u8]) -> (Host, Principal) {
    let mut h = host();
    let id = h.create_canister(vec![controller()]);
    h.install_code(id, wasm, arg, controller())
        .expect("install");
    (h, id)
}

pub fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).expect("valid WAT")
}

/// The ic-cdk test canister, built (or brought up to date) once per test process.
pub fn test_canister_wasm() -> Vec<u8> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
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

/// A WAT module with the usual System API imports, a memory and a function table, plus `body`.
pub fn module(body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (import "ic0" "performance_counter" (func $perf (param i32) (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (import "ic0" "certified_data_set" (func $certify (param i32 i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_on_cleanup" (func $call_on_cleanup (param i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 7))
  ;; reply with the argument
  (func $echo
    (call $arg_copy (i32.const 1024) (i32.const 0) (call $arg_size))
    (call $reply_append (i32.const 1024) (call $arg_size))
    (call $reply))
  {body}
)"#
    ))
}
