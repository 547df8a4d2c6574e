//! Certificates signed by test BLS keys exactly as the IC signs them (the interface
//! specification's "Certification" and "Delegation"), for the verifier's corpus.

use candid::Principal;
use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use ic_certification::HashTree;
use ic_certification::hash_tree::{fork, label, leaf, pruned};
use ic_certification::{Certificate, Delegation};
use icinfer_verify::certificate::{BLS_KEY_DER_PREFIX, STATE_ROOT_DOMAIN};
use icinfer_verify::head::leb128;
use serde_bytes::ByteBuf;

pub struct Key {
    secret: Scalar,
}

impl Key {
    pub fn new(seed: u8) -> Key {
        Key {
            secret: Scalar::from_bytes_wide(&[seed; 64]),
        }
    }
    pub fn public(&self) -> [u8; 96] {
        G2Affine::from(G2Affine::generator() * self.secret).to_compressed()
    }
    pub fn der(&self) -> Vec<u8> {
        let mut der = BLS_KEY_DER_PREFIX.to_vec();
        der.extend_from_slice(&self.public());
        der
    }
    fn sign_tree(&self, tree: &HashTree) -> Vec<u8> {
        let mut message = STATE_ROOT_DOMAIN.to_vec();
        message.extend_from_slice(&tree.digest());
        let point = <G1Projective as HashToCurve<ExpandMsgXmd<sha2_10::Sha256>>>::hash_to_curve(
            &message,
            b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_",
        );
        G1Affine::from(point * self.secret).to_compressed().to_vec()
    }
}

/// CBOR with the self-describing tag 55799, as the IC writes it.
pub fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::tag::Required::<_, 55799>(value), &mut out).unwrap();
    out
}

/// The state tree of a data certificate: the canister's certified data and, if given, /time.
pub fn state_tree(canister: &Principal, certified_data: &[u8], time: Option<&[u8]>) -> HashTree {
    let data = label(
        "canister",
        label(
            canister.as_slice().to_vec(),
            label("certified_data", leaf(certified_data.to_vec())),
        ),
    );
    match time {
        Some(time) => fork(data, label("time", leaf(time.to_vec()))),
        None => data,
    }
}

/// The state tree of a `read_state` of a canister's code identity: `/canister/<id>/controllers`
/// (CBOR) and `/canister/<id>/module_hash`, each if given (labels in bytewise order), and /time.
pub fn code_state_tree(
    canister: &Principal,
    controllers: Option<&[u8]>,
    module_hash: Option<&[u8]>,
    time: &[u8],
) -> HashTree {
    let nodes: Vec<HashTree> = [("controllers", controllers), ("module_hash", module_hash)]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| label(name, leaf(v.to_vec()))))
        .collect();
    let contents = nodes
        .into_iter()
        .reduce(fork)
        .unwrap_or_else(|| pruned([0x24; 32]));
    let canister_node = label("canister", label(canister.as_slice().to_vec(), contents));
    fork(canister_node, label("time", leaf(time.to_vec())))
}

pub fn certificate(tree: HashTree, key: &Key, delegation: Option<Delegation>) -> Vec<u8> {
    let signature = key.sign_tree(&tree);
    cbor(&Certificate {
        tree,
        signature,
        delegation,
    })
}

pub type Range = (ByteBuf, ByteBuf);

pub fn range(from: &Principal, to: &Principal) -> Range {
    (ByteBuf::from(from.as_slice()), ByteBuf::from(to.as_slice()))
}

/// How the delegation's certificate assigns canisters to the subnet.
pub enum Ranges {
    /// `/subnet/<id>/canister_ranges`.
    Flat(Vec<Range>),
    /// `/canister_ranges/<id>/<first range start>`, beside a pruned shard.
    Sharded(Vec<Range>),
    None,
}

/// A delegation from `root` to `subnet_key` for `subnet`, its certificate made at `time_ns`;
/// without the subnet's public key if `with_key` is false.
pub fn delegation(
    root: &Key,
    subnet: &Principal,
    subnet_key: &Key,
    ranges: Ranges,
    with_key: bool,
    time_ns: u64,
) -> Delegation {
    let key_node = label("public_key", leaf(subnet_key.der()));
    let subnet_node = |ranges: Option<HashTree>| {
        let contents = match (ranges, with_key) {
            (Some(ranges), true) => fork(ranges, key_node.clone()),
            (Some(ranges), false) => ranges,
            (None, _) => key_node.clone(),
        };
        label("subnet", label(subnet.as_slice().to_vec(), contents))
    };
    let time = label("time", leaf(leb128(time_ns)));
    let tree = match ranges {
        Ranges::Flat(ranges) => fork(
            subnet_node(Some(label("canister_ranges", leaf(cbor(&ranges))))),
            time,
        ),
        Ranges::Sharded(ranges) => fork(
            fork(
                label(
                    "canister_ranges",
                    label(
                        subnet.as_slice().to_vec(),
                        fork(
                            pruned([0x42; 32]),
                            label(ranges[0].0.to_vec(), leaf(cbor(&ranges))),
                        ),
                    ),
                ),
                subnet_node(None),
            ),
            time,
        ),
        Ranges::None => fork(subnet_node(None), time),
    };
    Delegation {
        subnet_id: subnet.as_slice().to_vec(),
        certificate: certificate(tree, root, None),
    }
}
