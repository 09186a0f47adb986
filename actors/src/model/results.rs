//! A strategy's trades and their statistics, from its fills alone: round
//! trips matched FIFO per contract month (a lot opened, then closed, in part
//! or whole, by a later fill the other way), and what they add up to: win
//! rate, profit factor, expectancy, average hold, fees. Pure: the replay's
//! report calls it on each strategy's journaled fills.
//!
//! Invariant: the round trips' PnL is exactly the realized PnL of the same
//! fills (`Position::apply`, the same FIFO), so the statistics reconcile to
//! the cent with the journal.

use super::{ContractSpec, Fill};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};

/// One round trip: `qty` contracts held from `opened_ms` to `closed_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    pub instrument: String,
    /// +1 long, −1 short.
    pub direction: i8,
    pub qty: Decimal,
    pub opened_ms: u64,
    pub closed_ms: u64,
    /// The lot's price, and the closing fill's.
    pub entry_price: Decimal,
    pub exit_price: Decimal,
    /// Dollars, before commissions.
    pub pnl: Decimal,
}

/// The round trips of `fills` (in time order), each instrument's lots
/// matched first in, first out; lots still open are not a trip yet.
pub fn round_trips(fills: &[Fill], spec: &ContractSpec) -> Vec<RoundTrip> {
    // Instrument → open lots, oldest first: (signed qty, price, opened).
    let mut open: BTreeMap<&str, VecDeque<(Decimal, Decimal, u64)>> = BTreeMap::new();
    let mut trips = Vec::new();
    for f in fills {
        let lots = open.entry(f.symbol.as_str()).or_default();
        let signed = f.side.sign() * f.qty;
        let mut left = signed;
        while !left.is_zero() {
            let Some(front) = lots.front_mut() else { break };
            if front.0.is_sign_positive() == left.is_sign_positive() {
                break; // the same way: it adds to the position
            }
            let take = front.0.abs().min(left.abs());
            let direction = if front.0.is_sign_positive() { 1 } else { -1 };
            trips.push(RoundTrip {
                instrument: f.symbol.clone(),
                direction,
                qty: take,
                opened_ms: front.2,
                closed_ms: f.at_ms,
                entry_price: front.1,
                exit_price: f.price,
                pnl: spec.pnl((f.price - front.1) * Decimal::from(direction), take),
            });
            front.0 -= Decimal::from(direction) * take;
            // The lot is the other way round: `left` shrinks toward zero.
            left += Decimal::from(direction) * take;
            if front.0.is_zero() {
                lots.pop_front();
            }
        }
        if !left.is_zero() {
            lots.push_back((left, f.price, f.at_ms));
        }
    }
    trips
}

/// What a strategy's round trips and fills add up to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TradeStats {
    pub trades: u64,
    pub wins: u64,
    /// Winning trips / trips (a trip at zero is not a win).
    pub win_rate: Option<f64>,
    /// Gross profit / gross loss; none without a losing trip.
    pub profit_factor: Option<f64>,
    /// Mean PnL per trip, before commissions.
    pub expectancy: Option<Decimal>,
    /// Mean time a trip was held, in market milliseconds (weighted by trip).
    pub avg_hold_ms: Option<u64>,
    /// Commissions of every fill.
    pub fees: Decimal,
    /// The trips' PnL, before commissions: the realized PnL of the fills.
    pub gross: Decimal,
}

/// The statistics of `trips`, with the commissions of `fills`.
pub fn trade_stats(trips: &[RoundTrip], fills: &[Fill]) -> TradeStats {
    let mut t = TradeTally::default();
    for trip in trips {
        t.add(trip);
    }
    t.fees = fills.iter().map(|f| f.commission).sum();
    t.stats()
}

/// A strategy's round trips added up as they close, in bounded memory (a
/// live engine's, or its carried balance's): what [`TradeStats`] is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeTally {
    pub trades: u64,
    pub wins: u64,
    pub gross_win: Decimal,
    pub gross_loss: Decimal,
    /// Σ market milliseconds held, over the trips.
    pub held_ms: u64,
    pub fees: Decimal,
}

impl TradeTally {
    pub fn add(&mut self, t: &RoundTrip) {
        self.trades += 1;
        self.wins += u64::from(t.pnl > Decimal::ZERO);
        self.gross_win += t.pnl.max(Decimal::ZERO);
        self.gross_loss += (-t.pnl).max(Decimal::ZERO);
        self.held_ms += t.closed_ms.saturating_sub(t.opened_ms);
    }

    /// Another tally's trips and fees added to this one's (an engine's
    /// strategies, a portfolio's engines).
    pub fn merge(&mut self, o: &TradeTally) {
        self.trades += o.trades;
        self.wins += o.wins;
        self.gross_win += o.gross_win;
        self.gross_loss += o.gross_loss;
        self.held_ms += o.held_ms;
        self.fees += o.fees;
    }

    pub fn stats(&self) -> TradeStats {
        let n = self.trades;
        let total = self.gross_win - self.gross_loss;
        let ratio = |a: Decimal, b: Decimal| (a / b).round_dp(6).to_f64();
        TradeStats {
            trades: n,
            wins: self.wins,
            win_rate: (n > 0).then(|| self.wins as f64 / n as f64),
            profit_factor: (!self.gross_loss.is_zero())
                .then(|| ratio(self.gross_win, self.gross_loss))
                .flatten(),
            expectancy: (n > 0).then(|| (total / Decimal::from(n)).round_dp(2)),
            avg_hold_ms: (n > 0).then(|| self.held_ms / n),
            fees: self.fees,
            gross: total,
        }
    }
}

/// Trading days in a year: daily figures are annualized by its square root.
pub const TRADING_DAYS: f64 = 252.0;
/// Daily returns a curve keeps (ten years): a live engine's runs for months;
/// past this the Sharpe and Sortino ratios are those of the last ten years.
pub const MAX_DAYS: usize = 2_520;
/// The shortest curve, in days, whose return is annualized (CAGR, Calmar).
pub const MIN_CAGR_DAYS: f64 = 30.0;

/// An equity curve's statistics, taken point by point in bounded memory
/// (one figure per market day kept): the return, the annualized Sharpe and
/// Sortino ratios of its daily returns (the last equity of each UTC day
/// against the day before, the first against the capital), the largest
/// drawdown from a running peak and the longest time under a peak, and the
/// share of points with a position open.
#[derive(Debug, Clone)]
pub struct CurveStats {
    capital: Decimal,
    day: Option<u64>,
    day_close: Decimal,
    prev_close: Decimal,
    returns: Vec<f64>,
    peak: Decimal,
    peak_at: u64,
    under: bool,
    worst: Decimal,
    longest_ms: u64,
    first_at: u64,
    last_at: u64,
    points: u64,
    exposed: u64,
}

/// What [`CurveStats`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CurveResults {
    pub return_pct: f64,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown_pct: f64,
    /// The longest time from a peak until the curve was back at it (or the
    /// end of the curve), in market milliseconds.
    pub max_drawdown_ms: u64,
    pub exposure_pct: f64,
    /// The return compounded to a year of 365.25 days over the curve's
    /// span; none under [`MIN_CAGR_DAYS`] (a week's return raised to the
    /// 52nd power says nothing of a year).
    pub cagr_pct: Option<f64>,
    /// CAGR / max drawdown (none without a drawdown or a CAGR).
    pub calmar: Option<f64>,
}

impl CurveStats {
    pub fn new(capital: Decimal) -> CurveStats {
        CurveStats {
            capital,
            day: None,
            day_close: capital,
            prev_close: capital,
            returns: Vec::new(),
            peak: capital,
            peak_at: 0,
            under: false,
            worst: Decimal::ZERO,
            longest_ms: 0,
            first_at: 0,
            last_at: 0,
            points: 0,
            exposed: 0,
        }
    }

    /// The equity at `at_ms`, and whether a position was open then.
    pub fn push(&mut self, at_ms: u64, equity: Decimal, exposed: bool) {
        let day = at_ms / 86_400_000;
        if self.day.is_some_and(|d| d != day) {
            self.close_day();
        }
        if self.points == 0 {
            self.peak_at = at_ms;
            self.first_at = at_ms;
        }
        self.day = Some(day);
        self.day_close = equity;
        self.points += 1;
        self.exposed += u64::from(exposed);
        self.last_at = at_ms;
        if equity >= self.peak {
            if self.under {
                self.longest_ms = self.longest_ms.max(at_ms - self.peak_at);
            }
            self.under = false;
            self.peak = equity;
            self.peak_at = at_ms;
        } else {
            self.under = true;
            if self.peak > Decimal::ZERO {
                self.worst = self.worst.max((self.peak - equity) / self.peak);
            }
        }
    }

    fn close_day(&mut self) {
        if !self.prev_close.is_zero() {
            let r = (self.day_close / self.prev_close - Decimal::ONE)
                .to_f64()
                .unwrap_or(0.0);
            if self.returns.len() == MAX_DAYS {
                self.returns.remove(0);
            }
            self.returns.push(r);
        }
        self.prev_close = self.day_close;
    }

    /// The capital the curve started from.
    pub fn capital(&self) -> Decimal {
        self.capital
    }

    /// What the curve shows so far (it goes on).
    pub fn results(&self) -> CurveResults {
        self.clone().finish()
    }

    pub fn finish(mut self) -> CurveResults {
        if self.day.is_some() {
            self.close_day();
        }
        let longest = if self.under {
            self.longest_ms.max(self.last_at - self.peak_at)
        } else {
            self.longest_ms
        };
        let r = &self.returns;
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n.max(1.0);
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let down = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / n.max(1.0)).sqrt();
        let annual = TRADING_DAYS.sqrt();
        let ratio = |d: f64| (r.len() >= 2 && d > 0.0).then(|| round6(mean / d * annual));
        let pct = |d: Decimal| {
            (d * Decimal::ONE_HUNDRED)
                .round_dp(4)
                .to_f64()
                .unwrap_or(0.0)
        };
        let growth = match self.capital.is_zero() {
            true => None,
            false => (self.day_close / self.capital).to_f64(),
        };
        let years = (self.last_at - self.first_at) as f64 / (365.25 * 86_400_000.0);
        // Everything lost (or more) is -100 % a year, whatever the span.
        let cagr_pct = growth
            .filter(|_| years * 365.25 >= MIN_CAGR_DAYS)
            .map(|g| match g > 0.0 {
                true => round6((g.powf(1.0 / years) - 1.0) * 100.0),
                false => -100.0,
            })
            .filter(|c| c.is_finite());
        let max_drawdown_pct = pct(self.worst);
        let calmar = cagr_pct
            .filter(|_| max_drawdown_pct > 0.0)
            .map(|c| round6(c / max_drawdown_pct));
        CurveResults {
            return_pct: if self.capital.is_zero() {
                0.0
            } else {
                pct(self.day_close / self.capital - Decimal::ONE)
            },
            sharpe: ratio(sd),
            sortino: ratio(down),
            max_drawdown_pct,
            max_drawdown_ms: longest,
            exposure_pct: if self.points == 0 {
                0.0
            } else {
                round6(self.exposed as f64 / self.points as f64 * 100.0)
            },
            cagr_pct,
            calmar,
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Position, Side};

    fn fill(month: &str, side: Side, qty: i64, price: &str, at_min: u64) -> Fill {
        Fill {
            part: 1,
            client_order_id: format!("KC-news-{at_min:08}-{month}"),
            engine: "KC".into(),
            symbol: month.into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::new(250, 2) * Decimal::from(qty),
            at_ms: at_min * 60_000,
        }
    }

    /// A worked example, by hand (KC: $375 per cent per contract):
    /// - minute 0 buy 2 @ 300.00; minute 10 buy 1 @ 301.00;
    /// - minute 30 sell 2 @ 302.00: closes the first lot, 2 × 2.00 × 375 =
    ///   +1,500 (held 30 min);
    /// - minute 40 sell 2 @ 299.00: closes the second lot, 1 × −2.00 × 375 =
    ///   −750 (held 30 min), and opens a short of 1 @ 299.00;
    /// - minute 100 buy 1 @ 298.50: closes the short, 1 × 0.50 × 375 =
    ///   +187.50 (held 60 min).
    ///
    /// Three trips: two wins of three; profit factor 1,687.50 / 750 = 2.25;
    /// expectancy (1,500 − 750 + 187.50) / 3 = 312.50; average hold
    /// (30 + 30 + 60) / 3 = 40 min; fees 8 contracts × 2.50 = 20.00.
    #[test]
    fn a_worked_example_by_hand() {
        let kc = contract("KC").unwrap();
        let fills = [
            fill("KCH26", Side::Buy, 2, "300.00", 0),
            fill("KCH26", Side::Buy, 1, "301.00", 10),
            fill("KCH26", Side::Sell, 2, "302.00", 30),
            fill("KCH26", Side::Sell, 2, "299.00", 40),
            fill("KCH26", Side::Buy, 1, "298.50", 100),
        ];
        let trips = round_trips(&fills, &kc);
        let pnl: Vec<Decimal> = trips.iter().map(|t| t.pnl).collect();
        assert_eq!(
            pnl,
            [
                Decimal::from(1_500),
                Decimal::from(-750),
                Decimal::new(18_750, 2)
            ]
        );
        assert_eq!(
            trips.iter().map(|t| t.direction).collect::<Vec<_>>(),
            [1, 1, -1]
        );
        let s = trade_stats(&trips, &fills);
        assert_eq!((s.trades, s.wins), (3, 2));
        assert_eq!(s.win_rate, Some(2.0 / 3.0));
        assert_eq!(s.profit_factor, Some(2.25));
        assert_eq!(s.expectancy, Some(Decimal::new(31_250, 2)));
        assert_eq!(s.avg_hold_ms, Some(40 * 60_000));
        assert_eq!(s.fees, Decimal::from(20));
        assert_eq!(s.gross, Decimal::new(93_750, 2));
        // The trips' PnL is the realized PnL of the same fills.
        let mut p = Position::default();
        let realized: Decimal = fills
            .iter()
            .map(|f| p.apply(f.side, f.qty, f.price, &kc))
            .sum();
        assert_eq!(realized, pnl.iter().copied().sum::<Decimal>());
    }

    #[test]
    fn months_are_matched_apart_and_open_lots_are_no_trip() {
        let kc = contract("KC").unwrap();
        let fills = [
            fill("KCH26", Side::Buy, 2, "300.00", 0),
            // A roll: March closed, May opened; May is still held.
            fill("KCH26", Side::Sell, 2, "301.00", 5),
            fill("KCK26", Side::Buy, 2, "299.00", 5),
        ];
        let trips = round_trips(&fills, &kc);
        assert_eq!(trips.len(), 1);
        assert_eq!(trips[0].instrument, "KCH26");
        assert_eq!(trips[0].pnl, Decimal::from(750));
        let none = trade_stats(&[], &[]);
        assert_eq!(
            (
                none.trades,
                none.win_rate,
                none.profit_factor,
                none.expectancy
            ),
            (0, None, None, None)
        );
        // Only wins: no profit factor (nothing to divide by).
        assert_eq!(trade_stats(&trips, &fills).profit_factor, None);
    }

    /// By hand: capital 100; the last equity of three days 110, 99, 108.9
    /// (+10 %, −10 %, +10 %). Mean 1/30; sample deviation
    /// sqrt((2 × (1/15)² + (2/15)²) / 2) = 0.1154701; Sharpe
    /// (1/30) / 0.1154701 × √252 = 4.582576. Downside deviation
    /// sqrt(0.01 / 3) = 0.0577350; Sortino 9.165151. Drawdown 110 → 99: 10 %,
    /// never recovered: from the first day's peak to the end, two days.
    /// Exposed at two points of four: 50 %. Return +8.9 %.
    #[test]
    fn a_curve_by_hand() {
        const DAY: u64 = 86_400_000;
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let mut c = CurveStats::new(d("100"));
        c.push(DAY + 1000, d("105"), false);
        c.push(DAY + 2000, d("110"), true);
        c.push(2 * DAY + 1000, d("99"), true);
        c.push(3 * DAY + 1000, d("108.9"), false);
        let r = c.finish();
        assert_eq!(r.return_pct, 8.9);
        assert_eq!(r.sharpe, Some(4.582576));
        assert_eq!(r.sortino, Some(9.165151));
        assert_eq!(r.max_drawdown_pct, 10.0);
        assert_eq!(r.max_drawdown_ms, 2 * DAY - 1000);
        assert_eq!(r.exposure_pct, 50.0);
        // A peak regained ends the drawdown: its length is the time under it.
        let mut c = CurveStats::new(d("100"));
        for (at, e) in [(0, "100"), (10, "90"), (30, "101"), (40, "100.5")] {
            c.push(at, d(e), false);
        }
        let r = c.finish();
        assert_eq!(r.max_drawdown_ms, 30);
        assert_eq!((r.sharpe, r.sortino), (None, None), "one day: no ratio");
    }

    #[test]
    fn cagr_compounds_to_a_year_and_calmar_divides_it_by_the_drawdown() {
        const YEAR: u64 = 31_557_600_000; // 365.25 days
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // 100 to 121 over two years: 10 % a year; a fall from 110 to 99 on
        // the way is 10 %, so Calmar is 1.
        let mut c = CurveStats::new(d("100"));
        c.push(0, d("100"), false);
        c.push(YEAR / 2, d("110"), true);
        c.push(YEAR, d("99"), true);
        c.push(2 * YEAR, d("121"), false);
        let r = c.finish();
        assert_eq!(r.return_pct, 21.0);
        assert_eq!(r.cagr_pct, Some(10.0));
        assert_eq!(r.max_drawdown_pct, 10.0);
        assert_eq!(r.calmar, Some(1.0));
        // Under 30 days: no CAGR, so no Calmar.
        let mut c = CurveStats::new(d("100"));
        c.push(0, d("100"), false);
        c.push(29 * 86_400_000, d("90"), false);
        let r = c.finish();
        assert_eq!((r.cagr_pct, r.calmar), (None, None));
        let mut c = CurveStats::new(d("100"));
        c.push(0, d("100"), false);
        c.push(YEAR, d("50"), false);
        assert_eq!(c.clone().finish().cagr_pct, Some(-50.0));
        c.push(2 * YEAR, d("200"), false);
        let r = c.finish();
        assert_eq!(r.cagr_pct, Some(41.421356), "doubled in two years: √2 − 1");
        assert_eq!(r.calmar, Some(0.828427));
        // All of it lost: -100 % a year, and a Calmar of -1.
        let mut c = CurveStats::new(d("100"));
        c.push(0, d("100"), false);
        c.push(YEAR / 4, d("-5"), false);
        let r = c.finish();
        assert_eq!(r.cagr_pct, Some(-100.0));
        assert_eq!(r.max_drawdown_pct, 105.0);
        assert_eq!(r.calmar, Some(-0.952381));
    }

    #[test]
    fn tallies_merge_into_an_engines_and_a_portfolios() {
        let trip = |pnl: i64, held: u64| RoundTrip {
            instrument: "KCH26".into(),
            direction: 1,
            qty: Decimal::ONE,
            opened_ms: 0,
            closed_ms: held,
            entry_price: Decimal::from(300),
            exit_price: Decimal::from(300),
            pnl: Decimal::from(pnl),
        };
        let (mut a, mut b) = (TradeTally::default(), TradeTally::default());
        a.add(&trip(100, 10));
        b.add(&trip(-50, 30));
        b.fees = Decimal::from(5);
        a.merge(&b);
        let s = a.stats();
        assert_eq!((s.trades, s.wins), (2, 1));
        assert_eq!(s.profit_factor, Some(2.0));
        assert_eq!(s.expectancy, Some(Decimal::from(25)));
        assert_eq!(s.avg_hold_ms, Some(20));
        assert_eq!(s.fees, Decimal::from(5));
    }

    #[test]
    fn a_curve_keeps_ten_years_of_daily_returns() {
        let mut c = CurveStats::new(Decimal::from(1_000));
        for day in 0..2_600u64 {
            c.push(
                day * 86_400_000,
                Decimal::from(1_000 + day % 7),
                day % 2 == 0,
            );
        }
        assert_eq!(c.returns.len(), MAX_DAYS);
        assert!(c.results().sharpe.is_some());
    }
}
