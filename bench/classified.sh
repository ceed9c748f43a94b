#!/usr/bin/env bash
# Classified-traffic benchmark: the encoder, routing latency and `model: MoM` load, for one
# router binary or two compared A/B in one run (alternating, so machine noise hits both).
#
# Per round and binary:
#  1. `vllm-sr bench route` on the reference profile and its probes: encode and total p50/p99.
#  2. Load: `vllm-sr serve` on that profile (its backends pointed at `vllm-sr sim-backend`),
#     wrk with CONNS connections for DURATION sending `model: MoM` chat requests that rotate
#     through the probe prompts (every request classified: encoder + signals + decision).
# Then (CALLGRIND=1, needs valgrind) the encoder's instructions per probe prompt: callgrind on
# `bench route` with ITER passes minus one pass, divided by the prompts routed (machine load
# does not change instruction counts).
#
# Env: VLLM_SR_BIN (default target/release/vllm-sr), BASE_BIN (optional: the binary to compare
#      against, e.g. one built from main), SIM_BIN (default VLLM_SR_BIN), PROFILE_DIR (default
#      ../shared/reference/upstream-amd-2026-03: balance.yaml + balance.probes.yaml),
#      ROUNDS (default 3), DURATION (default 10s), CONNS (default 16), THREADS (default 2),
#      ITER (bench route passes, default 10), WORDS (sim answer words, default 16),
#      CALLGRIND (default 0).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
after="${VLLM_SR_BIN:-$target/release/vllm-sr}"
[ -x "$after" ] || { echo "vllm-sr binary not found ($after); build it first" >&2; exit 2; }
before="${BASE_BIN:-}"
sim_bin="${SIM_BIN:-$after}"
profile="${PROFILE_DIR:-$root/../shared/reference/upstream-amd-2026-03}"
cfg_src="$profile/balance.yaml"; probes="$profile/balance.probes.yaml"
[ -f "$cfg_src" ] && [ -f "$probes" ] || { echo "profile not found under $profile" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found (apt install wrk)" >&2; exit 2; }
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-10s}"; CONNS="${CONNS:-16}"; THREADS="${THREADS:-2}"
ITER="${ITER:-10}"; WORDS="${WORDS:-16}"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_port_file() {
  for _ in $(seq 1 1200); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.05
  done
  echo "timed out waiting for $1" >&2; return 1
}

# The profile's aliases, served by the sim; its backends pointed at the sim.
models=$(python3 -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); print(",".join(m["name"] for m in c["providers"]["models"]))' "$cfg_src")
"$sim_bin" sim-backend --port 0 --models "$models" --words "$WORDS" --port-file "$work/sim.port" >"$work/sim.log" 2>&1 &
pids+=($!)
sim_port=$(wait_port_file "$work/sim.port") || exit 1
sed -E "s#endpoint: [^ ]+#endpoint: 127.0.0.1:$sim_port#" "$cfg_src" >"$work/balance.yaml"

# wrk script: POST `model: MoM` requests, one probe prompt after another.
python3 - "$probes" "$work/load.lua" <<'PY'
import json, sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
qs = [v["query"] for d in m["decisions"] for v in d.get("variants", []) if isinstance(v.get("query"), str)]
bodies = [json.dumps({"model": "MoM", "max_tokens": 16, "messages": [{"role": "user", "content": q}]}) for q in qs]
with open(sys.argv[2], "w") as f:
    f.write("local bodies = {\n")
    for b in bodies:
        f.write("  %s,\n" % json.dumps(b))
    f.write("}\nlocal i = 0\n")
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
    f.write("request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n")
    f.write('done = function(summary, latency, requests)\n'
            '  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\\n", summary.requests, summary.duration,'
            ' latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,'
            ' summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n')
PY

route_run() { # bin out.json
  "$1" bench route --config "$work/balance.yaml" --probes "$probes" --iterations "$ITER" --json >"$2" 2>"$2.err"
}
load_run() { # bin out.txt
  rm -f "$work/router.port"
  "$1" serve --config "$work/balance.yaml" --host 127.0.0.1 --port 0 --no-watch --no-dashboard \
    --port-file "$work/router.port" >"$work/router.log" 2>&1 &
  local pid=$!
  local port
  port=$(wait_port_file "$work/router.port") || { tail -20 "$work/router.log" >&2; kill "$pid"; return 1; }
  local url="http://127.0.0.1:$port/v1/chat/completions"
  wrk -t "$THREADS" -c "$CONNS" -d 2s -s "$work/load.lua" "$url" >/dev/null 2>&1  # warm-up
  wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --latency -s "$work/load.lua" "$url" >"$2" 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null
}

bins=(after); [ -n "$before" ] && bins=(before after)
path_of() { if [ "$1" = before ]; then echo "$before"; else echo "$after"; fi; }
echo "after: $after"; [ -n "$before" ] && echo "before: $before"
echo "profile: $cfg_src ($(python3 -c 'import sys,yaml; m=yaml.safe_load(open(sys.argv[1])); print(sum(len(d.get("variants",[])) for d in m["decisions"]))' "$probes") probe prompts); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  order=("${bins[@]}"); if [ $((r % 2)) = 0 ] && [ -n "$before" ]; then order=(after before); fi
  for b in "${order[@]}"; do
    route_run "$(path_of "$b")" "$work/route-$r-$b.json" || { echo "bench route failed ($b):" >&2; cat "$work/route-$r-$b.json.err" >&2; exit 1; }
    load_run "$(path_of "$b")" "$work/load-$r-$b.txt" || exit 1
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${CALLGRIND:-0}" = 1 ]; then
  command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 2; }
  for b in "${bins[@]}"; do
    for it in 1 2; do
      valgrind --tool=callgrind --callgrind-out-file="$work/cg-$b-$it.out" "$(path_of "$b")" bench route \
        --config "$work/balance.yaml" --probes "$probes" --iterations "$it" --json >"$work/cg-$b-$it.json" 2>"$work/cg-$b-$it.err"
    done
  done
fi

python3 - "$work" "$ROUNDS" "${bins[*]}" "${CALLGRIND:-0}" <<'PY'
import json, re, statistics, sys
work, rounds, bins, cg = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4] == "1"
def route(r, b):
    d = json.load(open(f"{work}/route-{r}-{b}.json"))
    ph = d["phases"]
    return {"encode_p50": ph["encode"]["p50_ms"], "encode_p99": ph["encode"]["p99_ms"],
            "total_p50": ph["total"]["p50_ms"], "total_p99": ph["total"]["p99_ms"]}
def load(r, b):
    txt = open(f"{work}/load-{r}-{b}.txt").read()
    m = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", txt)
    if not m:
        sys.exit(f"no wrk result for round {r} {b}:\n{txt}")
    n, us, p50, p99, mx, errs = m.groups()
    return {"rps": int(n) / (int(us) / 1e6), "lat_p50": float(p50), "lat_p99": float(p99),
            "lat_max": float(mx), "errors": int(errs)}
keys = [("encode_p50", "encode p50 ms"), ("encode_p99", "encode p99 ms"), ("total_p50", "route total p50 ms"),
        ("total_p99", "route total p99 ms"), ("rps", "MoM load req/s"), ("lat_p50", "MoM load p50 ms"),
        ("lat_p99", "MoM load p99 ms"), ("errors", "MoM load errors")]
rows = {b: [dict(route(r, b), **load(r, b)) for r in range(1, rounds + 1)] for b in bins}
print(f"\nper round ({rounds} rounds, binaries alternating):")
for b in bins:
    for i, x in enumerate(rows[b], 1):
        print(f"  {b:>6} r{i}: " + "  ".join(f"{k}={x[k]:.3f}" if isinstance(x[k], float) else f"{k}={x[k]}" for k, _ in keys))
print(f"\nmedian over rounds:")
hdr = f"  {'figure':<22}" + "".join(f"{b:>12}" for b in bins) + ("   after/before" if len(bins) == 2 else "")
print(hdr)
for k, name in keys:
    meds = [statistics.median(x[k] for x in rows[b]) for b in bins]
    line = f"  {name:<22}" + "".join(f"{m:>12.3f}" for m in meds)
    if len(bins) == 2 and meds[0]:
        line += f"   {meds[1] / meds[0]:.2f}x"
    print(line)
if cg:
    print("\ncallgrind, instructions per probe prompt routed (one pass of bench route: tokenise + encode + engine):")
    per = {}
    for b in bins:
        tot = []
        for it in (1, 2):
            s = open(f"{work}/cg-{b}-{it}.out").read()
            tot.append(int(re.search(r"^summary: (\d+)", s, re.M).group(1)))
        prompts = json.load(open(f"{work}/cg-{b}-1.json"))["prompts"]
        per[b] = (tot[1] - tot[0]) / prompts
        print(f"  {b:>6}: {per[b] / 1e6:.2f} M instructions")
    if len(bins) == 2:
        print(f"  after/before: {per['after'] / per['before']:.2f}x")
PY
