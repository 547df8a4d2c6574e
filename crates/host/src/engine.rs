//! The wasmtime engine, configured as the IC configures it, and the compiled-module cache.
//!
//! One [`wasmtime::Engine`] and one [`wasmtime::Linker`] serve the whole process. A module is
//! compiled once per process (keyed by the SHA-256 of its Wasm) and the compiled artefact is
//! also kept on disk, keyed by that hash, the engine's compatibility hash and the version of
//! this host's module rewrite, so later processes skip Cranelift entirely.
//!
//! Before compiling, the host rewrites the module's export section (as the replica's
//! instrumentation does): every mutable global, table 0 and memory 0 are exported under
//! internal names so the host can snapshot and restore them, and a start function is removed
//! from the start section and exported instead, so that re-instantiation never runs it. In the
//! code, every `memory.grow`, `data.drop` and `elem.drop` is followed by
//! [`ELIDED_WEIGHT`] `nop`s: the replica weighs them 300, wasmtime's fuel table at most 255,
//! and the `nop`s (1 each, no effect) make up the rest in the same basic block.

use crate::cost::{ELIDED_WEIGHT, ic_operator_cost};
use crate::error::HostError;
use crate::runtime::StoreData;
use crate::validate::{ModuleReport, ValidationLimits, validate_wasm};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use wasm_encoder::{CodeSection, ExportKind, ExportSection, RawSection};
use wasmparser::{ExternalKind, FunctionBody, Operator, Parser, Payload};
use wasmtime::{Config, Engine, Linker, Module, OptLevel};

/// Prefix of the exports the host adds to a module (user modules may not use it).
pub const INTERNAL_EXPORT_PREFIX: &str = "icinfer-host:";
pub(crate) const TABLE_EXPORT: &str = "icinfer-host:table";
pub(crate) const MEMORY_EXPORT: &str = "icinfer-host:memory";
pub(crate) const START_EXPORT: &str = "icinfer-host:start";
/// Bump when the rewrite changes, so stale disk-cache entries are not used.
const REWRITE_VERSION: u32 = 2;
/// The IC's Wasm stack limit.
const MAX_WASM_STACK: usize = 5 * 1024 * 1024;
/// Native stack of the thread each execution runs on: room for the Wasm stack and the host.
pub(crate) const EXECUTION_THREAD_STACK: usize = 4 * MAX_WASM_STACK;

pub(crate) fn global_export_name(index: u32) -> String {
    format!("{INTERNAL_EXPORT_PREFIX}global:{index}")
}

/// The engine configuration: deterministic SIMD, NaN canonicalisation, tail calls, no threads,
/// fuel with the replica's operator weights.
pub fn ic_engine_config() -> Config {
    let mut c = Config::new();
    c.wasm_simd(true)
        .wasm_relaxed_simd(false)
        .wasm_bulk_memory(true)
        .wasm_multi_value(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(true)
        .cranelift_nan_canonicalization(true)
        .cranelift_opt_level(OptLevel::Speed)
        .consume_fuel(true)
        .operator_cost(ic_operator_cost())
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(2 * MAX_WASM_STACK)
        .parallel_compilation(true);
    c
}

/// A compiled canister module and what the host knows about it.
pub(crate) struct CompiledModule {
    pub module: Module,
    pub report: ModuleReport,
    /// Export names of the module's mutable globals (added by the rewrite).
    pub mutable_globals: Vec<String>,
    pub has_start: bool,
}

impl CompiledModule {
    pub fn exports_function(&self, name: &str) -> bool {
        self.module.get_export(name).is_some()
    }
}

/// A module being compiled or compiled: threads wanting the same module wait on one cell.
type ModuleCell = Arc<OnceLock<Arc<CompiledModule>>>;

struct Shared {
    engine: Engine,
    linker: Linker<StoreData>,
    modules: Mutex<HashMap<[u8; 32], ModuleCell>>,
    compat: u64,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let engine =
            Engine::new(&ic_engine_config()).expect("the IC engine configuration is valid");
        let mut linker = Linker::new(&engine);
        crate::system_api::add_to_linker(&mut linker);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        REWRITE_VERSION.hash(&mut h);
        Shared {
            engine,
            linker,
            modules: Mutex::new(HashMap::new()),
            compat: h.finish(),
        }
    })
}

pub(crate) fn engine() -> &'static Engine {
    &shared().engine
}

pub(crate) fn linker() -> &'static Linker<StoreData> {
    &shared().linker
}

/// The default on-disk cache: `target/icinfer-host-cache` of this workspace, or the
/// directory named by `ICINFER_HOST_CACHE`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ICINFER_HOST_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("icinfer-host-cache");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/icinfer-host-cache")
}

/// Validates, rewrites and compiles `wasm` (already decompressed), or returns the module
/// compiled earlier in this process or found in the disk cache.
pub(crate) fn compile(
    wasm: &[u8],
    limits: &ValidationLimits,
    cache_dir: Option<&Path>,
) -> Result<Arc<CompiledModule>, HostError> {
    let report = validate_wasm(wasm, limits)?;
    for name in &report.imports {
        if !crate::ic0::lookup(name).is_some_and(|f| f.provided) {
            return Err(HostError::UnsupportedImport {
                module: "ic0".into(),
                name: name.clone(),
            });
        }
    }
    let hash: [u8; 32] = Sha256::digest(wasm).into();
    let cell = {
        let mut modules = shared().modules.lock().unwrap_or_else(|e| e.into_inner());
        modules.entry(hash).or_default().clone()
    };
    if let Some(m) = cell.get() {
        return Ok(m.clone());
    }
    let rewritten = rewrite(wasm)?;
    let module = load_or_compile(&rewritten.bytes, &hash, cache_dir)?;
    let compiled = Arc::new(CompiledModule {
        module,
        report,
        mutable_globals: rewritten.mutable_globals,
        has_start: rewritten.has_start,
    });
    Ok(cell.get_or_init(|| compiled).clone())
}

fn load_or_compile(
    bytes: &[u8],
    hash: &[u8; 32],
    cache_dir: Option<&Path>,
) -> Result<Module, HostError> {
    let engine = engine();
    let path = cache_dir.map(|d| {
        d.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(hash),
            shared().compat
        ))
    });
    if let Some(path) = &path
        && path.exists()
    {
        // SAFETY: the file was written by `Module::serialize` of this host (the name carries the
        // engine's compatibility hash, and wasmtime re-checks compatibility on load); the cache
        // directory is trusted like the build directory it lives in.
        if let Ok(m) = unsafe { Module::deserialize_file(engine, path) } {
            return Ok(m);
        }
    }
    let module = Module::new(engine, bytes).map_err(|e| HostError::Engine(e.to_string()))?;
    if let Some(path) = &path {
        // A cache that cannot be written only costs time later.
        let _ = write_cache(path, &module);
    }
    Ok(module)
}

fn write_cache(path: &Path, module: &Module) -> Result<(), HostError> {
    let data = module
        .serialize()
        .map_err(|e| HostError::Engine(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

struct Rewritten {
    bytes: Vec<u8>,
    mutable_globals: Vec<String>,
    has_start: bool,
}

fn rewrite(wasm: &[u8]) -> Result<Rewritten, HostError> {
    let bad = |e: wasmparser::BinaryReaderError| HostError::Engine(format!("rewrite: {e}"));
    let mut exports: Vec<(String, ExportKind, u32)> = Vec::new();
    let mut mutable = Vec::new();
    let mut tables = 0u32;
    let mut memories = 0u32;
    let mut start = None;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(bad)? {
            Payload::CodeSectionEntry(body) => bodies.push(pad_points(&body).map_err(bad)?),
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(bad)?;
                    let kind = match e.kind {
                        ExternalKind::Func => ExportKind::Func,
                        ExternalKind::Table => ExportKind::Table,
                        ExternalKind::Memory => ExportKind::Memory,
                        ExternalKind::Global => ExportKind::Global,
                        ExternalKind::Tag => ExportKind::Tag,
                        other => {
                            return Err(HostError::Engine(format!(
                                "unsupported export kind {other:?}"
                            )));
                        }
                    };
                    exports.push((e.name.to_string(), kind, e.index));
                }
            }
            Payload::GlobalSection(r) => {
                for (i, g) in r.into_iter().enumerate() {
                    if g.map_err(bad)?.ty.mutable {
                        mutable.push(i as u32);
                    }
                }
            }
            Payload::TableSection(r) => tables += r.count(),
            Payload::MemorySection(r) => memories += r.count(),
            Payload::StartSection { func, .. } => start = Some(func),
            _ => {}
        }
    }
    let mut mutable_globals = Vec::new();
    for g in &mutable {
        let name = global_export_name(*g);
        exports.push((name.clone(), ExportKind::Global, *g));
        mutable_globals.push(name);
    }
    if tables > 0 {
        exports.push((TABLE_EXPORT.into(), ExportKind::Table, 0));
    }
    if memories > 0 {
        exports.push((MEMORY_EXPORT.into(), ExportKind::Memory, 0));
    }
    if let Some(f) = start {
        exports.push((START_EXPORT.into(), ExportKind::Func, f));
    }
    let mut section = ExportSection::new();
    for (name, kind, index) in &exports {
        section.export(name, *kind, *index);
    }

    let mut module = wasm_encoder::Module::new();
    let mut emitted = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(bad)?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        // Sections that follow the export section in the binary format.
        let after_exports = matches!(id, 8..=12);
        if !emitted && (id == 7 || after_exports) {
            module.section(&section);
            emitted = true;
        }
        if id == 7 || id == 8 {
            continue; // the old export section, and the start section (now an export)
        }
        if id == 10 && bodies.iter().any(|(_, points)| !points.is_empty()) {
            module.section(&padded_code(wasm, &bodies));
            continue;
        }
        module.section(&RawSection {
            id,
            data: &wasm[range],
        });
    }
    if !emitted {
        module.section(&section);
    }
    Ok(Rewritten {
        bytes: module.finish(),
        mutable_globals,
        has_start: start.is_some(),
    })
}

/// The range of a function body (without its size) and the offsets just after each of its
/// `memory.grow`, `data.drop` and `elem.drop`, where the `nop`s go.
fn pad_points(body: &FunctionBody) -> wasmparser::Result<(std::ops::Range<usize>, Vec<usize>)> {
    let mut points = Vec::new();
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let op = ops.read()?;
        if matches!(
            op,
            Operator::MemoryGrow { .. } | Operator::DataDrop { .. } | Operator::ElemDrop { .. }
        ) {
            points.push(ops.original_position());
        }
    }
    Ok((body.range(), points))
}

/// The code section with [`ELIDED_WEIGHT`] `nop`s (`0x01`) at each padding point.
fn padded_code(wasm: &[u8], bodies: &[(std::ops::Range<usize>, Vec<usize>)]) -> CodeSection {
    let mut code = CodeSection::new();
    let mut body = Vec::new();
    for (range, points) in bodies {
        body.clear();
        let mut from = range.start;
        for &at in points {
            body.extend_from_slice(&wasm[from..at]);
            body.extend(std::iter::repeat_n(0x01, ELIDED_WEIGHT as usize));
            from = at;
        }
        body.extend_from_slice(&wasm[from..range.end]);
        code.raw(&body);
    }
    code
}
