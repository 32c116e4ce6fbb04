#!/usr/bin/env bash
# Runs every cargo-fuzz target (tests/fuzz) for a bounded time, starting from
# the corpora kept in the repository (read only: new inputs go to a temporary
# directory). Fails on the first crash, leaving the input in
# tests/fuzz/artifacts/TARGET/ (turn it into a regression test; see
# docs/fuzzing.md). Needs the nightly toolchain (on these machines) and
# cargo-fuzz, which scripts/tools.sh installs into .tools/.
#
#   FUZZ_SECS=10 ./scripts/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECS="${FUZZ_SECS:-10}"
export PATH="$PWD/.tools/cargo-fuzz/bin:$PATH"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(event_reader rfc3339 config checkpoint report_query state_topic)
fi
cargo +nightly fuzz build --fuzz-dir tests/fuzz >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  if ! cargo +nightly fuzz run --fuzz-dir tests/fuzz "$t" "$work/$t" "tests/fuzz/corpus/$t" -- \
      -max_total_time="$FUZZ_SECS" -max_len=4096 -print_final_stats=1 >"$work/$t.log" 2>&1; then
    tail -n 40 "$work/$t.log" >&2
    echo "fuzz: $t failed; the input is in tests/fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz target $t: $runs runs in ${FUZZ_SECS} s, no crash"
done
echo "fuzz: ${#targets[@]} passed, 0 failed"
