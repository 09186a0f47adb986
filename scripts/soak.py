#!/usr/bin/env python3
"""The soak run: the release daemon on the bundled data at a high feed speed
for N market days (a benchmark, not a test), sampled once per reconciled day.

  scripts/soak.sh [--days 130] [--warmup 116] [--speed 20000] [--retention 2d] [--out DIR]

130 days by default (about 14 minutes): on the bundled data the bounded
buffers fill slowly (the kernel's 10,000 retained events by about day 65,
each executor's 4,096 remembered client order ids by about day 115), and RSS
is measured after they are full.

Each day after its reconciliation it reads: the process's RSS
(/proc/<pid>/status), the journal's size on disk (journal.sqlite and its
WAL, the order logs, the paper brokers' files, the archive), the rows of each
journal table, the notifier's outbox, and every engine's dropped events.
At the end it prints a table and the verdicts:

- RSS growth after warm-up (`--warmup` to the last day) at most 5 %;
- the journal's `events` table bounded (retention archives the old ones);
- the outbox and every queue bounded (dropped counts are the bounds at work);
- the stopped journal passes `commodore check-journal`.

Exit 1 when a verdict fails. Nothing here is asserted by `cargo test`: the
machines are shared and a timing there would be noise.
"""

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "commodore")


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def journal_size(data):
    return sum(
        os.path.getsize(os.path.join(data, f))
        for f in ("journal.sqlite", "journal.sqlite-wal")
        if os.path.exists(os.path.join(data, f))
    )


def rows(data):
    c = sqlite3.connect(f"file:{os.path.join(data, 'journal.sqlite')}?mode=ro", uri=True)
    out = {}
    for t in ("events", "orders", "fills", "outcomes", "outbox", "event_days"):
        out[t] = c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
    # Events published so far: the kernel keeps the newest 10,000 in memory,
    # so RSS grows until this passes 10,000.
    out["seq"] = c.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=130)
    ap.add_argument("--speed", type=float, default=20000.0)
    ap.add_argument("--retention", default="2d")
    ap.add_argument(
        "--warmup",
        type=int,
        default=116,
        help="the day RSS growth is measured from (bounded buffers filled by then)",
    )
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "soak"))
    ap.add_argument("--timeout", type=int, default=1800, help="wall seconds at most")
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between status reads")
    a = ap.parse_args()

    data = os.path.join(a.out, "data")
    subprocess.run(["rm", "-rf", a.out], check=True)
    os.makedirs(data)
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "COMMODORE__DATA_DIR": data,
            "COMMODORE__CONTROL__LISTEN": f"127.0.0.1:{port}",
            "COMMODORE__FEED__SPEED": str(a.speed),
            "COMMODORE__JOURNAL__RETENTION": a.retention,
            "COMMODORE__LOG__STATUS_EVERY": "0s",
            # A month of a desk's market: the guards would halt trading on
            # the bundled data's swings long before the month is out.
            "COMMODORE__RISK__DAY_DRAWDOWN_WARNING": "0.8",
            "COMMODORE__RISK__DAY_DRAWDOWN_HALT": "0.9",
            "COMMODORE__RISK__PEAK_DRAWDOWN_WARNING": "0.8",
            "COMMODORE__RISK__PEAK_DRAWDOWN_HALT": "0.9",
            "COMMODORE__RISK__ACCOUNT_DRAWDOWN_WARNING": "0.8",
            "COMMODORE__RISK__ACCOUNT_DRAWDOWN_HALT": "0.9",
            "COMMODORE__RISK__ACCOUNT_DRAWDOWN_PANIC": "0.95",
            "RUST_LOG": "warn",
        }
    )
    log = open(os.path.join(a.out, "daemon.log"), "w")
    p = subprocess.Popen([BIN, "run"], env=env, stderr=log, stdout=log)
    base = f"http://127.0.0.1:{port}"
    token_file = os.path.join(data, "control.token")

    def get(path):
        with open(token_file) as f:
            token = f.read().strip()
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    start = time.time()
    samples = []
    seen_runs = 0
    try:
        while True:
            if time.time() - start > a.timeout:
                print(f"soak: timed out after {a.timeout} s", file=sys.stderr)
                break
            if p.poll() is not None:
                print(f"soak: the daemon exited with {p.returncode}", file=sys.stderr)
                break
            time.sleep(a.poll)
            try:
                st = get("/v1/status")
            except Exception:
                continue
            runs = st.get("reconcile", {}).get("runs", 0)
            if runs <= seen_runs:
                continue
            seen_runs = runs
            dropped = sum(e["activity"]["dropped"] for e in st["engines"])
            s = {
                "day": st["reconcile"]["day"],
                "wall_s": round(time.time() - start, 1),
                "rss_kib": rss_kib(p.pid),
                "journal_bytes": journal_size(data),
                "data_bytes": du(data),
                "outbox": st["notifier"]["outbox"],
                "dropped": dropped,
                "mismatches": len(st["reconcile"]["mismatches"]),
                "fills": sum(e["activity"]["fills"] for e in st["engines"]),
            }
            s.update(rows(data))
            samples.append(s)
            print(
                f"day {len(samples):>2} {s['day']}  rss {s['rss_kib']/1024:7.1f} MiB  "
                f"journal {s['journal_bytes']/1e6:6.2f} MB  events {s['events']:>6}  "
                f"orders {s['orders']:>6}  outcomes {s['outcomes']:>6}  seq {s['seq']:>6}  outbox {s['outbox']}  "
                f"dropped {s['dropped']}",
                flush=True,
            )
            if len(samples) >= a.days:
                break
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()

    check = subprocess.run(
        [BIN, "check-journal", "--journal", os.path.join(data, "journal.sqlite")],
        env=env,
        capture_output=True,
        text=True,
    )
    with open(os.path.join(a.out, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1)

    verdicts = []
    if len(samples) < a.days:
        verdicts.append((False, f"{len(samples)} of {a.days} market days reached"))
    else:
        verdicts.append((True, f"{a.days} market days in {samples[-1]['wall_s']} s"))
    if len(samples) > a.warmup:
        warm, last = samples[a.warmup - 1], samples[-1]
        growth = (last["rss_kib"] - warm["rss_kib"]) / warm["rss_kib"] * 100
        verdicts.append(
            (
                growth <= 5.0,
                f"RSS after warm-up: {warm['rss_kib']/1024:.1f} MiB on day {a.warmup}, "
                f"{last['rss_kib']/1024:.1f} MiB on day {len(samples)} ({growth:+.1f} %, at most +5 %)",
            )
        )
        mid = samples[len(samples) // 2]
        verdicts.append(
            (
                last["orders"] <= 2 * mid["orders"] + 500
                and last["outcomes"] <= 2 * mid["outcomes"] + 2000,
                f"journal orders and outcomes bounded by retention: {mid['orders']} and "
                f"{mid['outcomes']} rows mid-run, {last['orders']} and {last['outcomes']} at the end",
            )
        )
        verdicts.append(
            (
                last["events"] <= 2 * mid["events"] + 1000,
                f"journal events table bounded by retention: {mid['events']} rows mid-run, "
                f"{last['events']} at the end ({last['event_days']} day-and-kind counts archived)",
            )
        )
        verdicts.append(
            (
                True,
                f"journal on disk: {warm['journal_bytes']/1e6:.2f} MB on day {a.warmup}, "
                f"{last['journal_bytes']/1e6:.2f} MB on day {len(samples)}; data dir "
                f"{last['data_bytes']/1e6:.2f} MB with the archive; rows kept: orders {last['orders']}, "
                f"outcomes {last['outcomes']}, events {last['events']}",
            )
        )
        verdicts.append(
            (
                max(s["outbox"] for s in samples) <= 10000,
                f"outbox at most {max(s['outbox'] for s in samples)} (bound 10,000); "
                f"{last['dropped']} market events dropped at full mailboxes (conflated, counted)",
            )
        )
        verdicts.append(
            (
                all(s["mismatches"] == 0 for s in samples),
                f"reconciliation: {sum(1 for s in samples if s['mismatches'] == 0)} of "
                f"{len(samples)} days matched the brokers",
            )
        )
    verdicts.append(
        (check.returncode == 0, f"check-journal: exit {check.returncode}")
    )
    print()
    for ok, text in verdicts:
        print(("ok    " if ok else "FAIL  ") + text)
    if check.returncode != 0:
        print(check.stdout + check.stderr)
    return 0 if all(ok for ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
