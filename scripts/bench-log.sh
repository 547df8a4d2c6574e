#!/usr/bin/env bash
# Measures the certified log at 10^6 entries: builds the log-bench fixture (the inference
# canister's log code plus test-only fill endpoints; never deployed) and runs the ignored
# benchmark test, which prints `[instructions] ...` lines. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-canister.sh log-bench >&2
cargo test --locked --workspace --test log_bench -- --ignored --nocapture
