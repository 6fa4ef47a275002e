#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs dependencies, checks
# formatting and lints, runs every crate's unit and integration tests, then
# the end-to-end suites (stock kubectl and the conformance runner) against a
# real `oxkube server`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oxkube-target}"
export CARGO_TERM_COLOR=never
# A clean clone gains nothing from incremental artifacts, which take many
# GiB of disk per checkout path.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
export RUST_BACKTRACE=1

scripts/install-deps.sh

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build"
cargo build --workspace --all-targets
echo "== cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee "$CARGO_TARGET_DIR/cargo-test.log"
echo "== end to end"
scripts/e2e.sh "$CARGO_TARGET_DIR/debug/oxkube"
