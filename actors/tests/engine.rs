//! One engine subtree (the real actors, a real SQLite journal) driven message by
//! message on paused time: every outcome branch of a decision, the degradation
//! rows that can be faulted through the kernel (executor down, sentinel down,
//! the journal refusing an order), and conflation of market data.

mod common;
#[path = "common/engines.rs"]
mod engines;

use commodore_actors::engine::messages::{BatchDue, MarketUpdate, RawEvent, SignalReceived};
use commodore_actors::engine::{self, EngineConfig};
use commodore_actors::journal::Store;
use commodore_actors::kernel::*;
use commodore_actors::model::{Analyzed, Bar, ModeState, RiskLevel, Sentiment, Tier};
use commodore_actors::risk::AccountEntry;
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Monday 2026-01-05, 12:00 UTC: 07:00 in New York, KC is open (04:15-13:30).
const MONDAY_NOON_MS: u64 = 1_767_571_200_000 + 12 * 3_600_000;

/// The tests send the signals themselves: the engine runs the `news`
/// strategy alone (half the capital), so the bars they send are marks only
/// (a `momentum` strategy would read them; `strategies.rs` tests that).
fn config(journal: std::path::PathBuf) -> EngineConfig {
    use commodore_actors::model::{Kind, StrategySpec};
    EngineConfig::alone(journal).with_strategies(vec![StrategySpec::default_of(
        Kind::News,
        Decimal::new(5, 1),
    )])
}

use engines::Tree;

/// The engine subtree `test/KC` on the test's thread; no market sequencer
/// (the test sends the market data itself).
async fn tree(name: &str, supervision: SupervisorConfig) -> Tree {
    tree_with(name, supervision, Duration::ZERO).await
}

/// [`tree`] with the sentinel judging staleness after `max_gap`.
async fn tree_with(name: &str, supervision: SupervisorConfig, max_gap: Duration) -> Tree {
    let path = temp_journal("engine", name);
    let kernel = Kernel::new(1);
    let (risk, mode) = engines::levels(RiskLevel::Normal);
    // The market clock four hours into Monday's session: the bars the tests
    // send (from noon UTC, a minute each) have closed by then.
    let clock = commodore_actors::clock::Clock::market(MONDAY_NOON_MS + 4 * 3_600_000, 1.0);
    let wiring = Wiring::new(clock, &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let sub = engines::subtree(wiring, supervision, max_gap, None);
    engines::start(config(path), &sub, kernel, view).await
}

/// Injects one fault of `kind` (`ms` for `slow`) into the actor at `path`.
async fn inject(t: &Tree, path: &str, kind: FaultKind, ms: u64) {
    let fault = Fault { kind, count: 1, ms };
    t.kernel.inject(path, fault).await.unwrap();
}

fn bar(i: u64, close: Decimal) -> Bar {
    Bar {
        symbol: "KC".into(),
        at_ms: MONDAY_NOON_MS + i * 60_000,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1,
    }
}

/// Bars alternating a tick apart: a volatility for the VaR check, no momentum.
async fn flat_bars(t: &Tree, from: u64, n: u64) {
    for i in from..from + n {
        let close = Decimal::new(30_000 + 5 * (i as i64 % 2), 2);
        t.h.engine.ask(MarketUpdate(bar(i, close))).await.unwrap();
    }
}

/// 15 bars from `from` rising 0.70 % in all: a sell against them is vetoed.
async fn rising_bars(t: &Tree, from: u64) {
    for i in 0..15u64 {
        let close = Decimal::new(30_000 + 15 * i as i64, 2);
        t.h.engine
            .ask(MarketUpdate(bar(from + i, close)))
            .await
            .unwrap();
    }
}

fn signal(sentiment: Sentiment, confidence: f64, at_ms: u64) -> SignalReceived {
    SignalReceived(Analyzed {
        symbol: "KC".into(),
        at_ms,
        sentiment,
        confidence,
        source: commodore_actors::model::Source::Headline,
        detail: "test".into(),
        price: None,
    })
}

/// Sends a signal and lets its order (if any) reach the broker and its fill
/// come back.
async fn decide(t: &Tree, s: SignalReceived) {
    t.h.engine.ask(s).await.unwrap();
    idle(ms(10)).await;
}

/// The journaled outcomes, after the engine's next write (every second).
async fn journaled(t: &Tree) -> BTreeMap<String, u64> {
    idle(Duration::from_millis(1100)).await;
    let store = Store::open(&t.path).unwrap();
    store.outcome_counts("KC").unwrap().into_iter().collect()
}

fn sql_count(path: &Path, sql: &str) -> u64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[actix_rt::test]
async fn every_outcome_branch_is_reached_through_the_engine_and_journaled() {
    tokio::time::pause();
    // A restarted executor waits a long backoff: "executor down" lasts.
    let mut sup = cfg(Strategy::OneForOne);
    sup.backoff = Backoff {
        min: Duration::from_secs(30),
        max: Duration::from_secs(30),
    };
    let t = tree("outcomes", sup).await;
    flat_bars(&t, 0, 20).await;

    // executed: a strong signal goes now; strong tier: 250,000 × 0.5 × 0.5 /
    // 12,000 margin = 5 contracts.
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    // buffered ×3, then the batch: all agree (consensus 1.0 ≥ 0.6), but its
    // confidence 0.5 × 1.0 is below the weakest tier (0.55): low_score.
    decide(&t, signal(Sentiment::Bullish, 0.5, MONDAY_NOON_MS)).await;
    decide(&t, signal(Sentiment::Bullish, 0.5, MONDAY_NOON_MS)).await;
    decide(&t, signal(Sentiment::Bullish, 0.5, MONDAY_NOON_MS)).await;
    t.h.engine.ask(BatchDue).await.unwrap();
    // gate_closed: the gate step is down, so closed (a closed market, on the
    // clock, is decide's unit test).
    inject(&t, "test/KC/engine/gate", FaultKind::Error, 0).await;
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    // risk_rejected: 5 more would make 10 × 300 ¢ × 375 = $1.125 M of
    // (correlated) exposure, over 3× the $250,000 equity.
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    assert_eq!(t.view.engine("KC").positions[0].qty, Decimal::from(5));
    // vetoed: the tape rose 0.67 % over the window; a sell against it is vetoed.
    rising_bars(&t, 20).await;
    decide(&t, signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS)).await;
    flat_bars(&t, 40, 15).await;
    assert_eq!(
        journaled(&t).await,
        expect(&[
            ("buffered", 3),
            ("executed", 1),
            ("gate_closed", 1),
            ("low_score", 1),
            ("risk_rejected", 1),
            ("vetoed", 1),
        ])
    );

    // error: the executor is down (stopped, restarted 30 s later). Each sell
    // (reducing: no guard in its way) is abandoned in one durable write and
    // the breaker counts it; at the fifth it opens: breaker_open.
    inject(&t, "test/KC/executor", FaultKind::Stop, 0).await;
    idle(ms(5)).await;
    assert_eq!(
        node(&t.kernel, "test/KC/executor").state,
        NodeState::Restarting
    );
    for _ in 0..6 {
        decide(&t, signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS)).await;
    }
    let figures = t.view.engine("KC");
    assert_eq!(figures.breaker.state, "open", "{:?}", figures.breaker);
    assert_eq!(
        figures.positions[0].qty,
        Decimal::from(5),
        "nothing was sent"
    );
    let counts = journaled(&t).await;
    assert_eq!(
        (counts["error"], counts["breaker_open"]),
        (5, 1),
        "{counts:?}"
    );
    // executed ⇔ an order in the journal; the abandoned ones are rejected.
    assert_eq!(sql_count(&t.path, "SELECT COUNT(*) FROM orders"), 6);
    assert_eq!(
        sql_count(
            &t.path,
            "SELECT COUNT(*) FROM orders WHERE status = 'rejected' AND detail LIKE '%executor%'"
        ),
        5
    );
    assert_eq!(sql_count(&t.path, "SELECT COUNT(*) FROM fills"), 1);
    // Every decision has exactly one outcome: 1 + 3 + 1 + 1 + 1 + 1 + 6.
    assert_eq!(
        sql_count(&t.path, "SELECT COUNT(DISTINCT decision_seq) FROM outcomes"),
        14
    );
    assert_eq!(
        sql_count(&t.path, "SELECT MAX(decision_seq) FROM outcomes"),
        14
    );
    // Each refusal names its rule.
    for (outcome, says) in [
        ("risk_rejected", "correlated exposure"),
        ("gate_closed", "closed"),
        ("low_score", "confidence 0.50"),
        ("vetoed", "against a +0.70% move"),
        ("breaker_open", "breaker"),
        ("buffered", "waits for the batch"),
    ] {
        let n = sql_count(
            &t.path,
            &format!("SELECT COUNT(*) FROM outcomes WHERE outcome = '{outcome}' AND detail LIKE '%{says}%'"),
        );
        assert!(n >= 1, "{outcome} says {says:?}");
    }

    // The executor is back (its 30 s backoff) and the breaker's 60 s cooldown
    // passes, on paused time: one trial order goes through, its fill closes
    // the breaker.
    idle(Duration::from_secs(61)).await;
    assert_eq!(
        node(&t.kernel, "test/KC/executor").state,
        NodeState::Running
    );
    decide(&t, signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS)).await;
    idle(Duration::from_millis(1100)).await;
    let figures = t.view.engine("KC");
    assert_eq!(figures.breaker.state, "closed", "{:?}", figures.breaker);
    assert!(figures.positions.is_empty(), "the trial sold the 5");
    let kinds: Vec<String> = t
        .kernel
        .events()
        .recent(0, usize::MAX)
        .into_iter()
        .map(|e| e.kind.as_str().to_owned())
        .filter(|k| k.starts_with("breaker_"))
        .collect();
    assert_eq!(
        kinds,
        ["breaker_opened", "breaker_half_open", "breaker_closed"]
    );
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

/// The degradation table's rows for the engine's pure steps, each faulted
/// through the kernel by its path (`<engine>/validator`, ...): validator down
/// → the candidate passes unvalidated, one tier lower; scorer down → no trade;
/// risk down → no trade; gate down → closed. A fault lasts its count, the
/// engine itself never fails, and each outage is one `failed` event.
#[actix_rt::test]
async fn a_faulted_pure_step_degrades_as_the_table_says_and_the_engine_runs_on() {
    tokio::time::pause();
    let t = tree("steps", cfg(Strategy::OneForOne)).await;
    flat_bars(&t, 0, 20).await;
    // The tape rose 0.70 %: a sell against it is vetoed by the validator.
    rising_bars(&t, 20).await;
    let sell = || signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS);
    let buy = || signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS);
    decide(&t, sell()).await;
    assert_eq!(last_outcome(&t).await.0, "vetoed");

    let step = |name: &str| format!("test/KC/engine/{name}");
    // Validator down: the same sell goes unvalidated, scored one tier lower:
    // Moderate, 250,000 × 0.5 × 0.25 / 12,000 = 2.6 → 2 contracts (Strong
    // would be 5).
    inject(&t, &step("validator"), FaultKind::Error, 0).await;
    decide(&t, sell()).await;
    assert_eq!(last_outcome(&t).await.0, "executed");
    assert_eq!(position(&t), Decimal::from(-2));
    // The fault lasted one run: the validator vetoes again.
    decide(&t, sell()).await;
    assert_eq!(last_outcome(&t).await.0, "vetoed");

    // Scorer, risk and gate down: no trade, no trade, closed.
    for (name, kind, outcome, says) in [
        (
            "scorer",
            FaultKind::Panic,
            "error",
            "scorer down (injected fault): no trade",
        ),
        (
            "risk",
            FaultKind::Error,
            "risk_rejected",
            "risk down (injected error): no trade",
        ),
        (
            "gate",
            FaultKind::Panic,
            "gate_closed",
            "gate down (injected fault): closed",
        ),
    ] {
        inject(&t, &step(name), kind, 0).await;
        decide(&t, buy()).await;
        assert_eq!(
            last_outcome(&t).await,
            (outcome.to_owned(), says.to_owned()),
            "{name} down"
        );
        assert_eq!(position(&t), Decimal::from(-2), "{name} down: nothing sent");
    }
    // Every step is up again: a buy of 5 closes the 2 and opens 3.
    decide(&t, buy()).await;
    assert_eq!(last_outcome(&t).await.0, "executed");
    assert_eq!(position(&t), Decimal::from(3));

    // The engine never failed; its steps are nodes of the tree in its state.
    assert_eq!(node(&t.kernel, "test/KC/engine").restarts, 0);
    for name in engine::decide::STEPS {
        let n = node(&t.kernel, &step(name));
        assert_eq!(
            (n.kind, n.state),
            (NodeKind::Step, NodeState::Running),
            "{name}"
        );
    }
    assert_eq!(
        node(&t.kernel, "test/KC/engine").children.len(),
        engine::decide::STEPS.len()
    );
    let failed: Vec<String> = t
        .kernel
        .events()
        .recent(0, usize::MAX)
        .into_iter()
        .filter(|e| e.kind == EventKind::Failed)
        .map(|e| e.path)
        .collect();
    assert_eq!(
        failed,
        ["validator", "scorer", "risk", "gate"].map(step),
        "one failed event per outage"
    );
    // A step has no mailbox to hang; an unknown step is unknown.
    let hang = t.kernel.inject(&step("gate"), Fault::hang(10)).await;
    assert!(
        matches!(&hang, Err(KernelError::InvalidFault(m)) if m.contains("takes panic or error")),
        "{hang:?}"
    );
    let unknown = t.kernel.inject(&step("allocator"), Fault::panic()).await;
    assert!(
        matches!(unknown, Err(KernelError::UnknownPath(_))),
        "{unknown:?}"
    );
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

#[actix_rt::test]
async fn an_order_the_journal_refuses_is_an_error_and_is_never_sent() {
    tokio::time::pause();
    let t = tree("refused", cfg(Strategy::RestForOne)).await;
    flat_bars(&t, 0, 20).await;
    // The order log cannot be created: where its directory goes is a file.
    let log = commodore_actors::journal::order_log_path(&t.path, "KC");
    std::fs::write(log.parent().unwrap(), "not a directory").unwrap();
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    assert_eq!(journaled(&t).await, expect(&[("error", 1)]));
    assert_eq!(sql_count(&t.path, "SELECT COUNT(*) FROM fills"), 0);
    assert!(t.view.engine("KC").positions.is_empty(), "nothing was sent");
    let seen = t
        .kernel
        .events()
        .recent(0, usize::MAX)
        .into_iter()
        .filter(|e| e.kind.as_str() == "order_submitted")
        .count();
    assert_eq!(seen, 0);
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

#[actix_rt::test]
async fn a_failing_feed_restarts_no_order_path_under_rest_for_one() {
    tokio::time::pause();
    let t = tree("sentinel", cfg(Strategy::RestForOne)).await;
    inject(&t, "test/KC/sentinel", FaultKind::Panic, 0).await;
    idle(ms(100)).await;
    assert_eq!(node(&t.kernel, "test/KC/sentinel").restarts, 1);
    assert_eq!(
        node(&t.kernel, "test/KC/sentinel").state,
        NodeState::Running
    );
    // The guard comes after the feeds: restarted with them.
    assert_eq!(node(&t.kernel, "test/KC/guard").restarts, 1);
    for sibling in ["engine", "executor", "broker", "analyzer"] {
        let n = node(&t.kernel, &format!("test/KC/{sibling}"));
        assert_eq!((n.restarts, n.state), (0, NodeState::Running), "{sibling}");
    }
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

/// The engine falls behind (its mailbox held by a slow message) while the
/// analyzer gets 3,000 bars: the engine's mailbox fills, later bars are
/// conflated, and once it catches up its last price is the latest bar's,
/// not the last one that fitted in its mailbox.
#[actix_rt::test]
async fn market_data_is_conflated_the_latest_price_wins() {
    tokio::time::pause();
    let t = tree("conflate", cfg(Strategy::OneForOne)).await;
    inject(&t, "test/KC/engine", FaultKind::Slow, 500).await;
    let close = |i: u64| Decimal::new(30_000 + 5 * i as i64, 2);
    for i in 0..3_000u64 {
        t.h.analyzer
            .ask(RawEvent::Bar(bar(i, close(i))))
            .await
            .unwrap();
    }
    idle(Duration::from_millis(2_000)).await;
    let figures = t.view.engine("KC");
    assert_eq!(figures.last_price, Some(close(2_999)), "the latest wins");
    let dropped = figures.activity.dropped;
    assert!(
        (1..3_000 - 1_024).contains(&dropped),
        "older bars beyond the mailbox are conflated and counted: {dropped}"
    );
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

/// The test stands in for portfolio_risk, the level's one writer.
fn level(t: &Tree, level: RiskLevel) {
    t.wiring.risk_level_writer().send_replace(level);
}

/// The test stands in for the mode actor, the mode's one writer.
fn tier(t: &Tree, current: Tier) {
    t.wiring.mode_writer().send_replace(ModeState {
        current,
        auto: false,
        since_ms: 0,
    });
}

fn position(t: &Tree) -> Decimal {
    t.view
        .engine("KC")
        .positions
        .first()
        .map_or(Decimal::ZERO, |p| p.qty)
}

/// The last outcome journaled and its detail.
async fn last_outcome(t: &Tree) -> (String, String) {
    idle(Duration::from_millis(1100)).await;
    rusqlite::Connection::open(&t.path)
        .unwrap()
        .query_row(
            "SELECT outcome, detail FROM outcomes ORDER BY decision_seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// The risk level and the mode apply to the next decision: WARNING halves
/// new exposure, HALT opens nothing but lets a reduction through (never a
/// flip), PANIC flattens and opens nothing; a tier's size factor scales the
/// order and its open-positions limit refuses a new position.
#[actix_rt::test]
async fn the_risk_level_and_the_mode_shape_each_decision() {
    tokio::time::pause();
    let t = tree("levels", cfg(Strategy::OneForOne)).await;
    flat_bars(&t, 0, 20).await;
    let buy = || signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS);
    let sell = || signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS);

    // WARNING × 0.5: 5 contracts become 2.
    level(&t, RiskLevel::Warning);
    decide(&t, buy()).await;
    assert_eq!(position(&t), Decimal::from(2));
    // HALT: nothing opens; a sell of 5 against long 2 only closes the 2.
    level(&t, RiskLevel::Halt);
    decide(&t, buy()).await;
    let (o, why) = last_outcome(&t).await;
    assert_eq!(o, "risk_rejected");
    assert!(why.contains("HALT: no new exposure"), "{why}");
    decide(&t, sell()).await;
    assert_eq!(position(&t), Decimal::ZERO, "reduced, never flipped");
    // An operator reset, long 5, then PANIC: flattened, and nothing opens.
    level(&t, RiskLevel::Normal);
    decide(&t, buy()).await;
    assert_eq!(position(&t), Decimal::from(5));
    level(&t, RiskLevel::Panic);
    idle(ms(50)).await;
    assert_eq!(position(&t), Decimal::ZERO, "PANIC flattens");
    assert_eq!(
        sql_count(
            &t.path,
            "SELECT COUNT(*) FROM orders WHERE strategy = 'flatten' AND status = 'filled'"
        ),
        1
    );
    decide(&t, buy()).await;
    assert_eq!(position(&t), Decimal::ZERO, "flat stays flat");

    // NANO: sizes × 0.25, so a strong signal is one contract ...
    level(&t, RiskLevel::Normal);
    tier(&t, Tier::NANO);
    decide(&t, sell()).await;
    assert_eq!(position(&t), Decimal::from(-1));
    decide(&t, buy()).await;
    assert_eq!(position(&t), Decimal::ZERO);
    // ... and at most 2 open positions: two other engines hold one each.
    for (id, symbol) in [("CC", "CC"), ("CC2", "CC")] {
        t.wiring.account.publish(
            id,
            AccountEntry {
                symbol: symbol.into(),
                exposure: Decimal::from(10_000),
                equity: Decimal::ZERO,
                ..Default::default()
            },
        );
    }
    decide(&t, buy()).await;
    let (o, why) = last_outcome(&t).await;
    assert_eq!(o, "risk_rejected");
    assert!(why.contains("open positions"), "{why}");
    assert_eq!(position(&t), Decimal::ZERO);
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

/// Journals order `seq` (a buy of `qty` KC) and its fill straight into the
/// journal, as the executor would; the fill's journal id.
fn journal_filled_order(path: &Path, seq: u64, qty: i64) -> (u64, commodore_actors::model::Fill) {
    use commodore_actors::journal::OutcomeRow;
    use commodore_actors::model::{Fill, Order, Outcome, Side};
    let id = format!("KC-news-{seq:08}");
    let order = Order {
        limit: None,
        client_order_id: id.clone(),
        engine: "KC".into(),
        strategy: "news".into(),
        decision_seq: seq,
        symbol: "KC".into(),
        side: Side::Buy,
        qty: Decimal::from(qty),
        ref_price: Decimal::from(300),
        at_ms: MONDAY_NOON_MS,
    };
    let outcome = OutcomeRow {
        engine: "KC".into(),
        decision_seq: seq,
        symbol: "KC".into(),
        strategy: "news".into(),
        outcome: Outcome::Executed,
        detail: id.clone(),
        at_ms: MONDAY_NOON_MS,
    };
    let fill = Fill {
        part: 1,
        client_order_id: id,
        engine: "KC".into(),
        symbol: "KC".into(),
        side: Side::Buy,
        qty: Decimal::from(qty),
        price: Decimal::from(300),
        commission: Decimal::ZERO,
        at_ms: MONDAY_NOON_MS,
    };
    let mut store = Store::open(path).unwrap();
    store
        .insert_order(&order, &outcome, MONDAY_NOON_MS)
        .unwrap();
    let journal_id = store.record_fill(&fill).unwrap().expect("a new fill");
    (journal_id, fill)
}

/// Found by `commodore simulate` (seed 158): the ledger remembers the last
/// fill it applied, so a fill whose message was lost, followed by one whose
/// message arrived, was skipped for ever. The later message brings the
/// earlier fill in from the journal.
#[actix_rt::test]
async fn a_fill_whose_message_was_lost_is_applied_before_the_next_one() {
    use commodore_actors::engine::messages::FillReceived;
    tokio::time::pause();
    let t = tree("lost-fill", cfg(Strategy::RestForOne)).await;
    let (_, _lost) = journal_filled_order(&t.path, 900, 2);
    let (second, fill) = journal_filled_order(&t.path, 901, 3);
    // Only the second fill's message reaches the engine.
    t.h.engine
        .ask(FillReceived {
            fill,
            journal_id: second,
        })
        .await
        .unwrap();
    assert_eq!(
        t.view.engine("KC").positions[0].qty,
        Decimal::from(5),
        "both fills are in the position"
    );
    let _ = std::fs::remove_dir_all(t.path.parent().unwrap());
}

/// The kinds and details of the events at `path`.
fn events_at(t: &Tree, path: &str) -> Vec<(String, String)> {
    t.kernel
        .events()
        .recent(0, 100_000)
        .into_iter()
        .filter(|e| e.path == path && e.kind.as_str() != "started")
        .map(|e| (e.kind.as_str().to_owned(), e.detail))
        .collect()
}

/// No bar for `max_gap` while KC's market is open: `stale`, nothing new opens
/// (a reduction still goes), `recovered` when a bar comes, and the second gap
/// of the day says so (it escalates to WARNING).
#[actix_rt::test]
async fn stale_market_data_stops_openings_until_bars_return() {
    tokio::time::pause();
    let t = tree_with("stale", cfg(Strategy::OneForOne), Duration::from_secs(300)).await;
    flat_bars(&t, 0, 20).await;
    // The clock is at 11:00 in New York and no bar reaches the sentinel: the
    // gap counts from the sentinel's start (not from the 04:15 open: a start
    // mid-session is not a gap), so the look after five minutes finds it stale.
    idle(Duration::from_secs(4 * 60)).await;
    assert!(events_at(&t, "test/KC/sentinel").is_empty(), "not yet");
    idle(Duration::from_secs(2 * 60 + 1)).await;
    let sentinel = "test/KC/sentinel";
    let seen = events_at(&t, sentinel);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "stale");
    assert!(seen[0].1.contains("gap 1 today"), "{seen:?}");
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    let (o, why) = last_outcome(&t).await;
    assert_eq!(o, "risk_rejected");
    assert!(why.contains("market data is stale"), "{why}");
    assert_eq!(position(&t), Decimal::ZERO);

    // A bar: recovered, and a signal opens again.
    t.h.sentinel
        .tell(RawEvent::Bar(bar(300, Decimal::new(30_000, 2))))
        .unwrap();
    idle(ms(10)).await;
    let seen = events_at(&t, sentinel);
    assert_eq!(seen.last().unwrap().0, "recovered", "{seen:?}");
    decide(&t, signal(Sentiment::Bullish, 0.92, MONDAY_NOON_MS)).await;
    assert!(position(&t) > Decimal::ZERO, "opens once data is back");

    // Silent again for more than the gap: the second gap of the day.
    idle(Duration::from_secs(7 * 60)).await;
    let seen = events_at(&t, sentinel);
    let last = seen.last().unwrap();
    assert_eq!(last.0, "stale", "{seen:?}");
    assert!(last.1.contains("gap 2 today"), "{seen:?}");
    // A reduction still goes while stale.
    let long = position(&t);
    decide(&t, signal(Sentiment::Bearish, 0.92, MONDAY_NOON_MS)).await;
    assert!(position(&t) < long, "a reduction passes: {}", position(&t));
}
