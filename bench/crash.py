#!/usr/bin/env python3
"""Crash safety: `kill -9` of `vllm-sr serve` under load, repeated, with SQLite or PostgreSQL.

Run through bench/crash.sh (it finds the binary and, for PostgreSQL, the database URL).

Each round: start the router on the same data dir (and database), drive mixed load (JSON and
streamed, routed to a decision that records replays) from several client threads, SIGKILL the
router at a random moment, then check:
  * every request answered more than one flush interval (+ commit slack) before the kill has its
    replay record (the `x-vsr-replay-id` header of the answer);
  * the database passes its integrity check (SQLite `PRAGMA integrity_check`; both: the hourly
    and daily rollups, written in the same transaction as the records, still sum to the number
    of records — a torn batch would break that);
  * the config file is byte-identical to what was written and still loads (`vllm-sr validate`).
Prints one line per round and a summary; exits 1 when any round lost a record or failed a check.
"""

import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ["VLLM_SR_BIN"]
BACKEND = os.environ.get("CRASH_BACKEND", "sqlite")  # sqlite | postgres
PG_URL = os.environ.get("CRASH_PG_URL", "")
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
THREADS = int(os.environ.get("CRASH_THREADS", "4"))
# Total request rate (req/s); 0: as fast as the clients go (closed loop). At saturation the
# PostgreSQL writer (about 1,000-1,500 records/s with captured bodies on a loaded 2-core box)
# falls behind the router, and what is still queued at the kill is lost however old it is.
RATE = float(os.environ.get("CRASH_RATE", "0"))
# The replay writer's flush interval (WriterConfig::default(), docs/replay.md) and the time a
# commit may take after it.
FLUSH_S = 0.5
SLACK_S = float(os.environ.get("CRASH_SLACK_S", "0.25"))

CONFIG = """version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 30s}
providers:
  defaults:
    default_model: cheap
  models:
    - name: cheap
      provider_model_id: cheap-up
      pricing: {currency: USD, prompt_per_1m: 0.5, completion_per_1m: 1.0}
      backend_refs:
        - {name: sim, endpoint: "SIM", protocol: http, weight: 1}
routing:
  signals:
    keywords:
      - {name: code, operator: OR, keywords: ["code"], case_sensitive: false}
  decisions:
    - name: code_route
      priority: 100
      rules:
        operator: AND
        conditions:
          - {type: keyword, name: code}
      modelRefs:
        - {model: cheap, use_reasoning: false}
      plugins:
        - type: router_replay
          configuration:
            enabled: true
            max_records: 10000000
            capture_request_body: true
            capture_response_body: true
            max_body_bytes: 4096
"""


def wait_port(path, proc, limit=60.0):
    end = time.time() + limit
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                return int(f.read().strip())
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[1]} exited with {proc.returncode} before listening")
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {path}")


def chat(port, text, stream):
    body = json.dumps({"model": "MoM", "stream": stream,
                       "messages": [{"role": "user", "content": text}]})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        r = c.getresponse()
        data = r.read().decode(errors="replace")
        return r.status, r.getheader("x-vsr-replay-id"), data
    finally:
        c.close()


def load(port, tid, stop, answered, lock):
    i = 0
    gap = THREADS / RATE if RATE > 0 else 0.0
    next_at = time.monotonic()
    while not stop.is_set():
        if gap:
            next_at += gap
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        i += 1
        stream = i % 2 == 0
        try:
            status, rid, data = chat(port, f"code question {tid}-{i}-{random.random()}", stream)
        except Exception:  # the kill: connection refused or cut
            if stop.is_set():
                return
            time.sleep(0.01)
            continue
        # A stream is answered once its last chunk arrived.
        if status != 200 or rid is None or (stream and "[DONE]" not in data):
            continue
        with lock:
            answered.append((rid, time.monotonic()))


class SqliteDb:
    def __init__(self, path):
        self.path = path

    def check(self):
        c = sqlite3.connect(self.path)
        try:
            ok = c.execute("PRAGMA integrity_check").fetchone()[0]
            n = c.execute("SELECT COUNT(*) FROM replay_records").fetchone()[0]
            h = c.execute("SELECT COALESCE(SUM(cnt),0) FROM replay_rollup_hour").fetchone()[0]
            d = c.execute("SELECT COALESCE(SUM(cnt),0) FROM replay_rollup_day").fetchone()[0]
            ids = {r[0] for r in c.execute("SELECT id FROM replay_records")}
        finally:
            c.close()
        return ok, n, h, d, ids


class PgDb:
    def __init__(self, url, schema):
        self.url = url
        self.schema = schema

    def q(self, sql):
        env = dict(os.environ, PGOPTIONS=f"-c search_path={self.schema}")
        out = subprocess.run(["psql", self.url, "-At", "-c", sql], capture_output=True,
                             text=True, check=True, env=env)
        return out.stdout.split("\n")

    def check(self):
        # The router's PostgreSQL transactions either commit or roll back; "consistent" here is
        # the same cross-table invariant as for SQLite, plus the database answering at all.
        n = int(self.q("SELECT COUNT(*) FROM replay_records")[0])
        h = int(self.q("SELECT COALESCE(SUM(cnt),0) FROM replay_rollup_hour")[0])
        d = int(self.q("SELECT COALESCE(SUM(cnt),0) FROM replay_rollup_day")[0])
        ids = {x for x in self.q("SELECT id FROM replay_records") if x}
        return "ok", n, h, d, ids


def main():
    work = tempfile.mkdtemp(prefix="vsr-crash-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    sim_log = open(os.path.join(work, "sim.log"), "w")
    sim = subprocess.Popen([BIN, "sim-backend", "--port", "0", "--models", "cheap-up",
                            "--port-file", os.path.join(work, "sim.port")],
                           stdout=sim_log, stderr=subprocess.STDOUT)
    procs = [sim]
    try:
        sim_port = wait_port(os.path.join(work, "sim.port"), sim)
        cfg = os.path.join(work, "config.yaml")
        text = CONFIG.replace("SIM", f"127.0.0.1:{sim_port}")
        with open(cfg, "w") as f:
            f.write(text)
        env = dict(os.environ, VSR_DATA_DIR=data)
        args = [BIN, "serve", "--config", cfg, "--host", "127.0.0.1", "--port", "0",
                "--no-dashboard", "--port-file", os.path.join(work, "router.port")]
        if BACKEND == "postgres":
            schema = f"crash_{os.getpid()}"
            args += ["--shared-db", PG_URL, "--shared-db-schema", schema]
            db = PgDb(PG_URL, schema)
        else:
            db = SqliteDb(os.path.join(data, "replay.db"))
        failures = 0
        total_due = total_answered = 0
        all_due = []
        for rnd in range(1, ROUNDS + 1):
            pf = os.path.join(work, "router.port")
            if os.path.exists(pf):
                os.remove(pf)
            log = open(os.path.join(work, f"router-{rnd}.log"), "w")
            router = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
            procs.append(router)
            port = wait_port(pf, router)
            stop = threading.Event()
            answered, lock = [], threading.Lock()
            ts = [threading.Thread(target=load, args=(port, t, stop, answered, lock))
                  for t in range(THREADS)]
            for t in ts:
                t.start()
            time.sleep(random.uniform(1.5, 3.5))
            killed_at = time.monotonic()
            os.kill(router.pid, signal.SIGKILL)
            router.wait()
            procs.remove(router)
            stop.set()
            for t in ts:
                t.join()
            due = [rid for rid, at in answered if at + FLUSH_S + SLACK_S < killed_at]
            ok, n, h, d, ids = db.check()
            lost = [rid for rid in due if rid not in ids]
            # Records answered in earlier rounds must survive later kills too.
            all_due += due
            lost_earlier = [rid for rid in all_due if rid not in ids]
            with open(cfg) as f:
                cfg_same = f.read() == text
            valid = subprocess.run([BIN, "validate", cfg], capture_output=True).returncode == 0
            bad = bool(lost_earlier) or ok != "ok" or not (n == h == d) or not cfg_same or not valid
            failures += bad
            total_due += len(due)
            total_answered += len(answered)
            print(f"{BACKEND} round {rnd:2}: answered {len(answered):5}, due {len(due):5}, "
                  f"lost {len(lost)}, lost of all rounds {len(lost_earlier)}, integrity {ok}, "
                  f"records {n} rollup hour {h} day {d}, config intact {cfg_same and valid}"
                  + ("  FAIL" if bad else ""), flush=True)
        print(f"{BACKEND} summary: {ROUNDS} kills, {total_answered} answered, {total_due} due "
              f"before the last flush interval, rounds failing a check: {failures}")
        return 1 if failures else 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if os.environ.get("CRASH_KEEP") != "1":
            subprocess.run(["rm", "-rf", work])
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    sys.exit(main())
