//! `commodore replay` on the real binary: the bundled week as recorded data,
//! the report against the replay's own journal, determinism, and every data
//! error a user can make.

mod common;

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The bundled bars of both contracts as one replay file, in time order,
/// each bar under its month (`KCH26`; the roll day has both months).
fn week_csv(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/data");
    let mut rows = Vec::new();
    for symbol in ["KC", "CC"] {
        let text = std::fs::read_to_string(root.join(format!("{symbol}_bars.csv"))).unwrap();
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let (at, rest) = line.split_once(',').unwrap();
            let (prices, month) = rest.rsplit_once(',').unwrap();
            assert!(month.starts_with(symbol), "{line}");
            rows.push(format!("{at},{month},{prices}"));
        }
    }
    rows.sort();
    let path = dir.join("week.csv");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &path,
        format!(
            "at,symbol,open,high,low,close,volume\n{}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    path
}

fn replay(dir: &Path, data: &Path, out: &str, env: &[(&str, &str)]) -> Output {
    let news = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/data/news.csv");
    let mut cmd = commodore();
    cmd.arg("replay")
        .arg("--data")
        .arg(data)
        .arg("--news")
        .arg(news)
        .arg("--out")
        .arg(dir.join(out))
        .env("COMMODORE__DATA_DIR", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn report(dir: &Path, out: &str) -> Value {
    let file = std::fs::read_dir(dir.join(out))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON report");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// The journal of the (one) replay run in `dir`.
fn replay_journal(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("replay"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("journal.sqlite")
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn a_replay_of_the_bundled_week_reports_what_its_journal_holds_and_is_deterministic() {
    let dir = temp_dir("replay-week");
    let data = week_csv(&dir);
    // A live journal beside it, which a replay must leave as it is.
    let live = dir.join("journal.sqlite");
    rusqlite::Connection::open(&live)
        .unwrap()
        .execute_batch("CREATE TABLE live (x); INSERT INTO live VALUES (1);")
        .unwrap();
    let live_before = std::fs::read(&live).unwrap();
    let out = replay(&dir, &data, "a", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("portfolio: capital 500000.00"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("replay 100%"));
    let r = report(&dir, "a");
    assert_eq!(r["bars"], 5955, "KC's roll day quotes both months");
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("2026-02-09T09:15:00Z"), Some("2026-02-13T18:29:00Z"))
    );

    // The replay's own journal, never the live one.
    assert_eq!(
        std::fs::read(&live).unwrap(),
        live_before,
        "the live journal is untouched"
    );
    let journal = replay_journal(&dir);
    let c = rusqlite::Connection::open(&journal).unwrap();
    // The test's own reading of the fills: PnL at the last close of each
    // contract month = Σ sign × qty × (close − price) × point value −
    // commissions (KC's roll leaves March at its last close, on the roll day).
    let last_close = |symbol: &str| -> Decimal {
        let text = std::fs::read_to_string(&data).unwrap();
        let line = text
            .lines()
            .rev()
            .find(|l| l.split(',').nth(1) == Some(symbol))
            .unwrap();
        line.split(',').nth(5).unwrap().parse().unwrap()
    };
    let point_value = |symbol: &str| Decimal::from(if symbol == "KC" { 375 } else { 10 });
    let mut total_pnl = Decimal::ZERO;
    let mut fills_total = 0;
    for e in r["engines"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        let mut stmt = c
            .prepare("SELECT side, qty, price, commission, symbol FROM fills WHERE engine = ?1")
            .unwrap();
        let rows: Vec<(String, String, String, String, String)> = stmt
            .query_map([id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(rows.len() > 10, "{id} traded: {} fills", rows.len());
        let (mut pnl, mut qty) = (Decimal::ZERO, Decimal::ZERO);
        for (side, q, p, fee, month) in &rows {
            assert!(month.starts_with(id) && month.len() == 5, "{id}: {month}");
            let mark = last_close(month);
            let sign = if side == "buy" {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            let (q, p, fee): (Decimal, Decimal, Decimal) =
                (q.parse().unwrap(), p.parse().unwrap(), fee.parse().unwrap());
            pnl += sign * q * (mark - p) * point_value(id) - fee;
            qty += sign * q;
        }
        assert_eq!(
            dec(&e["pnl"]),
            pnl.round_dp(2),
            "{id}: the report's PnL is the journal's"
        );
        assert_eq!(
            e["position"].as_str().unwrap().parse::<Decimal>().unwrap(),
            qty
        );
        assert_eq!(e["fills"].as_u64().unwrap(), rows.len() as u64);
        // Its strategies add up to it.
        let strategies: Vec<&Value> = r["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["engine"] == id)
            .collect();
        let sum: Decimal = strategies.iter().map(|s| dec(&s["pnl"])).sum();
        assert_eq!(sum, dec(&e["pnl"]), "{id}: Σ strategies = the engine");
        // Each strategy's round trips add up to its realized PnL to the
        // cent, its fees to its commissions.
        for s in &strategies {
            let t = &s["trades"];
            assert_eq!(dec(&t["fees"]), dec(&s["commissions"]), "{s}");
            assert_eq!(
                dec(&t["gross"]) - dec(&t["fees"]),
                dec(&s["realized_pnl"]),
                "{s}"
            );
            // Its curve ends at its share of the capital plus its PnL (the
            // engine's own owners, `roll` here, have no share and no curve).
            let c = &s["curve"];
            if s["capital"].is_null() {
                assert!(c.is_null(), "{s}");
                continue;
            }
            let capital: f64 = s["capital"].as_str().unwrap().parse().unwrap();
            let pnl: f64 = s["pnl"].as_str().unwrap().parse().unwrap();
            let want = pnl / capital * 100.0;
            assert!(
                (c["return_pct"].as_f64().unwrap() - want).abs() < 1e-3,
                "{s}"
            );
            let dd = c["max_drawdown_pct"].as_f64().unwrap();
            assert!((0.0..100.0).contains(&dd), "{s}");
            assert!(c["sharpe"].is_f64(), "five days: a Sharpe ratio: {s}");
            let (n, wins) = (t["trades"].as_u64().unwrap(), t["wins"].as_u64().unwrap());
            assert!(wins <= n, "{s}");
            if s["strategy"] != "roll" {
                assert!(n > 0, "{s}");
            }
        }
        let names: Vec<&str> = strategies
            .iter()
            .map(|s| s["strategy"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"news") && names.contains(&"momentum"),
            "{names:?}"
        );
        // KC rolled on Wednesday: two legs, March closed, May opened; CC
        // was in May all week.
        let rolled: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM events WHERE kind = 'rolled' AND path = ?1",
                [format!("master/engines/{id}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rolled, i64::from(id == "KC"), "{id}");
        assert_eq!(names.contains(&"roll"), id == "KC", "{names:?}");
        // Every decision has its outcome.
        let outcomes: BTreeMap<String, u64> =
            serde_json::from_value(e["outcomes"].clone()).unwrap();
        let decisions: i64 = c
            .query_row(
                "SELECT MAX(decision_seq) FROM outcomes WHERE engine = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            outcomes.values().sum::<u64>(),
            decisions as u64,
            "{outcomes:?}"
        );
        total_pnl += pnl;
        fills_total += rows.len();
    }
    let p = &r["portfolio"];
    assert_eq!(dec(&p["pnl"]), total_pnl.round_dp(2));
    assert_eq!(
        dec(&p["final_equity"]),
        Decimal::from(500_000) + total_pnl.round_dp(2)
    );
    assert_eq!(p["fills"].as_u64().unwrap(), fills_total as u64);
    let curve = p["equity_curve"].as_array().unwrap();
    assert!(curve.len() > 1000, "{} points", curve.len());
    assert_eq!(
        dec(&curve.last().unwrap()["equity"]),
        dec(&p["final_equity"])
    );
    let dd = p["max_drawdown_pct"].as_f64().unwrap();
    assert!(dd > 0.0 && dd < 100.0, "{dd}");

    let html = std::fs::read_dir(dir.join("a"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "html"))
        .unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    // Equity and drawdown of the portfolio and of each engine, and the
    // equity of each strategy with a share of the capital.
    let shares = r["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["equity_curve"].is_array())
        .count();
    assert_eq!(shares, 4, "news and momentum on KC and CC");
    assert_eq!(html.matches("<svg").count(), 2 + 2 * 2 + shares);
    for title in [
        "Portfolio: equity (USD)",
        "Portfolio: drawdown",
        "KC (pnl ",
        "CC momentum: equity (USD) on its share of the capital",
        "starting capital",
        "market closed",
        "trade closed",
        "<h2>Round trips</h2>",
        "<h2>Configuration</h2>",
    ] {
        assert!(html.contains(title), "{title} missing from the page");
    }
    // The figures a trader judges by, at every level; the round trips add
    // up to the strategies' (before commissions); the config that ran.
    for m in std::iter::once(&p["metrics"]).chain(
        r["engines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["metrics"]),
    ) {
        for key in [
            "total_return_pct",
            "sharpe",
            "max_drawdown_pct",
            "win_rate",
            "profit_factor",
            "exposure_pct",
        ] {
            assert!(m[key].is_f64(), "{key}: {m}");
        }
        assert!(m["cagr_pct"].is_null(), "five days are not annualized: {m}");
        assert!(m["trades"].as_u64().unwrap() > 0, "{m}");
    }
    let strategies = r["strategies"].as_array().unwrap();
    let trips = r["round_trips"].as_array().unwrap();
    assert_eq!(r["round_trips_omitted"], 0);
    assert_eq!(
        trips.len() as u64,
        p["metrics"]["trades"].as_u64().unwrap(),
        "every round trip listed"
    );
    let gross: Decimal = strategies.iter().map(|s| dec(&s["trades"]["gross"])).sum();
    assert_eq!(trips.iter().map(|t| dec(&t["pnl"])).sum::<Decimal>(), gross);
    for e in r["engines"].as_array().unwrap() {
        let n: u64 = strategies
            .iter()
            .filter(|s| s["engine"] == e["id"])
            .map(|s| s["metrics"]["trades"].as_u64().unwrap())
            .sum();
        assert_eq!(e["metrics"]["trades"].as_u64().unwrap(), n, "{}", e["id"]);
        // A position left open is listed, by owner, adding up to the engine's.
        let open: Decimal = r["open_positions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["engine"] == e["id"])
            .map(|o| dec(&o["qty"]))
            .sum();
        assert_eq!(open, dec(&e["position"]), "{}", e["id"]);
    }
    assert!(
        r["config"].as_str().unwrap().contains("[[engines]]"),
        "{}",
        r["config"]
    );

    // One market clock: fills, in the order they were journaled, never go
    // back in market time by more than a bar, across the engines.
    let mut stmt = c
        .prepare("SELECT engine, at_ms FROM fills ORDER BY id")
        .unwrap();
    let fills: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut newest = (String::new(), 0i64);
    for (engine, at) in &fills {
        assert!(
            *at >= newest.1 - 60_000,
            "a {engine} fill at {at} journaled after a {} fill at {}",
            newest.0,
            newest.1
        );
        if *at > newest.1 {
            newest = (engine.clone(), *at);
        }
    }
    // Reconciled after each close, journal and paper broker agreeing, and
    // each day summed up: the days' PnL add up to the replay's, and the last
    // day's equity is its final equity.
    let mut stmt = c
        .prepare(
            "SELECT kind, detail FROM events WHERE path = 'master/reconcile'
             AND kind IN ('daily_summary', 'reconcile_mismatch') ORDER BY seq",
        )
        .unwrap();
    let reconciled: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let days: Vec<&str> = reconciled.iter().map(|(_, d)| &d[..10]).collect();
    assert_eq!(
        days,
        [
            "2026-02-09",
            "2026-02-10",
            "2026-02-11",
            "2026-02-12",
            "2026-02-13"
        ],
        "{reconciled:?}"
    );
    let figure = |detail: &str, after: &str| -> Decimal {
        let rest = detail.split(after).nth(1).unwrap();
        let end = rest.find([' ', ')', ';']).unwrap();
        rest[..end].trim_start_matches('+').parse().unwrap()
    };
    let days_pnl: Decimal = reconciled.iter().map(|(_, d)| figure(d, "pnl ")).sum();
    assert_eq!(days_pnl, dec(&p["pnl"]), "{reconciled:?}");
    assert_eq!(
        figure(&reconciled[4].1, "(equity "),
        dec(&p["final_equity"])
    );
    for (kind, detail) in &reconciled {
        assert_eq!(kind, "daily_summary", "{detail}");
        assert!(detail.ends_with("2 engine(s) match the broker"), "{detail}");
    }
    assert!(reconciled[0].1.contains("; fills "), "{reconciled:?}");
    let matched = r["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "journal_matches_broker_daily")
        .unwrap()
        .clone();
    assert!(
        matched["detail"]
            .as_str()
            .unwrap()
            .starts_with("5 market days reconciled"),
        "{matched}"
    );
    // Every invariant holds, none of the reads saw the market's future.
    for check in r["invariants"].as_array().unwrap() {
        assert_eq!(check["holds"], true, "{check}");
    }
    assert_eq!(r["run"]["lookahead"]["violations"], 0);
    assert!(r["faults"].as_array().unwrap().is_empty());

    // The virtual clock has no wall time in it: the same data, the same report.
    let again = replay(&dir, &data, "b", &[]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(report(&dir, "b"), r, "a replay is deterministic");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `commodore replay` on the bundled week with seeded faults.
fn faulted(dir: &Path, out: &str, faults: &str, seed: &str) -> Output {
    commodore()
        .args(["replay", "--faults", faults, "--seed", seed, "--out"])
        .arg(dir.join(out))
        .env("COMMODORE__DATA_DIR", dir)
        .output()
        .unwrap()
}

#[test]
fn a_seeded_replay_injects_its_faults_deterministically_and_its_invariants_hold() {
    let dir = temp_dir("replay-faults");
    let out = faulted(&dir, "a", "12", "7");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let r = report(&dir, "a");
    assert_eq!(r["seed"], 7);
    assert_eq!(r["data"], "bundled", "no --data: the bundled week");
    let faults = r["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 12);
    for f in faults {
        assert!(f["path"].as_str().unwrap().starts_with("master/"), "{f}");
        assert!(f["at"].as_str().unwrap().starts_with("2026-02-"), "{f}");
    }
    assert_eq!(r["run"]["faults_injected"], 12);
    assert!(
        r["run"]["failures"].as_u64().unwrap() > 0,
        "faults were felt"
    );
    let names: Vec<&str> = r["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["holds"], true, "{c}");
            c["name"].as_str().unwrap()
        })
        .collect();
    for name in [
        "unique_client_order_ids",
        "fills_are_parts_of_their_order",
        "positions_match_fills",
        "risk_level_only_rises_without_reset",
        "one_outcome_per_decision",
        "event_seq_without_gaps",
        "no_lookahead",
    ] {
        assert!(names.contains(&name), "{name} checked: {names:?}");
    }
    // The same seed: the same faults at the same market times, the same
    // report, byte for byte.
    let again = faulted(&dir, "b", "12", "7");
    assert_eq!(again.status.code(), Some(0));
    let read = |out: &str| {
        let file = std::fs::read_dir(dir.join(out))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .unwrap();
        std::fs::read(file).unwrap()
    };
    assert_eq!(read("a"), read("b"), "byte-identical reports");
    // Another seed, other faults.
    let other = faulted(&dir, "c", "12", "8");
    assert_eq!(other.status.code(), Some(0));
    assert_ne!(report(&dir, "c")["faults"], r["faults"]);
    // Too many faults is a usage error that says the bound.
    let too_many = faulted(&dir, "d", "10001", "1");
    assert_eq!(too_many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("at most 10000"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_runs_seeds_side_by_side_and_prints_a_table() {
    let dir = temp_dir("replay-simulate");
    let out = commodore()
        .args([
            "simulate", "--seeds", "20..22", "--faults", "6", "--jobs", "2",
        ])
        .env("COMMODORE__DATA_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("seed  exit"), "{stdout}");
    for seed in ["20", "21"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(seed) && l.ends_with("invariants hold")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("2 seeds in"), "{stdout}");
    assert!(stdout.contains("2 held, 0 failed"), "{stdout}");
    // A range a user gets wrong says what to give.
    let bad = commodore()
        .args(["simulate", "--seeds", "9..3"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("give A..B"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_a_user_gets_wrong_is_refused_with_the_line_and_what_to_do() {
    let dir = temp_dir("replay-errors");
    std::fs::create_dir_all(&dir).unwrap();
    let head = "at,symbol,open,high,low,close,volume\n";
    let kc = "2026-01-05T09:15:00Z,KC,345.00,345.05,344.90,344.95,40\n";
    let cc = "2026-01-05T09:45:00Z,CC,6150,6150,6142,6142,67\n";
    for (name, text, says) in [
        (
            "header",
            format!("time,sym\n{kc}"),
            "line 1: expected the header",
        ),
        (
            "symbol",
            format!("{head}{kc}2026-01-05T09:16:00Z,KX,1,1,1,1,1\n{cc}"),
            "line 3: unknown symbol \"KX\": the contracts are KC, CC",
        ),
        (
            "fields",
            format!("{head}{kc}2026-01-05T09:16:00Z,KC,1,2\n"),
            "line 3: expected 7 fields, got 4",
        ),
        (
            "price",
            format!("{head}{kc}2026-01-05T09:16:00Z,KC,abc,2,1,1,1\n"),
            "line 3: open \"abc\"",
        ),
        (
            "negative",
            format!("{head}{kc}2026-01-05T09:16:00Z,KC,-1,2,-2,1,1\n"),
            "not a positive price",
        ),
        (
            "range",
            format!("{head}2026-01-05T09:15:00Z,KC,345,344,343,344,1\n{cc}"),
            "line 2: low above open/close or high below them",
        ),
        (
            "order",
            format!("{head}{kc}{cc}{kc}"),
            "line 4: the bars of KC must be in strictly increasing time",
        ),
        (
            "time",
            format!("{head}yesterday,KC,1,1,1,1,1\n"),
            "line 2: bad time",
        ),
        (
            "huge",
            format!(
                "{head}2026-01-05T09:15:00Z,KC,2000000000,2000000000,2000000000,2000000000,1\n"
            ),
            "line 2: open 2000000000 is above 1000000000",
        ),
        (
            "missing",
            format!("{head}{kc}"),
            "no bars for CC (engine CC)",
        ),
    ] {
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = replay(&dir, &path, "out", &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.csv")),
            "{name}: names the file: {err}"
        );
    }
    let out = replay(&dir, &dir.join("absent.csv"), "out", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.join("out").exists(), "no report without a replay");
    // An --out that cannot be written is said before the run, not after it.
    std::fs::write(dir.join("a-file"), "").unwrap();
    let out = commodore()
        .args(["replay", "--out"])
        .arg(dir.join("a-file").join("reports"))
        .env("COMMODORE__DATA_DIR", &dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the report cannot be written there"), "{err}");
    assert!(
        !err.contains("replay 100%"),
        "refused before the run: {err}"
    );
    assert!(!dir.join("replay").exists(), "no journal without a replay");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two gaps in KC's bars on one trading day (Tuesday 09:00-09:20 and
/// 10:00-10:20 in New York): each is `stale` then `recovered` at KC's sentinel,
/// CC is never stale, and the second gap raises the risk level to WARNING.
#[test]
fn gaps_in_the_data_make_an_engine_stale_and_the_second_warns() {
    let dir = temp_dir("replay-stale");
    let full = week_csv(&dir);
    let text = std::fs::read_to_string(&full).unwrap();
    let gap = |line: &str| {
        let at = &line[..16];
        line.contains(",KCH26,")
            && (("2026-02-10T14:00".."2026-02-10T14:20").contains(&at)
                || ("2026-02-10T15:00".."2026-02-10T15:20").contains(&at))
    };
    let kept: Vec<&str> = text.lines().filter(|l| !gap(l)).collect();
    assert_eq!(text.lines().count() - kept.len(), 40, "two 20-minute gaps");
    let data = dir.join("gaps.csv");
    std::fs::write(&data, kept.join("\n") + "\n").unwrap();

    // The drawdown guards out of reach: the level is NORMAL until the gaps.
    let out = replay(&dir, &data, "out", &NO_DRAWDOWN_GUARDS);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let journal = replay_journal(&dir);
    let c = rusqlite::Connection::open(&journal).unwrap();
    let events = |path: &str| -> Vec<(String, String)> {
        let mut s = c
            .prepare("SELECT kind, detail FROM events WHERE path = ?1 AND kind IN ('stale', 'recovered') ORDER BY seq")
            .unwrap();
        s.query_map([path], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let kc = events("master/engines/KC/sentinel");
    let kinds: Vec<&str> = kc.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["stale", "recovered", "stale", "recovered"],
        "{kc:?}"
    );
    assert!(kc[0].1.contains("gap 1 today"), "{kc:?}");
    assert!(kc[2].1.contains("gap 2 today"), "{kc:?}");
    assert!(
        events("master/engines/CC/sentinel").is_empty(),
        "CC's data had no gap"
    );
    let changes: Vec<String> = c
        .prepare("SELECT detail FROM events WHERE kind = 'risk_changed' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        changes.first().is_some_and(
            |d| d.contains("NORMAL -> WARNING") && d.contains("market data stale again")
        ),
        "the second gap raised the level to WARNING: {changes:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A desk's own strategies, through the real binary: `[[engines.strategies]]`
/// with a breakout and a mean reversion beside the news, a replay of the
/// bundled week that trades them and exits them by their own rules, and a
/// configuration mistake refused with what to do.
#[test]
fn strategies_of_every_kind_trade_under_their_own_names() {
    let dir = temp_dir("replay-strategies");
    let data = week_csv(&dir);
    let cfg = dir.join("strategies.toml");
    let engines = "\
[[engines]]
id = \"KC\"
capital = \"1000000\"
[[engines.strategies]]
name = \"news\"
weight = 0.3
[[engines.strategies]]
name = \"turtle\"
kind = \"breakout\"
weight = 0.35
params = { window = 30, exit_window = 15 }
max_hold = \"20m\"
[[engines.strategies]]
name = \"mr\"
kind = \"mean_reversion\"
weight = 0.35
params = { window = 30, entry_z = 2.5 }
";
    std::fs::write(&cfg, engines).unwrap();
    // The engines are KC alone: its bars alone.
    let news = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/data/news.csv");
    let kc_only = dir.join("kc.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let kc: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("at,") || l.contains(",KC"))
        .collect();
    std::fs::write(&kc_only, kc.join("\n") + "\n").unwrap();
    let out = commodore()
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(&kc_only)
        .arg("--news")
        .arg(news)
        .arg("--out")
        .arg(dir.join("mine"))
        .env("COMMODORE__DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = rusqlite::Connection::open(replay_journal(&dir)).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    for name in ["turtle", "mr"] {
        let orders = count(&format!(
            "SELECT COUNT(*) FROM orders WHERE strategy = '{name}' AND client_order_id LIKE 'KC-{name}-%-KC%'"
        ));
        assert!(orders >= 2, "{name}: {orders} orders");
        let exits = count(&format!(
            "SELECT COUNT(*) FROM outcomes WHERE strategy = '{name}' AND outcome = 'executed' AND detail LIKE '%(exit: %'"
        ));
        assert!(exits >= 1, "{name} exits by its own rule: {exits}");
    }
    let timed = count(
        "SELECT COUNT(*) FROM outcomes WHERE strategy = 'turtle' AND detail LIKE '%(exit: time stop: held 2_ min, at most 20)'",
    );
    assert!(timed >= 1, "the turtle's time stop: {timed}");
    let r = report(&dir, "mine");
    let names: Vec<&str> = r["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["strategy"].as_str().unwrap())
        .collect();
    for name in ["news", "turtle", "mr"] {
        assert!(names.contains(&name), "{names:?}");
    }
    assert!(!names.contains(&"momentum"), "not configured: {names:?}");

    // Weights over 1: refused, the total named, before anything runs.
    std::fs::write(&cfg, engines.replace("weight = 0.3\n", "weight = 0.5\n")).unwrap();
    let out = commodore()
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("engines.strategies.weight: engine \"KC\": the weights sum to 1.2, above 1"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The paper market of `[broker]` in a replay: limit entries that rest and
/// expire, fills in parts under a participation cap, spread, latency and
/// random slippage; the invariants hold (a limit fill is never beyond its
/// limit, each part once), and the seed decides the fills: the same seed,
/// the same fills; another, others.
#[test]
fn a_replay_on_a_realistic_paper_market_fills_in_parts_and_its_seed_decides_the_fills() {
    let dir = temp_dir("replay-market");
    let data = week_csv(&dir);
    let text = std::fs::read_to_string(&data).unwrap();
    let kc: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("at,") || l.contains(",KC"))
        .collect();
    let kc_only = dir.join("kc.csv");
    std::fs::write(&kc_only, kc.join("\n") + "\n").unwrap();
    let cfg = dir.join("market.toml");
    std::fs::write(
        &cfg,
        "\
[broker]
latency = \"500ms\"
spread_ticks = 2
slippage_random_ticks = 3
participation = 0.05

[[engines]]
id = \"KC\"
capital = \"1000000\"
[[engines.strategies]]
name = \"news\"
weight = 0.3
[[engines.strategies]]
name = \"turtle\"
kind = \"breakout\"
weight = 0.35
params = { window = 30, exit_window = 15 }
order = \"limit\"
limit_expiry = \"10m\"
[[engines.strategies]]
name = \"mr\"
kind = \"mean_reversion\"
weight = 0.35
params = { window = 30, entry_z = 2.5 }
order = \"limit\"
limit_offset_ticks = 1
limit_expiry = \"5m\"
",
    )
    .unwrap();
    let news = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/data/news.csv");
    let run = |n: &str, seed: &str| -> Vec<(String, i64, String, String)> {
        let sub = dir.join(n);
        let out = commodore()
            .args(["replay", "--config"])
            .arg(&cfg)
            .arg("--data")
            .arg(&kc_only)
            .arg("--news")
            .arg(&news)
            .args(["--seed", seed, "--out"])
            .arg(sub.join("out"))
            .env("COMMODORE__DATA_DIR", &sub)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = report(&sub, "out");
        let failed: Vec<&Value> = r["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| !c["holds"].as_bool().unwrap())
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
        let c = rusqlite::Connection::open(replay_journal(&sub)).unwrap();
        let mut s = c
            .prepare("SELECT client_order_id, part, qty, price FROM fills ORDER BY id")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let a = run("a", "7");
    let j = rusqlite::Connection::open(replay_journal(&dir.join("a"))).unwrap();
    let count = |sql: &str| -> i64 { j.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert!(
        count("SELECT COUNT(*) FROM orders WHERE limit_price != ''") >= 2,
        "limit entries"
    );
    assert!(
        count("SELECT COUNT(*) FROM fills WHERE part > 1") >= 1,
        "fills in parts"
    );
    assert!(
        count("SELECT COUNT(*) FROM orders WHERE detail LIKE 'expired: %'") >= 1,
        "a limit entry that expired"
    );
    assert_eq!(a, run("b", "7"), "the same seed, the same fills");
    assert_ne!(a, run("c", "8"), "another seed, other slippage");
    let _ = std::fs::remove_dir_all(&dir);
}
