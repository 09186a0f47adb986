#!/usr/bin/env python3
"""Replay figures against NautilusTrader for scripts/bench.sh: a year of KC and
CC 1-minute bars (scripts/replay_data.py --seed 7 --days 365, about 270,000
bars), replayed by `commodore replay` and by NautilusTrader's BacktestEngine
(scripts/nautilus_replay.py), each placing about one order per 25 bars. Runs
alternate between the two (a noisy neighbour hits both), the median of three
each; one each when a first commodore run takes longer than three minutes.
Wall time and peak RSS are the whole process's (data load, run, report),
measured here around it. Prints one JSON object per figure: commodore's value,
NautilusTrader's as the baseline.

    python3 scripts/replay_compare.py target/release/commodore target/bench-venv/bin/python

commodore's config (written into a temp dir) trades the momentum strategy
alone on both contracts, and sizes it so that only Moderate and Strong signals
(confidence >= 0.7: a move of 0.4 % or more over 15 bars) allocate a contract,
which on this data is about one order per 25 bars; its guards are loosened so
that the strategy's own losses and positions never halt it (the figure is the
cost of the orders' path, not of refusals). Orders are the report's `executed`
outcomes.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
PYTHON = sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
SEED, DAYS, EVERY = 7, 365, 25
RUNS = 3
SLOW_S = 180  # a first commodore run longer than this: one run each
TIMEOUT_S = 1800

CONFIG = """\
data_dir = "{data_dir}"

[log]
level = "warn"

# Momentum alone, sized so that a Weak signal (confidence 0.55 to 0.7)
# allocates nothing: capital x 1.0 x 10 % / margin x 0.04 < 1 contract, while a
# Moderate one gives 1-2 and a Strong one 2-4.
[[engines]]
id = "KC"
symbol = "KC"
capital = "2500000"
max_position = 100
strategies = {{ momentum = 1.0 }}

[[engines]]
id = "CC"
symbol = "CC"
capital = "2500000"
max_position = 100
strategies = {{ momentum = 1.0 }}

[mode]
tiers = [{{ name = "BENCH", threshold = "0", size_factor = 0.04, max_open_positions = 2, strategies = ["momentum"] }}]

# pipeline: the defaults (immediate_threshold 0.85, a batch every 60 s).

[risk]
max_order_qty = 25
max_order_notional = "100000000"
day_drawdown_warning = 0.9
day_drawdown_halt = 0.99
peak_drawdown_warning = 0.9
peak_drawdown_halt = 0.99
account_drawdown_warning = 0.9
account_drawdown_halt = 0.95
account_drawdown_panic = 0.99
var_max = 1.0
correlated_max = 100.0
concentration_max = 1.0
"""


def timed(cmd, what):
    """(wall s, peak RSS KiB or nan, stdout) of one run under /usr/bin/time."""
    if os.path.exists("/usr/bin/time"):
        cmd = ["/usr/bin/time", "-f", "%M"] + cmd
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        sys.exit(f"{what}: no end after {TIMEOUT_S} s")
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{what} failed ({p.returncode}): {p.stderr[-2000:]}")
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    return wall, int(last) if last.isdigit() else float("nan"), p.stdout


def commodore(work, cfg, data):
    """One replay: (wall, rss, orders), orders from its report."""
    out = os.path.join(work, "reports")
    shutil.rmtree(out, ignore_errors=True)
    wall, rss, _ = timed([BIN, "replay", "--config", cfg, "--data", data, "--out", out], "commodore replay")
    shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    reports = [f for f in os.listdir(out) if f.endswith(".json")]
    if len(reports) != 1:
        sys.exit(f"commodore replay: expected one JSON report in {out}, found {reports}")
    with open(os.path.join(out, reports[0])) as f:
        report = json.load(f)
    orders = sum(e["outcomes"].get("executed", 0) for e in report["engines"])
    return wall, rss, orders


def nautilus(data):
    """One NautilusTrader run: (wall, rss, orders)."""
    wall, rss, out = timed([PYTHON, os.path.join(HERE, "nautilus_replay.py"), data, "--every", str(EVERY)],
                           "scripts/nautilus_replay.py")
    return wall, rss, json.loads(out.strip().splitlines()[-1])


def main():
    work = tempfile.mkdtemp(prefix="commodore-replay-compare-")
    try:
        data = os.path.join(work, "year.csv")
        with open(data, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "replay_data.py"), "--seed", str(SEED),
                            "--days", str(DAYS)], stdout=f, check=True)
        with open(data) as f:
            bars = sum(1 for _ in f) - 1
        cfg = os.path.join(work, "replay.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(data_dir=os.path.join(work, "data")))

        c_runs, n_runs, n_info = [], [], None
        runs = RUNS
        i = 0
        while i < runs:
            c_runs.append(commodore(work, cfg, data))
            if i == 0 and c_runs[0][0] > SLOW_S:
                runs = 1
            wall, rss, info = nautilus(data)
            if info["bars"] != bars:
                sys.exit(f"scripts/nautilus_replay.py read {info['bars']} bars of {bars}")
            n_runs.append((wall, rss, info["orders"]))
            n_info = info
            i += 1

        def med(rs, k):
            return statistics.median(r[k] for r in rs)

        how = f"median of {runs}" if runs > 1 else "1 run"
        c_wall, n_wall = med(c_runs, 0), med(n_runs, 0)
        c_orders = sorted({r[2] for r in c_runs})
        name = "replay year KC+CC vs Nautilus"
        note = (f"replay year KC+CC: {bars} 1-minute bars (scripts/replay_data.py --seed {SEED} --days {DAYS}), "
                f"commodore replay vs NautilusTrader {n_info['nautilus_trader']} BacktestEngine on Python "
                f"{n_info['python']} (scripts/nautilus_replay.py), {how} each"
                + ("" if runs > 1 else f": a commodore replay took over {SLOW_S} s")
                + f"; orders: commodore's executed, Nautilus's one per {EVERY} bars")
        figures = [
            (f"{name}: bars/s ({how})", bars / c_wall, bars / n_wall, "bars/s", ">= 5x NautilusTrader"),
            (f"{name}: wall (load, run, report)", c_wall * 1e3, n_wall * 1e3, "ms", "-"),
            (f"{name}: peak RSS", med(c_runs, 1) / 1024, med(n_runs, 1) / 1024, "MiB", "-"),
            (f"{name}: orders", c_orders[-1], n_runs[-1][2], "orders",
             f"~1 per {EVERY} bars" if len(c_orders) == 1 else f"commodore's varied: {c_orders}"),
        ]
        for i, (figure, value, baseline, unit, target) in enumerate(figures):
            f = {"figure": figure, "value": value, "baseline": baseline, "unit": unit, "target": target}
            if i == 0:
                f["note"] = note
            print(json.dumps(f))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
