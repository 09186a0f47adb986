#!/usr/bin/env python3
"""Generates the bundled market data in config/data/ (seeded: the same files every
run). One week of 1-minute bars during ICE trading hours and news headlines for
coffee (KC) and cocoa (CC).

  KC  Coffee "C": 37,500 lb, cents/lb, tick 0.05, 04:15-13:30 ET (09:15-18:30 UTC)
  CC  Cocoa:      10 metric t, USD/t, tick 1,     04:45-13:30 ET (09:45-18:30 UTC)

Prices: a geometric random walk with the contract's daily volatility (about 2.5 %
for coffee, 3 % for cocoa), news shocks that move the price in the direction of
their sentiment, rounded to the tick. Run: python3 scripts/gen_data.py

Contract months: each bar names the month it is of (the `contract` column). The
week is 9-13 February 2026. With the default roll (five business days before the
first notice day, `roll.days_before_first_notice`), coffee rolls from March
(KCH26, first notice 19 February) to May (KCK26) on Wednesday 11 February: that
day has bars of both months, May at March + ROLL_SPREAD, and May's bars go on
from there. Cocoa rolled to May on 6 February (CCH26's first notice is 13
February): all its bars are CCK26.
"""
import csv, datetime as dt, math, os, random

OUT = os.path.join(os.path.dirname(__file__), "..", "config", "data")
DAYS = [dt.date(2026, 2, 9) + dt.timedelta(days=i) for i in range(5)]  # Mon-Fri

# (month before the roll, month after it, roll day, the later month's price
# minus the earlier one's). A roll day outside DAYS: the later month all week.
MONTHS = {
    "KC": ("KCH26", "KCK26", dt.date(2026, 2, 11), -2.40),
    "CC": ("CCH26", "CCK26", dt.date(2026, 2, 6), -38.0),
}

CONTRACTS = {
    "KC": dict(start=345.00, tick=0.05, daily_vol=0.025, open=(9, 15), close=(18, 30), vol_lots=(5, 120)),
    "CC": dict(start=6150.0, tick=1.0, daily_vol=0.030, open=(9, 45), close=(18, 30), vol_lots=(3, 80)),
}

BULLISH = {
    "KC": ["Frost hits Minas Gerais coffee belt, damage assessed",
           "Drought deepens in Brazil arabica regions",
           "Vietnam robusta shortage tightens supply",
           "Port strike in Santos delays coffee exports",
           "ICO sees global coffee supply deficit widening",
           "Certified arabica stocks fall to multi-year low"],
    "CC": ["Ivory Coast mid-crop smaller than expected, supply deficit",
           "Black pod disease spreads in Ghana cocoa farms",
           "Dry harmattan winds threaten West African cocoa",
           "Cocoa arrivals at Ivorian ports fall sharply",
           "ICCO raises global cocoa deficit forecast",
           "Smuggling and shortage cut Ghana cocoa output"],
}
BEARISH = {
    "KC": ["Rains improve Brazil coffee crop outlook, bumper crop seen",
           "Brazil exporters report record coffee shipments",
           "Coffee demand slump in Europe as prices bite",
           "Certified arabica stocks rise for third week",
           "Colombia output jumps, surplus expected"],
    "CC": ["Favourable rains boost Ivory Coast main crop, surplus seen",
           "Cocoa grindings drop in Europe as demand slump deepens",
           "Ivorian port arrivals surge ahead of last season",
           "Chocolate makers cut cocoa purchases, demand weak",
           "Ecuador bumper crop adds to cocoa supply"],
}
NEUTRAL = {
    "KC": ["Coffee traders await USDA attache report",
           "ICE coffee open interest little changed",
           "Roasters hold annual meeting in Hamburg"],
    "CC": ["Cocoa traders eye quarterly grind data next week",
           "ICE cocoa options expiry approaches",
           "Industry conference on cocoa sustainability opens"],
}


def round_tick(p, tick):
    return round(round(p / tick) * tick, 2 if tick < 1 else 0)


def fmt(p, tick):
    return f"{p:.2f}" if tick < 1 else f"{p:.0f}"


def main():
    rng = random.Random(20260105)  # the seed of the first bundled week: the same walk
    os.makedirs(OUT, exist_ok=True)
    news_rows = []
    for sym, c in CONTRACTS.items():
        price = c["start"]
        minutes = (c["close"][0] * 60 + c["close"][1]) - (c["open"][0] * 60 + c["open"][1])
        sigma = c["daily_vol"] / math.sqrt(minutes)
        rows = []
        for day in DAYS:
            start = dt.datetime(day.year, day.month, day.day, *c["open"], tzinfo=dt.timezone.utc)
            # News for the day: ~12 headlines in and out of the session.
            shocks = {}
            for _ in range(12):
                kind = rng.choices(["bull", "bear", "neutral"], weights=[4, 4, 2])[0]
                at_min = rng.randrange(-60, minutes + 60)
                text = rng.choice({"bull": BULLISH, "bear": BEARISH, "neutral": NEUTRAL}[kind][sym])
                at = start + dt.timedelta(minutes=at_min, seconds=rng.randrange(60))
                news_rows.append((at, sym, text))
                if 0 <= at_min < minutes and kind != "neutral":
                    # Markets move on the news over the next minutes.
                    drift = (1 if kind == "bull" else -1) * c["daily_vol"] * rng.uniform(0.1, 0.35)
                    for k in range(1, 11):
                        shocks[at_min + k] = shocks.get(at_min + k, 0) + drift / 10
            for m in range(minutes):
                at = start + dt.timedelta(minutes=m)
                o = price
                steps = [o]
                for _ in range(4):
                    steps.append(steps[-1] * math.exp(rng.gauss(shocks.get(m, 0) / 4, sigma / 2)))
                cl = steps[-1]
                hi, lo = max(steps), min(steps)
                price = cl
                vol = rng.randint(*c["vol_lots"])
                t = c["tick"]
                before, after, roll_day, spread = MONTHS[sym]

                def row(label, shift, volume):
                    return (at.strftime("%Y-%m-%dT%H:%M:%SZ"), fmt(round_tick(o, t) + shift, t),
                            fmt(round_tick(hi, t) + shift, t), fmt(round_tick(lo, t) + shift, t),
                            fmt(round_tick(cl, t) + shift, t), volume, label)
                if day < roll_day:
                    rows.append(row(before, 0, vol))
                elif day == roll_day:
                    # Both months quoted; the old one thinning out.
                    rows.append(row(before, 0, max(1, vol // 3)))
                    rows.append(row(after, spread, vol))
                else:
                    rows.append(row(after, spread, vol))
        with open(os.path.join(OUT, f"{sym}_bars.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["at", "open", "high", "low", "close", "volume", "contract"])
            w.writerows(rows)
    news_rows.sort()
    with open(os.path.join(OUT, "news.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["at", "symbol", "headline"])
        for at, sym, text in news_rows:
            w.writerow([at.strftime("%Y-%m-%dT%H:%M:%SZ"), sym, text])


if __name__ == "__main__":
    main()
