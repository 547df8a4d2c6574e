//! Code epochs in the engine: begun at install and upgrade, completed from the canister's
//! history, attributed by log index, refused when stale, kept across an upgrade.

use candid::Principal;
use ic_stable_structures::DefaultMemoryImpl;
use icinfer_api::{DeploymentMode, EntryKind};
use icinfer_core::Engine;
use icinfer_core::engine::{CodeHistory, Deployment, Environment, EpochError};
use icinfer_verify::entry::{decode_entry, encode_entry};
use std::cell::{Cell, RefCell};

struct Env {
    now: Cell<u64>,
    certified: RefCell<Vec<u8>>,
}

impl Environment for Env {
    fn caller(&self) -> Principal {
        Principal::anonymous()
    }
    fn is_controller(&self, _: &Principal) -> bool {
        true
    }
    fn now_ns(&self) -> u64 {
        self.now.set(self.now.get() + 1);
        self.now.get()
    }
    fn instructions(&self) -> u64 {
        1_000
    }
    fn heap_bytes(&self) -> u64 {
        0
    }
    fn set_certified_data(&self, data: &[u8]) {
        *self.certified.borrow_mut() = data.to_vec();
    }
    fn data_certificate(&self) -> Option<Vec<u8>> {
        None
    }
}

fn env() -> Env {
    Env {
        now: Cell::new(1_750_000_000_000_000_000),
        certified: RefCell::new(Vec::new()),
    }
}

fn me() -> Principal {
    Principal::from_slice(&[0, 0, 0, 0, 0, 0x30, 0, 7, 1, 1])
}

fn history(module: u8, mode: DeploymentMode, version: u64) -> CodeHistory {
    CodeHistory {
        total_num_changes: version + 1,
        latest_deployment: Some(Deployment {
            mode,
            module_hash: [module; 32],
            canister_version: version,
            timestamp_ns: 42,
        }),
        controllers: vec![Principal::from_slice(&[0xc0; 29])],
    }
}

#[test]
fn an_epoch_is_pending_until_its_history_is_logged_then_listed_with_its_entry() {
    let env = env();
    let memory = DefaultMemoryImpl::default();
    let mut engine = Engine::init(memory.clone()).unwrap();
    assert!(engine.code_epochs().is_empty());
    let epoch = engine.begin_code_epoch(&env, 1);
    assert_eq!(engine.pending_code_epoch(), Some(epoch));
    let listed = engine.code_epochs();
    assert_eq!((listed[0].first_index, listed[0].entry), (0, None));

    // A failed self-call is counted; the epoch stays pending.
    engine.code_epoch_failed(epoch);
    let no_deployment = CodeHistory {
        latest_deployment: None,
        ..history(1, DeploymentMode::Install, 1)
    };
    assert_eq!(
        engine.record_code_epoch(&env, me(), epoch, no_deployment),
        Err(EpochError::NoDeployment)
    );
    assert_eq!(engine.code_epochs()[0].failed_attempts, 2);

    let entry = engine
        .record_code_epoch(&env, me(), epoch, history(0xaa, DeploymentMode::Install, 1))
        .unwrap();
    assert_eq!(
        (entry.seq, entry.caller, entry.messages),
        (0, me(), Some(3))
    );
    assert_eq!(entry.model_id, "");
    let Some(EntryKind::CodeEpoch(logged)) = &entry.kind else {
        panic!("not a code epoch: {entry:?}")
    };
    assert_eq!(logged.module_hash.as_slice(), [0xaa; 32]);
    assert_eq!(logged.first_index, 0);
    // Canonical: the stored bytes decode to the entry returned.
    assert_eq!(
        decode_entry(&encode_entry(&entry).unwrap()),
        Some(entry.clone())
    );
    assert_eq!(engine.pending_code_epoch(), None);
    let listed = engine.code_epochs();
    assert_eq!(listed[0].entry, Some(0));
    assert_eq!(listed[0].epoch.as_ref(), Some(logged));
    // A second answer for the same epoch is refused: nothing is logged twice.
    assert_eq!(
        engine.record_code_epoch(&env, me(), epoch, history(0xaa, DeploymentMode::Install, 1)),
        Err(EpochError::NotPending)
    );
    assert_eq!(engine.log_size(), 1);

    // An upgrade: the epochs survive, the new one starts at the log's size, and an answer
    // for a superseded epoch is refused.
    drop(engine);
    let mut engine = Engine::init(memory).unwrap();
    let second = engine.begin_code_epoch(&env, 2);
    let third = engine.begin_code_epoch(&env, 3);
    assert_eq!(
        engine.record_code_epoch(
            &env,
            me(),
            second,
            history(0xbb, DeploymentMode::Upgrade, 2)
        ),
        Err(EpochError::NotPending)
    );
    let entry = engine
        .record_code_epoch(&env, me(), third, history(0xcc, DeploymentMode::Upgrade, 3))
        .unwrap();
    assert_eq!(entry.seq, 1);
    let listed = engine.code_epochs();
    assert_eq!(listed.len(), 3);
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.first_index, e.entry))
            .collect::<Vec<_>>(),
        [(0, Some(0)), (1, None), (1, Some(1))]
    );
}
