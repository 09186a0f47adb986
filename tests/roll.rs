//! Rolls through the real binary, with the process killed between any two
//! of a roll's steps: `faults.crash_at` aborts it there (no destructor, no
//! flush: what `kill -9` does), then it is started again. Whatever the
//! step, it ends with the position in the new month, the paper broker
//! agreeing, and every leg sent and filled once: never doubled, never lost.
//!
//! Each run starts from a journal that holds 2 KCH26 (bought on Tuesday
//! 10 February 2026) and the market clock at Wednesday 04:00 New York: the
//! bundled data's roll day for coffee (five business days before KCH26's
//! first notice day), whose first bars, at 04:15, quote both months.

mod common;

use common::*;
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// 2026-02-11T09:00:00Z: 04:00 in New York, a quarter of an hour before the
/// open (at [`SPEED`], 7.5 s: the daemon has said it started well before the
/// roll, even on a loaded machine).
const BEFORE_OPEN_MS: i64 = 1_770_800_400_000;
/// 2026-02-10T18:00:00Z: Tuesday's fill.
const TUESDAY_MS: i64 = 1_770_746_400_000;

/// Fast enough that the roll comes a few seconds after the start, slow
/// enough that the daemon has said it started by then.
const SPEED: (&str, &str) = ("COMMODORE__FEED__SPEED", "120");

/// A data dir whose journal and paper broker hold 2 KCH26, the market clock
/// before Wednesday's open.
fn holding_march(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let j = Connection::open(dir.join("journal.sqlite")).unwrap();
    let fills: i64 = j
        .query_row("SELECT COUNT(*) FROM fills", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        fills, 0,
        "the first run traded: the seed would not be alone"
    );
    let seq: i64 = j
        .query_row(
            "SELECT COALESCE(MAX(decision_seq), 0) + 1 FROM outcomes WHERE engine = 'KC'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let id = format!("KC-news-{seq:08}-KCH26");
    j.execute(
        "INSERT INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms)
         VALUES (?1, 'KC', 'news', ?2, 'KCH26', 'buy', '2', '350.00', 'filled', ?3, ?4)",
        rusqlite::params![id, seq, TUESDAY_MS, BEFORE_OPEN_MS],
    )
    .unwrap();
    j.execute(
        "INSERT INTO outcomes (engine, decision_seq, symbol, strategy, outcome, detail, at_ms)
         VALUES ('KC', ?1, 'KCH26', 'news', 'executed', ?2, ?3)",
        rusqlite::params![seq, format!("{id}: buy 2 @ 350.00"), TUESDAY_MS],
    )
    .unwrap();
    j.execute(
        "INSERT INTO fills (client_order_id, engine, symbol, side, qty, price, commission, at_ms)
         VALUES (?1, 'KC', 'KCH26', 'buy', '2', '350.00', '0', ?2)",
        rusqlite::params![id, TUESDAY_MS],
    )
    .unwrap();
    let paper = Connection::open(dir.join("orders/KC.paper.sqlite")).unwrap();
    paper
        .execute_batch(commodore_actors::engine::PAPER_SCHEMA)
        .unwrap();
    let held: i64 = paper
        .query_row("SELECT COUNT(*) FROM paper_book", [], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 0, "the paper broker is fresh");
    paper
        .execute_batch(&format!(
            "INSERT INTO paper_book (client_order_id, status, engine, symbol, side, qty, ref_price, at_ms, filled, parts)
               VALUES ('{id}', 'filled', 'KC', 'KCH26', 'buy', '2', '350.00', {TUESDAY_MS}, '2', 1);
             INSERT INTO paper_fills (client_order_id, part, engine, symbol, side, qty, price, commission, at_ms)
               VALUES ('{id}', 1, 'KC', 'KCH26', 'buy', '2', '350.00', '0', {TUESDAY_MS});",
        ))
        .unwrap();
    dir
}

/// Net contracts per instrument of engine KC's journaled fills.
fn journal_positions(dir: &Path) -> BTreeMap<String, i64> {
    let j = Connection::open(dir.join("journal.sqlite")).unwrap();
    let mut stmt = j
        .prepare(
            "SELECT symbol, SUM(CASE side WHEN 'buy' THEN CAST(qty AS INTEGER) ELSE -CAST(qty AS INTEGER) END)
             FROM fills WHERE engine = 'KC' GROUP BY symbol",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    rows.map(Result::unwrap).filter(|(_, q)| *q != 0).collect()
}

/// The paper broker's holdings of engine KC.
fn broker_positions(dir: &Path) -> BTreeMap<String, i64> {
    let p = Connection::open(dir.join("orders/KC.paper.sqlite")).unwrap();
    let mut stmt = p.prepare("SELECT symbol, qty FROM paper_holdings").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    rows.map(Result::unwrap)
        .map(|(s, q)| (s, q.parse::<i64>().unwrap()))
        .filter(|(_, q)| *q != 0)
        .collect()
}

/// The roll's legs as journaled: (client order id, symbol, side, qty, status).
fn legs(dir: &Path) -> Vec<(String, String, String, String, String)> {
    let j = Connection::open(dir.join("journal.sqlite")).unwrap();
    let mut stmt = j
        .prepare(
            "SELECT client_order_id, symbol, side, qty, status FROM orders
             WHERE strategy = 'roll' ORDER BY decision_seq",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Runs the roll with the process killed at `crash_at` (none: straight
/// through), starts it again, and checks the roll ended once and whole.
fn roll_killed_at(crash_at: Option<&str>) {
    let name = format!(
        "roll-{}",
        crash_at.unwrap_or("none").replace(['.', '#'], "-")
    );
    let dir = holding_march(&name);
    assert_eq!(
        journal_positions(&dir),
        BTreeMap::from([("KCH26".to_owned(), 2)])
    );
    let guards: Vec<(&str, &str)> = NO_DRAWDOWN_GUARDS.to_vec();
    if let Some(point) = crash_at {
        let mut env = guards.clone();
        env.extend([SPEED, ("COMMODORE__FAULTS__CRASH_AT", point)]);
        let mut d = Daemon::spawn(&dir, free_port(), &env);
        assert!(
            d.wait_for(&format!("crash point {point}")),
            "{point}: the crash point was never reached:\n{}",
            d.seen.join("\n")
        );
        assert_eq!(
            d.exit_code(),
            None,
            "{point}: killed by its signal, no exit"
        );
        // Between two steps: the journal holds one of the roll's states,
        // never both months at once.
        let held = journal_positions(&dir);
        assert!(
            held == BTreeMap::from([("KCH26".to_owned(), 2)])
                || held.is_empty()
                || held.get("KCK26") == Some(&2) && !held.contains_key("KCH26"),
            "{point}: {held:?}"
        );
    }
    let mut env = guards;
    env.push(SPEED);
    let mut d = Daemon::start(&dir, &env);
    d.expect_any("kind=\"rolled\"");
    // The operator's view: May is the front month, no roll under way (the
    // view follows the journaled event at once, read again until then),
    // every position in May.
    let deadline = std::time::Instant::now() + WAIT;
    let kc = loop {
        let kc = engine(&d.get("/v1/status"), "KC");
        if kc["roll"].is_null() || std::time::Instant::now() > deadline {
            break kc;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(kc["contract"], "KCK26", "{kc}");
    assert_eq!(kc["roll"], serde_json::Value::Null, "{kc}");
    let months: Vec<&str> = kc["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["symbol"].as_str().unwrap())
        .collect();
    assert!(months.iter().all(|m| *m == "KCK26"), "{kc}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));

    let what = crash_at.unwrap_or("no crash");
    let legs = legs(&dir);
    let filled: Vec<_> = legs.iter().filter(|l| l.4 == "filled").collect();
    assert_eq!(
        filled.len(),
        2,
        "{what}: one close and one open leg: {legs:?}"
    );
    assert_eq!(
        (
            filled[0].1.as_str(),
            filled[0].2.as_str(),
            filled[0].3.as_str()
        ),
        ("KCH26", "sell", "2"),
        "{what}: {legs:?}"
    );
    assert_eq!(
        (
            filled[1].1.as_str(),
            filled[1].2.as_str(),
            filled[1].3.as_str()
        ),
        ("KCK26", "buy", "2"),
        "{what}: {legs:?}"
    );
    assert!(
        legs.iter().all(|l| l.4 != "pending"),
        "{what}: nothing left pending: {legs:?}"
    );
    // Each leg filled once, in the journal and at the broker.
    let j = Connection::open(dir.join("journal.sqlite")).unwrap();
    let paper = Connection::open(dir.join("orders/KC.paper.sqlite")).unwrap();
    for leg in &filled {
        let fills: i64 = j
            .query_row(
                "SELECT COUNT(*) FROM fills WHERE client_order_id = ?1",
                [&leg.0],
                |r| r.get(0),
            )
            .unwrap();
        let sent: i64 = paper
            .query_row(
                "SELECT COUNT(*) FROM paper_book WHERE client_order_id = ?1 AND status = 'filled'",
                [&leg.0],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((fills, sent), (1, 1), "{what}: {}", leg.0);
    }
    let roll_orders_at_broker: i64 = paper
        .query_row(
            "SELECT COUNT(*) FROM paper_book WHERE client_order_id LIKE 'KC-roll-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(roll_orders_at_broker, 2, "{what}: no leg sent twice");
    // Rolled: nothing left in March; the journal and the broker agree on
    // every month (trading in May may have gone on after the roll).
    let held = journal_positions(&dir);
    assert!(!held.contains_key("KCH26"), "{what}: {held:?}");
    assert_eq!(held, broker_positions(&dir), "{what}: journal vs broker");
    let state: String = j
        .query_row(
            "SELECT value FROM state WHERE key = 'engine.KC.roll'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "none", "{what}: no roll left under way");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_roll_runs_as_two_legs_the_broker_agrees_with() {
    roll_killed_at(None);
}

#[test]
fn killed_after_the_roll_is_journaled_it_rolls_once() {
    roll_killed_at(Some("roll.decided"));
}

#[test]
fn killed_after_the_close_leg_is_journaled_it_rolls_once() {
    roll_killed_at(Some("roll.journaled#1"));
}

#[test]
fn killed_after_the_broker_filled_the_close_leg_it_rolls_once() {
    roll_killed_at(Some("roll.at_broker#1"));
}

#[test]
fn killed_after_the_close_legs_fill_is_journaled_it_rolls_once() {
    roll_killed_at(Some("roll.filled#1"));
}

#[test]
fn killed_after_the_open_leg_is_journaled_it_rolls_once() {
    roll_killed_at(Some("roll.journaled#2"));
}

#[test]
fn killed_after_the_broker_filled_the_open_leg_it_rolls_once() {
    roll_killed_at(Some("roll.at_broker#2"));
}

#[test]
fn killed_after_the_open_legs_fill_is_journaled_it_rolls_once() {
    roll_killed_at(Some("roll.filled#2"));
}
