//! The report of a replay, built from the replay's own journal (its fills and
//! outcome counts) and the recorded bars: per strategy (engine and strategy),
//! per engine and for the portfolio, with equity curves marked at every bar
//! close.
//!
//! Invariant: the report is a function of the journal and the data alone
//! (money as strings with two decimals, times as RFC 3339), so the same data
//! and config give the same bytes of JSON.

use super::data::Recorded;
use crate::config::{self, Config};
use commodore_actors::journal::Store;
use commodore_actors::model::{
    contract, month_of, Book as LotBook, ContractSpec, CurveResults, CurveStats, Fill, FrontMonth,
    Position, RoundTrip, Strategy, TradeStats, TradeTally,
};
use rust_decimal::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Points of an equity curve in the report (evenly thinned beyond).
pub const MAX_CURVE_POINTS: usize = 2_000;
/// Round trips listed per engine (a year of a busy engine is thousands);
/// beyond, they are counted (`round_trips_omitted`), and every statistic
/// still counts them all.
pub const MAX_TRIPS: usize = 5_000;

/// Dollar PnL of signed fills at `mark`: Σ sign × qty × (mark − price) × point value.
#[derive(Debug, Default, Clone)]
struct Book {
    /// Net contracts.
    qty: Decimal,
    /// Σ sign × qty × price.
    cost: Decimal,
    commissions: Decimal,
    fills: u64,
    contracts: Decimal,
    /// FIFO position, for the realized part.
    position: Position,
    realized: Decimal,
}

impl Book {
    fn apply(&mut self, f: &Fill, spec: &ContractSpec) {
        let signed = f.side.sign() * f.qty;
        self.qty += signed;
        self.cost += signed * f.price;
        self.commissions += f.commission;
        self.fills += 1;
        self.contracts += f.qty;
        self.realized += self.position.apply(f.side, f.qty, f.price, spec);
    }

    /// Net PnL at `mark`, commissions paid.
    fn pnl(&self, mark: Decimal, spec: &ContractSpec) -> Decimal {
        (self.qty * mark - self.cost) * spec.point_value - self.commissions
    }
}

/// One book per instrument (contract month): a roll's legs are two books,
/// each marked at its own month's price.
#[derive(Debug, Default, Clone)]
struct Books(BTreeMap<String, Book>);

impl Books {
    fn apply(&mut self, f: &Fill, spec: &ContractSpec) {
        self.0.entry(f.symbol.clone()).or_default().apply(f, spec);
    }

    /// Net PnL, each instrument at `mark(instrument)`.
    fn pnl(&self, mark: impl Fn(&str) -> Decimal, spec: &ContractSpec) -> Decimal {
        self.0.iter().map(|(i, b)| b.pnl(mark(i), spec)).sum()
    }

    fn sum(&self, f: impl Fn(&Book) -> Decimal) -> Decimal {
        self.0.values().map(f).sum()
    }

    fn fills(&self) -> u64 {
        self.0.values().map(|b| b.fills).sum()
    }

    /// Whether any instrument is held.
    fn exposed(&self) -> bool {
        self.0.values().any(|b| !b.qty.is_zero())
    }

    /// The instruments held at the end, with their net contracts.
    fn positions(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter(|(_, b)| !b.qty.is_zero())
            .map(|(i, b)| (i.clone(), b.qty.normalize().to_string()))
            .collect()
    }
}

/// Each engine's last prices: per instrument, and its front month's (what
/// a month without a price of its own is marked at, as the engine marks it).
#[derive(Debug, Default, Clone)]
struct Marks {
    by: BTreeMap<String, Decimal>,
    front: Option<Decimal>,
}

impl Marks {
    fn of(&self, instrument: &str) -> Decimal {
        self.by
            .get(instrument)
            .copied()
            .or(self.front)
            .unwrap_or_default()
    }
}

/// Dollars with two decimals, as a string (the contract's money).
fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

pub fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the report is built from, per engine in the config's order (the
/// bars are streamed by [`Walk::new`], never held).
struct Inputs {
    specs: Vec<ContractSpec>,
    /// Each engine's fills, as journaled (as many as its orders).
    fills: Vec<Vec<Fill>>,
    capital: Decimal,
}

impl Inputs {
    fn read(cfg: &Config, store: &Store) -> Result<Inputs, String> {
        let mut inputs = Inputs {
            specs: Vec::new(),
            fills: Vec::new(),
            capital: Decimal::ZERO,
        };
        for e in &cfg.engines {
            let spec = contract(e.symbol()).ok_or_else(|| format!("no contract {}", e.symbol()))?;
            let fills: Vec<Fill> = store
                .fills(&e.id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            inputs.capital += e.capital;
            inputs.specs.push(spec);
            inputs.fills.push(fills);
        }
        Ok(inputs)
    }
}

/// An equity curve in bounded memory: every point is measured (the maximum
/// drawdown is exact), one in `stride` is kept; past `2 x MAX_CURVE_POINTS`
/// kept, every other one goes and the stride doubles. The last point is
/// always kept.
#[derive(Debug, Clone)]
struct Curve {
    kept: Vec<(u64, Decimal)>,
    stride: u64,
    seen: u64,
    last: Option<(u64, Decimal)>,
    peak: Decimal,
    worst: Decimal,
}

impl Default for Curve {
    fn default() -> Curve {
        Curve {
            kept: Vec::new(),
            stride: 1,
            seen: 0,
            last: None,
            peak: Decimal::MIN,
            worst: Decimal::ZERO,
        }
    }
}

impl Curve {
    fn push(&mut self, at: u64, v: Decimal) {
        self.peak = self.peak.max(v);
        if self.peak > Decimal::ZERO {
            self.worst = self.worst.max((self.peak - v) / self.peak);
        }
        if self.seen.is_multiple_of(self.stride) {
            self.kept.push((at, v));
            if self.kept.len() >= 2 * MAX_CURVE_POINTS {
                let mut i = 0;
                self.kept.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
        self.last = Some((at, v));
    }

    /// The kept points and the last one.
    fn points(&self) -> Vec<(u64, Decimal)> {
        let mut p = self.kept.clone();
        if let Some(last) = self.last {
            if p.last() != Some(&last) {
                p.push(last);
            }
        }
        p
    }

    /// The largest fall from a running peak, in percent of the peak.
    fn max_drawdown_pct(&self) -> f64 {
        (self.worst * Decimal::ONE_HUNDRED)
            .round_dp(4)
            .to_f64()
            .unwrap_or(0.0)
    }
}

/// The engines' books walked along the bars.
/// One engine's strategies as the lots' owners make them: the book (lots,
/// their owners, realized PnL by owner), each owner's round trips and
/// commissions, each configured strategy's curve.
struct Owned {
    book: LotBook,
    tallies: BTreeMap<Strategy, TradeTally>,
    curves: BTreeMap<Strategy, CurveStats>,
    /// Each configured strategy's equity points, for its chart.
    points: BTreeMap<Strategy, Curve>,
    /// The round trips in the order they closed (at most [`MAX_TRIPS`]).
    trips: Vec<(Strategy, RoundTrip)>,
    trips_omitted: u64,
}

impl Owned {
    fn apply(&mut self, engine: &str, f: &Fill, spec: &ContractSpec) {
        let (_, trips) = self.book.apply_trips(engine, f, spec);
        for (owner, trip) in trips {
            self.tallies.entry(owner).or_default().add(&trip);
            if self.trips.len() < MAX_TRIPS {
                self.trips.push((owner, trip));
            } else {
                self.trips_omitted += 1;
            }
        }
        self.tallies
            .entry(Strategy::of_order(engine, &f.client_order_id))
            .or_default()
            .fees += f.commission;
    }

    /// `owner`'s PnL at the marks: its lots' realized PnL net of its
    /// orders' commissions, plus their unrealized PnL.
    fn pnl(&self, owner: Strategy, marks: &Marks, spec: &ContractSpec) -> Decimal {
        let realized = self
            .book
            .realized_by()
            .get(&owner)
            .copied()
            .unwrap_or_default();
        realized - self.fees(owner) + self.book.unrealized_of(owner, |i| Some(marks.of(i)), spec)
    }

    fn fees(&self, owner: Strategy) -> Decimal {
        self.tallies.get(&owner).map_or(Decimal::ZERO, |t| t.fees)
    }

    /// Every owner's trips and fees together: the engine's.
    fn tally(&self) -> TradeTally {
        let mut all = TradeTally::default();
        for t in self.tallies.values() {
            all.merge(t);
        }
        all
    }

    /// Every owner with anything to report: the configured strategies
    /// first, in order, then the others by name.
    fn owners(&self, e: &config::Engine) -> Vec<Strategy> {
        let configured: Vec<Strategy> = e.strategy_specs().iter().map(|s| s.name).collect();
        let mut others: Vec<Strategy> = self
            .book
            .realized_by()
            .keys()
            .chain(self.tallies.keys())
            .copied()
            .chain(
                self.book
                    .positions()
                    .values()
                    .flat_map(|p| p.lots().map(|l| l.owner)),
            )
            .filter(|o| !configured.contains(o))
            .collect();
        others.sort();
        others.dedup();
        configured.into_iter().chain(others).collect()
    }
}

struct Walk {
    /// The final books (fills after the last bar included).
    books: Vec<Books>,
    /// Each engine's last closes.
    last: Vec<Marks>,
    /// Per engine, the lots' owners' figures, and each configured
    /// strategy's curve statistics (from the first bar).
    strategies: Vec<(Owned, BTreeMap<Strategy, CurveResults>)>,
    curves: Vec<Curve>,
    /// Each engine's curve statistics (its capital, exposed while it holds
    /// a position), and the portfolio's.
    engine_stats: Vec<CurveResults>,
    portfolio: Curve,
    portfolio_stats: CurveResults,
    /// The first and the last bar's time.
    span: Option<(u64, u64)>,
}

impl Walk {
    /// Walks the bars, streamed, in time order over the engines: fills up to
    /// a bar's time are in the book it is marked at.
    fn new(cfg: &Config, inp: &Inputs, data: &Recorded) -> Walk {
        let n = cfg.engines.len();
        let specs = &inp.specs;
        let days = cfg.roll.days_before_first_notice;
        let mut books = vec![Books::default(); n];
        let mut next_fill = vec![0usize; n];
        let mut last = vec![Marks::default(); n];
        // Each configured strategy's curve starts at its share of the
        // engine's capital.
        let mut per: Vec<Owned> = cfg
            .engines
            .iter()
            .map(|e| Owned {
                book: LotBook::default(),
                tallies: BTreeMap::new(),
                curves: e
                    .strategy_specs()
                    .iter()
                    .map(|s| (s.name, CurveStats::new(e.capital * s.weight)))
                    .collect(),
                points: e
                    .strategy_specs()
                    .iter()
                    .map(|s| (s.name, Curve::default()))
                    .collect(),
                trips: Vec::new(),
                trips_omitted: 0,
            })
            .collect();
        let mut engine_stats: Vec<CurveStats> = cfg
            .engines
            .iter()
            .map(|e| CurveStats::new(e.capital))
            .collect();
        let mut portfolio_stats = CurveStats::new(inp.capital);
        let mut fronts: Vec<FrontMonth> = specs
            .iter()
            .map(|s| FrontMonth::new(s.clone(), days))
            .collect();
        let mut curves: Vec<Curve> = vec![Curve::default(); n];
        let mut portfolio = Curve::default();
        let mut span: Option<(u64, u64)> = None;
        let mut streams: Vec<_> = cfg
            .engines
            .iter()
            .map(|e| data[e.symbol()].0.stream().peekable())
            .collect();
        loop {
            // The engine whose next bar comes first (ties: config order).
            let next = (0..n)
                .filter_map(|i| streams[i].peek().map(|b| (b.at_ms, i)))
                .min();
            let Some((at, i)) = next else { break };
            let bar = streams[i].next().expect("peeked");
            span = Some(span.map_or((at, at), |(from, _)| (from, at)));
            let fills = &inp.fills[i];
            while next_fill[i] < fills.len() && fills[next_fill[i]].at_ms <= at {
                let f = &fills[next_fill[i]];
                books[i].apply(f, &specs[i]);
                per[i].apply(&cfg.engines[i].id, f, &specs[i]);
                next_fill[i] += 1;
            }
            // A bare symbol's bar is the front month's.
            let front = fronts[i].at(bar.at_ms);
            let instrument = match month_of(&bar.symbol) {
                Some(_) => bar.symbol.clone(),
                None => front.to_owned(),
            };
            if instrument == front {
                last[i].front = Some(bar.close);
            }
            last[i].by.insert(instrument, bar.close);
            let marks = &last[i];
            let equity = cfg.engines[i].capital + books[i].pnl(|x| marks.of(x), &specs[i]);
            curves[i].push(at, equity);
            engine_stats[i].push(at, equity, books[i].exposed());
            let owned = &mut per[i];
            let points: Vec<(Strategy, Decimal, bool)> = owned
                .curves
                .keys()
                .map(|s| {
                    let exposed = !owned.book.held_by(*s).is_zero();
                    (*s, owned.pnl(*s, marks, &specs[i]), exposed)
                })
                .collect();
            for (s, pnl, exposed) in points {
                if let Some(c) = owned.curves.get_mut(&s) {
                    let base = c.capital();
                    c.push(at, base + pnl, exposed);
                    if let Some(p) = owned.points.get_mut(&s) {
                        p.push(at, base + pnl);
                    }
                }
            }
            // One portfolio point per time, once every engine has a price.
            let same_time = (0..n).any(|j| streams[j].peek().is_some_and(|b| b.at_ms == at));
            if !same_time && last.iter().all(|m| m.front.is_some()) {
                let total: Decimal = (0..n)
                    .map(|j| {
                        let marks = &last[j];
                        cfg.engines[j].capital + books[j].pnl(|x| marks.of(x), &specs[j])
                    })
                    .sum();
                portfolio.push(at, total);
                portfolio_stats.push(at, total, books.iter().any(Books::exposed));
            }
        }
        // Fills after the last bar (none in practice) still count, at the last close.
        for i in 0..n {
            for f in &inp.fills[i][next_fill[i]..] {
                books[i].apply(f, &specs[i]);
                per[i].apply(&cfg.engines[i].id, f, &specs[i]);
            }
        }
        let strategies = per
            .into_iter()
            .map(|mut o| {
                let curves = std::mem::take(&mut o.curves);
                let done = curves.into_iter().map(|(s, c)| (s, c.finish())).collect();
                (o, done)
            })
            .collect();
        Walk {
            books,
            last,
            strategies,
            curves,
            engine_stats: engine_stats.into_iter().map(CurveStats::finish).collect(),
            portfolio,
            portfolio_stats: portfolio_stats.finish(),
            span,
        }
    }
}

/// The report: per strategy (engine and strategy), per engine and for the
/// portfolio, with equity curves marked at every bar close.
pub fn report(
    cfg: &Config,
    journal: &Path,
    data: &Recorded,
    data_name: &str,
) -> Result<Value, String> {
    let store = Store::open(journal).map_err(|e| e.to_string())?;
    let inp = Inputs::read(cfg, &store)?;
    let walk = Walk::new(cfg, &inp, data);
    let mut engines_out = Vec::new();
    let mut strategies_out = Vec::new();
    let (mut trips_out, mut trips_omitted, mut open_out) = (Vec::new(), 0u64, Vec::new());
    let mut portfolio_tally = TradeTally::default();
    for (i, e) in cfg.engines.iter().enumerate() {
        let mark = &walk.last[i];
        let outcomes: BTreeMap<String, u64> = store
            .outcome_counts(&e.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let (book, spec) = (&walk.books[i], &inp.specs[i]);
        let (owned, curves) = &walk.strategies[i];
        engines_out.push(engine_json(
            e,
            book,
            owned,
            spec,
            mark,
            outcomes,
            (&walk.curves[i], &walk.engine_stats[i]),
        ));
        strategies_out.extend(strategies_json(e, &inp.fills[i], owned, spec, mark, curves));
        trips_out.extend(trips_json(e, owned));
        trips_omitted += owned.trips_omitted;
        open_out.extend(open_json(e, owned, spec, mark));
        portfolio_tally.merge(&owned.tally());
    }
    // From the final books (fills after the last bar included), as the
    // engines' own figures are.
    let final_equity: Decimal = (0..cfg.engines.len())
        .map(|i| {
            let marks = &walk.last[i];
            cfg.engines[i].capital + walk.books[i].pnl(|x| marks.of(x), &inp.specs[i])
        })
        .sum();
    let capital = inp.capital;
    let pnl = final_equity - capital;
    Ok(json!({
        "data": data_name,
        "from": walk.span.map(|s| rfc3339(s.0)),
        "to": walk.span.map(|s| rfc3339(s.1)),
        "bars": data.values().map(|(b, _)| b.count()).sum::<u64>(),
        // Nothing recovers from a replay's journal: its orders and fills are
        // written without waiting for the disk (`run` waits for every one).
        "journal": {"fsync": false},
        "portfolio": {
            "capital": money(capital),
            "final_equity": money(final_equity),
            "pnl": money(pnl),
            "return_pct": if capital.is_zero() { 0.0 } else { (pnl / capital * Decimal::ONE_HUNDRED).round_dp(4).to_f64().unwrap_or(0.0) },
            "max_drawdown_pct": walk.portfolio.max_drawdown_pct(),
            "fills": walk.books.iter().map(Books::fills).sum::<u64>(),
            "metrics": metrics_json(Some(&walk.portfolio_stats), &portfolio_tally.stats()),
            "equity_curve": curve_json(&walk.portfolio),
        },
        "engines": engines_out,
        "strategies": strategies_out,
        // Positions still open at the end: marked at the last close, their
        // PnL unrealized (the report's PnL includes it).
        "open_positions": open_out,
        "round_trips": trips_out,
        "round_trips_omitted": trips_omitted,
        // What ran: the resolved configuration, secrets redacted.
        "config": cfg.to_redacted_toml(),
    }))
}

/// One engine's figures, marked at its last closes.
fn engine_json(
    e: &config::Engine,
    b: &Books,
    owned: &Owned,
    spec: &ContractSpec,
    mark: &Marks,
    outcomes: BTreeMap<String, u64>,
    (curve, stats): (&Curve, &CurveResults),
) -> Value {
    let pnl = b.pnl(|x| mark.of(x), spec);
    json!({
        "id": e.id,
        "symbol": e.symbol(),
        "capital": money(e.capital),
        "final_equity": money(e.capital + pnl),
        "pnl": money(pnl),
        // As the engine's ledger has it: through the one book.
        "realized_pnl": money(owned.book.realized() - b.sum(|x| x.commissions)),
        "commissions": money(b.sum(|x| x.commissions)),
        "position": b.sum(|x| x.qty).normalize().to_string(),
        "positions": b.positions(),
        "last_price": mark.front.unwrap_or_default().normalize().to_string(),
        "fills": b.fills(),
        "outcomes": outcomes,
        "max_drawdown_pct": curve.max_drawdown_pct(),
        "metrics": metrics_json(Some(stats), &owned.tally().stats()),
        "equity_curve": curve_json(curve),
    })
}

/// The figures a trader judges a result by, the same for a strategy, an
/// engine and the portfolio: from its equity curve (none for an owner
/// without a share of the capital: the engine's own `roll`, `house`) and
/// its round trips.
fn metrics_json(curve: Option<&CurveResults>, t: &TradeStats) -> Value {
    json!({
        "total_return_pct": curve.map(|c| c.return_pct),
        "cagr_pct": curve.and_then(|c| c.cagr_pct),
        "sharpe": curve.and_then(|c| c.sharpe),
        "sortino": curve.and_then(|c| c.sortino),
        "calmar": curve.and_then(|c| c.calmar),
        "max_drawdown_pct": curve.map(|c| c.max_drawdown_pct),
        "max_drawdown_duration_s": curve.map(|c| c.max_drawdown_ms / 1000),
        "exposure_pct": curve.map(|c| c.exposure_pct),
        "trades": t.trades,
        "win_rate": t.win_rate,
        "profit_factor": t.profit_factor,
        "expectancy": t.expectancy.map(money),
        "avg_hold_s": t.avg_hold_ms.map(|ms| ms / 1000),
        "fees": money(t.fees),
    })
}

/// The engine's round trips, each its lot's owner's (PnL before
/// commissions, which are its fills').
fn trips_json(e: &config::Engine, owned: &Owned) -> Vec<Value> {
    owned
        .trips
        .iter()
        .map(|(owner, t)| {
            json!({
                "engine": e.id,
                "strategy": owner.to_string(),
                "instrument": t.instrument,
                "side": if t.direction > 0 { "long" } else { "short" },
                "qty": t.qty.normalize().to_string(),
                "opened": rfc3339(t.opened_ms),
                "closed": rfc3339(t.closed_ms),
                "entry_price": t.entry_price.normalize().to_string(),
                "exit_price": t.exit_price.normalize().to_string(),
                "pnl": money(t.pnl),
                "hold_s": t.closed_ms.saturating_sub(t.opened_ms) / 1000,
            })
        })
        .collect()
}

/// Each owner's position per instrument still open at the end, marked at
/// the last close.
fn open_json(e: &config::Engine, owned: &Owned, spec: &ContractSpec, mark: &Marks) -> Vec<Value> {
    let mut out = Vec::new();
    for (instrument, position) in owned.book.positions() {
        let mut owners: Vec<Strategy> = position.lots().map(|l| l.owner).collect();
        owners.sort();
        owners.dedup();
        for owner in owners {
            let Some((qty, avg, opened_ms)) = position.owned_by(owner) else {
                continue;
            };
            let last = mark.of(instrument);
            out.push(json!({
                "engine": e.id,
                "strategy": owner.to_string(),
                "instrument": instrument,
                "qty": qty.normalize().to_string(),
                "avg_price": avg.normalize().to_string(),
                "last_price": last.normalize().to_string(),
                "unrealized_pnl": money(position.unrealized_of(last, spec, |l| l.owner == owner)),
                "opened": rfc3339(opened_ms),
            }));
        }
    }
    out
}

/// Per strategy: the lots it owned (its PnL is theirs: realized by whoever
/// closed them, unrealized at the last marks, net of its own orders'
/// commissions), its round trips, its curve on its share of the capital,
/// and the fills of its own orders. The strategies' PnL adds up to the
/// engine's.
fn strategies_json(
    e: &config::Engine,
    fills: &[Fill],
    owned: &Owned,
    spec: &ContractSpec,
    mark: &Marks,
    curves: &BTreeMap<Strategy, CurveResults>,
) -> Vec<Value> {
    let specs = e.strategy_specs();
    owned
        .owners(e)
        .into_iter()
        .map(|owner| {
            let name = owner.to_string();
            let own: Vec<&Fill> = fills
                .iter()
                .filter(|f| strategy_of(&f.client_order_id, &e.id) == name)
                .collect();
            let tally = owned.tallies.get(&owner).cloned().unwrap_or_default();
            let realized = owned
                .book
                .realized_by()
                .get(&owner)
                .copied()
                .unwrap_or_default();
            let configured = specs.iter().find(|s| s.name == owner);
            json!({
                "engine": e.id,
                "strategy": name,
                "kind": configured.map(|s| s.kind.as_str()),
                "capital": configured.map(|s| money(e.capital * s.weight)),
                "fills": own.len(),
                "contracts": own.iter().map(|f| f.qty).sum::<Decimal>().normalize().to_string(),
                "pnl": money(owned.pnl(owner, mark, spec)),
                "realized_pnl": money(realized - tally.fees),
                "commissions": money(tally.fees),
                "position": owned.book.held_by(owner).normalize().to_string(),
                "trades": tally.stats(),
                "curve": curves.get(&owner),
                "metrics": metrics_json(curves.get(&owner), &tally.stats()),
                "equity_curve": owned.points.get(&owner).map(curve_json),
            })
        })
        .collect()
}

/// `KC-news-00000077-KCH26` → `news` (the id is engine, strategy, an
/// eight-digit decision sequence, and the instrument, which ids of builds
/// before contract months leave out).
fn strategy_of(client_order_id: &str, engine: &str) -> String {
    let Some(rest) = client_order_id
        .strip_prefix(engine)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return "unknown".to_owned();
    };
    let parts: Vec<&str> = rest.split('-').collect();
    match parts
        .iter()
        .position(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Some(k) if k > 0 => parts[..k].join("-"),
        _ => "unknown".to_owned(),
    }
}

/// The curve's kept points (at most about `2 x MAX_CURVE_POINTS`, evenly
/// spread, the last included), thinned to at most `MAX_CURVE_POINTS`.
fn curve_json(curve: &Curve) -> Value {
    let points = curve.points();
    let step = points.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let last = points.len().saturating_sub(1);
    Value::Array(
        points
            .iter()
            .enumerate()
            .filter(|(k, _)| k % step == 0 || *k == last)
            .map(|(_, (at, v))| json!({"at": rfc3339(*at), "equity": money(*v)}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_ids_drawdown_and_thinning() {
        assert_eq!(strategy_of("KC-news-00000077", "KC"), "news");
        assert_eq!(strategy_of("KC-news-00000077-KCH26", "KC"), "news");
        assert_eq!(strategy_of("KC-roll-00000078-KCK26", "KC"), "roll");
        assert_eq!(strategy_of("KC-2-momentum-00000001", "KC-2"), "momentum");
        assert_eq!(strategy_of("garbage", "KC"), "unknown");
        let d = |v: i64| Decimal::from(v);
        // Peak 120, trough 90: 25 %; the later fall from 110 to 100 is less.
        let mut curve = Curve::default();
        for (at, v) in [(0, 100), (1, 120), (2, 90), (3, 110), (4, 100)] {
            curve.push(at, d(v));
        }
        assert_eq!(curve.max_drawdown_pct(), 25.0);
        // A million points in bounded memory; the drawdown is still exact
        // (a dip every 1,000 points, the deepest at 500,001).
        let mut long = Curve::default();
        for i in 0..1_000_000u64 {
            let dip = if i == 500_001 {
                50
            } else if i % 1000 == 1 {
                10
            } else {
                0
            };
            long.push(i, d(1_000 - dip));
        }
        assert!(
            long.kept.len() < 2 * MAX_CURVE_POINTS,
            "{}",
            long.kept.len()
        );
        assert_eq!(long.max_drawdown_pct(), 5.0);
        let Value::Array(points) = curve_json(&long) else {
            panic!()
        };
        assert!(points.len() <= MAX_CURVE_POINTS + 1, "{}", points.len());
        assert_eq!(points[0]["at"], rfc3339(0));
        assert_eq!(
            points[points.len() - 1]["at"],
            rfc3339(999_999),
            "the last point kept"
        );
    }

    #[test]
    fn a_book_marks_signed_fills_and_pays_commissions() {
        let kc = contract("KC").unwrap();
        let fill = |side, qty: i64, price: &str| Fill {
            part: 1,
            client_order_id: "KC-news-1".into(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::new(250, 2),
            at_ms: 0,
        };
        use commodore_actors::model::Side;
        let mut b = Book::default();
        b.apply(&fill(Side::Buy, 2, "300.00"), &kc);
        b.apply(&fill(Side::Sell, 1, "301.00"), &kc);
        // Long 1 at 300 marked at 302: +2 ¢ × $375 = $750; the closed one made
        // 1 ¢ × $375 = $375; minus 2 × $2.50.
        assert_eq!(b.pnl("302".parse().unwrap(), &kc), Decimal::new(112_000, 2));
        assert_eq!(b.realized, Decimal::from(375));
        assert_eq!(b.qty, Decimal::ONE);
    }
}
