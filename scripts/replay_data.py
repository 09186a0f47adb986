#!/usr/bin/env python3
"""Writes the bundled bars (config/data/<SYMBOL>_bars.csv) as one replay data
file, `at,symbol,open,high,low,close,volume`, in time order:

    python3 scripts/replay_data.py > week.csv
    commodore replay --data week.csv --news config/data/news.csv

    python3 scripts/replay_data.py --weeks 16 > weeks16.csv

With `--weeks N` the week is played N times, a week apart, as `commodore run`
plays it in a loop (actors/src/engine/data.rs, `lap_bar`): every other week the
prices run backwards (bar i takes bar n-1-i's prices, open and close swapped),
so each week opens at the last close, without a jump. The benchmarks replay 1,
4 and 16 weeks to show that a replay's time grows with its data, linearly.
"""
import argparse
import csv
import datetime as dt
import os
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "data")
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--weeks", type=int, default=1, help="weeks of data (1 to 520)")
args = parser.parse_args()
if not 1 <= args.weeks <= 520:
    parser.error("--weeks: between 1 and 520 (ten years)")


def stamp(at, weeks):
    t = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(weeks=weeks)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


rows = []
for symbol in ("KC", "CC"):
    with open(os.path.join(here, f"{symbol}_bars.csv"), newline="") as f:
        bars = list(csv.DictReader(f))
    n = len(bars)
    for lap in range(args.weeks):
        for i, b in enumerate(bars):
            if lap % 2 == 0:
                o, h, lo, c, v = b["open"], b["high"], b["low"], b["close"], b["volume"]
            else:
                s = bars[n - 1 - i]
                o, h, lo, c, v = s["close"], s["high"], s["low"], s["open"], s["volume"]
            at = b["at"] if lap == 0 else stamp(b["at"], lap)
            rows.append((at, symbol, o, h, lo, c, v))
rows.sort(key=lambda r: (r[0], r[1]))
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["at", "symbol", "open", "high", "low", "close", "volume"])
out.writerows(rows)
