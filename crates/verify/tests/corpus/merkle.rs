//! testdata/merkle.json: RFC 9162 known answers (roots of every prefix, every inclusion and
//! consistency proof of small trees, made by the RFC's recursive definitions below) and
//! mutation probes, each with the reason this crate rejects it for.

use super::json::{hex, u64_text};
use icinfer_verify::merkle::{
    EMPTY_ROOT, Hash, leaf_hash, node_hash, root_from_inclusion_proof, verify_consistency,
    verify_inclusion,
};
use serde_json::{Value, json};

pub fn corpus() -> Value {
    let rfc = rfc_leaves();
    let leaves = test_leaves(33);
    json!({
        "about": "RFC 9162 known answers and mutation probes, written by crates/verify \
                  (tests/corpus/merkle.rs). Leaves are leaf data (hashed with 0x00); proofs list \
                  nodes leaf to root. Every probe must be rejected, for the reason given. \
                  Regenerate: ICINFER_WRITE_TESTDATA=1 cargo test -p icinfer-verify --test testdata",
        "trees": [
            tree("the RFC 6962/9162 vectors of certificate-transparency and transparency-dev: every proof", &rfc, &(1..=rfc.len()).collect::<Vec<_>>()),
            tree("33 leaves \"leaf i\" repeated i % 4 + 1 times: every proof in trees of 13, 31, 32 and 33", &leaves, &[13, 31, 32, 33]),
        ],
        "inclusion_probes": inclusion_probes(&leaves),
        "consistency_probes": consistency_probes(&leaves),
        "u64_scale": u64_scale(),
    })
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn rfc_leaves() -> Vec<Vec<u8>> {
    [
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
    .map(|h| unhex(h))
    .collect()
}

fn test_leaves(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("leaf {i}").repeat(i % 4 + 1).into_bytes())
        .collect()
}

// --- RFC 9162 2.1, as the RFC states it ------------------------------------------------------

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) (2.1.1).
pub fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hash(&d[0]),
        n => node_hash(&mth(&d[..split(n)]), &mth(&d[split(n)..])),
    }
}

/// PATH(m, D[n]) (2.1.3.1).
pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    let (mut proof, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    proof.push(sibling);
    proof
}

/// PROOF(m, D[n]) (2.1.4.1), with the empty proof from the empty tree.
pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    fn subproof(m: usize, d: &[Vec<u8>], complete: bool) -> Vec<Hash> {
        if m == d.len() {
            return if complete { Vec::new() } else { vec![mth(d)] };
        }
        let k = split(d.len());
        let (mut proof, sibling) = if m <= k {
            (subproof(m, &d[..k], complete), mth(&d[k..]))
        } else {
            (subproof(m - k, &d[k..], false), mth(&d[..k]))
        };
        proof.push(sibling);
        proof
    }
    if m == 0 || m == d.len() {
        Vec::new()
    } else {
        subproof(m, d, true)
    }
}

fn hashes(proof: &[Hash]) -> Vec<Value> {
    proof.iter().map(|h| hex(h)).collect()
}

fn tree(name: &str, leaves: &[Vec<u8>], sizes: &[usize]) -> Value {
    let largest = *sizes.iter().max().unwrap();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for &n in sizes {
        let d = &leaves[..n];
        for i in 0..n {
            let proof = path(i, d);
            verify_inclusion(i as u64, n as u64, &leaf_hash(&d[i]), &proof, &mth(d)).unwrap();
            inclusion.push(json!({ "index": u64_text(i as u64), "size": u64_text(n as u64), "proof": hashes(&proof) }));
        }
        for m in 0..=n {
            let p = proof(m, d);
            verify_consistency(m as u64, n as u64, &mth(&d[..m]), &mth(d), &p).unwrap();
            consistency.push(json!({ "from_size": u64_text(m as u64), "to_size": u64_text(n as u64), "proof": hashes(&p) }));
        }
    }
    json!({
        "name": name,
        "leaves": leaves[..largest].iter().map(|l| hex(l)).collect::<Vec<_>>(),
        "roots": (0..=largest).map(|n| hex(&mth(&leaves[..n]))).collect::<Vec<_>>(),
        "inclusion": inclusion,
        "consistency": consistency,
    })
}

// --- mutation probes -------------------------------------------------------------------------

/// Every way of damaging a proof the probes try (as crates/core/tests/merkle.rs does).
fn mutations(proof: &[Hash]) -> Vec<(String, Vec<Hash>)> {
    let mut out = Vec::new();
    for position in 0..proof.len() {
        for bit in [0, 255] {
            let mut flipped = proof.to_vec();
            flipped[position][bit / 8] ^= 1 << (bit % 8);
            out.push((format!("bit {bit} of node {position} flipped"), flipped));
        }
        let mut missing = proof.to_vec();
        missing.remove(position);
        out.push((format!("node {position} missing"), missing));
        let mut repeated = proof.to_vec();
        repeated.insert(position, proof[position]);
        out.push((format!("node {position} repeated"), repeated));
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
    extended.push([0; 32]);
    out.push(("extended by a zero node".into(), extended));
    let mut prefixed = proof.to_vec();
    prefixed.insert(0, [0x5a; 32]);
    out.push(("prefixed by a node".into(), prefixed));
    if !proof.is_empty() {
        out.push(("emptied".into(), Vec::new()));
    }
    out
}

fn inclusion_probe(
    name: &str,
    (index, size): (u64, u64),
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Value {
    let Err(e) = verify_inclusion(index, size, leaf, proof, root) else {
        panic!("inclusion probe accepted: {name}");
    };
    json!({
        "name": name, "index": u64_text(index), "size": u64_text(size), "leaf_hash": hex(leaf),
        "proof": hashes(proof), "root": hex(root), "reason": e.reason(),
    })
}

fn inclusion_probes(leaves: &[Vec<u8>]) -> Vec<Value> {
    let mut probes = Vec::new();
    for (i, n) in [(0, 1), (2, 3), (5, 8), (6, 13), (31, 33), (32, 33)] {
        let d = &leaves[..n];
        let (leaf, root, good) = (leaf_hash(&d[i]), mth(d), path(i, d));
        let at = (i as u64, n as u64);
        let mut probe = |what: &str, at: (u64, u64), leaf: &Hash, proof: &[Hash], root: &Hash| {
            probes.push(inclusion_probe(
                &format!("leaf {i} of {n}: {what}"),
                at,
                leaf,
                proof,
                root,
            ));
        };
        for (what, damaged) in mutations(&good) {
            probe(&what, at, &leaf, &damaged, &root);
        }
        if i > 0 {
            probe("index - 1", (at.0 - 1, at.1), &leaf, &good, &root);
        }
        probe("index + 1", (at.0 + 1, at.1), &leaf, &good, &root);
        // A size comes with its root (both are certified): a wrong size, with that size's root.
        if i + 1 < n {
            probe(
                "size - 1",
                (at.0, at.1 - 1),
                &leaf,
                &good,
                &mth(&d[..n - 1]),
            );
        }
        if n < leaves.len() {
            probe(
                "size + 1",
                (at.0, at.1 + 1),
                &leaf,
                &good,
                &mth(&leaves[..n + 1]),
            );
        }
        if n > 1 {
            probe(
                "another leaf",
                at,
                &leaf_hash(&d[(i + 1) % n]),
                &good,
                &root,
            );
        }
        let mut tampered = d[i].clone();
        tampered.push(0);
        probe("a tampered leaf", at, &leaf_hash(&tampered), &good, &root);
        probe("the leaf data unhashed", at, &sha256(&d[i]), &good, &root);
        let mut other_root = root;
        other_root[31] ^= 1;
        probe("another root", at, &leaf, &good, &other_root);
    }
    let (leaf, root) = (leaf_hash(&leaves[0]), mth(&leaves[..3]));
    probes.push(inclusion_probe("index = size", (3, 3), &leaf, &[], &root));
    probes.push(inclusion_probe(
        "the empty tree",
        (0, 0),
        &leaf,
        &[],
        &EMPTY_ROOT,
    ));
    probes.push(inclusion_probe(
        "66 nodes, refused before hashing",
        (0, 3),
        &leaf,
        &[[0; 32]; 66],
        &root,
    ));
    probes
}

fn sha256(data: &[u8]) -> Hash {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn consistency_probe(
    name: &str,
    (m, n): (u64, u64),
    old: &Hash,
    new: &Hash,
    proof: &[Hash],
) -> Value {
    let Err(e) = verify_consistency(m, n, old, new, proof) else {
        panic!("consistency probe accepted: {name}");
    };
    json!({
        "name": name, "from_size": u64_text(m), "to_size": u64_text(n), "from_root": hex(old),
        "to_root": hex(new), "proof": hashes(proof), "reason": e.reason(),
    })
}

fn consistency_probes(leaves: &[Vec<u8>]) -> Vec<Value> {
    let root = |n: usize| mth(&leaves[..n]);
    let mut probes = Vec::new();
    for (m, n) in [(1, 2), (3, 7), (4, 8), (5, 13), (6, 6), (7, 33), (16, 32)] {
        let good = proof(m, &leaves[..n]);
        let at = (m as u64, n as u64);
        let mut probe =
            |what: &str, (m, n): (usize, usize), proof: &[Hash], old: &Hash, new: &Hash| {
                probes.push(consistency_probe(
                    &format!("{}: {what}", pair(at)),
                    (m as u64, n as u64),
                    old,
                    new,
                    proof,
                ));
            };
        for (what, damaged) in mutations(&good) {
            probe(&what, (m, n), &damaged, &root(m), &root(n));
        }
        if m > 1 {
            probe("from_size - 1", (m - 1, n), &good, &root(m - 1), &root(n));
        }
        if m < n {
            probe("from_size + 1", (m + 1, n), &good, &root(m + 1), &root(n));
            probe("to_size - 1", (m, n - 1), &good, &root(m), &root(n - 1));
            probe("sizes swapped", (n, m), &good, &root(n), &root(m));
        }
        if n < leaves.len() {
            probe("to_size + 1", (m, n + 1), &good, &root(m), &root(n + 1));
        }
        let mut old = root(m);
        old[0] ^= 0x80;
        probe("another old root", (m, n), &good, &old, &root(n));
        let mut new = root(n);
        new[5] ^= 0x01;
        probe("another new root", (m, n), &good, &root(m), &new);
    }
    let five = root(5);
    probes.push(consistency_probe(
        "0 -> 5: a node where the proof must be empty",
        (0, 5),
        &EMPTY_ROOT,
        &five,
        &[five],
    ));
    probes.push(consistency_probe(
        "0 -> 5: an old root other than the empty tree's",
        (0, 5),
        &five,
        &five,
        &[],
    ));
    probes.push(consistency_probe(
        "5 -> 5: a node where the proof must be empty",
        (5, 5),
        &five,
        &five,
        &[five],
    ));
    probes.push(consistency_probe(
        "5 -> 5: different roots",
        (5, 5),
        &five,
        &EMPTY_ROOT,
        &[],
    ));
    probes.push(consistency_probe(
        "6 -> 5: sizes out of order",
        (6, 5),
        &five,
        &five,
        &[],
    ));
    probes.push(consistency_probe(
        "3 -> 5: 66 nodes, refused before hashing",
        (3, 5),
        &root(3),
        &five,
        &[[0; 32]; 66],
    ));
    probes
}

fn pair((m, n): (u64, u64)) -> String {
    format!("{m} -> {n}")
}

/// The largest trees: leaf 2^64 - 2 of a tree of 2^64 - 1 leaves needs 63 nodes.
fn u64_scale() -> Value {
    let (index, size) = (u64::MAX - 1, u64::MAX);
    let root = root_from_inclusion_proof(index, size, &[0; 32], &[[0; 32]; 63]).unwrap();
    json!({
        "about": "leaf 2^64 - 2 of a tree of 2^64 - 1 leaves, leaf hash and every node zero: 63 nodes lead to root; 62 are too few, 64 too many",
        "index": u64_text(index),
        "size": u64_text(size),
        "root": hex(&root),
        "probes": ([62, 64]).iter().map(|&len| inclusion_probe(&format!("{len} nodes"), (index, size), &[0; 32], &vec![[0; 32]; len], &root)).collect::<Vec<_>>(),
    })
}
