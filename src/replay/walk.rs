//! The replay's books walked along its bars: each engine's fills applied
//! in market time, marked at every bar close (equity curves, bounded), and
//! per strategy its lots, round trips and curve. `report.rs` turns what
//! the walk found into the report.
//!
//! Invariant: a function of the journal's fills and the data alone.

use super::data::Recorded;
use crate::config::{self, Config};
use commodore_actors::journal::Store;
use commodore_actors::model::{
    contract, month_of, Book as LotBook, ContractSpec, CurveResults, CurveStats, Fill, FrontMonth,
    Position, RoundTrip, Strategy, TradeTally,
};
use rust_decimal::prelude::*;
use std::collections::BTreeMap;

/// Points of an equity curve in the report (evenly thinned beyond).
pub(super) const MAX_CURVE_POINTS: usize = 2_000;
/// Round trips listed per engine (a year of a busy engine is thousands);
/// beyond, they are counted (`round_trips_omitted`), and every statistic
/// still counts them all.
pub(super) const MAX_TRIPS: usize = 5_000;

/// Dollar PnL of signed fills at `mark`: Σ sign × qty × (mark − price) × point value.
#[derive(Debug, Default, Clone)]
pub(super) struct Book {
    /// Net contracts.
    pub(super) qty: Decimal,
    /// Σ sign × qty × price.
    pub(super) cost: Decimal,
    pub(super) commissions: Decimal,
    pub(super) fills: u64,
    pub(super) contracts: Decimal,
    /// FIFO position, for the realized part.
    pub(super) position: Position,
    pub(super) realized: Decimal,
}

impl Book {
    pub(super) fn apply(&mut self, f: &Fill, spec: &ContractSpec) {
        let signed = f.side.sign() * f.qty;
        self.qty += signed;
        self.cost += signed * f.price;
        self.commissions += f.commission;
        self.fills += 1;
        self.contracts += f.qty;
        self.realized += self.position.apply(f.side, f.qty, f.price, spec);
    }

    /// Net PnL at `mark`, commissions paid.
    pub(super) fn pnl(&self, mark: Decimal, spec: &ContractSpec) -> Decimal {
        (self.qty * mark - self.cost) * spec.point_value - self.commissions
    }
}

/// One book per instrument (contract month): a roll's legs are two books,
/// each marked at its own month's price.
#[derive(Debug, Default, Clone)]
pub(super) struct Books(pub(super) BTreeMap<String, Book>);

impl Books {
    pub(super) fn apply(&mut self, f: &Fill, spec: &ContractSpec) {
        self.0.entry(f.symbol.clone()).or_default().apply(f, spec);
    }

    /// Net PnL, each instrument at `mark(instrument)`.
    pub(super) fn pnl(&self, mark: impl Fn(&str) -> Decimal, spec: &ContractSpec) -> Decimal {
        self.0.iter().map(|(i, b)| b.pnl(mark(i), spec)).sum()
    }

    pub(super) fn sum(&self, f: impl Fn(&Book) -> Decimal) -> Decimal {
        self.0.values().map(f).sum()
    }

    pub(super) fn fills(&self) -> u64 {
        self.0.values().map(|b| b.fills).sum()
    }

    /// Whether any instrument is held.
    pub(super) fn exposed(&self) -> bool {
        self.0.values().any(|b| !b.qty.is_zero())
    }

    /// The instruments held at the end, with their net contracts.
    pub(super) fn positions(&self) -> BTreeMap<String, String> {
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
pub(super) struct Marks {
    pub(super) by: BTreeMap<String, Decimal>,
    pub(super) front: Option<Decimal>,
}

impl Marks {
    pub(super) fn of(&self, instrument: &str) -> Decimal {
        self.by
            .get(instrument)
            .copied()
            .or(self.front)
            .unwrap_or_default()
    }
}

/// What the report is built from, per engine in the config's order (the
/// bars are streamed by [`Walk::new`], never held).
pub(super) struct Inputs {
    pub(super) specs: Vec<ContractSpec>,
    /// Each engine's fills, as journaled (as many as its orders).
    pub(super) fills: Vec<Vec<Fill>>,
    pub(super) capital: Decimal,
}

impl Inputs {
    pub(super) fn read(cfg: &Config, store: &Store) -> Result<Inputs, String> {
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
pub(super) struct Curve {
    pub(super) kept: Vec<(u64, Decimal)>,
    pub(super) stride: u64,
    pub(super) seen: u64,
    pub(super) last: Option<(u64, Decimal)>,
    pub(super) peak: Decimal,
    pub(super) worst: Decimal,
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
    pub(super) fn push(&mut self, at: u64, v: Decimal) {
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
    pub(super) fn points(&self) -> Vec<(u64, Decimal)> {
        let mut p = self.kept.clone();
        if let Some(last) = self.last {
            if p.last() != Some(&last) {
                p.push(last);
            }
        }
        p
    }

    /// The largest fall from a running peak, in percent of the peak.
    pub(super) fn max_drawdown_pct(&self) -> f64 {
        (self.worst * Decimal::ONE_HUNDRED)
            .round_dp(4)
            .to_f64()
            .unwrap_or(0.0)
    }
}

/// One engine's strategies as the lots' owners make them: the book (lots,
/// their owners, realized PnL by owner), each owner's round trips and
/// commissions, each configured strategy's curve.
pub(super) struct Owned {
    pub(super) book: LotBook,
    pub(super) tallies: BTreeMap<Strategy, TradeTally>,
    pub(super) curves: BTreeMap<Strategy, CurveStats>,
    /// Each configured strategy's equity points, for its chart.
    pub(super) points: BTreeMap<Strategy, Curve>,
    /// The round trips in the order they closed (at most [`MAX_TRIPS`]).
    pub(super) trips: Vec<(Strategy, RoundTrip)>,
    pub(super) trips_omitted: u64,
}

impl Owned {
    pub(super) fn apply(&mut self, engine: &str, f: &Fill, spec: &ContractSpec) {
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
    pub(super) fn pnl(&self, owner: Strategy, marks: &Marks, spec: &ContractSpec) -> Decimal {
        let realized = self
            .book
            .realized_by()
            .get(&owner)
            .copied()
            .unwrap_or_default();
        realized - self.fees(owner) + self.book.unrealized_of(owner, |i| Some(marks.of(i)), spec)
    }

    pub(super) fn fees(&self, owner: Strategy) -> Decimal {
        self.tallies.get(&owner).map_or(Decimal::ZERO, |t| t.fees)
    }

    /// Every owner's trips and fees together: the engine's.
    pub(super) fn tally(&self) -> TradeTally {
        let mut all = TradeTally::default();
        for t in self.tallies.values() {
            all.merge(t);
        }
        all
    }

    /// Every owner with anything to report: the configured strategies
    /// first, in order, then the others by name.
    pub(super) fn owners(&self, e: &config::Engine) -> Vec<Strategy> {
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

/// The engines' books walked along the bars.
pub(super) struct Walk {
    /// The final books (fills after the last bar included).
    pub(super) books: Vec<Books>,
    /// Each engine's last closes.
    pub(super) last: Vec<Marks>,
    /// Per engine, the lots' owners' figures, and each configured
    /// strategy's curve statistics (from the first bar).
    pub(super) strategies: Vec<(Owned, BTreeMap<Strategy, CurveResults>)>,
    pub(super) curves: Vec<Curve>,
    /// Each engine's curve statistics (its capital, exposed while it holds
    /// a position), and the portfolio's.
    pub(super) engine_stats: Vec<CurveResults>,
    pub(super) portfolio: Curve,
    pub(super) portfolio_stats: CurveResults,
    /// The first and the last bar's time.
    pub(super) span: Option<(u64, u64)>,
}

impl Walk {
    /// Walks the bars, streamed, in time order over the engines: fills up to
    /// a bar's time are in the book it is marked at.
    pub(super) fn new(cfg: &Config, inp: &Inputs, data: &Recorded) -> Walk {
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

#[cfg(test)]
mod tests {
    use super::*;

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
