#!/usr/bin/env bash
# Runs stunnel in the foreground as a TLS terminator in front of a plaintext
# broker: accepts TLS on 127.0.0.1:ACCEPT with DIR/server.pem and
# DIR/server.key (scripts/make-certs.sh), connects to 127.0.0.1:CONNECT.
# Start it in the background; its log is DIR/stunnel.log.
# Usage: scripts/stunnel.sh DIR ACCEPT CONNECT
set -euo pipefail
dir=$1
cat >"$dir/stunnel.conf" <<CONF
foreground = yes
pid =
[kafka]
accept = 127.0.0.1:$2
connect = 127.0.0.1:$3
cert = $dir/server.pem
key = $dir/server.key
CONF
exec stunnel4 "$dir/stunnel.conf" >"$dir/stunnel.log" 2>&1
