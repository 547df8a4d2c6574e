#!/usr/bin/env bash
# The frontend's tests: the unit tests of the TypeScript verifier and input code (vitest),
# then the page in Debian's chromium (playwright-core, no browser download) against
# `icinfer serve` on a free port with a temporary state directory and the digits model.
# Screenshots: frontend/test-results/. The server is stopped whatever happens.
#
# Needs: Node.js/npm, /usr/bin/chromium (`apt-get install chromium`; CHROMIUM=<path>
# overrides), and the inference canister built (bash scripts/build-canister.sh inference).
# The icinfer CLI is built with cargo unless ICINFER_BIN names one (scripts/serve-for-tests.sh).
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

# shellcheck source=../../scripts/serve-for-tests.sh
source "$repo/scripts/serve-for-tests.sh"
# The CLI's identity (serve's controller, and so authorised to upload) lives in the
# temporary directory too, not in the user's ~/.config.
export XDG_CONFIG_HOME="$work/config"
start_serve --frontend "$frontend/dist" --wasm "$wasm"

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
