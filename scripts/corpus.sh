#!/usr/bin/env bash
# The slow tier of the bring-your-own-model corpus (issue #22): fetches the 22 registry
# models of models/corpus/manifest.json (pinned versions, SHA-256 checked), makes their
# onnxruntime reference cases in models/cache/corpus-venv, loads each through
# icinfer-core's load path and rewrites the table in models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=models/cache/corpus-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r models/requirements.txt
"$venv/bin/python" models/corpus/fetch.py
"$venv/bin/python" models/corpus/references.py
cargo test --locked --workspace --test corpus -- --include-ignored --nocapture
