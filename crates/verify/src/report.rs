//! What a verification established, check by check: the report `icinfer verify` prints and
//! the web page's checklist mirrors (frontend/src/verify/verifier.ts has the same checks,
//! keys, statuses and reason codes, and both are held to testdata/verifier.json).
//!
//! Each check is proven, failed (with a [`VerifyError`], whose [`VerifyError::reason`] is
//! the reason code the corpus names), skipped (the verifier was given nothing to check it
//! against: not proven, not failed), or not run (a check it builds on failed).

use crate::verifier::{ProvenEntry, VerifyError};

/// The checks of a log proof, in the order they run; each builds on the ones before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    Certificate,
    Freshness,
    Witness,
    Entry,
    Inclusion,
    Consistency,
    InputHash,
    OutputHash,
    Model,
    ModuleHash,
    Controllers,
}

impl CheckKind {
    pub const ALL: [CheckKind; 11] = [
        CheckKind::Certificate,
        CheckKind::Freshness,
        CheckKind::Witness,
        CheckKind::Entry,
        CheckKind::Inclusion,
        CheckKind::Consistency,
        CheckKind::InputHash,
        CheckKind::OutputHash,
        CheckKind::Model,
        CheckKind::ModuleHash,
        CheckKind::Controllers,
    ];

    /// The check's key in the corpus and on the web page.
    pub fn key(self) -> &'static str {
        match self {
            CheckKind::Certificate => "certificate",
            CheckKind::Freshness => "freshness",
            CheckKind::Witness => "witness",
            CheckKind::Entry => "entry",
            CheckKind::Inclusion => "inclusion",
            CheckKind::Consistency => "consistency",
            CheckKind::InputHash => "input-hash",
            CheckKind::OutputHash => "output-hash",
            CheckKind::Model => "model",
            CheckKind::ModuleHash => "module-hash",
            CheckKind::Controllers => "controllers",
        }
    }

    /// What the check checks.
    pub fn title(self) -> &'static str {
        match self {
            CheckKind::Certificate => "IC certificate (BLS signature, delegation, certified data)",
            CheckKind::Freshness => "Certificate freshness",
            CheckKind::Witness => "Witness: certified (log size, Merkle root)",
            CheckKind::Entry => "Entry bytes are the canonical encoding of the entry",
            CheckKind::Inclusion => "RFC 9162 inclusion proof",
            CheckKind::Consistency => "RFC 9162 consistency proof to the certified head",
            CheckKind::InputHash => "Input hash recomputed from the inputs and nonce",
            CheckKind::OutputHash => "Output hash recomputed from the outputs",
            CheckKind::Model => "Model SHA-256 is the entry's",
            CheckKind::ModuleHash => "Module hash the IC certifies for the canister now",
            CheckKind::Controllers => "Controllers the IC certifies for the canister now",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The check passed: what it established, in words.
    Proven(String),
    /// Not proven: nothing was given to check it against (why, in words).
    Skipped(&'static str),
    /// Not proven: a check it builds on failed.
    NotRun,
    Failed(VerifyError),
}

impl Outcome {
    /// The status as the corpus and the web page name it.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Proven(_) => "passed",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotRun => "not-run",
            Outcome::Failed(_) => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    pub outcome: Outcome,
}

/// Every check of a log proof, in [`CheckKind::ALL`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Set when no check failed.
    pub proven: Option<ProvenEntry>,
}

/// What no check here proves (docs/provenance.md, "What it does not prove").
pub const NOT_PROVEN: &str = "Not proven: that the module certified now is the one that wrote \
     the entry (controllers can upgrade the canister; the code epochs of the log attribute \
     each entry to the module of its version, docs/provenance.md), nor that a module is a \
     build of the source you read unless you built it or pinned a release \
     (--expect-module-hash, --release).";

impl Report {
    /// The check that failed, if one did (checks after it were not run).
    pub fn failure(&self) -> Option<(CheckKind, &VerifyError)> {
        self.checks.iter().find_map(|check| match &check.outcome {
            Outcome::Failed(e) => Some((check.kind, e)),
            _ => None,
        })
    }

    pub fn outcome(&self, kind: CheckKind) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| &c.outcome)
    }

    pub fn into_result(self) -> Result<ProvenEntry, VerifyError> {
        match (self.proven, self.checks.into_iter().map(|c| c.outcome)) {
            (Some(proven), _) => Ok(proven),
            (None, mut outcomes) => Err(outcomes
                .find_map(|o| match o {
                    Outcome::Failed(e) => Some(e),
                    _ => None,
                })
                .expect("a report without a proven entry has a failed check")),
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for check in &self.checks {
            let title = check.kind.title();
            match &check.outcome {
                Outcome::Proven(detail) => writeln!(f, "✓ {title}: {detail}")?,
                Outcome::Skipped(why) => writeln!(f, "– {title}: not proven: {why}")?,
                Outcome::NotRun => writeln!(f, "· {title}: not checked, an earlier check failed")?,
                Outcome::Failed(e) => writeln!(f, "✗ {title}: FAILED: {e}")?,
            }
        }
        match (&self.proven, self.failure()) {
            (Some(proven), _) => write!(f, "\n{proven}\n{NOT_PROVEN}"),
            (None, Some((kind, e))) => write!(f, "\nNOT VERIFIED: {}: {e}", kind.title()),
            (None, None) => Ok(()),
        }
    }
}

/// Runs checks in order: once one fails, the rest are recorded as not run.
#[derive(Default)]
pub(crate) struct Checklist {
    checks: Vec<Check>,
}

impl Checklist {
    fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// Runs `step` on what the check builds on (None once a check failed).
    pub(crate) fn run<A, T>(
        &mut self,
        kind: CheckKind,
        input: Option<A>,
        step: impl FnOnce(A) -> Result<(T, String), VerifyError>,
    ) -> Option<T> {
        let input = match input {
            Some(input) if !self.failed() => input,
            _ => return self.record(kind, Outcome::NotRun),
        };
        match step(input) {
            Ok((value, detail)) => {
                self.record::<()>(kind, Outcome::Proven(detail));
                Some(value)
            }
            Err(e) => self.record(kind, Outcome::Failed(e)),
        }
    }

    /// Records a check nothing was given for (or not run, if an earlier one failed).
    pub(crate) fn skip(&mut self, kind: CheckKind, why: &'static str) {
        let outcome = if self.failed() {
            Outcome::NotRun
        } else {
            Outcome::Skipped(why)
        };
        self.record::<()>(kind, outcome);
    }

    fn record<T>(&mut self, kind: CheckKind, outcome: Outcome) -> Option<T> {
        self.checks.push(Check { kind, outcome });
        None
    }

    /// The report; `proven` is what the checks established, kept only if none failed.
    pub(crate) fn finish(self, proven: Option<ProvenEntry>) -> Report {
        let proven = proven.filter(|_| !self.failed());
        Report {
            checks: self.checks,
            proven,
        }
    }
}
