#!/usr/bin/env bash
# Proxy overhead benchmark for an explicit alias (no classification): the same sim backend
# called directly and through `vllm-sr serve`, plus LiteLLM's proxy when available.
#
# 1. Added latency, at a fixed moderate request rate (not at saturation, where p99 is queueing):
#    `oha -q RATE --latency-correction` (an open-loop load: latency counts from the moment a
#    request was due, so a stall is not hidden by the client waiting). Direct and via-router
#    slices alternate A/B, B/A, A/B, ... for ROUNDS rounds so that machine noise hits both; the
#    added latency is the median over rounds of (router - direct) for p50 and p99.
# 2. Requests/s at saturation: wrk with CONNS connections, direct / vllm-sr / LiteLLM.
#
# Needs: oha (cargo install oha) and wrk (apt install wrk). Optional: LiteLLM
# (pip install 'litellm[proxy]'; set LITELLM_BIN or put `litellm` on PATH).
# Env: VLLM_SR_BIN (default target/release/vllm-sr, else target/debug/vllm-sr), SIM_BIN (the
#      sim-backend binary, default VLLM_SR_BIN: pin one to compare two routers),
#      RATE (default 1000 req/s), ROUNDS (default 10), SLICE (default 5s per slice),
#      LAT_CONNS (default 8), DURATION (saturation, default 10s), CONNS (default 64),
#      THREADS (default 2), WORDS (default 16), STREAM=1 (SSE answers instead of JSON),
#      PIN=1 (default: load generator on CPU 0, sim and router on the other CPUs; PIN=0 off),
#      LOAD_MAX (default 0.7) and LOAD_WAIT (seconds, default 900): wait until the 1-minute
#      load average is below LOAD_MAX before each phase (LOAD_WAIT=0 skips the wait).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo "$root/target")}"
bin="${VLLM_SR_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$target/release/vllm-sr" ]; then bin="$target/release/vllm-sr"; else bin="$target/debug/vllm-sr"; fi
fi
[ -x "$bin" ] || { echo "vllm-sr binary not found ($bin); build it first" >&2; exit 2; }
oha_bin="${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
[ -x "$oha_bin" ] || { echo "oha not found (cargo install oha)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found (apt install wrk)" >&2; exit 2; }
RATE="${RATE:-1000}"; ROUNDS="${ROUNDS:-10}"; SLICE="${SLICE:-5s}"; LAT_CONNS="${LAT_CONNS:-8}"
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-64}"; THREADS="${THREADS:-2}"; WORDS="${WORDS:-16}"
LOAD_MAX="${LOAD_MAX:-0.7}"; LOAD_WAIT="${LOAD_WAIT:-900}"
litellm_bin="${LITELLM_BIN:-$(command -v litellm || true)}"

# CPU pinning: the load generator gets CPU 0, the servers the rest (when there is a rest).
ncpu=$(nproc)
gen=(); srv=(); sim_env=()
if [ "${PIN:-1}" = 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  gen=(taskset -c 0); srv=(taskset -c "1-$((ncpu - 1))")
  # As many sim workers as it has CPUs: two tokio workers sharing one CPU hand work to each
  # other through the scheduler, which inflates the direct baseline's tail.
  sim_env=(env "TOKIO_WORKER_THREADS=$((ncpu - 1))")
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port_file() { # file -> port
  for _ in $(seq 1 400); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.05
  done
  echo "timed out waiting for $1" >&2; return 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_quiet() { # phase name
  [ "$LOAD_WAIT" = 0 ] && return 0
  local waited=0
  while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v m="$LOAD_MAX" 'BEGIN {exit !(l >= m)}'; do
    if [ "$waited" -ge "$LOAD_WAIT" ]; then
      echo "note: load average still $(loadavg) after ${LOAD_WAIT}s; measuring $1 anyway" >&2
      return 0
    fi
    sleep 30; waited=$((waited + 30))
  done
}

"${sim_env[@]}" "${srv[@]}" "${SIM_BIN:-$bin}" sim-backend --port 0 --models bench-model --words "$WORDS" --port-file "$work/sim.port" >"$work/sim.log" 2>&1 &
pids+=($!)
sim_port=$(wait_port_file "$work/sim.port")

cat >"$work/config.yaml" <<YAML
version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 60s}
providers:
  defaults: {default_model: bench-model}
  models:
    - name: bench-model
      backend_refs:
        - {name: sim, endpoint: "127.0.0.1:$sim_port", weight: 1}
routing:
  decisions: []
YAML
"${srv[@]}" "$bin" serve --config "$work/config.yaml" --host 127.0.0.1 --port 0 --no-watch --no-dashboard --port-file "$work/router.port" >"$work/router.log" 2>&1 &
pids+=($!)
router_port=$(wait_port_file "$work/router.port")

stream=false; [ "${STREAM:-0}" = 1 ] && stream=true
body="{\"model\":\"bench-model\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the plot of Hamlet in two sentences.\"}],\"max_tokens\":$WORDS}"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '$body'
LUA
direct_url="http://127.0.0.1:$sim_port/v1/chat/completions"
router_url="http://127.0.0.1:$router_port/v1/chat/completions"

if [ -n "$litellm_bin" ] && [ ! -x "$litellm_bin" ]; then
  echo "notice: $litellm_bin is not executable; skipping the LiteLLM comparison" >&2
  litellm_bin=""
fi
litellm_url=""
if [ -n "$litellm_bin" ]; then
  cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$sim_port/v1
      api_key: sk-bench
litellm_settings:
  drop_params: true
general_settings:
  master_key: sk-bench
YAML
  lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR "${srv[@]}" "$litellm_bin" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$lport" >"$work/litellm.log" 2>&1 &
  pids+=($!)
  ok=0
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$lport/health/liveliness" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  if [ "$ok" = 1 ]; then
    litellm_url="http://127.0.0.1:$lport/v1/chat/completions"
  else
    echo "warning: litellm did not become ready; see below" >&2; tail -20 "$work/litellm.log" >&2
  fi
elif [ -z "${LITELLM_BIN:-}" ]; then
  echo "notice: litellm not found; skipping the LiteLLM comparison" >&2
fi

oha_run() { # url duration qps out.json
  "${gen[@]}" "$oha_bin" --no-tui --output-format json -z "$2" -q "$3" --latency-correction \
    -c "$LAT_CONNS" -m POST -T application/json -H "Authorization: Bearer sk-bench" \
    -d "$body" "$1" >"$4" 2>"$4.err"
}

echo "binary: $bin   stream: $stream   cpus: $ncpu   pinning: ${gen[*]:-none} / ${srv[*]:-none}"

# Warm-up: connections, pools, page cache.
for u in "$direct_url" "$router_url"; do oha_run "$u" 2s "$RATE" "$work/warm.json"; done

wait_quiet "latency"
echo
echo "== 1. added latency at a fixed rate: $RATE req/s, $LAT_CONNS connections, $ROUNDS rounds of $SLICE per target, interleaved"
echo "load average before: $(loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="direct router"; else order="router direct"; fi
  for t in $order; do
    if [ "$t" = direct ]; then u=$direct_url; else u=$router_url; fi
    oha_run "$u" "$SLICE" "$RATE" "$work/lat-$r-$t.json"
  done
done
echo "load average after:  $(loadavg)"
python3 - "$work" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def load(r, t):
    d = json.load(open(f"{work}/lat-{r}-{t}.json"))
    p = d["latencyPercentiles"]
    s = d["summary"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    # The one request cut off by the end of the slice is not an error.
    errs = sum(codes.values()) - ok + sum(v for k, v in d.get("errorDistribution", {}).items()
                                          if k != "aborted due to deadline")
    ms = lambda v: (v or 0.0) * 1000
    return dict(p50=ms(p["p50"]), p99=ms(p["p99"]), p999=ms(p["p99.9"]), max=ms(s["slowest"]),
                rps=s["requestsPerSec"], n=ok, errs=errs)
rows = []
print(f"{'round':>5} {'target':>7} {'p50_ms':>8} {'p99_ms':>8} {'p99.9_ms':>9} {'max_ms':>8} {'req/s':>8} {'n':>7} {'errors':>6}")
for r in range(1, rounds + 1):
    row = {t: load(r, t) for t in ("direct", "router")}
    rows.append(row)
    for t in ("direct", "router"):
        v = row[t]
        print(f"{r:>5} {t:>7} {v['p50']:8.3f} {v['p99']:8.3f} {v['p999']:9.3f} {v['max']:8.3f} {v['rps']:8.0f} {v['n']:>7} {v['errs']:>6}")
def med(key, t): return statistics.median(x[t][key] for x in rows)
def dmed(key): return statistics.median(x["router"][key] - x["direct"][key] for x in rows)
print()
print(f"median over rounds      direct: p50 {med('p50','direct'):.3f} ms  p99 {med('p99','direct'):.3f} ms  p99.9 {med('p999','direct'):.3f} ms")
print(f"                        router: p50 {med('p50','router'):.3f} ms  p99 {med('p99','router'):.3f} ms  p99.9 {med('p999','router'):.3f} ms")
diffs99 = sorted(x["router"]["p99"] - x["direct"]["p99"] for x in rows)
print(f"vllm-sr added latency (median of per-round router-direct): p50 {dmed('p50'):+.3f} ms, p99 {dmed('p99'):+.3f} ms, p99.9 {dmed('p999'):+.3f} ms")
print(f"  per-round p99 differences (ms): {' '.join(f'{d:+.3f}' for d in diffs99)}")
print(f"max latency over all rounds: direct {max(x['direct']['max'] for x in rows):.3f} ms, router {max(x['router']['max'] for x in rows):.3f} ms;"
      f" samples {sum(x['direct']['n'] for x in rows)} / {sum(x['router']['n'] for x in rows)};"
      f" errors {sum(x['direct']['errs'] + x['router']['errs'] for x in rows)}")
PY

# wrk prints latencies as 1.23us / 4.56ms / 1.2s: convert to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }

wait_quiet "throughput"
echo
echo "== 2. throughput at saturation: wrk $CONNS connections x $THREADS threads, $DURATION per target"
echo "load average before: $(loadavg)"
targets=("direct-sim|$direct_url" "vllm-sr|$router_url")
[ -n "$litellm_url" ] && targets+=("litellm|$litellm_url")
printf "%-11s %14s %10s %10s %8s\n" target "req/s" avg_ms max_ms errors
declare -A rps
for t in "${targets[@]}"; do
  name=${t%%|*}; url=${t#*|}
  "${gen[@]}" wrk -t1 -c4 -d2s -s "$work/post.lua" "$url" >/dev/null 2>&1 || true
  "${gen[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$work/post.lua" "$url" >"$work/$name.sat" 2>&1
  rps[$name]=$(grep "Requests/sec" "$work/$name.sat" | awk '{print $2}')
  avg=$(grep -E "^ +Latency" "$work/$name.sat" | awk '{print $2}' | to_ms)
  max=$(grep -E "^ +Latency" "$work/$name.sat" | awk '{print $4}' | to_ms)
  errs=$(grep -E "Non-2xx|Socket errors" "$work/$name.sat" | sed 's/.*: //' | tr '\n' ' ')
  printf "%-11s %14s %10s %10s %8s\n" "$name" "${rps[$name]}" "$avg" "$max" "${errs:-0}"
done
echo "load average after:  $(loadavg)"
if [ -n "${rps[litellm]:-}" ]; then
  awk -v a="${rps[vllm-sr]}" -v b="${rps[litellm]}" \
    'BEGIN {printf "throughput at saturation: vllm-sr %.0f req/s vs LiteLLM %.0f req/s (%.1fx)\n", a, b, a/b}'
fi
