#!/usr/bin/env bash
# icp-cli (DFINITY's CLI, 1.5.0 from npm) against `icinfer serve`, as a user would run it:
# `icp deploy` creates and installs the inference and consumer canisters through the cycles
# ledger and the management canister, then `icp canister call` lists models, infers on a
# tiny model and reads the log head, the consumer infers and runs a job through the inference
# canister (its interface, candid/consumer.did, read from its metadata), `icp canister
# status` / `metadata` read them back, a redeploy upgrades, and `icp canister delete`
# recovers the cycles and deletes.
#
# Setup: `icinfer serve` on a free port with a temporary state directory, and a temporary
# project whose icp.yaml installs the built modules (pre-built steps) on that network.
# Needs the modules built (bash scripts/build-canister.sh inference consumer).
# ICINFER_BIN / ICP_BIN use binaries already built or installed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export DO_NOT_TRACK=1

out="${CARGO_TARGET_DIR:-$repo/target}/wasm32-unknown-unknown/release"
for m in inference consumer; do
  if [[ ! -f "$out/$m.wasm.gz" ]]; then
    echo "icp-cli-test: $out/$m.wasm.gz is missing (bash scripts/build-canister.sh $m)" >&2
    exit 1
  fi
done
icp="${ICP_BIN:-$(scripts/tools.sh icp)}"
# shellcheck source=serve-for-tests.sh
source scripts/serve-for-tests.sh
fail() {
  echo "icp-cli-test: $*" >&2
  exit 1
}
# Both CLIs keep their identities and settings under the temporary directory.
export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
mkdir -p "$HOME"
start_serve --wasm "$out/inference.wasm.gz"

project="$work/project"
mkdir -p "$project"
cat >"$project/icp.yaml" <<YAML
canisters:
  - name: inference
    build:
      steps:
        - type: pre-built
          path: $out/inference.wasm.gz
  - name: consumer
    build:
      steps:
        - type: pre-built
          path: $out/consumer.wasm.gz
networks:
  - name: local
    mode: connected
    api-url: $url
    root-key: $root_key
YAML
cd "$project"

# Runs icp, shows its output, and fails unless the output contains every expected text.
expect() {
  local what="$1"
  shift
  local output
  output="$("$icp" "$@" 2>&1)" || { echo "$output" >&2; fail "icp $* failed"; }
  echo "$output"
  for pattern in "${EXPECTED[@]}"; do
    grep -qF -- "$pattern" <<<"$output" || fail "$what: no '$pattern' in the output of icp $*"
  done
}

# Two steps: consumer's init argument names the inference canister.
EXPECTED=("Created canister inference")
expect "deploy inference" deploy inference
inference="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["inference"])' .icp/data/mappings/local.ids.json)"
EXPECTED=("Created canister consumer")
expect "deploy consumer" deploy consumer --args "(record { inference = principal \"$inference\" })"

EXPECTED=("vec {}")
expect "list_models (empty)" canister call inference list_models '()'
"$icinfer" upload "$repo/models/tiny/affine.onnx" --id affine --network "$url" --canister "$inference" \
  --anonymous --no-progress
EXPECTED=('id = "affine"')
expect "list_models" canister call inference list_models '()'
# z = (x + [0.5, -1, 2]) * 2
EXPECTED=("f32 = vec { 3.0 : float32; 2.0 : float32; 10.0 : float32 }" 'model_id = "affine"')
expect "infer" canister call inference infer \
  '(record { model_id = "affine"; inputs = vec { record { name = "x"; shape = vec { 1; 3 }; data = variant { f32 = vec { 1.0; 2.0; 3.0 } } } }; nonce = null })'
# Three entries: the install's code epoch, the model's entry (kind 4), the inference.
EXPECTED=("tree_size = 3")
expect "log_head" canister call inference log_head '()'
# The consumer: its self-contained interface, an inference and a job collected through it.
consumer="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consumer"])' .icp/data/mappings/local.ids.json)"
affine_args='(record { model_id = "affine"; inputs = vec { record { name = "x"; shape = vec { 1; 3 }; data = variant { f32 = vec { 1.0; 2.0; 3.0 } } } }; nonce = null })'
EXPECTED=("collect_job" "infer_start")
expect "consumer metadata" canister metadata consumer candid:service
EXPECTED=("f32 = vec { 3.0 : float32; 2.0 : float32; 10.0 : float32 }" "caller = principal \"$consumer\"")
expect "consumer infer" canister call consumer infer "$affine_args"
EXPECTED=("Ok = 0 : nat64")
expect "consumer infer_start" canister call consumer infer_start "$affine_args"
# The job's steps run on the host's timer; collect until it is done.
for _ in $(seq 50); do
  collected="$("$icp" canister call consumer collect_job '(0 : nat64)' 2>&1)" || { echo "$collected" >&2; fail "collect_job failed"; }
  grep -qF "done = record" <<<"$collected" && break
  sleep 0.2
done
grep -qF "done = record" <<<"$collected" || { echo "$collected" >&2; fail "the consumer's job is not done"; }
EXPECTED=("seq = 3 : nat64")
expect "consumer receipts" canister call consumer receipts '(0 : nat64, 10 : nat64)'
EXPECTED=("tree_size = 5")
expect "log_head after the consumer" canister call inference log_head '()'
EXPECTED=("Running" "$inference")
expect "status" canister status inference
EXPECTED=("service" "list_models" "log_head")
expect "metadata" canister metadata inference candid:service
# A redeploy upgrades in place (the model and the log are kept).
EXPECTED=()
expect "redeploy" deploy inference
# Kept, plus the upgrade's code epoch, which a self-call appends right after it.
for _ in $(seq 50); do
  head="$("$icp" canister call inference log_head '()' 2>&1)" || { echo "$head" >&2; fail "log_head failed"; }
  grep -qF "tree_size = 6" <<<"$head" && break
  sleep 0.2
done
EXPECTED=("tree_size = 6")
expect "log_head after upgrade" canister call inference log_head '()'
# Delete recovers the cycles first: icp-cli reinstalls its shim, which deposits them on
# the cycles ledger; then stops and deletes the canister.
EXPECTED=("Recovered" "cycles from canister $inference")
expect "delete" canister delete inference
"$icp" canister status "$inference" -n "$url" -k "$root_key" >"$work/gone.txt" 2>&1 || true
grep -q "was not found" "$work/gone.txt" || { cat "$work/gone.txt" >&2; fail "the deleted canister is still there"; }
echo "icp-cli-test: ok"
