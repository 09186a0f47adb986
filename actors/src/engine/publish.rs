//! What an engine publishes about itself: its figures for the operator
//! (`StatusView`) and its entry in the account (`risk::Account`), built from
//! its state in one place so the two never disagree.
//!
//! Invariant: a position without a price yet (a restart before its first
//! bar) keeps the equity published before and says it is unpriced, so the
//! account drawdown waits instead of reading the position as worthless.

use super::actor::Neighbours;
use super::config::EngineConfig;
use super::ledger::Ledger;
use crate::journal::RollRecord;
use crate::model::{CurveStats, Strategy};
use crate::risk::{AccountEntry, Breaker};
use crate::view::{BreakerView, EngineActivity, EngineFigures, PositionView, StrategyView};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The engine's state a publication reads.
pub struct Sources<'a> {
    pub cfg: &'a EngineConfig,
    pub ledger: &'a Ledger,
    /// The front month's last price.
    pub last: Option<Decimal>,
    /// Each instrument's last price.
    pub quotes: &'a std::collections::BTreeMap<String, Decimal>,
    /// The front month's instrument now (the market clock's).
    pub front: &'a str,
    pub roll: Option<&'a RollRecord>,
    pub volatility: Option<f64>,
    pub breaker: &'a Breaker,
    /// The engine's own counts, with the neighbours' added
    /// ([`with_neighbours`]).
    pub activity: EngineActivity,
    /// The equity published before.
    pub published_equity: Decimal,
    /// The close of the last bar the engine had.
    pub as_of_ms: u64,
    /// Each strategy's capital-limit breaches.
    pub breaches: &'a BTreeMap<Strategy, u64>,
    /// Each configured strategy's live equity curve.
    pub curves: &'a BTreeMap<Strategy, CurveStats>,
}

/// The engine's counts with what its analyzer, pollers, router and the market sequencer
/// counted.
pub fn with_neighbours(
    mut activity: EngineActivity,
    neighbours: &Neighbours,
    router_dropped: u64,
    commissions: Decimal,
) -> EngineActivity {
    activity.commissions = commissions;
    activity.events_in = neighbours.analyzer.events.load(Ordering::Relaxed);
    activity.signals = neighbours.analyzer.signals.load(Ordering::Relaxed);
    activity.feed_items = neighbours.pollers.items.load(Ordering::Relaxed);
    activity.feed_malformed = neighbours.pollers.malformed.load(Ordering::Relaxed);
    activity.feed_failures = neighbours.pollers.failures.load(Ordering::Relaxed);
    activity.dropped += neighbours.analyzer.dropped.load(Ordering::Relaxed)
        + neighbours.feed_dropped.load(Ordering::Relaxed)
        + router_dropped;
    activity
}

/// The figures for the operator and the entry for the account.
pub fn build(s: Sources<'_>) -> (EngineFigures, AccountEntry) {
    let spec = &s.cfg.spec;
    // A month held with no price of its own is marked at the front month's.
    let mark = |i: &str| s.quotes.get(i).copied().or(s.last);
    let positions: Vec<PositionView> = s
        .ledger
        .positions()
        .iter()
        .map(|(instrument, p)| PositionView {
            symbol: instrument.clone(),
            qty: p.qty,
            avg_price: p.avg_price(),
            unrealized_pnl: mark(instrument).map_or(Decimal::ZERO, |m| p.unrealized(m, spec)),
        })
        .collect();
    let unpriced = s.ledger.unpriced(mark);
    let equity = if unpriced && !s.published_equity.is_zero() {
        s.published_equity
    } else {
        s.ledger.equity(s.cfg.allocation.capital, mark, spec)
    };
    let exposure: Decimal = s
        .ledger
        .positions()
        .iter()
        .filter_map(|(i, p)| mark(i).map(|m| p.qty * m * spec.point_value))
        .sum();
    let breaker = BreakerView {
        state: s.breaker.state().as_str().to_owned(),
        consecutive_failures: s.breaker.failures(),
        opens: s.breaker.opens(),
        opened_at_ms: s.breaker.opened_at_ms(),
    };
    let entry = AccountEntry {
        symbol: spec.symbol.to_owned(),
        exposure,
        volatility: s.volatility,
        equity,
        unpriced,
        as_of_ms: s.as_of_ms,
    };
    let strategies = strategy_views(&s, &mark, equity);
    let figures = EngineFigures {
        symbol: spec.symbol.to_owned(),
        contract: (!s.front.is_empty()).then(|| s.front.to_owned()),
        roll: s
            .roll
            .map(|r| format!("{} → {}: {} contracts", r.from, r.to, r.qty)),
        positions,
        exposure,
        volatility: s.volatility,
        realized_pnl: s.ledger.realized_net(),
        equity,
        breaker,
        last_price: s.last,
        strategies,
        orders: order_views(&s),
        activity: s.activity,
        unpriced,
    };
    (figures, entry)
}

/// The orders in flight, by id, the first `MAX_ORDERS_LISTED`.
fn order_views(s: &Sources<'_>) -> Vec<crate::view::OrderView> {
    let mut out: Vec<crate::view::OrderView> = s
        .ledger
        .in_flight()
        .map(|(id, contract, left, limit)| crate::view::OrderView {
            id: id.clone(),
            strategy: Strategy::of_order(&s.cfg.id, id).as_str().to_owned(),
            contract: contract.clone(),
            side: if left.is_sign_negative() {
                "sell"
            } else {
                "buy"
            },
            left: left.abs(),
            limit: limit.map(|l| l.price),
            expires_ms: limit.map(|l| l.expires_ms),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.truncate(crate::view::MAX_ORDERS_LISTED);
    out
}

/// Each strategy's part: the configured ones in order, then the engine's
/// own owners where they hold or made anything.
fn strategy_views(
    s: &Sources<'_>,
    mark: &dyn Fn(&str) -> Option<Decimal>,
    equity: Decimal,
) -> Vec<StrategyView> {
    let (book, spec) = (s.ledger.book(), &s.cfg.spec);
    let view = |name: Strategy| {
        let configured = s.cfg.strategies.iter().find(|x| x.name == name);
        let position = book.held_by(name);
        let tally = s.ledger.tallies().get(&name).cloned().unwrap_or_default();
        let fees = tally.fees;
        let realized = book.realized_by().get(&name).copied().unwrap_or_default();
        StrategyView {
            strategy: name.to_string(),
            kind: configured.map(|x| x.kind.as_str()),
            weight: configured.map(|x| x.weight),
            capital: configured.map(|x| (equity.max(Decimal::ZERO) * x.weight).round_dp(2)),
            position,
            margin: (position + s.ledger.own_in_flight_all(name)).abs() * spec.margin,
            realized_pnl: realized - fees,
            unrealized_pnl: book.unrealized_of(name, mark, spec),
            fees,
            capital_breaches: s.breaches.get(&name).copied().unwrap_or(0),
            trades: tally.stats(),
            curve: s.curves.get(&name).map(CurveStats::results),
        }
    };
    let mut out: Vec<StrategyView> = s.cfg.strategies.iter().map(|x| view(x.name)).collect();
    let mut others: Vec<Strategy> = book
        .realized_by()
        .keys()
        .chain(s.ledger.tallies().keys())
        .copied()
        .chain(
            book.positions()
                .values()
                .flat_map(|p| p.lots().map(|l| l.owner)),
        )
        .filter(|o| !s.cfg.strategies.iter().any(|x| x.name == *o))
        .collect();
    others.sort();
    others.dedup();
    out.extend(others.into_iter().map(view));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fill, Side};
    use std::path::PathBuf;

    fn long_one(ledger: &mut Ledger, cfg: &EngineConfig) {
        let fill = Fill {
            part: 1,
            client_order_id: "KC-news-00000001".into(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side: Side::Buy,
            qty: Decimal::ONE,
            price: Decimal::from(300),
            commission: Decimal::ZERO,
            at_ms: 0,
        };
        ledger.apply_fill(1, &fill, &cfg.spec);
    }

    #[test]
    fn an_unpriced_position_keeps_the_equity_published_before() {
        let cfg = EngineConfig::alone(PathBuf::new());
        let mut ledger = Ledger::new("KC");
        long_one(&mut ledger, &cfg);
        let breaker = cfg.breaker();
        let quotes = Default::default();
        let breaches = BTreeMap::new();
        let curves = BTreeMap::new();
        let sources = |last, published_equity| Sources {
            cfg: &cfg,
            ledger: &ledger,
            last,
            quotes: &quotes,
            front: "KCH26",
            roll: None,
            volatility: None,
            breaker: &breaker,
            activity: EngineActivity::default(),
            published_equity,
            as_of_ms: 0,
            breaches: &breaches,
            curves: &curves,
        };
        let (f, e) = build(sources(None, Decimal::from(251_000)));
        assert!(f.unpriced && e.unpriced);
        assert_eq!(
            (f.equity, e.equity),
            (Decimal::from(251_000), Decimal::from(251_000))
        );
        assert_eq!(e.exposure, Decimal::ZERO, "no price, no exposure");
        // 1 contract at 302 (bought at 300): 2.00 c/lb × $375 = $750.
        let (f, e) = build(sources(Some(Decimal::from(302)), Decimal::from(251_000)));
        assert!(!e.unpriced);
        assert_eq!(f.equity, Decimal::from(250_750));
        assert_eq!(e.exposure, Decimal::from(302 * 375));
        assert_eq!(f.positions[0].unrealized_pnl, Decimal::from(750));
        // The lot is news's: its part, its capital from the equity.
        let names: Vec<&str> = f.strategies.iter().map(|v| v.strategy.as_str()).collect();
        assert_eq!(names, ["news", "momentum"], "the configured order");
        let news = &f.strategies[0];
        assert_eq!(
            (news.kind, news.position, news.margin, news.unrealized_pnl),
            (
                Some("news"),
                Decimal::ONE,
                Decimal::from(12_000),
                Decimal::from(750)
            )
        );
        assert_eq!(news.capital, Some(Decimal::from(125_375)));
        assert_eq!(f.strategies[1].position, Decimal::ZERO);
    }
}
