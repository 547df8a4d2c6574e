//! The certified head of the log: what the canister puts in its certified data, so that an
//! IC certificate authenticates the log's size and Merkle root.
//!
//! The certified data is the root hash of a two-leaf IC hash tree (the interface
//! specification's `HashTree`, the format `ic-certification` reads):
//!
//! ```text
//! fork ─┬─ labeled "log_root" ── leaf  MTH of the log                (32 bytes)
//!       └─ labeled "log_size" ── leaf  number of entries, unsigned LEB128 (1 to 10 bytes)
//!
//! certified_data = fork_hash(labeled_hash("log_root", leaf_hash(root)),
//!                            labeled_hash("log_size", leaf_hash(leb128(size))))
//!   leaf_hash(v)       = SHA-256(0x10 "ic-hashtree-leaf" || v)
//!   labeled_hash(l, t) = SHA-256(0x13 "ic-hashtree-labeled" || l || t)
//!   fork_hash(l, r)    = SHA-256(0x10 "ic-hashtree-fork" || l || r)
//! ```
//!
//! Labels are sorted bytewise ("log_root" < "log_size"), as the specification requires of
//! well-formed trees; sizes are LEB128 like the IC's own `/time`. The witness the canister
//! hands out is this whole tree in CBOR (with the self-describing tag 55799), nothing
//! pruned: it is a function of (size, root), so a verifier may equally rebuild it.
//! testdata/hashing.json pins LEB128, the commitment and the witness bytes.

use sha2::{Digest, Sha256};

use crate::merkle::Hash;

pub const ROOT_LABEL: &[u8] = b"log_root";
pub const SIZE_LABEL: &[u8] = b"log_size";

/// Unsigned LEB128, as the IC encodes numbers in certified trees.
pub fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Decodes a LEB128 number that fills `bytes` exactly, in its shortest form, and fits u64.
pub fn decode_leb128(bytes: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate() {
        let last = i + 1 == bytes.len();
        // Nine bytes carry 63 bits: a tenth may only add the top bit.
        if i == 9 && byte > 1 {
            return None;
        }
        if i > 9 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if (byte & 0x80 == 0) != last {
            return None;
        }
        if last && byte == 0 && i > 0 {
            return None;
        }
    }
    (!bytes.is_empty()).then_some(value)
}

fn domain_hash(domain: &str, parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([domain.len() as u8]);
    hasher.update(domain.as_bytes());
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The certified data for a log of `size` entries with Merkle root `root`.
pub fn head_commitment(size: u64, root: &Hash) -> Hash {
    let labeled_leaf = |label: &[u8], value: &[u8]| {
        let leaf = domain_hash("ic-hashtree-leaf", &[value]);
        domain_hash("ic-hashtree-labeled", &[label, &leaf])
    };
    let root_node = labeled_leaf(ROOT_LABEL, root);
    let size_node = labeled_leaf(SIZE_LABEL, &leb128(size));
    domain_hash("ic-hashtree-fork", &[&root_node, &size_node])
}

/// The witness: the head's hash tree in CBOR, tagged 55799.
///
/// ```text
/// d9d9f7 83 01                                  tag, fork
///        83 02 48 "log_root" 82 03 58 20 <root> labeled, leaf of 32 bytes
///        83 02 48 "log_size" 82 03 4n <leb128>  labeled, leaf of n bytes
/// ```
pub fn encode_head_witness(size: u64, root: &Hash) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, value: &[u8]) {
        // Major type 2; every value here is shorter than 256 bytes.
        match value.len() {
            len @ 0..=23 => out.push(0x40 | len as u8),
            len => out.extend_from_slice(&[0x58, len as u8]),
        }
        out.extend_from_slice(value);
    }
    fn labeled_leaf(out: &mut Vec<u8>, label: &[u8], value: &[u8]) {
        out.extend_from_slice(&[0x83, 0x02]);
        bytes(out, label);
        out.extend_from_slice(&[0x82, 0x03]);
        bytes(out, value);
    }
    let mut out = Vec::with_capacity(80);
    out.extend_from_slice(&[0xd9, 0xd9, 0xf7, 0x83, 0x01]);
    labeled_leaf(&mut out, ROOT_LABEL, root);
    labeled_leaf(&mut out, SIZE_LABEL, &leb128(size));
    out
}
