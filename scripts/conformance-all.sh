#!/usr/bin/env bash
# The slow conformance tier: every model, including those exported from PyTorch
# (MobileNetV2, all-MiniLM-L6-v2). Installs torch into models/cache/venv-torch (about
# 6 GB, a few minutes), exports the models, then runs every conformance test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
venv=models/cache/venv-torch
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r models/requirements-torch.txt
python3 models/fetch_registry.py
(cd models && "../$venv/bin/python" make_torch_models.py)
scripts/build-canister.sh inference >&2
cargo test --locked --workspace --test conformance -- --include-ignored --nocapture
