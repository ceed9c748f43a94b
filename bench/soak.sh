#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed traffic through `vllm-sr serve` and a sim backend,
# open loop at a fixed rate (oha -q, --latency-correction), in one-minute slices. Four kinds run
# side by side, SOAK_RATE/4 req/s each:
#   routed    model MoM, a prompt matching the `code_route` decision (replay record, JSON)
#   stream    the same, streamed (SSE; replay record)
#   explicit  model `cheap` (an explicit alias: no classification, no record)
#   cached    model MoM, matching the `faq_route` decision whose exact response cache answers all
#             but the first (replay record with from_cache)
# Each minute: the router's RSS and open fds (/proc), and p99 per kind. At the end (SIGTERM, so
# the replay writer drains): replay records in the SQLite store vs requests answered 2xx of the
# recording kinds, and `vsr_replay_records_dropped_total`.
# Targets (docs/reliability.md): RSS drift < 5% (minute 2 → last; minute 1 is warm-up), no fd
# growth (last minute vs the first half's peak), zero lost records. Exit 1 when a target is missed.
#
# Needs: oha (cargo install oha), python3, sqlite3.
# Env: VLLM_SR_BIN (default target/release/vllm-sr, else target/debug/vllm-sr),
#      SOAK_SECONDS (600), SOAK_RATE (total req/s, default 1000: the rate docs/serve.md measures
#      latency at), SOAK_SLICE (seconds per slice, default 60), SOAK_CONNS (per kind, default 8).
set -uo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
bin="${VLLM_SR_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$target/release/vllm-sr" ]; then bin="$target/release/vllm-sr"; else bin="$target/debug/vllm-sr"; fi
fi
[ -x "$bin" ] || { echo "vllm-sr binary not found ($bin); build it first" >&2; exit 2; }
oha_bin="${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
[ -x "$oha_bin" ] || { echo "oha not found (cargo install oha)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 not found" >&2; exit 2; }
SECONDS_TOTAL="${SOAK_SECONDS:-600}"; RATE="${SOAK_RATE:-1000}"; SLICE="${SOAK_SLICE:-60}"
CONNS="${SOAK_CONNS:-8}"
per_kind=$((RATE / 4)); [ "$per_kind" -ge 1 ] || per_kind=1
slices=$(( (SECONDS_TOTAL + SLICE - 1) / SLICE ))

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${SOAK_KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

wait_port_file() {
  for _ in $(seq 1 1200); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.05; done
  echo "timed out waiting for $1" >&2; return 1
}

"$bin" sim-backend --port 0 --models cheap-up --words 16 --port-file "$work/sim.port" >"$work/sim.log" 2>&1 &
pids+=($!)
sim_port=$(wait_port_file "$work/sim.port") || exit 1
cat >"$work/config.yaml" <<EOF
version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 30s}
global:
  stores:
    response_cache: {enabled: true, max_entries: 1000, ttl_seconds: 3600}
providers:
  defaults:
    default_model: cheap
  models:
    - name: cheap
      provider_model_id: cheap-up
      pricing: {currency: USD, prompt_per_1m: 0.5, completion_per_1m: 1.0}
      backend_refs:
        - {name: sim, endpoint: "127.0.0.1:$sim_port", protocol: http, weight: 1}
routing:
  signals:
    keywords:
      - {name: code, operator: OR, keywords: ["code"], case_sensitive: false}
      - {name: faq, operator: OR, keywords: ["faq"], case_sensitive: false}
  decisions:
    - name: code_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: code}]}
      modelRefs: [{model: cheap, use_reasoning: false}]
      plugins:
        - type: router_replay
          configuration: {enabled: true, max_records: 100000000}
    - name: faq_route
      priority: 90
      rules: {operator: AND, conditions: [{type: keyword, name: faq}]}
      modelRefs: [{model: cheap, use_reasoning: false}]
      plugins:
        - type: response_cache
          configuration: {enabled: true, mode: exact, scope: global}
        - type: router_replay
          configuration: {enabled: true, max_records: 100000000}
EOF
VSR_DATA_DIR="$work/data" "$bin" serve --config "$work/config.yaml" --host 127.0.0.1 --port 0 \
  --no-dashboard --no-watch --port-file "$work/router.port" >"$work/router.log" 2>&1 &
router_pid=$!
pids+=($router_pid)
port=$(wait_port_file "$work/router.port") || { tail -20 "$work/router.log"; exit 1; }
url="http://127.0.0.1:$port/v1/chat/completions"

body() { # model text stream
  printf '{"model":"%s","stream":%s,"messages":[{"role":"user","content":"%s"}]}' "$1" "$3" "$2"
}
kinds=(routed stream explicit cached)
declare -A bodies=(
  [routed]="$(body MoM 'please review this code for bugs' false)"
  [stream]="$(body MoM 'explain this code line by line' true)"
  [explicit]="$(body cheap 'hello, how are you today' false)"
  [cached]="$(body MoM 'faq: what are your opening hours' false)"
)
sample() { # -> "rss_kib fds"
  echo "$(awk '/^VmRSS/ {print $2}' "/proc/$router_pid/status") $(ls "/proc/$router_pid/fd" | wc -l)"
}

echo "binary: $bin  rate: $RATE req/s ($per_kind per kind)  slices: $slices x ${SLICE}s  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "start: rss_kib fds = $(sample)"
for s in $(seq 1 "$slices"); do
  ohas=()
  for k in "${kinds[@]}"; do
    "$oha_bin" --no-tui --output-format json -z "${SLICE}s" -q "$per_kind" --latency-correction \
      -c "$CONNS" -m POST -T application/json -d "${bodies[$k]}" "$url" >"$work/$s-$k.json" 2>"$work/$s-$k.err" &
    ohas+=($!)
  done
  for j in "${ohas[@]}"; do wait "$j"; done
  sleep 1 # the router closes the finished clients' connections
  echo "$s $(sample)" >>"$work/samples"
done
final_sample=$(sample)
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics"
kill -TERM "$router_pid"
wait "$router_pid"
records=$(sqlite3 "$work/data/replay.db" "SELECT COUNT(*) FROM replay_records")
from_cache=$(sqlite3 "$work/data/replay.db" "SELECT COUNT(*) FROM replay_records WHERE from_cache=1")
integrity=$(sqlite3 "$work/data/replay.db" "PRAGMA integrity_check")

python3 - "$work" "$slices" "$records" "$from_cache" "$integrity" "$final_sample" <<'PY'
import json, sys
work, slices, records, from_cache, integrity, final = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
kinds = ["routed", "stream", "explicit", "cached"]
samples = {}
for line in open(f"{work}/samples"):
    s, rss, fds = line.split()
    samples[int(s)] = (int(rss), int(fds))
ok_total = {k: 0 for k in kinds}
errs_total = {k: 0 for k in kinds}
print(f"{'minute':>6} {'rss_MiB':>8} {'fds':>4} " + " ".join(f"{k+'_p99_ms':>16}" for k in kinds) + f" {'req/s':>7} {'errors':>6}")
for s in range(1, slices + 1):
    p99s, rps, errs = [], 0.0, 0
    for k in kinds:
        d = json.load(open(f"{work}/{s}-{k}.json"))
        codes = d.get("statusCodeDistribution", {})
        ok = sum(v for c, v in codes.items() if c.startswith("2"))
        e = sum(codes.values()) - ok + sum(v for m, v in d.get("errorDistribution", {}).items()
                                           if m != "aborted due to deadline")
        ok_total[k] += ok
        errs_total[k] += e
        errs += e
        rps += d["summary"]["requestsPerSec"] or 0
        p99s.append((d["latencyPercentiles"]["p99"] or 0) * 1000)
    rss, fds = samples[s]
    print(f"{s:>6} {rss/1024:8.1f} {fds:>4} " + " ".join(f"{p:16.2f}" for p in p99s) + f" {rps:7.0f} {errs:>6}")
first = samples[2] if slices >= 3 else samples[1]
last = samples[slices]
drift = (last[0] - first[0]) / first[0] * 100
# Growth past the first half's plateau (idle keep-alive connections to the sim and from the
# load generator settle during the first minutes).
plateau = max(samples[s][1] for s in range(1, slices // 2 + 1)) if slices >= 2 else first[1]
fd_growth = last[1] - plateau
recording = ok_total["routed"] + ok_total["stream"] + ok_total["cached"]
dropped = 0
for line in open(f"{work}/metrics"):
    if line.startswith("vsr_replay_records_dropped_total"):
        dropped += int(float(line.split()[-1]))
lost = max(0, recording - records)
print(f"answered 2xx: " + ", ".join(f"{k} {ok_total[k]}" for k in kinds) + f"; errors: {sum(errs_total.values())}")
print(f"replay records: {records} (from cache {from_cache}) for {recording} answered recording requests; "
      f"dropped metric {dropped}; lost {lost}; integrity {integrity}")
print(f"RSS drift (minute {2 if slices >= 3 else 1} -> {slices}): {drift:+.2f}%  fds: first-half peak {plateau}, last {last[1]} ({fd_growth:+d})")
fail = drift >= 5 or fd_growth > 0 or lost > 0 or dropped > 0 or integrity != "ok"
print("targets: " + ("MISSED" if fail else "met") + " (RSS drift < 5%, no fd growth, zero lost records)")
sys.exit(1 if fail else 0)
PY
