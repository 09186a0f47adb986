//! Strategies as plug-ins on paused time: one engine subtree (the real
//! actors, a real SQLite journal and paper broker) running a `breakout`
//! strategy beside a `news` position the journal already holds. The
//! breakout enters on its own channel, exits on its own channel at HALT
//! (an exit reduces: HALT does not stop it), and its exit closes its own
//! lots only: the news position stays.

mod common;
#[path = "common/engines.rs"]
mod engines;

use commodore_actors::engine::broker::Market;
use commodore_actors::engine::messages::MarketUpdate;
use commodore_actors::engine::paper::FillModel;
use commodore_actors::engine::EngineConfig;
use commodore_actors::journal::{OutcomeRow, Store};
use commodore_actors::kernel::*;
use commodore_actors::model::{
    Bar, Exits, Fill, Kind, Order, OrderType, Outcome, Params, RiskLevel, Side, Strategy as Name,
    StrategySpec,
};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;

/// Tuesday 2026-02-10, 15:00 UTC: 10:00 in New York, KC is open, March
/// (KCH26) is the front month.
const START_MS: u64 = 1_770_735_600_000;

/// The journal at `path` holds 2 KCH26 bought by `news` an hour earlier.
fn news_holds_two(path: &std::path::Path) {
    let mut s = Store::open(path).unwrap();
    let id = "KC-news-00000001-KCH26".to_owned();
    let at = START_MS - 3_600_000;
    let o = Order {
        limit: None,
        client_order_id: id.clone(),
        engine: "KC".into(),
        strategy: "news".into(),
        decision_seq: 1,
        symbol: "KCH26".into(),
        side: Side::Buy,
        qty: Decimal::TWO,
        ref_price: Decimal::from(300),
        at_ms: at,
    };
    let row = OutcomeRow {
        engine: "KC".into(),
        decision_seq: 1,
        symbol: "KCH26".into(),
        strategy: "news".into(),
        outcome: Outcome::Executed,
        detail: id.clone(),
        at_ms: at,
    };
    s.insert_order(&o, &row, at).unwrap();
    s.record_fill(&Fill {
        part: 1,
        client_order_id: id,
        engine: "KC".into(),
        symbol: "KCH26".into(),
        side: Side::Buy,
        qty: Decimal::TWO,
        price: Decimal::from(300),
        commission: Decimal::ZERO,
        at_ms: at,
    })
    .unwrap();
}

/// A bar of the front series (`KC`), closed `40 - i` minutes before the
/// test starts: the engine never sees a bar from after its clock.
fn bar(i: u64, close: &str, spread: &str) -> Bar {
    let close: Decimal = close.parse().unwrap();
    let spread: Decimal = spread.parse().unwrap();
    Bar {
        symbol: "KC".into(),
        at_ms: START_MS - 41 * 60_000 + i * 60_000,
        open: close,
        high: close + spread,
        low: close - spread,
        close,
        volume: 100,
    }
}

/// (strategy, side, qty, status, detail) of the journal's orders after the
/// first, in decision order.
fn orders(path: &std::path::Path) -> Vec<(String, String, String, String, String)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare(
            "SELECT o.strategy, o.side, o.qty, o.status, d.detail FROM orders o
             JOIN outcomes d ON d.engine = o.engine AND d.decision_seq = o.decision_seq
             WHERE o.decision_seq > 1 ORDER BY o.decision_seq",
        )
        .unwrap();
    s.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// (strategy, outcome, detail) of every decision after the first.
fn outcomes(path: &std::path::Path) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare("SELECT strategy, outcome, detail FROM outcomes WHERE decision_seq > 1 ORDER BY decision_seq")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The engine subtree `test/KC` running `strategies`, on a journal
/// `prepare` has written, the market clock at [`START_MS`], the level
/// `level`.
async fn tree(
    name: &str,
    level: RiskLevel,
    strategies: Vec<StrategySpec>,
    prepare: impl FnOnce(&std::path::Path),
) -> (engines::Tree, std::path::PathBuf) {
    let path = temp_journal("strategies", name);
    prepare(&path);
    let (risk, mode) = engines::levels(level);
    let clock = commodore_actors::clock::Clock::market(START_MS, 1.0);
    let wiring = Wiring::new(clock, &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let sub = engines::subtree(wiring, cfg(Strategy::OneForOne), Duration::ZERO, None);
    let cfg = EngineConfig::alone(path.clone()).with_strategies(strategies);
    (engines::start(cfg, &sub, Kernel::new(1), view).await, path)
}

/// Hands `bar` to the engine and lets what it sends settle.
async fn feed(t: &engines::Tree, b: Bar) {
    t.h.engine.ask(MarketUpdate(b)).await.unwrap();
    idle(ms(50)).await;
}

#[actix_rt::test]
async fn a_strategy_enters_and_exits_on_its_own_rule_and_its_exit_closes_its_own_lots() {
    tokio::time::pause();
    let breakout = StrategySpec {
        name: Name::parse("turtle").unwrap(),
        kind: Kind::Breakout,
        weight: Decimal::new(2, 1),
        params: Params::new(
            Kind::Breakout,
            &[("window".into(), 3.0), ("exit_window".into(), 2.0)].into(),
        )
        .unwrap(),
        exits: Exits::default(),
        order: Default::default(),
    };
    let news = StrategySpec::default_of(Kind::News, Decimal::new(5, 1));
    let (t, path) = tree(
        "breakout",
        RiskLevel::Normal,
        vec![news, breakout],
        news_holds_two,
    )
    .await;
    let feed = |b: Bar| feed(&t, b);
    // Small steps: the VaR check reads the bars' volatility.
    for (i, c) in ["300.00", "300.05", "300.02", "300.06"]
        .into_iter()
        .enumerate()
    {
        feed(bar(i as u64, c, "0.02")).await;
    }
    assert!(
        orders(&path).is_empty(),
        "inside the channel: {:?}",
        orders(&path)
    );
    // 300.10 closes over the 3-bar high (300.08): the turtle buys. 250,000
    // × 0.2 × 0.5 (strong) / 12,000 margin = 2 contracts.
    feed(bar(4, "300.10", "0")).await;
    let o = orders(&path);
    assert_eq!(o.len(), 1, "{o:?} {:?}", outcomes(&path));
    assert_eq!(
        (&o[0].0[..], &o[0].1[..], &o[0].2[..], &o[0].3[..]),
        ("turtle", "buy", "2", "filled")
    );
    let held = || {
        t.view
            .engine("KC")
            .positions
            .iter()
            .map(|p| (p.symbol.clone(), p.qty))
            .collect::<Vec<_>>()
    };
    assert_eq!(held(), [("KCH26".to_owned(), Decimal::from(4))]);

    // HALT: no new exposure, but the exit still goes.
    t.wiring.risk_level_writer().send_replace(RiskLevel::Halt);
    feed(bar(5, "300.12", "0")).await;
    assert_eq!(orders(&path).len(), 1, "over the exit channel's low: holds");
    // 300.08 is under the last two bars' low (300.10): the turtle's 2 go.
    feed(bar(6, "300.08", "0")).await;
    let o = orders(&path);
    assert_eq!(o.len(), 2, "{o:?}");
    assert_eq!(
        (&o[1].0[..], &o[1].1[..], &o[1].2[..], &o[1].3[..]),
        ("turtle", "sell", "2", "filled")
    );
    assert!(
        o[1].4
            .ends_with("(exit: 300.08 under the 2-bar low 300.10)"),
        "{}",
        o[1].4
    );
    // The news strategy's 2 are still held: an exit closes its own lots,
    // bought at 300.10 (−0.02 × 2 × $375), not the older ones at 300 (which
    // would have made +$60).
    assert_eq!(held(), [("KCH26".to_owned(), Decimal::TWO)]);
    assert_eq!(t.view.engine("KC").realized_pnl, Decimal::from(-15));
    // Flat now; a close over the channel (300.12) is a new entry, which
    // HALT refuses: it opens.
    feed(bar(7, "300.15", "0")).await;
    assert_eq!(orders(&path).len(), 2, "{:?}", orders(&path));
    // Outcomes without an order reach SQLite with the engine's next write.
    idle(Duration::from_millis(1100)).await;
    let c = rusqlite::Connection::open(&path).unwrap();
    let refused: String = c
        .query_row(
            "SELECT outcome || ': ' || detail FROM outcomes WHERE strategy = 'turtle' ORDER BY decision_seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(refused.starts_with("risk_rejected"), "{refused}");
}

#[actix_rt::test]
async fn a_strategys_stops_close_its_position_at_halt_the_trailing_stop_following_the_best_close() {
    tokio::time::pause();
    let mut news = StrategySpec::default_of(Kind::News, Decimal::new(5, 1));
    news.exits = Exits {
        stop_loss: Some(Decimal::new(1, 2)),
        trailing_stop: Some(Decimal::new(1, 3)),
        ..Exits::default()
    };
    let (t, path) = tree("stops", RiskLevel::Halt, vec![news], news_holds_two).await;
    let feed = |b: Bar| feed(&t, b);
    // Bought at 300: the best close rises to 300.40 (the trail to 300.40 ×
    // 0.999 = 300.0996); 300.15 holds, 300.05 is under the trail.
    for (i, c) in ["300.20", "300.40", "300.15"].into_iter().enumerate() {
        feed(bar(i as u64, c, "0")).await;
    }
    assert!(orders(&path).is_empty(), "{:?}", outcomes(&path));
    feed(bar(3, "300.05", "0")).await;
    let o = orders(&path);
    assert_eq!(o.len(), 1, "{o:?} {:?}", outcomes(&path));
    assert_eq!(
        (&o[0].0[..], &o[0].1[..], &o[0].2[..], &o[0].3[..]),
        ("news", "sell", "2", "filled"),
        "at HALT: an exit reduces"
    );
    assert!(
        o[0].4
            .ends_with("(exit: trailing stop: 300.05 is 0.1 % from the best close 300.40)"),
        "{}",
        o[0].4
    );
    assert!(t.view.engine("KC").positions.is_empty());
    // (300.05 − 300) × 2 × $375.
    assert_eq!(t.view.engine("KC").realized_pnl, Decimal::new(3750, 2));
    // Flat: nothing more to stop.
    feed(bar(4, "290", "0")).await;
    assert_eq!(orders(&path).len(), 1);
}

#[actix_rt::test]
async fn a_strategy_over_its_capital_is_refused_counted_and_evented_and_its_figures_add_up() {
    use commodore_actors::engine::messages::SignalReceived;
    use commodore_actors::model::{Analyzed, Sentiment, Source};
    tokio::time::pause();
    // News may hold 0.1 × $250,000 = $25,000 of margin: 2 contracts at
    // $12,000. Each strong headline allocates 250,000 × 0.1 × 0.5 / 12,000
    // = 1 contract.
    let news = StrategySpec::default_of(Kind::News, Decimal::new(1, 1));
    let (t, path) = tree("capital", RiskLevel::Normal, vec![news], |_| {}).await;
    for i in 0..3 {
        feed(&t, bar(i, "300", "0")).await;
    }
    for _ in 0..3 {
        t.h.engine
            .ask(SignalReceived(Analyzed {
                symbol: "KC".into(),
                at_ms: START_MS - 60_000,
                sentiment: Sentiment::Bullish,
                confidence: 0.92,
                source: Source::Headline,
                detail: "frost".into(),
                price: None,
            }))
            .await
            .unwrap();
        idle(ms(50)).await;
    }
    let c = rusqlite::Connection::open(&path).unwrap();
    let sent: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM orders WHERE status = 'filled'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sent, 2, "{:?}", orders(&path));
    // The view and the outcomes are written with the engine's next flush.
    idle(Duration::from_millis(1100)).await;
    let e = t.view.engine("KC");
    let news = &e.strategies[0];
    assert_eq!(
        (news.strategy.as_str(), news.position, news.capital_breaches),
        ("news", Decimal::TWO, 1)
    );
    assert_eq!(news.capital, Some(Decimal::new(2_500_000, 2)));
    assert_eq!(news.margin, Decimal::from(24_000));
    let breaches: Vec<String> = events(&t.kernel)
        .into_iter()
        .filter(|(k, _, _)| k.as_str() == "capital_breach")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(
        breaches,
        ["capital limit: news would hold 3 contracts, $36000 of margin, over its $25000.00 (0.1 of the equity $250000.00)"]
    );
    let refused = outcomes(&path);
    assert!(
        refused.last().unwrap().1 == "risk_rejected"
            && refused.last().unwrap().2.starts_with("capital limit"),
        "{refused:?}"
    );
    // The strategies' parts add up to the engine's.
    let sum = |f: fn(&commodore_actors::view::StrategyView) -> Decimal| {
        e.strategies.iter().map(f).sum::<Decimal>()
    };
    assert_eq!(sum(|s| s.realized_pnl), e.realized_pnl);
    assert_eq!(
        sum(|s| s.unrealized_pnl),
        e.positions
            .iter()
            .map(|p| p.unrealized_pnl)
            .sum::<Decimal>()
    );
}

/// The subtree of [`tree`] with the paper broker filling by `fills`.
async fn tree_filling(
    name: &str,
    strategies: Vec<StrategySpec>,
    fills: FillModel,
) -> (engines::Tree, std::path::PathBuf) {
    let path = temp_journal("strategies", name);
    news_holds_two(&path);
    let (risk, mode) = engines::levels(RiskLevel::Normal);
    let clock = commodore_actors::clock::Clock::market(START_MS, 1.0);
    let wiring = Wiring::new(clock, &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let mut sub = engines::subtree(wiring, cfg(Strategy::OneForOne), Duration::ZERO, None);
    sub.fills = fills;
    let cfg = EngineConfig::alone(path.clone()).with_strategies(strategies);
    (engines::start(cfg, &sub, Kernel::new(1), view).await, path)
}

/// Hands `bar` to the broker (as the sequencer does, every bar) and lets
/// what it moves settle.
async fn to_broker(t: &engines::Tree, b: Bar) {
    t.h.broker.ask(Market(b)).await.unwrap();
    idle(ms(50)).await;
}

/// Four bars inside the turtle's channel, then a close over it (300.10):
/// the turtle enters.
async fn break_out(t: &engines::Tree) {
    for (i, c) in ["300.00", "300.05", "300.02", "300.06", "300.10"]
        .into_iter()
        .enumerate()
    {
        let spread = if i == 4 { "0" } else { "0.02" };
        feed(t, bar(i as u64, c, spread)).await;
    }
}

/// A turtle (breakout over 3 bars) whose entries are limit orders at the
/// close, good for 30 minutes, and a bar the broker sees after the test's
/// start (minute `i` of it).
fn limit_turtle() -> StrategySpec {
    StrategySpec {
        name: Name::parse("turtle").unwrap(),
        kind: Kind::Breakout,
        weight: Decimal::new(2, 1),
        params: Params::new(
            Kind::Breakout,
            &[("window".into(), 3.0), ("exit_window".into(), 2.0)].into(),
        )
        .unwrap(),
        exits: Exits::default(),
        order: OrderType::Limit {
            offset_ticks: 0,
            expiry_ms: 30 * 60_000,
        },
    }
}

fn later(i: u64, [o, h, l, c]: [&str; 4], volume: u64) -> Bar {
    Bar {
        symbol: "KC".into(),
        at_ms: START_MS + i * 60_000,
        open: o.parse().unwrap(),
        high: h.parse().unwrap(),
        low: l.parse().unwrap(),
        close: c.parse().unwrap(),
        volume,
    }
}

/// (qty, price, part) of the journal's fills of `turtle`.
fn turtle_fills(path: &std::path::Path) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare("SELECT qty, price, part FROM fills WHERE client_order_id LIKE 'KC-turtle-%' ORDER BY id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The turtle enters on its channel with a limit order at the close; it
/// rests (the market, a tick of slippage away, is above it), fills in parts
/// as bars trade through it (half a bar's volume each), and HALT cancels
/// what is left: a resting entry must not open.
#[actix_rt::test]
async fn a_limit_entry_rests_fills_in_parts_as_the_market_trades_through_it_and_halt_withdraws_the_rest(
) {
    tokio::time::pause();
    let fills = FillModel {
        participation: Decimal::new(5, 1),
        ..FillModel::immediate(1)
    };
    let news = StrategySpec::default_of(Kind::News, Decimal::new(5, 1));
    let (t, path) = tree_filling("limit-parts", vec![news, limit_turtle()], fills).await;
    break_out(&t).await;
    let o = orders(&path);
    assert_eq!(o.len(), 1, "{o:?} {:?}", outcomes(&path));
    assert_eq!(
        (&o[0].0[..], &o[0].1[..], &o[0].2[..], &o[0].3[..]),
        ("turtle", "buy", "2", "working"),
        "resting: 300.15 to buy at once is above the limit"
    );
    assert!(o[0].4.contains("limit 300.10"), "{}", o[0].4);
    let held = || {
        t.view
            .engine("KC")
            .positions
            .iter()
            .map(|p| p.qty)
            .sum::<Decimal>()
    };
    assert_eq!(held(), Decimal::TWO, "the news position alone");
    // The operator sees it rest: what is left, its limit, its expiry.
    let resting = || {
        t.view
            .engine("KC")
            .orders
            .iter()
            .map(|o| {
                (
                    o.strategy.clone(),
                    o.side,
                    o.left,
                    o.limit,
                    o.expires_ms.is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    let limit = Some("300.10".parse::<Decimal>().unwrap());
    assert_eq!(
        resting(),
        [("turtle".into(), "buy", Decimal::TWO, limit, true)]
    );

    // Touching 300.10 is not trading through it; 300.05 is, for half of 2.
    to_broker(&t, later(1, ["300.20", "300.25", "300.10", "300.20"], 40)).await;
    assert!(turtle_fills(&path).is_empty());
    to_broker(&t, later(2, ["300.20", "300.25", "300.05", "300.20"], 2)).await;
    assert_eq!(turtle_fills(&path), [("1".into(), "300.10".into(), 1)]);
    assert_eq!(orders(&path)[0].3, "working");
    assert_eq!(held(), Decimal::from(3));
    assert_eq!(
        resting(),
        [("turtle".into(), "buy", Decimal::ONE, limit, true)]
    );

    // HALT: what is left is cancelled at the broker, and stays cancelled.
    t.wiring.risk_level_writer().send_replace(RiskLevel::Halt);
    idle(ms(1_100)).await;
    to_broker(&t, later(3, ["300.00", "300.00", "299.00", "300.00"], 100)).await;
    assert_eq!(turtle_fills(&path).len(), 1, "nothing more fills");
    let c = rusqlite::Connection::open(&path).unwrap();
    let (status, detail): (String, String) = c
        .query_row(
            "SELECT status, detail FROM orders WHERE client_order_id LIKE 'KC-turtle-%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("filled", "cancelled: risk level HALT"),
        "done with the part it filled"
    );
    assert_eq!(held(), Decimal::from(3));
    assert_eq!(t.view.engine("KC").activity.ended, 1);
    assert!(resting().is_empty(), "nothing left in flight");
}

/// A limit entry the market never trades through ends at its expiry, in
/// market time: nothing filled, the order rejected with why, nothing left
/// in flight (the turtle's next entry is not held back by it).
#[actix_rt::test]
async fn a_limit_entry_the_market_never_reaches_expires_and_leaves_nothing_in_flight() {
    tokio::time::pause();
    let news = StrategySpec::default_of(Kind::News, Decimal::new(5, 1));
    let (t, path) = tree_filling(
        "limit-expiry",
        vec![news, limit_turtle()],
        FillModel::immediate(1),
    )
    .await;
    break_out(&t).await;
    assert_eq!(orders(&path)[0].3, "working");
    // Above the limit all along; the bar of minute 31 opens after its expiry.
    for i in [1, 10, 30] {
        to_broker(&t, later(i, ["300.30", "300.40", "300.20", "300.30"], 50)).await;
    }
    assert_eq!(orders(&path)[0].3, "working");
    to_broker(&t, later(31, ["300.00", "300.00", "299.00", "300.00"], 50)).await;
    let o = orders(&path);
    assert_eq!(o[0].3, "rejected", "{o:?}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let detail: String = c
        .query_row(
            "SELECT detail FROM orders WHERE client_order_id LIKE 'KC-turtle-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(detail, "expired: 0 of 2 filled");
    assert!(turtle_fills(&path).is_empty());
    let e = t.view.engine("KC");
    assert_eq!(
        (
            e.activity.ended,
            e.positions.iter().map(|p| p.qty).sum::<Decimal>()
        ),
        (1, Decimal::TWO)
    );
}

/// PANIC with a limit entry resting: the limit is cancelled at the broker
/// and the flatten closes the position alone, not the position and the
/// limit (which would leave the engine short once the limit is gone).
#[actix_rt::test]
async fn at_panic_a_resting_limit_is_cancelled_and_the_flatten_closes_only_what_is_held() {
    tokio::time::pause();
    let news = StrategySpec::default_of(Kind::News, Decimal::new(5, 1));
    let (t, path) = tree_filling(
        "limit-panic",
        vec![news, limit_turtle()],
        FillModel::immediate(1),
    )
    .await;
    break_out(&t).await;
    assert_eq!(orders(&path)[0].3, "working", "{:?}", orders(&path));
    t.wiring.risk_level_writer().send_replace(RiskLevel::Panic);
    idle(ms(3_000)).await;
    let o = orders(&path);
    let flatten: Vec<_> = o.iter().filter(|o| o.0 == "flatten").collect();
    assert_eq!(flatten.len(), 1, "{o:?}");
    assert_eq!(
        (&flatten[0].1[..], &flatten[0].2[..], &flatten[0].3[..]),
        ("sell", "2", "filled"),
        "the news position's 2, not 4"
    );
    assert_eq!(o[0].3, "rejected", "the limit, cancelled unfilled: {o:?}");
    let held: Decimal = t.view.engine("KC").positions.iter().map(|p| p.qty).sum();
    assert_eq!(held, Decimal::ZERO, "flat, not short");
}
