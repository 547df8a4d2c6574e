#!/usr/bin/env bash
# The @icp-sdk/core tests of icinfer-http: installs the npm packages of this directory from
# its lockfile, then runs the Rust harness (crates/http/tests/node.rs), which serves a host and
# runs `node --test agent.test.mjs` against it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
cd "$here/../../../.."
# --workspace: the features the rest of the suite built with (scripts/test.sh).
cargo test --locked --workspace --test node -- --ignored "$@"
