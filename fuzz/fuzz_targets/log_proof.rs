//! End-to-end verification of a `log_proof` response (crates/verify/src/verifier.rs):
//! certificate, freshness, witness, entry, inclusion, consistency, tensors, receipt, model,
//! code identity. A fuzz input picks a valid case of testdata/verifier.json and edits it:
//! bytes of the entry, the certificates, the witness, roots and proof nodes flipped, nodes
//! dropped, repeated or swapped, sizes and indices shifted, fields of the entry, the
//! receipt, the tensors and the nonce changed. Property: a report that still proves
//! something proves exactly what the untouched case proves (the same entry, head, tensors
//! and code); an edit that changes a claim must make a check fail. And nothing panics.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use icinfer_api::{LogProof, TensorData};
use icinfer_fuzz::corpus::{Case, valid_cases};
use icinfer_fuzz::flip;
use icinfer_fuzz::json::Holding;
use icinfer_verify::{ProvenEntry, report_log_proof};
use libfuzzer_sys::fuzz_target;
use serde_bytes::ByteBuf;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Bytes {
    Entry,
    Certificate,
    Witness,
    HeadRoot,
    TreeRoot,
    Inclusion(u8),
    Consistency(u8),
    CodeCertificate,
    Nonce,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip { field: Bytes, at: u16, mask: u8 },
    Truncate { field: Bytes, len: u16 },
    Append { field: Bytes, byte: u8 },
    DropNode { consistency: bool, at: u8 },
    RepeatNode { consistency: bool, at: u8 },
    SwapNodes { consistency: bool, a: u8, b: u8 },
    MoveNodes,
    TreeSize(i8),
    HeadSize(i8),
    Seq(i8),
    EntryTime(i8),
    EntrySalted,
    EntryModel,
    DropCertificate,
    ReceiptSeq(i8),
    Tensor { output: bool, at: u8, bits: u32 },
    DropNonce,
}

fn bytes<'a>(
    proof: &'a mut LogProof,
    held: &'a mut Holding,
    field: Bytes,
) -> Option<&'a mut Vec<u8>> {
    let node = |nodes: &'a mut Vec<ByteBuf>, at: u8| {
        let len = nodes.len();
        (len > 0).then(move || &mut *nodes[at as usize % len])
    };
    match field {
        Bytes::Entry => Some(&mut *proof.entry_bytes),
        Bytes::Certificate => proof.head.certificate.as_mut().map(|c| &mut **c),
        Bytes::Witness => Some(&mut *proof.head.witness),
        Bytes::HeadRoot => Some(&mut *proof.head.root_hash),
        Bytes::TreeRoot => Some(&mut *proof.tree_root),
        Bytes::Inclusion(at) => node(&mut proof.inclusion_proof, at),
        Bytes::Consistency(at) => node(&mut proof.consistency_proof, at),
        Bytes::CodeCertificate => held.code_certificate.as_mut(),
        Bytes::Nonce => held.opening.as_mut().and_then(|o| o.nonce.as_mut()),
    }
}

fn nodes(proof: &mut LogProof, consistency: bool) -> &mut Vec<ByteBuf> {
    if consistency {
        &mut proof.consistency_proof
    } else {
        &mut proof.inclusion_proof
    }
}

fn shift(value: &mut u64, by: i8) {
    *value = value.wrapping_add_signed(by.into());
}

fn apply(proof: &mut LogProof, held: &mut Holding, edit: &Edit) {
    match *edit {
        Edit::Flip { field, at, mask } => {
            if let Some(b) = bytes(proof, held, field) {
                flip(b, at.into(), mask);
            }
        }
        Edit::Truncate { field, len } => {
            if let Some(b) = bytes(proof, held, field) {
                b.truncate(len.into());
            }
        }
        Edit::Append { field, byte } => {
            if let Some(b) = bytes(proof, held, field) {
                b.push(byte);
            }
        }
        Edit::DropNode { consistency, at } => {
            let nodes = nodes(proof, consistency);
            if !nodes.is_empty() {
                nodes.remove(at as usize % nodes.len());
            }
        }
        Edit::RepeatNode { consistency, at } => {
            let nodes = nodes(proof, consistency);
            if !nodes.is_empty() {
                let node = nodes[at as usize % nodes.len()].clone();
                nodes.insert(at as usize % (nodes.len() + 1), node);
            }
        }
        Edit::SwapNodes { consistency, a, b } => {
            let nodes = nodes(proof, consistency);
            if !nodes.is_empty() {
                let len = nodes.len();
                nodes.swap(a as usize % len, b as usize % len);
            }
        }
        Edit::MoveNodes => {
            std::mem::swap(&mut proof.inclusion_proof, &mut proof.consistency_proof);
        }
        Edit::TreeSize(by) => shift(&mut proof.tree_size, by),
        Edit::HeadSize(by) => shift(&mut proof.head.tree_size, by),
        Edit::Seq(by) => shift(&mut proof.entry.seq, by),
        Edit::EntryTime(by) => shift(&mut proof.entry.timestamp_ns, by),
        Edit::EntrySalted => proof.entry.input_salted = !proof.entry.input_salted,
        Edit::EntryModel => proof.entry.model_id.push('x'),
        Edit::DropCertificate => proof.head.certificate = None,
        Edit::ReceiptSeq(by) => {
            if let Some(receipt) = held.receipt.as_mut() {
                shift(&mut receipt.seq, by);
            }
        }
        Edit::Tensor { output, at, bits } => {
            let Some(opening) = held.opening.as_mut() else {
                return;
            };
            let tensors = if output {
                &mut opening.outputs
            } else {
                &mut opening.inputs
            };
            if tensors.is_empty() {
                return;
            }
            let len = tensors.len();
            match &mut tensors[at as usize % len].data {
                TensorData::F32(v) if !v.is_empty() => {
                    let i = at as usize % v.len();
                    v[i] = f32::from_bits(v[i].to_bits() ^ bits);
                }
                TensorData::I64(v) if !v.is_empty() => {
                    let i = at as usize % v.len();
                    v[i] ^= i64::from(bits);
                }
                other => *other = TensorData::U8(ByteBuf::from(bits.to_le_bytes().to_vec())),
            }
        }
        Edit::DropNonce => {
            if let Some(opening) = held.opening.as_mut() {
                opening.nonce = None;
            }
        }
    }
}

fn proven(case: &Case, proof: &LogProof, holding: &Holding) -> Option<ProvenEntry> {
    report_log_proof(proof, &case.trust, &holding.held()).proven
}

/// What untouched case `at` proves, computed once.
fn original(at: usize) -> &'static ProvenEntry {
    static ORIGINALS: OnceLock<Vec<OnceLock<ProvenEntry>>> = OnceLock::new();
    let all = ORIGINALS.get_or_init(|| valid_cases().iter().map(|_| OnceLock::new()).collect());
    all[at].get_or_init(|| {
        let case = &valid_cases()[at];
        proven(case, &case.proof, &case.holding)
            .unwrap_or_else(|| panic!("the corpus's valid case '{}' verifies", case.name))
    })
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let Ok(pick) = u.arbitrary::<u8>() else {
        return;
    };
    let Ok(edits) = Vec::<Edit>::arbitrary_take_rest(u) else {
        return;
    };
    let cases = valid_cases();
    let at = pick as usize % cases.len();
    let case = &cases[at];
    let (mut proof, mut holding) = (case.proof.clone(), case.holding.clone());
    edits
        .iter()
        .for_each(|edit| apply(&mut proof, &mut holding, edit));
    if let Some(proven) = proven(case, &proof, &holding) {
        assert_eq!(
            proven,
            *original(at),
            "case '{}' edited by {edits:?} proves something else",
            case.name
        );
    }
});
