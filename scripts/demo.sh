#!/usr/bin/env bash
# The main job, end to end on the local host: build the inference canister, start it,
# load the bundled model, infer, and show and verify the receipt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-canister.sh inference >&2
target_dir="${CARGO_TARGET_DIR:-target}"
cargo run --locked -q -p icinfer-cli -- demo \
  --wasm "$target_dir/wasm32-unknown-unknown/release/inference.wasm"
