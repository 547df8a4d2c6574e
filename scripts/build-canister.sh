#!/usr/bin/env bash
# Builds the inference canister for the IC:
#   target/wasm32-unknown-unknown/release/inference.wasm     with candid:service metadata
#   target/wasm32-unknown-unknown/release/inference.wasm.gz  the same, gzipped for install
# The Rust flags for wasm (+simd128, the getrandom backend) live in .cargo/config.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/wasm32-unknown-unknown/release"
ic_wasm="$(scripts/tools.sh ic-wasm)"

for canister in "${@:-inference}"; do
  cargo build --locked --target wasm32-unknown-unknown --release -p "$canister"
  wasm="$out/$canister.wasm"
  # Public candid:service metadata, so dfx and other tools can read the interface.
  "$ic_wasm" "$wasm" -o "$wasm" metadata candid:service -f "candid/$canister.did" -v public
  gzip -n -9 -c "$wasm" > "$wasm.gz"
  echo "built $wasm ($(stat -c %s "$wasm") bytes, gzipped $(stat -c %s "$wasm.gz"))"
done
