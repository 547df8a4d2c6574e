//! Certificates: the host's root key, the certified state tree and its witnesses.
//!
//! The host's state tree ([`crate::Host::state_tree`]) has the IC's layout:
//!
//! ```text
//! /canister/<canister id>/certified_data     the canister's certified data
//!                         /module_hash        SHA-256 of the installed module (if any)
//!                         /controllers        CBOR (tag 55799) array of principals
//! /subnet/<subnet id>/public_key              the root key, DER
//!                    /canister_ranges         CBOR array of [first, last] principal pairs
//!                    /node/<node id>/public_key   Ed25519 node keys (DER), if set
//! /canister_ranges/<subnet id>/<first id>     the same ranges, as one shard
//! /time                                       LEB128 of the host's time in ns
//! ```
//!
//! (the HTTP layer adds `/request_status`). A [`LabeledTree`] becomes a hash tree with
//! balanced forks over each node's sorted children; [`LabeledTree::witness`] prunes it to the
//! requested paths, with absence proofs (the neighbouring labels) for paths that do not exist,
//! so every witness of one tree has the same root hash. A certificate is CBOR (with the
//! self-describing tag 55799) of `{ tree: HashTree, signature: blob }`, the IC's `Certificate`
//! without delegation. The signature is BLS12-381 min-sig (signature in G1, 48 bytes; public
//! key in G2, 96 bytes) over `"\x0Dic-state-root" || root_hash`, with the hash-to-curve domain
//! separator `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`, as the IC interface specification
//! defines. The secret key is derived from the host's seed, so the root key is stable across
//! restarts.

use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use ic_certification::HashTree;
use ic_certification::hash_tree::{fork, label, leaf, pruned};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;

/// DER prefix of an IC BLS12-381 G2 public key (OIDs 1.3.6.1.4.1.44668.5.3.1.2.1 and
/// 1.3.6.1.4.1.44668.5.3.2.1), as agents expect the root key.
pub const IC_ROOT_KEY_DER_PREFIX: [u8; 37] = [
    0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05,
    0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05, 0x03,
    0x02, 0x01, 0x03, 0x61, 0x00,
];

/// Domain separator of state-root signatures (length-prefixed "ic-state-root").
pub const STATE_ROOT_DOMAIN_SEPARATOR: &[u8] = b"\x0Dic-state-root";

const BLS_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// The host's root key pair.
pub struct RootKey {
    secret: Scalar,
    public: [u8; 96],
}

impl RootKey {
    /// Derives the key pair from a seed (deterministic).
    pub fn from_seed(seed: &[u8]) -> Self {
        let mut h = Sha512::new();
        h.update(b"icinfer-host root key v1");
        h.update(seed);
        let wide: [u8; 64] = h.finalize().into();
        let secret = Scalar::from_bytes_wide(&wide);
        let public = G2Affine::from(G2Affine::generator() * secret).to_compressed();
        RootKey { secret, public }
    }

    /// The raw public key: a compressed G2 point (96 bytes).
    pub fn public_key(&self) -> [u8; 96] {
        self.public
    }

    /// The public key in the DER form agents and `ic0.root_key_copy` use (133 bytes).
    pub fn public_key_der(&self) -> Vec<u8> {
        let mut der = IC_ROOT_KEY_DER_PREFIX.to_vec();
        der.extend_from_slice(&self.public);
        der
    }

    /// Signs a message: a compressed G1 point (48 bytes).
    pub fn sign(&self, message: &[u8]) -> [u8; 48] {
        let h =
            <G1Projective as HashToCurve<ExpandMsgXmd<Sha256>>>::hash_to_curve(message, BLS_DST);
        G1Affine::from(h * self.secret).to_compressed()
    }
}

/// LEB128 encoding of an unsigned integer.
pub fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A node of the certified state tree before hashing: a leaf, or labelled children kept
/// sorted by label (the IC's `LabeledTree`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabeledTree {
    /// A value.
    Leaf(Vec<u8>),
    /// Children by label, sorted.
    SubTree(BTreeMap<Vec<u8>, LabeledTree>),
}

impl Default for LabeledTree {
    fn default() -> Self {
        LabeledTree::SubTree(BTreeMap::new())
    }
}

/// What a witness must reveal below a node.
#[derive(Debug)]
enum Request {
    /// Everything (a requested path ends here).
    All,
    /// Only these children.
    Children(BTreeMap<Vec<u8>, Request>),
}

impl Request {
    fn from_paths(paths: &[Vec<Vec<u8>>]) -> Request {
        let mut root = Request::Children(BTreeMap::new());
        for path in paths {
            let mut node = &mut root;
            for label in path {
                match node {
                    Request::All => break,
                    Request::Children(children) => {
                        node = children
                            .entry(label.clone())
                            .or_insert_with(|| Request::Children(BTreeMap::new()));
                    }
                }
            }
            *node = Request::All;
        }
        root
    }
}

impl LabeledTree {
    /// Inserts `value` at `path`, creating (or replacing leaves by) subtrees on the way.
    pub fn insert(&mut self, path: &[&[u8]], value: LabeledTree) {
        let Some((first, rest)) = path.split_first() else {
            *self = value;
            return;
        };
        if let LabeledTree::Leaf(_) = self {
            *self = LabeledTree::default();
        }
        let LabeledTree::SubTree(children) = self else {
            unreachable!("replaced by a subtree above")
        };
        children
            .entry(first.to_vec())
            .or_default()
            .insert(rest, value);
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &[&[u8]]) -> Option<&LabeledTree> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => match self {
                LabeledTree::SubTree(children) => children.get(*first)?.get(rest),
                LabeledTree::Leaf(_) => None,
            },
        }
    }

    /// The whole tree as a hash tree (nothing pruned).
    pub fn full(&self) -> HashTree {
        match self {
            LabeledTree::Leaf(v) => leaf(v.clone()),
            LabeledTree::SubTree(children) => {
                let entries: Vec<(&Vec<u8>, &LabeledTree)> = children.iter().collect();
                forks(&entries, &mut |(l, t)| label(l.clone(), t.full()))
            }
        }
    }

    /// The root hash.
    pub fn digest(&self) -> [u8; 32] {
        self.full().digest()
    }

    /// A witness revealing every value under each of `paths` and proving the absence of the
    /// paths that do not exist (by revealing the neighbouring labels); everything else is
    /// pruned. Its digest equals [`Self::digest`].
    pub fn witness(&self, paths: &[Vec<Vec<u8>>]) -> HashTree {
        self.witness_for(&Request::from_paths(paths))
    }

    fn witness_for(&self, request: &Request) -> HashTree {
        let (children, wanted) = match (self, request) {
            (_, Request::All) | (LabeledTree::Leaf(_), _) => return self.full(),
            (LabeledTree::SubTree(children), Request::Children(wanted)) => (children, wanted),
        };
        // Which children to reveal, and how: `Some(request)` to descend, `None` to show only
        // the label (a neighbour in an absence proof).
        let mut shown: BTreeMap<&Vec<u8>, Option<&Request>> = BTreeMap::new();
        for (l, sub) in wanted {
            if children.contains_key(l) {
                shown.insert(l, Some(sub));
                continue;
            }
            if let Some((before, _)) = children.range::<Vec<u8>, _>(..l.clone()).next_back() {
                shown.entry(before).or_insert(None);
            }
            if let Some((after, _)) = children.range::<Vec<u8>, _>(l.clone()..).next() {
                shown.entry(after).or_insert(None);
            }
        }
        let entries: Vec<(&Vec<u8>, &LabeledTree)> = children.iter().collect();
        witness_forks(&entries, &shown)
    }
}

/// Balanced forks over sorted entries (the shape both [`LabeledTree::full`] and witnesses use).
fn forks<'a>(
    entries: &[(&'a Vec<u8>, &'a LabeledTree)],
    node: &mut dyn FnMut((&'a Vec<u8>, &'a LabeledTree)) -> HashTree,
) -> HashTree {
    match entries {
        [] => ic_certification::hash_tree::empty(),
        [one] => node(*one),
        _ => {
            let mid = entries.len() / 2;
            let left = forks(&entries[..mid], node);
            fork(left, forks(&entries[mid..], node))
        }
    }
}

fn witness_forks(
    entries: &[(&Vec<u8>, &LabeledTree)],
    shown: &BTreeMap<&Vec<u8>, Option<&Request>>,
) -> HashTree {
    if !entries.iter().any(|(l, _)| shown.contains_key(l)) {
        return pruned(forks(entries, &mut |(l, t)| label(l.clone(), t.full())).digest());
    }
    match entries {
        [(l, t)] => match shown[l] {
            Some(request) => label((*l).clone(), t.witness_for(request)),
            None => label((*l).clone(), pruned(t.digest())),
        },
        _ => {
            let mid = entries.len() / 2;
            fork(
                witness_forks(&entries[..mid], shown),
                witness_forks(&entries[mid..], shown),
            )
        }
    }
}

/// Signs the tree and encodes the certificate as CBOR with the self-describing tag.
pub fn encode_certificate(tree: HashTree, key: &RootKey) -> Vec<u8> {
    let mut msg = STATE_ROOT_DOMAIN_SEPARATOR.to_vec();
    msg.extend_from_slice(&tree.digest());
    let signature = key.sign(&msg).to_vec();
    let cert = ic_certification::Certificate {
        tree,
        signature,
        delegation: None,
    };
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::tag::Required::<_, 55799>(cert), &mut out)
        .expect("serialising a certificate into a Vec cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_known_answers() {
        assert_eq!(leb128(0), [0]);
        assert_eq!(leb128(127), [127]);
        assert_eq!(leb128(128), [0x80, 0x01]);
        assert_eq!(leb128(624_485), [0xe5, 0x8e, 0x26]);
    }

    fn sample() -> LabeledTree {
        let mut t = LabeledTree::default();
        for i in [1u8, 3, 5, 7, 9] {
            t.insert(
                &[b"canister", &[i], b"certified_data"],
                LabeledTree::Leaf(vec![i; 3]),
            );
            t.insert(
                &[b"canister", &[i], b"module_hash"],
                LabeledTree::Leaf(vec![i; 32]),
            );
        }
        t.insert(&[b"time"], LabeledTree::Leaf(leb128(42)));
        t
    }

    fn path(labels: &[&[u8]]) -> Vec<Vec<u8>> {
        labels.iter().map(|l| l.to_vec()).collect()
    }

    #[test]
    fn every_witness_has_the_root_hash_of_the_tree() {
        let t = sample();
        let root = t.digest();
        let requests: Vec<Vec<Vec<Vec<u8>>>> = vec![
            vec![],
            vec![path(&[b"time"])],
            vec![
                path(&[b"canister", &[5], b"certified_data"]),
                path(&[b"time"]),
            ],
            vec![path(&[b"canister", &[4]])],
            vec![path(&[b"canister", &[0], b"x"]), path(&[b"nothing"])],
            vec![path(&[b"canister"])],
            vec![path(&[b"time", b"deeper"])],
        ];
        for paths in requests {
            assert_eq!(t.witness(&paths).digest(), root, "{paths:?}");
        }
    }

    #[test]
    fn witnesses_reveal_requested_values_and_prove_absence() {
        use ic_certification::hash_tree::LookupResult;
        let t = sample();
        let w = t.witness(&[path(&[b"canister", &[5], b"certified_data"])]);
        assert_eq!(
            w.lookup_path([&b"canister"[..], &[5], b"certified_data"]),
            LookupResult::Found(&[5u8, 5, 5][..])
        );
        // Not requested: pruned (unknown), not absent.
        assert_eq!(
            w.lookup_path([&b"canister"[..], &[5], b"module_hash"]),
            LookupResult::Unknown
        );
        assert_eq!(
            w.lookup_path([&b"canister"[..], &[3], b"certified_data"]),
            LookupResult::Unknown
        );
        // Missing labels, below, between and above the existing ones: proven absent.
        for missing in [0u8, 4, 8, 10] {
            let w = t.witness(&[path(&[b"canister", &[missing], b"certified_data"])]);
            assert_eq!(
                w.lookup_path([&b"canister"[..], &[missing], b"certified_data"]),
                LookupResult::Absent,
                "canister {missing}"
            );
        }
        let w = t.witness(&[path(&[b"request_status", &[1; 32], b"status"])]);
        assert_eq!(
            w.lookup_path([&b"request_status"[..], &[1; 32], b"status"]),
            LookupResult::Absent
        );
    }

    #[test]
    fn root_key_is_deterministic_and_der_has_prefix() {
        let a = RootKey::from_seed(b"seed");
        let b = RootKey::from_seed(b"seed");
        assert_eq!(a.public_key(), b.public_key());
        assert_ne!(a.public_key(), RootKey::from_seed(b"other").public_key());
        let der = a.public_key_der();
        assert_eq!(der.len(), 133);
        assert_eq!(&der[..37], &IC_ROOT_KEY_DER_PREFIX);
    }
}
