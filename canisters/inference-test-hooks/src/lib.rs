//! The inference canister with its test-only hooks: every endpoint of `inference`, plus
//! `test_trap_job_after` (canisters/inference/src/jobs.rs). Its exports come from the
//! `inference` crate, linked here with the `test-hooks` feature.

extern crate inference;
