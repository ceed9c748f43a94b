"""Fixtures for the end-to-end tests: the built `vllm-sr` binary, sim backends and a router,
all on ports chosen by the OS (port 0, reported through --port-file)."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def skip_or_fail(reason):
    """Skips a test whose binary or model is missing; with VSR_REQUIRE_FIXTURES=1 (CI) a missing
    fixture fails instead."""
    if os.environ.get("VSR_REQUIRE_FIXTURES", "").strip() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (missing, and VSR_REQUIRE_FIXTURES=1 turns this skip into a failure)")
    pytest.skip(reason)


def _find_binary():
    env = os.environ.get("VLLM_SR_BIN")
    candidates = [pathlib.Path(env)] if env else []
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append(pathlib.Path(target) / "debug" / "vllm-sr")
    candidates += [REPO / "target" / "debug" / "vllm-sr", REPO.parent / "target" / "debug" / "vllm-sr"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="session")
def binary():
    b = _find_binary()
    if b is None:
        skip_or_fail("vllm-sr binary not built (set VLLM_SR_BIN or run cargo build -p vllm-sr)")
    return b


class Proc:
    def __init__(self, args, workdir):
        self.port_file = pathlib.Path(workdir) / f"port-{time.monotonic_ns()}"
        self.log = open(pathlib.Path(workdir) / f"log-{time.monotonic_ns()}.txt", "w+")
        self.p = subprocess.Popen(
            [*args, "--port-file", str(self.port_file)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.port_file.exists() and self.port_file.read_text().strip():
                self.port = int(self.port_file.read_text())
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"{args} did not start: {self.log.read()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="vsr-e2e-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spawn(binary, workdir):
    procs = []

    def _spawn(*args):
        p = Proc([str(binary), *args], workdir)
        procs.append(p)
        return p

    yield _spawn
    for p in reversed(procs):
        p.stop()


def sim(spawn, *extra, models="a-up,b"):
    return spawn("sim-backend", "--port", "0", "--models", models, *extra)


def config_yaml(a_backends, b_backends, reliability="{}"):
    def refs(eps):
        return "".join(
            f'        - {{name: be{i}, endpoint: "{e}", weight: 1}}\n' for i, e in enumerate(eps)
        )

    return f"""version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 8899, timeout: 30s}}
providers:
  defaults:
    default_model: a
    reasoning_families:
      qwen3: {{type: chat_template_kwargs, parameter: enable_thinking}}
  models:
    - name: a
      provider_model_id: a-up
      reasoning_family: qwen3
      backend_refs:
{refs(a_backends)}      reliability: {reliability}
    - name: b
      reasoning_family: qwen3
      backend_refs:
{refs(b_backends)}routing:
  decisions: []
"""


class Router:
    def __init__(self, proc, config):
        self.proc = proc
        self.config = config

    @property
    def url(self):
        return self.proc.url

    def client(self, **kw):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key="sk-test", max_retries=0, **kw)


@pytest.fixture
def router(spawn, workdir):
    def _router(yaml_text, *extra):
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml_text)
        proc = spawn("serve", "--config", str(cfg), "--host", "127.0.0.1", "--port", "0", "--no-dashboard", *extra)
        return Router(proc, cfg)

    return _router


def http(method, url, body=None, headers=None, timeout=30):
    """Raw HTTP: returns (status, headers, body bytes) without raising on error statuses."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
