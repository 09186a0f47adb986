//! Risk end to end, through the real binary: HALT opens nothing (and survives
//! SIGKILL), PANIC flattens both engines and leaves no working order, and broker
//! failures injected as faults open an engine's circuit breaker, which stays open
//! across a SIGKILL until its cooldown and closes on a successful trial.

mod common;

use commodore_actors::model::{contract, Position, Side};
use common::{engine, events, temp_dir, Daemon, NO_DRAWDOWN_GUARDS};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// 3000x: a bar every 20 ms.
const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");
/// Decisions logged (the engine logs each outcome at debug).
const DECISIONS: (&str, &str) = (
    "RUST_LOG",
    "info,commodore_actors::journal=debug,commodore_actors::engine::actor=debug",
);

/// (engine, created_ms, side, qty) of every filled order, in fill order.
fn filled_orders(db: &Path) -> Vec<(String, u64, Side, Decimal)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT o.engine, o.created_ms, f.side, f.qty FROM fills f
             JOIN orders o ON o.client_order_id = f.client_order_id ORDER BY f.id",
        )
        .unwrap();
    let rows = s
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .unwrap()
        .map(|r| {
            let (e, at, side, qty) = r.unwrap();
            (e, at, side.parse().unwrap(), qty.parse().unwrap())
        })
        .collect();
    rows
}

fn pending_orders(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM orders WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn escalate(d: &Daemon, level: &str) {
    let r = d.post(
        "/v1/risk/escalate",
        &format!(r#"{{"level":"{level}","reason":"test: {level}"}}"#),
    );
    assert_eq!(r["risk"]["level"], level, "{r}");
}

/// Every fill of an order made after `since_ms` brought its engine's position
/// closer to flat.
fn only_reducing_after(db: &Path, since_ms: u64) -> usize {
    let mut pos: BTreeMap<String, Position> = BTreeMap::new();
    let mut after = 0;
    for (engine, created, side, qty) in filled_orders(db) {
        let p = pos.entry(engine.clone()).or_default();
        let before = p.qty.abs();
        p.apply(side, qty, Decimal::from(100), &contract(&engine).unwrap());
        if created > since_ms {
            after += 1;
            assert!(
                p.qty.abs() < before,
                "{engine}: an order made at {created}, after HALT at {since_ms}, took the position from {before} to {}",
                p.qty
            );
        }
    }
    after
}

/// Every order made after `since_ms`, whatever became of it (filled,
/// rejected, pending), reduces its engine's position without flipping it:
/// after HALT nothing is submitted for new exposure. Returns how many.
fn no_order_opens_after(db: &Path, since_ms: u64) -> usize {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT engine, created_ms, side, qty, status, client_order_id FROM orders
             ORDER BY engine, decision_seq",
        )
        .unwrap();
    let rows: Vec<(String, u64, Side, Decimal, String, String)> = s
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .unwrap()
        .map(|r| {
            let (e, at, side, qty, status, id) = r.unwrap();
            (
                e,
                at,
                side.parse().unwrap(),
                qty.parse().unwrap(),
                status,
                id,
            )
        })
        .collect();
    let mut pos: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut after = 0;
    for (engine, created, side, qty, status, id) in rows {
        let p = pos.entry(engine.clone()).or_default();
        if created > since_ms {
            after += 1;
            let opposes = !p.is_zero() && (p.is_sign_positive() != (side == Side::Buy));
            assert!(
                opposes && qty <= p.abs(),
                "{id} ({status}), made after HALT: {side:?} {qty} against a position of {p}"
            );
        }
        if status == "filled" {
            *p += side.sign() * qty;
        }
    }
    after
}

#[test]
fn halt_opens_no_new_exposure_and_survives_sigkill() {
    let dir = temp_dir("risk-halt");
    let db = dir.join("journal.sqlite");
    let mut d = Daemon::start(&dir, &[FAST, DECISIONS]);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    escalate(&d, "HALT");
    let halted_ms = now_ms();
    // Decisions after HALT: refused for new exposure, by name.
    d.expect("risk level HALT: no new exposure");
    d.expect("risk level HALT: no new exposure");
    d.signal(libc::SIGKILL);
    let _ = d.exit_code();
    only_reducing_after(&db, halted_ms);
    no_order_opens_after(&db, halted_ms);

    let mut d = Daemon::start(&dir, &[FAST, DECISIONS]);
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "HALT", "{st}");
    assert_eq!(st["risk"]["reason"], "test: HALT", "{st}");
    d.expect("risk level HALT: no new exposure");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    only_reducing_after(&db, halted_ms);
    // Every order made after HALT, also those never filled (the order logs are
    // in SQLite after the clean stop).
    no_order_opens_after(&db, halted_ms);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `(kind, detail)` of every journaled event of `kinds`, read from the
/// file alone.
fn journaled_events(db: &Path, kinds: &[&str]) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT kind, detail FROM events ORDER BY seq")
        .unwrap();
    let rows = s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(k, _)| kinds.contains(&k.as_str()))
        .collect();
    rows
}

/// An acknowledged operator change keeps its event through a SIGKILL sent
/// the moment the answer arrives: the state and its event are one
/// transaction, written before the API answers (the journal worker's
/// 100 ms batches would lose them).
#[test]
fn an_acknowledged_change_keeps_its_event_through_sigkill() {
    let dir = temp_dir("risk-durable-events");
    let db = dir.join("journal.sqlite");
    let mut d = Daemon::start(&dir, &[]);
    let r = d.post(
        "/v1/engines/KC/pause",
        r#"{"reason":"test: pause before kill"}"#,
    );
    assert_eq!(r["engine"]["paused"], true, "{r}");
    let r = d.post("/v1/mode", r#"{"mode":"MICRO"}"#);
    assert_eq!(r["mode"]["current"], "MICRO", "{r}");
    escalate(&d, "WARNING");
    let r = d.post(
        "/v1/risk/reset",
        r#"{"level":"NORMAL","reason":"test: reset before kill"}"#,
    );
    assert_eq!(r["risk"]["level"], "NORMAL", "{r}");
    d.signal(libc::SIGKILL);
    let _ = d.exit_code();
    let got = journaled_events(&db, &["operator", "mode_changed", "risk_changed"]);
    let has = |kind: &str, needle: &str| {
        got.iter()
            .any(|(k, detail)| k == kind && detail.contains(needle))
    };
    assert!(has("operator", "test: pause before kill"), "{got:?}");
    assert!(has("mode_changed", "MICRO"), "{got:?}");
    assert!(has("risk_changed", "test: WARNING"), "{got:?}");
    assert!(has("risk_changed", "test: reset before kill"), "{got:?}");
    // And the file's seq has no gap: what the worker had not written yet was
    // written with them.
    let c = rusqlite::Connection::open(&db).unwrap();
    let (n, max): (i64, i64) = c
        .query_row("SELECT COUNT(*), MAX(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(n, max, "events 1..={max} without a gap");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config whose engines have `capital` each (`ids` of KC and CC).
fn engines_with_capital(dir: &Path, ids: &[&str], capital: &str) -> std::path::PathBuf {
    let file = dir.join(format!("capital-{}-{capital}.toml", ids.join("-")));
    let body: String = ids
        .iter()
        .map(|id| format!("[[engines]]\nid = \"{id}\"\ncapital = \"{capital}\"\n\n"))
        .collect();
    std::fs::write(&file, body).unwrap();
    file
}

fn state_reason(db: &Path, key: &str) -> Option<(String, String)> {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT value, reason FROM state WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

/// Lowering the engines' capital (or removing one) while stopped is not a
/// drawdown: the account's and the guards' peaks move with the capital,
/// journaled with the reason; the level stays NORMAL.
#[test]
fn a_capital_change_rebases_the_peaks_instead_of_halting() {
    let dir = temp_dir("risk-capital");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("journal.sqlite");
    let run = |cfg: &Path, expect_equity_below: i64| {
        let mut d = Daemon::spawn_args(
            &dir,
            common::free_port(),
            &["--config", cfg.to_str().unwrap()],
            &[FAST],
        );
        d.wait_ready();
        // The account is measured at every publish, so once the status shows
        // the new capital, the level has seen it.
        let settled = (0..200).any(|_| {
            let st = d.get("/v1/status");
            let equity: Decimal = st["equity"].as_str().unwrap().parse().unwrap();
            let peak_ok = state_reason(&db, "account.peak").is_some();
            if equity < Decimal::from(expect_equity_below) && peak_ok {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        });
        assert!(settled, "the account never showed the configured capital");
        let st = d.get("/v1/status");
        assert_eq!(st["risk"]["level"], "NORMAL", "{st}");
        d.signal(libc::SIGINT);
        assert_eq!(d.exit_code(), Some(0));
    };
    run(
        &engines_with_capital(&dir, &["KC", "CC"], "250000"),
        600_000,
    );
    let (capital, _) = state_reason(&db, "account.capital").unwrap();
    assert_eq!(capital, "500000");
    // Both engines lowered to 150,000: 40 % below the old peak.
    run(
        &engines_with_capital(&dir, &["KC", "CC"], "150000"),
        400_000,
    );
    let (capital, _) = state_reason(&db, "account.capital").unwrap();
    assert_eq!(capital, "300000");
    let (_, reason) = state_reason(&db, "account.peak").unwrap();
    assert!(
        reason.contains("configured capital changed from 500000 to 300000"),
        "{reason}"
    );
    let (_, reason) = state_reason(&db, "engine.KC.guard").unwrap();
    assert!(
        reason.contains("configured capital changed from 250000 to 150000"),
        "{reason}"
    );
    // One engine removed: half the account's capital gone, no drawdown.
    run(&engines_with_capital(&dir, &["KC"], "150000"), 200_000);
    let (capital, _) = state_reason(&db, "account.capital").unwrap();
    assert_eq!(capital, "150000");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn panic_flattens_both_engines_and_leaves_no_working_order() {
    let dir = temp_dir("risk-panic");
    let db = dir.join("journal.sqlite");
    let env = [[FAST, DECISIONS].as_slice(), &NO_DRAWDOWN_GUARDS].concat();
    let mut d = Daemon::start(&dir, &env);
    // Trade until both engines hold a position (bounded by the log wait).
    let holding = |d: &Daemon| {
        let st = d.get("/v1/status");
        ["KC", "CC"].map(|id| {
            engine(&st, id)["positions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        }) == [true, true]
    };
    let mut fills = 0;
    while !holding(&d) {
        d.expect("kind=\"order_filled\"");
        fills += 1;
        assert!(fills < 200, "both engines never held a position at once");
    }
    escalate(&d, "PANIC");
    d.expect_any("PANIC: flattening");
    // Flat, both: every engine's fills net to zero, and nothing is pending.
    let flat = |d: &Daemon| {
        let st = d.get("/v1/status");
        ["KC", "CC"].iter().all(|id| {
            engine(&st, id)["positions"]
                .as_array()
                .is_some_and(|p| p.is_empty())
        })
    };
    // The flattening fills may be logged before the status view shows
    // them (it is published as the engines go): wait on the decisions the
    // engines keep refusing, a line that keeps coming, not on a fill that
    // may already have been logged.
    let mut waits = 0;
    while !flat(&d) {
        d.expect("risk level PANIC: no new exposure");
        waits += 1;
        assert!(waits < 200, "not flat after PANIC");
    }
    // It stays flat: later signals are refused.
    d.expect("risk level PANIC: no new exposure");
    d.expect("risk level PANIC: no new exposure");
    assert!(flat(&d), "{}", d.get("/v1/status"));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let mut net: BTreeMap<String, Decimal> = BTreeMap::new();
    for (engine, _, side, qty) in filled_orders(&db) {
        *net.entry(engine).or_default() += side.sign() * qty;
    }
    assert_eq!(
        net.values().filter(|q| !q.is_zero()).count(),
        0,
        "net fills per engine: {net:?}"
    );
    assert_eq!(pending_orders(&db), 0, "no working order");
    // The engines closed their positions with their own orders, which the
    // cancel of working orders left alone.
    let c = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert!(
        count("SELECT COUNT(*) FROM orders WHERE strategy = 'flatten' AND status = 'filled'") >= 1,
        "no flatten order filled"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM orders WHERE strategy = 'flatten' AND status != 'filled'"),
        0,
        "a flatten order was cancelled or refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broker_failures_open_the_breaker_which_survives_sigkill_and_closes_on_a_trial() {
    let dir = temp_dir("risk-breaker");
    let env = [
        [
            FAST,
            DECISIONS,
            ("COMMODORE__FAULTS__ENABLED", "true"),
            // Market time: 4 h at speed 3000 is about 5 s of the test.
            ("COMMODORE__BREAKER__COOLDOWN", "4h"),
        ]
        .as_slice(),
        &NO_DRAWDOWN_GUARDS,
    ]
    .concat();
    let mut d = Daemon::start(&dir, &env);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    let r = d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/broker","kind":"error","count":5}"#,
    );
    assert!(r.get("error").is_none(), "{r}");
    d.expect("breaker opened: 5 consecutive broker failures");
    // Its event journaled before the kill below.
    d.expect("kind=\"breaker_opened\"");
    let seq: u64 = d
        .seen
        .last()
        .and_then(|l| l.split("seq=").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("the notify line has its seq");
    d.journaled(seq);
    let st = d.get("/v1/status");
    assert_eq!(engine(&st, "KC")["breaker"]["state"], "open", "{st}");
    assert_eq!(engine(&st, "CC")["breaker"]["state"], "closed", "{st}");

    // Killed while open: it is still open after the restart.
    d.signal(libc::SIGKILL);
    let _ = d.exit_code();
    let mut d = Daemon::start(&dir, &env);
    // Logged by the engine once it has published its figures.
    d.expect_any("circuit breaker open (from the journal)");
    let st = d.get("/v1/status");
    let kc = engine(&st, "KC");
    assert_eq!(kc["breaker"]["state"], "open", "{st}");
    assert_eq!(kc["breaker"]["opens"], 1, "{st}");
    // Candidates meanwhile end `breaker_open`; after the cooldown one trial
    // goes through and its fill closes the breaker.
    d.expect("outcome=breaker_open");
    d.expect("breaker half-open");
    d.expect("breaker closed: its trial order was filled");
    let evs = events(&d, 0);
    for kind in ["breaker_opened", "breaker_half_open", "breaker_closed"] {
        assert!(
            evs.iter()
                .any(|e| e["kind"] == kind && e["path"] == "master/engines/KC"),
            "no {kind} event"
        );
    }
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let state: String = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row(
            "SELECT value FROM state WHERE key = 'engine.KC.breaker'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "closed:1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_engine_whose_risk_guard_is_down_opens_nothing_until_it_is_back() {
    let dir = temp_dir("risk-guard-down");
    let env = [
        [
            FAST,
            DECISIONS,
            ("COMMODORE__FAULTS__ENABLED", "true"),
            // The guard's restart waits 3 s: decisions meanwhile see it down.
            ("COMMODORE__SUPERVISION__BACKOFF_MIN", "3s"),
        ]
        .as_slice(),
        &NO_DRAWDOWN_GUARDS,
    ]
    .concat();
    let mut d = Daemon::start(&dir, &env);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    let r = d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/guard","kind":"panic"}"#,
    );
    assert!(r.get("error").is_none(), "{r}");
    d.expect("engine risk guard restarting: no new exposure until it runs");
    // Back: KC trades again.
    d.expect("kind=\"restarted\" path=master/engines/KC/guard");
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
