#!/usr/bin/env bash
# The test command: everything the project checks, on a fresh machine.
# Installs the tools the tests need (promtool; a real Kafka-protocol broker;
# stunnel), starts the broker (and the same behind TLS), and runs the whole
# suite: unit, property, golden-file,
# black-box tests of the real binary (kill -9 and restart, the demo and its
# metrics), Kafka tests on librdkafka's mock cluster and on the real broker,
# the benchmarks in test mode, and each fuzz target for a few seconds
# (scripts/fuzz.sh); and cargo deny on the dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(./scripts/tools.sh | sed 's/^/export /')"
read -r BROKERS_KV PID_KV < <(./scripts/broker.sh)
export IM_TEST_BROKERS="${BROKERS_KV#BROKERS=}"
BROKER_PID="${PID_KV#PID=}"
# The same broker behind TLS (stunnel), for tests/kafka_tls.rs.
TLS_DIR=$(mktemp -d)
read -r TLS_BROKERS_KV TLS_CA_KV TLS_OTHER_KV TLS_PIDS_KV < <(./scripts/tls-broker.sh "$TLS_DIR")
export IM_TEST_TLS_BROKERS="${TLS_BROKERS_KV#TLS_BROKERS=}"
export IM_TEST_TLS_CA="${TLS_CA_KV#TLS_CA=}"
export IM_TEST_TLS_OTHER_CA="${TLS_OTHER_KV#TLS_OTHER_CA=}"
TLS_PIDS="${TLS_PIDS_KV#TLS_PIDS=}"
trap 'kill "$BROKER_PID" ${TLS_PIDS//,/ } 2>/dev/null || true; rm -rf "$TLS_DIR"' EXIT

# Licences, banned crates and sources of the dependency tree (deny.toml).
"$CARGO_DENY" check licenses bans sources
# The tests named needs_scram_broker_* need the SQLite build of Tansu (a
# build of about 11 minutes): ./scripts/test-scram.sh runs them. The benchmarks run
# in test mode on their own (criterion takes no --skip).
cargo test --lib --bins --tests -- --include-ignored --skip needs_scram_broker
cargo test --benches
FUZZ_SECS="${FUZZ_SECS:-10}" ./scripts/fuzz.sh
