#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (libFuzzer through libfuzzer-sys, nightly Rust).
#
#   scripts/fuzz.sh                 # every target for $FUZZ_SECONDS (default 60) each: CI's bounded pass
#   scripts/fuzz.sh dsl_roundtrip   # one target
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   # each target for 10 M executions (scripts/fuzz-long.sh)
#
# The corpus grows in fuzz/corpus/<target> (not committed yet: it is to be minimised with
# -merge=1 first); the project's own profiles, docs and, when present, ../shared's fixtures
# are added as seeds at run time (never committed). A crash leaves its
# input in fuzz/artifacts/<target>/ and fails the run; turn it into a regression test
# (crates/*/tests/fuzz_regressions.rs) and add the input to the corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
targets=(config_load dsl_roundtrip probe_manifest pii_detect chat_parse)
[ $# -gt 0 ] && targets=("$@")
seconds="${FUZZ_SECONDS:-60}"
runs="${FUZZ_RUNS:-}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  if [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
    echo "error: the nightly toolchain is needed for fuzzing (rustup toolchain install nightly)" >&2
    exit 1
  fi
  echo "notice: no nightly toolchain; fuzzing skipped"
  exit 0
fi

# What cargo-fuzz passes to rustc: libFuzzer's coverage instrumentation, and `cfg(fuzzing)`.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
fuzz_target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
echo "== fuzz build (nightly, $fuzz_target_dir)"
# An explicit --target keeps the instrumentation off build scripts and proc macros.
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
CARGO_TARGET_DIR="$fuzz_target_dir" cargo +nightly build --release --target "$host" --manifest-path fuzz/Cargo.toml \
  $(printf -- '--bin %s ' "${targets[@]}")

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
shared="$root/../shared"
seed_files() { # target -> files to add as seeds
  case "$1" in
    config_load) find profiles docs -name '*.yaml' 2>/dev/null; [ -d "$shared/reference" ] && find "$shared/reference" -name '*.yaml' ! -name '*probes*' ;;
    dsl_roundtrip) find profiles -name '*.dsl'; [ -d "$shared/reference" ] && find "$shared/reference" -name '*.dsl' ;;
    probe_manifest) find profiles -name '*probes*.yaml'; [ -d "$shared/reference" ] && find "$shared/reference" -name '*probes*.yaml' ;;
    pii_detect|chat_parse) ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t" "$seeds/$t"
  while IFS= read -r f; do
    [ -f "$f" ] && cp "$f" "$seeds/$t/$(echo "$f" | md5sum | cut -c1-16)"
  done < <(seed_files "$t" || true)
  limit=(-max_total_time="$seconds")
  [ -n "$runs" ] && limit=(-runs="$runs")
  echo "== fuzz $t (${runs:+$runs runs}${runs:-$seconds s})"
  log="fuzz/artifacts/$t/last-run.log"
  if ! "$fuzz_target_dir/$host/release/$t" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "$corpus" "$seeds/$t" >"$log" 2>&1; then
    echo "error: fuzz target $t failed; input in fuzz/artifacts/$t/" >&2
    tail -40 "$log" >&2
    status=1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/$t: /" || true
done
exit $status
