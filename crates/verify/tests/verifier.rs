//! The verifier end to end on certificates made here, signed by test keys exactly as the IC
//! signs them: valid ones pass and report what they prove; every tampering is rejected.
//!
//! Setup: a root key pair, optionally a subnet key pair with a delegation from the root; a
//! three-entry log whose head is the canister's certified data.
//! Success criteria: each check below.

use candid::Principal;
use ic_bls12_381::hash_to_curve::{ExpandMsgXmd, HashToCurve};
use ic_bls12_381::{G1Affine, G1Projective, G2Affine, Scalar};
use ic_certification::HashTree;
use ic_certification::hash_tree::{fork, label, leaf, pruned};
use ic_certification::{Certificate, Delegation};
use icinfer_api::{LogConsistency, LogEntry, LogHead, LogProof, Tensor, TensorData};
use icinfer_verify::certificate::{BLS_KEY_DER_PREFIX, CertificateError, verify_certificate};
use icinfer_verify::entry::{DecodeError, encode_entry};
use icinfer_verify::head::{encode_head_witness, head_commitment, leb128};
use icinfer_verify::merkle::{Hash, ProofError, leaf_hash, node_hash};
use icinfer_verify::tensor::{input_hash, output_hash};
use icinfer_verify::{
    Opening, Trust, VerifyError, verify_head, verify_log_consistency, verify_log_proof,
};
use serde_bytes::ByteBuf;

const NOW: u64 = 1_750_000_000_000_000_000;
const MINUTE: u64 = 60_000_000_000;

struct Key {
    secret: Scalar,
}

impl Key {
    fn new(seed: u8) -> Key {
        Key {
            secret: Scalar::from_bytes_wide(&[seed; 64]),
        }
    }
    fn public(&self) -> [u8; 96] {
        G2Affine::from(G2Affine::generator() * self.secret).to_compressed()
    }
    fn der(&self) -> Vec<u8> {
        let mut der = BLS_KEY_DER_PREFIX.to_vec();
        der.extend_from_slice(&self.public());
        der
    }
    fn sign_tree(&self, tree: &HashTree) -> Vec<u8> {
        let mut message = b"\x0Dic-state-root".to_vec();
        message.extend_from_slice(&tree.digest());
        let point = <G1Projective as HashToCurve<ExpandMsgXmd<sha2_10::Sha256>>>::hash_to_curve(
            &message,
            b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_",
        );
        G1Affine::from(point * self.secret).to_compressed().to_vec()
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&ciborium::tag::Required::<_, 55799>(value), &mut out).unwrap();
    out
}

fn canister() -> Principal {
    Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, 0x07, 1, 1])
}

fn subnet() -> Principal {
    Principal::from_slice(&[0x5b; 29])
}

fn state_tree(canister: &Principal, certified_data: &[u8], time: u64) -> HashTree {
    fork(
        label(
            "canister",
            label(
                canister.as_slice().to_vec(),
                label("certified_data", leaf(certified_data.to_vec())),
            ),
        ),
        label("time", leaf(leb128(time))),
    )
}

fn certificate(tree: HashTree, key: &Key, delegation: Option<Delegation>) -> Vec<u8> {
    let signature = key.sign_tree(&tree);
    cbor(&Certificate {
        tree,
        signature,
        delegation,
    })
}

type Range = (ByteBuf, ByteBuf);

fn range(from: &Principal, to: &Principal) -> Range {
    (ByteBuf::from(from.as_slice()), ByteBuf::from(to.as_slice()))
}

fn canister_with_low_byte(byte: u8) -> Principal {
    let mut id = canister().as_slice().to_vec();
    id[7] = byte;
    Principal::from_slice(&id)
}

enum RangeFormat {
    Flat(Vec<Range>),
    Sharded(Vec<Range>),
    None,
}

fn delegation(root: &Key, subnet_key: &Key, ranges: RangeFormat) -> Delegation {
    let key_node = label("public_key", leaf(subnet_key.der()));
    let subnet_node = |extra: Option<HashTree>| {
        label(
            "subnet",
            label(
                subnet().as_slice().to_vec(),
                match extra {
                    Some(ranges) => fork(ranges, key_node.clone()),
                    None => key_node.clone(),
                },
            ),
        )
    };
    let time = label("time", leaf(leb128(NOW - 10 * MINUTE)));
    let tree = match ranges {
        RangeFormat::Flat(ranges) => fork(
            subnet_node(Some(label("canister_ranges", leaf(cbor(&ranges))))),
            time,
        ),
        RangeFormat::Sharded(ranges) => fork(
            fork(
                label(
                    "canister_ranges",
                    label(
                        subnet().as_slice().to_vec(),
                        fork(
                            // Another shard, pruned as a real witness would show it.
                            pruned([0x42; 32]),
                            label(ranges[0].0.to_vec(), leaf(cbor(&ranges))),
                        ),
                    ),
                ),
                subnet_node(None),
            ),
            time,
        ),
        RangeFormat::None => fork(subnet_node(None), time),
    };
    Delegation {
        subnet_id: subnet().as_slice().to_vec(),
        certificate: certificate(tree, root, None),
    }
}

fn in_range() -> Vec<Range> {
    vec![
        range(&canister_with_low_byte(0x00), &canister_with_low_byte(0x01)),
        range(&canister_with_low_byte(0x05), &canister_with_low_byte(0x0f)),
    ]
}

// --- a three-entry log -------------------------------------------------------------------------

fn inputs() -> Vec<Tensor> {
    vec![Tensor {
        name: "x".into(),
        shape: vec![1, 3],
        data: TensorData::F32(vec![1.0, 2.0, 3.0]),
    }]
}

fn outputs() -> Vec<Tensor> {
    vec![Tensor {
        name: "y".into(),
        shape: vec![1, 3],
        data: TensorData::F32(vec![4.0, 6.0, 8.0]),
    }]
}

const NONCE: [u8; 16] = [7; 16];

fn entry(seq: u64) -> LogEntry {
    LogEntry {
        seq,
        timestamp_ns: NOW - MINUTE + seq,
        caller: Principal::from_slice(&[0xa1; 29]),
        model_id: "affine".into(),
        model_sha256: ByteBuf::from(vec![0x11; 32]),
        input_hash: ByteBuf::from(input_hash(&inputs(), Some(&NONCE)).unwrap().to_vec()),
        output_hash: ByteBuf::from(output_hash(&outputs()).to_vec()),
        input_salted: true,
        instructions: 100_000 + seq,
        // Entries of both encoding versions in one log.
        messages: (seq % 2 == 1).then_some(seq),
    }
}

struct Log {
    bytes: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
}

impl Log {
    fn new() -> Log {
        let bytes: Vec<Vec<u8>> = (0..3).map(|i| encode_entry(&entry(i)).unwrap()).collect();
        let leaves = bytes.iter().map(|b| leaf_hash(b)).collect();
        Log { bytes, leaves }
    }
    fn root(&self, size: usize) -> Hash {
        let l = &self.leaves;
        match size {
            1 => l[0],
            2 => node_hash(&l[0], &l[1]),
            3 => node_hash(&node_hash(&l[0], &l[1]), &l[2]),
            _ => unreachable!(),
        }
    }
}

fn digest(hash: Hash) -> ByteBuf {
    ByteBuf::from(hash.to_vec())
}

struct Setup {
    root_key: Key,
    log: Log,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            root_key: Key::new(1),
            log: Log::new(),
        }
    }

    fn trust(&self) -> Trust {
        Trust {
            root_key: self.root_key.der(),
            canister_id: canister(),
            now_ns: NOW,
            max_age_ns: 5 * MINUTE,
        }
    }

    fn head_with(&self, size: u64, certificate: Vec<u8>) -> LogHead {
        let root = self.log.root(size as usize);
        LogHead {
            tree_size: size,
            root_hash: digest(root),
            certificate: Some(ByteBuf::from(certificate)),
            witness: ByteBuf::from(encode_head_witness(size, &root)),
        }
    }

    fn head(&self) -> LogHead {
        let root = self.log.root(3);
        let tree = state_tree(&canister(), &head_commitment(3, &root), NOW - MINUTE);
        self.head_with(3, certificate(tree, &self.root_key, None))
    }

    /// Entry 1 proven in the tree of 2 entries, linked to the head of 3.
    fn proof(&self) -> LogProof {
        let l = &self.log.leaves;
        LogProof {
            entry: entry(1),
            entry_bytes: ByteBuf::from(self.log.bytes[1].clone()),
            tree_size: 2,
            tree_root: digest(self.log.root(2)),
            inclusion_proof: vec![digest(l[0])],
            consistency_proof: vec![digest(l[2])],
            head: self.head(),
        }
    }
}

fn opening<'a>(
    inputs: &'a [Tensor],
    outputs: &'a [Tensor],
    nonce: Option<&'a [u8]>,
) -> Opening<'a> {
    Opening {
        inputs,
        nonce,
        outputs,
    }
}

// --- what passes -------------------------------------------------------------------------------

#[test]
fn a_valid_proof_verifies_and_says_what_it_proves() {
    let setup = Setup::new();
    let (i, o) = (inputs(), outputs());
    let proven = verify_log_proof(
        &setup.proof(),
        &setup.trust(),
        Some(&opening(&i, &o, Some(&NONCE))),
    )
    .unwrap();
    assert_eq!(proven.entry, entry(1));
    assert_eq!(proven.head.tree_size, 3);
    assert_eq!(proven.head.root, setup.log.root(3));
    assert_eq!(proven.head.certified_at_ns, NOW - MINUTE);
    assert_eq!(proven.head.subnet, None);
    assert!(proven.tensors_checked);
    let report = proven.to_string();
    assert!(report.contains("Entry #1 is in that log"), "{report}");
    assert!(report.contains(&canister().to_text()), "{report}");
    assert!(
        report.contains("inputs and nonce and outputs given hash"),
        "{report}"
    );

    let unopened = verify_log_proof(&setup.proof(), &setup.trust(), None).unwrap();
    assert!(!unopened.tensors_checked);
    assert!(unopened.to_string().contains("were not checked"));
}

#[test]
fn the_witness_is_the_ic_hash_tree_of_the_head() {
    let root = [0x3c; 32];
    for size in [0, 1, 127, 128, 1 << 40] {
        let tree: HashTree = ciborium::from_reader(&encode_head_witness(size, &root)[..]).unwrap();
        assert_eq!(tree.digest(), head_commitment(size, &root));
        let expected = fork(
            label("log_root", leaf(root.to_vec())),
            label("log_size", leaf(leb128(size))),
        );
        assert_eq!(tree, expected);
    }
}

#[test]
fn delegated_certificates_verify_when_the_canister_is_in_the_subnets_ranges() {
    let setup = Setup::new();
    let subnet_key = Key::new(2);
    let root = setup.log.root(3);
    let tree = state_tree(&canister(), &head_commitment(3, &root), NOW - MINUTE);
    for ranges in [
        RangeFormat::Flat(in_range()),
        RangeFormat::Sharded(in_range()),
    ] {
        let delegation = delegation(&setup.root_key, &subnet_key, ranges);
        let head = setup.head_with(3, certificate(tree.clone(), &subnet_key, Some(delegation)));
        let proven = verify_head(&head, &setup.trust()).unwrap();
        assert_eq!(proven.subnet, Some(subnet()));
        assert!(proven.to_string().contains("delegating to subnet"));
    }
    // Range bounds are inclusive.
    let exact = vec![range(&canister(), &canister())];
    let delegation = delegation(&setup.root_key, &subnet_key, RangeFormat::Flat(exact));
    let head = setup.head_with(3, certificate(tree, &subnet_key, Some(delegation)));
    assert!(verify_head(&head, &setup.trust()).is_ok());
}

#[test]
fn consistency_with_an_earlier_head_verifies() {
    let setup = Setup::new();
    let l = &setup.log.leaves;
    let response = LogConsistency {
        from_size: 2,
        from_root: digest(setup.log.root(2)),
        to_size: 3,
        to_root: digest(setup.log.root(3)),
        proof: vec![digest(l[2])],
        head: setup.head(),
    };
    let seen = setup.log.root(2);
    let proven = verify_log_consistency(&response, &setup.trust(), Some((2, &seen))).unwrap();
    assert_eq!((proven.from_size, proven.head.tree_size), (2, 3));
    assert!(proven.to_string().contains("only grew"));

    let other = setup.log.root(1);
    assert_eq!(
        verify_log_consistency(&response, &setup.trust(), Some((1, &other))),
        Err(VerifyError::NotFromTheExpectedHead)
    );
    let mut bad = response.clone();
    bad.proof[0][0] ^= 1;
    assert!(matches!(
        verify_log_consistency(&bad, &setup.trust(), None),
        Err(VerifyError::Proof(_))
    ));
    let mut short = response.clone();
    short.to_size = 2;
    assert!(matches!(
        verify_log_consistency(&short, &setup.trust(), None),
        Err(VerifyError::NotTheCertifiedHead { .. })
    ));
}

// --- what fails --------------------------------------------------------------------------------

#[test]
fn tampered_certificates_are_rejected() {
    let setup = Setup::new();
    let proof = setup.proof();
    let trust = setup.trust();
    let certificate = proof.head.certificate.clone().unwrap();
    // Every single-byte change to the certificate is rejected (as CBOR, signature, tree).
    for at in 0..certificate.len() {
        let mut tampered = proof.clone();
        tampered.head.certificate.as_mut().unwrap()[at] ^= 0x01;
        assert!(
            verify_log_proof(&tampered, &trust, None).is_err(),
            "certificate byte {at} changed and still accepted"
        );
    }
    let mut missing = proof.clone();
    missing.head.certificate = None;
    assert_eq!(
        verify_log_proof(&missing, &trust, None),
        Err(VerifyError::NoCertificate)
    );
    let mut truncated = proof.clone();
    truncated.head.certificate.as_mut().unwrap().truncate(50);
    assert!(matches!(
        verify_log_proof(&truncated, &trust, None),
        Err(VerifyError::Certificate(CertificateError::Malformed { .. }))
    ));
}

#[test]
fn the_wrong_root_key_canister_or_time_is_rejected() {
    let setup = Setup::new();
    let proof = setup.proof();
    let check = |trust: Trust| verify_log_proof(&proof, &trust, None);
    assert!(check(setup.trust()).is_ok());

    let other_key = Trust {
        root_key: Key::new(9).der(),
        ..setup.trust()
    };
    assert_eq!(
        check(other_key),
        Err(VerifyError::Certificate(
            CertificateError::InvalidSignature {
                which: "certificate"
            }
        ))
    );
    let raw_key = Trust {
        root_key: setup.root_key.public().to_vec(),
        ..setup.trust()
    };
    assert!(
        check(raw_key).is_ok(),
        "a raw 96-byte key works as well as DER"
    );
    let garbage_key = Trust {
        root_key: vec![1; 50],
        ..setup.trust()
    };
    assert_eq!(
        check(garbage_key),
        Err(VerifyError::Certificate(CertificateError::MalformedRootKey))
    );
    let other_canister = Trust {
        canister_id: canister_with_low_byte(0x08),
        ..setup.trust()
    };
    assert!(matches!(
        check(other_canister),
        Err(VerifyError::Certificate(
            CertificateError::MissingCertifiedData { .. }
        ))
    ));
    let stale = Trust {
        now_ns: NOW + 10 * MINUTE,
        ..setup.trust()
    };
    assert!(matches!(check(stale), Err(VerifyError::NotFresh { .. })));
    let from_the_future = Trust {
        now_ns: NOW - 10 * MINUTE,
        ..setup.trust()
    };
    assert!(matches!(
        check(from_the_future),
        Err(VerifyError::NotFresh { .. })
    ));
}

#[test]
fn bad_delegations_are_rejected() {
    let setup = Setup::new();
    let subnet_key = Key::new(2);
    let root = setup.log.root(3);
    let tree = state_tree(&canister(), &head_commitment(3, &root), NOW - MINUTE);
    let check = |delegation: Delegation, signer: &Key| {
        let head = setup.head_with(3, certificate(tree.clone(), signer, Some(delegation)));
        verify_head(&head, &setup.trust())
    };
    let elsewhere = vec![range(
        &canister_with_low_byte(0x10),
        &canister_with_low_byte(0x20),
    )];
    for ranges in [
        RangeFormat::Flat(elsewhere.clone()),
        RangeFormat::Sharded(elsewhere),
    ] {
        assert!(matches!(
            check(
                delegation(&setup.root_key, &subnet_key, ranges),
                &subnet_key
            ),
            Err(VerifyError::Certificate(
                CertificateError::CanisterOutOfRange { .. }
            ))
        ));
    }
    assert!(matches!(
        check(
            delegation(&setup.root_key, &subnet_key, RangeFormat::None),
            &subnet_key
        ),
        Err(VerifyError::Certificate(
            CertificateError::MissingCanisterRanges { .. }
        ))
    ));
    // Delegation signed by someone other than the root.
    assert_eq!(
        check(
            delegation(&Key::new(3), &subnet_key, RangeFormat::Flat(in_range())),
            &subnet_key
        ),
        Err(VerifyError::Certificate(
            CertificateError::InvalidSignature {
                which: "delegation"
            }
        ))
    );
    // Certificate signed by the root key while the delegation names the subnet's key.
    assert_eq!(
        check(
            delegation(&setup.root_key, &subnet_key, RangeFormat::Flat(in_range())),
            &setup.root_key
        ),
        Err(VerifyError::Certificate(
            CertificateError::InvalidSignature {
                which: "certificate"
            }
        ))
    );
    // A delegation for another subnet id than its certificate describes.
    let mut renamed = delegation(&setup.root_key, &subnet_key, RangeFormat::Flat(in_range()));
    renamed.subnet_id = vec![0x5c; 29];
    assert!(matches!(
        check(renamed, &subnet_key),
        Err(VerifyError::Certificate(
            CertificateError::MissingSubnetKey { .. }
        ))
    ));
    // Nested delegations do not exist on the IC.
    let inner = delegation(&setup.root_key, &subnet_key, RangeFormat::Flat(in_range()));
    let mut nested = delegation(&setup.root_key, &subnet_key, RangeFormat::Flat(in_range()));
    let mut outer: Certificate = ciborium::from_reader(&nested.certificate[..]).unwrap();
    outer.delegation = Some(inner);
    nested.certificate = cbor(&outer);
    assert_eq!(
        check(nested, &subnet_key),
        Err(VerifyError::Certificate(CertificateError::NestedDelegation))
    );
}

#[test]
fn a_witness_or_head_that_is_not_the_certified_one_is_rejected() {
    let setup = Setup::new();
    let trust = setup.trust();
    let proof = setup.proof();

    let mut other_size = proof.clone();
    other_size.head.witness = ByteBuf::from(encode_head_witness(4, &setup.log.root(3)));
    assert_eq!(
        verify_log_proof(&other_size, &trust, None),
        Err(VerifyError::WitnessNotCertified)
    );
    let mut claims_other_size = proof.clone();
    claims_other_size.head.tree_size = 2;
    assert_eq!(
        verify_log_proof(&claims_other_size, &trust, None),
        Err(VerifyError::HeadMismatch)
    );
    let mut claims_other_root = proof.clone();
    claims_other_root.head.root_hash = digest(setup.log.root(2));
    assert_eq!(
        verify_log_proof(&claims_other_root, &trust, None),
        Err(VerifyError::HeadMismatch)
    );
    let mut garbage = proof.clone();
    garbage.head.witness = ByteBuf::from(vec![0xff; 10]);
    assert!(matches!(
        verify_log_proof(&garbage, &trust, None),
        Err(VerifyError::MalformedWitness { .. })
    ));
    // A witness with the same root hash but another shape (the head pruned) is refused too.
    let root = setup.log.root(3);
    let pruned_witness = cbor(&pruned::<Vec<u8>, _>(head_commitment(3, &root)));
    let mut pruned_head = proof.clone();
    pruned_head.head.witness = ByteBuf::from(pruned_witness);
    assert_eq!(
        verify_log_proof(&pruned_head, &trust, None),
        Err(VerifyError::HeadMismatch)
    );
}

#[test]
fn tampered_entries_and_proofs_are_rejected() {
    let setup = Setup::new();
    let trust = setup.trust();
    let proof = setup.proof();
    let reject = |what: &str, damaged: &LogProof| {
        assert!(
            verify_log_proof(damaged, &trust, None).is_err(),
            "accepted with {what}"
        );
    };
    for at in 0..proof.entry_bytes.len() {
        let mut damaged = proof.clone();
        damaged.entry_bytes[at] ^= 0x04;
        reject(&format!("entry byte {at} changed"), &damaged);
    }
    let mut other_entry = proof.clone();
    other_entry.entry.instructions += 1;
    assert_eq!(
        verify_log_proof(&other_entry, &trust, None),
        Err(VerifyError::EntryMismatch)
    );
    // An entry of a version or kind a later release adds is refused by name.
    let mut future_version = proof.clone();
    future_version.entry_bytes[0] = 9;
    assert_eq!(
        verify_log_proof(&future_version, &trust, None),
        Err(VerifyError::UnsupportedEntry(DecodeError::UnknownVersion(
            9
        )))
    );
    assert_eq!(proof.entry_bytes[0], icinfer_verify::entry::ENTRY_VERSION);
    let mut future_kind = proof.clone();
    future_kind.entry_bytes[1] = 2;
    assert_eq!(
        verify_log_proof(&future_kind, &trust, None),
        Err(VerifyError::UnsupportedEntry(DecodeError::UnknownKind(2)))
    );
    let mut swapped_entry = proof.clone();
    swapped_entry.entry = entry(0);
    swapped_entry.entry_bytes = ByteBuf::from(setup.log.bytes[0].clone());
    reject("another entry under the same proof", &swapped_entry);
    fn inclusion(p: &mut LogProof) -> &mut Vec<ByteBuf> {
        &mut p.inclusion_proof
    }
    fn consistency(p: &mut LogProof) -> &mut Vec<ByteBuf> {
        &mut p.consistency_proof
    }
    type Field = fn(&mut LogProof) -> &mut Vec<ByteBuf>;
    for (name, field) in [
        ("inclusion", inclusion as Field),
        ("consistency", consistency),
    ] {
        let mut flipped = proof.clone();
        field(&mut flipped)[0][31] ^= 0x80;
        reject(&format!("{name} node flipped"), &flipped);
        let mut missing = proof.clone();
        field(&mut missing).clear();
        reject(&format!("{name} node missing"), &missing);
        let mut extra = proof.clone();
        field(&mut extra).push(ByteBuf::from(vec![0; 32]));
        reject(&format!("{name} node added"), &extra);
        let mut short_node = proof.clone();
        field(&mut short_node)[0].pop();
        assert!(matches!(
            verify_log_proof(&short_node, &trust, None),
            Err(VerifyError::Proof(ProofError::MalformedNode { .. }))
        ));
    }
    let mut other_size = proof.clone();
    other_size.tree_size = 3;
    reject("tree size 3 for a proof in 2", &other_size);
    let mut beyond = proof.clone();
    beyond.tree_size = 1;
    assert_eq!(
        verify_log_proof(&beyond, &trust, None),
        Err(VerifyError::WrongIndex {
            seq: 1,
            tree_size: 1
        })
    );
    let mut other_root = proof.clone();
    other_root.tree_root = digest(setup.log.root(3));
    assert_eq!(
        verify_log_proof(&other_root, &trust, None),
        Err(VerifyError::TreeRootMismatch)
    );
}

#[test]
fn tensors_that_are_not_the_ones_logged_are_rejected() {
    let setup = Setup::new();
    let trust = setup.trust();
    let proof = setup.proof();
    let (i, o) = (inputs(), outputs());
    let check = |opening: Opening| verify_log_proof(&proof, &trust, Some(&opening));
    assert!(check(opening(&i, &o, Some(&NONCE))).is_ok());
    let mut other_inputs = inputs();
    other_inputs[0].data = TensorData::F32(vec![1.0, 2.0, 3.5]);
    assert_eq!(
        check(opening(&other_inputs, &o, Some(&NONCE))),
        Err(VerifyError::InputHashMismatch)
    );
    assert_eq!(
        check(opening(&i, &o, Some(&[8; 16]))),
        Err(VerifyError::InputHashMismatch)
    );
    assert_eq!(
        check(opening(&i, &o, None)),
        Err(VerifyError::SaltMismatch { entry_salted: true })
    );
    let mut other_outputs = outputs();
    other_outputs[0].shape = vec![3, 1];
    assert_eq!(
        check(opening(&i, &other_outputs, Some(&NONCE))),
        Err(VerifyError::OutputHashMismatch)
    );
}

#[test]
fn oversized_certificates_are_refused_before_decoding() {
    let setup = Setup::new();
    let huge = vec![0u8; icinfer_verify::certificate::MAX_CERTIFICATE_BYTES + 1];
    assert!(matches!(
        verify_certificate(&huge, &setup.root_key.der(), &canister()),
        Err(CertificateError::TooLarge { .. })
    ));
}
