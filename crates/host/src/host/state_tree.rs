//! The certified state tree this host publishes (layout in [`crate::certificate`]), the
//! certificates it signs with its root key, and the keys it derives from its seed.
//!
//! Reads canister state and the host's keys; changes nothing but the declared node keys.

use super::{Host, canister_id};
use crate::certificate::{LabeledTree, encode_certificate, leb128};
use candid::Principal;
use sha2::{Digest, Sha256};

impl Host {
    /// The certificate a query to `canister` would get now: a witness of
    /// `/canister/<canister>/certified_data` and `/time` in [`Self::state_tree`].
    pub fn data_certificate(&self, canister: Principal) -> Vec<u8> {
        let paths = [
            vec![
                b"canister".to_vec(),
                canister.as_slice().to_vec(),
                b"certified_data".to_vec(),
            ],
            vec![b"time".to_vec()],
        ];
        self.sign_tree(self.state_tree().witness(&paths))
    }

    /// The certified state tree now (layout in [`crate::certificate`]).
    pub fn state_tree(&self) -> LabeledTree {
        let mut tree = LabeledTree::default();
        for (id, c) in &self.canisters {
            let base: [&[u8]; 2] = [b"canister", id.as_slice()];
            let at = |name: &'static [u8]| [base[0], base[1], name];
            tree.insert(
                &at(b"certified_data"),
                LabeledTree::Leaf(c.state.certified_data.clone()),
            );
            if let Some(hash) = c.state.module_hash {
                tree.insert(&at(b"module_hash"), LabeledTree::Leaf(hash.to_vec()));
            }
            let controllers = ciborium::Value::Array(
                c.state
                    .controllers
                    .iter()
                    .map(|p| ciborium::Value::Bytes(p.as_slice().to_vec()))
                    .collect(),
            );
            tree.insert(
                &at(b"controllers"),
                LabeledTree::Leaf(self_describing_cbor(controllers)),
            );
            for (name, section) in self.canister_metadata(*id).iter() {
                tree.insert(
                    &[base[0], base[1], b"metadata", name.as_bytes()],
                    LabeledTree::Leaf(section.content.clone()),
                );
            }
        }
        let subnet: [&[u8]; 2] = [b"subnet", self.subnet_id.as_slice()];
        tree.insert(
            &[subnet[0], subnet[1], b"public_key"],
            LabeledTree::Leaf(self.root_key_der.as_ref().clone()),
        );
        let (first, last) = Self::canister_range();
        let ranges = ciborium::Value::Array(vec![ciborium::Value::Array(vec![
            ciborium::Value::Bytes(first.as_slice().to_vec()),
            ciborium::Value::Bytes(last.as_slice().to_vec()),
        ])]);
        let ranges = self_describing_cbor(ranges);
        tree.insert(
            &[b"canister_ranges", subnet[1], first.as_slice()],
            LabeledTree::Leaf(ranges.clone()),
        );
        tree.insert(
            &[subnet[0], subnet[1], b"canister_ranges"],
            LabeledTree::Leaf(ranges),
        );
        for (node, key) in &self.node_keys {
            tree.insert(
                &[
                    subnet[0],
                    subnet[1],
                    b"node",
                    node.as_slice(),
                    b"public_key",
                ],
                LabeledTree::Leaf(key.clone()),
            );
        }
        tree.insert(&[b"time"], LabeledTree::Leaf(leb128(self.time_ns)));
        tree
    }

    /// Signs a (witness) tree with the root key: a certificate, CBOR with tag 55799.
    pub fn sign_tree(&self, tree: ic_certification::HashTree) -> Vec<u8> {
        encode_certificate(tree, &self.root_key)
    }

    /// The first and last id of the canisters this host creates (its subnet's only range).
    pub fn canister_range() -> (Principal, Principal) {
        (canister_id(0), canister_id(u64::MAX))
    }

    /// Declares the subnet's nodes: (node id, DER public key) pairs published at
    /// `/subnet/<subnet id>/node/<node id>/public_key`, which agents use to check signed
    /// query responses.
    pub fn set_node_public_keys(&mut self, nodes: Vec<(Principal, Vec<u8>)>) {
        self.node_keys = nodes;
    }

    /// 32 bytes derived from the host's seed for `purpose` (e.g. a node's signing key), so
    /// keys stay the same across restarts of a host with the same seed.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"icinfer-host derived secret v1");
        h.update((purpose.len() as u64).to_be_bytes());
        h.update(purpose.as_bytes());
        h.update(&self.config.seed);
        h.finalize().into()
    }
}

fn self_describing_cbor(value: ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::Value::Tag(55799, Box::new(value)), &mut out)
        .expect("serialising into a Vec cannot fail");
    out
}
