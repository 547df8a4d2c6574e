//! Error and reject types.

use candid::Principal;
use std::fmt;

/// The reject codes of the IC interface specification ("Reject codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RejectCode {
    /// Fatal system error; retrying is unlikely to help.
    SysFatal = 1,
    /// Transient system error; retrying may help.
    SysTransient = 2,
    /// The destination (canister or method) does not exist.
    DestinationInvalid = 3,
    /// The canister explicitly rejected the message (`ic0.msg_reject`).
    CanisterReject = 4,
    /// The canister trapped, ran out of instructions or did not reply.
    CanisterError = 5,
    /// The response is unknown (best-effort calls).
    SysUnknown = 6,
}

impl RejectCode {
    /// The code as the System API returns it from `ic0.msg_reject_code`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// A reject response: the code and the message, as a canister or a client sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Reject code.
    pub code: RejectCode,
    /// Human-readable reject message.
    pub message: String,
}

impl Reject {
    pub(crate) fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reject code {} ({:?}): {}",
            self.code.as_u32(),
            self.code,
            self.message
        )
    }
}

/// Errors of the host API itself: a request the host refuses before any canister code runs,
/// or an installation that failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No canister with this id exists on the host.
    #[error("canister {0} not found")]
    CanisterNotFound(Principal),
    /// The sender is not a controller of the canister.
    #[error("{sender} is not a controller of canister {canister}")]
    NotController {
        /// The canister.
        canister: Principal,
        /// The caller that is not a controller.
        sender: Principal,
    },
    /// The module is not one the IC would install.
    #[error("invalid module: {0}")]
    InvalidModule(#[from] crate::validate::ValidationError),
    /// The module imports a function the host does not provide.
    #[error("module imports `{module}.{name}`, which icinfer-host does not provide")]
    UnsupportedImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// The canister already has a module (use `upgrade_canister` or `reinstall_code`).
    #[error("canister {0} already has a module installed")]
    AlreadyInstalled(Principal),
    /// The canister has no module installed.
    #[error("canister {0} has no module installed")]
    NotInstalled(Principal),
    /// `canister_init`, `canister_pre_upgrade` or `canister_post_upgrade` failed; the
    /// canister is left as it was before the request.
    #[error("canister {canister}: {method} failed: {reject}")]
    InstallFailed {
        /// The canister.
        canister: Principal,
        /// The system method that failed.
        method: &'static str,
        /// Why it failed (trap message or instruction limit).
        reject: Reject,
    },
    /// The ingress or query payload exceeds the IC's limit.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The ingress message did not complete (the call tree stalled).
    #[error("the call tree of the ingress message did not produce a response")]
    NoResponse,
    /// Compiling or instantiating the module failed inside wasmtime.
    #[error("wasm engine error: {0}")]
    Engine(String),
    /// Saving or restoring the host's state failed.
    #[error("persistence: {0}")]
    Persist(String),
    /// Reading or writing the compiled-module cache failed.
    #[error("module cache: {0}")]
    Cache(#[from] std::io::Error),
}
