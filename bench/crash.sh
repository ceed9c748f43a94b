#!/usr/bin/env bash
# kill -9 under load, repeated: see bench/crash.py for what each round checks.
# Env: VLLM_SR_BIN (default target/release/vllm-sr, else target/debug/vllm-sr),
#      CRASH_ROUNDS (default 20), CRASH_THREADS (default 4), CRASH_RATE (total req/s; default 0:
#      closed loop, as fast as the clients go),
#      CRASH_BACKENDS (default "sqlite postgres"), CRASH_PG_URL (a PostgreSQL URL; default: a
#      throwaway cluster started with scripts/start-postgres.sh on VSR_PG_PORT, default 55499).
set -uo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
bin="${VLLM_SR_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$target/release/vllm-sr" ]; then bin="$target/release/vllm-sr"; else bin="$target/debug/vllm-sr"; fi
fi
[ -x "$bin" ] || { echo "vllm-sr binary not found ($bin); build it first" >&2; exit 2; }
export VLLM_SR_BIN="$bin"
rc=0
for backend in ${CRASH_BACKENDS:-sqlite postgres}; do
  url=""
  started_pg=0
  if [ "$backend" = postgres ]; then
    url="${CRASH_PG_URL:-}"
    if [ -z "$url" ]; then
      export VSR_PG_DIR="${VSR_PG_DIR:-/tmp/vsr-crash-pg}" VSR_PG_PORT="${VSR_PG_PORT:-55499}"
      url=$(scripts/start-postgres.sh | tail -1) || { echo "cannot start PostgreSQL" >&2; exit 2; }
      started_pg=1
    fi
  fi
  CRASH_BACKEND="$backend" CRASH_PG_URL="$url" python3 bench/crash.py || rc=1
  [ "$started_pg" = 1 ] && scripts/start-postgres.sh --stop >/dev/null 2>&1
done
exit $rc
