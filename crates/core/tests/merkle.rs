//! The stored Merkle tree (icinfer_core::merkle) and the verifier's proof checks
//! (icinfer_verify::merkle) against RFC 9162: known answers, a recursive reference
//! implementation for every size up to 300, mutation probes that must all be rejected, and
//! the append-only property of the log.

use candid::Principal;
use ic_stable_structures::VectorMemory;
use icinfer_api::LogEntry;
use icinfer_core::merkle::{MerkleTree, TreeError, stored_count, stored_index};
use icinfer_core::provenance::ProvenanceLog;
use icinfer_verify::merkle::{
    EMPTY_ROOT, Hash, ProofError, leaf_hash, node_hash, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

fn tree_of(leaves: &[Vec<u8>]) -> MerkleTree<VectorMemory> {
    let mut tree = MerkleTree::new(VectorMemory::default());
    for leaf in leaves {
        tree.append(leaf_hash(leaf));
    }
    tree
}

/// RFC 9162 2.1, written as the RFC states it: recursive, memoised on (start, end) so the
/// exhaustive checks stay fast.
struct Reference {
    leaves: Vec<Hash>,
    memo: HashMap<(usize, usize), Hash>,
}

impl Reference {
    fn new(leaves: &[Vec<u8>]) -> Self {
        Reference {
            leaves: leaves.iter().map(|l| leaf_hash(l)).collect(),
            memo: HashMap::new(),
        }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[start:end]).
    fn mth(&mut self, start: usize, end: usize) -> Hash {
        if let Some(hash) = self.memo.get(&(start, end)) {
            return *hash;
        }
        let hash = match end - start {
            0 => Sha256::digest(b"").into(),
            1 => self.leaves[start],
            n => {
                let k = Self::split(n);
                let left = self.mth(start, start + k);
                let right = self.mth(start + k, end);
                node_hash(&left, &right)
            }
        };
        self.memo.insert((start, end), hash);
        hash
    }

    /// PATH(m, D[start:end]).
    fn path(&mut self, m: usize, start: usize, end: usize) -> Vec<Hash> {
        let n = end - start;
        if n <= 1 {
            return Vec::new();
        }
        let k = Self::split(n);
        if m < k {
            let mut proof = self.path(m, start, start + k);
            proof.push(self.mth(start + k, end));
            proof
        } else {
            let mut proof = self.path(m - k, start + k, end);
            proof.push(self.mth(start, start + k));
            proof
        }
    }

    /// SUBPROOF(m, D[start:end], complete).
    fn subproof(&mut self, m: usize, start: usize, end: usize, complete: bool) -> Vec<Hash> {
        let n = end - start;
        if m == n {
            return if complete {
                Vec::new()
            } else {
                vec![self.mth(start, end)]
            };
        }
        let k = Self::split(n);
        if m <= k {
            let mut proof = self.subproof(m, start, start + k, complete);
            proof.push(self.mth(start + k, end));
            proof
        } else {
            let mut proof = self.subproof(m - k, start + k, end, false);
            proof.push(self.mth(start, start + k));
            proof
        }
    }
}

fn test_leaves(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("leaf {i}").repeat(i % 4 + 1).into_bytes())
        .collect()
}

fn hex(h: &str) -> Hash {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

// --- known answers ---------------------------------------------------------------------------

/// The RFC 6962/9162 test vectors used by certificate-transparency and transparency-dev:
/// eight leaves and the root of every prefix.
#[test]
fn known_answer_roots_match_the_published_vectors() {
    let leaves: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    })
    .collect();
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    assert_eq!(EMPTY_ROOT, hex(roots[0]));
    assert_eq!(EMPTY_ROOT, <Hash>::from(Sha256::digest(b"")));
    // Leaf and node hashing, spelled out.
    assert_eq!(leaf_hash(b""), <Hash>::from(Sha256::digest([0x00])));
    let (l, r) = ([1u8; 32], [2u8; 32]);
    let mut node_input = vec![0x01];
    node_input.extend_from_slice(&l);
    node_input.extend_from_slice(&r);
    assert_eq!(node_hash(&l, &r), <Hash>::from(Sha256::digest(&node_input)));

    let mut tree = MerkleTree::new(VectorMemory::default());
    assert_eq!(tree.root(), hex(roots[0]));
    for (size, leaf) in leaves.iter().enumerate() {
        tree.append(leaf_hash(leaf));
        assert_eq!(
            tree.root(),
            hex(roots[size + 1]),
            "root of size {}",
            size + 1
        );
    }
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64), Ok(hex(root)), "root_at({size})");
    }
    // Complete subtrees published with the vectors: level 1 and 2 nodes.
    assert_eq!(
        tree.inclusion_proof(0, 8).unwrap(),
        vec![
            hex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            hex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            hex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ]
    );
}

#[test]
fn stored_layout_matches_its_diagram() {
    // Leaves 0..4: L0 L1 N01 L2 L3 N23 N0123.
    assert_eq!(stored_index(0, 0), 0);
    assert_eq!(stored_index(0, 1), 1);
    assert_eq!(stored_index(1, 0), 2);
    assert_eq!(stored_index(0, 2), 3);
    assert_eq!(stored_index(0, 3), 4);
    assert_eq!(stored_index(1, 1), 5);
    assert_eq!(stored_index(2, 0), 6);
    assert_eq!(stored_index(0, 4), 7);
    assert_eq!(stored_count(4), 7);
    assert_eq!(stored_count(5), 8);
    // Every slot is used exactly once.
    let leaves = 1000u64;
    let mut slots = Vec::new();
    for level in 0..10 {
        for k in 0..(leaves >> level) {
            slots.push(stored_index(level, k));
        }
    }
    slots.sort_unstable();
    assert_eq!(slots, (0..stored_count(leaves)).collect::<Vec<_>>());
}

// --- the exhaustive cross-check ----------------------------------------------------------------

#[test]
fn every_root_and_proof_up_to_300_leaves_matches_the_reference_and_verifies() {
    const MAX: usize = 300;
    let leaves = test_leaves(MAX);
    let mut reference = Reference::new(&leaves);
    let tree = tree_of(&leaves);
    let roots: Vec<Hash> = (0..=MAX).map(|n| reference.mth(0, n)).collect();
    for n in 0..=MAX {
        assert_eq!(tree.root_at(n as u64), Ok(roots[n]), "root of {n}");
        for (i, data) in leaves.iter().enumerate().take(n) {
            let proof = tree.inclusion_proof(i as u64, n as u64).unwrap();
            assert_eq!(proof, reference.path(i, 0, n), "PATH({i}, D[{n}])");
            let leaf = leaf_hash(data);
            verify_inclusion(i as u64, n as u64, &leaf, &proof, &roots[n])
                .unwrap_or_else(|e| panic!("inclusion {i} in {n}: {e}"));
        }
        for m in 0..=n {
            let proof = tree.consistency_proof(m as u64, n as u64).unwrap();
            let expected = if m == 0 {
                Vec::new()
            } else {
                reference.subproof(m, 0, n, true)
            };
            assert_eq!(proof, expected, "PROOF({m}, D[{n}])");
            verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &proof)
                .unwrap_or_else(|e| panic!("consistency {m} -> {n}: {e}"));
        }
    }
}

#[test]
fn proofs_beyond_the_tree_are_refused() {
    let tree = tree_of(&test_leaves(10));
    assert_eq!(
        tree.inclusion_proof(10, 10),
        Err(TreeError::IndexBeyondSize {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        tree.inclusion_proof(3, 3),
        Err(TreeError::IndexBeyondSize { index: 3, size: 3 })
    );
    assert_eq!(
        tree.inclusion_proof(0, 11),
        Err(TreeError::SizeBeyondTree {
            size: 11,
            tree_size: 10
        })
    );
    assert_eq!(
        tree.consistency_proof(5, 4),
        Err(TreeError::SizesOutOfOrder {
            from_size: 5,
            to_size: 4
        })
    );
    assert!(tree.consistency_proof(5, 11).is_err());
    assert!(tree.root_at(11).is_err());
}

// --- mutation probes ---------------------------------------------------------------------------

/// Every way of damaging a proof that the probes try: each must be rejected.
fn mutations(proof: &[Hash]) -> Vec<(String, Vec<Hash>)> {
    let mut out = Vec::new();
    for position in 0..proof.len() {
        for bit in [0, 7, 100, 255] {
            let mut flipped = proof.to_vec();
            flipped[position][bit / 8] ^= 1 << (bit % 8);
            out.push((format!("bit {bit} of node {position} flipped"), flipped));
        }
        let mut missing = proof.to_vec();
        missing.remove(position);
        out.push((format!("node {position} missing"), missing));
        let mut extra = proof.to_vec();
        extra.insert(position, proof[position]);
        out.push((format!("node {position} repeated"), extra));
        if position + 1 < proof.len() {
            let mut swapped = proof.to_vec();
            swapped.swap(position, position + 1);
            if swapped != proof {
                out.push((
                    format!("nodes {position} and {} swapped", position + 1),
                    swapped,
                ));
            }
        }
    }
    let mut extended = proof.to_vec();
    extended.push([0u8; 32]);
    out.push(("extended by a zero node".into(), extended));
    let mut extended = proof.to_vec();
    extended.insert(0, [0x5a; 32]);
    out.push(("prefixed by a node".into(), extended));
    if !proof.is_empty() {
        out.push(("truncated".into(), proof[..proof.len() - 1].to_vec()));
        out.push(("emptied".into(), Vec::new()));
    }
    out
}

#[test]
fn damaged_inclusion_proofs_are_rejected() {
    const MAX: usize = 70;
    let leaves = test_leaves(MAX);
    let tree = tree_of(&leaves);
    let roots: Vec<Hash> = (0..=MAX as u64).map(|n| tree.root_at(n).unwrap()).collect();
    let mut probes = 0;
    for n in 1..=MAX as u64 {
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).unwrap();
            let leaf = leaf_hash(&leaves[i as usize]);
            let root = &roots[n as usize];
            verify_inclusion(i, n, &leaf, &proof, root).unwrap();
            let mut reject =
                |what: &str, i: u64, n: u64, leaf: &Hash, proof: &[Hash], root: &Hash| {
                    probes += 1;
                    assert!(
                        verify_inclusion(i, n, leaf, proof, root).is_err(),
                        "accepted leaf {i} of {n} with {what}"
                    );
                };
            for (what, damaged) in mutations(&proof) {
                reject(&what, i, n, &leaf, &damaged, root);
            }
            if i > 0 {
                reject("index - 1", i - 1, n, &leaf, &proof, root);
            }
            reject("index + 1", i + 1, n, &leaf, &proof, root);
            // A size is only ever trusted together with its root (both are certified), so a
            // wrong size comes with that size's root.
            if n > 1 && i < n - 1 {
                reject("size - 1", i, n - 1, &leaf, &proof, &roots[n as usize - 1]);
            }
            if (n as usize) < MAX {
                reject("size + 1", i, n + 1, &leaf, &proof, &roots[n as usize + 1]);
            }
            let other = leaf_hash(&leaves[((i + 1) % n) as usize]);
            if n > 1 {
                reject("another leaf", i, n, &other, &proof, root);
            }
            let mut tampered_entry = leaves[i as usize].clone();
            tampered_entry.push(0);
            reject(
                "a tampered entry",
                i,
                n,
                &leaf_hash(&tampered_entry),
                &proof,
                root,
            );
            reject(
                "the leaf data unhashed",
                i,
                n,
                &Sha256::digest(&leaves[i as usize]).into(),
                &proof,
                root,
            );
            let mut wrong_root = *root;
            wrong_root[31] ^= 1;
            reject("another root", i, n, &leaf, &proof, &wrong_root);
        }
    }
    assert!(probes > 100_000, "{probes} probes");
}

#[test]
fn damaged_consistency_proofs_are_rejected() {
    const MAX: usize = 70;
    let tree = tree_of(&test_leaves(MAX));
    let roots: Vec<Hash> = (0..=MAX as u64).map(|n| tree.root_at(n).unwrap()).collect();
    let root = |n: u64| roots[n as usize];
    for n in 1..=MAX as u64 {
        for m in 1..=n {
            let proof = tree.consistency_proof(m, n).unwrap();
            verify_consistency(m, n, &root(m), &root(n), &proof).unwrap();
            let reject = |what: &str, m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]| {
                assert!(
                    verify_consistency(m, n, old, new, proof).is_err(),
                    "accepted {m} -> {n} with {what}"
                );
            };
            for (what, damaged) in mutations(&proof) {
                reject(&what, m, n, &root(m), &root(n), &damaged);
            }
            if m > 1 {
                reject("from_size - 1", m - 1, n, &root(m - 1), &root(n), &proof);
            }
            if m < n {
                reject("from_size + 1", m + 1, n, &root(m + 1), &root(n), &proof);
                reject("to_size - 1", m, n - 1, &root(m), &root(n - 1), &proof);
                reject("sizes swapped", n, m, &root(n), &root(m), &proof);
            }
            if (n as usize) < MAX {
                reject("to_size + 1", m, n + 1, &root(m), &root(n + 1), &proof);
            }
            let mut old = root(m);
            old[0] ^= 0x80;
            reject("another old root", m, n, &old, &root(n), &proof);
            let mut new = root(n);
            new[5] ^= 0x01;
            reject("another new root", m, n, &root(m), &new, &proof);
        }
    }
}

#[test]
fn degenerate_consistency_cases_follow_the_rfc() {
    let tree = tree_of(&test_leaves(5));
    let root5 = tree.root();
    // From the empty tree: an empty proof, and only the empty root.
    assert_eq!(verify_consistency(0, 5, &EMPTY_ROOT, &root5, &[]), Ok(()));
    assert!(verify_consistency(0, 5, &root5, &root5, &[]).is_err());
    assert_eq!(
        verify_consistency(0, 5, &EMPTY_ROOT, &root5, &[root5]),
        Err(ProofError::NotEmpty)
    );
    // Equal sizes: an empty proof and equal roots.
    assert_eq!(verify_consistency(5, 5, &root5, &root5, &[]), Ok(()));
    assert!(verify_consistency(5, 5, &root5, &EMPTY_ROOT, &[]).is_err());
    assert_eq!(
        verify_consistency(5, 5, &root5, &root5, &[root5]),
        Err(ProofError::NotEmpty)
    );
    // Out of order, out of range.
    assert!(matches!(
        verify_consistency(6, 5, &root5, &root5, &[]),
        Err(ProofError::SizesOutOfOrder { .. })
    ));
    assert!(matches!(
        root_from_inclusion_proof(5, 5, &[0; 32], &[]),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        root_from_inclusion_proof(0, 0, &[0; 32], &[]),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    // Absurdly long proofs are refused before hashing.
    assert_eq!(
        verify_consistency(3, 5, &root5, &root5, &vec![[0; 32]; 1000]),
        Err(ProofError::TooLong)
    );
    // The largest trees still verify: leaf 2^64 - 2 of a tree of 2^64 - 1 leaves needs 63
    // proof nodes; fewer or more are refused without overflow.
    let last = u64::MAX - 1;
    assert!(root_from_inclusion_proof(last, u64::MAX, &[0; 32], &[[0; 32]; 63]).is_ok());
    assert_eq!(
        root_from_inclusion_proof(last, u64::MAX, &[0; 32], &[[0; 32]; 64]),
        Err(ProofError::TooLong)
    );
}

// --- append-only -------------------------------------------------------------------------------

fn entry(seq: u64, salt: u8) -> LogEntry {
    LogEntry {
        seq,
        timestamp_ns: 1_750_000_000_000_000_000 + seq * 1000 + u64::from(salt),
        caller: Principal::from_slice(&[salt; 29]),
        model_id: format!("model-{}", salt % 3),
        model_sha256: ByteBuf::from(vec![salt % 3; 32]),
        input_hash: ByteBuf::from(vec![salt; 32]),
        output_hash: ByteBuf::from(vec![salt.wrapping_mul(7); 32]),
        input_salted: salt.is_multiple_of(2),
        instructions: u64::from(salt) * 1000,
        messages: Some(1),
        kind: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// After every batch of appends, each head seen before is consistent with the new one,
    /// every earlier entry is byte-identical and proven in the new tree, and the tree's
    /// root is the reference root of the entries.
    #[test]
    fn the_log_only_grows(batches in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..12)) {
        let mut log = ProvenanceLog::new(
            VectorMemory::default(),
            VectorMemory::default(),
            VectorMemory::default(),
            VectorMemory::default(),
        );
        let mut heads: Vec<(u64, Hash)> = vec![(0, log.tree().root())];
        let mut entries: Vec<Vec<u8>> = Vec::new();
        for batch in batches {
            for salt in batch {
                let bytes = log.append(&entry(log.len(), salt));
                entries.push(bytes.0);
            }
            let tree = log.tree();
            let (size, root) = (tree.len(), tree.root());
            prop_assert_eq!(size, entries.len() as u64);
            prop_assert_eq!(root, Reference::new(&entries).mth(0, entries.len()));
            for (old_size, old_root) in &heads {
                let proof = tree.consistency_proof(*old_size, size).unwrap();
                prop_assert_eq!(verify_consistency(*old_size, size, old_root, &root, &proof), Ok(()));
                prop_assert_eq!(tree.root_at(*old_size).unwrap(), *old_root);
            }
            for (seq, bytes) in entries.iter().enumerate() {
                prop_assert_eq!(&log.get_bytes(seq as u64).unwrap().0, bytes);
                let proof = tree.inclusion_proof(seq as u64, size).unwrap();
                prop_assert_eq!(verify_inclusion(seq as u64, size, &leaf_hash(bytes), &proof, &root), Ok(()));
            }
            heads.push((size, root));
        }
    }
}
