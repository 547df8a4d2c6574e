#!/usr/bin/env bash
# The language models of models/README.md ("Language models"): installs the torch tier plus
# tokenizers, tiktoken, gguf and accelerate into models/cache/venv-gpt (about 6 GB, a few
# minutes), then trains tiny-gpt (committed: only needed to change it) and writes gpt2,
# gpt2-int8, smollm2 and smollm2-int8 into models/cache/gpt with their references.
# Usage: scripts/gpt-models.sh [tiny|gpt2|smollm2]...   (default: gpt2 smollm2)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=models/cache/venv-gpt
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r models/requirements-gpt.txt
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gpt2 smollm2)
for target in "${targets[@]}"; do
  case "$target" in
    tiny) script=make_tiny_gpt.py ;;
    gpt2) script=make_gpt2.py ;;
    smollm2) script=make_smollm2.py ;;
    *) echo "unknown model set: $target (tiny, gpt2, smollm2)" >&2; exit 2 ;;
  esac
  (cd models && "../$venv/bin/python" "$script")
done
