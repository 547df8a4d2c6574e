#!/usr/bin/env bash
# Where the instructions go: builds the inference canister with the `profile` feature (its
# own target directory, so the shipped module is untouched), runs MODEL... once each on the
# local host and prints the instructions per tract operator, and of its finalize per load
# phase and optimiser pass (tests/src/bin/profile.rs).
#   bash scripts/profile.sh digits mobilenetv2 minilm
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
profile_target="${CARGO_TARGET_DIR:-target}/profile-build"
CARGO_TARGET_DIR="$profile_target" \
  cargo build --locked --target wasm32-unknown-unknown --release -p inference --features profile
ICINFER_WASM_INFERENCE="$profile_target/wasm32-unknown-unknown/release/inference.wasm" \
  cargo run --locked -q -p icinfer-tests --bin profile -- "${@:-digits}"
