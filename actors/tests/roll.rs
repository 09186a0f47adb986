//! The roll on paused time: one engine subtree (the real actors, a real
//! SQLite journal and paper broker) holding a position in March coffee on
//! the day May becomes the front month (Wednesday 11 February 2026). The
//! two legs and their order, the levels that stop a roll from starting,
//! a refused leg, a restart between the roll's record and its leg, and
//! PANIC abandoning a roll.

mod common;
#[path = "common/engines.rs"]
mod engines;

use commodore_actors::engine::messages::MarketUpdate;
use commodore_actors::engine::EngineConfig;
use commodore_actors::journal::{OutcomeRow, StateKey, Store};
use commodore_actors::kernel::*;
use commodore_actors::model::{Bar, Fill, Order, Outcome, RiskLevel, Side};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;

/// Wednesday 2026-02-11, 10:00 UTC: 05:00 in New York, KC is open; May
/// (KCK26) is the front month from this day on.
const ROLL_DAY_MS: u64 = 1_770_804_000_000;
/// Tuesday 2026-02-10, 15:00 UTC.
const TUESDAY_MS: u64 = 1_770_735_600_000;

use engines::Tree;

/// The journal at `path` holds `qty` contracts of `month`, bought Tuesday,
/// as decision `seq`.
fn holding(path: &std::path::Path, month: &str, qty: i64, seq: u64) {
    let mut s = Store::open(path).unwrap();
    let id = format!("KC-news-{seq:08}-{month}");
    let side = if qty > 0 { Side::Buy } else { Side::Sell };
    let o = Order {
        limit: None,
        client_order_id: id.clone(),
        engine: "KC".into(),
        strategy: "news".into(),
        decision_seq: seq,
        symbol: month.into(),
        side,
        qty: Decimal::from(qty.abs()),
        ref_price: Decimal::from(350),
        at_ms: TUESDAY_MS,
    };
    let row = OutcomeRow {
        engine: "KC".into(),
        decision_seq: seq,
        symbol: month.into(),
        strategy: "news".into(),
        outcome: Outcome::Executed,
        detail: id.clone(),
        at_ms: TUESDAY_MS,
    };
    s.insert_order(&o, &row, TUESDAY_MS).unwrap();
    s.record_fill(&Fill {
        part: 1,
        client_order_id: id,
        engine: "KC".into(),
        symbol: month.into(),
        side,
        qty: Decimal::from(qty.abs()),
        price: Decimal::from(350),
        commission: Decimal::ZERO,
        at_ms: TUESDAY_MS,
    })
    .unwrap();
}

/// The journal at `path` has a roll of 2 KCH26 to KCK26 under way whose
/// close leg (decision 3) was never journaled: a kill right after the roll's
/// record.
fn roll_under_way(path: &std::path::Path) {
    Store::open(path)
        .unwrap()
        .put_state_durable(
            StateKey::EngineRoll("KC"),
            "KCH26:KCK26:2:3:0:0",
            "roll_started",
            ROLL_DAY_MS,
        )
        .unwrap();
}

/// The engine subtree `test/KC` on a journal `prepare` has written, the
/// market clock at the roll day's 05:00, the level `level`.
async fn tree(name: &str, level: RiskLevel, prepare: impl FnOnce(&std::path::Path)) -> Tree {
    let path = temp_journal("roll", name);
    prepare(&path);
    let kernel = Kernel::new(1);
    let (risk, mode) = engines::levels(level);
    let clock = commodore_actors::clock::Clock::market(ROLL_DAY_MS, 1.0);
    let wiring = Wiring::new(clock, &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let sub = engines::subtree(wiring, cfg(Strategy::OneForOne), Duration::ZERO, None);
    engines::start(EngineConfig::alone(path), &sub, kernel, view).await
}

fn bar(month: &str, minute: u64, close: i64) -> Bar {
    let close = Decimal::from(close);
    Bar {
        symbol: month.into(),
        at_ms: ROLL_DAY_MS - 60_000 + minute * 60_000,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1,
    }
}

/// One minute of the roll day: March at 352, May at 350, then time for the
/// legs to reach the broker and their fills to come back.
async fn minute(t: &Tree, m: u64) {
    t.h.engine
        .ask(MarketUpdate(bar("KCH26", m, 352)))
        .await
        .unwrap();
    t.h.engine
        .ask(MarketUpdate(bar("KCK26", m, 350)))
        .await
        .unwrap();
    idle(ms(50)).await;
}

/// (client order id, month, side, qty, status) of the journal's roll orders.
fn legs(t: &Tree) -> Vec<(String, String, String, String, String)> {
    let c = rusqlite::Connection::open(&t.path).unwrap();
    let mut s = c
        .prepare("SELECT client_order_id, symbol, side, qty, status FROM orders WHERE strategy = 'roll' ORDER BY decision_seq")
        .unwrap();
    s.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn positions(t: &Tree) -> Vec<(String, Decimal)> {
    t.view
        .engine("KC")
        .positions
        .iter()
        .map(|p| (p.symbol.clone(), p.qty))
        .collect()
}

fn roll_state(t: &Tree) -> Option<String> {
    Store::open(&t.path)
        .unwrap()
        .state_entry(StateKey::EngineRoll("KC"))
        .unwrap()
        .map(|e| e.value)
}

fn kinds(t: &Tree) -> Vec<String> {
    events(&t.kernel)
        .into_iter()
        .filter(|(_, path, _)| path == "test/KC/engine" || path.ends_with("/KC"))
        .map(|(k, _, d)| format!("{}: {d}", k.as_str()))
        .filter(|s| s.starts_with("roll"))
        .collect()
}

#[actix_rt::test]
async fn a_position_in_the_old_month_rolls_in_two_legs_once_the_level_allows() {
    tokio::time::pause();
    let t = tree("legs", RiskLevel::Halt, |p| holding(p, "KCH26", 2, 1)).await;
    // At HALT a roll (whose second leg opens a position) does not start.
    minute(&t, 1).await;
    assert!(legs(&t).is_empty(), "{:?}", legs(&t));
    assert_eq!(positions(&t), [("KCH26".to_owned(), Decimal::TWO)]);
    assert_eq!(t.view.engine("KC").contract.as_deref(), Some("KCK26"));

    t.wiring.risk_level_writer().send_replace(RiskLevel::Normal);
    minute(&t, 2).await;
    let l = legs(&t);
    assert_eq!(l.len(), 2, "{l:?}");
    // The close leg first, in March; then the open leg, in May.
    assert_eq!(
        (&l[0].1[..], &l[0].2[..], &l[0].3[..], &l[0].4[..]),
        ("KCH26", "sell", "2", "filled")
    );
    assert_eq!(
        (&l[1].1[..], &l[1].2[..], &l[1].3[..], &l[1].4[..]),
        ("KCK26", "buy", "2", "filled")
    );
    assert!(l[0].0.starts_with("KC-roll-") && l[0].0.ends_with("-KCH26"));
    assert!(l[1].0.ends_with("-KCK26"));
    assert_eq!(positions(&t), [("KCK26".to_owned(), Decimal::TWO)]);
    assert_eq!(roll_state(&t).as_deref(), Some("none"));
    let k = kinds(&t);
    assert!(
        k[0].starts_with("roll_started: KCH26 → KCK26: long 2"),
        "{k:?}"
    );
    assert_eq!(k.last().unwrap(), "rolled: KCH26 → KCK26: 2 contracts");
    // Nothing more to roll: later minutes send nothing.
    minute(&t, 3).await;
    assert_eq!(legs(&t).len(), 2);
}

#[actix_rt::test]
async fn a_refused_close_leg_leaves_the_position_where_it_was_and_is_tried_again() {
    tokio::time::pause();
    let t = tree("refused", RiskLevel::Normal, |p| holding(p, "KCH26", -3, 1)).await;
    // The broker's next answer is an error: the close leg is refused.
    t.kernel
        .inject(
            "test/KC/broker",
            Fault {
                kind: FaultKind::Error,
                count: 1,
                ms: 0,
            },
        )
        .await
        .unwrap();
    minute(&t, 1).await;
    let l = legs(&t);
    assert_eq!(l.len(), 1, "no open leg after a refused close: {l:?}");
    assert_eq!(l[0].4, "rejected");
    assert_eq!(positions(&t), [("KCH26".to_owned(), Decimal::from(-3))]);
    assert!(
        kinds(&t)
            .iter()
            .any(|k| k.starts_with("roll_failed: KCH26 → KCK26: its close leg was refused")),
        "{:?}",
        kinds(&t)
    );
    assert_eq!(roll_state(&t).as_deref(), Some("none"), "not rolled");
    // The next minute decides the roll again, and it goes through.
    minute(&t, 2).await;
    assert_eq!(positions(&t), [("KCK26".to_owned(), Decimal::from(-3))]);
    let filled: Vec<_> = legs(&t).into_iter().filter(|l| l.4 == "filled").collect();
    assert_eq!(filled.len(), 2, "{filled:?}");
    assert_eq!((&filled[0].2[..], &filled[1].2[..]), ("buy", "sell"));
}

#[actix_rt::test]
async fn a_leg_whose_decision_was_overtaken_by_a_restart_is_decided_again() {
    tokio::time::pause();
    // What a kill between the roll's record and its first leg leaves, after
    // other decisions were journaled past the leg's number: the record names
    // decision 3 for the close leg; the journal is at 5.
    let t = tree("overtaken", RiskLevel::Normal, |p| {
        holding(p, "KCH26", 2, 1);
        let mut s = Store::open(p).unwrap();
        let row = |seq| OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::GateClosed,
            detail: "rolling".into(),
            at_ms: ROLL_DAY_MS,
        };
        s.append_outcomes(&[row(4), row(5)]).unwrap();
        roll_under_way(p);
    })
    .await;
    assert!(t.view.engine("KC").roll.is_some(), "the roll under way");
    minute(&t, 1).await;
    let l = legs(&t);
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(l[0].0, "KC-roll-00000006-KCH26", "a new decision");
    assert_eq!(positions(&t), [("KCK26".to_owned(), Decimal::TWO)]);
    // Decision 3 ends with an outcome that says why, no order.
    let c = rusqlite::Connection::open(&t.path).unwrap();
    idle(Duration::from_millis(1100)).await;
    let (outcome, detail): (String, String) = c
        .query_row(
            "SELECT outcome, detail FROM outcomes WHERE engine = 'KC' AND decision_seq = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "error");
    assert!(detail.contains("decided again as 6"), "{detail}");
}

#[actix_rt::test]
async fn panic_abandons_a_roll_and_flattens_every_month() {
    tokio::time::pause();
    // Two months held (an earlier build's roll gone wrong, say) and a roll
    // under way whose close leg was never sent.
    let t = tree("panic", RiskLevel::Panic, |p| {
        holding(p, "KCH26", 2, 1);
        holding(p, "KCK26", -1, 2);
        roll_under_way(p);
    })
    .await;
    minute(&t, 1).await;
    idle(Duration::from_millis(1100)).await;
    assert!(positions(&t).is_empty(), "{:?}", positions(&t));
    assert!(legs(&t).is_empty(), "no leg: {:?}", legs(&t));
    assert_eq!(roll_state(&t).as_deref(), Some("none"));
    assert!(
        kinds(&t)
            .iter()
            .any(|k| k.starts_with("roll_failed: KCH26 → KCK26: risk level PANIC")),
        "{:?}",
        kinds(&t)
    );
    // Each month flattened by its own order.
    let c = rusqlite::Connection::open(&t.path).unwrap();
    let mut s = c
        .prepare("SELECT symbol, side, qty FROM orders WHERE strategy = 'flatten' ORDER BY symbol")
        .unwrap();
    let flat: Vec<(String, String, String)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        flat,
        [
            ("KCH26".to_owned(), "sell".to_owned(), "2".to_owned()),
            ("KCK26".to_owned(), "buy".to_owned(), "1".to_owned())
        ]
    );
}

#[actix_rt::test]
async fn an_operators_flatten_closes_every_month_and_starts_no_roll() {
    tokio::time::pause();
    let t = tree("flatten", RiskLevel::Normal, |p| {
        holding(p, "KCH26", 2, 1);
        holding(p, "KCK26", 3, 2);
    })
    .await;
    t.h.engine
        .ask(commodore_actors::engine::messages::Flatten {
            reason: "leaving the desk".into(),
        })
        .await
        .unwrap();
    // No price yet: it waits for the first bars, then closes both months.
    minute(&t, 1).await;
    idle(Duration::from_millis(1100)).await;
    assert!(positions(&t).is_empty(), "{:?}", positions(&t));
    assert!(
        legs(&t).is_empty(),
        "no roll while flattening: {:?}",
        legs(&t)
    );
    let c = rusqlite::Connection::open(&t.path).unwrap();
    let orders: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM orders WHERE strategy = 'flatten' AND status = 'filled'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orders, 2, "one order per month");
    // Flat: the flatten is done; later minutes send nothing.
    minute(&t, 2).await;
    idle(Duration::from_millis(1100)).await;
    let after: i64 = c
        .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 4, "the two holdings and the two closes");
}
