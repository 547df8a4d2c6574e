#!/usr/bin/env bash
# Slow tier (not run in CI: two cold wasm builds, 15-25 min each on two cores): builds the
# inference module twice from the current commit, in two checkout directories, with two
# target directories and two CARGO_HOMEs, and requires the same module and gzip hashes.
#
# The second CARGO_HOME is a copy of the first's registry and git sources under another
# path (no download): the sources are the same, only their absolute paths differ, which is
# what panic locations used to embed (scripts/wasm-remap.sh). Needs what build-canister.sh
# needs; leaves nothing behind but its report.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="$(git -C "$repo" rev-parse HEAD)"
work="$(mktemp -d "${TMPDIR:-/tmp}/icinfer-repro.XXXXXX")"
trap 'rm -rf "$work"' EXIT
home_a="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)"
home_b="$work/cargo-home-b"
mkdir -p "$home_b"
for dir in registry git; do
  [ -d "$home_a/$dir" ] && cp -a "$home_a/$dir" "$home_b/"
done

build() { # NAME CARGO_HOME
  local dir="$work/checkout-$1"
  git clone -q --no-hardlinks "$repo" "$dir"
  git -C "$dir" checkout -q "$commit"
  # Each build installs its own ic-wasm (the pinned version, from npm) in its target dir.
  (cd "$dir" && CARGO_HOME="$2" CARGO_TARGET_DIR="$work/target-$1" \
    bash scripts/build-canister.sh inference >&2)
  local out="$work/target-$1/wasm32-unknown-unknown/release"
  echo "$(sha256sum < "$out/inference.wasm" | cut -d' ' -f1) $(sha256sum < "$out/inference.wasm.gz" | cut -d' ' -f1)"
}

a="$(build a "$home_a")"
b="$(build b "$home_b")"
echo "commit $commit"
echo "build a ($work/checkout-a, CARGO_HOME $home_a): wasm ${a% *} gzip ${a#* }"
echo "build b ($work/checkout-b, CARGO_HOME $home_b): wasm ${b% *} gzip ${b#* }"
if [ "$a" != "$b" ]; then
  echo "reproducible-build.sh: the two builds differ" >&2
  exit 1
fi
echo "reproducible-build.sh: the same module and gzip from both"
