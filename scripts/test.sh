#!/usr/bin/env bash
# Every test: unit and property tests of the libraries, the Candid interface checks, and
# the integration tests that run the built canister modules on the local host (or on
# PocketIC: POCKET_IC_BIN=... with --features pocket-ic, see tests/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-canister.sh inference consumer host-test-canister >&2
cargo test --locked --workspace --exclude icinfer-tests
# The integration tests print the instructions of every call they make.
cargo test --locked -p icinfer-tests -- --nocapture
