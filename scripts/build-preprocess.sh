#!/usr/bin/env bash
# The web page's picture preprocessor: crates/preprocess compiled to wasm32-unknown-unknown
# (raw alloc/free/preprocess exports, no wasm-bindgen), copied to
# frontend/src/inputs/preprocess.wasm (git-ignored). The frontend's build, test and dev
# scripts run it (npm run wasm), so a fresh clone builds it too. Needs Rust (rustup).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/wasm-remap.sh

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# A cdylib only here: the CLI links the crate as an ordinary library.
cargo rustc --locked -q --config "$WASM_REMAP" --release -p icinfer-preprocess --target wasm32-unknown-unknown --crate-type cdylib
built="${CARGO_TARGET_DIR:-$repo/target}/wasm32-unknown-unknown/release/icinfer_preprocess.wasm"
cp "$built" frontend/src/inputs/preprocess.wasm
