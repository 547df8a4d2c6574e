//! ic-agent against the served host, at the agent's default settings (query signatures are
//! verified; every certificate is checked against the fetched root key).
//!
//! Setup: the host-test-canister installed through the host API, the host served on
//! 127.0.0.1:<free port>. Runbook and success criteria per test.

mod common;

use candid::{Decode, Encode, Principal};
use common::*;
use ic_agent::identity::{
    BasicIdentity, DelegatedIdentity, Delegation, Prime256v1Identity, Secp256k1Identity,
    SignedDelegation,
};
use ic_agent::{Agent, Identity};
use sha2::{Digest, Sha256};

fn ed25519(n: u8) -> BasicIdentity {
    BasicIdentity::from_raw_key(&[n; 32])
}

fn secp256k1(n: u8) -> Secp256k1Identity {
    Secp256k1Identity::from_private_key(k256::SecretKey::from_slice(&[n; 32]).unwrap())
}

fn p256(n: u8) -> Prime256v1Identity {
    Prime256v1Identity::from_private_key(p256::SecretKey::from_slice(&[n; 32]).unwrap())
}

async fn agent(url: &str, identity: impl Identity + 'static) -> Agent {
    let agent = Agent::builder()
        .with_url(url)
        .with_identity(identity)
        .build()
        .expect("agent");
    agent.fetch_root_key().await.expect("fetch the root key");
    agent
}

/// The root key from /api/v2/status is the host's; queries, sync updates and state reads
/// verify; the caller the canister sees is the identity's principal, for an Ed25519 and a
/// secp256k1 identity.
#[tokio::test]
async fn queries_and_sync_updates_with_ed25519_and_secp256k1() {
    let s = serve_test_canister();
    let url = s.server.url();
    let host_root_key = s.handle.with(|h| h.root_key_der());

    let status = Agent::builder()
        .with_url(&url)
        .build()
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!(status.root_key.as_deref(), Some(&host_root_key[..]));

    let identities: Vec<(Box<dyn Identity>, &str)> = vec![
        (Box::new(ed25519(1)), "ed25519"),
        (Box::new(secp256k1(2)), "secp256k1"),
    ];
    for (identity, name) in identities {
        let me = identity.sender().unwrap();
        let agent = agent(&url, BoxedIdentity(identity)).await;
        assert_eq!(agent.read_root_key(), host_root_key, "{name}");

        // Query (signed response verified by the agent).
        let reply = agent
            .query(&s.canister, "greet")
            .with_arg(Encode!(&name.to_string()).unwrap())
            .call()
            .await
            .expect("query");
        assert_eq!(Decode!(&reply, String).unwrap(), format!("Hello, {name}!"));
        let who = agent
            .query(&s.canister, "whoami")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(
            Decode!(&who, Principal).unwrap(),
            me,
            "{name}: query caller"
        );

        // Synchronous update (v4 call; certificate verified by the agent).
        let who = agent
            .update(&s.canister, "whoami_update")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .expect("update");
        assert_eq!(
            Decode!(&who, Principal).unwrap(),
            me,
            "{name}: update caller"
        );
        agent
            .update(&s.canister, "set_heap")
            .with_arg(Encode!(&42u64).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let v = agent
            .query(&s.canister, "get_heap")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(Decode!(&v, u64).unwrap(), 42);
    }
}

/// Wraps a boxed identity (the agent builder takes `impl Identity`).
struct BoxedIdentity(Box<dyn Identity>);

impl Identity for BoxedIdentity {
    fn sender(&self) -> Result<Principal, String> {
        self.0.sender()
    }
    fn public_key(&self) -> Option<Vec<u8>> {
        self.0.public_key()
    }
    fn sign(
        &self,
        content: &ic_agent::agent::EnvelopeContent,
    ) -> Result<ic_agent::Signature, String> {
        self.0.sign(content)
    }
    fn sign_delegation(&self, content: &Delegation) -> Result<ic_agent::Signature, String> {
        self.0.sign_delegation(content)
    }
    fn sign_arbitrary(&self, content: &[u8]) -> Result<ic_agent::Signature, String> {
        self.0.sign_arbitrary(content)
    }
    fn delegation_chain(&self) -> Vec<SignedDelegation> {
        self.0.delegation_chain()
    }
}

/// Canister rejects and traps come back as certified rejects with the IC's codes.
#[tokio::test]
async fn rejects_are_certified() {
    let s = serve_test_canister();
    let agent = agent(&s.server.url(), ed25519(3)).await;
    let err = agent
        .update(&s.canister, "callee_trap")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .expect_err("the canister traps");
    match err {
        ic_agent::AgentError::CertifiedReject { reject, .. } => {
            assert_eq!(
                reject.reject_code,
                ic_agent::agent::RejectCode::CanisterError
            );
            assert!(
                reject.reject_message.contains("callee trapped on purpose"),
                "{}",
                reject.reject_message
            );
            assert_eq!(reject.error_code.as_deref(), Some("IC0503"));
        }
        other => panic!("expected a certified reject, got {other}"),
    }
    let err = agent
        .update(&s.canister, "callee_reject")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .expect_err("the canister rejects");
    assert!(
        matches!(&err, ic_agent::AgentError::CertifiedReject { reject, .. } if reject.reject_code == ic_agent::agent::RejectCode::CanisterReject),
        "{err}"
    );
    // A rejected query is signed too (the agent verifies it before reporting the reject).
    let err = agent
        .query(&s.canister, "no_such_method")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .expect_err("no such method");
    assert!(
        matches!(err, ic_agent::AgentError::UncertifiedReject { .. }),
        "{err}"
    );
    // A call to a canister that does not exist is not accepted (non-replicated rejection).
    let missing = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0, 1, 1]);
    let err = agent
        .update(&missing, "set_heap")
        .with_arg(Encode!(&1u64).unwrap())
        .call_and_wait()
        .await
        .expect_err("no such canister");
    match err {
        ic_agent::AgentError::UncertifiedReject { reject, .. } => {
            assert_eq!(
                reject.reject_code,
                ic_agent::agent::RejectCode::DestinationInvalid
            );
        }
        other => panic!("expected a non-replicated rejection, got {other}"),
    }
}

/// The v2 asynchronous call: 202, then the agent polls read_state until the reply.
#[tokio::test]
async fn async_v2_call_then_poll_read_state() {
    let s = serve_test_canister();
    let agent = agent(&s.server.url(), secp256k1(4)).await;
    let signed = agent
        .update(&s.canister, "set_heap")
        .with_arg(Encode!(&7u64).unwrap())
        .sign()
        .expect("sign");
    let url = format!("{}/api/v2/canister/{}/call", s.server.url(), s.canister);
    let (status, body) = post(&url, signed.signed_update.clone()).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    assert!(body.is_empty());
    let (reply, _certificate) = agent
        .wait(&signed.request_id, s.canister)
        .await
        .expect("poll");
    assert!(reply.starts_with(b"DIDL"), "a Candid reply");
    // Submitting the same request again does not run it again; it stays replied.
    let (status, _) = post(&url, signed.signed_update).await;
    assert_eq!(status, 202);
    let v = agent
        .query(&s.canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&v, u64).unwrap(), 7);

    // Another sender may not read this request's status.
    let other = agent_for(&s, ed25519(9)).await;
    let err = other
        .request_status_raw(&signed.request_id, s.canister)
        .await
        .expect_err("not the sender");
    assert!(
        err.to_string().contains("403") || err.to_string().contains("not signed by the caller"),
        "{err}"
    );
    // An unknown request id is proven absent.
    let unknown = ic_agent::RequestId::new(&[7; 32]);
    let (status, _) = agent
        .request_status_raw(&unknown, s.canister)
        .await
        .expect("absence proof");
    assert!(
        matches!(status, ic_agent::agent::RequestStatusResponse::Unknown),
        "{status:?}"
    );
}

async fn agent_for(s: &Served, identity: impl Identity + 'static) -> Agent {
    agent(&s.server.url(), identity).await
}

/// Certified data: the data certificate a query gets verifies with the agent, and its
/// witness holds the certified data; module hash and controllers verify through read_state.
#[tokio::test]
async fn certified_data_and_canister_info_verify() {
    let s = serve_test_canister();
    let agent = agent(&s.server.url(), ed25519(5)).await;
    let data = [0xabu8; 32].to_vec();
    agent
        .update(&s.canister, "set_certified")
        .with_arg(Encode!(&data).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let reply = agent
        .query(&s.canister, "certificate")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    let bytes = Decode!(&reply, Option<Vec<u8>>)
        .unwrap()
        .expect("a query gets a data certificate");
    let cert: ic_agent::Certificate = serde_cbor::from_slice(&bytes).expect("certificate CBOR");
    agent
        .verify(&cert, s.canister)
        .expect("the agent accepts the data certificate");
    let path: [&[u8]; 3] = [b"canister", s.canister.as_slice(), b"certified_data"];
    assert_eq!(
        cert.tree.lookup_path(path),
        ic_agent::hash_tree::LookupResult::Found(&data[..])
    );
    // A tampered witness no longer verifies.
    let mut tampered = bytes.clone();
    let at = tampered
        .windows(32)
        .position(|w| w == &data[..])
        .expect("data in the certificate");
    tampered[at] ^= 1;
    let bad: ic_agent::Certificate = serde_cbor::from_slice(&tampered).unwrap();
    assert!(agent.verify(&bad, s.canister).is_err());

    let wasm = test_canister_wasm();
    let hash = agent
        .read_state_canister_module_hash(s.canister)
        .await
        .expect("module hash");
    assert_eq!(hash, Sha256::digest(&wasm).to_vec());
    let controllers = agent
        .read_state_canister_controllers(s.canister)
        .await
        .expect("controllers");
    assert_eq!(controllers, vec![controller()]);
    // The subnet: the root key and the node key the queries are signed with.
    let subnet = agent
        .get_subnet_by_canister(&s.canister)
        .await
        .expect("subnet");
    assert_eq!(subnet.id(), s.handle.subnet_id());
    assert!(subnet.contains_node(&s.handle.node_id()));
    let time = agent
        .read_state_raw(vec![vec!["time".into()]], s.canister)
        .await
        .expect("time");
    assert!(matches!(
        time.tree.lookup_path([b"time"]),
        ic_agent::hash_tree::LookupResult::Found(_)
    ));
}

/// A delegation chain (Ed25519 → P-256 session key) authenticates as the root identity;
/// a delegation restricted to other canisters is refused.
#[tokio::test]
async fn delegations_authenticate_the_delegating_principal() {
    let s = serve_test_canister();
    let root = ed25519(6);
    let session = p256(7);
    let expiration = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + std::time::Duration::from_secs(600))
    .as_nanos() as u64;
    let delegate = |targets: Option<Vec<Principal>>| {
        let delegation = Delegation {
            pubkey: session.public_key().unwrap(),
            expiration,
            targets,
            permissions: None,
        };
        let signature = root
            .sign_delegation(&delegation)
            .unwrap()
            .signature
            .unwrap();
        SignedDelegation {
            delegation,
            signature,
        }
    };
    let identity = DelegatedIdentity::new_unchecked(
        root.public_key().unwrap(),
        Box::new(p256(7)),
        vec![delegate(Some(vec![s.canister]))],
    );
    let agent = agent(&s.server.url(), identity).await;
    let who = agent
        .update(&s.canister, "whoami_update")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .expect("delegated update");
    assert_eq!(Decode!(&who, Principal).unwrap(), root.sender().unwrap());

    let elsewhere = DelegatedIdentity::new_unchecked(
        root.public_key().unwrap(),
        Box::new(p256(7)),
        vec![delegate(Some(vec![Principal::from_slice(&[9; 10])]))],
    );
    let agent = agent_for(&s, elsewhere).await;
    let err = agent
        .update(&s.canister, "whoami_update")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .expect_err("the delegation does not cover this canister");
    assert!(err.to_string().contains("400"), "{err}");
}

/// Tampered requests are refused with 400 and never run: a flipped signature bit, a changed
/// field (so the request id no longer matches the signature), an expired request, and a
/// sender that is not the key's principal.
#[tokio::test]
async fn tampered_or_expired_requests_are_refused() {
    let s = serve_test_canister();
    let agent = agent(&s.server.url(), ed25519(8)).await;
    let call_url = format!("{}/api/v3/canister/{}/call", s.server.url(), s.canister);
    let query_url = format!("{}/api/v3/canister/{}/query", s.server.url(), s.canister);

    let signed = agent
        .update(&s.canister, "set_heap")
        .with_arg(Encode!(&99u64).unwrap())
        .sign()
        .unwrap();
    let envelope = cbor(&signed.signed_update);

    let flip_sig = edit(&envelope, |env| {
        let sig = env_field(env, "sender_sig");
        if let ciborium::Value::Bytes(b) = sig {
            b[0] ^= 1;
        }
    });
    let (status, body) = post(&call_url, flip_sig).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    let change_arg = edit(&envelope, |env| {
        let content = env_field(env, "content");
        *map_field(content, "arg") = ciborium::Value::Bytes(Encode!(&100u64).unwrap());
    });
    let (status, _) = post(&call_url, change_arg).await;
    assert_eq!(status, 400);

    let wrong_sender = edit(&envelope, |env| {
        let content = env_field(env, "content");
        *map_field(content, "sender") = ciborium::Value::Bytes(vec![0xaa; 29]);
    });
    let (status, _) = post(&call_url, wrong_sender).await;
    assert_eq!(status, 400);

    let expired = agent
        .update(&s.canister, "set_heap")
        .with_arg(Encode!(&98u64).unwrap())
        .expire_at(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .sign()
        .unwrap();
    let (status, body) = post(&call_url, expired.signed_update).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("expiry"));

    let query = agent
        .query(&s.canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .sign()
        .unwrap();
    let flip = edit(&cbor(&query.signed_query), |env| {
        if let ciborium::Value::Bytes(b) = env_field(env, "sender_sig") {
            let last = b.len() - 1;
            b[last] ^= 0x80;
        }
    });
    let (status, _) = post(&query_url, flip).await;
    assert_eq!(status, 400);

    // None of them ran.
    let v = agent
        .query(&s.canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&v, u64).unwrap(), 0);
    // The untampered request still works.
    let (status, body) = post(&call_url, signed.signed_update).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = agent
        .query(&s.canister, "get_heap")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&v, u64).unwrap(), 99);
}

fn edit(envelope: &ciborium::Value, f: impl FnOnce(&mut ciborium::Value)) -> Vec<u8> {
    let mut env = envelope.clone();
    f(&mut env);
    icinfer_http::cbor::encode(env)
}

fn map_field<'a>(v: &'a mut ciborium::Value, key: &str) -> &'a mut ciborium::Value {
    let ciborium::Value::Map(m) = v else {
        panic!("not a map")
    };
    &mut m
        .iter_mut()
        .find(|(k, _)| matches!(k, ciborium::Value::Text(t) if t == key))
        .unwrap_or_else(|| panic!("no `{key}`"))
        .1
}

fn env_field<'a>(v: &'a mut ciborium::Value, key: &str) -> &'a mut ciborium::Value {
    map_field(v, key)
}

/// Anonymous requests need no signature; an anonymous request that carries one is refused.
#[tokio::test]
async fn anonymous_requests() {
    let s = serve_test_canister();
    let agent = Agent::builder().with_url(s.server.url()).build().unwrap();
    agent.fetch_root_key().await.unwrap();
    let who = agent
        .query(&s.canister, "whoami")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(Decode!(&who, Principal).unwrap(), Principal::anonymous());
    let who = agent
        .update(&s.canister, "whoami_update")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(Decode!(&who, Principal).unwrap(), Principal::anonymous());
}
