#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, formatting, lints, tests,
# and a smoke run of the benchmarks. README.md and .ci/run call exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A clean clone builds once; incremental state would only cost disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The benchmarks must keep running; --quick keeps them to seconds.
cargo run --locked -p clipper-perf --bin store-bench -- --quick
cargo run --locked -p clipper-perf --bin proto-bench -- --quick
cargo run --locked -p clipper-perf --bin scheduler-core-bench -- --quick
cargo run --locked -p clipper-perf --bin proxy-bench -- --quick
cargo run --locked -p clipper-perf --bin apiserver-bench -- --quick
cargo run --locked -p clipper-perf --bin scheduler-bench -- --quick
