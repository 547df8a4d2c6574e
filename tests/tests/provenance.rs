//! Verifiable provenance end to end: inferences on the built inference canister, proofs
//! fetched through Candid queries, checked by icinfer-verify from the host's root key alone.
//!
//! Setup: the local host (its root key is what a verifier trusts) with the inference
//! canister and the bundled affine model.
//! Runbook: infer with nonces; fetch `log_head`, `log_proof`, `log_consistency`; verify
//! them with the recomputed tensor hashes; tamper with them; upgrade; infer again.
//! Success criteria: every genuine proof verifies and says what it proves, every tampered
//! one is rejected, and an upgrade keeps the root, the certificate and earlier proofs valid.

use candid::{Encode, Principal};
use icinfer_api::{
    CodeEpochStatus, DeploymentMode, EntryKind, Error, InferArgs, InferResult, LogConsistency,
    LogConsistencyArgs, LogHead, LogProof, LogProofArgs, Tensor, TensorData,
};
use icinfer_host::certificate::RootKey;
use icinfer_tests::{LocalHost, Replica, ReplicaExt, canister_wasm, model_bytes};
use icinfer_verify::merkle::EMPTY_ROOT;
use icinfer_verify::{
    Opening, Trust, VerifyError, verify_head, verify_log_consistency, verify_log_proof,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

const MINUTE_NS: u64 = 60_000_000_000;

fn controller() -> Principal {
    Principal::from_slice(&[0xc0; 29])
}
fn user() -> Principal {
    Principal::from_slice(&[0x05; 29])
}

type R<T> = Result<T, Error>;

struct Canister {
    local: LocalHost,
    id: Principal,
    wasm: Vec<u8>,
}

impl Canister {
    fn install() -> Self {
        let mut local = LocalHost::new();
        let wasm = canister_wasm("inference");
        let id = local.create_canister(controller());
        local.install(id, &wasm, Encode!().unwrap(), controller());
        let mut canister = Canister { local, id, wasm };
        canister.install_affine();
        canister
    }

    fn update<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        sender: Principal,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .update::<_, (T,)>(self.id, sender, method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("{method} rejected: {r:?}"))
    }

    fn query<A: candid::CandidType, T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
        &mut self,
        method: &str,
        arg: A,
    ) -> T {
        self.local
            .query::<_, (T,)>(self.id, user(), method, (arg,))
            .map(|(t,)| t)
            .unwrap_or_else(|r| panic!("{method} rejected: {r:?}"))
    }

    fn head(&mut self) -> LogHead {
        self.local
            .query::<_, (LogHead,)>(self.id, user(), "log_head", ())
            .unwrap()
            .0
    }

    fn proof(&mut self, index: u64, tree_size: Option<u64>) -> R<LogProof> {
        self.query("log_proof", LogProofArgs { index, tree_size })
    }

    fn install_affine(&mut self) {
        let bytes = model_bytes("tiny/affine.onnx");
        let create = icinfer_api::CreateModelArgs {
            id: "affine".into(),
            sha256: ByteBuf::from(Sha256::digest(&bytes).to_vec()),
            size_bytes: bytes.len() as u64,
            description: None,
            input_facts: None,
            language_model: None,
        };
        let _: R<icinfer_api::ModelInfo> = self.update(controller(), "create_model", create);
        let chunk = icinfer_api::UploadChunkArgs {
            id: "affine".into(),
            offset: 0,
            data: ByteBuf::from(bytes),
        };
        let _: R<icinfer_api::UploadProgress> =
            self.update(controller(), "upload_model_chunk", chunk);
        let finalized: R<icinfer_api::ModelInfo> =
            self.update(controller(), "finalize_model", "affine".to_string());
        finalized.unwrap();
    }

    /// One inference with a nonce; returns what the caller keeps to prove it later.
    fn infer(&mut self, value: f32) -> Kept {
        let inputs = vec![Tensor {
            name: "x".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![value, value + 1.0, value + 2.0]),
        }];
        let nonce = Sha256::digest(value.to_le_bytes()).to_vec();
        let args = InferArgs {
            model_id: "affine".into(),
            inputs: inputs.clone(),
            nonce: Some(ByteBuf::from(nonce.clone())),
        };
        let result: R<InferResult> = self.update(user(), "infer", args);
        let result = result.unwrap();
        Kept {
            inputs,
            nonce,
            outputs: result.outputs,
            seq: result.receipt.seq,
        }
    }

    /// What a verifier trusts: the host's root key, this canister, the host's clock.
    fn trust(&self) -> Trust {
        Trust {
            root_key: self.local.host.root_key_der(),
            canister_id: self.id,
            now_ns: self.local.host.time_ns(),
            max_age_ns: 5 * MINUTE_NS,
        }
    }
}

struct Kept {
    inputs: Vec<Tensor>,
    nonce: Vec<u8>,
    outputs: Vec<Tensor>,
    seq: u64,
}

impl Kept {
    fn opening(&self) -> Opening<'_> {
        Opening {
            inputs: &self.inputs,
            nonce: Some(&self.nonce),
            outputs: &self.outputs,
        }
    }
}

#[test]
fn inferences_are_proven_from_the_root_key_alone_across_an_upgrade() {
    let mut canister = Canister::install();

    // The head is certified from the first append on: the model's entry (kind 4).
    let first = verify_head(&canister.head(), &canister.trust()).unwrap();
    assert_eq!(first.tree_size, 1);
    assert_ne!(first.root, EMPTY_ROOT);

    let kept: Vec<Kept> = (0..5).map(|i| canister.infer(i as f32)).collect();
    let head = verify_head(&canister.head(), &canister.trust()).unwrap();
    assert_eq!(head.tree_size, 6);
    println!("{head}");

    let mut proofs = Vec::new();
    for k in &kept {
        let proof = canister.proof(k.seq, None).unwrap();
        let proven = verify_log_proof(&proof, &canister.trust(), Some(&k.opening()))
            .unwrap_or_else(|e| panic!("entry {}: {e}", k.seq));
        assert_eq!(proven.entry.seq, k.seq);
        assert_eq!(proven.head.root, head.root);
        proofs.push(proof);
    }
    println!(
        "{}",
        verify_log_proof(&proofs[2], &canister.trust(), Some(&kept[2].opening())).unwrap()
    );

    // Proofs against an earlier head: the entry is in the first 3, which lead to the head.
    let in_three = canister.proof(kept[1].seq, Some(3)).unwrap();
    assert!(!in_three.consistency_proof.is_empty());
    verify_log_proof(&in_three, &canister.trust(), Some(&kept[1].opening())).unwrap();

    // What must fail.
    let trust = canister.trust();
    let other_root_key = Trust {
        root_key: RootKey::from_seed(b"another replica").public_key_der(),
        ..trust.clone()
    };
    assert!(matches!(
        verify_log_proof(&proofs[0], &other_root_key, None),
        Err(VerifyError::Certificate(_))
    ));
    let other_canister = Trust {
        canister_id: Principal::management_canister(),
        ..trust.clone()
    };
    assert!(verify_log_proof(&proofs[0], &other_canister, None).is_err());
    let later = Trust {
        now_ns: trust.now_ns + 10 * MINUTE_NS,
        ..trust.clone()
    };
    assert!(matches!(
        verify_log_proof(&proofs[0], &later, None),
        Err(VerifyError::NotFresh { .. })
    ));
    let mut tampered = proofs[0].clone();
    tampered.entry_bytes[20] ^= 1;
    assert!(verify_log_proof(&tampered, &trust, None).is_err());
    let mut tampered = proofs[0].clone();
    tampered.head.certificate.as_mut().unwrap()[60] ^= 1;
    assert!(verify_log_proof(&tampered, &trust, None).is_err());
    let mut tampered = proofs[3].clone();
    tampered.inclusion_proof[0][0] ^= 1;
    assert!(verify_log_proof(&tampered, &trust, None).is_err());
    assert_eq!(
        verify_log_proof(&proofs[0], &trust, Some(&kept[1].opening())),
        Err(VerifyError::InputHashMismatch),
        "another inference's tensors"
    );

    // A replicated call cannot carry a certificate.
    let (replicated,): (LogHead,) = canister
        .local
        .update(canister.id, user(), "log_head", ())
        .unwrap();
    assert_eq!(replicated.certificate, None);
    assert_eq!(
        verify_head(&replicated, &canister.trust()),
        Err(VerifyError::NoCertificate)
    );

    // Upgrade: the tree survives, certified data is set again, earlier proofs still hold.
    canister
        .local
        .upgrade(
            canister.id,
            &canister.wasm.clone(),
            Encode!().unwrap(),
            controller(),
        )
        .unwrap();
    let after = verify_head(&canister.head(), &canister.trust()).unwrap();
    assert_eq!((after.tree_size, after.root), (head.tree_size, head.root));
    for (k, old) in kept.iter().zip(&proofs) {
        let mut relinked = old.clone();
        relinked.head = canister.head();
        verify_log_proof(&relinked, &canister.trust(), Some(&k.opening())).unwrap();
        assert_eq!(
            canister.proof(k.seq, None).unwrap().inclusion_proof,
            old.inclusion_proof
        );
    }

    // The log grows: the head seen before the upgrade is a prefix of the new one.
    let sixth = canister.infer(10.0);
    let growth: R<LogConsistency> = canister.query(
        "log_consistency",
        LogConsistencyArgs {
            from_size: 6,
            to_size: 7,
        },
    );
    let proven =
        verify_log_consistency(&growth.unwrap(), &canister.trust(), Some((6, &head.root))).unwrap();
    println!("{proven}");
    let old_in_new = canister.proof(kept[2].seq, Some(6)).unwrap();
    assert_eq!(old_in_new.inclusion_proof, proofs[2].inclusion_proof);
    verify_log_proof(&old_in_new, &canister.trust(), Some(&kept[2].opening())).unwrap();
    verify_log_proof(
        &canister.proof(sixth.seq, None).unwrap(),
        &canister.trust(),
        Some(&sixth.opening()),
    )
    .unwrap();

    // Arguments outside the log get typed errors.
    assert!(matches!(
        canister.proof(7, None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        canister.proof(0, Some(8)),
        Err(Error::InvalidArgument { .. })
    ));
    let backwards: R<LogConsistency> = canister.query(
        "log_consistency",
        LogConsistencyArgs {
            from_size: 7,
            to_size: 6,
        },
    );
    assert!(matches!(backwards, Err(Error::InvalidArgument { .. })));
}

/// What appending and certifying add to an inference: the instructions `infer` reports
/// in its receipt were counted before the append, the host counts the whole message. With
/// `ICINFER_BASELINE_WASM=path/to/inference.wasm` (e.g. a build of the previous release),
/// the same inferences run on that module too, for comparison.
#[test]
fn appending_and_certifying_cost_little_beyond_the_inference() {
    let mut canister = Canister::install();
    let mut totals = Vec::new();
    for i in 0..4 {
        let kept = canister.infer(i as f32);
        let total = canister.local.last_instructions().unwrap();
        let receipt_instructions = canister.proof(kept.seq, None).unwrap().entry.instructions;
        println!(
            "[instructions] infer #{}: {total} in all, {receipt_instructions} when the entry was made, {} after (append, Merkle tree, certified data, reply)",
            kept.seq,
            total - receipt_instructions
        );
        assert!(total > receipt_instructions);
        totals.push(total);
    }
    if let Some(path) = std::env::var_os("ICINFER_BASELINE_WASM") {
        let wasm = std::fs::read(&path).expect("the baseline module");
        let mut local = LocalHost::new();
        let id = local.create_canister(controller());
        local.install(id, &wasm, Encode!().unwrap(), controller());
        let mut baseline = Canister { local, id, wasm };
        baseline.install_affine();
        for (i, total) in totals.iter().enumerate() {
            baseline.infer(i as f32);
            let before = baseline.local.last_instructions().unwrap();
            println!(
                "[instructions] infer #{i}: baseline {before}, now {total}, difference {}",
                *total as i64 - before as i64
            );
        }
    }
}

/// A Wasm custom section (id 0): another module hash, the same behaviour.
fn with_custom_section(wasm: &[u8], name: &str) -> Vec<u8> {
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(payload.len() as u8);
    out.extend_from_slice(&payload);
    out
}

/// Code epochs (docs/provenance.md, "Code epochs").
///
/// Setup: the inference canister installed on the host, then upgraded to a module with
/// another hash. Runbook: tick after each (the epoch's self-call runs from a timer), infer
/// before the second epoch's entry is written. Success criteria: each epoch's entry names
/// the module the IC's history names, proven in the log like any entry; entries logged
/// before their epoch's entry belong to it by index; `code_epochs` lists both.
#[test]
fn each_install_and_upgrade_logs_the_module_that_writes_from_then_on() {
    let mut canister = Canister::install();
    // install_affine uploaded a model and logged its model entry (#0); the epoch is pending
    // until a tick, and the model's entry is the epoch's by index.
    let pending: Vec<CodeEpochStatus> = canister.query("code_epochs", ());
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].first_index, pending[0].entry), (0, None));
    canister.local.tick();
    let epochs: Vec<CodeEpochStatus> = canister.query("code_epochs", ());
    assert_eq!(epochs[0].entry, Some(1));
    let first = epochs[0].epoch.clone().expect("logged");
    let installed: [u8; 32] = Sha256::digest(&canister.wasm).into();
    assert_eq!(first.module_hash.as_slice(), installed);
    assert_eq!(first.mode, DeploymentMode::Install);
    assert_eq!(first.controllers, vec![controller()]);

    let before = canister.infer(1.0);
    assert_eq!(before.seq, 2);

    let v2 = with_custom_section(&canister.wasm, "icinfer-epoch-test");
    canister
        .local
        .upgrade(canister.id, &v2, Encode!().unwrap(), controller())
        .unwrap();
    // Logged by the new code before its epoch's entry: the epoch's by index.
    let early = canister.infer(2.0);
    assert_eq!(early.seq, 3);
    canister.local.tick();
    let epochs: Vec<CodeEpochStatus> = canister.query("code_epochs", ());
    assert_eq!(epochs.len(), 2);
    assert_eq!((epochs[1].first_index, epochs[1].entry), (3, Some(4)));
    let second = epochs[1].epoch.clone().unwrap();
    let upgraded: [u8; 32] = Sha256::digest(&v2).into();
    assert_eq!(second.module_hash.as_slice(), upgraded);
    assert_eq!(second.mode, DeploymentMode::Upgrade);
    assert!(second.total_num_changes > first.total_num_changes);
    assert!(second.deployed_version > first.deployed_version);

    // The epoch entry is proven from the root key like any entry, and says what it says.
    let proof = canister.proof(4, None).unwrap();
    let proven = verify_log_proof(&proof, &canister.trust(), None).unwrap();
    assert_eq!(proven.entry.caller, canister.id);
    assert_eq!(proven.entry.model_id, "");
    match proven.entry.kind {
        Some(EntryKind::CodeEpoch(epoch)) => assert_eq!(epoch, second),
        other => panic!("entry 4 is not a code epoch: {other:?}"),
    }
    // The earlier entries still verify, and the one before the epoch entry is its.
    verify_log_proof(
        &canister.proof(early.seq, None).unwrap(),
        &canister.trust(),
        Some(&early.opening()),
    )
    .unwrap();
    let owner = epochs
        .iter()
        .rev()
        .find(|e| e.first_index <= early.seq)
        .unwrap();
    assert_eq!(owner.epoch.as_ref(), Some(&second));
}
