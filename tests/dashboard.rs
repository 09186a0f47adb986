//! The dashboard's side of the control API, against the real binary: `/ui`
//! and its assets served without a token under a Content-Security-Policy,
//! `GET /v1/events/stream` (the token, the events after `since` as
//! server-sent events, live, its bound on concurrent streams) and
//! `GET /v1/history`. The page itself runs in Chromium in `tests/ui/`
//! (`scripts/ui_test.sh`), outside `cargo test`.

mod common;

use common::{code, events, temp_dir, Daemon, WAIT};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// `MAX_STREAMS` of `src/api/stream.rs`.
const MAX_STREAMS: usize = 8;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(WAIT)
        .build()
        .unwrap()
}

#[test]
fn the_page_and_its_assets_are_served_without_a_token_under_a_csp() {
    let dir = temp_dir("ui-page");
    let d = Daemon::start(&dir, &[]);
    let token = d.token();
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let r = client().get(d.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            header("content-type").starts_with(kind),
            "{path}: {}",
            header("content-type")
        );
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("script-src 'self'")
                && csp.contains("connect-src 'self'")
                && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = r.text().unwrap();
        assert!(!body.contains(&token), "{path} holds the token");
    }
    let page = client().get(d.url("/ui")).send().unwrap().text().unwrap();
    assert!(page.contains("<script src=\"/ui/app.js\""), "{page}");
    // Only the page is open: the data behind it is not.
    for path in ["/v1/events/stream", "/v1/history", "/ui/nothing"] {
        let (s, v) = d.call_as(None, "GET", path, None);
        let want = if path.starts_with("/ui/") {
            (404, "not_found")
        } else {
            (401, "unauthorized")
        };
        assert_eq!((s, code(&v)), want, "{path}: {v}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One stream's events as they are read: `(id, data)`.
struct Stream {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

impl Stream {
    fn open(d: &Daemon, query: &str) -> Stream {
        let r = client()
            .get(d.url(&format!("/v1/events/stream{query}")))
            .bearer_auth(d.token())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "stream{query}");
        let ct = r.headers().get("content-type").unwrap().to_str().unwrap();
        assert_eq!(ct, "text/event-stream");
        Stream {
            lines: BufReader::new(r).lines(),
        }
    }

    /// The next event (comments skipped); a read past the client's timeout
    /// fails the test.
    fn next(&mut self) -> (u64, Value) {
        let (mut id, mut data) = (None, None);
        loop {
            let line = self
                .lines
                .next()
                .expect("the stream ended")
                .expect("a line of the stream");
            if line.is_empty() {
                if let (Some(id), Some(data)) = (id, data.take()) {
                    return (id, data);
                }
                continue;
            }
            if line.starts_with(':') || line.starts_with("retry:") {
                continue;
            }
            let (field, value) = line.split_once(": ").expect("field: value");
            match field {
                "id" => id = Some(value.parse().expect("a numeric id")),
                "data" => data = Some(serde_json::from_str(value).expect("JSON data")),
                other => panic!("unexpected field {other:?} in {line:?}"),
            }
        }
    }
}

#[test]
fn the_stream_sends_the_journaled_events_after_since_then_new_ones_live() {
    let dir = temp_dir("ui-stream");
    let d = Daemon::start(&dir, &[]);
    // The events so far, as `GET /v1/events` gives them.
    let journaled = events(&d, 0);
    assert!(journaled.len() > 10, "{journaled:?}");
    let since = journaled[4]["seq"].as_u64().unwrap();

    let mut s = Stream::open(&d, &format!("?since={since}"));
    let mut last = since;
    for want in &journaled[5..] {
        let (id, data) = s.next();
        assert!(id > last, "ids increase: {id} after {last}");
        assert_eq!(id, data["seq"].as_u64().unwrap(), "the id is the seq");
        assert_eq!(&data, want, "the same JSON as GET /v1/events");
        last = id;
    }
    // A new event reaches the open stream.
    d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"stream test"}"#,
    );
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no risk_changed on the stream");
        let (id, data) = s.next();
        assert!(id > last, "ids increase: {id} after {last}");
        last = id;
        if data["kind"] == "risk_changed" {
            assert!(data["detail"].as_str().unwrap().contains("stream test"));
            break;
        }
    }
    // `tail` starts at most that many before the newest; Last-Event-ID
    // resumes as `since` does.
    let mut t = Stream::open(&d, "?tail=1");
    let (id, _) = t.next();
    assert!(
        id >= last,
        "tail=1 began at {id}, the newest is at least {last}"
    );
    let r = client()
        .get(d.url("/v1/events/stream"))
        .bearer_auth(d.token())
        .header("last-event-id", since.to_string())
        .send()
        .unwrap();
    let mut resumed = Stream {
        lines: BufReader::new(r).lines(),
    };
    assert_eq!(resumed.next().0, journaled[5]["seq"].as_u64().unwrap());

    // A seq this journal never wrote (the client's from before a fresh
    // start): the stream says `reset`, with the newest, then reads this
    // journal from its start.
    let mut fresh = Stream::open(&d, "?since=1000000");
    let first: Vec<String> = (0..3)
        .map(|_| fresh.lines.next().unwrap().unwrap())
        .collect();
    assert_eq!(first[0], "event: reset", "{first:?}");
    let reset: Value = serde_json::from_str(first[1].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(reset["since"], 1_000_000);
    assert!(reset["newest"].as_u64().unwrap() >= last, "{reset}");
    assert_eq!(first[2], "");
    assert_eq!(fresh.next().0, journaled[0]["seq"].as_u64().unwrap());

    // Bad queries, in the error shape.
    for (q, want) in [
        ("?since=x", (400, "bad_request")),
        ("?tail=1001", (422, "invalid_value")),
        ("?until=3", (400, "bad_request")),
    ] {
        let (st, v) = d.call("GET", &format!("/v1/events/stream{q}"), None);
        assert_eq!((st, code(&v)), want, "{q}: {v}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn streams_beyond_the_limit_are_refused_until_one_closes() {
    let dir = temp_dir("ui-streams");
    let d = Daemon::start(&dir, &[]);
    let newest = events(&d, 0).last().unwrap()["seq"].as_u64().unwrap();
    let mut open: Vec<Stream> = (0..MAX_STREAMS)
        .map(|_| Stream::open(&d, &format!("?since={newest}")))
        .collect();
    let (s, v) = d.call("GET", "/v1/events/stream", None);
    assert_eq!((s, code(&v)), (503, "too_many_streams"), "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&MAX_STREAMS.to_string()) && msg.contains("close one"),
        "{msg}"
    );
    // The other endpoints still answer.
    assert_eq!(d.get("/v1/status")["risk"]["level"], "NORMAL");

    // One closed: its place is free again (once the daemon has seen it go).
    drop(open.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let r = client()
            .get(d.url("/v1/events/stream?tail=0"))
            .bearer_auth(d.token())
            .send()
            .unwrap();
        if r.status().as_u16() == 200 {
            break;
        }
        assert_eq!(r.status().as_u16(), 503);
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(open);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_history_has_every_engine_sampled_and_pages_by_since() {
    let dir = temp_dir("ui-history");
    let d = Daemon::start(&dir, &[]);
    // Sampled every 10 s from the start; an engine is in a sample once it
    // has published its figures.
    let deadline = Instant::now() + WAIT;
    let h = loop {
        let h = d.get("/v1/history");
        let full = h["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["engines"].as_array().unwrap().len() == 2);
        if full {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "no sample with both engines: {h}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(h["every_s"], 10);
    assert_eq!(h["capacity"], 8640);
    let samples = h["samples"].as_array().unwrap();
    let last = samples.last().unwrap();
    assert_eq!(last["n"], h["next"]);
    assert_eq!(last["risk"], "NORMAL");
    let kc = last["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "KC")
        .unwrap();
    let equity: f64 = kc["equity"].as_str().unwrap().parse().unwrap();
    assert!(equity > 0.0, "{kc}");
    assert!(kc["outcomes"].is_object(), "{kc}");
    assert!(last["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h["more"], false);
    let next = h["next"].as_u64().unwrap();
    let after = d.get(&format!("/v1/history?since={next}"));
    assert_eq!(
        after["samples"].as_array().unwrap().len() as u64,
        after["next"].as_u64().unwrap() - next
    );
    // A `since` past the newest (a client of a daemon since started again)
    // gets nothing, and a `next` below it.
    let past = d.get("/v1/history?since=1000000");
    assert!(past["samples"].as_array().unwrap().is_empty());
    assert!(past["next"].as_u64().unwrap() < 1_000_000);
    let (s, v) = d.call("GET", "/v1/history?since=x", None);
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    // And the status names the tiers an operator may choose.
    assert_eq!(
        d.get("/v1/status")["mode"]["tiers"],
        serde_json::json!(["NANO", "MICRO", "MINI", "BALANCED"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shutdown_ends_the_open_streams() {
    let dir = temp_dir("ui-stream-shutdown");
    let mut d = Daemon::start(&dir, &[]);
    let mut s = Stream::open(&d, "?tail=1");
    s.next();
    let (st, v) = d.call("POST", "/v1/shutdown", Some(r#"{"reason":"stream test"}"#));
    assert_eq!(st, 202, "{v}");
    // The stream ends (the client's timeout would fail the read instead).
    let rest: Vec<String> = s.lines.by_ref().map(|l| l.expect("a line")).collect();
    assert!(
        rest.iter().any(|l| l.contains("shutting down")),
        "the stream's last lines: {rest:?}"
    );
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
