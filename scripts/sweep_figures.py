#!/usr/bin/env python3
"""Sweep figures for scripts/bench.sh: `commodore sweep` of four points
(momentum.window=10..25:5) over four weeks of the bundled KC and CC bars
(scripts/replay_data.py --weeks 4), run with one replay at a time and with
one per core, in turn (A B A B: the ratio is taken pair by pair), three pairs.
The ratio is the wall time on every core against one at a time: near 1/cores
is a sweep that uses the machine. Prints one JSON object per figure.

    python3 scripts/sweep_figures.py target/release/commodore
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
HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = 3
CORES = os.cpu_count() or 1

work = tempfile.mkdtemp(prefix="commodore-sweep-bench-")
try:
    cfg = os.path.join(work, "sweep.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{os.path.join(work, "data")}"\n')
    data = os.path.join(work, "weeks4.csv")
    with open(data, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "replay_data.py"), "--weeks", "4"],
                       stdout=f, check=True)

    def sweep(jobs):
        out = os.path.join(work, f"out{jobs}")
        cmd = [BIN, "sweep", "--config", cfg, "--data", data, "--param", "momentum.window=10..25:5",
               "--jobs", str(jobs), "--out", out]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit(f"sweep --jobs {jobs} failed ({p.returncode}): {p.stderr[-2000:]}")
        shutil.rmtree(out, ignore_errors=True)
        return wall

    many, one, ratios = [], [], []
    for _ in range(PAIRS):
        a, b = sweep(CORES), sweep(1)
        many.append(a)
        one.append(b)
        ratios.append(a / b)
    print(json.dumps({"figure": f"sweep of 4 replays (4 weeks each), {CORES} at once vs 1: wall (median of {PAIRS})",
                      "value": statistics.median(many), "baseline": statistics.median(one), "unit": "s",
                      "target": f"~1/{CORES} of one at a time",
                      "note": f"sweep: wall ratio pair by pair {', '.join(f'{r:.2f}x' for r in ratios)}"}))
finally:
    shutil.rmtree(work, ignore_errors=True)
