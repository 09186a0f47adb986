//! Webhooks against a real HTTP server on a free loopback port (actix-web in
//! this process, answering from a script of statuses and recording every
//! request), through the real binary: the body of each webhook kind, 500 then
//! success, 429 with Retry-After, and a webhook that is down while the daemon is
//! SIGKILLed and restarted: delivered exactly once when it comes back.

mod common;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::{temp_dir, Daemon};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the webhook server received.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    idempotency_key: String,
    body: Value,
    at: Instant,
}

struct Script {
    /// Statuses to answer, in order (with a Retry-After for 429); then 200.
    answers: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    hits: Mutex<mpsc::Sender<Hit>>,
}

async fn hook(req: HttpRequest, body: web::Bytes, script: web::Data<Script>) -> HttpResponse {
    let hit = Hit {
        path: req.path().to_owned(),
        idempotency_key: req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    };
    let _ = script.hits.lock().unwrap().send(hit);
    let (status, retry_after) = script
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, None));
    let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(s) = retry_after {
        r.insert_header(("retry-after", s));
    }
    r.finish()
}

/// Serves the webhook on `listener`; every request comes out of the receiver.
fn serve(listener: TcpListener, answers: Vec<(u16, Option<&'static str>)>) -> mpsc::Receiver<Hit> {
    let (tx, rx) = mpsc::channel();
    let script = Arc::new(Script {
        answers: Mutex::new(answers.into()),
        hits: Mutex::new(tx),
    });
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::from(script.clone()))
                    .default_service(web::to(hook))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run()
            .await
        })
    });
    rx
}

fn next(rx: &mpsc::Receiver<Hit>) -> Hit {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("no webhook request within 20 s")
}

/// The first hit whose body mentions `needle` (risk notifications).
fn next_with(rx: &mpsc::Receiver<Hit>, needle: &str) -> Hit {
    loop {
        let h = next(rx);
        if h.body.to_string().contains(needle) {
            return h;
        }
    }
}

fn config(dir: &std::path::Path, port: u16, hooks: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("hooks.toml");
    std::fs::write(
        &f,
        format!(
            "[notifier]\nbackoff_min = \"50ms\"\nbackoff_max = \"200ms\"\n\
             milestones = [\"1\", \"2\", \"99000000\"]\n{}",
            hooks.replace("PORT", &port.to_string())
        ),
    )
    .unwrap();
    f.to_str().unwrap().to_owned()
}

fn escalate(d: &Daemon, level: &str, reason: &str) {
    let r = d.post(
        "/v1/risk/escalate",
        &format!(r#"{{"level":"{level}","reason":"{reason}"}}"#),
    );
    assert_eq!(r["risk"]["level"], level, "{r}");
}

#[test]
fn each_webhook_kind_gets_its_body_and_only_its_events() {
    let dir = temp_dir("notify-bodies");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rx = serve(listener, vec![]);
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "discord"
url = "http://127.0.0.1:PORT/discord"
events = ["risk"]
[[notifier.webhooks]]
kind = "slack"
url = "http://127.0.0.1:PORT/slack"
events = ["risk"]
[[notifier.webhooks]]
kind = "json"
name = "desk"
url_env = "TEST_HOOK_URL"
events = ["risk", "mode_transition", "milestone"]
"#,
    );
    let url = format!("http://127.0.0.1:{port}/json");
    let mut d = Daemon::spawn_args(
        &dir,
        common::free_port(),
        &["--config", &file],
        &[("TEST_HOOK_URL", url.as_str())],
    );
    escalate(&d, "WARNING", "bodies test");
    // The risk change on all three; on the JSON one also the controller's move
    // from NANO (the account holds $500,000) and the highest milestone reached.
    let mut got = std::collections::BTreeMap::new();
    let (mut mode, mut milestone) = (None, Vec::new());
    while got.len() < 3 || mode.is_none() || milestone.is_empty() {
        let h = next(&rx);
        let text = h.body.to_string();
        if text.contains("bodies test") {
            got.insert(h.path.clone(), h);
        } else if h.body["kind"] == "mode_transition" {
            mode = Some(h);
        } else if h.body["kind"] == "milestone" {
            milestone.push(h);
        } else {
            panic!("a notification nobody asked for: {h:?}");
        }
    }
    let mode = mode.unwrap();
    assert_eq!(mode.path, "/json");
    assert!(
        mode.body["detail"]
            .as_str()
            .unwrap()
            .contains("auto:NANO -> auto:BALANCED"),
        "{}",
        mode.body
    );
    assert_eq!(milestone.len(), 1, "{milestone:?}");
    assert!(
        milestone[0].body["detail"]
            .as_str()
            .unwrap()
            .contains("reached the $2 milestone"),
        "{:?}",
        milestone[0]
    );
    let discord = &got["/discord"].body;
    assert!(
        discord["content"]
            .as_str()
            .unwrap()
            .starts_with("commodore [risk] risk_changed master/portfolio_risk: NORMAL -> WARNING"),
        "{discord}"
    );
    let slack = &got["/slack"].body;
    assert!(
        slack["text"].as_str().unwrap().contains("bodies test"),
        "{slack}"
    );
    let json = &got["/json"];
    assert_eq!(json.body["kind"], "risk", "{}", json.body);
    assert_eq!(json.body["event"], "risk_changed");
    assert_eq!(json.body["path"], "master/portfolio_risk");
    assert!(json.body["id"].as_str().unwrap().starts_with("event:"));
    assert_eq!(json.idempotency_key, json.body["id"].as_str().unwrap());
    // Secrets stay out of the log and the status.
    let st = d.get("/v1/status");
    assert!(!st.to_string().contains(&url), "{st}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    assert!(
        !d.seen
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{port}"))),
        "a webhook URL reached the log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_webhook_that_never_answers_slows_neither_the_engines_nor_the_api() {
    let dir = temp_dir("notify-hung");
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "slack"
url = "http://127.0.0.1:PORT/hook"
timeout = "30s"
"#,
    );
    let env = [
        [("COMMODORE__FEED__SPEED", "3000")].as_slice(),
        &common::NO_DRAWDOWN_GUARDS,
    ]
    .concat();
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &["--config", &file], &env);
    // Fills (each a `trade` notification) keep coming while the webhook hangs
    // on the first of them, and the API answers.
    for _ in 0..5 {
        d.expect("kind=\"order_filled\"");
        let st = d.get("/v1/status");
        assert!(st["notifier"]["outbox"].as_u64().is_some(), "{st}");
    }
    let st = d.get("/v1/status");
    assert_eq!(st["notifier"]["delivered"], 0, "{st}");
    let r = d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"hung hook"}"#,
    );
    assert_eq!(r["risk"]["level"], "WARNING", "{r}");
    d.signal(libc::SIGINT);
    assert_eq!(
        d.exit_code(),
        Some(0),
        "a hung webhook does not hold up the stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_500_is_retried_and_a_429_waits_its_retry_after() {
    let dir = temp_dir("notify-retry");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rx = serve(listener, vec![(500, None), (429, Some("1")), (200, None)]);
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "json"
url = "http://127.0.0.1:PORT/hook"
events = ["risk"]
"#,
    );
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &["--config", &file], &[]);
    escalate(&d, "WARNING", "retry test");
    let first = next_with(&rx, "retry test"); // 500
    let second = next_with(&rx, "retry test"); // 429, Retry-After: 1
    let third = next_with(&rx, "retry test"); // 200
    assert_eq!(
        first.idempotency_key, third.idempotency_key,
        "the same notification"
    );
    assert!(
        third.at.duration_since(second.at) >= Duration::from_millis(950),
        "the 429's Retry-After (1 s) was not honoured: {:?}",
        third.at.duration_since(second.at)
    );
    d.expect_any("notification not delivered; will retry");
    // Delivered: nothing more for it.
    assert!(
        rx.recv_timeout(Duration::from_millis(1500))
            .map_or(true, |h| !h.body.to_string().contains("retry test")),
        "sent again after it was delivered"
    );
    let st = d.get("/v1/status");
    assert_eq!(st["notifier"]["delivered"], 1, "{st}");
    assert_eq!(st["notifier"]["outbox"], 0, "{st}");
    assert!(st["notifier"]["retries"].as_u64().unwrap() >= 2, "{st}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14, item 11: a redirect used to drop even a risk notification for
/// good. It is retried (and said) until the endpoint answers.
#[test]
fn a_redirecting_webhook_keeps_its_risk_notification_until_it_answers() {
    let dir = temp_dir("notify-redirect");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rx = serve(listener, vec![(302, None), (308, None), (200, None)]);
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "json"
url = "http://127.0.0.1:PORT/hook"
events = ["risk"]
"#,
    );
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &["--config", &file], &[]);
    escalate(&d, "WARNING", "redirect test");
    let first = next_with(&rx, "redirect test"); // 302
    let _second = next_with(&rx, "redirect test"); // 308
    let third = next_with(&rx, "redirect test"); // 200
    assert_eq!(
        first.idempotency_key, third.idempotency_key,
        "the same notification"
    );
    d.expect_any("the webhook redirects (not followed): fix its URL");
    // Sent a third time after two redirects: never given up.
    let st = d.get("/v1/status");
    assert_eq!(st["notifier"]["failed"], 0, "never given up: {st}");
    assert!(st["notifier"]["retries"].as_u64().unwrap() >= 2, "{st}");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_webhook_down_across_a_sigkill_gets_its_notification_once_when_back() {
    let dir = temp_dir("notify-down");
    // A port with nothing listening on it (yet).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "json"
url = "http://127.0.0.1:PORT/hook"
events = ["risk"]
"#,
    );
    let api = common::free_port();
    let mut d = Daemon::spawn_args(&dir, api, &["--config", &file], &[]);
    escalate(&d, "HALT", "down test");
    d.expect("notification not delivered; will retry");
    d.signal(libc::SIGKILL);
    let _ = d.exit_code();
    // The outbox row survived the kill.
    let queued: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 1);

    let mut d = Daemon::spawn_args(&dir, api, &["--config", &file], &[]);
    d.expect("notification not delivered; will retry");
    // The webhook comes back on its port.
    let rx = serve(TcpListener::bind(("127.0.0.1", port)).unwrap(), vec![]);
    let hit = next_with(&rx, "down test");
    assert_eq!(hit.body["kind"], "risk");
    // Exactly once.
    assert!(
        rx.recv_timeout(Duration::from_secs(2))
            .map_or(true, |h| !h.body.to_string().contains("down test")),
        "delivered twice"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let left: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "delivered rows leave the outbox");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Trades, breaker transitions, an engine's failure and a recovery reach the
/// webhooks that asked for them, each as the kind it asked for; a 4xx is a
/// permanent failure (dropped, counted, never retried); a webhook's rate limit
/// holds its requests back while the others go on.
#[test]
fn trade_breaker_error_and_recovery_bodies_a_refusing_webhook_and_a_rate_limit() {
    let dir = temp_dir("notify-kinds");
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port_a, port_b) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let rx_a = serve(a, vec![]);
    // The first request to B is refused for good: a 404.
    let rx_b = serve(b, vec![(404, None)]);
    let file = config(
        &dir,
        port_a,
        &format!(
            r#"
[[notifier.webhooks]]
kind = "json"
name = "ops"
url = "http://127.0.0.1:PORT/ops"
events = ["trade", "error", "recovery"]
[[notifier.webhooks]]
kind = "discord"
name = "gone"
url = "http://127.0.0.1:{port_b}/gone"
events = ["breaker"]
[[notifier.webhooks]]
kind = "slack"
name = "limited"
url = "http://127.0.0.1:PORT/limited"
events = ["trade"]
rate_per_min = 1
"#
        ),
    );
    let env = [
        [
            ("COMMODORE__FEED__SPEED", "3000"),
            ("COMMODORE__FAULTS__ENABLED", "true"),
            ("COMMODORE__BREAKER__COOLDOWN", "1s"),
        ]
        .as_slice(),
        &common::NO_DRAWDOWN_GUARDS,
    ]
    .concat();
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &["--config", &file], &env);
    let started = Instant::now();
    // A trade on ops.
    let mut limited = 0;
    let trade = loop {
        let h = next(&rx_a);
        if h.path == "/ops" {
            break h;
        }
        limited += 1;
    };
    assert_eq!(trade.body["kind"], "trade", "{}", trade.body);
    assert_eq!(trade.body["event"], "order_filled");
    assert!(
        trade.body["detail"].as_str().unwrap().contains(" @ "),
        "{}",
        trade.body
    );

    // Five broker failures on KC: the breaker opens (to "gone": refused, 404),
    // then its trial closes it (to "gone" as breaker, to ops as recovery).
    let r = d.post(
        "/v1/faults",
        r#"{"path":"master/engines/KC/broker","kind":"error","count":5}"#,
    );
    assert!(r.get("error").is_none(), "{r}");
    let opened = next(&rx_b);
    assert!(
        opened.body["content"]
            .as_str()
            .unwrap()
            .starts_with("commodore [breaker] breaker_opened master/engines/KC"),
        "{}",
        opened.body
    );
    let closed = next(&rx_b);
    assert!(
        closed.body["content"]
            .as_str()
            .unwrap()
            .starts_with("commodore [breaker] breaker_closed master/engines/KC"),
        "the refused notification is not sent again: {}",
        closed.body
    );
    // An engine fails: CC's supervisor panics (engines are temporary: it stays failed).
    let r = d.post(
        "/v1/faults",
        r#"{"path":"master/engines/CC","kind":"panic"}"#,
    );
    assert!(r.get("error").is_none(), "{r}");
    let (mut recovery, mut error) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while (recovery.is_none() || error.is_none()) && Instant::now() < deadline {
        let h = next(&rx_a);
        match (h.path.as_str(), h.body["kind"].as_str()) {
            ("/ops", Some("recovery")) => recovery = Some(h),
            ("/ops", Some("error")) => error = Some(h),
            ("/ops", Some("trade")) => {}
            ("/limited", _) => limited += 1,
            other => panic!("a notification nobody asked for: {other:?} {h:?}"),
        }
    }
    let recovery = recovery.expect("a recovery notification");
    assert_eq!(
        recovery.body["event"], "breaker_closed",
        "{}",
        recovery.body
    );
    let error = error.expect("an error notification");
    assert_eq!(error.body["event"], "failed", "{}", error.body);
    assert_eq!(error.body["path"], "master/engines/CC", "{}", error.body);
    // Rate-limited to one a minute: one trade went to "limited" in all this
    // time, while ops got trade after trade.
    while let Ok(h) = rx_a.recv_timeout(Duration::from_millis(300)) {
        if h.path == "/limited" {
            limited += 1;
        }
    }
    if started.elapsed() < Duration::from_secs(55) {
        assert!(
            limited <= 1,
            "{limited} requests to a webhook allowed 1 a minute"
        );
    }
    let st = d.get("/v1/status");
    assert_eq!(st["notifier"]["failed"], 1, "the 404 counted: {st}");
    assert!(
        rx_b.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing more for gone"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    assert!(
        d.seen.iter().any(|l| l.contains("404")),
        "the permanent failure is logged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_daily_summary_reaches_a_webhook_that_asked_for_summaries() {
    let dir = temp_dir("notify-summary");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rx = serve(listener, vec![]);
    let file = config(
        &dir,
        port,
        r#"
[[notifier.webhooks]]
kind = "json"
name = "desk"
url = "http://127.0.0.1:PORT/json"
events = ["summary"]
"#,
    );
    let _d = Daemon::spawn_args(
        &dir,
        common::free_port(),
        &["--config", &file],
        // Monday's close at 3000x: about 12 s of the test.
        &[("COMMODORE__FEED__SPEED", "3000")],
    );
    // Only summaries were asked for: the first request is the summary.
    let summary = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("no webhook request within 60 s");
    assert_eq!(summary.body["kind"], "summary", "{}", summary.body);
    assert_eq!(summary.path, "/json");
    assert_eq!(summary.body["event"], "daily_summary", "{}", summary.body);
    assert_eq!(summary.body["path"], "master/reconcile");
    let detail = summary.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("2026-02-09: pnl ") && detail.contains("2 engine(s) match the broker"),
        "{detail}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
