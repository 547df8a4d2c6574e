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
//! [`report_log_proof`] runs every check and reports each ([`crate::report`]);
//! [`verify_log_proof`], [`verify_head`] and [`verify_log_consistency`] return what they
//! proved as a value whose `Display` says it in words, or the first check that failed. Each
//! check is one function below, whichever way it is called. docs/provenance.md explains
//! what this does and does not prove.

use candid::Principal;
use ic_certification::hash_tree::{HashTree, LookupResult};
use icinfer_api::{EntryKind, LogConsistency, LogEntry, LogHead, LogProof, Tensor};

use crate::certificate::{
    CertificateError, VerifiedCertificate, VerifiedCodeState, decode_cbor, decode_controllers,
    verify_certificate, verify_code_certificate,
};
use crate::entry::{DecodeError, decode_entry_checked, encode_entry};
use crate::head::{ROOT_LABEL, SIZE_LABEL, decode_leb128, head_commitment};
use crate::merkle::{self, Hash, ProofError};
use crate::report::{CheckKind, Checklist, Report};
use crate::{generation, tensor};
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
    UnsupportedEntry(DecodeError),
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
    /// The proven entry is not the receipt the verifier holds.
    NotTheReceipt,
    /// The model the verifier holds is not the one the entry names.
    ModelMismatch,
    /// A module hash was expected, but no certified read_state of the canister's code was
    /// given to compare it with.
    NoCodeCertificate,
    /// The certificate holds no module hash for the canister: it is empty.
    NoModule,
    /// The IC certifies another module hash than those expected (a release's, or pinned).
    ModuleHashMismatch {
        certified: Hash,
        expected: Vec<Hash>,
    },
    /// `/canister/<id>/controllers` is missing or not CBOR of a list of principals.
    MalformedControllers,
    /// A generation's text was given for an entry that is not a generation's, or its token
    /// ids do not hash to the receipt's completion_tokens_sha256.
    CompletionTokensMismatch,
    /// The entry a bundle names as its code epoch is not of that kind.
    NotACodeEpoch {
        seq: u64,
    },
    /// The code epoch begins after the entry: it cannot have written it.
    EpochAfterEntry {
        first_index: u64,
        seq: u64,
    },
    /// Content was given for an entry with no output (a code epoch's).
    NoContent,
}

impl VerifyError {
    /// The reason code the corpus (testdata/verifier.json) and the TypeScript port use.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::NoCertificate => "no-certificate",
            VerifyError::Certificate(e) => e.reason(),
            VerifyError::NotFresh { .. } => "not-fresh",
            VerifyError::MalformedWitness { .. } => "malformed-witness",
            VerifyError::WitnessNotCertified => "witness-not-certified",
            VerifyError::HeadMismatch => "head-mismatch",
            VerifyError::EntryMismatch => "entry-mismatch",
            VerifyError::UnsupportedEntry(_) => "unsupported-entry",
            VerifyError::WrongIndex { .. } => "wrong-index",
            VerifyError::TreeRootMismatch => "tree-root-mismatch",
            VerifyError::Proof(e) => e.reason(),
            VerifyError::NotTheCertifiedHead { .. } => "not-the-certified-head",
            VerifyError::NotFromTheExpectedHead => "not-from-the-expected-head",
            VerifyError::InputHashMismatch => "input-hash-mismatch",
            VerifyError::OutputHashMismatch => "output-hash-mismatch",
            VerifyError::SaltMismatch { .. } => "salt-mismatch",
            VerifyError::NotTheReceipt => "not-the-receipt",
            VerifyError::ModelMismatch => "model-mismatch",
            VerifyError::NoCodeCertificate => "no-code-certificate",
            VerifyError::NoModule => "no-module",
            VerifyError::ModuleHashMismatch { .. } => "module-hash-mismatch",
            VerifyError::MalformedControllers => "malformed-controllers",
            VerifyError::CompletionTokensMismatch => "completion-tokens-mismatch",
            VerifyError::NotACodeEpoch { .. } => "not-a-code-epoch",
            VerifyError::EpochAfterEntry { .. } => "epoch-after-entry",
            VerifyError::NoContent => "no-content",
        }
    }
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
            VerifyError::NotTheReceipt => {
                f.write_str("the proven entry is not the receipt you hold")
            }
            VerifyError::ModelMismatch => {
                f.write_str("the model you hold is not the one the entry names")
            }
            VerifyError::NoCodeCertificate => f.write_str(
                "a module hash was expected, but no certified read_state of the canister's module hash was given",
            ),
            VerifyError::NoModule => {
                f.write_str("the IC certifies no module for the canister: it is empty")
            }
            VerifyError::ModuleHashMismatch {
                certified,
                expected,
            } => write!(
                f,
                "the IC certifies module hash {}, not the expected {}",
                hex(certified),
                expected.iter().map(|h| hex(h)).collect::<Vec<_>>().join(" or ")
            ),
            VerifyError::MalformedControllers => f.write_str(
                "the certified controllers are missing or not a CBOR list of principals",
            ),
            VerifyError::CompletionTokensMismatch => f.write_str(
                "the entry is no generation's, or the token ids do not hash to its completion_tokens_sha256",
            ),
            VerifyError::NotACodeEpoch { seq } => {
                write!(f, "entry #{seq}, named as the code epoch, is not a code epoch")
            }
            VerifyError::EpochAfterEntry { first_index, seq } => write!(
                f,
                "the code epoch begins at entry #{first_index}, after entry #{seq}: it did not write it"
            ),
            VerifyError::NoContent => {
                f.write_str("the entry is a code epoch's: it has no output to hash content against")
            }
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
            "the IC (root key given{}) certified at {} ns that the log of canister {} holds {} with Merkle root {}",
            match &self.subnet {
                Some(subnet) => format!(", delegating to subnet {subnet}"),
                None => String::new(),
            },
            self.certified_at_ns,
            self.canister_id,
            count(self.tree_size, "entry", "entries"),
            hex(&self.root)
        )
    }
}

/// "1 entry", "2 entries".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Checks a head: its certificate under the root key, for the canister, fresh, and that the
/// witness is the certified data and names the head's size and root.
pub fn verify_head(head: &LogHead, trust: &Trust) -> Result<CertifiedHead, VerifyError> {
    let (certificate, _) = check_certificate(head, trust)?;
    check_freshness(&certificate, trust)?;
    let ((tree_size, root), _) = check_witness(head, &certificate)?;
    Ok(certified_head(trust, &certificate, tree_size, root))
}

fn certified_head(
    trust: &Trust,
    certificate: &VerifiedCertificate,
    tree_size: u64,
    root: Hash,
) -> CertifiedHead {
    CertifiedHead {
        canister_id: trust.canister_id,
        tree_size,
        root,
        certified_at_ns: certificate.time_ns,
        subnet: certificate.delegated_subnet,
    }
}

/// What a check established: the value later checks build on, and the words for the report.
type Established<T> = Result<(T, String), VerifyError>;

fn check_certificate(head: &LogHead, trust: &Trust) -> Established<VerifiedCertificate> {
    let bytes = head
        .certificate
        .as_ref()
        .ok_or(VerifyError::NoCertificate)?;
    let verified = verify_certificate(bytes, &trust.root_key, &trust.canister_id)?;
    let signer = match &verified.delegated_subnet {
        Some(subnet) => format!(
            "a key of subnet {subnet}, which the root key delegated to and whose canister ranges contain {}",
            trust.canister_id
        ),
        None => "the root key directly".into(),
    };
    let detail = format!(
        "signed (BLS12-381) by {signer}; /canister/{}/certified_data = {}",
        trust.canister_id,
        hex(&verified.certified_data)
    );
    Ok((verified, detail))
}

fn check_freshness(certificate: &VerifiedCertificate, trust: &Trust) -> Established<()> {
    let distance = certificate.time_ns.abs_diff(trust.now_ns);
    if distance > trust.max_age_ns {
        return Err(VerifyError::NotFresh {
            certificate_time_ns: certificate.time_ns,
            now_ns: trust.now_ns,
        });
    }
    let side = if certificate.time_ns <= trust.now_ns {
        "before"
    } else {
        "after"
    };
    let detail = format!(
        "certified at {} ns, {} s {side} the verifier's clock; the limit is {} s either way",
        certificate.time_ns,
        distance / 1_000_000_000,
        trust.max_age_ns / 1_000_000_000
    );
    Ok(((), detail))
}

/// The witness is the certified data and names the head's (size, root).
fn check_witness(head: &LogHead, certificate: &VerifiedCertificate) -> Established<(u64, Hash)> {
    let witness: HashTree<Vec<u8>> =
        decode_cbor(&head.witness, "witness").map_err(|e| VerifyError::MalformedWitness {
            reason: e.to_string(),
        })?;
    if witness.digest()[..] != certificate.certified_data[..] {
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
    if head_commitment(tree_size, &root)[..] != certificate.certified_data[..]
        || tree_size != head.tree_size
        || root[..] != head.root_hash[..]
    {
        return Err(VerifyError::HeadMismatch);
    }
    let detail = format!(
        "the witness hashes to the certified data and labels log_size = {tree_size}, log_root = {}",
        hex(&root)
    );
    Ok(((tree_size, root), detail))
}

/// The entry bytes decode to the entry shown, are its canonical encoding, and (given one)
/// are the receipt the verifier holds.
fn check_entry(proof: &LogProof, receipt: Option<&LogEntry>) -> Established<LogEntry> {
    let entry = decode_entry_checked(&proof.entry_bytes).map_err(|e| match e {
        DecodeError::Malformed => VerifyError::EntryMismatch,
        unsupported => VerifyError::UnsupportedEntry(unsupported),
    })?;
    if entry != proof.entry || encode_entry(&entry).ok().as_deref() != Some(&proof.entry_bytes[..])
    {
        return Err(VerifyError::EntryMismatch);
    }
    if receipt.is_some_and(|receipt| *receipt != entry) {
        return Err(VerifyError::NotTheReceipt);
    }
    let detail = format!(
        "{} bytes decode to entry #{} as shown and re-encode to the same bytes{}",
        proof.entry_bytes.len(),
        entry.seq,
        if receipt.is_some() {
            "; it is the receipt you hold"
        } else {
            ""
        }
    );
    Ok((entry, detail))
}

/// The entry is leaf `seq` of the tree of `proof.tree_size` entries whose root the proof names.
fn check_inclusion(proof: &LogProof, entry: &LogEntry) -> Established<Hash> {
    if entry.seq >= proof.tree_size {
        return Err(VerifyError::WrongIndex {
            seq: entry.seq,
            tree_size: proof.tree_size,
        });
    }
    let leaf = merkle::leaf_hash(&proof.entry_bytes);
    let nodes = merkle::proof_nodes(&proof.inclusion_proof)?;
    let root = merkle::root_from_inclusion_proof(entry.seq, proof.tree_size, &leaf, &nodes)?;
    if root[..] != proof.tree_root[..] {
        return Err(VerifyError::TreeRootMismatch);
    }
    let detail = format!(
        "entry #{} is in the log: {} lead from its leaf to root {} of the tree of {}",
        entry.seq,
        count(nodes.len() as u64, "proof node", "proof nodes"),
        hex(&root),
        count(proof.tree_size, "entry", "entries")
    );
    Ok((root, detail))
}

/// The tree the entry was proven in is a prefix of the certified one.
fn check_consistency(
    proof: &LogProof,
    tree_root: &Hash,
    (head_size, head_root): (u64, Hash),
) -> Established<()> {
    let nodes = merkle::proof_nodes(&proof.consistency_proof)?;
    merkle::verify_consistency(proof.tree_size, head_size, tree_root, &head_root, &nodes)?;
    let entries = |n| count(n, "entry", "entries");
    let detail = if proof.tree_size == head_size {
        format!(
            "the proven tree is the certified head itself ({})",
            entries(head_size)
        )
    } else {
        format!(
            "{} prove the tree of {} a prefix of the certified tree of {}",
            count(nodes.len() as u64, "node", "nodes"),
            entries(proof.tree_size),
            entries(head_size)
        )
    };
    Ok(((), detail))
}

fn check_input_hash(entry: &LogEntry, opening: &Opening) -> Established<()> {
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
    let detail = format!(
        "{}{} hash to the entry's input_hash {}",
        count(opening.inputs.len() as u64, "input tensor", "input tensors"),
        match opening.nonce {
            Some(nonce) => format!(" salted with the {}-byte nonce", nonce.len()),
            None => " (unsalted)".into(),
        },
        hex(&input_hash)
    );
    Ok(((), detail))
}

fn check_output_hash(entry: &LogEntry, opening: &Opening) -> Established<()> {
    let output_hash = tensor::output_hash(opening.outputs);
    if output_hash[..] != entry.output_hash[..] {
        return Err(VerifyError::OutputHashMismatch);
    }
    let detail = format!(
        "{} hash to the entry's output_hash {}",
        count(
            opening.outputs.len() as u64,
            "output tensor",
            "output tensors"
        ),
        hex(&output_hash)
    );
    Ok(((), detail))
}

fn check_prompt(entry: &LogEntry, opening: &GenerationOpening) -> Established<()> {
    if entry.input_salted != opening.nonce.is_some() {
        return Err(VerifyError::SaltMismatch {
            entry_salted: entry.input_salted,
        });
    }
    let commitment = generation::prompt_commitment(opening.prompt, opening.nonce)
        .ok_or(VerifyError::InputHashMismatch)?;
    if commitment[..] != entry.input_hash[..] {
        return Err(VerifyError::InputHashMismatch);
    }
    let detail = format!(
        "the prompt of {} bytes{} commits to the entry's input_hash {}",
        opening.prompt.len(),
        match opening.nonce {
            Some(nonce) => format!(" salted with the {}-byte nonce", nonce.len()),
            None => " (unsalted)".into(),
        },
        hex(&commitment)
    );
    Ok(((), detail))
}

fn check_completion(entry: &LogEntry, opening: &GenerationOpening) -> Established<()> {
    let Some(EntryKind::Generation(receipt)) = &entry.kind else {
        return Err(VerifyError::CompletionTokensMismatch);
    };
    let output_hash = generation::completion_hash(opening.completion);
    if output_hash[..] != entry.output_hash[..] {
        return Err(VerifyError::OutputHashMismatch);
    }
    if generation::tokens_hash(opening.tokens)[..] != receipt.completion_tokens_sha256[..]
        || opening.tokens.len() as u64 != u64::from(receipt.generated_tokens)
    {
        return Err(VerifyError::CompletionTokensMismatch);
    }
    let detail = format!(
        "the completion of {} bytes hashes to the entry's output_hash {}, and its {} to the receipt's token hash",
        opening.completion.len(),
        hex(&output_hash),
        count(opening.tokens.len() as u64, "token id", "token ids"),
    );
    Ok(((), detail))
}

fn check_model(entry: &LogEntry, model_sha256: &Hash) -> Established<()> {
    if model_sha256[..] != entry.model_sha256[..] {
        return Err(VerifyError::ModelMismatch);
    }
    let detail = format!(
        "the model you hold has the SHA-256 the entry names, {}",
        hex(model_sha256)
    );
    Ok(((), detail))
}

/// The tensors and nonce of an inference, held by whoever wants to prove them.
#[derive(Clone, Copy, Debug)]
pub struct Opening<'a> {
    pub inputs: &'a [Tensor],
    /// The nonce the inference was salted with, if any.
    pub nonce: Option<&'a [u8]>,
    pub outputs: &'a [Tensor],
}

/// The prompt, nonce and completion of a text generation (docs/hashing.md, "Text
/// generation hashes"), held by whoever wants to prove them.
#[derive(Clone, Copy, Debug)]
pub struct GenerationOpening<'a> {
    pub prompt: &'a str,
    pub nonce: Option<&'a [u8]>,
    /// The completion's bytes as the canister returned them.
    pub completion: &'a [u8],
    pub tokens: &'a [u32],
}

/// What the verifier holds besides the proof, each checked against the proven entry when
/// given: the inference's tensors and nonce (or a generation's prompt, nonce and
/// completion), the receipt `infer` returned, the model's SHA-256 (of the model file); and
/// the canister's code identity: the certificate of a `read_state` of
/// `/canister/<id>/module_hash` and `/canister/<id>/controllers`, and the module hashes the
/// verifier accepts (a release manifest's, of the module raw and gzipped, or one it built);
/// none means any.
#[derive(Clone, Copy, Debug, Default)]
pub struct Held<'a> {
    pub opening: Option<Opening<'a>>,
    pub generation: Option<GenerationOpening<'a>>,
    pub receipt: Option<&'a LogEntry>,
    pub model_sha256: Option<&'a Hash>,
    pub code_certificate: Option<&'a [u8]>,
    pub expected_module_hashes: &'a [Hash],
}

/// The code installed in the canister, and who may replace it, as the IC certified them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedCode {
    pub module_hash: Hash,
    pub controllers: Vec<Principal>,
    pub certified_at_ns: u64,
    /// Whether the module hash was compared with one the verifier expected, and matched.
    pub expected: bool,
}

impl std::fmt::Display for CertifiedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the IC certified at {} ns that the canister runs module {}{}, controlled by {}",
            self.certified_at_ns,
            hex(&self.module_hash),
            if self.expected {
                " (the one expected)"
            } else {
                ""
            },
            controllers_text(&self.controllers)
        )
    }
}

fn controllers_text(controllers: &[Principal]) -> String {
    if controllers.is_empty() {
        return "no one (no controller: the code can no longer be changed)".into();
    }
    let names: Vec<String> = controllers.iter().map(Principal::to_text).collect();
    names.join(", ")
}

/// An entry proven to be in a certified log.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvenEntry {
    pub entry: LogEntry,
    pub head: CertifiedHead,
    /// Whether the given inputs, nonce and outputs were checked against the entry's hashes.
    pub tensors_checked: bool,
    /// The canister's code now, if a certified read_state of it was given.
    pub code: Option<CertifiedCode>,
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
            writeln!(
                f,
                "- The inputs{} and outputs given hash to the entry's input and output hashes.",
                if e.input_salted { " and nonce" } else { "" }
            )?;
        } else {
            writeln!(f, "- No tensors were given: their hashes were not checked.")?;
        }
        match &self.code {
            Some(code) => write!(f, "- Code now: {code}."),
            None => write!(
                f,
                "- The canister's code was not read: its module hash was not checked."
            ),
        }
    }
}

const NO_OPENING: &str = "no tensors (and nonce) were given to recompute it from";
const NO_MODEL: &str = "no model was given to hash";
const NO_CODE: &str =
    "no certified read_state of the canister's module hash and controllers was given";

/// The code certificate is the IC's (as [`check_certificate`] checks a head's), as fresh as
/// the head must be, and names a module; with an expected hash, that one.
fn check_module_hash(
    certificate: &[u8],
    trust: &Trust,
    expected: &[Hash],
) -> Established<(VerifiedCodeState, Hash)> {
    let state = verify_code_certificate(certificate, &trust.root_key, &trust.canister_id)?;
    let distance = state.time_ns.abs_diff(trust.now_ns);
    if distance > trust.max_age_ns {
        return Err(VerifyError::NotFresh {
            certificate_time_ns: state.time_ns,
            now_ns: trust.now_ns,
        });
    }
    let certified = state.module_hash.clone().ok_or(VerifyError::NoModule)?;
    let module_hash: Hash = certified[..].try_into().map_err(|_| {
        VerifyError::Certificate(CertificateError::Malformed {
            reason: format!("module_hash of {} bytes", certified.len()),
        })
    })?;
    if !expected.is_empty() && !expected.contains(&module_hash) {
        return Err(VerifyError::ModuleHashMismatch {
            certified: module_hash,
            expected: expected.to_vec(),
        });
    }
    let detail = format!(
        "a read_state certificate, checked as the head's, certified at {} ns: /canister/{}/module_hash = {}{}",
        state.time_ns,
        trust.canister_id,
        hex(&module_hash),
        if !expected.is_empty() {
            ", the module hash expected"
        } else {
            " (no hash was expected: compare it with a reproducible build or a release manifest)"
        }
    );
    Ok(((state, module_hash), detail))
}

fn check_controllers(state: &VerifiedCodeState, trust: &Trust) -> Established<Vec<Principal>> {
    let cbor = state
        .controllers
        .as_ref()
        .ok_or(VerifyError::MalformedControllers)?;
    let controllers = decode_controllers(cbor).map_err(|_| VerifyError::MalformedControllers)?;
    let detail = format!(
        "/canister/{}/controllers = {}: {}",
        trust.canister_id,
        controllers_text(&controllers),
        if controllers.is_empty() {
            "nobody can upgrade it"
        } else {
            "they can upgrade the canister to other code"
        }
    );
    Ok((controllers, detail))
}

/// Runs every check of a `log_proof` response, in [`CheckKind::ALL`] order: the certified
/// head, the entry's encoding (and that it is the receipt held), its inclusion in the tree of
/// `tree_size` leaves, that tree's consistency with the certified head, and what `held` gives
/// against the entry's hashes.
pub fn report_log_proof(proof: &LogProof, trust: &Trust, held: &Held) -> Report {
    let mut list = Checklist::default();
    let certificate = list.run(CheckKind::Certificate, Some(()), |()| {
        check_certificate(&proof.head, trust)
    });
    let certificate = list.run(CheckKind::Freshness, certificate, |certificate| {
        check_freshness(&certificate, trust).map(|((), detail)| (certificate, detail))
    });
    let head = list.run(CheckKind::Witness, certificate.as_ref(), |certificate| {
        check_witness(&proof.head, certificate)
    });
    let entry = list.run(CheckKind::Entry, Some(()), |()| {
        check_entry(proof, held.receipt)
    });
    let tree_root = list.run(CheckKind::Inclusion, entry.as_ref(), |entry| {
        check_inclusion(proof, entry)
    });
    list.run(
        CheckKind::Consistency,
        tree_root.zip(head),
        |(root, head)| check_consistency(proof, &root, head),
    );
    match (held.opening, held.generation) {
        (_, Some(opening)) => {
            list.run(CheckKind::InputHash, entry.as_ref(), |entry| {
                check_prompt(entry, &opening)
            });
            list.run(CheckKind::OutputHash, entry.as_ref(), |entry| {
                check_completion(entry, &opening)
            });
        }
        (Some(opening), None) => {
            list.run(CheckKind::InputHash, entry.as_ref(), |entry| {
                check_input_hash(entry, &opening)
            });
            list.run(CheckKind::OutputHash, entry.as_ref(), |entry| {
                check_output_hash(entry, &opening)
            });
        }
        (None, None) => {
            list.skip(CheckKind::InputHash, NO_OPENING);
            list.skip(CheckKind::OutputHash, NO_OPENING);
        }
    }
    match held.model_sha256 {
        Some(sha) => {
            list.run(CheckKind::Model, entry.as_ref(), |entry| {
                check_model(entry, sha)
            });
        }
        None => list.skip(CheckKind::Model, NO_MODEL),
    }
    let code = report_code(&mut list, trust, held);
    let proven = match (entry, certificate, head) {
        (Some(entry), Some(certificate), Some((tree_size, root))) => Some(ProvenEntry {
            entry,
            head: certified_head(trust, &certificate, tree_size, root),
            tensors_checked: held.opening.is_some() || held.generation.is_some(),
            code,
        }),
        _ => None,
    };
    list.finish(proven)
}

/// The code identity checks: the module hash (against the expected one, if held) and the
/// controllers the IC certifies now.
fn report_code(list: &mut Checklist, trust: &Trust, held: &Held) -> Option<CertifiedCode> {
    let Some(certificate) = held.code_certificate else {
        if held.expected_module_hashes.is_empty() {
            list.skip(CheckKind::ModuleHash, NO_CODE);
        } else {
            list.run(CheckKind::ModuleHash, Some(()), |()| -> Established<()> {
                Err(VerifyError::NoCodeCertificate)
            });
        }
        list.skip(CheckKind::Controllers, NO_CODE);
        return None;
    };
    let state = list.run(CheckKind::ModuleHash, Some(()), |()| {
        check_module_hash(certificate, trust, held.expected_module_hashes)
    });
    let (state, module_hash) = state.unzip();
    let controllers = list.run(CheckKind::Controllers, state.as_ref(), |state| {
        check_controllers(state, trust)
    });
    Some(CertifiedCode {
        module_hash: module_hash?,
        controllers: controllers?,
        certified_at_ns: state?.time_ns,
        expected: !held.expected_module_hashes.is_empty(),
    })
}

/// Checks a `log_proof` response (see [`report_log_proof`]) and returns what it proved, or
/// the first check that failed.
pub fn verify_log_proof(
    proof: &LogProof,
    trust: &Trust,
    opening: Option<&Opening>,
) -> Result<ProvenEntry, VerifyError> {
    let held = Held {
        opening: opening.copied(),
        ..Held::default()
    };
    report_log_proof(proof, trust, &held).into_result()
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
