#!/usr/bin/env bash
# Builds an OCI image of vllm-sr without a registry or a Docker engine, inspects it, and runs it
# when this machine can run a container.
#
#   scripts/build-image.sh [BINARY]     (default: $CARGO_TARGET_DIR/debug/vllm-sr)
#
# The image is `buildah from scratch` over the already built binary, the C libraries it links
# (glibc only), the CA bundle and the default encoder ($VSR_MODELS_DIR/usem3 when present): the
# runtime layout of the Dockerfile's final stage (non-root uid 10001, /data volume, ports 8899
# and 8700, entrypoint vllm-sr) without its release build, which takes too long for CI. The CI
# image therefore carries whatever binary it is given (CI: the debug build of the test step).
#
# Run: `podman run` first; where podman cannot start a container (in this sandbox crun may not
# set RLIMIT_NOFILE: no CAP_SYS_RESOURCE), the image is unpacked with umoci and run by crun
# directly (no rlimits, no cgroup manager, the host network, in a private mount namespace without
# the cgroup2 hybrid mount that crun refuses). The run serves deploy/ci/smoke.yaml against
# `vllm-sr sim-backend` on the host and checks /health, one routed request (x-vsr-selected-*
# headers) and its replay record. If no runtime can start a container, the script says what
# failed and still exits 0 after the build and the inspection; a container that starts but
# fails a check exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/vllm-sr}"
OUT="${VSR_IMAGE_OUT:-${CARGO_TARGET_DIR:-target}/image}"
TAG="localhost/vllm-sr:ci"
[ -x "$BIN" ] || { echo "build-image: no binary at $BIN (cargo build -p vllm-sr first)" >&2; exit 1; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

need=()
for t in buildah skopeo umoci crun podman; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]} (Debian)"
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
  else
    echo "build-image: need ${need[*]} (apt-get install as root)" >&2; exit 1
  fi
fi

rm -rf "$OUT" && mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
work="$OUT/work"; mkdir -p "$work/empty"
ctr=""
pids=()
cid="vllm-sr-ci-$$"
cleanup() {
  crun delete -f "$cid" >/dev/null 2>&1 || true
  podman rm -f vllm-sr-ci >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== build $TAG from scratch over $BIN"
ctr="$(buildah from scratch)"
buildah copy --quiet "$ctr" "$BIN" /usr/local/bin/vllm-sr >/dev/null
# The dynamic loader and the libraries the binary links, at their host paths.
for lib in $(ldd "$BIN" | grep -oE '/[^ ]+' | sort -u); do
  buildah copy --quiet "$ctr" "$(readlink -f "$lib")" "$lib" >/dev/null
done
buildah copy --quiet "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nvllm-sr:x:10001:10001::/data:/usr/sbin/nologin\n' > "$work/passwd"
printf 'root:x:0:\nvllm-sr:x:10001:\n' > "$work/group"
buildah copy --quiet "$ctr" "$work/passwd" /etc/passwd >/dev/null
buildah copy --quiet "$ctr" "$work/group" /etc/group >/dev/null
buildah copy --quiet --chown 10001:10001 "$ctr" "$work/empty" /data >/dev/null
buildah copy --quiet --chown 10001:10001 "$ctr" "$work/empty" /tmp >/dev/null
models="${VSR_MODELS_DIR:-models}"
if [ -f "$models/usem3/manifest.json" ] || [ -d "$models/usem3" ]; then
  buildah copy --quiet "$ctr" "$models/usem3" /opt/vllm-sr/models/usem3 >/dev/null
  echo "   default encoder: $models/usem3"
else
  echo "   default encoder: not found under $models (the image fetches it at first start)"
fi
buildah config \
  --env VSR_MODELS_DIR=/opt/vllm-sr/models --env VSR_CACHE_DIR=/data/cache --env VSR_DATA_DIR=/data \
  --user 10001:10001 --workingdir /data --volume /data \
  --port 8899/tcp --port 8700/tcp \
  --entrypoint '["/usr/local/bin/vllm-sr"]' --cmd 'serve --config /data/config.yaml' \
  --label org.opencontainers.image.title=vllm-sr \
  --label org.opencontainers.image.description="vllm-sr CI image ($(basename "$(dirname "$BIN")") build)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$TAG" >/dev/null
ctr=""
buildah push --quiet "$TAG" "oci-archive:$OUT/vllm-sr.oci.tar:ci" >/dev/null
echo "   $OUT/vllm-sr.oci.tar ($(du -h "$OUT/vllm-sr.oci.tar" | cut -f1))"

echo "== inspect"
skopeo inspect --config "oci-archive:$OUT/vllm-sr.oci.tar" > "$OUT/config.json"
python3 - "$OUT/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
checks = {
    "non-root user": c.get("User") == "10001:10001",
    "entrypoint": c.get("Entrypoint") == ["/usr/local/bin/vllm-sr"],
    "ports 8899/8700": {"8899/tcp", "8700/tcp"} <= set(c.get("ExposedPorts", {})),
    "data volume": "/data" in c.get("Volumes", {}),
    "models dir env": "VSR_MODELS_DIR=/opt/vllm-sr/models" in c.get("Env", []),
}
for name, ok in checks.items():
    print(f"   {'ok  ' if ok else 'FAIL'} {name}")
sys.exit(0 if all(checks.values()) else 1)
PY

echo "== run"
port_of() { for _ in $(seq 1 300); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.1; done; return 1; }
"$BIN" sim-backend --port 0 --models qwen/qwen3.5-rocm,openai/gpt5.4 --port-file "$work/sim.port" > "$work/sim.log" 2>&1 &
pids+=($!)
sim_port="$(port_of "$work/sim.port")" || { echo "build-image: sim-backend did not start" >&2; cat "$work/sim.log" >&2; exit 1; }
router_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/cfg"
sed "s/SIM/127.0.0.1:$sim_port/" deploy/ci/smoke.yaml > "$work/cfg/config.yaml"
chmod -R a+rX "$work/cfg"
args=(serve --config /cfg/config.yaml --host 127.0.0.1 --port "$router_port" --no-dashboard --no-watch)

started=""
if podman run -d --name vllm-sr-ci --replace --network host -v "$work/cfg:/cfg:ro" "$TAG" "${args[@]}" > "$work/podman.out" 2> "$work/podman.err"; then
  started=podman
else
  echo "   podman run failed: $(tail -1 "$work/podman.err")"
  podman rm -f vllm-sr-ci >/dev/null 2>&1 || true
  skopeo copy --quiet "oci-archive:$OUT/vllm-sr.oci.tar" "oci:$work/oci:ci" >/dev/null
  umoci unpack --image "$work/oci:ci" "$work/bundle" >/dev/null
  python3 - "$work/bundle/config.json" "$work/cfg" "${args[@]}" <<'PY'
import json, sys
path, cfg, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
p = c["process"]
p["args"] = ["/usr/local/bin/vllm-sr"] + args
p["terminal"] = False
p.pop("rlimits", None)                      # setrlimit needs CAP_SYS_RESOURCE here
lin = c["linux"]
lin.pop("resources", None)
lin.pop("cgroupsPath", None)
lin["namespaces"] = [n for n in lin["namespaces"] if n["type"] != "network"]  # host network
c["mounts"].append({"destination": "/cfg", "type": "bind", "source": cfg, "options": ["rbind", "ro"]})
json.dump(c, open(path, "w"))
PY
  (cd "$work/bundle" && exec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled run "$0"' "$cid") > "$work/crun.log" 2>&1 &
  pids+=($!)
  started=crun
fi

healthy=""
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$router_port/health" >/dev/null 2>&1; then healthy=1; break; fi
  if [ "$started" = crun ] && ! kill -0 "${pids[-1]}" 2>/dev/null; then break; fi
  sleep 0.2
done
if [ -z "$healthy" ]; then
  log="$work/crun.log"; [ "$started" = podman ] && { podman logs vllm-sr-ci > "$work/podman.log" 2>&1 || true; log="$work/podman.log"; }
  if grep -qiE 'cgroup|rlimit|permission denied|operation not permitted|namespace' "$log" 2>/dev/null && ! grep -q 'vllm-sr' "$log"; then
    echo "   NOTE: this machine cannot run a container ($started): $(tail -1 "$log")"
    echo "   the image was built and inspected; the run was skipped"
    exit 0
  fi
  echo "build-image: the container did not become healthy ($started):" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "   /health ok ($started, port $router_port)"
headers="$(curl -fsS -D - -o "$work/answer.json" "http://127.0.0.1:$router_port/v1/chat/completions" \
  -H 'content-type: application/json' \
  -d '{"model":"MoM","messages":[{"role":"user","content":"Prove that the square root of 2 is irrational."}]}')"
echo "$headers" | grep -qi '^x-vsr-selected-decision: reasoning_math' \
  || { echo "build-image: the routed request did not select reasoning_math:" >&2; echo "$headers" >&2; exit 1; }
echo "$headers" | grep -qi '^x-vsr-selected-model: openai/gpt5.4' \
  || { echo "build-image: wrong alias:" >&2; echo "$headers" >&2; exit 1; }
echo "   routed request: decision reasoning_math -> openai/gpt5.4"
[ "$started" = podman ] && podman rm -f vllm-sr-ci >/dev/null 2>&1 || true
echo "build-image: ok"
