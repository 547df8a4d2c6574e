#!/usr/bin/env bash
# The long model-based test (slow tier): random call sequences with upgrades and downgrades
# to the previous release, on the canister and its in-memory model (tests/tests/model_based.rs;
# CI runs 4 sequences of 60 steps). ICINFER_MODEL_SEQUENCES, ICINFER_MODEL_STEPS and
# ICINFER_MODEL_SEED change the run; a failure prints the seed to replay.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-canister.sh inference >&2
ICINFER_MODEL_SEQUENCES="${ICINFER_MODEL_SEQUENCES:-40}" \
ICINFER_MODEL_STEPS="${ICINFER_MODEL_STEPS:-250}" \
  cargo test --locked --workspace --test model_based -- --nocapture random_calls
