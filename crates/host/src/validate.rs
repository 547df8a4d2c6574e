//! Module validation: the checks the IC applies before installing a module.
//!
//! [`validate_module`] decompresses gzip input (`1f 8b`) as the IC does, validates the Wasm
//! with the IC's feature set (SIMD and tail calls on; relaxed SIMD, threads, GC and exceptions
//! off) and applies the replica's limits (`rs/embedders/src/wasm_utils/validation.rs` and
//! `rs/config/src/embedders.rs` of dfinity/ic master, 2026-12): code section size, functions,
//! globals, exported canister methods (other exports do not count), the names and sizes of
//! `icp:` custom sections, imports only from `ic0` with the specification's signatures, and
//! no instruction that changes a table (`table.set`, `grow`, `fill`, `copy`, `init`): the
//! replica keeps the function table as compiled.

use crate::ic0::{self, Ty};
use crate::instrumentation;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Read;
use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, FunctionBody, Operator, Parser, Payload, TypeRef,
    ValType, Validator, WasmFeatures,
};

/// The IC's limits on a module; [`ValidationLimits::default`] holds the replica's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Maximum size of the code section in bytes: 12 MiB (`MAX_CODE_SECTION_SIZE_IN_BYTES` in
    /// current replicas; older ones refuse more than 10 or 11 MiB).
    pub max_code_section_bytes: usize,
    /// Maximum number of functions defined by the module (50,000).
    pub max_functions: usize,
    /// Maximum number of globals (1,000).
    pub max_globals: usize,
    /// Maximum number of exported canister methods (`canister_update`, `canister_query` and
    /// `canister_composite_query` functions; 1,000).
    pub max_exports: usize,
    /// Maximum number of `icp:` custom sections (16).
    pub max_icp_custom_sections: usize,
    /// Maximum total size of `icp:` custom sections, names included (1 MiB).
    pub max_icp_custom_sections_bytes: usize,
    /// Maximum total length of exported canister method names (20,000).
    pub max_sum_exported_method_name_bytes: usize,
    /// Maximum size of the module after gzip decompression (100 MiB).
    pub max_decompressed_bytes: usize,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_code_section_bytes: 12 * 1024 * 1024,
            max_functions: 50_000,
            max_globals: 1_000,
            max_exports: 1_000,
            max_icp_custom_sections: 16,
            max_icp_custom_sections_bytes: 1024 * 1024,
            max_sum_exported_method_name_bytes: 20_000,
            max_decompressed_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Why a module is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// gzip input that does not decompress, or decompresses beyond the limit.
    #[error("gzip: {0}")]
    Gzip(String),
    /// Not valid WebAssembly under the IC's feature set.
    #[error("invalid Wasm: {0}")]
    InvalidWasm(String),
    /// A count or size above the IC's limit.
    #[error("{what} is {actual}, above the IC's limit of {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The module's value.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// An import from a module other than `ic0`, or of something other than a function.
    #[error(
        "import `{module}.{name}` is not allowed: modules may import only functions from `ic0`"
    )]
    ForbiddenImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// An `ic0` import that is not part of the System API.
    #[error("import `ic0.{0}` is not a System API function")]
    UnknownSystemApi(String),
    /// An `ic0` import with the wrong signature.
    #[error("import `ic0.{name}` has type {actual}, expected {expected}")]
    WrongSystemApiSignature {
        /// Function name.
        name: String,
        /// The module's signature.
        actual: String,
        /// The specification's signature.
        expected: String,
    },
    /// A canister entry point with a type other than `[] -> []`, or a reserved export name.
    #[error("invalid export `{name}`: {reason}")]
    InvalidExport {
        /// Export name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A malformed `icp:` custom section.
    #[error("invalid custom section `{name}`: {reason}")]
    InvalidCustomSection {
        /// Section name.
        name: String,
        /// Why.
        reason: String,
    },
    /// An instruction the replica refuses (it changes the function table).
    #[error("function {function} uses `{instruction}`, which the IC does not allow")]
    UnsupportedInstruction {
        /// Index of the function among those the module defines.
        function: usize,
        /// The instruction.
        instruction: &'static str,
    },
    /// wasm64 (memory64) modules are not supported by this host.
    #[error("wasm64 (memory64) modules are not supported by icinfer-host")]
    Memory64Unsupported,
}

/// What [`validate_module`] measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleReport {
    /// SHA-256 of the module as given (compressed if it was gzipped): the IC's module hash.
    pub module_hash: [u8; 32],
    /// Size of the input.
    pub input_bytes: usize,
    /// Whether the input was gzip-compressed.
    pub gzipped: bool,
    /// Size of the Wasm after decompression.
    pub wasm_bytes: usize,
    /// Size of the code section.
    pub code_section_bytes: usize,
    /// Functions defined by the module (imports not counted).
    pub functions: usize,
    /// Globals defined by the module.
    pub globals: usize,
    /// Exports (of every kind; only canister methods count against the IC's limit).
    pub exports: usize,
    /// `ic0` functions imported.
    pub imports: Vec<String>,
    /// Custom sections: name and payload size.
    pub custom_sections: Vec<(String, usize)>,
    /// `canister_update` methods.
    pub update_methods: Vec<String>,
    /// `canister_query` methods.
    pub query_methods: Vec<String>,
    /// `canister_composite_query` methods.
    pub composite_query_methods: Vec<String>,
    /// Other canister entry points exported (`canister_init`, `canister_global_timer`, ...).
    pub system_methods: Vec<String>,
    /// Whether the module has a start function.
    pub has_start: bool,
    /// Initial size of memory 0 in Wasm pages, if the module defines a memory.
    pub initial_memory_pages: Option<u64>,
    /// Instructions of the module after the replica's instrumentation, which its compilation
    /// charge is proportional to ([`crate::instrumentation`]).
    pub instrumented_instructions: u64,
}

/// The Wasm features the IC enables (deterministic SIMD, tail calls, no relaxed SIMD, no
/// threads).
pub fn ic_wasm_features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIMD
        | WasmFeatures::FLOATS
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::MEMORY64
}

/// Decompresses gzip input (magic `1f 8b`) up to `limit` bytes; other input is returned as is.
pub fn decompress_if_gzipped(
    bytes: &[u8],
    limit: usize,
) -> Result<(Vec<u8>, bool), ValidationError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut reader = flate2::read::GzDecoder::new(bytes).take(limit as u64 + 1);
        reader
            .read_to_end(&mut out)
            .map_err(|e| ValidationError::Gzip(e.to_string()))?;
        if out.len() > limit {
            return Err(ValidationError::LimitExceeded {
                what: "decompressed module size",
                actual: out.len(),
                limit,
            });
        }
        Ok((out, true))
    } else {
        Ok((bytes.to_vec(), false))
    }
}

/// Validates a module (raw or gzip-compressed) against the IC's default limits.
pub fn validate_module(bytes: &[u8]) -> Result<ModuleReport, ValidationError> {
    validate_module_with(bytes, &ValidationLimits::default())
}

/// Validates a module against the given limits.
pub fn validate_module_with(
    bytes: &[u8],
    limits: &ValidationLimits,
) -> Result<ModuleReport, ValidationError> {
    let (wasm, gzipped) = decompress_if_gzipped(bytes, limits.max_decompressed_bytes)?;
    let mut report = validate_wasm(&wasm, limits)?;
    report.module_hash = Sha256::digest(bytes).into();
    report.input_bytes = bytes.len();
    report.gzipped = gzipped;
    Ok(report)
}

fn limit(what: &'static str, actual: usize, limit: usize) -> Result<(), ValidationError> {
    if actual > limit {
        Err(ValidationError::LimitExceeded {
            what,
            actual,
            limit,
        })
    } else {
        Ok(())
    }
}

fn ty_of(v: &ValType) -> Option<Ty> {
    match v {
        ValType::I32 => Some(Ty::I32),
        ValType::I64 => Some(Ty::I64),
        _ => None,
    }
}

fn fmt_sig(params: &[ValType], results: &[ValType]) -> String {
    format!("{params:?} -> {results:?}").to_lowercase()
}

fn fmt_tys(params: &[Ty], results: &[Ty]) -> String {
    format!("{params:?} -> {results:?}").to_lowercase()
}

/// Validates decompressed Wasm bytes.
pub(crate) fn validate_wasm(
    wasm: &[u8],
    limits: &ValidationLimits,
) -> Result<ModuleReport, ValidationError> {
    let mut validator = Validator::new_with_features(ic_wasm_features());
    validator
        .validate_all(wasm)
        .map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;

    let mut report = ModuleReport {
        module_hash: [0; 32],
        input_bytes: wasm.len(),
        gzipped: false,
        wasm_bytes: wasm.len(),
        code_section_bytes: 0,
        functions: 0,
        globals: 0,
        exports: 0,
        imports: Vec::new(),
        custom_sections: Vec::new(),
        update_methods: Vec::new(),
        query_methods: Vec::new(),
        composite_query_methods: Vec::new(),
        system_methods: Vec::new(),
        has_start: false,
        initial_memory_pages: None,
        instrumented_instructions: 0,
    };
    let (mut bodies, mut instrumented_bodies) = (0usize, 0u64);
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut icp_sections = 0usize;
    let mut icp_bytes = 0usize;
    let mut icp_names = BTreeSet::new();

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
        match payload {
            Payload::TypeSection(r) => {
                for rec in r {
                    let rec = rec.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
                    for sub in rec.types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
                    let forbidden = || ValidationError::ForbiddenImport {
                        module: imp.module.to_string(),
                        name: imp.name.to_string(),
                    };
                    if imp.module != "ic0" {
                        return Err(forbidden());
                    }
                    let TypeRef::Func(type_index) = imp.ty else {
                        return Err(forbidden());
                    };
                    let spec = ic0::lookup(imp.name)
                        .ok_or_else(|| ValidationError::UnknownSystemApi(imp.name.to_string()))?;
                    let ft = types
                        .get(type_index as usize)
                        .and_then(|t| t.as_ref())
                        .ok_or_else(|| ValidationError::InvalidWasm("bad import type".into()))?;
                    let params: Option<Vec<Ty>> = ft.params().iter().map(ty_of).collect();
                    let results: Option<Vec<Ty>> = ft.results().iter().map(ty_of).collect();
                    if params.as_deref() != Some(spec.params)
                        || results.as_deref() != Some(spec.results)
                    {
                        return Err(ValidationError::WrongSystemApiSignature {
                            name: imp.name.to_string(),
                            actual: fmt_sig(ft.params(), ft.results()),
                            expected: fmt_tys(spec.params, spec.results),
                        });
                    }
                    report.imports.push(imp.name.to_string());
                    func_types.push(type_index);
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    func_types.push(t.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?);
                    report.functions += 1;
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
                    if m.memory64 {
                        return Err(ValidationError::Memory64Unsupported);
                    }
                    report.initial_memory_pages.get_or_insert(m.initial);
                }
            }
            Payload::GlobalSection(r) => report.globals += r.count() as usize,
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
                    exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::StartSection { .. } => report.has_start = true,
            Payload::CodeSectionStart { size, .. } => report.code_section_bytes = size as usize,
            Payload::CodeSectionEntry(body) => {
                check_table_instructions(&body, bodies)?;
                bodies += 1;
                instrumented_bodies += instrumentation::instrumented_body_len(&body)
                    .map_err(|e| ValidationError::InvalidWasm(e.to_string()))?;
            }
            Payload::CustomSection(c) => {
                let name = c.name().to_string();
                let size = c.data().len();
                if let Some(rest) = name.strip_prefix("icp:") {
                    let invalid = |reason: &str| ValidationError::InvalidCustomSection {
                        name: name.clone(),
                        reason: reason.to_string(),
                    };
                    let short = rest
                        .strip_prefix("public ")
                        .or_else(|| rest.strip_prefix("private "))
                        .ok_or_else(|| {
                            invalid("must be `icp:public <name>` or `icp:private <name>`")
                        })?;
                    if !icp_names.insert(short.to_string()) {
                        return Err(invalid("duplicate name"));
                    }
                    icp_sections += 1;
                    icp_bytes += size + short.len();
                }
                report.custom_sections.push((name, size));
            }
            _ => {}
        }
    }

    limit(
        "code section size",
        report.code_section_bytes,
        limits.max_code_section_bytes,
    )?;
    limit(
        "number of functions",
        report.functions,
        limits.max_functions,
    )?;
    limit("number of globals", report.globals, limits.max_globals)?;

    limit(
        "number of icp: custom sections",
        icp_sections,
        limits.max_icp_custom_sections,
    )?;
    limit(
        "size of icp: custom sections",
        icp_bytes,
        limits.max_icp_custom_sections_bytes,
    )?;
    report.exports = exports.len();

    let mut method_names = BTreeSet::new();
    let mut method_name_bytes = 0usize;
    for (name, kind, index) in &exports {
        if name.starts_with("canister ") || name.starts_with(crate::engine::INTERNAL_EXPORT_PREFIX)
        {
            return Err(ValidationError::InvalidExport {
                name: name.clone(),
                reason: "the name is reserved".into(),
            });
        }
        let method = name
            .strip_prefix("canister_update ")
            .map(|m| (m, &mut report.update_methods))
            .or_else(|| {
                name.strip_prefix("canister_query ")
                    .map(|m| (m, &mut report.query_methods))
            })
            .or_else(|| {
                name.strip_prefix("canister_composite_query ")
                    .map(|m| (m, &mut report.composite_query_methods))
            });
        let is_system = matches!(
            name.as_str(),
            "canister_init"
                | "canister_pre_upgrade"
                | "canister_post_upgrade"
                | "canister_inspect_message"
                | "canister_heartbeat"
                | "canister_global_timer"
                | "canister_on_low_wasm_memory"
        );
        if method.is_none() && !is_system {
            if name.starts_with("canister_") && *kind == ExternalKind::Func {
                return Err(ValidationError::InvalidExport {
                    name: name.clone(),
                    reason: "the `canister_` prefix is reserved for the IC's entry points".into(),
                });
            }
            continue;
        }
        if *kind != ExternalKind::Func {
            return Err(ValidationError::InvalidExport {
                name: name.clone(),
                reason: "canister entry points must be functions".into(),
            });
        }
        let ft = func_types
            .get(*index as usize)
            .and_then(|t| types.get(*t as usize))
            .and_then(|t| t.as_ref());
        if !ft.is_some_and(|ft| ft.params().is_empty() && ft.results().is_empty()) {
            return Err(ValidationError::InvalidExport {
                name: name.clone(),
                reason: "canister entry points must have type [] -> []".into(),
            });
        }
        match method {
            Some((m, list)) => {
                if !method_names.insert(m.to_string()) {
                    return Err(ValidationError::InvalidExport {
                        name: name.clone(),
                        reason: format!("method `{m}` is exported more than once"),
                    });
                }
                method_name_bytes += m.len();
                list.push(m.to_string());
            }
            None => report.system_methods.push(name.clone()),
        }
    }
    limit(
        "number of exported canister methods",
        method_names.len(),
        limits.max_exports,
    )?;
    limit(
        "total length of exported method names",
        method_name_bytes,
        limits.max_sum_exported_method_name_bytes,
    )?;
    report.instrumented_instructions = instrumentation::module_instruction_count(
        instrumented_bodies,
        report.imports.iter().map(String::as_str),
        report.globals as u64,
    );
    Ok(report)
}

/// Refuses the instructions that change a table, as the replica does (its function-complexity
/// pass returns `UnsupportedWasmInstruction` for them).
fn check_table_instructions(body: &FunctionBody, function: usize) -> Result<(), ValidationError> {
    let invalid = |e: wasmparser::BinaryReaderError| ValidationError::InvalidWasm(e.to_string());
    let mut ops = body.get_operators_reader().map_err(invalid)?;
    while !ops.eof() {
        let instruction = match ops.read().map_err(invalid)? {
            Operator::TableSet { .. } => "table.set",
            Operator::TableGrow { .. } => "table.grow",
            Operator::TableFill { .. } => "table.fill",
            Operator::TableCopy { .. } => "table.copy",
            Operator::TableInit { .. } => "table.init",
            _ => continue,
        };
        return Err(ValidationError::UnsupportedInstruction {
            function,
            instruction,
        });
    }
    Ok(())
}
