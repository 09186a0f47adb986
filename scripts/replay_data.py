#!/usr/bin/env python3
"""Writes the bundled bars (config/data/<SYMBOL>_bars.csv) as one replay data
file, `at,symbol,open,high,low,close,volume`, in time order:

    python3 scripts/replay_data.py > week.csv
    commodore replay --data week.csv --news config/data/news.csv
"""
import csv
import os
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "data")
rows = []
for symbol in ("KC", "CC"):
    with open(os.path.join(here, f"{symbol}_bars.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows.append((r["at"], symbol, r["open"], r["high"], r["low"], r["close"], r["volume"]))
rows.sort(key=lambda r: (r[0], r[1]))
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["at", "symbol", "open", "high", "low", "close", "volume"])
out.writerows(rows)
