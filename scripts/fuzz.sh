#!/usr/bin/env bash
# The fuzz targets of fuzz/ (docs/fuzzing.md), with cargo-fuzz (libFuzzer) on a pinned
# nightly toolchain, which this script installs if missing.
#
#   scripts/fuzz.sh ci [SECONDS]              the targets that do not link tract, SECONDS
#                                             each (default 30): what scripts/test.sh runs
#   scripts/fuzz.sh run [SECONDS] [TARGET...] every target, tract's too, SECONDS each
#                                             (default 300): the slow tier
#   scripts/fuzz.sh seeds                     rewrite fuzz/seeds/ from testdata/ and models/
#
# Every run ends with a line per target: `fuzz: TARGET RUNS runs in SECONDS s, ...`. A
# finding stops the run and leaves its input in fuzz/artifacts/TARGET/; reproduce it with
# `cargo +$FUZZ_TOOLCHAIN fuzz run --target-dir target/fuzz TARGET fuzz/artifacts/TARGET/...`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so that a run means the same thing tomorrow; cargo-fuzz needs nightly for
# -Zsanitizer and the coverage instrumentation.
toolchain="${FUZZ_TOOLCHAIN:-nightly-2026-10-30}"
cargo_fuzz_version=0.13.2
# Targets that need no tract: seconds to build, so CI runs them.
light_targets=(candid_args entry_decode tensor_hash merkle_proofs certificate log_proof)
# Targets that link tract (icinfer-core): about 20 minutes to build cold on two cores.
tract_targets=(onnx_load endpoints tensor_check)
# One target dir for the workspace (git-ignored); the fuzz build's flags differ from every
# other build's, so nothing in it is shared with target/debug.
target_dir="${CARGO_TARGET_DIR:-target}/fuzz"
# No sanitizer by default: the code is safe Rust, and AddressSanitizer made the BLS
# pairings of the certificate targets several times slower (FUZZ_SANITIZER=address to
# have it). Debug assertions and overflow checks stay on (cargo-fuzz's default).
sanitizer="${FUZZ_SANITIZER:-none}"
# The tract targets build only with this feature; the run mode builds every target with it
# (the others ignore it), so that the fuzz crate is not rebuilt between targets.
features=()

setup() {
  if ! rustup toolchain list | grep -q "^$toolchain"; then
    rustup toolchain install "$toolchain" --profile minimal
  fi
  if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
  fi
}

# fuzz TARGET SECONDS: runs TARGET from its seeds (read only) and its corpus (kept between
# runs, git-ignored), and prints its summary line.
fuzz() {
  local target=$1 seconds=$2 log
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  log=$(mktemp)
  # -max_len: the ONNX seeds are up to 40 KB; -rss_limit_mb and -timeout make a decoding
  # bomb or an unbounded load a finding rather than a stalled machine.
  if ! cargo "+$toolchain" fuzz run -s "$sanitizer" --target-dir "$target_dir" "${features[@]}" "$target" \
      "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    rm -f "$log"
    echo "fuzz: $target FAILED (its input is in fuzz/artifacts/$target/)" >&2
    return 1
  fi
  local runs time
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  time=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$seconds")
  echo "fuzz: $target $runs runs in $time s, corpus $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
  rm -f "$log"
}

mode="${1:-ci}"
case "$mode" in
  ci)
    seconds="${2:-30}"
    setup
    start=$(date +%s)
    # Without `--features tract` the tract targets (required-features) are not built.
    cargo "+$toolchain" fuzz build -s "$sanitizer" --target-dir "$target_dir"
    echo "fuzz: built in $(( $(date +%s) - start )) s"
    for target in "${light_targets[@]}"; do fuzz "$target" "$seconds"; done
    ;;
  run)
    seconds="${2:-300}"
    shift $(( $# >= 2 ? 2 : $# ))
    targets=("$@")
    (( ${#targets[@]} )) || targets=("${light_targets[@]}" "${tract_targets[@]}")
    setup
    features=(--features tract)
    start=$(date +%s)
    cargo "+$toolchain" fuzz build -s "$sanitizer" --target-dir "$target_dir" "${features[@]}"
    echo "fuzz: built in $(( $(date +%s) - start )) s"
    for target in "${targets[@]}"; do fuzz "$target" "$seconds"; done
    ;;
  seeds)
    setup
    rm -rf fuzz/seeds
    cargo "+$toolchain" run --quiet --target-dir "$target_dir" --manifest-path fuzz/Cargo.toml \
      --example write_seeds
    du -sh fuzz/seeds
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
