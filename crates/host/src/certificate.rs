//! Certificates: the host's root key and the data certificates given to queries.
//!
//! A data certificate is CBOR (with the self-describing tag 55799) of
//! `{ tree: HashTree, signature: blob }`, exactly the IC's `Certificate` without delegation:
//!
//! ```text
//! root = fork( labeled "canister" ( ... labeled <canister id> ( labeled "certified_data" (leaf data) ) ... ),
//!              labeled "time" (leaf LEB128(ns)) )
//! ```
//!
//! All canisters of the host are in the state tree (sorted by id, as balanced forks); the
//! certificate given to one canister prunes the others, so every canister's certificate at one
//! moment has the same root hash. The signature is BLS12-381 min-sig (signature in G1, 48 bytes;
//! public key in G2, 96 bytes) over `"\x0Dic-state-root" || root_hash`, with the hash-to-curve
//! domain separator `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`, as the IC interface
//! specification defines. The secret key is derived from the host's seed, so the root key is
//! stable across restarts.

use candid::Principal;
use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use ic_certification::HashTree;
use ic_certification::hash_tree::{fork, label, leaf, pruned};
use sha2::{Digest, Sha256, Sha512};

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

fn canister_node(id: &Principal, data: &[u8]) -> HashTree {
    label(id.as_slice(), label("certified_data", leaf(data.to_vec())))
}

/// Balanced forks over `canisters`; subtrees without `target` are pruned.
fn canister_forks(canisters: &[(Principal, Vec<u8>)], target: &Principal) -> HashTree {
    match canisters {
        [] => ic_certification::hash_tree::empty(),
        [(id, data)] => {
            let node = canister_node(id, data);
            if id == target {
                node
            } else {
                pruned(node.digest())
            }
        }
        _ => {
            if !canisters.iter().any(|(id, _)| id == target) {
                return pruned(full_forks(canisters).digest());
            }
            let mid = canisters.len() / 2;
            fork(
                canister_forks(&canisters[..mid], target),
                canister_forks(&canisters[mid..], target),
            )
        }
    }
}

fn full_forks(canisters: &[(Principal, Vec<u8>)]) -> HashTree {
    match canisters {
        [] => ic_certification::hash_tree::empty(),
        [(id, data)] => canister_node(id, data),
        _ => {
            let mid = canisters.len() / 2;
            fork(full_forks(&canisters[..mid]), full_forks(&canisters[mid..]))
        }
    }
}

/// Builds the witness tree for `target`: `canisters` must be sorted by id.
pub fn state_tree(
    canisters: &[(Principal, Vec<u8>)],
    target: &Principal,
    time_ns: u64,
) -> HashTree {
    fork(
        label("canister", canister_forks(canisters, target)),
        label("time", leaf(leb128(time_ns))),
    )
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

    #[test]
    fn witness_root_is_the_same_for_every_canister() {
        let ids: Vec<(Principal, Vec<u8>)> = (0u8..5)
            .map(|i| {
                (
                    Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, i, 1, 1]),
                    vec![i; 3],
                )
            })
            .collect();
        let roots: Vec<_> = ids
            .iter()
            .map(|(id, _)| state_tree(&ids, id, 42).digest())
            .collect();
        assert!(roots.windows(2).all(|w| w[0] == w[1]));
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
