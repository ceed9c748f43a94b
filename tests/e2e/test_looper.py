"""End-to-end: a fusion decision answered by the router from several calls to `vllm-sr
sim-backend`, read with the official openai client (non-streaming and streaming)."""
import json

from conftest import http, sim

JUDGE = "The panel agrees: the answer is 42."


def looper_config(port):
    backend = f'        - {{name: be0, endpoint: "127.0.0.1:{port}"}}\n'
    models = "".join(f"    - name: {m}\n      backend_refs:\n{backend}" for m in ("a", "b", "judge"))
    return f"""version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 8899, timeout: 30s}}
providers:
  defaults: {{default_model: a}}
  models:
{models}routing:
  signals:
    keywords:
      - {{name: hard_kw, operator: OR, keywords: [deliberate]}}
  decisions:
    - name: deliberate
      priority: 100
      rules: {{operator: AND, conditions: [{{type: keyword, name: hard_kw}}]}}
      modelRefs: [{{model: a}}, {{model: b}}]
      algorithm:
        type: fusion
        fusion: {{model: judge, include_analysis: true}}
"""


def test_fusion_answers_through_the_openai_client(spawn, router):
    s = sim(spawn, "--reply", f"judge={JUDGE}", models="a,b,judge")
    r = router(looper_config(s.port))
    client = r.client()
    messages = [{"role": "user", "content": "Please deliberate: what is six times seven?"}]
    raw = client.chat.completions.with_raw_response.create(model="MoM", messages=messages)
    c = raw.parse()
    assert raw.headers["x-vsr-looper"] == "fusion"
    assert raw.headers["x-vsr-selected-decision"] == "deliberate"
    assert raw.headers["x-vsr-looper-calls"] == "4"  # two panel answers, review, final
    assert c.choices[0].message.content == JUDGE
    assert c.id.startswith("chatcmpl-fusion-")
    trace = c.model_extra["fusion"]
    assert [x["model"] for x in trace["responses"]] == ["a", "b"]
    assert c.usage.completion_tokens > 0

    chunks = list(client.chat.completions.create(
        model="MoM", messages=messages, stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == JUDGE
    assert chunks[-1].usage.total_tokens > 0

    # The eval API previews the judge as the planned final model.
    status, _, body = http("POST", r.url + "/api/v1/eval", {"text": "deliberate on this"})
    assert status == 200, body
    v = json.loads(body)
    assert v["selection_status"] == "planned_final"
    assert v["selected_model"] == "judge"
    assert v["decision_result"]["algorithm"] == "fusion"
