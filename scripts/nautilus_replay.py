#!/usr/bin/env python3
"""NautilusTrader's BacktestEngine over a commodore replay data file: the
baseline of the "replay, a year of KC+CC 1-minute bars" figures of
scripts/bench.sh. Prints one JSON object: bars, orders, fills, bars/s and the
times (load, engine run, whole script).

    target/bench-venv/bin/python scripts/nautilus_replay.py year.csv [--every 25]

The file is commodore's replay format (`at,symbol,open,high,low,close,volume`,
`at` the bar's open, UTC; scripts/replay_data.py writes it). Each symbol becomes
a futures contract on one simulated ICE Futures U.S. venue (KC: cents/lb, tick
0.05, $375 a cent; CC: USD/t, tick 1, $10 a dollar), with a USD margin account
and netting; its bars are 1-minute LAST bars stamped at their close (Nautilus's
convention), filled on bars (bar_execution). One strategy subscribes to both
bar series and sends a 1-contract market order on every `--every`-th bar (both
symbols counted), each contract's side alternating buy, sell: the rate
commodore's replay config in scripts/replay_compare.py aims at. Logging at
WARNING, as commodore's replay runs at "warn"; the engine's end-of-run analysis
is on, as commodore's report is.

Needs `nautilus_trader` (scripts/bench.sh installs it into target/bench-venv).
"""
import argparse
import json
import os
import platform
import sys
import time
from decimal import Decimal

T0 = time.perf_counter()
try:
    import nautilus_trader
    import pandas as pd
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, AssetClass, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import FuturesContract
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.trading.strategy import Strategy
except ImportError as e:
    sys.exit(f"nautilus_replay.py: {e}: run it with the benchmark's virtualenv "
             "(target/bench-venv/bin/python, made by scripts/bench.sh replay), "
             "or `pip install nautilus_trader` into the Python you run it with")

VENUE = Venue("IFUS")  # ICE Futures U.S.
HEADER = ["at", "symbol", "open", "high", "low", "close", "volume"]
# symbol: (price precision, tick, dollars per price unit, underlying)
CONTRACTS = {
    "KC": (2, "0.05", 375, "Coffee C"),
    "CC": (0, "1", 10, "Cocoa"),
}
# The contracts trade from before the data to after it.
ACTIVATION_NS = pd.Timestamp("2000-01-01", tz="UTC").value
EXPIRATION_NS = pd.Timestamp("2099-12-31", tz="UTC").value


def contract(symbol):
    precision, tick, point_value, underlying = CONTRACTS[symbol]
    return FuturesContract(
        instrument_id=InstrumentId(Symbol(symbol), VENUE),
        raw_symbol=Symbol(symbol),
        asset_class=AssetClass.COMMODITY,
        exchange="IFUS",
        currency=USD,
        price_precision=precision,
        price_increment=Price.from_str(tick),
        multiplier=Quantity.from_int(point_value),
        lot_size=Quantity.from_int(1),
        underlying=underlying,
        activation_ns=ACTIVATION_NS,
        expiration_ns=EXPIRATION_NS,
        ts_event=ACTIVATION_NS,
        ts_init=ACTIVATION_NS,
        margin_init=Decimal("0.10"),
        margin_maint=Decimal("0.08"),
        taker_fee=Decimal("0"),
        maker_fee=Decimal("0"),
    )


def bar_type(symbol):
    return BarType.from_str(f"{symbol}.{VENUE}-1-MINUTE-LAST-EXTERNAL")


def load(path):
    """The data file's bars per symbol, as Nautilus bars stamped at their close."""
    try:
        df = pd.read_csv(path, dtype={"symbol": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        sys.exit(f"nautilus_replay.py: {path}: {e}")
    if list(df.columns) != HEADER:
        sys.exit(f"nautilus_replay.py: {path}: expected the header {','.join(HEADER)} "
                 "(commodore's replay format; scripts/replay_data.py writes it)")
    # A bar named by its contract month (`KCH26`) is its contract's; on a roll
    # day, where two months are quoted at one minute, this baseline (one
    # instrument per contract) keeps the later month's bar, the front one.
    df["symbol"] = df["symbol"].str.replace(r"[FGHJKMNQUVXZ]\d\d$", "", regex=True)
    df = df.drop_duplicates(["at", "symbol"], keep="last")
    unknown = sorted(set(df["symbol"]) - set(CONTRACTS))
    if unknown:
        sys.exit(f"nautilus_replay.py: {path}: unknown symbols {unknown}; this baseline knows "
                 f"{sorted(CONTRACTS)}")
    try:
        df["timestamp"] = pd.to_datetime(df["at"], format="%Y-%m-%dT%H:%M:%SZ", utc=True) + pd.Timedelta(minutes=1)
    except ValueError as e:
        sys.exit(f"nautilus_replay.py: {path}: a time is not YYYY-MM-DDTHH:MM:SSZ: {e}")
    out = {}
    for symbol, rows in df.groupby("symbol"):
        frame = rows.set_index("timestamp")[["open", "high", "low", "close", "volume"]]
        out[symbol] = BarDataWrangler(bar_type(symbol), contract(symbol)).process(frame)
    return out


class EveryNConfig(StrategyConfig, frozen=True):
    bar_types: list[str]
    every: int = 25


class EveryN(Strategy):
    """A 1-contract market order on every n-th bar, sides alternating per contract."""

    def __init__(self, config: EveryNConfig) -> None:
        super().__init__(config)
        self.bars = 0
        self.orders = 0
        self.fills = 0
        self.next_side = {}
        self.one = Quantity.from_int(1)

    def on_start(self) -> None:
        for bt in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(bt))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars % self.config.every:
            return
        instrument_id = bar.bar_type.instrument_id
        side = self.next_side.get(instrument_id, OrderSide.BUY)
        self.next_side[instrument_id] = OrderSide.SELL if side == OrderSide.BUY else OrderSide.BUY
        order = self.order_factory.market(
            instrument_id=instrument_id,
            order_side=side,
            quantity=self.one,
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)
        self.orders += 1

    def on_order_filled(self, event) -> None:
        self.fills += 1

    def on_stop(self) -> None:
        pass  # nothing to undo: the engine ends with the data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a commodore replay data file (at,symbol,open,high,low,close,volume)")
    parser.add_argument("--every", type=int, default=25, help="a market order every N bars (default 25)")
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every: at least 1")

    bars = load(args.data)
    engine = BacktestEngine(BacktestEngineConfig(
        trader_id="BENCH-001",
        logging=LoggingConfig(log_level="WARNING"),
    ))
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(10_000_000, USD)],
    )
    for symbol, series in bars.items():
        engine.add_instrument(contract(symbol))
        engine.add_data(series)
    strategy = EveryN(EveryNConfig(bar_types=[str(bar_type(s)) for s in bars], every=args.every))
    engine.add_strategy(strategy)
    loaded = time.perf_counter()
    engine.run()
    ran = time.perf_counter()
    total = sum(len(s) for s in bars.values())
    if strategy.bars != total:
        sys.exit(f"nautilus_replay.py: the strategy saw {strategy.bars} of {total} bars")
    engine.dispose()
    end = time.perf_counter()
    print(json.dumps({
        "bars": total,
        "orders": strategy.orders,
        "fills": strategy.fills,
        "load_s": round(loaded - T0, 3),
        "run_s": round(ran - loaded, 3),
        "wall_s": round(end - T0, 3),
        "bars_per_s": round(total / (end - T0), 1),
        "nautilus_trader": nautilus_trader.__version__,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
