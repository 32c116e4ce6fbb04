#!/usr/bin/env bash
# Throwaway certificates for the TLS tests (Kafka behind stunnel, the HTTPS
# endpoint) and the compose stack, made with the machine's openssl:
#   DIR/ca.pem, ca.key            a test CA
#   DIR/other-ca.pem              an unrelated CA (a client trusting only it
#                                 must refuse the server)
#   DIR/server.pem, server.key    for 127.0.0.1, localhost, monitor (compose)
#                                 and incident-monitor, from the CA
#   DIR/client.pem, client.key    a client certificate from the CA
# Usage: scripts/make-certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=incident-monitor-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$dir/ca.key" -out "$dir/ca.pem"
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=some-other-ca \
  -keyout "$dir/other-ca.key" -out "$dir/other-ca.pem"
leaf() { # name, subject, extensions
  ossl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$dir/$1.key" -out "$dir/$1.csr"
  printf '%b' "$3" >"$dir/$1.ext"
  ossl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$1.ext" -out "$dir/$1.pem"
}
leaf server /CN=127.0.0.1 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:monitor,DNS:incident-monitor\nextendedKeyUsage=serverAuth\n'
leaf client /CN=prometheus 'extendedKeyUsage=clientAuth\n'
