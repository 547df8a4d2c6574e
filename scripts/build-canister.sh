#!/usr/bin/env bash
# Builds canisters for the IC (default: the inference canister). For each NAME:
#   target/wasm32-unknown-unknown/release/NAME.wasm     with candid:service metadata
#   target/wasm32-unknown-unknown/release/NAME.wasm.gz  the same, gzipped for install
# The Rust flags for wasm (+simd128, the getrandom backend) live in .cargo/config.toml;
# scripts/wasm-remap.sh adds the one that keeps CARGO_HOME out of the module.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-remap.sh

target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/wasm32-unknown-unknown/release"
ic_wasm="$(scripts/tools.sh ic-wasm)"

for canister in "${@:-inference}"; do
  # One cargo invocation per canister: features are then unified within that canister's
  # own dependency graph only, so a module is the same whatever else is built with it.
  cargo build --locked --config "$WASM_REMAP" --target wasm32-unknown-unknown --release -p "$canister"
  wasm="$out/${canister//-/_}.wasm"
  # Public candid:service metadata, so dfx and other tools can read the interface.
  # (Test fixtures have no .did; tests/tests/wasm.rs checks the product modules carry it.)
  if [ -f "candid/$canister.did" ]; then
    "$ic_wasm" "$wasm" -o "$wasm" metadata candid:service -f "candid/$canister.did" -v public
  fi
  gzip -n -9 -c "$wasm" > "$wasm.gz"
  echo "built $wasm ($(stat -c %s "$wasm") bytes, gzipped $(stat -c %s "$wasm.gz"))"
done
