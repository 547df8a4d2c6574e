//! Measures a module: validation report, install time (compile, or load from the disk cache),
//! and the instructions of one call.
//!
//! ```text
//! cargo run -p icinfer-host --example measure -- <module.wasm> [cache-dir] [method] [candid-arg-hex]
//! ```
//! Run it twice with the same cache dir: the first run compiles, the second loads the
//! compiled artefact from disk.

use icinfer_host::{Host, HostConfig, Principal, ValidationLimits};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: measure <module.wasm> [cache-dir] [method] [arg-hex]");
    let wasm = std::fs::read(path).expect("read module");
    match icinfer_host::validate_module(&wasm) {
        Ok(r) => println!(
            "valid for the IC: {} bytes, code section {} bytes, {} functions, {} globals, {} exports, imports {:?}, {} instructions after the replica's instrumentation",
            r.wasm_bytes,
            r.code_section_bytes,
            r.functions,
            r.globals,
            r.exports,
            r.imports,
            r.instrumented_instructions
        ),
        Err(e) => println!("the IC would refuse it: {e}"),
    }
    let cache = args.get(2).map(std::path::PathBuf::from);
    let mut config = HostConfig {
        module_cache_dir: cache,
        ..HostConfig::default()
    };
    // Measure even modules above the IC's limits.
    config.validation = ValidationLimits {
        max_code_section_bytes: usize::MAX,
        ..ValidationLimits::default()
    };
    let mut host = Host::new(config);
    let controller = Principal::anonymous();
    let id = host.create_canister(vec![controller]);
    let t = Instant::now();
    let out = host.install_code(
        id,
        &wasm,
        &candid::encode_args(()).expect("empty args"),
        controller,
    );
    println!(
        "install (compile or cache load + init): {:.2?} -> {out:?}",
        t.elapsed()
    );
    if let Some(method) = args.get(3) {
        let arg = args
            .get(4)
            .map(|h| hex::decode(h).expect("hex"))
            .unwrap_or_else(|| candid::encode_args(()).expect("empty"));
        let t = Instant::now();
        let upd = host
            .update_call(id, controller, method, &arg)
            .expect("update");
        println!(
            "update {method}: {} instructions, {:.2?}, result {:?}",
            upd.instructions,
            t.elapsed(),
            upd.result.map(|b| b.len())
        );
        let q = host
            .query_call(id, controller, method, &arg)
            .expect("query");
        println!(
            "query {method}: {} instructions, result {:?}",
            q.instructions,
            q.result.map(|b| b.len())
        );
    }
}
