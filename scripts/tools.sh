#!/usr/bin/env bash
# Prints the path of a build tool, installing it from its registry on first use into
# target/tools (never downloaded from anywhere else).
#   scripts/tools.sh ic-wasm   -> ic-wasm 0.11.1 from npm (@icp-sdk/ic-wasm-linux-x64)
#   scripts/tools.sh icp       -> icp-cli 1.5.0 from npm (@icp-sdk/icp-cli-linux-x64)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${CARGO_TARGET_DIR:-target}/tools"

case "${1:?usage: tools.sh ic-wasm|icp}" in
  ic-wasm)
    bin="$tools/node_modules/@icp-sdk/ic-wasm-linux-x64/bin/ic-wasm"
    if [ ! -x "$bin" ]; then
      mkdir -p "$tools"
      npm install --prefix "$tools" --no-save --no-audit --no-fund --silent \
        @icp-sdk/ic-wasm-linux-x64@0.11.1 >&2
    fi
    echo "$(realpath "$bin")"
    ;;
  icp)
    # Its own prefix: an npm install --no-save prunes packages it does not know of.
    bin="$tools/icp-cli/node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp"
    if [ ! -x "$bin" ]; then
      mkdir -p "$tools/icp-cli"
      npm install --prefix "$tools/icp-cli" --no-save --no-audit --no-fund --silent \
        @icp-sdk/icp-cli-linux-x64@1.5.0 >&2
    fi
    echo "$(realpath "$bin")"
    ;;
  *) echo "unknown tool $1" >&2; exit 2 ;;
esac
