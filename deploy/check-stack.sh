#!/usr/bin/env bash
# The playbook's validation checklist against a running stack:
#
#   deploy/check-stack.sh ROUTER_URL [DASHBOARD_URL]
#     e.g. deploy/check-stack.sh http://localhost:8899 http://localhost:8700
#
# 1. the router is healthy (/health) and ready (/ready);
# 2. /v1/models lists the five aliases (and so does the backend, when BACKEND_URL is set:
#    the playbook's `curl :8090/v1/models`);
# 3. a routed request (model MoM) succeeds and carries x-vsr-selected-decision, -model and
#    -reasoning, the model being one of the aliases; with EXPECT_DECISION / EXPECT_MODEL set,
#    they must match;
# 4. its replay record (the Insights data) appears under x-vsr-replay-id with the same decision
#    and alias, and the Insights aggregate counts it;
# 5. /metrics counts the request for that alias;
# 6. the dashboard answers (when DASHBOARD_URL is given).
#
# Environment: ALIASES (comma-separated; default the playbook's five), PROMPT (the routed
# prompt), VSR_API_KEY (bearer token when the dashboard has users: the replay API needs it;
# or DASHBOARD_USER and DASHBOARD_PASSWORD with DASHBOARD_URL: the script logs in and makes a
# token named check-stack), TIMEOUT (seconds per request, default 120). Exit 0 when every check passes, 1 otherwise.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 ROUTER_URL [DASHBOARD_URL]" >&2
  exit 2
fi
exec python3 - "$@" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

router = sys.argv[1].rstrip("/")
dashboard = sys.argv[2].rstrip("/") if len(sys.argv) > 2 else None
aliases = [a.strip() for a in os.environ.get("ALIASES", "qwen/qwen3.5-rocm,google/gemini-2.5-flash-lite,google/gemini-3.1-pro,openai/gpt5.4,anthropic/claude-opus-4.6").split(",") if a.strip()]
prompt = os.environ.get("PROMPT", "Prove rigorously that the square root of 2 is irrational.")
timeout = float(os.environ.get("TIMEOUT", "120"))
key = os.environ.get("VSR_API_KEY", "")
failures = []

def req(method, url, body=None):
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, {}, str(e)

def check(ok, what, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok

def dashboard_token():
    """Logs in to the dashboard and creates an API token (the replay API's credentials)."""
    import http.cookiejar
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    def call(method, path, body=None, csrf=None):
        headers = {"content-type": "application/json"}
        if csrf:
            headers["x-csrf-token"] = csrf
        r = urllib.request.Request(f"{dashboard}{path}", data=json.dumps(body).encode() if body is not None else None,
                                   method=method, headers=headers)
        with opener.open(r, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    login = call("POST", "/api/auth/login", {"username": os.environ["DASHBOARD_USER"],
                                             "password": os.environ["DASHBOARD_PASSWORD"]})
    return call("POST", "/api/tokens", {"name": "check-stack"}, csrf=login.get("csrf"))["token"]

if not key and dashboard and os.environ.get("DASHBOARD_USER") and os.environ.get("DASHBOARD_PASSWORD"):
    try:
        key = dashboard_token()
        check(True, "dashboard login and API token")
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as e:
        check(False, "dashboard login and API token", str(e))

status, _, body = req("GET", f"{router}/health")
check(status == 200, "router /health", f"{status} {body[:200]}")
status, _, body = req("GET", f"{router}/ready")
check(status == 200, "router /ready", f"{status} {body[:200]}")

def model_ids(url):
    status, _, body = req("GET", f"{url}/v1/models")
    if status != 200:
        return None, f"{status} {body[:200]}"
    try:
        return {m.get("id") for m in json.loads(body).get("data", [])}, ""
    except ValueError as e:
        return None, f"not JSON: {e}"

ids, err = model_ids(router)
missing = [a for a in aliases if ids is None or a not in ids]
check(not missing, f"router /v1/models lists the {len(aliases)} aliases", err or f"missing {missing}")
if os.environ.get("BACKEND_URL"):
    ids, err = model_ids(os.environ["BACKEND_URL"].rstrip("/"))
    missing = [a for a in aliases if ids is None or a not in ids]
    check(not missing, "backend /v1/models serves the aliases", err or f"missing {missing}")

status, headers, body = req("POST", f"{router}/v1/chat/completions",
                            {"model": "MoM", "messages": [{"role": "user", "content": prompt}]})
routed = check(status == 200, "routed request (model MoM) answered 200", f"{status} {body[:300]}")
decision = headers.get("x-vsr-selected-decision")
model = headers.get("x-vsr-selected-model")
if routed:
    check(bool(decision), "x-vsr-selected-decision present", str(headers))
    check(model in aliases, "x-vsr-selected-model is one of the aliases", f"{model!r}")
    check(headers.get("x-vsr-selected-reasoning") in ("on", "off"), "x-vsr-selected-reasoning present", str(headers))
    try:
        text = json.loads(body)["choices"][0]["message"]["content"]
        check(bool(text), "the answer has content")
    except (ValueError, KeyError, IndexError, TypeError) as e:
        check(False, "the answer is a chat completion", str(e))
    for env, got in (("EXPECT_DECISION", decision), ("EXPECT_MODEL", model)):
        if os.environ.get(env):
            check(got == os.environ[env], f"{env} = {os.environ[env]}", f"got {got!r}")
    print(f"     routed: decision {decision} -> {model}, reasoning {headers.get('x-vsr-selected-reasoning')}")

    replay_id = headers.get("x-vsr-replay-id")
    if check(bool(replay_id), "x-vsr-replay-id present (the decision records replays)"):
        record, last = None, ""
        for _ in range(50):  # records are written asynchronously
            status, _, body = req("GET", f"{router}/v1/router_replay/{replay_id}")
            if status == 200:
                record = json.loads(body)
                break
            last = f"{status} {body[:200]}"
            time.sleep(0.2)
        if check(record is not None, "the replay record (Insights) appears", last):
            rec_decision = record.get("decision") or record.get("decision_name")
            rec_model = record.get("selected_model") or record.get("model")
            check(rec_decision == decision, "the record names the decision", f"{rec_decision!r} vs {decision!r}")
            check(rec_model == model, "the record names the alias", f"{rec_model!r} vs {model!r}")
        status, _, body = req("GET", f"{router}/v1/router_replay/aggregate")
        ok = False
        if status == 200:
            try:
                agg = json.loads(body)
                ok = json.dumps(agg).find(str(decision)) >= 0
            except ValueError:
                pass
        check(ok, "the Insights aggregate counts the decision", f"{status} {body[:200]}")

    status, _, body = req("GET", f"{router}/metrics")
    line = f'llm_model_requests_total{{model="{model}"}}'
    check(status == 200 and line in body, f"/metrics counts {line}", f"{status}")

if dashboard:
    status, headers, body = req("GET", f"{dashboard}/")
    check(status == 200 and "<html" in body.lower(), "dashboard serves its page", f"{status} {body[:200]}")

print(f"{len(failures)} check(s) failed" if failures else "stack ok")
sys.exit(1 if failures else 0)
PY
