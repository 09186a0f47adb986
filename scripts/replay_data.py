#!/usr/bin/env python3
"""Writes 1-minute KC and CC bars as one replay data file,
`at,symbol,open,high,low,close,volume`, in time order: the bundled bars
(config/data/<SYMBOL>_bars.csv; the first week's bars under their contract
month, `KCH26`), or with `--days` a seeded random walk (bare symbols: the
front month's series).

    python3 scripts/replay_data.py > week.csv
    commodore replay --data week.csv --news config/data/news.csv

    python3 scripts/replay_data.py --weeks 16 > weeks16.csv
    python3 scripts/replay_data.py --seed 7 --days 365 > year.csv

With `--weeks N` the week is played N times, a week apart, as `commodore run`
plays it in a loop (actors/src/engine/data.rs, `lap_bar`): every other week the
prices run backwards (bar i takes bar n-1-i's prices, open and close swapped),
so each week opens at the last close, without a jump. The benchmarks replay 1,
4 and 16 weeks to show that a replay's time grows with its data, linearly.

With `--days D` (and `--seed S`, `--start YYYY-MM-DD`) the bars are a seeded
geometric random walk over D calendar days from the start (default 2026-01-05),
on the sessions commodore's gate uses (actors/src/model/market.rs): KC
04:15-13:30 and CC 04:45-13:30 New York time, weekdays, no US exchange holiday,
US daylight time as the gate reckons it; a daily volatility of 2.2 % for
coffee and 2.6 % for cocoa (a little under scripts/gen_data.py's week: at this
level commodore's momentum signals, as the benchmark sizes them, come about
once per 25 bars), a night's gap of a third of that, rounded to the tick. The
same seed and days give the same bytes. A year (--days 365) is about 270,000
bars; the benchmarks replay it in commodore and in NautilusTrader.
"""
import argparse
import csv
import datetime as dt
import math
import os
import random
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "data")

# symbol: first price, tick, daily volatility, session (New York minutes), lots a bar
CONTRACTS = {
    "KC": dict(start=345.00, tick=0.05, daily_vol=0.022, open=4 * 60 + 15, close=13 * 60 + 30, lots=(5, 120)),
    "CC": dict(start=6150.0, tick=1.0, daily_vol=0.026, open=4 * 60 + 45, close=13 * 60 + 30, lots=(3, 80)),
}


def nth_weekday(y, m, wd, n):
    """The n-th weekday wd (0 = Monday) of a month; n = 5: the last one."""
    if n == 5:
        last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1))
        return last - dt.timedelta(days=(last.weekday() - wd) % 7)
    first = dt.date(y, m, 1)
    return first + dt.timedelta(days=(wd - first.weekday()) % 7 + 7 * (n - 1))


def observed(y, m, d):
    day = dt.date(y, m, d)
    return day + dt.timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


def easter(y):
    a, b, c = y % 19, y // 100, y % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    return dt.date(y, (h + l - 7 * m + 114) // 31, (h + l - 7 * m + 114) % 31 + 1)


def us_exchange_holidays(y):
    """The full-day closures of `us_exchange_holiday` in market.rs, for year y."""
    new_year = dt.date(y, 1, 1)
    days = {
        new_year + dt.timedelta(days=1) if new_year.weekday() == 6 else new_year,
        nth_weekday(y, 1, 0, 3), nth_weekday(y, 2, 0, 3), easter(y) - dt.timedelta(days=2),
        nth_weekday(y, 5, 0, 5), observed(y, 7, 4), nth_weekday(y, 9, 0, 1),
        nth_weekday(y, 11, 3, 4), observed(y, 12, 25),
    }
    if y >= 2022:
        days.add(observed(y, 6, 19))
    return days


def new_york_offset_min(day):
    """New York's offset from UTC on `day` during the session: daylight time
    from the second Sunday of March to the first Sunday of November."""
    start = nth_weekday(day.year, 3, 6, 2)
    end = nth_weekday(day.year, 11, 6, 1)
    return -240 if start <= day < end else -300


def fmt(p, tick):
    return f"{p:.2f}" if tick < 1 else f"{p:.0f}"


def walk(seed, days, start):
    """The random walk's rows, (at, symbol, open, high, low, close, volume)."""
    rows = []
    for symbol, c in CONTRACTS.items():
        # One stream per symbol: adding a contract leaves the others' bars alone.
        rng = random.Random(f"{seed}:{symbol}")
        tick, price = c["tick"], c["start"]
        sigma = c["daily_vol"] / math.sqrt(c["close"] - c["open"])
        ticks = round(price / tick)
        holidays = {}
        for n in range(days):
            day = start + dt.timedelta(days=n)
            if day.year not in holidays:
                holidays[day.year] = us_exchange_holidays(day.year)
            if day.weekday() >= 5 or day in holidays[day.year]:
                continue
            midnight = dt.datetime(day.year, day.month, day.day) - dt.timedelta(minutes=new_york_offset_min(day))
            # The night's move: a gap of about a third of a day's volatility.
            ticks = max(1, round(ticks * math.exp(rng.gauss(0, c["daily_vol"] / 3))))
            for minute in range(c["open"], c["close"]):
                o = ticks
                cl = max(1, round(o * math.exp(rng.gauss(0, sigma))))
                wick = lambda: int(abs(rng.gauss(0, max(1.0, o * sigma / 2))))
                hi = max(o, cl) + wick()
                lo = max(1, min(o, cl) - wick())
                at = (midnight + dt.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
                rows.append((at, symbol, fmt(o * tick, tick), fmt(hi * tick, tick), fmt(lo * tick, tick),
                             fmt(cl * tick, tick), str(rng.randint(*c["lots"]))))
                ticks = cl
    return rows


def stamp(at, weeks):
    t = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(weeks=weeks)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def continuous(symbol, bars):
    """The front month's series as one of `symbol` (what `run` plays after
    its first lap): one bar a minute, the later month's where two are quoted
    (the roll day), the months before moved by the spread measured there."""
    out, spreads, last = [], [], {}
    tick_places = 2 if "." in bars[0]["close"] else 0
    for b in bars:
        last[b["contract"]] = float(b["close"])
        if out and out[-1]["at"] == b["at"]:
            older, newer = sorted([out[-1], b], key=lambda x: (x["contract"][-2:], "FGHJKMNQUVXZ".index(x["contract"][-3])))
            if older["contract"] not in [m for m, _ in spreads]:
                spreads.append((older["contract"], last[newer["contract"]] - last[older["contract"]]))
            out[-1] = newer
        else:
            out.append(b)
    rows = []
    for b in out:
        months = [m for m, _ in spreads]
        shift = sum(s for _, s in spreads[months.index(b["contract"]):]) if b["contract"] in months else 0.0
        moved = {k: f"{float(b[k]) + shift:.{tick_places}f}" for k in ("open", "high", "low", "close")}
        rows.append(dict(b, **moved, contract=symbol))
    return rows


def bundled(weeks):
    """The bundled week played `weeks` times: the first as recorded, each bar
    under its month (`KCH26`; the roll day has both), the ones after as
    `run` plays them (the front month's series, back-adjusted, every other
    week backwards)."""
    rows = []
    for symbol in ("KC", "CC"):
        with open(os.path.join(here, f"{symbol}_bars.csv"), newline="") as f:
            recorded = list(csv.DictReader(f))
        later = continuous(symbol, recorded)
        for lap in range(weeks):
            bars = recorded if lap == 0 else later
            n = len(bars)
            for i, b in enumerate(bars):
                if lap % 2 == 0:
                    o, h, lo, c, v = b["open"], b["high"], b["low"], b["close"], b["volume"]
                else:
                    s = bars[n - 1 - i]
                    o, h, lo, c, v = s["close"], s["high"], s["low"], s["open"], s["volume"]
                at = b["at"] if lap == 0 else stamp(b["at"], lap)
                rows.append((at, b["contract"], o, h, lo, c, v))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, help="weeks of the bundled bars (1 to 520; default 1)")
    parser.add_argument("--days", type=int, help="calendar days of a seeded random walk (1 to 3650)")
    parser.add_argument("--seed", type=int, default=1, help="the random walk's seed (with --days; default 1)")
    parser.add_argument("--start", default="2026-01-05",
                        help="the random walk's first day, YYYY-MM-DD (with --days; default 2026-01-05)")
    args = parser.parse_args()
    if args.days is not None:
        if args.weeks is not None:
            parser.error("--weeks and --days: give one (--weeks replays the bundled week, --days makes a random walk)")
        if not 1 <= args.days <= 3650:
            parser.error("--days: between 1 and 3650 (ten years)")
        try:
            start = dt.date.fromisoformat(args.start)
        except ValueError:
            parser.error(f"--start {args.start!r}: expected a date YYYY-MM-DD, e.g. 2026-01-05")
        rows = walk(args.seed, args.days, start)
    else:
        weeks = 1 if args.weeks is None else args.weeks
        if not 1 <= weeks <= 520:
            parser.error("--weeks: between 1 and 520 (ten years)")
        rows = bundled(weeks)
    rows.sort(key=lambda r: (r[0], r[1]))
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["at", "symbol", "open", "high", "low", "close", "volume"])
    out.writerows(rows)


if __name__ == "__main__":
    main()
