//! Black-box tests of the HTTP control API (`commodore ctl`: tests/ctl.rs)
//! against the real binary on a free loopback port with its own data directory.

mod common;

use common::{code, events, temp_dir, Daemon};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

const FAULTS_ON: (&str, &str) = ("COMMODORE__FAULTS__ENABLED", "true");

#[test]
fn tokens_are_required_and_the_token_file_is_private() {
    let dir = temp_dir("api-tokens");
    let d = Daemon::start(&dir, &[]);
    let mode = std::fs::metadata(dir.join("control.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    assert_eq!(d.token().len(), 64);
    // The data dir and the journal are the operator's alone too.
    let mode_of = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode_of(&dir), 0o700, "data dir");
    assert_eq!(mode_of(&dir.join("journal.sqlite")), 0o600, "journal");

    // Health and readiness are open.
    assert_eq!(
        d.call_as(None, "GET", "/healthz", None),
        (200, Value::from("ok"))
    );
    assert_eq!(d.call_as(None, "GET", "/readyz", None).0, 200);

    for path in ["/v1/status", "/v1/tree", "/v1/events", "/metrics"] {
        let (s, v) = d.call_as(None, "GET", path, None);
        assert_eq!(
            (s, code(&v)),
            (401, "unauthorized"),
            "{path} without a token: {v}"
        );
        let (s, v) = d.call_as(Some("wrong"), "GET", path, None);
        assert_eq!(
            (s, code(&v)),
            (401, "unauthorized"),
            "{path} with a wrong token: {v}"
        );
        let (s, v) = d.call_as(Some(&format!("{}x", d.token())), "GET", path, None);
        assert_eq!(s, 401, "{path} with a longer token: {v}");
    }
    let (s, v) = d.call_as(
        None,
        "POST",
        "/v1/risk/escalate",
        Some(r#"{"level":"PANIC","reason":"x"}"#),
    );
    assert_eq!(s, 401, "{v}");
    // The scheme name is case-insensitive.
    let r = reqwest::blocking::Client::new()
        .get(d.url("/v1/status"))
        .header("authorization", format!("bearer {}", d.token()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        d.get("/v1/status")["risk"]["level"],
        "NORMAL",
        "nothing changed without a token"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let dir = temp_dir("api-token-mode");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("control.token");
    std::fs::write(&file, "a-token-everybody-can-read-0123456789\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = common::run_to_end(&dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("control.token_file") && err.contains("chmod 600"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Uptime is real seconds, whatever the market clock's speed.
#[test]
fn uptime_is_wall_time_not_market_time() {
    let dir = temp_dir("api-uptime");
    let spawned = std::time::Instant::now();
    let d = Daemon::start(&dir, &[("COMMODORE__FEED__SPEED", "100000")]);
    // A few requests' worth of real time: at 100,000x that is hours of market.
    while spawned.elapsed() < std::time::Duration::from_millis(100) {
        d.call_as(None, "GET", "/healthz", None);
    }
    let st = d.get("/v1/status");
    let up = st["uptime_s"].as_u64().unwrap();
    assert!(
        up <= spawned.elapsed().as_secs() + 1,
        "uptime {up} s after {:?}",
        spawned.elapsed()
    );
    // And the start is the process's, on the wall clock: not the bundled
    // data's market time.
    let started: chrono::DateTime<chrono::Utc> =
        st["started_at"].as_str().unwrap().parse().unwrap();
    let off = (chrono::Utc::now() - started).num_seconds().abs();
    assert!(off < 3600, "started_at {started} is {off} s from now");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_short_token_is_refused_by_the_daemon() {
    let dir = temp_dir("api-short-token");
    let run = |env: (&str, &str)| {
        common::commodore()
            .arg("run")
            .env("COMMODORE__DATA_DIR", &dir)
            .env(
                "COMMODORE__CONTROL__LISTEN",
                format!("127.0.0.1:{}", common::free_port()),
            )
            .env(env.0, env.1)
            .output()
            .unwrap()
    };
    let out = run(("COMMODORE_CONTROL_TOKEN", "short-token"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("COMMODORE_CONTROL_TOKEN") && err.contains("too short: at least 16"),
        "{err}"
    );
    // The same from the file.
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("control.token");
    std::fs::write(&file, "0123456789\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(("COMMODORE_TEST_NOTHING", "x"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("too short"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_token_can_come_from_the_environment() {
    let dir = temp_dir("api-env-token");
    let env_token = "an-operator-chosen-token-0123456789";
    let d = Daemon::start(&dir, &[("COMMODORE_CONTROL_TOKEN", env_token)]);
    assert!(
        !dir.join("control.token").exists(),
        "no file when the env gives the token"
    );
    assert_eq!(d.call_as(Some(env_token), "GET", "/v1/status", None).0, 200);
    let out = d.ctl(&["status"], &[("COMMODORE_CONTROL_TOKEN", env_token)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_error_of_the_contract_has_its_status_and_body() {
    let dir = temp_dir("api-errors");
    let d = Daemon::start(&dir, &[]);
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        // 400: not JSON, no body, bad query.
        (
            "POST",
            "/v1/risk/escalate",
            Some("level=HALT"),
            400,
            "bad_request",
        ),
        ("POST", "/v1/risk/escalate", Some(""), 400, "bad_request"),
        ("POST", "/v1/mode", Some("{\"mode\": "), 400, "bad_request"),
        ("GET", "/v1/events?since=abc", None, 400, "bad_request"),
        // 422: JSON, wrong values or fields.
        (
            "POST",
            "/v1/risk/escalate",
            Some(r#"{"level":"halt","reason":"x"}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/risk/escalate",
            Some(r#"{"level":"HALT"}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/risk/escalate",
            Some(r#"{"level":"HALT","reason":"  "}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/risk/escalate",
            Some(r#"{"level":"HALT","reason":"x","extra":1}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/risk/reset",
            Some(r#"{"level":3,"reason":"x"}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/risk/reset",
            Some(r#"{"reason":"x"}"#),
            422,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/mode",
            Some(r#"{"mode":"HUGE"}"#),
            422,
            "invalid_value",
        ),
        ("GET", "/v1/events?limit=0", None, 422, "invalid_value"),
        ("GET", "/v1/events?limit=1001", None, 422, "invalid_value"),
        // 404: unknown engine, unknown endpoint.
        ("POST", "/v1/engines/ZZ/pause", Some("{}"), 404, "not_found"),
        ("POST", "/v1/engines/ZZ/resume", None, 404, "not_found"),
        ("GET", "/v1/nothing", None, 404, "not_found"),
        // 405: a known path, another method; still the contract's body.
        ("POST", "/v1/status", Some("{}"), 405, "method_not_allowed"),
        ("GET", "/v1/shutdown", None, 405, "method_not_allowed"),
        (
            "DELETE",
            "/v1/engines/KC/pause",
            None,
            405,
            "method_not_allowed",
        ),
        // 403: faults are disabled by default.
        (
            "POST",
            "/v1/faults",
            Some(r#"{"path":"master","kind":"panic"}"#),
            403,
            "forbidden",
        ),
    ];
    for (method, path, body, status, want) in cases {
        let (s, v) = d.call(method, path, *body);
        assert_eq!(
            (s, code(&v)),
            (*status, *want),
            "{method} {path} {body:?}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "every error says what is wrong: {v}"
        );
    }
    // 413: over 64 KiB, however well-formed.
    let big = format!(r#"{{"level":"HALT","reason":"{}"}}"#, "x".repeat(64 * 1024));
    let (s, v) = d.call("POST", "/v1/risk/escalate", Some(&big));
    assert_eq!((s, code(&v)), (413, "payload_too_large"), "{v}");
    // None of it changed anything.
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "NORMAL");
    // The controller may have moved the tier on market time; no request made
    // the mode fixed, or HUGE.
    assert_eq!(st["mode"]["auto"], true, "{st}");
    // Money is a decimal string, never a float.
    assert_eq!(
        (st["equity"].as_str(), st["drawdown"].as_str()),
        (Some("500000"), Some("0")),
        "two engines' capital, nothing traded yet: {st}"
    );
    assert_eq!(st["engines"][0]["realized_pnl"], "0", "{st}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn risk_goes_up_only_by_escalation_and_down_only_by_a_journaled_reset() {
    let dir = temp_dir("api-risk");
    let d = Daemon::start(&dir, &[]);
    let v = d.post(
        "/v1/risk/escalate",
        r#"{"level":"HALT","reason":"drawdown 6%"}"#,
    );
    assert_eq!(
        (v["risk"]["level"].as_str(), v["changed"].as_bool()),
        (Some("HALT"), Some(true))
    );

    // Lower by escalation: no change, and it says so.
    let v = d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"try lower"}"#,
    );
    assert_eq!(v["risk"]["level"], "HALT");
    assert_eq!(v["changed"], false);
    assert!(v["message"].as_str().unwrap().contains("stays HALT"), "{v}");
    let v = d.post("/v1/risk/escalate", r#"{"level":"HALT","reason":"same"}"#);
    assert_eq!(
        (v["risk"]["reason"].as_str(), v["changed"].as_bool()),
        (Some("drawdown 6%"), Some(false))
    );

    // Reset: the way down, with its reason, journaled durably.
    let v = d.post(
        "/v1/risk/reset",
        r#"{"level":"NORMAL","reason":"reviewed by ops"}"#,
    );
    assert_eq!(v["risk"]["level"], "NORMAL");
    assert_eq!(v["risk"]["reason"], "reviewed by ops");
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "NORMAL");
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let (value, reason): (String, String) = c
        .query_row(
            "SELECT value, reason FROM state WHERE key = 'risk.level'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (value.as_str(), reason.as_str()),
        ("NORMAL", "reviewed by ops")
    );

    let changes: Vec<String> = events(&d, 0)
        .iter()
        .filter(|e| e["kind"] == "risk_changed")
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].contains("NORMAL -> HALT") && changes[0].contains("drawdown 6%"));
    assert!(changes[1].contains("HALT -> NORMAL") && changes[1].contains("reviewed by ops"));
    let m = d.call("GET", "/metrics", None).1;
    assert!(
        m.as_str().unwrap().contains("commodore_risk_level 0\n"),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_injected_fault_shows_as_a_restart_in_the_tree_events_and_metrics() {
    let dir = temp_dir("api-fault");
    let mut d = Daemon::start(&dir, &[FAULTS_ON]);
    let v = d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/analyzer","kind":"panic"}"#,
    );
    assert_eq!(v["injected"]["path"], "master/engines/KC/analyzer");
    d.expect("kind=\"restarted\" path=master/engines/KC/analyzer");

    let tree = d.get("/v1/tree");
    let nodes = tree["nodes"].as_array().unwrap();
    let node = |p: &str| {
        nodes
            .iter()
            .find(|n| n["path"] == p)
            .unwrap_or_else(|| panic!("{p} in {tree}"))
    };
    let a = node("master/engines/KC/analyzer");
    assert_eq!(
        (a["restarts"].as_u64(), a["state"].as_str()),
        (Some(1), Some("running")),
        "{a}"
    );
    assert!(a["last_failure"].as_str().unwrap().contains("panic"), "{a}");
    assert_eq!(
        node("master/engines/CC/analyzer")["restarts"],
        0,
        "the other engine is untouched"
    );
    assert!(node("master/engines")["children"]
        .as_array()
        .unwrap()
        .contains(&Value::from("master/engines/KC")));
    for p in [
        "master/journal",
        "master/notifier",
        "master/portfolio_risk",
        "master/mode",
        "master/control",
        "master/reconcile",
    ] {
        assert_eq!(node(p)["state"], "running", "{p}");
    }

    let kinds: Vec<(String, String)> = events(&d, 0)
        .iter()
        .filter(|e| e["path"] == "master/engines/KC/analyzer")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|(kind, _)| kind == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(
        pos("fault_injected") < pos("failed") && pos("failed") < pos("restarted"),
        "{kinds:?}"
    );
    // Only journaled events are served: a seq a client saw survives a crash.
    let served = events(&d, 0).last().unwrap()["seq"].as_u64().unwrap();
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let journaled: i64 = c
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(
        journaled as u64 >= served,
        "served {served}, journaled {journaled}"
    );
    let v = d.get(&format!("/v1/events?since={}", u64::MAX));
    assert_eq!(
        (v["events"].as_array().unwrap().len(), v["next"].as_u64()),
        (0, Some(u64::MAX))
    );

    let m = d.call("GET", "/metrics", None).1;
    let m = m.as_str().unwrap();
    assert!(
        m.contains("commodore_actor_restarts_total{path=\"master/engines/KC/analyzer\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("commodore_engine_state{engine=\"KC\",state=\"running\"} 1\n"),
        "{m}"
    );

    // A panic in portfolio_risk: its successor reads the level back from the
    // journal (crash-only), so the level is where it was.
    d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"before the panic"}"#,
    );
    d.post(
        "/v1/faults",
        r#"{"path":"master/portfolio_risk","kind":"panic"}"#,
    );
    d.expect("kind=\"restarted\" path=master/portfolio_risk");
    let v = d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"again"}"#,
    );
    assert_eq!(v["changed"], false, "the successor knows WARNING: {v}");
    assert_eq!(v["risk"]["reason"], "before the panic");

    // Fault errors: unknown path 404, bad kind 422, out-of-range values 422.
    let (s, v) = d.call(
        "POST",
        "/v1/faults",
        Some(r#"{"path":"master/nope","kind":"panic"}"#),
    );
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
    let (s, v) = d.call(
        "POST",
        "/v1/faults",
        Some(r#"{"path":"master/mode","kind":"explode"}"#),
    );
    assert_eq!((s, code(&v)), (422, "invalid_value"), "{v}");
    let (s, v) = d.call(
        "POST",
        "/v1/faults",
        Some(r#"{"path":"master/mode","kind":"hang"}"#),
    );
    assert_eq!((s, code(&v)), (422, "invalid_value"), "hang needs ms: {v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_engine_that_gives_up_stays_failed_and_the_others_keep_running() {
    let dir = temp_dir("api-engine-failed");
    let mut d = Daemon::start(
        &dir,
        &[
            FAULTS_ON,
            ("COMMODORE__ENGINE_SUPERVISION__MAX_RESTARTS", "1"),
        ],
    );
    let fault = r#"{"path":"master/engines/KC/analyzer","kind":"panic"}"#;
    d.post("/v1/faults", fault);
    d.expect("kind=\"restarted\" path=master/engines/KC/analyzer");
    d.post("/v1/faults", fault); // the second failure within the period: KC gives up
    d.expect("kind=\"stopped\" path=master/engines/KC ");

    let st = d.get("/v1/status");
    let engines = st["engines"].as_array().unwrap();
    let state = |id: &str| engines.iter().find(|e| e["id"] == id).unwrap()["state"].clone();
    assert_eq!(
        (state("KC"), state("CC")),
        (Value::from("failed"), Value::from("running")),
        "{st}"
    );
    let (s, v) = d.call_as(None, "GET", "/readyz", None);
    assert_eq!((s, code(&v)), (503, "not_ready"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("engine KC is failed"),
        "{v}"
    );
    let (s, v) = d.call("POST", "/v1/engines/KC/resume", Some(r#"{"reason":"try"}"#));
    assert_eq!((s, code(&v)), (409, "conflict"), "{v}");
    let (s, v) = d.call("POST", "/v1/faults", Some(fault));
    assert_eq!(s, 409, "a failed actor takes no faults: {v}");
    let kinds: Vec<String> = events(&d, 0)
        .iter()
        .filter(|e| e["path"] == "master/engines/KC")
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"gave_up".to_owned()) && kinds.contains(&"escalated".to_owned()),
        "{kinds:?}"
    );
    let m = d.call("GET", "/metrics", None).1;
    assert!(
        m.as_str()
            .unwrap()
            .contains("commodore_engine_state{engine=\"KC\",state=\"failed\"} 1\n"),
        "{m}"
    );
    // CC still works.
    let v = d.post("/v1/engines/CC/pause", "{}");
    assert_eq!(v["engine"]["state"], "paused");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_sigkill_risk_mode_paused_engines_and_seq_are_where_they_were() {
    let dir = temp_dir("api-kill9");
    let mut d = Daemon::start(&dir, &[]);
    d.post(
        "/v1/risk/escalate",
        r#"{"level":"PANIC","reason":"venue outage"}"#,
    );
    let v = d.post("/v1/mode", r#"{"mode":"MINI","reason":"desk decision"}"#);
    assert_eq!(
        (v["mode"]["current"].as_str(), v["mode"]["auto"].as_bool()),
        (Some("MINI"), Some(false))
    );
    let v = d.post("/v1/engines/CC/pause", r#"{"reason":"roll week"}"#);
    assert_eq!(
        (v["engine"]["state"].as_str(), v["changed"].as_bool()),
        (Some("paused"), Some(true))
    );
    assert_eq!(
        d.call_as(None, "GET", "/readyz", None).0,
        200,
        "paused on purpose is ready"
    );
    let before = d.get("/v1/status");
    let last = events(&d, 0).last().unwrap()["seq"].as_u64().unwrap();
    d.journaled(last);
    d.signal(libc::SIGKILL);
    d.exit_code();

    let d = Daemon::start(&dir, &[]);
    let after = d.get("/v1/status");
    assert_eq!(
        after["risk"], before["risk"],
        "risk level, reason and time survive kill -9"
    );
    assert_eq!(after["mode"], before["mode"]);
    let engines = after["engines"].as_array().unwrap();
    let state = |id: &str| engines.iter().find(|e| e["id"] == id).unwrap()["state"].clone();
    assert_eq!(
        (state("CC"), state("KC")),
        (Value::from("paused"), Value::from("running"))
    );
    let cc = d.node("master/engines/CC");
    assert_eq!(cc["state"], "paused");
    let evs = events(&d, last);
    assert_eq!(
        evs[0]["seq"].as_u64(),
        Some(last + 1),
        "seq continues: {:?}",
        evs[0]
    );
    assert_eq!(evs[0]["kind"], "started");

    // Resume works after the restart, and is journaled too.
    let v = d.post("/v1/engines/CC/resume", "");
    assert_eq!(
        (v["engine"]["state"].as_str(), v["changed"].as_bool()),
        (Some("running"), Some(true))
    );
    let v = d.post("/v1/engines/CC/resume", "");
    assert_eq!(
        v["changed"], false,
        "resuming a running engine changes nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_over_http_drains_refuses_a_second_and_exits_0() {
    let dir = temp_dir("api-shutdown");
    let mut d = Daemon::start(
        &dir,
        &[
            FAULTS_ON,
            ("COMMODORE__SUPERVISION__SHUTDOWN_TIMEOUT", "2s"),
        ],
    );
    // A hung analyzer holds the drain for its shutdown timeout: time to see the
    // daemon while it stops.
    d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/analyzer","kind":"hang","ms":600000}"#,
    );
    let (s, v) = d.call("POST", "/v1/shutdown", Some(r#"{"reason":"maintenance"}"#));
    assert_eq!(s, 202, "{v}");
    let (s, v) = d.call("POST", "/v1/shutdown", Some("{}"));
    assert_eq!((s, code(&v)), (409, "conflict"), "{v}");
    let (s, v) = d.call_as(None, "GET", "/readyz", None);
    assert_eq!((s, code(&v)), (503, "not_ready"), "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("shutting down"));
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));
    assert!(d.seen.iter().any(|l| l.contains("stopped cleanly")));
    // The operator's command is in the journal.
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM events WHERE kind = 'operator' AND detail LIKE 'shutdown: maintenance%'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
