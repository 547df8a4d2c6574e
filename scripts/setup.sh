#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine. Idempotent.
#   - the wasm32-unknown-unknown target for the canisters
#   - ic-wasm (from npm) for the canisters' candid:service metadata
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
command -v npm >/dev/null || { echo "npm is needed (for ic-wasm); install Node.js" >&2; exit 1; }
scripts/tools.sh ic-wasm >/dev/null
