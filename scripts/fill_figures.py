#!/usr/bin/env python3
"""Paper-market figures for scripts/bench.sh: `commodore replay` of a seeded
quarter of KC and CC bars (scripts/replay_data.py --seed 7 --days 91) on the
paper broker filling from the market (latency 500 ms, a 2-tick spread, up to 3
random ticks, 5 % of a bar's volume per order, seed 7) against the default
(every market order filled at once, one tick), in turn (A B A B: the ratio is
taken pair by pair), three pairs. The note says what the market costs: fills,
fills in parts, and the quarter's PnL under each. Prints one JSON object.

    python3 scripts/fill_figures.py target/release/commodore
"""
import glob
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = 3
MARKET = """[broker]
latency = "500ms"
spread_ticks = 2
slippage_random_ticks = 3
participation = 0.05
"""

work = tempfile.mkdtemp(prefix="commodore-fill-bench-")
try:
    data = os.path.join(work, "quarter.csv")
    with open(data, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "replay_data.py"), "--seed", "7", "--days", "91"],
                       stdout=f, check=True)
    market = os.path.join(work, "market.toml")
    with open(market, "w") as f:
        f.write(MARKET)

    def replay(name, config):
        d = os.path.join(work, name)
        shutil.rmtree(d, ignore_errors=True)
        cmd = [BIN, "replay", "--data", data, "--seed", "7", "--out", os.path.join(d, "out")]
        if config:
            cmd[2:2] = ["--config", config]
        env = dict(os.environ, COMMODORE__DATA_DIR=d)
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit(f"replay {name} failed ({p.returncode}): {p.stderr[-2000:]}")
        report = json.load(open(glob.glob(os.path.join(d, "out", "*.json"))[0]))
        journal = glob.glob(os.path.join(d, "replay", "*", "journal.sqlite"))[0]
        c = sqlite3.connect(journal)
        parts = c.execute("SELECT COUNT(*) FROM fills WHERE part > 1").fetchone()[0]
        c.close()
        p = report["portfolio"]
        return wall, (p["fills"], parts, p["pnl"])

    with_market, at_once, ratios = [], [], []
    for _ in range(PAIRS):
        (a, sa), (b, sb) = replay("market", market), replay("at-once", None)
        with_market.append(a)
        at_once.append(b)
        ratios.append(a / b)
    print(json.dumps({"figure": f"replay of a quarter, paper market vs fills at once: wall (median of {PAIRS})",
                      "value": statistics.median(with_market), "baseline": statistics.median(at_once), "unit": "s",
                      "target": "~1x (the market's cost is the bars the broker reads)",
                      "note": (f"paper market: wall ratio pair by pair {', '.join(f'{r:.2f}x' for r in ratios)}; "
                               f"market {sa[0]} fills ({sa[1]} later parts), PnL {sa[2]}; "
                               f"at once {sb[0]} fills, PnL {sb[2]}")}))
finally:
    shutil.rmtree(work, ignore_errors=True)
