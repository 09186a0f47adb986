//! The daily reconciliation through the real binary: after the close, every
//! engine's journal positions and cash are compared with its paper broker's
//! own file, the day is summed up (`daily_summary`) and shown in
//! `/v1/status`; a broker that holds something else is a
//! `reconcile_mismatch` and raises the risk level to WARNING.

mod common;

use common::{events, temp_dir, Daemon, NO_DRAWDOWN_GUARDS};
use serde_json::Value;

/// 3000x: a market day in under 30 s.
const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");

fn reconcile_events(d: &Daemon, kind: &str) -> Vec<Value> {
    events(d, 0)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[test]
fn after_the_close_journal_and_broker_agree_and_a_broker_that_differs_is_escalated() {
    let dir = temp_dir("reconcile");
    let env = [[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat();
    let mut d = Daemon::start(&dir, &env);
    // Monday's close (13:30 New York) plus 15 minutes of market time.
    d.expect("kind=\"daily_summary\"");
    let summaries = reconcile_events(&d, "daily_summary");
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let detail = summaries[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("2026-02-09: pnl ") && detail.ends_with("2 engine(s) match the broker"),
        "{detail}"
    );
    assert_eq!(summaries[0]["path"], "master/reconcile");
    assert!(reconcile_events(&d, "reconcile_mismatch").is_empty());
    let st = d.get("/v1/status");
    assert_eq!(st["reconcile"]["day"], "2026-02-09", "{st}");
    assert_eq!(st["reconcile"]["matched"], 2, "{st}");
    assert_eq!(st["reconcile"]["mismatches"], Value::Array(vec![]), "{st}");
    assert_eq!(st["risk"]["level"], "NORMAL", "{st}");

    // The paper broker's own file says KC holds 7 more contracts than the
    // journal's fills do (a fill the journal never got, say).
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));
    let paper = dir.join("orders").join("KC.paper.sqlite");
    let c = rusqlite::Connection::open(&paper).unwrap();
    let qty: String = c
        .query_row(
            "SELECT qty FROM paper_holdings WHERE symbol = 'KCH26'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| "0".into());
    let more = qty.parse::<rust_decimal::Decimal>().unwrap() + rust_decimal::Decimal::from(7);
    c.execute(
        "INSERT INTO paper_holdings (symbol, qty, cash, commissions, fills) VALUES ('KCH26', ?1, '0', '0', 0)
         ON CONFLICT (symbol) DO UPDATE SET qty = excluded.qty",
        [more.to_string()],
    )
    .unwrap();
    drop(c);

    // Tuesday's reconciliation finds it: evented, the level raised, the
    // status says which engine and what.
    let mut d = Daemon::start(&dir, &env);
    d.expect("kind=\"reconcile_mismatch\"");
    let mismatch = reconcile_events(&d, "reconcile_mismatch");
    let detail = mismatch[0]["detail"].as_str().unwrap();
    // Both books moved with Tuesday's trades; the broker's stays 7 ahead.
    let number = |after: &str| -> rust_decimal::Decimal {
        let rest = detail.split(after).nth(1).unwrap();
        rest.split([' ', ';', ',']).next().unwrap().parse().unwrap()
    };
    assert!(
        detail.starts_with("2026-02-10: KC: KCH26: journal holds "),
        "{detail}"
    );
    assert_eq!(
        number("the broker ") - number("journal holds "),
        rust_decimal::Decimal::from(7),
        "{detail}"
    );
    assert!(!detail.contains("CC:"), "CC agrees: {detail}");
    d.expect("kind=\"daily_summary\"");
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "WARNING", "{st}");
    assert!(
        st["risk"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("reconciliation of 2026-02-10: the journal and the broker differ"),
        "{st}"
    );
    assert_eq!(st["reconcile"]["day"], "2026-02-10", "{st}");
    assert_eq!(st["reconcile"]["matched"], 1, "{st}");
    let lines = st["reconcile"]["mismatches"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{st}");
    // Monday is not reconciled twice after the restart.
    let days: Vec<String> = reconcile_events(&d, "daily_summary")
        .iter()
        .map(|e| e["detail"].as_str().unwrap()[..10].to_owned())
        .collect();
    assert_eq!(days, ["2026-02-09", "2026-02-10"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_the_close_old_events_move_to_the_archive_and_the_journal_still_checks() {
    let dir = temp_dir("retention");
    // An hour of retention: Monday's close archives what is older.
    let env = [
        [FAST, ("COMMODORE__JOURNAL__RETENTION", "1h")].as_slice(),
        &NO_DRAWDOWN_GUARDS,
    ]
    .concat();
    let mut d = Daemon::start(&dir, &env);
    d.expect("journal retention: orders, fills and outcomes archived");
    d.expect_any("journal retention: events archived");
    let first_kept = events(&d, 0)[0]["seq"].as_u64().unwrap();
    assert!(first_kept > 1, "the oldest events left the journal");
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));

    let archive = dir.join("archive").join("events-2026-02.sqlite");
    let a = rusqlite::Connection::open(&archive).unwrap();
    let (n, max): (i64, i64) = a
        .query_row("SELECT COUNT(*), MAX(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(n, max, "seq 1 to {max}, each once");
    let j = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let counted: i64 = j
        .query_row("SELECT SUM(count) FROM event_days", [], |r| r.get(0))
        .unwrap();
    assert_eq!(counted, n, "each archived event counted per day");
    let journal_first: i64 = j
        .query_row("SELECT MIN(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        journal_first,
        max + 1,
        "the journal goes on after the archive"
    );
    let carried: i64 = j
        .query_row("SELECT COUNT(*) FROM carried", [], |r| r.get(0))
        .unwrap();
    assert!(carried >= 1, "an engine's old orders went to the archive");
    let orders = rusqlite::Connection::open(dir.join("archive").join("orders-2026-02.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert!(orders > 0);
    // The invariants of the stopped journal hold, archive and all.
    let out = common::commodore()
        .args(["check-journal", "--journal"])
        .arg(dir.join("journal.sqlite"))
        .env("COMMODORE__DATA_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A restart continues the seq right after the journal's newest.
    let newest: u64 = j
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    drop(j);
    let d = Daemon::start(&dir, &env);
    let next = events(&d, newest);
    assert_eq!(next[0]["seq"].as_u64(), Some(newest + 1), "{next:?}");
    // Each engine rebuilt its book from its carried balance and the fills
    // after it: stopped (nothing trades after), its position is what every
    // fill it ever had says, the archived ones included.
    for id in ["KC", "CC"] {
        let (code, r) = d.call(
            "POST",
            &format!("/v1/engines/{id}/stop"),
            Some(r#"{"reason":"count"}"#),
        );
        assert_eq!(code, 202, "{r}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while d.get("/v1/status")["engines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["state"] != "stopped")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "engines never stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = d.get("/v1/status");
    let mut sources = vec![dir.join("journal.sqlite")];
    sources.extend(
        std::fs::read_dir(dir.join("archive"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("orders-")),
    );
    for id in ["KC", "CC"] {
        let mut held = rust_decimal::Decimal::ZERO;
        for src in &sources {
            let c = rusqlite::Connection::open(src).unwrap();
            let mut q = c
                .prepare("SELECT side, qty FROM fills WHERE engine = ?1")
                .unwrap();
            for row in q
                .query_map([id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .unwrap()
            {
                let (side, qty) = row.unwrap();
                let qty: rust_decimal::Decimal = qty.parse().unwrap();
                held += if side == "buy" { qty } else { -qty };
            }
        }
        let e = common::engine(&st, id);
        let shown: rust_decimal::Decimal = e["positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["qty"]
                    .as_str()
                    .unwrap()
                    .parse::<rust_decimal::Decimal>()
                    .unwrap()
            })
            .sum();
        assert_eq!(shown, held, "{id}: {e}");
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
