//! A canister's Wasm chunk store: `upload_chunk` adds a chunk under its SHA-256,
//! `install_chunked_code` assembles a module from a list of hashes. Bounded as on mainnet.

use super::reject;
use super::types::ChunkHash;
use crate::error::{Reject, RejectCode};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Largest chunk: 1 MiB.
pub(crate) const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Store capacity: 100 MiB, i.e. 100 chunks.
const MAX_STORE_BYTES: usize = 100 * MAX_CHUNK_BYTES;

fn store_error(what: String) -> Reject {
    reject(
        RejectCode::CanisterError,
        format!("Error from Wasm chunk store: {what}"),
    )
}

#[derive(Default)]
pub(crate) struct ChunkStore {
    chunks: BTreeMap<[u8; 32], Vec<u8>>,
}

impl ChunkStore {
    /// Stores a chunk (a chunk already stored is not stored twice) and returns its hash.
    pub(crate) fn upload(&mut self, chunk: Vec<u8>) -> Result<[u8; 32], Reject> {
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(store_error(format!(
                "Wasm chunk size {} exceeds the maximum chunk size of {MAX_CHUNK_BYTES}.",
                chunk.len()
            )));
        }
        let hash: [u8; 32] = Sha256::digest(&chunk).into();
        if self.chunks.contains_key(&hash) {
            return Ok(hash);
        }
        if self.chunks.len() >= MAX_STORE_BYTES / MAX_CHUNK_BYTES {
            return Err(store_error(format!(
                "Wasm chunk store has already reached maximum capacity of {MAX_STORE_BYTES} bytes or the maximum number of entries, {}.",
                MAX_STORE_BYTES / MAX_CHUNK_BYTES
            )));
        }
        self.chunks.insert(hash, chunk);
        Ok(hash)
    }

    pub(crate) fn hashes(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.chunks.keys()
    }

    /// The chunk stored under `hash` (for persistence).
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<&[u8]> {
        self.chunks.get(hash).map(Vec::as_slice)
    }

    /// Keeps only the chunks whose hash `keep` accepts (for persistence).
    pub(crate) fn retain(&mut self, keep: impl Fn(&[u8; 32]) -> bool) {
        self.chunks.retain(|h, _| keep(h));
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.chunks.values().map(|c| c.len() as u64).sum()
    }

    /// The module made of the chunks `hashes` names, in order, if its SHA-256 is
    /// `module_hash`.
    pub(crate) fn assemble(
        &self,
        hashes: &[ChunkHash],
        module_hash: &[u8],
    ) -> Result<Vec<u8>, Reject> {
        let Ok(expected) = <[u8; 32]>::try_from(module_hash) else {
            return Err(store_error(format!(
                "Invalid wasm hash length: expected 32 bytes, got {}.",
                module_hash.len()
            )));
        };
        let mut wasm = Vec::new();
        for h in hashes {
            let Ok(key) = <[u8; 32]>::try_from(h.hash.as_slice()) else {
                return Err(store_error(format!(
                    "Chunk hash is invalid. The length is not 32 but {}.",
                    h.hash.len()
                )));
            };
            let Some(chunk) = self.chunks.get(&key) else {
                return Err(store_error(format!("Chunk hash {:?} was not found.", key)));
            };
            wasm.extend_from_slice(chunk);
        }
        let actual: [u8; 32] = Sha256::digest(&wasm).into();
        if actual != expected {
            return Err(store_error(format!(
                "Wasm module hash {} does not match given hash {}.",
                hex::encode(actual),
                hex::encode(expected)
            )));
        }
        Ok(wasm)
    }
}
