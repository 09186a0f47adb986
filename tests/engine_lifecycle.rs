//! Engine stop and start through the real binary: `POST /v1/engines/{id}/stop`
//! and `/start`, `ctl stop` and `ctl start`. A stopped engine's subtree is down,
//! /readyz counts it as meant, it opens nothing, and it stays stopped across a
//! restart of the daemon until started.

mod common;

use common::{code, engine, events, temp_dir, Daemon};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// 3000x: a bar every 20 ms.
const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");

/// Waits (bounded) until engine `id`'s state in `/v1/status` is `want`.
fn wait_state(d: &Daemon, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = engine(&d.get("/v1/status"), id);
        if last["state"] == want {
            return last;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("engine {id} never became {want}: {last}");
}

fn orders_of(db: &Path, engine: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM orders WHERE engine = ?1",
            [engine],
            |r| r.get(0),
        )
        .unwrap()
}

fn post(d: &Daemon, path: &str, body: &str) -> (u16, Value) {
    d.call("POST", path, Some(body))
}

#[test]
fn a_stopped_engine_stays_stopped_across_a_restart_until_started() {
    let dir = temp_dir("engine-lifecycle");
    let d = Daemon::start(&dir, &[FAST]);

    // Stop: 202 at once, journaled, the subtree goes down.
    let (status, v) = post(&d, "/v1/engines/KC/stop", r#"{"reason":"roll week"}"#);
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["changed"], true, "{v}");
    assert_eq!(v["engine"]["stopped"], true, "{v}");
    wait_state(&d, "KC", "stopped");
    let tree = d.node("master/engines/KC");
    assert_eq!(tree["state"], "stopped", "{tree}");
    assert_eq!(
        d.call_as(None, "GET", "/readyz", None).0,
        200,
        "a stopped engine is meant to be down"
    );
    // A stopped engine cannot be flattened: 409, saying to start it.
    let (status, v) = post(&d, "/v1/engines/KC/flatten", r#"{"reason":"x"}"#);
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("engine KC is not running"),
        "{v}"
    );
    // Again: nothing changes.
    let (status, v) = post(&d, "/v1/engines/KC/stop", "{}");
    assert_eq!(
        (status, v["changed"].clone()),
        (202, Value::Bool(false)),
        "{v}"
    );
    // The other engine trades on.
    assert_eq!(engine(&d.get("/v1/status"), "CC")["state"], "running");
    let stop_event = events(&d, 0).into_iter().find(|e| {
        e["kind"] == "operator"
            && e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("KC stopped: roll week")
    });
    assert!(stop_event.is_some(), "the stop is an operator event");

    // A restart of the daemon keeps it stopped: held, never started.
    let mut d = d;
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let db = dir.join("journal.sqlite");
    let kc_orders = orders_of(&db, "KC");
    let mut d = Daemon::start(&dir, &[FAST]);
    assert_eq!(engine(&d.get("/v1/status"), "KC")["state"], "stopped");
    // CC trades meanwhile (its fills show the feed moved on).
    d.expect("kind=\"order_filled\" path=master/engines/CC/executor");
    assert!(
        !d.seen
            .iter()
            .any(|l| l.contains("path=master/engines/KC/") && l.contains("kind=\"started\"")),
        "nothing of KC started"
    );

    // Start it through ctl: it runs, and stays running after a restart.
    let out = d.ctl(&["start", "KC", "--reason", "back"], &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("engine KC starting"), "{text}");
    wait_state(&d, "KC", "running");
    d.expect_any("kind=\"started\" path=master/engines/KC/executor");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    assert_eq!(
        orders_of(&db, "KC"),
        kc_orders,
        "stopped: KC opened nothing"
    );
    let d = Daemon::start(&dir, &[FAST]);
    assert_eq!(engine(&d.get("/v1/status"), "KC")["state"], "running");

    // ctl stop, then start at once: the start waits for the stop to finish.
    let out = d.ctl(&["stop", "KC"], &[]);
    assert!(out.status.success(), "{out:?}");
    let (status, v) = post(&d, "/v1/engines/KC/start", "{}");
    assert_eq!(status, 202, "{v}");
    wait_state(&d, "KC", "running");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stop_and_start_refuse_what_they_cannot_do() {
    let dir = temp_dir("engine-lifecycle-errors");
    let d = Daemon::start(&dir, &[]);
    let (status, v) = post(&d, "/v1/engines/XX/stop", "{}");
    assert_eq!((status, code(&v)), (404, "not_found"), "{v}");
    let (status, v) = post(&d, "/v1/engines/XX/start", "{}");
    assert_eq!((status, code(&v)), (404, "not_found"), "{v}");
    let (status, v) = post(&d, "/v1/engines/KC/stop", r#"{"reason": 5}"#);
    assert_eq!(status, 422, "{v}");
    let (status, v) = d.call_as(None, "POST", "/v1/engines/KC/stop", Some("{}"));
    assert_eq!(status, 401, "{v}");
    // Starting a running engine changes nothing.
    let (status, v) = post(&d, "/v1/engines/KC/start", "{}");
    assert_eq!(
        (status, v["changed"].clone()),
        (202, Value::Bool(false)),
        "{v}"
    );
    assert_eq!(engine(&d.get("/v1/status"), "KC")["state"], "running");
    let out = d.ctl(&["stop", "XX"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
