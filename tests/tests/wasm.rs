//! The built modules pass the IC's validation and carry exactly their public interface.
//!
//! Setup: modules built by scripts/build-canister.sh.
//! Success criteria: IC limits hold with the numbers printed; imports are only `ic0`; the
//! embedded `candid:service` is the checked-in .did; the exported methods are exactly the
//! .did's, so no test-only endpoint ships.

use candid::types::FuncMode;
use candid_parser::utils::CandidSource;
use icinfer_host::validate::{decompress_if_gzipped, validate_module, validate_module_with};
use icinfer_tests::{canister_wasm, wasm_dir, workspace_root};
use std::collections::BTreeSet;

const MIB: usize = 1 << 20;

fn did_methods(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let path = workspace_root().join("candid").join(format!("{name}.did"));
    let (env, service) = CandidSource::File(&path).load().expect("the .did parses");
    let service = service.expect("the .did declares a service");
    let mut updates = BTreeSet::new();
    let mut queries = BTreeSet::new();
    for (method, ty) in env.as_service(&service).expect("a service") {
        let func = env.as_func(ty).expect("methods are functions");
        if func.modes.contains(&FuncMode::Query) {
            queries.insert(method.clone());
        } else {
            updates.insert(method.clone());
        }
    }
    (updates, queries)
}

fn candid_metadata(wasm: &[u8]) -> Option<String> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::CustomSection(section))
                if section.name() == "icp:public candid:service" =>
            {
                Some(String::from_utf8(section.data().to_vec()).expect("UTF-8 metadata"))
            }
            _ => None,
        })
}

fn check_canister(name: &str) {
    let wasm = canister_wasm(name);
    let report = validate_module(&wasm).unwrap_or_else(|e| panic!("{name}.wasm: {e}"));
    println!(
        "{name}.wasm: {} bytes, code section {} bytes ({:.2} MiB), {} functions, {} globals, {} exports, imports {:?}",
        report.wasm_bytes,
        report.code_section_bytes,
        report.code_section_bytes as f64 / MIB as f64,
        report.functions,
        report.globals,
        report.exports,
        report.imports
    );
    // validate_module applies current replicas' 12 MiB. Text generation took the module past
    // the 10 MiB of older replicas (docs/performance.md, "Module size with text generation"):
    // our own budget keeps a MiB of the current limit in reserve, so that growth is a
    // decision, not a surprise.
    assert!(
        report.code_section_bytes <= 11 * MIB,
        "{name}: code section {} bytes, over our 11 MiB budget",
        report.code_section_bytes
    );
    assert!(report.functions <= 50_000 && report.globals <= 1_000 && report.exports <= 1_000);
    // validate_module refuses any import outside `ic0` (no __wbindgen, no WASI) and any
    // `ic0` function the IC does not have; the list printed above is what it accepted.
    assert!(!report.imports.is_empty());

    let did = std::fs::read_to_string(workspace_root().join("candid").join(format!("{name}.did")))
        .unwrap();
    assert_eq!(candid_metadata(&wasm).as_deref(), Some(did.as_str()));

    let (updates, queries) = did_methods(name);
    // ic-cdk-timers exports its executor under a name no Candid method can have; it
    // accepts calls from the canister itself only.
    let exported_updates: BTreeSet<String> = report
        .update_methods
        .iter()
        .filter(|m| !m.starts_with("<ic-cdk internal> "))
        .cloned()
        .collect();
    let exported_queries: BTreeSet<String> = report.query_methods.iter().cloned().collect();
    assert_eq!(exported_updates, updates, "{name}: exported updates differ");
    assert_eq!(exported_queries, queries, "{name}: exported queries differ");

    let gzipped = std::fs::read(wasm_dir().join(format!("{name}.wasm.gz"))).unwrap();
    let from_gzip = validate_module(&gzipped).unwrap();
    assert!(from_gzip.gzipped);
    let (unzipped, _) = decompress_if_gzipped(&gzipped, 100 * MIB).unwrap();
    assert_eq!(unzipped, wasm, "the .wasm.gz is the same module");
}

#[test]
fn the_inference_module_passes_the_ic_validation_and_exports_only_its_interface() {
    check_canister("inference");
}

#[test]
fn the_consumer_module_passes_the_ic_validation_and_exports_only_its_interface() {
    check_canister("consumer");
}

/// The linker drops an object nothing references, inventory registrations included: the
/// matrix kernel of crates/kernels was once silently absent from the module (and tract's own,
/// 35 % dearer, ran instead). A kernel's name is in the module only if its registration is.
#[test]
fn the_inference_module_registers_our_kernels_with_tract() {
    let wasm = canister_wasm("inference");
    for name in [
        icinfer_kernels::GEMM_8X8,
        icinfer_kernels::GEMM_8X16,
        icinfer_kernels::GEMM_8X28,
        icinfer_kernels::GEMM_8X32,
        icinfer_kernels::GEMM_16X32,
        icinfer_kernels::GEMM_I8_8X8,
        icinfer_kernels::GEMM_I8_8X16,
        icinfer_kernels::DEPTHWISE_C_NAME,
        icinfer_kernels::DEPTHWISE_W_NAME,
    ] {
        assert!(
            wasm.windows(name.len()).any(|w| w == name.as_bytes()),
            "inference.wasm does not contain the kernel {name}: see icinfer_kernels::link",
        );
    }
}

/// A module's hash must not depend on where it was built (docs/provenance.md,
/// scripts/reproducible-build.sh): no absolute path of this machine may be in it. Panic
/// locations embed source paths; registry sources live under CARGO_HOME and build-script
/// output under the target directory, both remapped by scripts/wasm-remap.sh.
#[test]
fn the_shipped_modules_embed_no_path_of_the_machine_that_built_them() {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| home.map(|h| h.join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let target = wasm_dir().join("../..").canonicalize().unwrap();
    let root = workspace_root().canonicalize().unwrap();
    for name in ["inference", "consumer"] {
        let wasm = canister_wasm(name);
        for path in [&cargo_home, &target, &root] {
            let path = path.to_string_lossy();
            assert!(
                !wasm.windows(path.len()).any(|w| w == path.as_bytes()),
                "{name}.wasm embeds {path}: build it with scripts/build-canister.sh, whose \
                 scripts/wasm-remap.sh remaps it"
            );
        }
    }
}

/// The test hooks are in the test-hooks build only: the shipped module does not export
/// them (beyond the exact-interface check above, which a .did edit could defeat).
#[test]
fn only_the_test_hooks_build_exports_the_test_hooks() {
    let shipped = validate_module(&canister_wasm("inference")).unwrap();
    // The fixture may exceed the 10 MiB code section (tests/src/lib.rs says why).
    let limits = icinfer_host::validate::ValidationLimits {
        max_code_section_bytes: 12 << 20,
        ..Default::default()
    };
    let hooked = validate_module_with(&canister_wasm("inference_test_hooks"), &limits).unwrap();
    let mut without: BTreeSet<String> = hooked.update_methods.iter().cloned().collect();
    for hook in ["test_trap_job_after", "test_trap_after_inference"] {
        let hook = hook.to_string();
        assert!(!shipped.update_methods.contains(&hook));
        assert!(hooked.update_methods.contains(&hook));
        without.remove(&hook);
    }
    // Otherwise the same interface.
    let shipped_updates: BTreeSet<String> = shipped.update_methods.iter().cloned().collect();
    assert_eq!(without, shipped_updates);
}
