//! The report of a replay, built from the replay's own journal (its fills and
//! outcome counts) and the recorded bars: per strategy (engine and strategy),
//! per engine and for the portfolio, with equity curves marked at every bar
//! close.
//!
//! Invariant: the report is a function of the journal and the data alone
//! (money as strings with two decimals, times as RFC 3339), so the same data
//! and config give the same bytes of JSON.

use super::data::Recorded;
use super::walk::{Books, Curve, Inputs, Marks, Owned, Walk, MAX_CURVE_POINTS};
use crate::config::{self, Config};
use commodore_actors::journal::Store;
use commodore_actors::model::{ContractSpec, CurveResults, Fill, Strategy, TradeStats, TradeTally};
use rust_decimal::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Dollars with two decimals, as a string (the contract's money).
fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

pub fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
}
