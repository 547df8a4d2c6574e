//! The `icp:public <name>` and `icp:private <name>` custom sections of a canister's
//! module, which the IC publishes at `/canister/<id>/metadata/<name>` in its state tree
//! (private ones readable by controllers only). Read from the module as installed (raw or
//! gzipped) the first time they are asked for, and cached per module hash.

use super::super::Host;
use crate::validate::decompress_if_gzipped;
use candid::Principal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One metadata section of an installed module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanisterMetadata {
    /// `icp:public` (anyone may read it) rather than `icp:private` (controllers only).
    pub public: bool,
    /// The section's content.
    pub content: Vec<u8>,
}

type Sections = BTreeMap<String, CanisterMetadata>;

/// The sections of the module with this hash.
#[derive(Default)]
pub(crate) struct SectionCache(Mutex<Option<([u8; 32], Arc<Sections>)>>);

fn parse_sections(wasm: &[u8], limit: usize) -> Sections {
    let mut out = Sections::new();
    // The module was validated at installation, so neither step fails in practice; a
    // module that could not be read has no sections to show.
    let Ok((wasm, _)) = decompress_if_gzipped(wasm, limit) else {
        return out;
    };
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        let Ok(wasmparser::Payload::CustomSection(section)) = payload else {
            continue;
        };
        let (public, name) = if let Some(n) = section.name().strip_prefix("icp:public ") {
            (true, n)
        } else if let Some(n) = section.name().strip_prefix("icp:private ") {
            (false, n)
        } else {
            continue;
        };
        out.insert(
            name.to_string(),
            CanisterMetadata {
                public,
                content: section.data().to_vec(),
            },
        );
    }
    out
}

impl Host {
    /// The `icp:*` metadata sections of a canister's installed module, by name (empty for
    /// a missing or empty canister).
    pub fn canister_metadata(
        &self,
        canister: Principal,
    ) -> Arc<BTreeMap<String, CanisterMetadata>> {
        let Some(c) = self.canisters.get(&canister) else {
            return Arc::default();
        };
        let (Some(hash), Some(wasm)) = (c.state.module_hash, c.wasm.as_ref()) else {
            return Arc::default();
        };
        let mut cache = c
            .managed
            .sections
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((h, sections)) = cache.as_ref()
            && *h == hash
        {
            return sections.clone();
        }
        let sections = Arc::new(parse_sections(
            wasm,
            self.config.validation.max_decompressed_bytes,
        ));
        *cache = Some((hash, sections.clone()));
        sections
    }
}
