#!/usr/bin/env bash
# Builds librdkafka's own benchmark client, `rdkafka_performance`, from the
# librdkafka the monitor links (rdkafka-sys's bundled source, configured and
# compiled by the release build: same version, same options, same static
# library), into .tools/rdkafka_performance, and prints its path. The
# reference of benches/e2e.py --reference (issue 32: CPU per event against
# librdkafka's own consumer on the same drain). Run after
# `cargo build --release`; rebuilds when the library is newer.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(ls -td target/release/build/rdkafka-sys-*/out 2>/dev/null | while read -r d; do
  [ -f "$d/src/librdkafka.a" ] && echo "$d" && break
done)
if [ -z "$out" ]; then
  echo "no release build of rdkafka-sys: run cargo build --release first" >&2
  exit 2
fi
bin=.tools/rdkafka_performance
mkdir -p .tools
if [ ! -x "$bin" ] || [ "$out/src/librdkafka.a" -nt "$bin" ]; then
  # The libraries librdkafka's configure chose (Makefile.config's LIBS).
  libs=$(sed -n 's/^LIBS+=//p' "$out/Makefile.config" | tr '\n' ' ')
  # shellcheck disable=SC2086
  gcc -O2 -I"$out/src" "$out/examples/rdkafka_performance.c" "$out/src/librdkafka.a" $libs -o "$bin.part"
  mv "$bin.part" "$bin"
fi
echo "$PWD/$bin"
