//! RFC 9162 inclusion and consistency proof verification (crates/verify/src/merkle.rs)
//! against the recursive definitions (src/reference.rs). A fuzz input picks a tree, a claim
//! (index or sizes, leaf, roots: the true ones or altered) and a proof: the true proof of a
//! nearby claim, then edited (bits flipped, nodes dropped, inserted, repeated, swapped).
//! Property: the verifier accepts exactly the claims that are true with exactly the proof
//! the definition gives. Accepting any other proof for a true root would be a SHA-256
//! collision, so an acceptance the reference does not predict is a verifier bug (a node it
//! ignores, a level it skips).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use icinfer_fuzz::reference;
use icinfer_verify::merkle::{EMPTY_ROOT, Hash, leaf_hash, verify_consistency, verify_inclusion};
use libfuzzer_sys::fuzz_target;

const MAX_LEAVES: u8 = 80;

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip { at: u8, byte: u8, mask: u8 },
    Drop { at: u8 },
    Insert { at: u8, copy_of: u8 },
    InsertForeign { at: u8, data: [u8; 4] },
    Swap { a: u8, b: u8 },
    Truncate { len: u8 },
}

fn apply(proof: &mut Vec<Hash>, edit: &Edit) {
    let len = proof.len();
    match *edit {
        Edit::Flip { at, byte, mask } if len > 0 => {
            icinfer_fuzz::flip(&mut proof[at as usize % len], byte.into(), mask);
        }
        Edit::Drop { at } if len > 0 => {
            proof.remove(at as usize % len);
        }
        Edit::Insert { at, copy_of } if len > 0 => {
            let node = proof[copy_of as usize % len];
            proof.insert(at as usize % (len + 1), node);
        }
        Edit::InsertForeign { at, data } => proof.insert(at as usize % (len + 1), leaf_hash(&data)),
        Edit::Swap { a, b } if len > 0 => proof.swap(a as usize % len, b as usize % len),
        Edit::Truncate { len: keep } => proof.truncate(keep.into()),
        _ => {}
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    leaves: u8,
    seed: u8,
    /// The claim: index (inclusion) or old size (consistency), and the tree size.
    first: u8,
    size: u8,
    /// Where the proof came from, when not from the claim itself.
    proof_of: Option<(u8, u8)>,
    edits: Vec<Edit>,
    wrong_leaf: bool,
    wrong_root: Option<(u8, u8)>,
    consistency: bool,
}

fn wrong(hash: Hash, change: Option<(u8, u8)>) -> Hash {
    let mut hash = hash;
    if let Some((at, mask)) = change {
        icinfer_fuzz::flip(&mut hash, at.into(), mask);
    }
    hash
}

fn inclusion(input: &Input, leaves: &[Hash]) {
    let n = leaves.len();
    let size = 1 + input.size as usize % n;
    let index = input.first as usize % size;
    let (proof_index, proof_size) = match input.proof_of {
        Some((i, s)) => {
            let s = 1 + s as usize % n;
            (i as usize % s, s)
        }
        None => (index, size),
    };
    let mut proof = reference::inclusion(proof_index, &leaves[..proof_size]);
    input.edits.iter().for_each(|edit| apply(&mut proof, edit));
    let leaf = if input.wrong_leaf {
        leaf_hash(b"not a leaf")
    } else {
        leaves[index]
    };
    let root = wrong(reference::root(&leaves[..size]), input.wrong_root);

    let truth = leaf == leaves[index]
        && root == reference::root(&leaves[..size])
        && proof == reference::inclusion(index, &leaves[..size]);
    let verdict = verify_inclusion(index as u64, size as u64, &leaf, &proof, &root);
    assert_eq!(
        verdict.is_ok(),
        truth,
        "leaf {index} of {size}: {verdict:?} for {proof:?}"
    );
}

fn consistency(input: &Input, leaves: &[Hash]) {
    let n = leaves.len();
    let to = input.size as usize % (n + 1);
    let from = input.first as usize % (to + 1);
    let proof_of = |from: usize, to: usize| {
        if from == 0 || from == to {
            Vec::new()
        } else {
            reference::consistency(from, &leaves[..to])
        }
    };
    let mut proof = match input.proof_of {
        Some((f, t)) => {
            let t = t as usize % (n + 1);
            proof_of(f as usize % (t + 1), t)
        }
        None => proof_of(from, to),
    };
    input.edits.iter().for_each(|edit| apply(&mut proof, edit));
    let from_root = reference::root(&leaves[..from]);
    let to_root = reference::root(&leaves[..to]);
    // wrong_leaf alters the old root here, wrong_root the new one.
    let claimed_from = if input.wrong_leaf {
        leaf_hash(b"not a root")
    } else {
        from_root
    };
    let claimed_to = wrong(to_root, input.wrong_root);

    let truth = if from == 0 {
        proof.is_empty() && claimed_from == EMPTY_ROOT
    } else if from == to {
        proof.is_empty() && claimed_from == claimed_to
    } else {
        claimed_from == from_root && claimed_to == to_root && proof == proof_of(from, to)
    };
    let verdict = verify_consistency(from as u64, to as u64, &claimed_from, &claimed_to, &proof);
    assert_eq!(
        verdict.is_ok(),
        truth,
        "{from} -> {to}: {verdict:?} for {proof:?}"
    );
}

fuzz_target!(|input: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(input)) else {
        return;
    };
    let leaves = reference::leaves(1 + (input.leaves % MAX_LEAVES) as usize, input.seed);
    if input.consistency {
        consistency(&input, &leaves);
    } else {
        inclusion(&input, &leaves);
    }
});
