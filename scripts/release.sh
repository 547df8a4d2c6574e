#!/usr/bin/env bash
# Builds the inference canister and writes its release manifest, which
# `icinfer verify --release MANIFEST` accepts as the code the canister must run:
#
#   OUT/inference.wasm, OUT/inference.wasm.gz   the modules (dfx.json and icp.yaml install the .gz)
#   OUT/inference.release.json                  format, package, module_sha256, gzip_sha256,
#                                               source_commit, toolchain, ic_wasm
#
# Usage: bash scripts/release.sh [OUT]   (default: target/release). Refuses a tree with
# uncommitted changes: a manifest names a commit, and the module must be a build of it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/release}"

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "release.sh: the tree has uncommitted changes; commit them first" >&2
  exit 1
fi
commit="$(git rev-parse HEAD)"
bash scripts/build-canister.sh inference
built="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release"
mkdir -p "$out"
cp "$built/inference.wasm" "$built/inference.wasm.gz" "$out/"
sha() { sha256sum "$1" | cut -d' ' -f1; }
toolchain="$(rustc -V)"
ic_wasm="$("$(scripts/tools.sh ic-wasm)" --version | awk '{print $NF}')"
cat > "$out/inference.release.json" <<JSON
{
  "format": "icinfer-release/1",
  "package": "inference",
  "module_sha256": "$(sha "$out/inference.wasm")",
  "gzip_sha256": "$(sha "$out/inference.wasm.gz")",
  "source_commit": "$commit",
  "toolchain": "$toolchain",
  "ic_wasm": "$ic_wasm"
}
JSON
echo "release.sh: wrote $out/inference.release.json:"
cat "$out/inference.release.json"
