//! RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proof verification,
//! section by section:
//!
//! - 2.1.1 `MTH({}) = SHA-256()`, `MTH({d0}) = SHA-256(0x00 || d0)`, and for n > 1, with k
//!   the largest power of two smaller than n,
//!   `MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`.
//! - 2.1.3.2 verifying an inclusion proof: [`root_from_inclusion_proof`],
//!   [`verify_inclusion`].
//! - 2.1.4.2 verifying a consistency proof: [`verify_consistency`].
//!
//! The leaf data of the icinfer log are the entries' canonical bytes ([`crate::entry`]).
//! Proof generation lives with the stored tree (icinfer-core); the tests cross-check both
//! against a recursive reference implementation for every size up to 300.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `MTH({})`, the root of the empty tree: SHA-256 of no bytes.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// A tree of 2^64 - 1 leaves has proofs of at most 64 nodes; anything longer is refused
/// before any hashing.
pub const MAX_PROOF_NODES: usize = 65;

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Why a proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    IndexOutOfRange { index: u64, tree_size: u64 },
    /// The older tree is larger than the newer one.
    SizesOutOfOrder { from_size: u64, to_size: u64 },
    /// The proof has more nodes than a tree of this size needs.
    TooLong,
    /// The proof has fewer nodes than a tree of this size needs.
    TooShort,
    /// A proof between equal sizes, or from the empty tree, must be empty.
    NotEmpty,
    /// A proof node is not a 32-byte hash.
    MalformedNode { position: usize, len: usize },
    /// The proof leads to a different root than the one claimed.
    RootMismatch { expected: Hash, computed: Hash },
}

impl ProofError {
    /// The reason code the corpus (testdata/merkle.json) and the TypeScript port use.
    pub fn reason(&self) -> &'static str {
        match self {
            ProofError::IndexOutOfRange { .. } => "index-out-of-range",
            ProofError::SizesOutOfOrder { .. } => "sizes-out-of-order",
            ProofError::TooLong => "proof-too-long",
            ProofError::TooShort => "proof-too-short",
            ProofError::NotEmpty => "proof-not-empty",
            ProofError::MalformedNode { .. } => "malformed-node",
            ProofError::RootMismatch { .. } => "root-mismatch",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::IndexOutOfRange { index, tree_size } => {
                write!(f, "leaf {index} is not in a tree of {tree_size} leaves")
            }
            ProofError::SizesOutOfOrder { from_size, to_size } => {
                write!(f, "tree size {from_size} is larger than {to_size}")
            }
            ProofError::TooLong => f.write_str("the proof has more nodes than the tree needs"),
            ProofError::TooShort => f.write_str("the proof has fewer nodes than the tree needs"),
            ProofError::NotEmpty => f.write_str("the proof must be empty"),
            ProofError::MalformedNode { position, len } => {
                write!(f, "proof node {position} is {len} bytes, not 32")
            }
            ProofError::RootMismatch { expected, computed } => write!(
                f,
                "the proof leads to root {}, not {}",
                crate::hex(computed),
                crate::hex(expected)
            ),
        }
    }
}

impl std::error::Error for ProofError {}

/// Converts proof nodes as they travel over Candid (`vec blob`) into hashes.
pub fn proof_nodes<B: AsRef<[u8]>>(nodes: &[B]) -> Result<Vec<Hash>, ProofError> {
    if nodes.len() > MAX_PROOF_NODES {
        return Err(ProofError::TooLong);
    }
    nodes
        .iter()
        .enumerate()
        .map(|(position, node)| {
            let node = node.as_ref();
            node.try_into().map_err(|_| ProofError::MalformedNode {
                position,
                len: node.len(),
            })
        })
        .collect()
}

/// The root that an inclusion proof of leaf `index` in a tree of `tree_size` leaves leads to
/// (RFC 9162 2.1.3.2). The caller compares it with a root it trusts.
pub fn root_from_inclusion_proof(
    index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    if proof.len() > MAX_PROOF_NODES {
        return Err(ProofError::TooLong);
    }
    // `node` walks up from the leaf and `last` from the tree's last leaf; where they meet
    // a right edge, the right subtree is incomplete and the level is skipped.
    let (mut node, mut last) = (index, tree_size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if last == 0 {
            return Err(ProofError::TooLong);
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(sibling, &hash);
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::TooShort);
    }
    Ok(hash)
}

/// Verifies that `leaf` is leaf `index` of the tree of `tree_size` leaves with root `root`.
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(index, tree_size, leaf, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// Verifies that the tree of `from_size` leaves with root `from_root` is a prefix of the
/// tree of `to_size` leaves with root `to_root` (RFC 9162 2.1.4.2): the log only grew.
///
/// Equal sizes need an empty proof and equal roots; the empty tree is a prefix of every
/// tree, with an empty proof (RFC 9162 leaves size 0 undefined; this is the usual reading).
pub fn verify_consistency(
    from_size: u64,
    to_size: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from_size > to_size {
        return Err(ProofError::SizesOutOfOrder { from_size, to_size });
    }
    if proof.len() > MAX_PROOF_NODES {
        return Err(ProofError::TooLong);
    }
    let roots_equal = |expected: &Hash, computed: &Hash| {
        if expected == computed {
            Ok(())
        } else {
            Err(ProofError::RootMismatch {
                expected: *expected,
                computed: *computed,
            })
        }
    };
    if from_size == to_size || from_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::NotEmpty);
        }
        return if from_size == 0 {
            roots_equal(&EMPTY_ROOT, from_root)
        } else {
            roots_equal(from_root, to_root)
        };
    }
    // A complete old tree is itself a node of the new one, so the prover leaves it out.
    let (first, rest) = if from_size.is_power_of_two() {
        (from_root, proof)
    } else {
        proof.split_first().ok_or(ProofError::TooShort)?
    };
    let (mut node, mut last) = (from_size - 1, to_size - 1);
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for sibling in rest {
        if last == 0 {
            return Err(ProofError::TooLong);
        }
        if node & 1 == 1 || node == last {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::TooShort);
    }
    roots_equal(from_root, &old_hash)?;
    roots_equal(to_root, &new_hash)
}
