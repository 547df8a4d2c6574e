//! Instructions of the certified log at 10^6 entries, on the log-bench module (the same
//! `icinfer_core::Engine` log code as the inference canister, plus test-only endpoints to
//! fill the log; never deployed).
//!
//! Setup: `bash scripts/build-canister.sh log-bench`; a million synthetic entries appended in
//! five messages (a minute or two on two cores, so the test is ignored by default; run
//! `bash scripts/bench-log.sh`).
//! Success criteria: the head, proofs and consistency proofs verify; each costs O(log n):
//! the printed `[instructions]` lines are the measurement (docs/provenance.md records them).

use candid::{Encode, Principal};
use icinfer_api::{Error, LogConsistency, LogConsistencyArgs, LogHead, LogProof, LogProofArgs};
use icinfer_tests::{LocalHost, Replica, ReplicaExt, canister_wasm};
use icinfer_verify::merkle::{leaf_hash, proof_nodes, verify_consistency, verify_inclusion};
use icinfer_verify::{Trust, verify_head};

const ENTRIES: u64 = 1_000_000;
const PER_MESSAGE: u64 = 200_000;

#[test]
#[ignore = "fills a million entries; run scripts/bench-log.sh"]
fn log_queries_at_a_million_entries_cost_logarithmic_instructions() {
    let controller = Principal::from_slice(&[0xc0; 29]);
    let user = Principal::from_slice(&[0x05; 29]);
    let mut local = LocalHost::new();
    let id = local.create_canister(controller);
    local.install(
        id,
        &canister_wasm("log_bench"),
        Encode!().unwrap(),
        controller,
    );

    let mut appends = Vec::new();
    let mut measure_append = |local: &mut LocalHost, at: u64| {
        let (instructions,): (u64,) = local.update(id, user, "bench_append_one", ()).unwrap();
        println!("[instructions] append + Merkle + certify one entry at size {at}: {instructions}");
        appends.push(instructions);
    };
    measure_append(&mut local, 0);
    let mut size = 1;
    while size < ENTRIES {
        let count = PER_MESSAGE.min(ENTRIES - size);
        let (new_size,): (u64,) = local.update(id, user, "bench_fill_log", (count,)).unwrap();
        size = new_size;
    }
    measure_append(&mut local, size);
    size += 1;

    let (head,): (LogHead,) = local.query(id, user, "log_head", ()).unwrap();
    let trust = Trust {
        root_key: local.host.root_key_der(),
        canister_id: id,
        now_ns: local.host.time_ns(),
        max_age_ns: 60_000_000_000,
    };
    let certified = verify_head(&head, &trust).unwrap();
    assert_eq!(certified.tree_size, size);

    for index in [0, 1, size / 2, size - 2, size - 1] {
        let (proof,): (Result<LogProof, Error>,) = local
            .query(
                id,
                user,
                "log_proof",
                (LogProofArgs {
                    index,
                    tree_size: None,
                },),
            )
            .unwrap();
        let proof = proof.unwrap();
        assert!(proof.inclusion_proof.len() <= 21);
        verify_inclusion(
            index,
            size,
            &leaf_hash(&proof.entry_bytes),
            &proof_nodes(&proof.inclusion_proof).unwrap(),
            &certified.root,
        )
        .unwrap();
    }
    let (old,): (Result<LogProof, Error>,) = local
        .query(
            id,
            user,
            "log_proof",
            (LogProofArgs {
                index: 12_345,
                tree_size: Some(700_001),
            },),
        )
        .unwrap();
    icinfer_verify::verify_log_proof(&old.unwrap(), &trust, None).unwrap();
    for from_size in [1, 3, 524_288, 700_001, size - 1] {
        let (c,): (Result<LogConsistency, Error>,) = local
            .query(
                id,
                user,
                "log_consistency",
                (LogConsistencyArgs {
                    from_size,
                    to_size: size,
                },),
            )
            .unwrap();
        let c = c.unwrap();
        let from_root = c.from_root[..].try_into().unwrap();
        verify_consistency(
            from_size,
            size,
            &from_root,
            &certified.root,
            &proof_nodes(&c.proof).unwrap(),
        )
        .unwrap();
    }
    // Appending at a million entries costs what it costs at zero, give or take the
    // logarithmic part (a few node hashes): far below the 1 M budget.
    assert!(appends.iter().all(|&a| a < 1_000_000), "{appends:?}");
}
