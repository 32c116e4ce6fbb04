#!/usr/bin/env bash
# The SASL/SCRAM login tests (tests/kafka_sasl.rs, needs_scram_broker_*),
# outside the test command: they need the SQLite build of Tansu 0.6.0, which
# took 10 min 43 s to build on two cores here (../shared/brokers.md). Built
# once into .tools/tansu-scram, then reused. Starts it with two users (bob:
# SCRAM-SHA-512, alice: SCRAM-SHA-256, random passwords), behind stunnel for
# SASL_SSL, and runs the tests.
# Usage: scripts/test-scram.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(./scripts/tools.sh | sed 's/^/export /')"
ROOT=$PWD
BIN=$ROOT/.tools/tansu-scram/bin/tansu
if [ ! -x "$BIN" ]; then
  cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$ROOT/.tools/tansu-scram"
fi
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$(dirname "$0")/make-certs.sh" "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
plain=$(free_port)
tls=$(free_port)
wait_port() { for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# Users live in the SQLite file: create them on a broker without
# authentication, then restart it with authentication on the same file
# (a relative path: the broker joins it to its working directory).
cd "$dir"
"$BIN" broker --listener-url "tcp://127.0.0.1:$plain" --advertised-listener-url "tcp://127.0.0.1:$tls" \
  --storage-engine sqlite://scram.db >"$dir/setup.log" 2>&1 &
setup=$!
wait_port "$plain"
export IM_TEST_SCRAM_512_PASSWORD=$(openssl rand -hex 16)
export IM_TEST_SCRAM_256_PASSWORD=$(openssl rand -hex 16)
"$BIN" user create bob "$IM_TEST_SCRAM_512_PASSWORD" --mechanism scram512 --broker "tcp://127.0.0.1:$plain" >/dev/null
"$BIN" user create alice "$IM_TEST_SCRAM_256_PASSWORD" --mechanism scram256 --broker "tcp://127.0.0.1:$plain" >/dev/null
kill "$setup"; wait "$setup" 2>/dev/null || true
"$BIN" broker --listener-url "tcp://127.0.0.1:$plain" --advertised-listener-url "tcp://127.0.0.1:$tls" \
  --storage-engine sqlite://scram.db --authentication >"$dir/broker.log" 2>&1 &
pids+=($!)
"$ROOT/scripts/stunnel.sh" "$dir" "$tls" "$plain" &
pids+=($!)
wait_port "$plain"
wait_port "$tls"
cd "$ROOT"
export IM_TEST_SCRAM_BROKERS=127.0.0.1:$tls
export IM_TEST_SCRAM_CA=$dir/ca.pem
cargo test --test kafka_sasl needs_scram_broker -- --include-ignored
