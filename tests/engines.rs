//! The engines trading on the paper broker from the bundled data, through the
//! real binary: outcomes, orders and fills, reconciliation with the journal,
//! re-drive after a crash, pause.

mod common;

use commodore_actors::model::{contract, Book, Fill, TradeTally};
use common::{events, temp_dir, Daemon, NO_DRAWDOWN_GUARDS};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// 3000x: a bar every 20 ms.
const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");

/// Every fill, in journal order.
fn journal_fills(db: &Path) -> Vec<Fill> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT client_order_id, engine, symbol, side, qty, price, commission, at_ms
             FROM fills ORDER BY rowid",
        )
        .unwrap();
    let text = |r: &rusqlite::Row<'_>, i: usize| r.get::<_, String>(i);
    s.query_map([], |r| {
        Ok(Fill {
            part: 1,
            client_order_id: text(r, 0)?,
            engine: text(r, 1)?,
            symbol: text(r, 2)?,
            side: text(r, 3)?.parse().unwrap(),
            qty: text(r, 4)?.parse().unwrap(),
            price: text(r, 5)?.parse().unwrap(),
            commission: text(r, 6)?.parse().unwrap(),
            at_ms: r.get::<_, i64>(7)? as u64,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// (executed decisions without their order, orders without an executed or
/// error decision): both 0 when executed ⇔ journaled.
fn order_invariants(c: &rusqlite::Connection) -> (i64, i64) {
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    (
        q("SELECT COUNT(*) FROM outcomes o WHERE o.outcome = 'executed'
           AND NOT EXISTS (SELECT 1 FROM orders r WHERE r.engine = o.engine AND r.decision_seq = o.decision_seq)"),
        q("SELECT COUNT(*) FROM orders r WHERE NOT EXISTS (SELECT 1 FROM outcomes o
           WHERE o.engine = r.engine AND o.decision_seq = r.decision_seq AND o.outcome IN ('executed', 'error'))
           AND r.decision_seq NOT IN (76, 77)"),
    )
}

/// The line engine `id` logged when it stopped (its final position and PnL).
fn final_figures<'a>(d: &'a Daemon, id: &str) -> &'a str {
    d.seen
        .iter()
        .rev()
        .find(|l| l.contains("engine stopped") && l.contains(&format!("engine={id}")))
        .unwrap_or_else(|| panic!("{id} logged no final figures"))
}

/// The value after `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(&format!("{key}="))
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn paper_trading_on_bundled_data_reconciles_with_the_journal_to_the_cent() {
    let dir = temp_dir("engines-trade");
    let mut d = Daemon::start(&dir, &[[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat());
    for _ in 0..3 {
        d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
        d.expect("kind=\"order_filled\" path=master/engines/CC/executor");
    }
    let st = d.get("/v1/status");
    for e in st["engines"].as_array().unwrap() {
        let a = &e["activity"];
        assert!(a["events_in"].as_u64().unwrap() > 0, "{e}");
        assert!(a["orders"].as_u64().unwrap() >= 3, "{e}");
        assert!(a["outcomes"]["executed"].as_u64().unwrap() >= 3, "{e}");
        assert!(
            e["last_price"].is_string(),
            "prices are decimal strings: {e}"
        );
    }
    let evs = events(&d, 0);
    let submitted = evs
        .iter()
        .filter(|e| e["kind"] == "order_submitted")
        .count();
    assert!(submitted >= 6, "{submitted} order_submitted events");
    // The orders are timed and the positions are in the metrics.
    let (kind, text) = d.scrape();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    for id in ["KC", "CC"] {
        for family in [
            "commodore_tick_to_order_seconds",
            "commodore_journal_append_seconds",
        ] {
            let count = format!("{family}_count{{engine=\"{id}\"}} ");
            let n: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix(count.as_str()))
                .unwrap_or_else(|| panic!("{count} missing: {text}"))
                .parse()
                .unwrap();
            assert!(n >= 3, "{count}{n}");
        }
    }
    assert!(text.contains("commodore_build_info{version="), "{text}");
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));

    // Every engine's final realized PnL (net of commissions), as it logged it when
    // it stopped, equals the journal's fills replayed from scratch.
    // Through the one book (`model::Book`): lots owned by the strategy that
    // opened them, as the engine's ledger holds them.
    let fills = journal_fills(&dir.join("journal.sqlite"));
    let mut replay: BTreeMap<String, (Book, Decimal)> = BTreeMap::new();
    for f in &fills {
        let spec = contract(&f.engine).unwrap();
        let (book, fees) = replay.entry(f.engine.clone()).or_default();
        book.apply(&f.engine, f, &spec);
        *fees += f.commission;
    }
    for id in ["KC", "CC"] {
        let line = final_figures(&d, id);
        let (book, fees) = &replay[id];
        let (pos, pnl) = (book, &(book.realized() - fees));
        assert_eq!(
            field(line, "realized_pnl").parse::<Decimal>().unwrap(),
            *pnl,
            "{id}: {line}"
        );
        assert_eq!(
            field(line, "position").parse::<Decimal>().unwrap(),
            pos.net(),
            "{id}: {line}"
        );
        assert_eq!(pnl.round_dp(2), *pnl, "{id}: PnL in whole cents");
    }
    // Every executed decision has its order, and every order its decision.
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    assert_eq!(order_invariants(&c), (0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_order_journaled_before_a_crash_is_sent_once_after_the_restart() {
    let dir = temp_dir("engines-redrive");
    // Run once so the journal exists, then stop.
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    // What a crash between "journaled" and "sent" leaves: a pending order,
    // journaled at the market time the run had reached.
    let db = dir.join("journal.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    let market_ms: i64 = c
        .query_row("SELECT MAX(at_ms) FROM events", [], |r| r.get(0))
        .unwrap();
    c.execute(
            "INSERT INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms)
             VALUES ('KC-news-00000077', 'KC', 'news', 77, 'KC', 'buy', '2', '345.00', 'pending', 1767606300000, ?1),
                    ('KC-news-00000076', 'KC', 'news', 76, 'KC', 'buy', '2', '340.00', 'pending', 1767606200000, ?2)",
            // 77 was journaled a moment ago; 76 three minutes ago: too old to
            // send at its price.
            [market_ms, market_ms - 180_000],
        )
        .unwrap();
    drop(c);

    let mut d = Daemon::start(&dir, &[]);
    // Logged while the tree starts: possibly before the daemon says it started.
    d.expect_any("kind=\"order_filled\" path=master/engines/KC/executor detail=KC-news-00000077");
    let evs = events(&d, 0);
    let filled: Vec<_> = evs
        .iter()
        .filter(|e| {
            e["kind"] == "order_filled"
                && e["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("KC-news-00000077")
        })
        .collect();
    assert_eq!(filled.len(), 1, "{filled:?}");
    // The paper broker filled it at the journaled price plus one tick of slippage.
    assert!(
        filled[0]["detail"].as_str().unwrap().contains("@ 345.05"),
        "{}",
        filled[0]
    );
    // The old one is not sent at a three-minute-old price: rejected as stale.
    d.expect_any("kind=\"order_rejected\" path=master/engines/KC/executor detail=KC-news-00000076");
    let stale = events(&d, 0)
        .into_iter()
        .find(|e| {
            e["kind"] == "order_rejected"
                && e["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("KC-news-00000076")
        })
        .unwrap();
    assert!(
        stale["detail"].as_str().unwrap().contains("stale"),
        "{stale}"
    );
    assert!(!events(&d, 0).iter().any(|e| e["kind"] == "order_filled"
        && e["detail"]
            .as_str()
            .unwrap()
            .starts_with("KC-news-00000076")));
    // New decisions continue after the journaled sequence: no id is reused.
    d.signal(libc::SIGKILL);
    d.exit_code();
    let mut d = Daemon::start(&dir, &[[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat());
    // Filled: the order has moved from the order log into SQLite (its fill is
    // journaled in the same connection, after the move).
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    let c = rusqlite::Connection::open(&db).unwrap();
    let (n, pending, min_seq): (i64, i64, i64) = c
        .query_row(
            "SELECT COUNT(*), (SELECT COUNT(*) FROM orders WHERE engine = 'KC' AND status = 'pending' AND decision_seq <= 77),
                    (SELECT MIN(decision_seq) FROM orders WHERE engine = 'KC' AND decision_seq > 77)
             FROM fills WHERE client_order_id = 'KC-news-00000077'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (n, pending),
        (1, 0),
        "filled exactly once, nothing left pending"
    );
    assert!(min_seq > 77, "{min_seq}");
    assert!(
        !d.seen.iter().any(|l| l.contains("not journaled")),
        "no order was refused for a reused id"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_paused_engine_keeps_its_data_current_but_opens_nothing() {
    let dir = temp_dir("engines-pause");
    // Pause KC through the journal before the daemon starts, as an operator did
    // in an earlier run.
    let mut d = Daemon::start(&dir, &[]);
    d.post("/v1/engines/KC/pause", r#"{"reason":"test"}"#);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let orders_before: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM orders WHERE engine = 'KC'", [], |r| {
            r.get(0)
        })
        .unwrap();

    let mut d = Daemon::start(&dir, &[[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat());
    // The status view refreshes every second: wait (on CC's fills, not on a
    // clock) until it shows KC's data.
    let mut kc = serde_json::Value::Null;
    for _ in 0..200 {
        d.expect("kind=\"order_filled\" path=master/engines/CC/executor");
        let st = d.get("/v1/status");
        kc = common::engine(&st, "KC");
        if kc["last_price"].is_string() {
            break;
        }
    }
    assert_eq!(kc["state"], "paused");
    assert!(kc["last_price"].is_string(), "data keeps flowing: {kc}");
    assert!(kc["activity"]["events_in"].as_u64().unwrap() > 0, "{kc}");
    // Its orders in flight are listed (none rest on the default broker).
    assert!(kc["orders"].is_array(), "{kc}");
    assert_eq!(kc["activity"]["ended"], 0, "{kc}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let orders_after: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM orders WHERE engine = 'KC'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        orders_after, orders_before,
        "flat and paused: KC opened nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sentinel_keyword_alerts_and_escalates_the_risk_level() {
    let dir = temp_dir("engines-sentinel");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sentinels.toml");
    // "frost" is in the bundled KC headlines. The drawdown guards are set out of
    // reach and staleness is off: at 30,000x on a loaded machine their
    // escalations would race the sentinel's (a lagging feed is "stale").
    std::fs::write(
        &file,
        "[sentinels]\nkeywords = [\"frost\"]\n[staleness]\nmax_gap = \"0s\"\n\
         [risk]\nday_drawdown_warning = 0.8\nday_drawdown_halt = 0.9\n\
         peak_drawdown_warning = 0.8\npeak_drawdown_halt = 0.9\n\
         account_drawdown_warning = 0.8\naccount_drawdown_halt = 0.9\naccount_drawdown_panic = 0.95\n",
    )
    .unwrap();
    let mut d = Daemon::spawn_args(
        &dir,
        common::free_port(),
        &["--config", file.to_str().unwrap()],
        &[("COMMODORE__FEED__SPEED", "30000")],
    );
    d.expect_any("kind=\"sentinel\" path=master/engines/KC/sentinel detail=news_keyword");
    d.expect_any("kind=\"risk_changed\"");
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "WARNING", "{st}");
    assert!(
        st["risk"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("sentinel news_keyword"),
        "{st}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn degradation_executor_and_analyzer_faults_lose_no_order_and_send_none_twice() {
    let dir = temp_dir("engines-degrade");
    let mut d = Daemon::start(
        &dir,
        &[
            [FAST, ("COMMODORE__FAULTS__ENABLED", "true")].as_slice(),
            &NO_DRAWDOWN_GUARDS,
        ]
        .concat(),
    );
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    // Executor down: the next 3 messages it gets are answered with an injected
    // error instead of being handled. Those orders are journaled already: the
    // executor finds them pending, asks the broker, and re-drives them once;
    // or, when the ask came back after the order's price went stale (60 s of
    // market time is 20 ms at 3000x: a loaded machine), rejects them. Either
    // way never lost, never sent twice (checked below).
    d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/executor","kind":"error","count":3}"#,
    );
    d.expect_one_of(&[
        "re-driving an order journaled but not sent",
        "pending order the broker never saw, too old to send",
    ]);
    // Analyzer down (hung): market data for it is dropped and counted; the
    // supervisor finds the hang and restarts it.
    d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/analyzer","kind":"hang","ms":600000}"#,
    );
    d.expect("kind=\"restarted\" path=master/engines/KC/analyzer");
    // Gate down (a pure step inside the engine, faulted by its path): the
    // next two candidates are closed, the engine runs on. A step has no
    // mailbox to hang.
    d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/engine/gate","kind":"error","count":2}"#,
    );
    d.expect("kind=\"failed\" path=master/engines/KC/engine/gate");
    let (s, v) = d.call(
        "POST",
        "/v1/faults",
        Some(r#"{"path":"master/engines/KC/engine/gate","kind":"hang","ms":10}"#),
    );
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("takes panic or error"),
        "{v}"
    );
    let gate = d.node("master/engines/KC/engine/gate");
    assert_eq!(
        (gate["kind"].as_str(), gate["state"].as_str()),
        (Some("step"), Some("running"))
    );
    for _ in 0..3 {
        d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    }
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));

    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(order_invariants(&c), (0, 0));
    assert_eq!(
        q("SELECT COUNT(*) FROM orders o WHERE status = 'filled' AND (SELECT COUNT(*) FROM fills f WHERE f.client_order_id = o.client_order_id) != 1"),
        0,
        "every filled order has exactly one fill"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM orders WHERE status = 'pending'"),
        0,
        "nothing half-done"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Client order ids of the `order_submitted` lines a run logged, with counts.
fn submitted_ids(seen: &[String]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for l in seen
        .iter()
        .filter(|l| l.contains("kind=\"order_submitted\""))
    {
        *ids.entry(field(l, "detail").to_owned()).or_insert(0) += 1;
    }
    ids
}

#[test]
fn sigkill_mid_stream_loses_no_order_and_sends_none_twice() {
    let dir = temp_dir("engines-kill-mid");
    let db = dir.join("journal.sqlite");
    let env = [[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat();
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    let kills = 3;
    for _ in 0..kills {
        let mut d = Daemon::start(&dir, &env);
        // Trading at 3000x: orders in flight, the order log mid-move.
        for _ in 0..4 {
            d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
        }
        d.signal(libc::SIGKILL);
        d.exit_code();
        for (id, n) in submitted_ids(&d.seen) {
            assert_eq!(n, 1, "{id} sent twice within one run");
            *sent.entry(id).or_insert(0) += 1;
        }
        assert!(
            !d.seen.iter().any(|l| l.contains("never reused")),
            "no decision id was reused"
        );
    }
    let mut d = Daemon::start(&dir, &env);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    d.expect("kind=\"order_filled\" path=master/engines/CC/executor");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    for (id, n) in submitted_ids(&d.seen) {
        assert_eq!(n, 1, "{id} sent twice within one run");
        *sent.entry(id).or_insert(0) += 1;
    }
    assert!(sent.len() >= 4 * kills, "{} orders sent", sent.len());
    // Across runs an order is sent again only when a crash came between its
    // sending and its fill being journaled: at most once per crash.
    for (id, n) in &sent {
        assert!(*n <= 1 + kills, "{id} sent {n} times");
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(order_invariants(&c), (0, 0), "executed ⇔ journaled");
    assert_eq!(
        q("SELECT COUNT(*) FROM orders o WHERE status = 'filled' AND (SELECT COUNT(*) FROM fills f WHERE f.client_order_id = o.client_order_id) != 1"),
        0,
        "every filled order has exactly one fill"
    );
    assert!(q("SELECT COUNT(*) FROM fills") >= 4 * kills as i64);
    // Every decision has its one outcome, kill -9 or not: the outcomes of
    // decisions that sent no order are in the order log as they are made,
    // so the sequence has no gap.
    for engine in ["KC", "CC"] {
        let (n, max): (i64, i64) = c
            .query_row(
                "SELECT COUNT(DISTINCT decision_seq), MAX(decision_seq) FROM outcomes WHERE engine = ?1",
                [engine],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(n, max, "{engine}: decisions without an outcome");
        assert!(
            q(&format!(
                "SELECT COUNT(*) FROM outcomes WHERE engine = '{engine}' AND outcome != 'executed'"
            )) > 0,
            "{engine}: decisions that sent no order were made"
        );
    }
    // Every order sent is journaled (a crash lost none), and the order logs
    // were moved into SQLite when the engines stopped.
    for id in sent.keys() {
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM orders WHERE client_order_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{id} was sent but is not in the journal");
    }
    for id in ["KC", "CC"] {
        let log = commodore_actors::journal::order_log_path(&db, id);
        let len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 0, "{} still holds orders", log.display());
    }
    // Positions reconcile with the fills journaled across every crash.
    let mut replay: BTreeMap<String, Book> = BTreeMap::new();
    for f in journal_fills(&db) {
        let spec = contract(&f.engine).unwrap();
        replay
            .entry(f.engine.clone())
            .or_default()
            .apply(&f.engine, &f, &spec);
    }
    for id in ["KC", "CC"] {
        let line = final_figures(&d, id);
        assert_eq!(
            field(line, "position").parse::<Decimal>().unwrap(),
            replay[id].net(),
            "{id}: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_logs_a_status_line_per_engine_for_a_newcomer() {
    let dir = temp_dir("engines-status");
    let env = [FAST, ("COMMODORE__LOG__STATUS_EVERY", "1s")];
    let mut d = Daemon::start(&dir, &env);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    // CC's data starts 46 market minutes after the first headline (about a
    // second here): the second round of status lines has both markets.
    d.expect("status engine=CC state=running");
    for id in ["KC", "CC"] {
        d.expect(&format!("status engine={id} state=running"));
        let line = d
            .seen
            .iter()
            .rev()
            .find(|l| l.contains(&format!("status engine={id} ")))
            .unwrap()
            .clone();
        for key in [
            "events_in",
            "signals",
            "outcomes",
            "orders",
            "fills",
            "position",
            "last",
            "pnl",
            "unrealized_pnl",
            "equity",
            "breaker",
            "risk",
            "mode",
        ] {
            assert!(line.contains(&format!(" {key}=")), "{key} in {line}");
        }
        assert!(
            field(&line, "events_in").parse::<u64>().unwrap() > 0,
            "{line}"
        );
        // Logfmt-clean: after the message, every field is one key=value
        // with no space in the value and no second `=`.
        let fields = line.split_once(" status ").unwrap().1;
        for kv in fields.split(' ') {
            assert_eq!(kv.matches('=').count(), 1, "{kv:?} in {line}");
            assert!(!kv.ends_with('='), "{kv:?} in {line}");
        }
        // The level may have risen by then (market time runs fast here).
        assert!(
            ["NORMAL", "WARNING", "HALT", "PANIC"].contains(&field(&line, "risk")),
            "{line}"
        );
    }
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each strategy's part of an engine, as `GET /v1/status` shows it, is what
/// the journal's fills make of it (folded through the one book: the lots'
/// owners, the orders' commissions), to the cent; the parts add up to the
/// engine.
#[test]
fn each_strategys_figures_reconcile_with_the_journal_to_the_cent() {
    let dir = temp_dir("engines-strategies");
    let mut d = Daemon::start(&dir, &[[FAST].as_slice(), &NO_DRAWDOWN_GUARDS].concat());
    for _ in 0..4 {
        d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    }
    // Stopped, the engine sends nothing more; its last figures stay.
    let (code, v) = d.call(
        "POST",
        "/v1/engines/KC/stop",
        Some(r#"{"reason":"reconcile the strategies"}"#),
    );
    assert_eq!(code, 202, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let kc = loop {
        let st = d.get("/v1/status");
        let kc = st["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == "KC")
            .cloned()
            .unwrap();
        if kc["state"] == "stopped" || std::time::Instant::now() > deadline {
            break kc;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(kc["state"], "stopped", "{kc}");
    let spec = contract("KC").unwrap();
    let mut book = Book::default();
    let mut fees: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut tallies: BTreeMap<String, TradeTally> = BTreeMap::new();
    for f in journal_fills(&dir.join("journal.sqlite"))
        .iter()
        .filter(|f| f.engine == "KC")
    {
        let (_, trips) = book.apply_trips("KC", f, &spec);
        for (owner, trip) in &trips {
            tallies.entry(owner.to_string()).or_default().add(trip);
        }
        let owner = commodore_actors::model::Strategy::of_order("KC", &f.client_order_id);
        *fees.entry(owner.to_string()).or_default() += f.commission;
    }
    let dec = |v: &serde_json::Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    let strategies = kc["strategies"].as_array().unwrap();
    assert!(
        strategies.iter().any(|s| s["strategy"] == "news"),
        "{strategies:?}"
    );
    let mut sum = Decimal::ZERO;
    for s in strategies {
        let name = s["strategy"].as_str().unwrap();
        let owner = commodore_actors::model::Strategy::name(name).unwrap();
        let realized = book.realized_by().get(&owner).copied().unwrap_or_default()
            - fees.get(name).copied().unwrap_or_default();
        assert_eq!(dec(&s["realized_pnl"]), realized, "{name}: {s}");
        assert_eq!(dec(&s["position"]), book.held_by(owner), "{name}: {s}");
        // Its round trips: the lots it owned, closed (by anyone).
        let t = tallies.get(name).cloned().unwrap_or_default();
        assert_eq!(
            s["trades"]["trades"].as_u64().unwrap(),
            t.trades,
            "{name}: {s}"
        );
        assert_eq!(
            dec(&s["trades"]["gross"]),
            t.gross_win - t.gross_loss,
            "{name}: {s}"
        );
        if ["news", "momentum"].contains(&name) {
            assert!(s["curve"]["return_pct"].is_f64(), "a live curve: {s}");
        }
        sum += realized;
    }
    assert_eq!(sum, dec(&kc["realized_pnl"]), "the parts add up: {kc}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
