//! The log's RFC 9162 Merkle tree, kept in stable memory so that appends, roots and proofs
//! never rehash the log.
//!
//! Storage follows the "stored hash index" of golang.org/x/mod/sumdb/tlog: one append-only
//! sequence holding every leaf hash and every complete subtree's hash, each written as soon
//! as it exists. Appending leaf n writes its hash, then the hashes of the subtrees it
//! completes (one per trailing 1 bit of n), reading each left sibling back: two writes per
//! append on average, at most 1 + log2(n). A tree of n leaves stores 2n - popcount(n)
//! hashes. Incomplete subtrees at the right edge are never stored; roots and proofs
//! combine at most log2(n) stored hashes for them.
//!
//! ```text
//! memory MERKLE:  0      3     4          8               16               32
//!                 +------+-----+----------+---------------+----------------+
//!                 | ICM  | ver | 00000000 | leaves u64 LE | 0 (reserved)   |
//!                 +------+-----+----------+---------------+----------------+
//!                 32 + 32·i: stored hash i
//!
//! stored hashes of a 4-leaf tree, in order:
//!     i:  0    1    2      3    4    5      6
//!         L0   L1   N01    L2   L3   N23    N0123
//! subtree (level l, k) = leaves [k·2^l, (k+1)·2^l) sits at
//!     index(l, k) = 2m - popcount(m) + l,  m = (k+1)·2^l - 1 its last leaf
//! ```
//! (Leaf m is preceded by 2m - popcount(m) hashes: the m earlier leaves and the m -
//! popcount(m) subtrees they completed; the subtrees leaf m completes follow it, lowest
//! first.)
//!
//! The leaf count in the header is written last on each append. On the IC a trap discards
//! the whole message anyway; the order only keeps the header truthful for anyone reading
//! the memory in between.

use ic_stable_structures::Memory;
use icinfer_verify::merkle::{EMPTY_ROOT, Hash, node_hash};

pub const MAGIC: &[u8; 3] = b"ICM";
pub const VERSION: u8 = 1;
const HEADER_BYTES: u64 = 32;
const HASH_BYTES: u64 = 32;
const WASM_PAGE: u64 = 65536;

/// Why a proof cannot be made: the arguments name a tree or leaf that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// The tree has fewer leaves than asked for.
    SizeBeyondTree { size: u64, tree_size: u64 },
    /// The leaf is not in the tree of the given size.
    IndexBeyondSize { index: u64, size: u64 },
    /// The sizes of a consistency proof are out of order.
    SizesOutOfOrder { from_size: u64, to_size: u64 },
}

pub struct MerkleTree<M: Memory> {
    memory: M,
    leaves: u64,
}

impl<M: Memory> MerkleTree<M> {
    /// Lays out an empty tree in a fresh memory.
    pub fn new(memory: M) -> Self {
        let tree = MerkleTree { memory, leaves: 0 };
        tree.write_header();
        tree
    }

    /// Reopens a tree; the caller has checked the magic (memory::check_layout). A version
    /// this code does not know is a layout it must not touch.
    pub fn open(memory: M) -> Result<Self, u8> {
        let mut header = [0u8; 16];
        memory.read(0, &mut header);
        if header[3] != VERSION {
            return Err(header[3]);
        }
        let leaves = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        Ok(MerkleTree { memory, leaves })
    }

    pub fn len(&self) -> u64 {
        self.leaves
    }

    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Appends a leaf hash (SHA-256(0x00 || leaf), from `icinfer_verify::merkle::leaf_hash`).
    pub fn append(&mut self, leaf: Hash) {
        let n = self.leaves;
        let mut position = stored_index(0, n);
        self.write_hash(position, &leaf);
        // Each trailing 1 bit of n closes a subtree whose left half is already stored.
        let (mut hash, mut level, mut k) = (leaf, 0u32, n);
        while k & 1 == 1 {
            let left = self.stored(level, k - 1);
            hash = node_hash(&left, &hash);
            level += 1;
            k >>= 1;
            position += 1;
            self.write_hash(position, &hash);
        }
        self.leaves = n + 1;
        self.write_header();
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.subtree_hash(0, self.leaves)
    }

    /// The root of the tree of the first `size` leaves, as it was when it had that size.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        Ok(self.subtree_hash(0, size))
    }

    /// RFC 9162 2.1.3.1 `PATH(index, D[size])`, leaf to root.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexBeyondSize { index, size });
        }
        // Walk down from the root, collecting the sibling of each subtree holding the leaf;
        // the proof lists them bottom up.
        let mut proof = Vec::new();
        let (mut start, mut end) = (0, size);
        while end - start > 1 {
            let split = start + largest_power_of_two_below(end - start);
            if index < split {
                proof.push(self.subtree_hash(split, end));
                end = split;
            } else {
                proof.push(self.subtree_hash(start, split));
                start = split;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// RFC 9162 2.1.4.1 `PROOF(from_size, D[to_size])`; empty when the sizes are equal or
    /// `from_size` is 0.
    pub fn consistency_proof(&self, from_size: u64, to_size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(to_size)?;
        if from_size > to_size {
            return Err(TreeError::SizesOutOfOrder { from_size, to_size });
        }
        let mut proof = Vec::new();
        if from_size == 0 || from_size == to_size {
            return Ok(proof);
        }
        // SUBPROOF(m, D[start:end], complete), unrolled: `complete` says whether the old tree
        // is exactly the current subtree so far, in which case the verifier knows its hash.
        let (mut m, mut start, mut end, mut complete) = (from_size, 0, to_size, true);
        while m != end - start {
            let k = largest_power_of_two_below(end - start);
            if m <= k {
                proof.push(self.subtree_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.subtree_hash(start, start + k));
                start += k;
                m -= k;
                complete = false;
            }
        }
        if !complete {
            proof.push(self.subtree_hash(start, end));
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        if size > self.leaves {
            return Err(TreeError::SizeBeyondTree {
                size,
                tree_size: self.leaves,
            });
        }
        Ok(())
    }

    /// `MTH(D[start:end])` for the subtrees RFC 9162 recursion visits: `start` is a multiple
    /// of the largest power of two below `end - start` (or of `end - start` itself), so the
    /// range splits into stored complete subtrees, at most log2 of them.
    fn subtree_hash(&self, start: u64, end: u64) -> Hash {
        let size = end - start;
        if size == 0 {
            return EMPTY_ROOT;
        }
        if size.is_power_of_two() && start.is_multiple_of(size) {
            let level = size.trailing_zeros();
            return self.stored(level, start >> level);
        }
        let split = start + largest_power_of_two_below(size);
        node_hash(
            &self.subtree_hash(start, split),
            &self.subtree_hash(split, end),
        )
    }

    fn stored(&self, level: u32, k: u64) -> Hash {
        let mut hash = [0u8; 32];
        self.memory.read(
            HEADER_BYTES + stored_index(level, k) * HASH_BYTES,
            &mut hash,
        );
        hash
    }

    fn write_hash(&self, position: u64, hash: &Hash) {
        let offset = HEADER_BYTES + position * HASH_BYTES;
        let needed_pages = (offset + HASH_BYTES).div_ceil(WASM_PAGE);
        let pages = self.memory.size();
        if needed_pages > pages {
            assert!(
                self.memory.grow(needed_pages - pages) != -1,
                "stable memory full while appending to the Merkle tree"
            );
        }
        self.memory.write(offset, hash);
    }

    fn write_header(&self) {
        if self.memory.size() == 0 {
            assert!(
                self.memory.grow(1) != -1,
                "stable memory cannot grow by one page"
            );
        }
        let mut header = [0u8; HEADER_BYTES as usize];
        header[..3].copy_from_slice(MAGIC);
        header[3] = VERSION;
        header[8..16].copy_from_slice(&self.leaves.to_le_bytes());
        self.memory.write(0, &header);
    }
}

/// Where subtree (level, k) sits in the stored sequence (see the module docs).
pub fn stored_index(level: u32, k: u64) -> u64 {
    let last_leaf = ((k + 1) << level) - 1;
    2 * last_leaf - u64::from(last_leaf.count_ones()) + u64::from(level)
}

/// How many hashes a tree of `leaves` leaves stores.
pub fn stored_count(leaves: u64) -> u64 {
    2 * leaves - u64::from(leaves.count_ones())
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 9162's split point k.
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}
