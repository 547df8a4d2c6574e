//! Benchmark fixture, never deployed: the inference canister's provenance queries, served by
//! the same `icinfer_core::Engine` code, over a log filled with synthetic entries by
//! `bench_fill_log` (a test-only endpoint the inference canister does not have; see
//! tests/tests/log_bench.rs and scripts/bench-log.sh).

use ic_cdk::{init, query, update};
use ic_stable_structures::DefaultMemoryImpl;
use icinfer_api::{Error, LogConsistency, LogConsistencyArgs, LogHead, LogProof, LogProofArgs};
use icinfer_core::Engine;
use icinfer_ic::Ic;
use std::cell::RefCell;

thread_local! {
    static ENGINE: RefCell<Option<Engine<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

fn with_engine<R>(f: impl FnOnce(&mut Engine<DefaultMemoryImpl>) -> R) -> R {
    ENGINE.with_borrow_mut(|engine| f(engine.as_mut().expect("set up in init")))
}

#[init]
fn init() {
    let engine = Engine::init(DefaultMemoryImpl::default()).expect("a fresh memory");
    engine.certify_head(&Ic);
    ENGINE.set(Some(engine));
}

/// Appends `count` synthetic entries; returns the log size.
#[update]
fn bench_fill_log(count: u64) -> u64 {
    with_engine(|engine| {
        engine.bench_fill_log(&Ic, count);
        engine.log_size()
    })
}

/// Appends one entry as `infer` does and returns the instructions of the append (search
/// index, Merkle tree) and the certification.
#[update]
fn bench_append_one() -> u64 {
    with_engine(|engine| engine.bench_append_one(&Ic))
}

#[query]
fn log_head() -> LogHead {
    with_engine(|engine| engine.log_head(&Ic))
}

#[query]
fn log_proof(args: LogProofArgs) -> Result<LogProof, Error> {
    with_engine(|engine| engine.log_proof(&Ic, &args))
}

#[query]
fn log_consistency(args: LogConsistencyArgs) -> Result<LogConsistency, Error> {
    with_engine(|engine| engine.log_consistency(&Ic, &args))
}
