#!/usr/bin/env python3
"""Chaos and crash loops against the real daemon, then the journal checker.

    chaos.py chaos     --seed N --faults K [--bin PATH] [--out DIR]
    chaos.py crashloop --seed N --kills M  [--bin PATH] [--out DIR]

Both run the release binary on a data dir of their own, at a high feed speed,
with the outside world made hostile by local peers on loopback:
  - a webhook receiver (the json kind) that answers 200, 500 or hangs, as the
    seed says, and writes down every dedupe key it answered 200 to;
  - an LLM endpoint (OpenAI chat-completions shape) answering garbage half
    the time (not JSON, the wrong shape, a sentiment out of range).

`chaos`: K faults chosen by the seed over the API: every actor and step of
the tree, every fault kind a node takes (panic, error, hang, stop, slow), and
broker errors; not the engines' own supervisors (a temporary subtree: one
fault there ends the engine for the run, by design). `crashloop`: M kill -9s at moments the seed chooses, each
followed by a restart on the same data dir; every tenth an escalation is
acknowledged and killed at once (its level must survive). Both end with a
clean run and shutdown, then `commodore check-journal` (the replay's
invariants and the outbox's) and print one JSON summary line.

Exit 0 when every invariant holds, 1 otherwise. Only the standard library.
"""

import argparse
import http.server
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

TOKEN = "chaos-token-0123456789abcdef"
WORKER = ["panic", "error", "hang", "stop", "slow"]
STEP = ["panic", "error"]
SUPERVISOR = ["panic", "hang", "stop"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peers:
    """The webhook receiver and the LLM, on one loopback server."""

    def __init__(self, seed, out):
        self.rng = random.Random(seed ^ 0x5EED)
        self.lock = threading.Lock()
        self.delivered = open(os.path.join(out, "delivered.txt"), "a", buffering=1)
        self.answers = {"200": 0, "500": 0, "hang": 0, "llm": 0}
        peers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", "0") or 0)
                self.rfile.read(length)
                if self.path.startswith("/llm"):
                    with peers.lock:
                        peers.answers["llm"] += 1
                        garbage = peers.rng.choice(
                            [
                                b'{"choices": [{"message": {"content": "{\\"sentiment\\": \\"bullish\\", \\"confidence\\": 0.9}"}}]}',
                                b'{"choices": [{"message": {"content": "{\\"sentiment\\": \\"bearish\\", \\"confidence\\": 0.95}"}}]}',
                                b"not json at all \x1b[31m",
                                b'{"choices": []}',
                                b'{"choices": [{"message": {"content": "maybe?"}}]}',
                                b'{"choices": [{"message": {"content": "{\\"sentiment\\": 7}"}}]}',
                            ]
                        )
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(garbage)))
                    self.end_headers()
                    self.wfile.write(garbage)
                    return
                key = self.headers.get("Idempotency-Key", "")
                with peers.lock:
                    roll = peers.rng.random()
                if roll < 0.05:
                    with peers.lock:
                        peers.answers["hang"] += 1
                    time.sleep(4)  # past the webhook's timeout
                    return
                if roll < 0.25:
                    with peers.lock:
                        peers.answers["500"] += 1
                    self.send_response(500)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                with peers.lock:
                    peers.answers["200"] += 1
                    peers.delivered.write(key + "\n")
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.delivered.close()


def write_config(out, port, peers):
    data = os.path.join(out, "data")
    path = os.path.join(out, "chaos.toml")
    with open(path, "w") as f:
        f.write(
            f"""data_dir = "{data}"

[supervision]
max_restarts = 10000
period = "1s"
backoff_min = "1ms"
backoff_max = "100ms"

[engine_supervision]
max_restarts = 10000
period = "1s"

[control]
listen = "127.0.0.1:{port}"

[feed]
speed = 3000.0

[faults]
enabled = true

[llm]
enabled = true
endpoint = "http://127.0.0.1:{peers.port}/llm"
timeout = "2s"

[notifier]
max_outbox = 100000
backoff_min = "50ms"
backoff_max = "1s"
webhooks = [{{ kind = "json", url = "http://127.0.0.1:{peers.port}/hook", timeout = "1s", rate_per_min = 600 }}]
"""
        )
    return path, data


class Daemon:
    def __init__(self, binary, config, port, log):
        self.binary, self.config, self.port, self.log = binary, config, port, log
        self.proc = None

    def start(self):
        env = dict(os.environ, COMMODORE_CONTROL_TOKEN=TOKEN, RUST_LOG="info")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config],
            stdout=logf,
            stderr=logf,
            env=env,
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if self.proc.poll() is not None:
                raise SystemExit(f"the daemon exited with {self.proc.returncode} at start: see {self.log}")
            code, _ = self.call("GET", "/readyz", timeout=1)
            if code == 200:
                return time.monotonic() - t0
            time.sleep(0.01)
        raise SystemExit(f"the daemon never became ready: see {self.log}")

    def call(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError):
            return 0, None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def shutdown(self):
        self.call("POST", "/v1/shutdown", {"reason": "chaos: done"})
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def targets(tree):
    """Every node the seed may hit, with the kinds it takes (the replay's
    choice of faults, over the live tree)."""
    out = []
    for node in tree["nodes"]:
        path, kind = node["path"], node["kind"]
        parts = path.split("/")
        # An engine's supervisor is left out: its subtree is temporary, so
        # one fault there ends that engine for the rest of the run (by
        # design, tested on its own), and the rest of the faults would
        # meet a failed engine.
        if path in ("master", "master/engines") or (len(parts) == 3 and parts[1] == "engines"):
            continue
        if kind == "supervisor":
            out.append((path, SUPERVISOR))
        elif kind == "step":
            out.append((path, STEP))
        else:
            out.append((path, WORKER))
            if parts[-1] == "broker":
                out.append((path, ["error"]))  # broker errors weigh as a node
    return out


def fault(rng, path, kinds):
    kind = rng.choice(kinds)
    body = {"path": path, "kind": kind}
    if kind == "panic":
        body["count"] = 1 + rng.randrange(3)
    elif kind == "error":
        body["count"] = 1 + rng.randrange(8)
    elif kind == "hang":
        body["ms"] = 500 + rng.randrange(3500)  # some past the 3 s probe
    elif kind == "slow":
        body["count"] = 1 + rng.randrange(20)
        body["ms"] = 10 + rng.randrange(300)
    return body


def restarts(d):
    code, tree = d.call("GET", "/v1/tree")
    if code != 200:
        return None
    return sum(n.get("restarts", 0) for n in tree["nodes"])


def check(binary, data, out):
    r = subprocess.run(
        [
            binary,
            "check-journal",
            "--journal",
            os.path.join(data, "journal.sqlite"),
            "--delivered",
            os.path.join(out, "delivered.txt"),
        ],
        capture_output=True,
        text=True,
    )
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    return r.returncode, lines, r.stderr.strip()


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    i = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[i]


def run_chaos(args, d, rng):
    d.start()
    code, tree = d.call("GET", "/v1/tree")
    nodes = targets(tree)
    by_status, sent = {}, 0
    spread = max(20.0, args.faults / args.rate)
    t0 = time.monotonic()
    for i in range(args.faults):
        path, kinds = rng.choice(nodes)
        status, _ = d.call("POST", "/v1/faults", fault(rng, path, kinds))
        by_status[str(status)] = by_status.get(str(status), 0) + 1
        sent += 1
        # Spread over `spread` seconds: the tree lives through them, it is
        # not only hit.
        ahead = (i + 1) * spread / args.faults - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
        if d.proc.poll() is not None:
            break
    time.sleep(5)  # recovery, then the clean stop
    total_restarts = restarts(d)
    code, status = d.call("GET", "/v1/status")
    exit_code = d.shutdown()
    return {
        "faults": sent,
        "fault_answers": by_status,
        "restarts": total_restarts,
        "failed_engines": [e["id"] for e in (status or {}).get("engines", []) if e.get("state") == "failed"]
        if isinstance(status, dict)
        else None,
        "exit": exit_code,
        "seconds": round(time.monotonic() - t0, 1),
    }


def run_crashloop(args, d, rng):
    recoveries, lost_levels, acknowledged = [], [], 0
    order = ["NORMAL", "WARNING", "HALT", "PANIC"]
    t0 = time.monotonic()
    for i in range(args.kills):
        recoveries.append(d.start())
        # A level acknowledged before this start must have survived it.
        code, st = d.call("GET", "/v1/status")
        if acknowledged and isinstance(st, dict):
            if order.index(st["risk"]["level"]) < acknowledged:
                lost_levels.append((i, st["risk"]["level"], order[acknowledged]))
        time.sleep(rng.uniform(0.2, 2.5))
        if i % 10 == 5 and acknowledged < 1:
            code, r = d.call("POST", "/v1/risk/escalate", {"level": "WARNING", "reason": "chaos: before a kill"})
            if code == 200:
                acknowledged = max(acknowledged, order.index(r["risk"]["level"]))
        d.kill()
    recoveries.append(d.start())
    time.sleep(8)  # the outbox drains (10 a second at most, 500s retried)
    total_restarts = restarts(d)
    exit_code = d.shutdown()
    return {
        "kills": args.kills,
        "restarts": args.kills,
        "actor_restarts_last_run": total_restarts,
        "recovery_s": {
            "median": round(statistics.median(recoveries), 3),
            "p99": round(pct(recoveries, 99), 3),
            "max": round(max(recoveries), 3),
        },
        "levels_lost": lost_levels,
        "exit": exit_code,
        "seconds": round(time.monotonic() - t0, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["chaos", "crashloop"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--faults", type=int, default=1000)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--rate", type=float, default=10.0, help="chaos: faults a second (default 10)")
    p.add_argument("--bin", default="target/release/commodore")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    # A stopped script stops its daemon too (its `finally` runs): a daemon
    # left behind would write into the next run's data dir.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = os.path.abspath(args.out or f"target/chaos/{args.mode}-{args.seed}")
    if os.path.exists(out):
        raise SystemExit(f"{out} exists: give another --out or remove it")
    os.makedirs(out)
    rng = random.Random(args.seed)
    peers = Peers(args.seed, out)
    port = free_port()
    config, data = write_config(out, port, peers)
    d = Daemon(os.path.abspath(args.bin), config, port, os.path.join(out, "daemon.log"))
    try:
        result = run_chaos(args, d, rng) if args.mode == "chaos" else run_crashloop(args, d, rng)
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        peers.close()
    code, lines, err = check(d.binary, data, out)
    result.update(
        {
            "mode": args.mode,
            "seed": args.seed,
            "webhook_answers": peers.answers,
            "log_bytes": os.path.getsize(d.log),
            "invariants": lines,
            "violations": sum(1 for l in lines if l.startswith("FAILS")) + (1 if code == 2 else 0),
            "check_error": err if code else "",
            "out": out,
        }
    )
    for l in lines:
        print(l)
    print(json.dumps(result))
    if code != 0 or result.get("levels_lost"):
        print(f"FAILED: {err or 'see the lines above'}; data in {out}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
