//! Released modules (`releases/`) and the stable-memory images they write, for the tests
//! that go back to an earlier release (tests/tests/model_based.rs) or load what it wrote
//! (tests/tests/golden.rs).
//!
//! A release directory holds the `.wasm.gz` that `scripts/release.sh` built and its
//! manifest (`inference.release.json`): the module's and the gzip's SHA-256, the source
//! commit and the toolchain. The tests install the `.wasm.gz` as the IC would.

use crate::workspace_root;
use ic_stable_structures::memory_manager::MemoryManager;
use ic_stable_structures::{Memory, VectorMemory};
use icinfer_core::memory::LAYOUT;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;

/// The release before this code: the one a downgrade goes back to. Named by the short
/// commit it was built from; replace it (and its directory) when a new release is cut.
pub const PREVIOUS_RELEASE: &str = "370bfb9";

/// A release manifest, as `scripts/release.sh` writes it.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub package: String,
    pub module_sha256: String,
    pub gzip_sha256: String,
    pub source_commit: String,
    pub toolchain: String,
    pub ic_wasm: String,
}

/// A committed release: its installable module and manifest.
pub struct Release {
    pub name: String,
    /// The `.wasm.gz`, as dfx installs it.
    pub wasm_gz: Vec<u8>,
    pub manifest: Manifest,
}

impl Release {
    /// The SHA-256 the IC reports as the module hash once this release is installed.
    pub fn module_hash(&self) -> [u8; 32] {
        Sha256::digest(&self.wasm_gz).into()
    }

    /// The decompressed module.
    pub fn wasm(&self) -> Vec<u8> {
        let mut wasm = Vec::new();
        flate2::read::GzDecoder::new(&self.wasm_gz[..])
            .read_to_end(&mut wasm)
            .unwrap_or_else(|e| panic!("release {}: the .wasm.gz does not gunzip: {e}", self.name));
        wasm
    }
}

pub fn releases_dir() -> PathBuf {
    workspace_root().join("releases")
}

/// Reads a committed release.
pub fn release(name: &str) -> Release {
    let dir = releases_dir().join(name);
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let manifest = serde_json::from_slice(&read("inference.release.json"))
        .unwrap_or_else(|e| panic!("releases/{name}/inference.release.json: {e}"));
    Release {
        name: name.to_string(),
        wasm_gz: read("inference.wasm.gz"),
        manifest,
    }
}

pub fn previous_release() -> Release {
    release(PREVIOUS_RELEASE)
}

/// The version byte of the layout header (crates/core/src/memory.rs) in a stable-memory
/// image, read through the same MemoryManager the canister uses; `None` when the image
/// holds no layout header.
pub fn layout_version(image: &[u8]) -> Option<u8> {
    let manager = MemoryManager::init(vector_memory(image));
    let layout = manager.get(LAYOUT);
    if layout.size() == 0 {
        return None;
    }
    let mut header = [0u8; 8];
    layout.read(0, &mut header);
    (header[..5] == *b"ICINF").then_some(header[5])
}

/// `image` with its layout header claiming `version`: a layout written by code that the
/// reader may not know, for the test that a downgrade refuses it.
pub fn with_layout_version(image: &[u8], version: u8) -> Vec<u8> {
    let memory = vector_memory(image);
    let manager = MemoryManager::init(memory.clone());
    assert!(
        layout_version(image).is_some(),
        "the image has no layout header"
    );
    manager.get(LAYOUT).write(5, &[version]);
    drop(manager);
    memory.take()
}

fn vector_memory(image: &[u8]) -> VectorMemory {
    std::rc::Rc::new(std::cell::RefCell::new(image.to_vec()))
}

/// Gzip of a stable-memory image (`gzip -9`): images are mostly unallocated zeros.
pub fn compress_image(image: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(image).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

pub fn decompress_image(gz: &[u8]) -> Vec<u8> {
    let mut image = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut image)
        .expect("the image gunzips");
    image
}
