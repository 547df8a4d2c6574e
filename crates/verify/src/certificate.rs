//! IC certificates, verified as the interface specification defines them ("Certification"
//! and "Delegation"), from nothing but the IC's root public key.
//!
//! ```text
//! Certificate = { tree: HashTree, signature: blob, delegation?: { subnet_id, certificate } }
//!
//! key = root key                                     without a delegation
//!     = /subnet/<subnet_id>/public_key of the        with one; that certificate is signed
//!       delegation's certificate                     by the root key and has no delegation
//! signature: BLS12-381 (min-sig) over "\x0Dic-state-root" || root_hash(tree), under key
//! canister ranges (delegations only): the canister must lie in a range the root subnet
//!   assigned to the delegated subnet, read from /subnet/<subnet_id>/canister_ranges (flat
//!   format) and/or /canister_ranges/<subnet_id>/<range start> (sharded format); each
//!   format that is present must contain it, and at least one must be
//! data: /time (LEB128 ns), /canister/<canister_id>/certified_data (a query's data
//!   certificate), or /canister/<canister_id>/module_hash and /controllers (a read_state)
//! ```
//! Canister ranges are CBOR arrays of `[start, end]` principal pairs, inclusive, compared
//! bytewise. A delegation's own `/time` is not checked, as the IC's own verifier does not.

use candid::Principal;
use ic_certification::hash_tree::{HashTree, LookupResult, SubtreeLookupResult};
use ic_certification::{Certificate, Delegation};
use serde_bytes::ByteBuf;

use crate::head::decode_leb128;

/// DER prefix of an IC BLS12-381 public key (algorithm OID 1.3.6.1.4.1.44668.5.3.1.2.1,
/// curve OID 1.3.6.1.4.1.44668.5.3.2.1), followed by the 96-byte compressed G2 point.
pub const BLS_KEY_DER_PREFIX: [u8; 37] = [
    0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05,
    0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05, 0x03,
    0x02, 0x01, 0x03, 0x61, 0x00,
];

/// The domain separator of state-root signatures: its length, then "ic-state-root".
pub const STATE_ROOT_DOMAIN: &[u8] = b"\x0Dic-state-root";

/// Certificates larger than this are refused before decoding (a mainnet data certificate
/// with its delegation is a few KiB).
pub const MAX_CERTIFICATE_BYTES: usize = 1 << 20;

/// What a valid certificate establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// The certificate's `/time`, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The canister's certified data at that time.
    pub certified_data: Vec<u8>,
    /// The subnet the root key delegated to, if the certificate carried a delegation.
    pub delegated_subnet: Option<Principal>,
}

/// Why a certificate is not valid for a canister.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateError {
    TooLarge {
        len: usize,
    },
    /// Not CBOR of a certificate (or of its delegation's certificate).
    Malformed {
        reason: String,
    },
    /// The root key is neither a DER BLS key nor a raw 96-byte one.
    MalformedRootKey,
    /// The delegation's certificate itself carries a delegation; the IC never makes these.
    NestedDelegation,
    /// The delegation's certificate has no public key for the subnet, or a malformed one.
    MissingSubnetKey {
        subnet: Principal,
    },
    /// The delegation's certificate lists no canister ranges for the subnet.
    MissingCanisterRanges {
        subnet: Principal,
    },
    /// The subnet the root key delegated to is not assigned this canister.
    CanisterOutOfRange {
        canister: Principal,
        subnet: Principal,
    },
    /// A BLS signature does not verify: `which` is "certificate" or "delegation".
    InvalidSignature {
        which: &'static str,
    },
    /// `/time` is missing or not a LEB128 number.
    MissingTime,
    /// The tree holds no certified data for the canister.
    MissingCertifiedData {
        canister: Principal,
    },
}

impl CertificateError {
    /// The reason code the corpus (testdata/verifier.json) and the TypeScript port use.
    pub fn reason(&self) -> &'static str {
        match self {
            CertificateError::TooLarge { .. } => "certificate-too-large",
            CertificateError::Malformed { .. } => "malformed-certificate",
            CertificateError::MalformedRootKey => "malformed-root-key",
            CertificateError::NestedDelegation => "nested-delegation",
            CertificateError::MissingSubnetKey { .. } => "missing-subnet-key",
            CertificateError::MissingCanisterRanges { .. } => "missing-canister-ranges",
            CertificateError::CanisterOutOfRange { .. } => "canister-out-of-range",
            CertificateError::InvalidSignature { .. } => "invalid-signature",
            CertificateError::MissingTime => "missing-time",
            CertificateError::MissingCertifiedData { .. } => "missing-certified-data",
        }
    }
}

impl std::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateError::TooLarge { len } => write!(
                f,
                "certificate of {len} bytes exceeds {MAX_CERTIFICATE_BYTES} bytes"
            ),
            CertificateError::Malformed { reason } => write!(f, "malformed certificate: {reason}"),
            CertificateError::MalformedRootKey => {
                f.write_str("the root key is not a BLS12-381 public key (DER or 96 raw bytes)")
            }
            CertificateError::NestedDelegation => {
                f.write_str("the delegation's certificate carries a delegation itself")
            }
            CertificateError::MissingSubnetKey { subnet } => {
                write!(
                    f,
                    "the delegation has no valid public key for subnet {subnet}"
                )
            }
            CertificateError::MissingCanisterRanges { subnet } => {
                write!(
                    f,
                    "the delegation lists no canister ranges for subnet {subnet}"
                )
            }
            CertificateError::CanisterOutOfRange { canister, subnet } => write!(
                f,
                "canister {canister} is not in the ranges the root key assigned to subnet {subnet}"
            ),
            CertificateError::InvalidSignature { which } => {
                write!(f, "the {which} signature does not verify")
            }
            CertificateError::MissingTime => f.write_str("the certificate has no valid /time"),
            CertificateError::MissingCertifiedData { canister } => {
                write!(f, "the certificate holds no certified data for {canister}")
            }
        }
    }
}

impl std::error::Error for CertificateError {}

/// The 96-byte BLS public key inside `key`, which is either DER (as agents and
/// `ic0.root_key_copy` give it) or already raw.
pub fn raw_bls_key(key: &[u8]) -> Option<&[u8]> {
    match key.len() {
        96 => Some(key),
        133 if key[..37] == BLS_KEY_DER_PREFIX => Some(&key[37..]),
        _ => None,
    }
}

/// Verifies `certificate` against the IC's `root_key` for `canister` and returns its time
/// and the canister's certified data. Freshness is the caller's policy (see
/// [`crate::verifier`]).
pub fn verify_certificate(
    certificate: &[u8],
    root_key: &[u8],
    canister: &Principal,
) -> Result<VerifiedCertificate, CertificateError> {
    let signed = verify_signed_tree(certificate, root_key, canister)?;
    let certified_data = signed
        .lookup(&[b"canister", canister.as_slice(), b"certified_data"])
        .ok_or(CertificateError::MissingCertifiedData {
            canister: *canister,
        })?;
    Ok(VerifiedCertificate {
        time_ns: signed.time_ns,
        certified_data,
        delegated_subnet: signed.delegated_subnet,
    })
}

/// What a valid certificate of a `read_state` of `/canister/<id>/module_hash` and
/// `/canister/<id>/controllers` establishes: the code installed in the canister, and who may
/// change it, at the certificate's time. Either value is `None` when the tree does not hold
/// it (an empty canister has no module hash); the verifier decides what that means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCodeState {
    pub time_ns: u64,
    pub delegated_subnet: Option<Principal>,
    /// `/canister/<id>/module_hash`: the SHA-256 of the module as installed.
    pub module_hash: Option<Vec<u8>>,
    /// `/canister/<id>/controllers`: CBOR (tag 55799) of an array of principals' bytes.
    pub controllers: Option<Vec<u8>>,
}

/// Verifies the certificate of a `read_state` of the canister's module hash and controllers
/// as [`verify_certificate`] verifies a data certificate (signature, delegation, ranges,
/// `/time`), and returns what it holds at those paths.
pub fn verify_code_certificate(
    certificate: &[u8],
    root_key: &[u8],
    canister: &Principal,
) -> Result<VerifiedCodeState, CertificateError> {
    let signed = verify_signed_tree(certificate, root_key, canister)?;
    let at = |name: &[u8]| signed.lookup(&[b"canister", canister.as_slice(), name]);
    Ok(VerifiedCodeState {
        time_ns: signed.time_ns,
        delegated_subnet: signed.delegated_subnet,
        module_hash: at(b"module_hash"),
        controllers: at(b"controllers"),
    })
}

/// The controllers in the CBOR the IC certifies at `/canister/<id>/controllers`: an array
/// of byte strings, each a principal, optionally tagged 55799 (the interface
/// specification, "Canister information").
pub fn decode_controllers(cbor: &[u8]) -> Result<Vec<Principal>, CertificateError> {
    let list: Vec<ByteBuf> = decode_cbor(cbor, "controllers")?;
    list.iter()
        .map(|bytes| {
            Principal::try_from_slice(bytes).map_err(|e| CertificateError::Malformed {
                reason: format!("controllers: {e}"),
            })
        })
        .collect()
}

/// A certificate whose signature (and delegation) verified, and its `/time`.
struct SignedTree {
    certificate: Certificate,
    time_ns: u64,
    delegated_subnet: Option<Principal>,
}

impl SignedTree {
    fn lookup(&self, path: &[&[u8]]) -> Option<Vec<u8>> {
        match self.certificate.tree.lookup_path(path.iter().copied()) {
            LookupResult::Found(bytes) => Some(bytes.to_vec()),
            _ => None,
        }
    }
}

fn verify_signed_tree(
    certificate: &[u8],
    root_key: &[u8],
    canister: &Principal,
) -> Result<SignedTree, CertificateError> {
    let root_key = raw_bls_key(root_key).ok_or(CertificateError::MalformedRootKey)?;
    let certificate = parse_certificate(certificate)?;
    let (key, delegated_subnet) = match &certificate.delegation {
        None => (root_key.to_vec(), None),
        Some(delegation) => {
            let (key, subnet) = verify_delegation(delegation, root_key, canister)?;
            (key, Some(subnet))
        }
    };
    check_signature(&certificate, &key, "certificate")?;
    let time_ns = match certificate.tree.lookup_path([b"time".as_slice()]) {
        LookupResult::Found(bytes) => decode_leb128(bytes).ok_or(CertificateError::MissingTime)?,
        _ => return Err(CertificateError::MissingTime),
    };
    Ok(SignedTree {
        certificate,
        time_ns,
        delegated_subnet,
    })
}

fn parse_certificate(bytes: &[u8]) -> Result<Certificate, CertificateError> {
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(CertificateError::TooLarge { len: bytes.len() });
    }
    decode_cbor(bytes, "certificate")
}

/// The self-describing CBOR tag 55799 the IC puts in front of its CBOR.
pub const SELF_DESCRIBING_TAG: [u8; 3] = [0xd9, 0xd9, 0xf7];

/// Decodes IC CBOR: optionally tagged 55799 and with no other tag in front (serde_cbor
/// skips tags it is not asked for, so a changed tag would otherwise go unnoticed).
pub(crate) fn decode_cbor<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, CertificateError> {
    let body = bytes.strip_prefix(&SELF_DESCRIBING_TAG).unwrap_or(bytes);
    if body.first().is_some_and(|b| b >> 5 == 6) {
        return Err(CertificateError::Malformed {
            reason: format!("{what}: unexpected CBOR tag"),
        });
    }
    serde_cbor::from_slice(body).map_err(|e| CertificateError::Malformed {
        reason: format!("{what}: {e}"),
    })
}

fn check_signature(
    certificate: &Certificate,
    key: &[u8],
    which: &'static str,
) -> Result<(), CertificateError> {
    let mut message = STATE_ROOT_DOMAIN.to_vec();
    message.extend_from_slice(&certificate.tree.digest());
    ic_verify_bls_signature::verify_bls_signature(&certificate.signature, &message, key)
        .map_err(|()| CertificateError::InvalidSignature { which })
}

/// Checks a delegation from the root key to a subnet, for `canister`, and returns the
/// subnet's key and id.
fn verify_delegation(
    delegation: &Delegation,
    root_key: &[u8],
    canister: &Principal,
) -> Result<(Vec<u8>, Principal), CertificateError> {
    let subnet = Principal::try_from_slice(&delegation.subnet_id).map_err(|e| {
        CertificateError::Malformed {
            reason: format!("delegation subnet id: {e}"),
        }
    })?;
    let inner = parse_certificate(&delegation.certificate)?;
    if inner.delegation.is_some() {
        return Err(CertificateError::NestedDelegation);
    }
    check_signature(&inner, root_key, "delegation")?;

    let out_of_range = CertificateError::CanisterOutOfRange {
        canister: *canister,
        subnet,
    };
    let mut found_ranges = false;
    let flat_path: [&[u8]; 3] = [b"subnet", subnet.as_slice(), b"canister_ranges"];
    if let LookupResult::Found(ranges) = inner.tree.lookup_path(flat_path) {
        found_ranges = true;
        if !ranges_contain(ranges, canister)? {
            return Err(out_of_range);
        }
    }
    let sharded_path: [&[u8]; 2] = [b"canister_ranges", subnet.as_slice()];
    if let SubtreeLookupResult::Found(shards) = inner.tree.lookup_subtree(sharded_path) {
        found_ranges = true;
        if !shards_contain(&shards, canister)? {
            return Err(out_of_range);
        }
    }
    if !found_ranges {
        return Err(CertificateError::MissingCanisterRanges { subnet });
    }
    // After the ranges, as agent-js checks them (so both name the same reason first).
    let key_path: [&[u8]; 3] = [b"subnet", subnet.as_slice(), b"public_key"];
    let key = match inner.tree.lookup_path(key_path) {
        LookupResult::Found(der) => raw_bls_key(der).map(<[u8]>::to_vec),
        _ => None,
    }
    .ok_or(CertificateError::MissingSubnetKey { subnet })?;
    Ok((key, subnet))
}

/// Whether a CBOR list of inclusive `[start, end]` ranges contains `canister`.
fn ranges_contain(cbor: &[u8], canister: &Principal) -> Result<bool, CertificateError> {
    let ranges: Vec<(ByteBuf, ByteBuf)> = decode_cbor(cbor, "canister ranges")?;
    let id = canister.as_slice();
    Ok(ranges
        .iter()
        .any(|(start, end)| start.as_slice() <= id && id <= end.as_slice()))
}

/// The sharded format: one leaf per shard, labelled by its first range's start. A witness
/// shows the shard that may hold the canister and prunes the others; any shown shard
/// whose ranges contain the canister proves the assignment.
fn shards_contain(
    shards: &HashTree<Vec<u8>>,
    canister: &Principal,
) -> Result<bool, CertificateError> {
    for path in shards.list_paths() {
        if let LookupResult::Found(ranges) = shards.lookup_path(path.iter().map(|l| l.as_bytes()))
            && ranges_contain(ranges, canister)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_certificates_are_refused_before_decoding() {
        let huge = vec![0u8; MAX_CERTIFICATE_BYTES + 1];
        let canister = Principal::from_slice(&[1]);
        assert_eq!(
            verify_certificate(&huge, &[0; 96], &canister),
            Err(CertificateError::TooLarge { len: huge.len() })
        );
    }
}
