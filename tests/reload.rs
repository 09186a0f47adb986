//! A live config reload through the real binary: `POST /v1/config/reload`,
//! `ctl reload` and SIGHUP re-read the daemon's `--config` file. An invalid
//! file answers 422 with every error and changes nothing; a key only a
//! restart applies is refused; a valid change is journaled and applied
//! (engines rebuilt, added and removed through the kernel's dynamic
//! children) while the daemon keeps running.

mod common;

use common::{events, free_port, temp_dir, Daemon};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// 3000x: a bar every 20 ms.
const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");

fn write(file: &Path, toml: &str) {
    std::fs::write(file, toml).unwrap();
}

fn reload(d: &Daemon) -> (u16, Value) {
    d.call("POST", "/v1/config/reload", Some(r#"{"reason":"test"}"#))
}

fn kinds(d: &Daemon, kind: &str) -> Vec<Value> {
    events(d, 0)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Waits (bounded) until `/v1/status` lists exactly `ids`, all running.
fn wait_engines(d: &mut Daemon, ids: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = d.get("/v1/status");
        let engines = last["engines"].as_array().cloned().unwrap_or_default();
        let listed: Vec<&str> = engines.iter().filter_map(|e| e["id"].as_str()).collect();
        if listed == ids && engines.iter().all(|e| e["state"] == "running") {
            return last;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    d.wait_for("never printed");
    let log: Vec<&String> = d
        .seen
        .iter()
        .filter(|l| {
            l.contains("reload")
                || l.contains("ERROR")
                || l.contains("path=master/engines/KC ")
                || l.contains("KC2")
        })
        .collect();
    panic!("engines never became {ids:?} and running: {last}\n{log:#?}");
}

const BASE: &str = r#"
[risk]
max_order_qty = 10
"#;

#[test]
fn a_reload_applies_a_valid_config_and_refuses_an_invalid_one_whole() {
    let dir = temp_dir("reload");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desk.toml");
    write(&file, BASE);
    let f = file.to_str().unwrap();
    let mut d = Daemon::spawn_args(&dir, free_port(), &["--config", f], &[FAST]);
    d.wait_ready();

    // Nothing changed: nothing to do.
    let (code, r) = reload(&d);
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["changed"], Value::Array(vec![]), "{r}");

    // Two sections wrong: both named, nothing changed.
    write(
        &file,
        "[risk]\nmax_order_qty = 0\n[pipeline]\nmin_consensus = 7.0\n",
    );
    let (code, r) = reload(&d);
    assert_eq!(code, 422, "{r}");
    assert_eq!(r["error"]["code"], "invalid_config", "{r}");
    let errors: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("pipeline.min_consensus")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("risk.max_order_qty")),
        "{errors:?}"
    );
    // `ctl reload` prints each of them and exits 1.
    let out = d.ctl(&["reload"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the configuration is not valid (2 error(s))")
            && err.contains("min_consensus"),
        "{err}"
    );

    // A key only a restart applies: refused, with the key.
    write(&file, &format!("{BASE}[log]\nstatus_every = \"7s\"\n"));
    let (code, r) = reload(&d);
    assert_eq!(code, 422, "{r}");
    assert_eq!(
        r["errors"][0], "log.status_every: needs a restart to change",
        "{r}"
    );
    assert!(
        kinds(&d, "config_reloaded").is_empty(),
        "nothing was applied"
    );

    // Valid: a risk limit (every engine reads it), KC's capital, the mode's
    // check interval, and an engine added (no strategy weight: it trades
    // nothing, so it can be removed below).
    write(
        &file,
        r#"
[risk]
max_order_qty = 3
[mode]
check_every = "2s"
[[engines]]
id = "KC"
capital = "300000"
[[engines]]
id = "CC"
[[engines]]
id = "KC2"
symbol = "KC"
strategies = { news = 0.0, momentum = 0.0 }
"#,
    );
    let (code, r) = reload(&d);
    assert_eq!(code, 200, "{r}");
    let list = |k: &str| -> Vec<String> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        list("changed"),
        [
            "engines.KC.capital",
            "engines.KC2",
            "mode.check_every",
            "risk.max_order_qty"
        ]
    );
    assert_eq!(list("replaced"), ["KC", "CC"]);
    assert_eq!(list("added"), ["KC2"]);
    let reloaded = kinds(&d, "config_reloaded");
    assert_eq!(reloaded.len(), 1);
    assert_eq!(
        reloaded[0]["detail"],
        "config reloaded (test): engines.KC.capital, engines.KC2, mode.check_every, risk.max_order_qty"
    );
    let st = wait_engines(&mut d, &["KC", "CC", "KC2"]);
    assert_eq!(
        st["risk"]["level"], "NORMAL",
        "a capital change is no drawdown: {st}"
    );
    assert_eq!(d.node("master/engines/KC2")["state"], "running");
    // KC runs on its new capital (once the new engine has published: a
    // subtree is listed running as its children start).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let kc = common::engine(&d.get("/v1/status"), "KC");
        let equity: f64 = kc["equity"].as_str().unwrap().parse().unwrap();
        if equity > 280_000.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{kc}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.node("master/mode")["state"], "running");
    // The new engine gets its symbol's bars from the one sequencer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = d.get("/v1/status");
        let kc2 = common::engine(&st, "KC2");
        if kc2["activity"]["events_in"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "KC2 never got a bar: {kc2}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // SIGHUP reloads too: KC2 removed (flat: it never traded).
    write(
        &file,
        r#"
[risk]
max_order_qty = 3
[mode]
check_every = "2s"
[[engines]]
id = "KC"
capital = "300000"
[[engines]]
id = "CC"
"#,
    );
    d.signal(libc::SIGHUP);
    d.expect("SIGHUP: configuration reloaded");
    wait_engines(&mut d, &["KC", "CC"]);
    let reloaded = kinds(&d, "config_reloaded");
    assert_eq!(reloaded.len(), 2);
    assert_eq!(
        reloaded[1]["detail"],
        "config reloaded (SIGHUP): engines.KC2"
    );
    let (code, _) = d.call("POST", "/v1/engines/KC2/pause", Some(r#"{"reason":"x"}"#));
    assert_eq!(code, 404, "KC2 is gone");
    // Its subtree goes right after the answer: no longer listed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tree = d.get("/v1/tree").to_string();
        if !tree.contains("master/engines/KC2") {
            break;
        }
        assert!(Instant::now() < deadline, "still listed: {tree}");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An engine that holds a position is not removed (409, saying how to
/// flatten it); `ctl flatten` pauses it and closes every month at market; once
/// flat, the same reload removes it.
#[test]
fn an_engine_holding_a_position_is_removed_once_an_operator_flattened_it() {
    let dir = temp_dir("reload-flatten");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desk.toml");
    write(
        &file,
        "[[engines]]\nid = \"KC\"\n[[engines]]\nid = \"CC\"\n",
    );
    let f = file.to_str().unwrap();
    let env = [[FAST].as_slice(), &common::NO_DRAWDOWN_GUARDS].concat();
    let mut d = Daemon::spawn_args(&dir, free_port(), &["--config", f], &env);
    d.wait_ready();
    // Trading until KC holds something.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kc = common::engine(&d.get("/v1/status"), "KC");
        if !kc["positions"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "KC never held a position: {kc}");
        std::thread::sleep(Duration::from_millis(20));
    }
    write(&file, "[[engines]]\nid = \"CC\"\n");
    let (code, r) = reload(&d);
    // (Flat again by chance between the two reads: then it goes at once.)
    if code == 409 {
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("engine KC cannot be removed: it holds ")
                && msg.contains("flatten it first (`commodore ctl flatten KC`"),
            "{r}"
        );
        let out = d.ctl(&["flatten", "KC", "--reason", "leaving the desk"], &[]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.starts_with("engine KC paused; "), "{said}");
        let kc = common::engine(&d.get("/v1/status"), "KC");
        assert_eq!(kc["paused"], true, "{kc}");
        // Flat within a few bars: the same reload goes through.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, r) = reload(&d);
            if code == 200 {
                assert_eq!(r["changed"], serde_json::json!(["engines.KC"]), "{r}");
                break;
            }
            assert_eq!(code, 409, "{r}");
            assert!(Instant::now() < deadline, "KC never flat: {r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    } else {
        assert_eq!(code, 200, "{r}");
    }
    wait_engines(&mut d, &["CC"]);
    // A flatten of an engine no longer configured is a 404.
    let (code, r) = d.call("POST", "/v1/engines/KC/flatten", Some(r#"{"reason":"x"}"#));
    assert_eq!(code, 404, "{r}");
    // Nor is it in the metrics any more, its latency histograms included.
    let (_, text) = d.scrape();
    assert!(!text.contains("engine=\"KC\""), "{text}");
    // Its fills in the journal add up to nothing in every month.
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));
    let j = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let open: i64 = j
        .query_row(
            "SELECT COUNT(*) FROM (SELECT symbol, SUM(CASE side WHEN 'buy' THEN CAST(qty AS INTEGER) ELSE -CAST(qty AS INTEGER) END) AS q
             FROM fills WHERE engine = 'KC' GROUP BY symbol) WHERE q != 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0, "KC left flat in every month");
    let _ = std::fs::remove_dir_all(&dir);
}
