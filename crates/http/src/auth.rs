//! Request envelopes: decoding, request ids, signatures, delegations and expiry.
//!
//! A request is `{ content, sender_pubkey?, sender_sig?, sender_delegation? }`. The request
//! id is the representation-independent hash of `content` as sent. A non-anonymous sender
//! must be the self-authenticating id of `sender_pubkey`, and `sender_sig` must sign
//! `"\x0Aic-request" · request_id` with that key or, with delegations, with the key of the
//! last delegation; each delegation is signed by the key before it over
//! `"\x1Aic-request-auth-delegation" · hash_of_map(delegation)`, must not have expired, and
//! may restrict the canisters the request may target. Supported keys: Ed25519 (RFC 8410 DER),
//! ECDSA on secp256k1 and on P-256 (SPKI DER; signatures are the 64-byte `r · s` of SHA-256
//! ECDSA, high `s` refused). Canister signatures and WebAuthn keys are refused.

use crate::cbor::{self, CborError, Fields, as_bytes};
use candid::Principal;
use ciborium::Value;
use std::collections::BTreeSet;

/// The longest time ahead an `ingress_expiry` may be: 5 minutes…
pub const MAX_INGRESS_TTL_NS: u64 = 5 * 60 * 1_000_000_000;
/// …plus this much clock drift.
pub const PERMITTED_DRIFT_NS: u64 = 60 * 1_000_000_000;
/// Most delegations in a chain.
pub const MAX_DELEGATIONS: usize = 20;
/// Most targets in one delegation.
pub const MAX_DELEGATION_TARGETS: usize = 1000;
/// Most paths in a read_state request, and labels per path.
pub const MAX_PATHS: usize = 1000;
/// Most labels in one path.
pub const MAX_PATH_LABELS: usize = 127;
/// Longest nonce.
pub const MAX_NONCE_BYTES: usize = 32;

const REQUEST_DOMAIN: &[u8] = b"\x0Aic-request";
const DELEGATION_DOMAIN: &[u8] = b"\x1Aic-request-auth-delegation";

/// The three request types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// `call`
    Call,
    /// `query`
    Query,
    /// `read_state`
    ReadState,
}

/// A decoded, authenticated request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request id (hash of the content as sent).
    pub id: [u8; 32],
    /// Its type.
    pub kind: RequestType,
    /// The authenticated sender (or the anonymous principal).
    pub sender: Principal,
    /// `ingress_expiry`, ns since the epoch.
    pub ingress_expiry: u64,
    /// Calls and queries: the canister, method and argument.
    pub call: Option<(Principal, String, Vec<u8>)>,
    /// read_state: the paths.
    pub paths: Vec<Vec<Vec<u8>>>,
    /// The canisters the delegations allow, if they restrict them.
    pub targets: Option<BTreeSet<Principal>>,
}

impl Request {
    /// Whether the delegations allow this request to reach `canister`.
    pub fn may_target(&self, canister: &Principal) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(canister))
    }
}

/// Why a request is refused before it runs: an HTTP status and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Refusal {
    /// HTTP status code.
    pub status: u16,
    /// Plain-text body.
    pub message: String,
}

impl Refusal {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<CborError> for Refusal {
    fn from(e: CborError) -> Self {
        Refusal::bad_request(format!("Malformed request: {e}"))
    }
}

/// A public key a request may be signed with.
enum PublicKey {
    Ed25519(ic_ed25519::PublicKey),
    Secp256k1(k256::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    fn from_der(der: &[u8]) -> Result<PublicKey, String> {
        use k256::pkcs8::DecodePublicKey as _;
        if let Ok(k) = ic_ed25519::PublicKey::deserialize_rfc8410_der(der) {
            return Ok(PublicKey::Ed25519(k));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = k256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Secp256k1(k));
        }
        Err(format!(
            "unsupported public key {} (icinfer-http accepts Ed25519, ECDSA secp256k1 and ECDSA P-256 keys; not canister signatures or WebAuthn)",
            hex::encode(&der[..der.len().min(48)])
        ))
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        use k256::ecdsa::signature::Verifier as _;
        let ok = match self {
            PublicKey::Ed25519(k) => k.verify_signature(message, signature).is_ok(),
            PublicKey::Secp256k1(k) => k256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            PublicKey::P256(k) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
        };
        if ok {
            Ok(())
        } else {
            Err("the signature does not verify".into())
        }
    }
}

fn principal(bytes: &[u8], what: &str) -> Result<Principal, Refusal> {
    Principal::try_from_slice(bytes)
        .map_err(|e| Refusal::bad_request(format!("Malformed request: `{what}`: {e}")))
}

fn signed<T>(r: Result<T, String>, what: &str, request_id: &[u8; 32]) -> Result<T, Refusal> {
    r.map_err(|e| {
        Refusal::bad_request(format!(
            "Failed to authenticate request 0x{} due to: invalid {what}: {e}",
            hex::encode(request_id)
        ))
    })
}

/// Decodes an envelope, computes the request id and authenticates it at time `now_ns`.
pub fn authenticate(body: &[u8], now_ns: u64) -> Result<Request, Refusal> {
    let envelope = cbor::decode(body)?;
    let env = Fields::of(&envelope, "the envelope")?;
    let content_value = env.req("content")?;
    let content = Fields::of(content_value, "`content`")?;
    if env.has_duplicates() || content.has_duplicates() {
        return Err(Refusal::bad_request(
            "Malformed request: duplicate keys in a map",
        ));
    }
    let id = cbor::hash_of_map(content_value)?;

    let kind = match content.text("request_type")? {
        "call" => RequestType::Call,
        "query" => RequestType::Query,
        "read_state" => RequestType::ReadState,
        other => {
            return Err(Refusal::bad_request(format!(
                "Malformed request: unknown request_type `{other}`"
            )));
        }
    };
    let sender = principal(content.bytes("sender")?, "sender")?;
    let ingress_expiry = content.nat("ingress_expiry")?;
    if let Some(nonce) = content.opt_bytes("nonce")?
        && nonce.len() > MAX_NONCE_BYTES
    {
        return Err(Refusal::bad_request(format!(
            "Malformed request: the nonce has {} bytes, more than {MAX_NONCE_BYTES}",
            nonce.len()
        )));
    }
    let mut call = None;
    let mut paths = Vec::new();
    match kind {
        RequestType::Call | RequestType::Query => {
            let canister = principal(content.bytes("canister_id")?, "canister_id")?;
            let method = content.text("method_name")?.to_string();
            let arg = content.bytes("arg")?.to_vec();
            call = Some((canister, method, arg));
        }
        RequestType::ReadState => {
            let Value::Array(ps) = content.req("paths")? else {
                return Err(Refusal::bad_request(
                    "Malformed request: `paths` must be an array",
                ));
            };
            if ps.len() > MAX_PATHS {
                return Err(Refusal::bad_request(format!(
                    "Malformed request: more than {MAX_PATHS} paths"
                )));
            }
            for p in ps {
                let Value::Array(labels) = p else {
                    return Err(Refusal::bad_request(
                        "Malformed request: a path must be an array of blobs",
                    ));
                };
                if labels.len() > MAX_PATH_LABELS {
                    return Err(Refusal::bad_request(format!(
                        "Malformed request: a path has more than {MAX_PATH_LABELS} labels"
                    )));
                }
                paths.push(
                    labels
                        .iter()
                        .map(|l| as_bytes(l, "path label").map(<[u8]>::to_vec))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
        }
    }

    // Expiry: every request but anonymous queries and read_state requests.
    let anonymous = sender == Principal::anonymous();
    if !(anonymous && kind != RequestType::Call) {
        let max = now_ns
            .saturating_add(MAX_INGRESS_TTL_NS)
            .saturating_add(PERMITTED_DRIFT_NS);
        if ingress_expiry < now_ns || ingress_expiry > max {
            return Err(Refusal::bad_request(format!(
                "Invalid request expiry: Specified ingress_expiry not within expected range: Minimum allowed expiry: {now_ns}, Maximum allowed expiry: {max}, Provided expiry: {ingress_expiry}"
            )));
        }
    }

    let pubkey = env.opt_bytes("sender_pubkey")?;
    let sig = env.opt_bytes("sender_sig")?;
    let delegations = env.get("sender_delegation");
    let mut targets: Option<BTreeSet<Principal>> = None;
    if anonymous {
        if pubkey.is_some() || sig.is_some() || delegations.is_some() {
            return Err(Refusal::bad_request(
                "Failed to authenticate request: an anonymous request must not carry sender_pubkey, sender_sig or sender_delegation",
            ));
        }
    } else {
        let (Some(pubkey), Some(sig)) = (pubkey, sig) else {
            return Err(Refusal::bad_request(format!(
                "Failed to authenticate request 0x{}: a request from {sender} needs sender_pubkey and sender_sig",
                hex::encode(id)
            )));
        };
        if Principal::self_authenticating(pubkey) != sender {
            return Err(Refusal::bad_request(format!(
                "Failed to authenticate request 0x{}: the sender {sender} is not the principal of sender_pubkey",
                hex::encode(id)
            )));
        }
        let mut key = signed(PublicKey::from_der(pubkey), "sender_pubkey", &id)?;
        let mut seen: Vec<&[u8]> = vec![pubkey];
        if let Some(delegations) = delegations {
            let Value::Array(chain) = delegations else {
                return Err(Refusal::bad_request(
                    "Malformed request: `sender_delegation` must be an array",
                ));
            };
            if chain.len() > MAX_DELEGATIONS {
                return Err(Refusal::bad_request(format!(
                    "Failed to authenticate request 0x{}: more than {MAX_DELEGATIONS} delegations",
                    hex::encode(id)
                )));
            }
            for signed_delegation in chain {
                let sd = Fields::of(signed_delegation, "a signed delegation")?;
                let delegation_value = sd.req("delegation")?;
                let d = Fields::of(delegation_value, "a delegation")?;
                let next = d.bytes("pubkey")?;
                let expiration = d.nat("expiration")?;
                let signature = sd.bytes("signature")?;
                let mut message = DELEGATION_DOMAIN.to_vec();
                message.extend_from_slice(&cbor::hash_of_map(delegation_value)?);
                signed(key.verify(&message, signature), "delegation signature", &id)?;
                if expiration < now_ns {
                    return Err(Refusal::bad_request(format!(
                        "Invalid delegation expiry: a delegation expired at {expiration}, before {now_ns}"
                    )));
                }
                if seen.contains(&next) {
                    return Err(Refusal::bad_request(format!(
                        "Failed to authenticate request 0x{}: the delegation chain has a cycle",
                        hex::encode(id)
                    )));
                }
                seen.push(next);
                if let Some(t) = d.get("targets") {
                    let Value::Array(t) = t else {
                        return Err(Refusal::bad_request(
                            "Malformed request: delegation `targets` must be an array",
                        ));
                    };
                    if t.len() > MAX_DELEGATION_TARGETS {
                        return Err(Refusal::bad_request(format!(
                            "Failed to authenticate request 0x{}: a delegation has more than {MAX_DELEGATION_TARGETS} targets",
                            hex::encode(id)
                        )));
                    }
                    let set = t
                        .iter()
                        .map(|v| principal(as_bytes(v, "target")?, "target"))
                        .collect::<Result<BTreeSet<_>, _>>()?;
                    targets = Some(match targets {
                        None => set,
                        Some(prev) => prev.intersection(&set).copied().collect(),
                    });
                }
                key = signed(PublicKey::from_der(next), "delegated public key", &id)?;
            }
        }
        let mut message = REQUEST_DOMAIN.to_vec();
        message.extend_from_slice(&id);
        signed(key.verify(&message, sig), "sender_sig", &id)?;
    }
    let request = Request {
        id,
        kind,
        sender,
        ingress_expiry,
        call,
        paths,
        targets,
    };
    if let Some((canister, _, _)) = &request.call
        && !request.may_target(canister)
    {
        return Err(Refusal::bad_request(format!(
            "Failed to authenticate request 0x{}: the delegations do not allow canister {canister}",
            hex::encode(id)
        )));
    }
    Ok(request)
}
