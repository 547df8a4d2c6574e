#!/usr/bin/env bash
# The long crash test (slow tier): kill -9 of `icinfer serve` at 25 random points of an
# inference and upload loop (crates/cli/tests/crash.rs; CI runs 6). ICINFER_CRASH_SEED=<n>
# repeats another run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-canister.sh inference >&2
ICINFER_CRASH_ROUNDS="${ICINFER_CRASH_ROUNDS:-25}" \
  cargo test --locked --workspace --test crash -- --nocapture
