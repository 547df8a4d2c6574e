//! icinfer-core: the inference canister's logic, free of ic-cdk so that it runs and is
//! tested natively.
//!
//! - [`engine`]: every canister operation, over stable memory and an `Environment`.
//! - [`store`]: models in stable memory, uploaded in chunks, immutable once finalized.
//! - [`runtime`]: tract: load and optimise ONNX, check inputs against facts, run.
//! - [`prep`]: the ONNX preparation pass on the decoded protobuf, before tract: bounds,
//!   operator classification, declared facts, `If` folding, load diagnostics.
//! - [`stepping`]: a plan run node by node, for inferences that span messages.
//! - [`jobs`]: inference jobs in stable memory: records, inputs, outputs.
//! - [`generation`]: text generation: the tokenizer, sampling, a decoder's forward passes.
//! - [`rewrite`]: our rewrites of tract's graphs, between its declutter and codegen and after
//!   both, one file per family of operators.
//! - [`tensor`]: tensor checks, the canonical encoding and the input/output hashes.
//! - [`provenance`]: the append-only log of inferences and its search index.
//! - [`merkle`]: the log's RFC 9162 Merkle tree in stable memory: appends, roots, proofs.
//! - [`policy`]: the inference policy: access, per-caller and global quotas.
//! - [`memory`]: the registry of stable memories and the layout checks.
//! - [`limits`]: every bound, named.

pub mod contrib;
pub mod engine;
pub mod epochs;
pub mod generation;
pub mod jobs;
pub mod limits;
pub mod memory;
pub mod merkle;
pub mod nested;
pub mod policy;
pub mod prep;
pub mod provenance;
pub mod rewrite;
pub mod runtime;
pub mod stepping;
pub mod store;
pub mod tensor;

pub use engine::{Engine, Environment, StepOutcome, Work};
