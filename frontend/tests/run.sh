#!/usr/bin/env bash
# The frontend's tests: the unit tests of the TypeScript verifier and input code (vitest),
# then the page in Debian's chromium (playwright-core, no browser download) against
# `icinfer serve` on a free port with a temporary state directory and the digits model.
# Screenshots: frontend/test-results/. The server is stopped whatever happens.
#
# Needs: Node.js/npm, /usr/bin/chromium (`apt-get install chromium`; CHROMIUM=<path>
# overrides), and the inference canister built (bash scripts/build-canister.sh inference).
# The icinfer CLI is built with cargo unless ICINFER_BIN names one.
set -euo pipefail
frontend="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$frontend/.." && pwd)"
cd "$frontend"

npm ci --no-audit --no-fund --loglevel=error
npm test
npm run build

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "frontend/tests/run.sh: no chromium at $chromium (apt-get install -y chromium, or set CHROMIUM)" >&2
  exit 1
fi
wasm="${CARGO_TARGET_DIR:-$repo/target}/wasm32-unknown-unknown/release/inference.wasm"
if [[ ! -f "$wasm" ]]; then
  echo "frontend/tests/run.sh: $wasm is missing (bash scripts/build-canister.sh inference)" >&2
  exit 1
fi

# ICINFER_BIN=<path> uses an icinfer binary already built.
icinfer="${ICINFER_BIN:-}"
if [[ -z "$icinfer" ]]; then
  (cd "$repo" && cargo build --locked -q -p icinfer-cli)
  icinfer="${CARGO_TARGET_DIR:-$repo/target}/debug/icinfer"
fi

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # It saves its state on the way out; give it a few seconds, then insist.
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_server EXIT

# The CLI's identity (serve's controller, and so authorised to upload) lives in the
# temporary directory too, not in the user's ~/.config.
export XDG_CONFIG_HOME="$work/config"
port="$(node -e "const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")"
ready_file="$work/serve-ready.json"
"$icinfer" serve --state "$work/state" --listen "127.0.0.1:$port" --frontend "$frontend/dist" --wasm "$wasm" \
  --ready-file "$ready_file" >"$work/serve.log" 2>&1 &
server_pid=$!

# serve writes {"url", "canister_id", "root_key"} to the ready file once it answers (whole:
# written, then renamed into place).
for _ in $(seq 600); do
  [[ -f "$ready_file" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "frontend/tests/run.sh: icinfer serve exited:" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -f "$ready_file" ]]; then
  echo "frontend/tests/run.sh: icinfer serve was not ready within 60 s:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
ready() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]])' "$ready_file" "$1"; }
url="$(ready url)"
canister="$(ready canister_id)"
root_key="$(ready root_key)"
echo "icinfer serve: $url, canister $canister"

"$icinfer" upload "$repo/models/digits/digits.onnx" --id digits --network "$url" --state "$work/state" --no-progress
# A u8 image input (the channels' means), for the picture input of quantised image models.
"$icinfer" upload "$repo/models/tiny/pixels.onnx" --id pixels --network "$url" --state "$work/state" --no-progress
# An image model for the picture input, when models/fetch_registry.py has fetched it (as
# scripts/test.sh does); the browser test skips that part without it.
ppocr_cls="$repo/models/cache/rapidocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"
if [[ -f "$ppocr_cls" ]]; then
  "$icinfer" upload "$ppocr_cls" --id ppocr-cls --input-fact 'x=f32[1,3,48,192]' \
    --network "$url" --state "$work/state" --no-progress
fi

ICINFER_URL="$url" ICINFER_CANISTER="$canister" ICINFER_ROOT_KEY="$root_key" ICINFER_BIN="$icinfer" \
  ICINFER_STATE="$work/state" node --test --test-concurrency=1 tests/browser.test.mjs
