//! Black-box: local processes that hold connections open on purpose (slow
//! headers, chunked bodies never finished) do not keep the operator out, and the
//! server closes what stalls.

mod common;

use common::{code, temp_dir, Daemon};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The operator's patience: an answer later than this is a lock-out. Generous
/// for a loaded machine; the daemon answers in milliseconds.
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(10);
/// Stalled connections of each kind.
const STALLED: usize = 150;

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// A request head that never ends.
fn slow_headers(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
        .unwrap();
    s
}

/// A whole head, then a chunked body that never ends.
fn unfinished_chunked(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    )
    .unwrap();
    s
}

/// Everything the server sends until it closes the connection (bounded by the
/// read timeout: a server that never closes fails the test).
fn until_closed(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => panic!(
            "the server kept the connection open ({e}); it sent {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

fn operator(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let http = reqwest::blocking::Client::builder()
        .timeout(OPERATOR_TIMEOUT)
        .build()
        .unwrap();
    let mut req = http
        .request(method.parse().unwrap(), d.url(path))
        .bearer_auth(d.token());
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("{method} {path} behind stalled connections: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn stalled_connections_do_not_lock_the_operator_out() {
    let dir = temp_dir("api-stalled");
    let mut d = Daemon::start(&dir, &[]);
    let mut slow = Vec::new();
    let mut chunked = Vec::new();
    for _ in 0..STALLED {
        slow.push(slow_headers(d.port));
        chunked.push(unfinished_chunked(d.port));
    }

    let (s, v) = operator(&d, "GET", "/v1/status", None);
    assert_eq!(s, 200, "{v}");
    let (s, v) = operator(
        &d,
        "POST",
        "/v1/risk/escalate",
        Some(r#"{"level":"WARNING","reason":"stalled connections test"}"#),
    );
    assert_eq!(
        (s, &v["risk"]["level"]),
        (200, &Value::from("WARNING")),
        "{v}"
    );

    // The server closes a head that never ends (408), and a connection whose
    // body nobody reads right after its answer.
    let answer = until_closed(slow.pop().unwrap());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let answer = until_closed(chunked.pop().unwrap());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");

    let (s, v) = operator(&d, "POST", "/v1/shutdown", Some(r#"{"reason":"test"}"#));
    assert_eq!(s, 202, "{v}");
    drop((slow, chunked));
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A command whose body stops coming is refused in the contract's shape, and the
/// connection is closed.
#[test]
fn a_body_that_stops_coming_is_a_408_in_the_contract_shape() {
    let dir = temp_dir("api-body-timeout");
    let d = Daemon::start(&dir, &[]);
    let mut s = connect(d.port);
    write!(
        s,
        "POST /v1/risk/escalate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"level\":",
        d.token()
    )
    .unwrap();
    let answer = until_closed(s);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    assert_eq!(code(&v), "request_timeout", "{v}");
    assert_eq!(
        d.get("/v1/status")["risk"]["level"],
        "NORMAL",
        "nothing changed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
