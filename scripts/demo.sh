#!/usr/bin/env bash
# The main job, end to end on the local host: build the inference canister, start it,
# load the bundled model, infer, and show and verify the receipt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "demo: building the inference canister for wasm32 (the first build takes 5-10 minutes on two cores)" >&2
scripts/build-canister.sh inference >&2
target_dir="${CARGO_TARGET_DIR:-target}"
# Not -q: the first native build (the local host on wasmtime) takes 10-20 minutes, and
# cargo's progress is what shows it is moving.
echo "demo: building the icinfer command line (the local host on wasmtime; the first build takes 10-20 minutes)" >&2
cargo run --locked -p icinfer-cli -- demo \
  --wasm "$target_dir/wasm32-unknown-unknown/release/inference.wasm"
