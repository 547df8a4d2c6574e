# Sourced by the scripts that build for wasm32 in release (build-canister.sh,
# build-preprocess.sh): sets WASM_REMAP to a cargo `--config` argument that adds
# `--remap-path-prefix=<CARGO_HOME>=/cargo` and `--remap-path-prefix=<target dir>=/target`
# to the wasm rustflags of .cargo/config.toml
# (cargo appends --config arrays to the file's).
#
# Why: panic locations embed the paths of registry sources, which are absolute and start
# with CARGO_HOME (/root/.cargo/registry/src/index.crates.io-…/tract-core-0.23.9/…), so two
# builds with different CARGO_HOMEs gave different modules. Workspace paths are relative
# and the checkout directory never mattered; std's are /rustc/<commit>/ already. The path
# differs per machine, which .cargo/config.toml cannot express (it takes no variables), and
# Cargo's trim-paths is not stable in Rust 1.95. Every release wasm32 build of this
# repository goes through here with the same flags, so the shared dependencies in target/
# are not rebuilt back and forth.
cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)"
# Code that build scripts generate is included from OUT_DIR, under the target directory,
# so its panic locations embed that absolute path too (the kernels' gemm_*.rs did: two
# builds in two target directories of the same length gave modules of the same size and
# different hashes). cargo metadata names the target directory as cargo will use it.
target_dir="$(cargo metadata --locked --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)"
WASM_REMAP="target.wasm32-unknown-unknown.rustflags=[\"--remap-path-prefix=$cargo_home=/cargo\", \"--remap-path-prefix=$target_dir=/target\"]"
