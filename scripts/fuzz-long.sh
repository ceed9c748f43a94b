#!/usr/bin/env bash
# The long fuzz campaign: each target (or the ones named) for $FUZZ_RUNS executions (default
# 10 M), one at a time at low priority, the corpus minimised into fuzz/corpus/<target> after
# each. FUZZ_SECONDS caps each target's time on a slow machine. Prints one line per target
# (execs, seconds, execs/s); docs/fuzzing.md keeps the last figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_RUNS="${FUZZ_RUNS:-10000000}" FUZZ_MERGE="${FUZZ_MERGE:-1}" FUZZ_NICE="${FUZZ_NICE:-10}"
exec scripts/fuzz.sh "$@"
