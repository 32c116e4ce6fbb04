#!/usr/bin/env bash
# The test command: everything the project checks, on a fresh machine.
# Installs the tools the tests need (promtool; a real Kafka-protocol broker),
# starts the broker, and runs the whole suite: unit, property, golden-file,
# black-box tests of the real binary (kill -9 and restart, the demo and its
# metrics), Kafka tests on librdkafka's mock cluster and on the real broker,
# the benchmarks in test mode, and each fuzz target for a few seconds
# (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(./scripts/tools.sh | sed 's/^/export /')"
read -r BROKERS_KV PID_KV < <(./scripts/broker.sh)
export IM_TEST_BROKERS="${BROKERS_KV#BROKERS=}"
BROKER_PID="${PID_KV#PID=}"
trap 'kill "$BROKER_PID" 2>/dev/null || true' EXIT

cargo test --all-targets -- --include-ignored
FUZZ_SECS="${FUZZ_SECS:-10}" ./scripts/fuzz.sh
