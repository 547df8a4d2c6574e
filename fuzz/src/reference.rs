//! RFC 9162 2.1 as written: the tree hash, inclusion paths and consistency proofs by the
//! recursive definitions, independent of crates/verify's iterative verifiers and of
//! crates/core's stored tree. Quadratic, for the small trees a fuzz input describes.

use icinfer_verify::merkle::{EMPTY_ROOT, Hash, leaf_hash, node_hash};

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// `MTH(D[n])` over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// `PATH(m, D[n])`, leaf to root.
pub fn inclusion(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if m < k {
        (inclusion(m, &leaves[..k]), root(&leaves[k..]))
    } else {
        (inclusion(m - k, &leaves[k..]), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// `PROOF(m, D[n])` = `SUBPROOF(m, D[n], true)`, for 0 < m <= n.
pub fn consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete {
                Vec::new()
            } else {
                vec![root(leaves)]
            };
        }
        let k = split(n);
        let (mut proof, sibling) = if m <= k {
            (subproof(m, &leaves[..k], complete), root(&leaves[k..]))
        } else {
            (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
        };
        proof.push(sibling);
        proof
    }
    subproof(m, leaves, true)
}

/// Leaf hashes of `n` distinct leaves derived from `seed`.
pub fn leaves(n: usize, seed: u8) -> Vec<Hash> {
    (0..n as u32)
        .map(|i| {
            let mut data = i.to_le_bytes().to_vec();
            data.push(seed);
            leaf_hash(&data)
        })
        .collect()
}
