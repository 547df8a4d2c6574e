//! The verifier: from the IC's root key to "this model produced this output from this input
//! at this time", and "the log only grew".
//!
//! ```text
//! root key ──BLS──▶ certificate ──/canister/<id>/certified_data──▶ head commitment
//!   head commitment ══ hash of the witness tree ──▶ (tree size, Merkle root)
//!   Merkle root ──inclusion proof──▶ SHA-256(0x00 || entry bytes) ──decode──▶ entry
//!   entry.input_hash  ══ recomputed from the inputs and nonce you hold
//!   entry.output_hash ══ recomputed from the outputs you hold
//! ```
//!
//! Every function returns what it proved as a value whose `Display` says it in words, or
//! the first check that failed. docs/provenance.md explains what this does and does not
//! prove.

use candid::Principal;
use ic_certification::hash_tree::{HashTree, LookupResult};
use icinfer_api::{LogConsistency, LogEntry, LogHead, LogProof, Tensor};

use crate::certificate::{CertificateError, decode_cbor, verify_certificate};
use crate::entry::{DecodeError, decode_entry_checked, encode_entry};
use crate::head::{ROOT_LABEL, SIZE_LABEL, decode_leb128, head_commitment};
use crate::merkle::{self, Hash, ProofError};
use crate::tensor;
use crate::{hex, short_hex};

/// What the verifier trusts, and its freshness policy.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The IC's root public key, DER (133 bytes) or raw (96 bytes). For mainnet, the
    /// well-known key; for a local replica, the one it reports.
    pub root_key: Vec<u8>,
    /// The inference canister whose log this is.
    pub canister_id: Principal,
    /// The verifier's current time, nanoseconds since the Unix epoch.
    pub now_ns: u64,
    /// How far the certificate's time may be from `now_ns`, either way.
    pub max_age_ns: u64,
}

/// Why verification failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The head has no certificate: it came from a replicated call, which cannot have one.
    NoCertificate,
    Certificate(CertificateError),
    /// The certificate is older than `max_age_ns`, or that much ahead of `now_ns`.
    NotFresh {
        certificate_time_ns: u64,
        now_ns: u64,
    },
    /// The witness is not CBOR of a hash tree.
    MalformedWitness {
        reason: String,
    },
    /// The witness does not hash to the certified data.
    WitnessNotCertified,
    /// The witness names a different size or root than the head claims.
    HeadMismatch,
    /// The entry's bytes do not decode, or are not the encoding of the entry shown.
    EntryMismatch,
    /// The entry is of an encoding version or kind this verifier does not read (a later
    /// release's): it cannot check what the entry claims.
    UnsupportedEntry(crate::entry::DecodeError),
    /// The proof is for a different leaf than the entry's sequence number.
    WrongIndex {
        seq: u64,
        tree_size: u64,
    },
    /// The tree root the response names is not the one its proof leads to.
    TreeRootMismatch,
    Proof(ProofError),
    /// A consistency response that does not end at the certified head.
    NotTheCertifiedHead {
        to_size: u64,
        head_size: u64,
    },
    /// The response starts from another head than the one the verifier saw earlier.
    NotFromTheExpectedHead,
    /// The inputs and nonce given do not hash to the entry's input hash.
    InputHashMismatch,
    /// The outputs given do not hash to the entry's output hash.
    OutputHashMismatch,
    /// A nonce was given for an unsalted entry, or none for a salted one.
    SaltMismatch {
        entry_salted: bool,
    },
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::NoCertificate => f.write_str(
                "the head carries no certificate (ask with a query call, not an update)",
            ),
            VerifyError::Certificate(e) => write!(f, "certificate: {e}"),
            VerifyError::NotFresh {
                certificate_time_ns,
                now_ns,
            } => write!(
                f,
                "the certificate's time {certificate_time_ns} ns is too far from now ({now_ns} ns)"
            ),
            VerifyError::MalformedWitness { reason } => write!(f, "malformed witness: {reason}"),
            VerifyError::WitnessNotCertified => {
                f.write_str("the witness does not hash to the canister's certified data")
            }
            VerifyError::HeadMismatch => {
                f.write_str("the witness certifies a different log size or root than claimed")
            }
            VerifyError::EntryMismatch => {
                f.write_str("the entry bytes are not the canonical encoding of the entry")
            }
            VerifyError::UnsupportedEntry(e) => write!(f, "{e}"),
            VerifyError::WrongIndex { seq, tree_size } => write!(
                f,
                "entry {seq} cannot be proven in a tree of {tree_size} leaves"
            ),
            VerifyError::TreeRootMismatch => {
                f.write_str("the tree root named is not the one the inclusion proof leads to")
            }
            VerifyError::Proof(e) => write!(f, "proof: {e}"),
            VerifyError::NotTheCertifiedHead { to_size, head_size } => write!(
                f,
                "the proof ends at size {to_size}, the certified head is at {head_size}"
            ),
            VerifyError::NotFromTheExpectedHead => {
                f.write_str("the proof starts from another head than the one you saw")
            }
            VerifyError::InputHashMismatch => {
                f.write_str("the inputs and nonce do not hash to the entry's input_hash")
            }
            VerifyError::OutputHashMismatch => {
                f.write_str("the outputs do not hash to the entry's output_hash")
            }
            VerifyError::SaltMismatch { entry_salted } => write!(
                f,
                "the entry's input hash is {}salted, but a nonce was {}given",
                if *entry_salted { "" } else { "not " },
                if *entry_salted { "not " } else { "" }
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<CertificateError> for VerifyError {
    fn from(e: CertificateError) -> Self {
        VerifyError::Certificate(e)
    }
}

impl From<ProofError> for VerifyError {
    fn from(e: ProofError) -> Self {
        VerifyError::Proof(e)
    }
}

/// A head of the log the IC certified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedHead {
    pub canister_id: Principal,
    pub tree_size: u64,
    pub root: Hash,
    /// The certificate's time.
    pub certified_at_ns: u64,
    /// The subnet the root key delegated to, if any.
    pub subnet: Option<Principal>,
}

impl std::fmt::Display for CertifiedHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the IC (root key given{}) certified at {} ns that the log of canister {} holds {} entries with Merkle root {}",
            match &self.subnet {
                Some(subnet) => format!(", delegating to subnet {subnet}"),
                None => String::new(),
            },
            self.certified_at_ns,
            self.canister_id,
            self.tree_size,
            hex(&self.root)
        )
    }
}

/// Checks a head: its certificate under the root key, for the canister, fresh, and that the
/// witness is the certified data and names the head's size and root.
pub fn verify_head(head: &LogHead, trust: &Trust) -> Result<CertifiedHead, VerifyError> {
    let certificate = head
        .certificate
        .as_ref()
        .ok_or(VerifyError::NoCertificate)?;
    let verified = verify_certificate(certificate, &trust.root_key, &trust.canister_id)?;
    if verified.time_ns.abs_diff(trust.now_ns) > trust.max_age_ns {
        return Err(VerifyError::NotFresh {
            certificate_time_ns: verified.time_ns,
            now_ns: trust.now_ns,
        });
    }
    let witness: HashTree<Vec<u8>> =
        decode_cbor(&head.witness, "witness").map_err(|e| VerifyError::MalformedWitness {
            reason: e.to_string(),
        })?;
    if witness.digest()[..] != verified.certified_data[..] {
        return Err(VerifyError::WitnessNotCertified);
    }
    let root: Hash = match witness.lookup_path([ROOT_LABEL]) {
        LookupResult::Found(root) => root.try_into().map_err(|_| VerifyError::HeadMismatch)?,
        _ => return Err(VerifyError::HeadMismatch),
    };
    let tree_size = match witness.lookup_path([SIZE_LABEL]) {
        LookupResult::Found(size) => decode_leb128(size).ok_or(VerifyError::HeadMismatch)?,
        _ => return Err(VerifyError::HeadMismatch),
    };
    // The witness is a function of (size, root); recomputing it pins its shape too.
    if head_commitment(tree_size, &root)[..] != verified.certified_data[..]
        || tree_size != head.tree_size
        || root[..] != head.root_hash[..]
    {
        return Err(VerifyError::HeadMismatch);
    }
    Ok(CertifiedHead {
        canister_id: trust.canister_id,
        tree_size,
        root,
        certified_at_ns: verified.time_ns,
        subnet: verified.delegated_subnet,
    })
}

/// The tensors and nonce of an inference, held by whoever wants to prove them.
#[derive(Clone, Copy, Debug)]
pub struct Opening<'a> {
    pub inputs: &'a [Tensor],
    /// The nonce the inference was salted with, if any.
    pub nonce: Option<&'a [u8]>,
    pub outputs: &'a [Tensor],
}

/// An entry proven to be in a certified log.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvenEntry {
    pub entry: LogEntry,
    pub head: CertifiedHead,
    /// Whether the given inputs, nonce and outputs were checked against the entry's hashes.
    pub tensors_checked: bool,
}

impl std::fmt::Display for ProvenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.entry;
        writeln!(f, "Proven:")?;
        writeln!(f, "- {}.", self.head)?;
        writeln!(
            f,
            "- Entry #{} is in that log: at IC time {} ns, caller {} ran model '{}' (SHA-256 {}), input hash {}{}, output hash {}.",
            e.seq,
            e.timestamp_ns,
            e.caller,
            e.model_id,
            short_hex(&e.model_sha256),
            short_hex(&e.input_hash),
            if e.input_salted { " (salted)" } else { "" },
            short_hex(&e.output_hash)
        )?;
        if self.tensors_checked {
            write!(
                f,
                "- The inputs{} and outputs given hash to the entry's input and output hashes.",
                if e.input_salted { " and nonce" } else { "" }
            )
        } else {
            write!(f, "- No tensors were given: their hashes were not checked.")
        }
    }
}

/// Checks a `log_proof` response: the certified head, the entry's encoding, its inclusion
/// in the tree of `tree_size` leaves, that tree's consistency with the certified head, and,
/// given an opening, the tensors against the entry's hashes.
pub fn verify_log_proof(
    proof: &LogProof,
    trust: &Trust,
    opening: Option<&Opening>,
) -> Result<ProvenEntry, VerifyError> {
    let head = verify_head(&proof.head, trust)?;
    let entry = decode_entry_checked(&proof.entry_bytes).map_err(|e| match e {
        DecodeError::Malformed => VerifyError::EntryMismatch,
        unsupported => VerifyError::UnsupportedEntry(unsupported),
    })?;
    if entry != proof.entry || encode_entry(&entry).ok().as_deref() != Some(&proof.entry_bytes[..])
    {
        return Err(VerifyError::EntryMismatch);
    }
    if entry.seq >= proof.tree_size {
        return Err(VerifyError::WrongIndex {
            seq: entry.seq,
            tree_size: proof.tree_size,
        });
    }
    let leaf = merkle::leaf_hash(&proof.entry_bytes);
    let inclusion = merkle::proof_nodes(&proof.inclusion_proof)?;
    let tree_root =
        merkle::root_from_inclusion_proof(entry.seq, proof.tree_size, &leaf, &inclusion)?;
    if tree_root[..] != proof.tree_root[..] {
        return Err(VerifyError::TreeRootMismatch);
    }
    let consistency = merkle::proof_nodes(&proof.consistency_proof)?;
    merkle::verify_consistency(
        proof.tree_size,
        head.tree_size,
        &tree_root,
        &head.root,
        &consistency,
    )?;
    if let Some(opening) = opening {
        check_opening(&entry, opening)?;
    }
    Ok(ProvenEntry {
        entry,
        head,
        tensors_checked: opening.is_some(),
    })
}

/// Checks tensors and nonce against an entry's hashes.
pub fn check_opening(entry: &LogEntry, opening: &Opening) -> Result<(), VerifyError> {
    if entry.input_salted != opening.nonce.is_some() {
        return Err(VerifyError::SaltMismatch {
            entry_salted: entry.input_salted,
        });
    }
    let input_hash =
        tensor::input_hash(opening.inputs, opening.nonce).ok_or(VerifyError::InputHashMismatch)?;
    if input_hash[..] != entry.input_hash[..] {
        return Err(VerifyError::InputHashMismatch);
    }
    if tensor::output_hash(opening.outputs)[..] != entry.output_hash[..] {
        return Err(VerifyError::OutputHashMismatch);
    }
    Ok(())
}

/// A head seen earlier proven to be a prefix of a certified head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenGrowth {
    pub from_size: u64,
    pub from_root: Hash,
    pub head: CertifiedHead,
}

impl std::fmt::Display for ProvenGrowth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Proven: {}; and the log of {} entries with root {} is a prefix of it: the log only grew, no earlier entry changed.",
            self.head,
            self.from_size,
            hex(&self.from_root)
        )
    }
}

/// Checks a `log_consistency` response that ends at the certified head; with `seen`, also
/// that it starts from that (size, root), e.g. a head the verifier checked earlier.
pub fn verify_log_consistency(
    response: &LogConsistency,
    trust: &Trust,
    seen: Option<(u64, &Hash)>,
) -> Result<ProvenGrowth, VerifyError> {
    let head = verify_head(&response.head, trust)?;
    if response.to_size != head.tree_size || response.to_root[..] != head.root[..] {
        return Err(VerifyError::NotTheCertifiedHead {
            to_size: response.to_size,
            head_size: head.tree_size,
        });
    }
    let from_root: Hash = response.from_root[..]
        .try_into()
        .map_err(|_| VerifyError::NotFromTheExpectedHead)?;
    if let Some((size, root)) = seen
        && (size != response.from_size || *root != from_root)
    {
        return Err(VerifyError::NotFromTheExpectedHead);
    }
    let proof = merkle::proof_nodes(&response.proof)?;
    merkle::verify_consistency(
        response.from_size,
        head.tree_size,
        &from_root,
        &head.root,
        &proof,
    )?;
    Ok(ProvenGrowth {
        from_size: response.from_size,
        from_root,
        head,
    })
}
