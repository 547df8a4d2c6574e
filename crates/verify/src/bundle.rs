//! Provenance bundles: one JSON file beside a generated file that proves, from the IC root
//! key alone and offline, which log entry it is the output of and which code wrote that
//! entry (docs/provenance.md, "Content labels", defines the format).
//!
//! ```text
//! root key ──▶ entry proof (certificate, witness, inclusion, consistency) ──▶ entry
//!          ──▶ code epoch proof (the same checks) ──▶ kind-3 entry: module hash, first index
//!          ──▶ code certificate (read_state of module_hash, controllers) at labelling time
//! content file ──hash by the entry's kind──▶ entry.output_hash
//! ```
//!
//! The checks are [`crate::verifier`]'s, run on each proof the bundle holds; what this
//! module adds is the bundle's form, the attribution (the epoch covers the entry) and the
//! content hash. frontend/src/verify/bundle.ts is the same in TypeScript; both are held to
//! testdata/bundle.json.

use candid::Principal;
use icinfer_api::{CodeEpoch, EntryKind, LogEntry, LogProof};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::json::{self, JsonError, u64_text};
use crate::merkle::Hash;
use crate::report::{NOT_PROVEN, Outcome, Report};
use crate::tensor::OUTPUTS_DOMAIN;
use crate::verifier::{Held, ProvenEntry, Trust, VerifyError, report_log_proof};
use crate::{hex, short_hex};

/// The `format` field of every bundle.
pub const FORMAT: &str = "icinfer-provenance-bundle";
/// The version this verifier reads and writes. A later version is refused, not guessed at.
pub const VERSION: u64 = 1;
/// The largest bundle read: two proofs and three certificates (each at most
/// `certificate::MAX_CERTIFICATE_BYTES`, 1 MiB, in practice a few KiB), as hex.
pub const MAX_BUNDLE_BYTES: usize = 8 << 20;
/// How far each certificate's time may be from the bundle's `created_ns`: the bundle is
/// checked as of its making (offline, later, the claim is about that time).
pub const MAX_SKEW_NS: u64 = 5 * 60 * 1_000_000_000;

/// A provenance bundle, as read (fields for people only, `recompute` and `content`'s words,
/// are not kept: nothing is checked against them).
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub canister_id: Principal,
    /// The network's URL as the labeller reached it (which root key to trust is the
    /// verifier's choice, not the bundle's).
    pub network: String,
    /// When the bundle was made (the labeller's clock).
    pub created_ns: u64,
    /// The `log_proof` of the entry the content is the output of.
    pub entry: LogProof,
    /// The `log_proof` of the code epoch entry (kind 3) whose code wrote the entry; none if
    /// the entry predates epochs, or its epoch had not been recorded yet.
    pub code_epoch: Option<LogProof>,
    /// A certificate of a `read_state` of `/canister/<id>/module_hash` and `/controllers`.
    pub code_certificate: Option<Vec<u8>>,
    /// The content file's name, as the labeller wrote it.
    pub content_file: Option<String>,
}

/// Why a bundle cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    TooLarge {
        bytes: usize,
    },
    NotJson,
    /// JSON, but its `format` is not [`FORMAT`].
    NotABundle,
    /// A version this verifier does not read.
    UnsupportedVersion {
        version: String,
    },
    Malformed(JsonError),
}

impl BundleError {
    /// The reason code testdata/bundle.json and the TypeScript port use.
    pub fn reason(&self) -> &'static str {
        match self {
            BundleError::TooLarge { .. } => "bundle-too-large",
            BundleError::NotJson => "not-json",
            BundleError::NotABundle => "not-a-bundle",
            BundleError::UnsupportedVersion { .. } => "unsupported-bundle-version",
            BundleError::Malformed(_) => "malformed-bundle",
        }
    }
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::TooLarge { bytes } => write!(
                f,
                "the bundle is {bytes} bytes; a bundle is at most {MAX_BUNDLE_BYTES}"
            ),
            BundleError::NotJson => f.write_str("the bundle is not JSON"),
            BundleError::NotABundle => write!(f, "the file's format is not \"{FORMAT}\""),
            BundleError::UnsupportedVersion { version } => write!(
                f,
                "bundle version {version}: this verifier reads version {VERSION} (a later release reads later ones)"
            ),
            BundleError::Malformed(e) => write!(f, "malformed bundle: {e}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl From<JsonError> for BundleError {
    fn from(e: JsonError) -> Self {
        BundleError::Malformed(e)
    }
}

/// How a content file's bytes hash to an entry's output hash: a generation's completion is
/// hashed as it is; an inference's content is its outputs' canonical tensor list
/// (docs/hashing.md), hashed after the outputs domain. A code epoch and a model's declaration
/// (kind 4) have no content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentHashing {
    Completion,
    OutputTensorList,
}

impl ContentHashing {
    pub fn of(entry: &LogEntry) -> Option<ContentHashing> {
        match entry.kind {
            None | Some(EntryKind::Inference) => Some(ContentHashing::OutputTensorList),
            Some(EntryKind::Generation(_)) => Some(ContentHashing::Completion),
            Some(EntryKind::CodeEpoch(_)) | Some(EntryKind::Model(_)) => None,
        }
    }

    /// The output hash of `content`.
    pub fn hash(self, content: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        if self == ContentHashing::OutputTensorList {
            hasher.update(OUTPUTS_DOMAIN);
        }
        hasher.update(content);
        hasher.finalize().into()
    }

    /// The name of the encoding in the bundle's `content` section.
    pub fn key(self) -> &'static str {
        match self {
            ContentHashing::Completion => "completion-bytes",
            ContentHashing::OutputTensorList => "output-tensor-list",
        }
    }
}

impl Bundle {
    pub fn parse(text: &str) -> Result<Bundle, BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge { bytes: text.len() });
        }
        let value: Value = serde_json::from_str(text).map_err(|_| BundleError::NotJson)?;
        if value["format"].as_str() != Some(FORMAT) {
            return Err(BundleError::NotABundle);
        }
        if value["version"].as_u64() != Some(VERSION) {
            return Err(BundleError::UnsupportedVersion {
                version: value["version"].to_string(),
            });
        }
        let optional = |field: &str| match &value[field] {
            Value::Null => None,
            present => Some(present),
        };
        Ok(Bundle {
            canister_id: json::principal(&value["canister_id"], "canister_id")?,
            network: json::text(&value["network"], "network")?.into(),
            created_ns: json::u64_of(&value["created_ns"], "created_ns")?,
            entry: json::proof_from(&value["entry"], "entry")?,
            code_epoch: optional("code_epoch")
                .map(|proof| json::proof_from(proof, "code_epoch"))
                .transpose()?,
            code_certificate: optional("code_certificate")
                .map(|c| json::bytes(c, "code_certificate"))
                .transpose()?,
            content_file: match &value["content"]["file"] {
                Value::Null => None,
                file => Some(json::text(file, "content.file")?.into()),
            },
        })
    }

    /// The bundle as JSON, with its plain-language `recompute` section.
    pub fn to_json(&self) -> Value {
        let hashing = ContentHashing::of(&self.entry.entry);
        json!({
            "format": FORMAT,
            "version": VERSION,
            "about": "A provenance bundle of icinfer (docs/provenance.md, \"Content labels\"): \
                      it proves from the Internet Computer's root key alone which log entry \
                      the content file is the output of, and which code wrote that entry. \
                      Check it with `icinfer verify --bundle THIS-FILE --content CONTENT-FILE` \
                      or by dropping both on the icinfer web page.",
            "canister_id": self.canister_id.to_text(),
            "network": self.network,
            "created_ns": u64_text(self.created_ns),
            "content": {
                "file": self.content_file,
                "encoding": hashing.map(ContentHashing::key),
            },
            "entry": json::proof_json(&self.entry),
            "code_epoch": self.code_epoch.as_ref().map(json::proof_json),
            "code_certificate": self.code_certificate.as_deref().map(json::hex),
            "recompute": recompute(self),
        })
    }

    fn trust(&self, root_key: &[u8]) -> Trust {
        Trust {
            root_key: root_key.to_vec(),
            canister_id: self.canister_id,
            now_ns: self.created_ns,
            max_age_ns: MAX_SKEW_NS,
        }
    }
}

/// How to recompute every hash by hand, in words (docs/hashing.md has the byte layouts).
fn recompute(bundle: &Bundle) -> Vec<String> {
    let entry = &bundle.entry.entry;
    let content = match ContentHashing::of(entry) {
        Some(ContentHashing::Completion) => format!(
            "Content: SHA-256 of the content file's bytes, as they are, must be the entry's output_hash {}.",
            hex(&entry.output_hash)
        ),
        Some(ContentHashing::OutputTensorList) => format!(
            "Content: the content file holds the outputs' canonical tensor list (docs/hashing.md, \
             \"Tensor lists\"); SHA-256 of the 19 bytes \"icinfer/v1/outputs\\0\" followed by the \
             file's bytes must be the entry's output_hash {}.",
            hex(&entry.output_hash)
        ),
        None => "Content: none (the entry is a code epoch).".into(),
    };
    let mut steps = vec![
        content,
        format!(
            "Entry: entry.entry_bytes is the canonical encoding of log entry #{} (docs/hashing.md, \
             \"Log entries\"); its Merkle leaf is SHA-256(0x00 || entry_bytes).",
            entry.seq
        ),
        format!(
            "Inclusion: hash the leaf with entry.inclusion_proof, leaf to root, as RFC 9162 \
             section 2.1.3.2 says, for leaf {} of {}; the result is entry.tree_root.",
            entry.seq, bundle.entry.tree_size
        ),
        "Consistency: entry.consistency_proof (RFC 9162 section 2.1.4.2) leads from tree_root \
         to entry.head.root_hash."
            .into(),
        format!(
            "Head: SHA-256 of the witness tree entry.head.witness (labels log_root, log_size) \
             must be /canister/{}/certified_data in entry.head.certificate, whose BLS12-381 \
             signature (through its delegation, if any) verifies under the IC root key.",
            bundle.canister_id
        ),
    ];
    if let Some(epoch) = &bundle.code_epoch {
        steps.push(format!(
            "Code: code_epoch proves entry #{} the same way; it is a code epoch (kind 3) whose \
             first_index is at most {}: its module_hash is the code that wrote the entry.",
            epoch.entry.seq, entry.seq
        ));
    }
    if bundle.code_certificate.is_some() {
        steps.push(
            "Code now: code_certificate is the IC's certificate of /canister/<id>/module_hash \
             and /controllers at labelling time, checked under the same root key."
                .into(),
        );
    }
    steps
}

/// What a bundle's checks established, check by check.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleReport {
    /// The entry's proof, with the code certificate held.
    pub entry: Report,
    /// The code epoch entry's proof; none if the bundle holds none.
    pub epoch: Option<Report>,
    /// That the code epoch covers the entry.
    pub attribution: Outcome,
    /// That the content's bytes hash to the entry's output hash.
    pub content: Outcome,
    /// Set when no check failed.
    pub proven: Option<ProvenBundle>,
}

/// A bundle proven.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvenBundle {
    pub entry: ProvenEntry,
    /// The epoch that wrote the entry, and its own entry's index.
    pub epoch: Option<(u64, CodeEpoch)>,
    /// The content's length, if content was checked.
    pub content_bytes: Option<usize>,
}

impl BundleReport {
    /// The first failure: which part (`entry`, `code-epoch`, `attribution`, `content`) and why.
    pub fn failure(&self) -> Option<(&'static str, &VerifyError)> {
        fn failed(outcome: &Outcome) -> Option<&VerifyError> {
            match outcome {
                Outcome::Failed(e) => Some(e),
                _ => None,
            }
        }
        self.entry
            .failure()
            .map(|(_, e)| ("entry", e))
            .or_else(|| {
                self.epoch
                    .as_ref()
                    .and_then(Report::failure)
                    .map(|(_, e)| ("code-epoch", e))
            })
            .or_else(|| failed(&self.attribution).map(|e| ("attribution", e)))
            .or_else(|| failed(&self.content).map(|e| ("content", e)))
    }
}

const NO_EPOCH: &str = "the bundle holds no code epoch (the entry predates code epochs, or its epoch was not recorded yet): the entry is not attributed to a module";
const NO_CONTENT: &str = "no content file was given";

/// Runs every check of a bundle under `root_key`, with `content` the file's bytes (if
/// given) and `expected_module_hashes` the module hashes the code certificate must name
/// (none: any).
pub fn report_bundle(
    bundle: &Bundle,
    root_key: &[u8],
    content: Option<&[u8]>,
    expected_module_hashes: &[Hash],
) -> BundleReport {
    let trust = bundle.trust(root_key);
    let entry = report_log_proof(
        &bundle.entry,
        &trust,
        &Held {
            code_certificate: bundle.code_certificate.as_deref(),
            expected_module_hashes,
            ..Held::default()
        },
    );
    let epoch = bundle
        .code_epoch
        .as_ref()
        .map(|proof| report_log_proof(proof, &trust, &Held::default()));
    let proven_entry = entry.proven.as_ref().map(|p| &p.entry);
    let proven_epoch = epoch.as_ref().map(|r| r.proven.as_ref().map(|p| &p.entry));
    let attributed = match (proven_entry, proven_epoch) {
        (_, None) => Err(Outcome::Skipped(NO_EPOCH)),
        (Some(entry), Some(Some(epoch))) => check_attribution(entry, epoch),
        _ => Err(Outcome::NotRun),
    };
    let content_outcome = match (content, proven_entry) {
        (None, _) => Outcome::Skipped(NO_CONTENT),
        (Some(content), Some(entry)) => match check_content(entry, content) {
            Ok(detail) => Outcome::Proven(detail),
            Err(e) => Outcome::Failed(e),
        },
        (Some(_), None) => Outcome::NotRun,
    };
    let (attribution, attributed_epoch) = match attributed {
        Ok((epoch, detail)) => (Outcome::Proven(detail), Some(epoch)),
        Err(outcome) => (outcome, None),
    };
    let mut report = BundleReport {
        entry,
        epoch,
        attribution,
        content: content_outcome,
        proven: None,
    };
    if report.failure().is_none() {
        report.proven = report.entry.proven.clone().map(|entry| ProvenBundle {
            entry,
            epoch: attributed_epoch,
            content_bytes: content.map(<[u8]>::len),
        });
    }
    report
}

/// The code epoch that wrote entry `seq`, given its (proven) epoch entry: it must be a code
/// epoch that began at or before `seq` (docs/provenance.md, "Code epochs").
pub fn attribute(seq: u64, epoch: &LogEntry) -> Result<&CodeEpoch, VerifyError> {
    let Some(EntryKind::CodeEpoch(code)) = &epoch.kind else {
        return Err(VerifyError::NotACodeEpoch { seq: epoch.seq });
    };
    if code.first_index > seq {
        return Err(VerifyError::EpochAfterEntry {
            first_index: code.first_index,
            seq,
        });
    }
    Ok(code)
}

fn check_attribution(
    entry: &LogEntry,
    epoch: &LogEntry,
) -> Result<((u64, CodeEpoch), String), Outcome> {
    let code = attribute(entry.seq, epoch).map_err(Outcome::Failed)?;
    let detail = format!(
        "entry #{} falls in the code epoch that began at entry #{} (recorded as entry #{}, proven above): written by module {} ({} at canister version {})",
        entry.seq,
        code.first_index,
        epoch.seq,
        hex(&code.module_hash),
        json::mode_text(code.mode),
        code.deployed_version
    );
    Ok(((epoch.seq, code.clone()), detail))
}

/// The content's bytes hash to the entry's output hash, by the entry's kind.
pub fn check_content(entry: &LogEntry, content: &[u8]) -> Result<String, VerifyError> {
    let hashing = ContentHashing::of(entry).ok_or(VerifyError::NoContent)?;
    let hash = hashing.hash(content);
    if hash[..] != entry.output_hash[..] {
        return Err(VerifyError::OutputHashMismatch);
    }
    Ok(format!(
        "the content's {} bytes ({}) hash to the entry's output_hash {}",
        content.len(),
        match hashing {
            ContentHashing::Completion => "a completion, hashed as they are",
            ContentHashing::OutputTensorList => "the outputs' canonical tensor list",
        },
        hex(&hash)
    ))
}

fn write_outcome(
    f: &mut std::fmt::Formatter<'_>,
    title: &str,
    outcome: &Outcome,
) -> std::fmt::Result {
    match outcome {
        Outcome::Proven(detail) => writeln!(f, "✓ {title}: {detail}"),
        Outcome::Skipped(why) => writeln!(f, "– {title}: not proven: {why}"),
        Outcome::NotRun => writeln!(f, "· {title}: not checked, an earlier check failed"),
        Outcome::Failed(e) => writeln!(f, "✗ {title}: FAILED: {e}"),
    }
}

impl std::fmt::Display for BundleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "The entry:")?;
        for check in &self.entry.checks {
            write_outcome(f, check.kind.title(), &check.outcome)?;
        }
        if let Some(epoch) = &self.epoch {
            writeln!(f, "\nThe code epoch entry:")?;
            for check in &epoch.checks {
                write_outcome(f, check.kind.title(), &check.outcome)?;
            }
        }
        writeln!(f)?;
        write_outcome(f, "Code epoch covers the entry", &self.attribution)?;
        write_outcome(
            f,
            "Content hashes to the entry's output hash",
            &self.content,
        )?;
        match (&self.proven, self.failure()) {
            (Some(proven), _) => write!(f, "\n{proven}\n{NOT_PROVEN}"),
            (None, Some((part, e))) => write!(f, "\nNOT VERIFIED: {part}: {e}"),
            (None, None) => Ok(()),
        }
    }
}

impl std::fmt::Display for ProvenBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.entry)?;
        match &self.epoch {
            Some((seq, epoch)) => writeln!(
                f,
                "- Written by module {} (the code epoch of entry #{seq}, from entry #{}){}.",
                hex(&epoch.module_hash),
                epoch.first_index,
                match &self.entry.code {
                    Some(now) if now.module_hash[..] == epoch.module_hash[..] =>
                        ", the module the IC certified at labelling time",
                    Some(_) => "; the canister was upgraded before the bundle was made",
                    None => "",
                }
            )?,
            None => writeln!(f, "- The entry is not attributed to a module.")?,
        }
        match self.content_bytes {
            Some(bytes) => write!(
                f,
                "- The content ({bytes} bytes) is that entry's output (output hash {}).",
                short_hex(&self.entry.entry.output_hash)
            ),
            None => write!(
                f,
                "- No content was given: pass the labelled file to check it is the entry's output."
            ),
        }
    }
}
