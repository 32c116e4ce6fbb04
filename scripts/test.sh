#!/usr/bin/env bash
# The test command: everything the project checks, on a fresh machine.
# Installs what the tests need (nothing beyond the Rust toolchain yet) and
# runs the whole suite: unit, property, golden-file, black-box (the real
# binary, including kill -9 and restart) and the benchmarks in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-targets
