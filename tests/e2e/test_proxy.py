"""End-to-end: `vllm-sr serve` in front of `vllm-sr sim-backend`, driven by the official
openai client and raw HTTP."""
import json
import threading
import time

import pytest

from conftest import config_yaml, http, sim


@pytest.fixture
def stack(spawn, router):
    s = sim(spawn)
    r = router(config_yaml([f"127.0.0.1:{s.port}"], [f"127.0.0.1:{s.port}"]))
    return r, s


def test_chat_non_streaming_auto_and_alias(stack):
    r, _ = stack
    client = r.client()
    for model in ["MoM", "auto", "vllm-sr/auto", "a", "b"]:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hello"}]
        )
        c = raw.parse()
        assert c.choices[0].message.content
        assert c.usage.completion_tokens > 0
        assert raw.headers["x-vsr-selected-model"] in ("a", "b")
        assert len(raw.headers["x-request-id"]) > 0
        if model == "b":
            assert c.model == "b"
        if model == "a":
            assert c.model == "a-up"  # alias rewritten to provider_model_id


def test_reasoning_injection_follows_the_decision(stack):
    r, _ = stack
    raw = r.client().chat.completions.with_raw_response.create(
        model="MoM", messages=[{"role": "user", "content": "Prove that sqrt(2) is irrational."}]
    )
    sent = raw.parse().model_extra["sim_request"]
    if raw.headers.get("x-vsr-selected-decision"):
        on = raw.headers["x-vsr-selected-reasoning"] == "on"
        assert sent["chat_template_kwargs"]["enable_thinking"] is on
    else:
        # Default-model fallback: nothing injected.
        assert "chat_template_kwargs" not in sent
        assert raw.headers["x-vsr-selected-reasoning"] == "off"


def test_streaming_with_usage(stack):
    r, _ = stack
    stream = r.client().chat.completions.create(
        model="MoM", stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    text, usage, n = "", None, 0
    for chunk in stream:
        n += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert n > 3 and text
    # stream_options.include_usage is requested by the router.
    assert usage is not None and usage.completion_tokens == len(text.split(" "))


def test_models_list(stack):
    r, _ = stack
    ids = [m.id for m in r.client().models.list()]
    assert ids[:3] == ["MoM", "auto", "vllm-sr/auto"]
    assert "a" in ids and "b" in ids


def test_responses_api(stack):
    r, _ = stack
    client = r.client()
    resp = client.responses.create(model="MoM", input="Say hello", instructions="be brief")
    assert resp.output_text
    assert resp.usage.output_tokens > 0
    events = list(client.responses.create(model="a", input="Say hello", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text


def test_error_statuses(stack):
    import openai

    r, _ = stack
    client = r.client()
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="a", prompt="x")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    url = r.url + "/v1/chat/completions"
    cases = [
        (b"{bad", 400, "malformed JSON body"),
        ({"model": "a"}, 400, "messages field is required"),
        ({"model": "a", "messages": 3}, 400, "must be an array"),
        ({"messages": []}, 400, "missing required field: model"),
    ]
    for body, status, msg in cases:
        st, _, b = http("POST", url, body)
        err = json.loads(b)["error"]
        assert st == status and msg in err["message"] and err["code"] == status
        assert err["type"] == "invalid_request_error"
    st, _, _ = http("GET", url)
    assert st == 405
    big = {"model": "a", "messages": [], "pad": "x" * (10 * 1024 * 1024 + 1)}
    st, _, b = http("POST", url, big)
    assert st == 413 and json.loads(b)["error"]["code"] == 413


def test_upstream_failure_statuses(spawn, router):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    slow = sim(spawn, "--latency-ms", "2000")
    yaml_text = config_yaml([f"127.0.0.1:{dead}"], [f"127.0.0.1:{slow.port}"], "{retry_count: 0}")
    r = router(yaml_text.replace("timeout: 30s", "timeout: 500ms"))
    assert http("POST", r.url + "/v1/chat/completions", {"model": "a", "messages": []})[0] == 502
    assert http("POST", r.url + "/v1/chat/completions", {"model": "b", "messages": []})[0] == 504


def test_retries_hide_resets(spawn, router):
    bad = sim(spawn, "--reset-rate", "1.0")
    good = sim(spawn)
    eps = [f"127.0.0.1:{bad.port}", f"127.0.0.1:{good.port}"]
    r = router(config_yaml(eps, eps, "{retry_count: 2, consecutive_5xx: 0}"))
    client = r.client()
    for _ in range(10):
        c = client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
        assert c.choices[0].message.content
    assert json.loads(http("GET", good.url + "/sim/stats")[2])["chat_requests"] == 10


def test_ejection_after_consecutive_5xx(spawn, router):
    import openai

    bad = sim(spawn, "--error-rate", "1.0", "--error-status", "500")
    good = sim(spawn)
    eps = [f"127.0.0.1:{bad.port}", f"127.0.0.1:{good.port}"]
    r = router(config_yaml(eps, eps, "{consecutive_5xx: 2, base_ejection_time: 60s}"))
    client = r.client()
    failures = 0
    for _ in range(20):
        try:
            client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
        except openai.InternalServerError:
            failures += 1
    assert failures == 2
    assert json.loads(http("GET", bad.url + "/sim/stats")[2])["chat_requests"] == 2


def test_client_disconnect_cancels_upstream(spawn, router):
    s = sim(spawn, "--words", "500", "--chunk-delay-ms", "20")
    r = router(config_yaml([f"127.0.0.1:{s.port}"], [f"127.0.0.1:{s.port}"]))
    stream = r.client().chat.completions.create(
        model="a", stream=True, messages=[{"role": "user", "content": "x"}]
    )
    it = iter(stream)
    next(it)
    next(it)
    stream.close()
    for _ in range(100):
        stats = json.loads(http("GET", s.url + "/sim/stats")[2])
        if stats["streams_cancelled"] == 1:
            break
        time.sleep(0.05)
    assert stats["streams_cancelled"] == 1 and stats["streams_completed"] == 0


def test_hot_reload_under_load(spawn, router):
    s1 = sim(spawn)
    s2 = sim(spawn)
    v1 = config_yaml([f"127.0.0.1:{s1.port}"], [f"127.0.0.1:{s1.port}"])
    v2 = config_yaml([f"127.0.0.1:{s2.port}"], [f"127.0.0.1:{s2.port}"])
    r = router(v1)
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def worker(i):
        client = r.client()
        while not stop.is_set():
            try:
                if i % 2:
                    text = "".join(
                        (c.choices[0].delta.content or "") if c.choices else ""
                        for c in client.chat.completions.create(
                            model="MoM", stream=True, messages=[{"role": "user", "content": "x"}]
                        )
                    )
                    assert text
                else:
                    client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
                with lock:
                    results["ok"] += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    results["failed"].append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for n in range(4):
        time.sleep(0.4)
        r.config.write_text(v2 if n % 2 == 0 else v1)
    time.sleep(0.4)
    r.config.write_text("providers: {models: [{name: a, reliability: {lb_policy: nope}}]}\n")
    time.sleep(0.8)
    stop.set()
    for t in threads:
        t.join()
    assert results["failed"] == []
    assert results["ok"] > 20
    st1 = json.loads(http("GET", s1.url + "/sim/stats")[2])["chat_requests"]
    st2 = json.loads(http("GET", s2.url + "/sim/stats")[2])["chat_requests"]
    assert st1 > 0 and st2 > 0
    st, _, b = http("POST", r.url + "/config/reload", {})
    assert st == 400


def test_management_endpoints(stack):
    r, _ = stack
    assert json.loads(http("GET", r.url + "/health")[2])["status"] == "healthy"
    assert json.loads(http("GET", r.url + "/ready")[2])["ready"] is True
    st, _, b = http("POST", r.url + "/api/v1/eval", {"text": "hello"})
    assert st == 200 and "decision_result" in json.loads(b)
    cfg = json.loads(http("GET", r.url + "/config/router")[2])
    assert cfg["providers"]["defaults"]["default_model"] == "a"
    r.client().chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
    metrics = http("GET", r.url + "/metrics")[2].decode()
    assert 'llm_model_requests_total{model="a"} 1' in metrics


def test_serve_demo_routes_against_the_in_process_sim(spawn):
    """`serve --demo` runs a profile against a simulated backend, with a banner saying so."""
    import pathlib

    shared = pathlib.Path(__file__).resolve().parents[2].parent / "shared"
    ref = shared / "reference" / "upstream-amd-2026-03" / "balance.yaml"
    args = ["serve", "--demo", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    if ref.exists():
        args += ["--config", str(ref)]
    p = spawn(*args)
    import openai

    client = openai.OpenAI(base_url=p.url + "/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="MoM", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-vsr-selected-model"]
    p.log.seek(0)
    assert "SIMULATED" in p.log.read()


def test_a_stream_cut_after_its_first_byte_raises_in_the_openai_client(spawn, router):
    import openai

    s = sim(spawn, "--fault", "cut-mid-stream:3@a-up", "--chunk-delay-ms", "10")
    r = router(config_yaml([f"127.0.0.1:{s.port}"], [f"127.0.0.1:{s.port}"]))
    got = []
    with pytest.raises(openai.APIError) as e:
        for ch in r.client().chat.completions.create(
            model="a", stream=True, messages=[{"role": "user", "content": "x"}]
        ):
            if ch.choices:
                got.append(ch.choices[0].delta.content or "")
    assert "upstream stream failed" in e.value.message
    assert "[a-up]" in "".join(got)
    # Alias b on the same sim is not affected by a@-scoped fault.
    c = r.client().chat.completions.create(model="b", messages=[{"role": "user", "content": "x"}])
    assert c.choices[0].message.content
    assert json.loads(http("GET", s.url + "/sim/stats")[2])["chat_requests"] == 2
