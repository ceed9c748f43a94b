#!/usr/bin/env bash
# Proxy overhead benchmark: the same sim backend called directly, through `vllm-sr serve`
# (explicit alias, so no classification), and through LiteLLM's proxy when available.
# Reports latency p50/p99/max for one sequential connection, and requests/s at saturation.
#
# Needs: wrk (apt install wrk). Optional: litellm (pip install 'litellm[proxy]'); set
# LITELLM_BIN or put `litellm` on PATH.
# Env: VLLM_SR_BIN (default target/release/vllm-sr, else target/debug/vllm-sr),
#      DURATION (default 10s), CONNS (default 64), THREADS (default 2), WORDS (default 16),
#      STREAM=1 to benchmark SSE streaming instead of JSON answers.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo "$root/target")}"
bin="${VLLM_SR_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$target/release/vllm-sr" ]; then bin="$target/release/vllm-sr"; else bin="$target/debug/vllm-sr"; fi
fi
[ -x "$bin" ] || { echo "vllm-sr binary not found ($bin); build it first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found (apt install wrk)" >&2; exit 2; }
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-64}"; THREADS="${THREADS:-2}"; WORDS="${WORDS:-16}"
litellm_bin="${LITELLM_BIN:-$(command -v litellm || true)}"

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

"$bin" sim-backend --port 0 --models bench-model --words "$WORDS" --port-file "$work/sim.port" >"$work/sim.log" 2>&1 &
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
"$bin" serve --config "$work/config.yaml" --host 127.0.0.1 --port 0 --no-watch --port-file "$work/router.port" >"$work/router.log" 2>&1 &
pids+=($!)
router_port=$(wait_port_file "$work/router.port")

stream=false; [ "${STREAM:-0}" = 1 ] && stream=true
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"bench-model","stream":$stream,"messages":[{"role":"user","content":"Summarise the plot of Hamlet in two sentences."}],"max_tokens":$WORDS}'
LUA

targets=("direct-sim|http://127.0.0.1:$sim_port/v1/chat/completions" "vllm-sr|http://127.0.0.1:$router_port/v1/chat/completions")

if [ -n "$litellm_bin" ] && [ ! -x "$litellm_bin" ]; then
  echo "notice: $litellm_bin is not executable; skipping the LiteLLM comparison" >&2
  litellm_bin=""
fi
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
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR "$litellm_bin" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$lport" >"$work/litellm.log" 2>&1 &
  pids+=($!)
  ok=0
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$lport/health/liveliness" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  if [ "$ok" = 1 ]; then
    targets+=("litellm|http://127.0.0.1:$lport/v1/chat/completions")
  else
    echo "warning: litellm did not become ready; see below" >&2; tail -20 "$work/litellm.log" >&2
  fi
elif [ -z "${LITELLM_BIN:-}" ]; then
  echo "notice: litellm not found; skipping the LiteLLM comparison" >&2
fi

# wrk prints latencies as 1.23us / 4.56ms / 1.2s: convert to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}'; }
pct() { grep -E "^ +$2%" "$1" | awk '{print $2}' | to_ms; }

echo "binary: $bin   duration: $DURATION   saturation: $CONNS connections x $THREADS threads   stream: $stream"
printf "%-11s %10s %10s %10s %10s %14s %8s\n" target p50_ms p90_ms p99_ms max_ms "sat_req/s" errors
declare -A p50 p99 rps
for t in "${targets[@]}"; do
  name=${t%%|*}; url=${t#*|}
  # Warm up connections and caches.
  wrk -t1 -c4 -d2s -s "$work/post.lua" "$url" >/dev/null 2>&1 || true
  wrk -t1 -c1 -d"$DURATION" --latency -s "$work/post.lua" "$url" >"$work/$name.lat" 2>&1
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$work/post.lua" "$url" >"$work/$name.sat" 2>&1
  p50[$name]=$(pct "$work/$name.lat" 50); p99[$name]=$(pct "$work/$name.lat" 99)
  p90=$(pct "$work/$name.lat" 90)
  max=$(grep -E "^ +Latency" "$work/$name.lat" | awk '{print $4}' | to_ms)
  rps[$name]=$(grep "Requests/sec" "$work/$name.sat" | awk '{print $2}')
  errs=$(grep -E "Non-2xx|Socket errors" "$work/$name.sat" "$work/$name.lat" | sed 's/.*: //' | tr '\n' ' ')
  printf "%-11s %10s %10s %10s %10s %14s %8s\n" "$name" "${p50[$name]}" "$p90" "${p99[$name]}" "$max" "${rps[$name]}" "${errs:-0}"
done
echo
awk -v a="${p50[vllm-sr]}" -v b="${p50[direct-sim]}" -v c="${p99[vllm-sr]}" -v d="${p99[direct-sim]}" \
  'BEGIN {printf "vllm-sr added latency: p50 %+.3f ms, p99 %+.3f ms (router minus direct, 1 connection)\n", a-b, c-d}'
if [ -n "${rps[litellm]:-}" ]; then
  awk -v a="${rps[vllm-sr]}" -v b="${rps[litellm]}" \
    'BEGIN {printf "throughput at saturation: vllm-sr %.0f req/s vs LiteLLM %.0f req/s (%.1fx)\n", a, b, a/b}'
fi
