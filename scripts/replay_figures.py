#!/usr/bin/env python3
"""Replay figures for scripts/bench.sh: `commodore replay` over 1, 4 and 16 weeks
of the bundled KC and CC bars (scripts/replay_data.py --weeks N), the median of
three runs each, wall time and peak RSS. Each longer replay is set against the
1-week one scaled by its data (4x, 16x): a ratio near 1.0 is time linear in the
bars; above 1 it grows faster than the data (what the per-second linear scans did
before). Prints one JSON object per figure.

    python3 scripts/replay_figures.py target/release/commodore
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
NEWS = os.path.join(HERE, "..", "config", "data", "news.csv")
WEEKS = (1, 4, 16)
RUNS = 3

work = tempfile.mkdtemp(prefix="commodore-replay-bench-")
try:
    cfg = os.path.join(work, "replay.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{os.path.join(work, "data")}"\n')
    figures = {}
    for weeks in WEEKS:
        data = os.path.join(work, f"weeks{weeks}.csv")
        with open(data, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "replay_data.py"), "--weeks", str(weeks)],
                           stdout=f, check=True)
        bars = sum(1 for _ in open(data)) - 1
        walls, rsses = [], []
        for _ in range(RUNS):
            cmd = [BIN, "replay", "--config", cfg, "--data", data, "--news", NEWS,
                   "--out", os.path.join(work, "reports")]
            if shutil.which("/usr/bin/time"):
                cmd = ["/usr/bin/time", "-f", "%M"] + cmd
            t0 = time.monotonic()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            walls.append(time.monotonic() - t0)
            if p.returncode != 0:
                sys.exit(f"replay of {weeks} weeks failed ({p.returncode}): {p.stderr[-2000:]}")
            last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
            if last.isdigit():
                rsses.append(int(last))
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
        figures[weeks] = (bars, statistics.median(walls), statistics.median(rsses) if rsses else float("nan"))

    bars1, wall1, _ = figures[1]
    for weeks in WEEKS:
        bars, wall, rss = figures[weeks]
        linear = wall1 * bars / bars1
        print(json.dumps({"figure": f"replay {weeks} week(s), {bars} bars: wall (median of {RUNS})",
                          "value": wall * 1e3, "baseline": linear * 1e3 if weeks > 1 else 0, "unit": "ms",
                          "target": "~1.0x the 1-week time x data (linear)" if weeks > 1 else "-"}))
        print(json.dumps({"figure": f"replay {weeks} week(s): bars/s", "value": bars / wall,
                          "baseline": 0, "unit": "bars/s", "target": "-"}))
        print(json.dumps({"figure": f"replay {weeks} week(s): peak RSS", "value": rss / 1024,
                          "baseline": 0, "unit": "MiB", "target": "-"}))
finally:
    shutil.rmtree(work, ignore_errors=True)
