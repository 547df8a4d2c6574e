#!/usr/bin/env bash
# The slow tier of the large-model path (issue #18): writes the seeded dense-chain model of
# models/make_large.py (1 GiB by default; MIB=256 bash scripts/large-model.sh for another
# size) into models/cache/large/, then uploads, finalizes (as a job) and runs it on the host
# with the replica's own limits (tests/tests/large.rs). Needs numpy and onnx
# (models/requirements.txt) and, for 1 GiB, about 10 GB of free memory.
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${MIB:-1024}"
python="${PYTHON:-python3}"
[ -f "models/cache/large/large-${mib}mib.onnx" ] || "$python" models/make_large.py --mib "$mib"
scripts/build-canister.sh inference >&2
ICINFER_LARGE_MIB="$mib" cargo test --locked --workspace --test large -- --ignored --nocapture
