//! Black-box, over raw TCP: the answers the HTTP layer writes before a request
//! exists (a malformed head, a head too large, a head that never ends) carry
//! the contract's error shape like every other error, and the App's own answers
//! are left as they are.

mod common;

use common::{code, temp_dir, Daemon};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Bound on every read: a server that never answers or never closes fails the
/// test instead of hanging it. Generous: the slowest answer is the 5 s head
/// timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s
}

/// Everything the server sends until it closes the connection.
fn until_closed(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => panic!(
            "the server did not answer and close ({e}); it sent {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

/// The answer's status line, its header fields (names lowercased) and its body
/// as JSON; the body must be exactly `content-length` bytes.
fn parse(answer: &str) -> (String, Vec<(String, String)>, Value) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head: {answer:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_owned();
    let fields: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("{l:?}"));
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}: {answer:?}"))
    };
    assert_eq!(
        field("content-length"),
        body.len().to_string(),
        "{answer:?}"
    );
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    (status, fields, v)
}

/// A protocol-level refusal: `status`, JSON, closed, the contract's shape.
fn assert_shaped(answer: &str, status: &str, expected_code: &str) -> String {
    let (line, fields, v) = parse(answer);
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status} ")),
        "{answer:?}"
    );
    assert!(
        fields.contains(&("content-type".into(), "application/json".into())),
        "{answer:?}"
    );
    assert!(
        fields.contains(&("connection".into(), "close".into())),
        "{answer:?}"
    );
    assert_eq!(code(&v), expected_code, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {v}");
    assert_eq!(
        v["error"].as_object().unwrap().len(),
        2,
        "code, message: {v}"
    );
    let message = v["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty(), "{v}");
    message
}

#[test]
fn protocol_errors_have_the_contract_shape() {
    let dir = temp_dir("api-wire");
    let d = Daemon::start(&dir, &[]);

    // Opened first: its head timer runs while the others are answered.
    let mut never_ends = connect(d.port);
    never_ends
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
        .unwrap();

    // A malformed request line.
    let mut s = connect(d.port);
    s.write_all(b"GET /v1/status HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let message = assert_shaped(&until_closed(s), "400", "bad_request");
    assert!(message.starts_with("malformed HTTP request: "), "{message}");

    // A header name with a space in it.
    let mut s = connect(d.port);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: 1\r\n\r\n")
        .unwrap();
    assert_shaped(&until_closed(s), "400", "bad_request");

    // 40 KiB of headers: 160 lines of 256 bytes, more lines than actix-http takes.
    let mut head = String::from("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..160 {
        head.push_str(&format!("X-Filler-{i:03}: {}\r\n", "a".repeat(240)));
    }
    head.push_str("\r\n");
    assert!(head.len() > 40 * 1024);
    let mut s = connect(d.port);
    s.write_all(head.as_bytes()).unwrap();
    let message = assert_shaped(&until_closed(s), "431", "request_header_fields_too_large");
    assert!(message.contains("header"), "{message}");

    // The head that never ends: 408 once its 5 s are up.
    let message = assert_shaped(&until_closed(never_ends), "408", "request_timeout");
    assert!(message.contains("5 s"), "{message}");

    // The App's own answers are untouched: its 404 and 401 in the shape, once.
    let mut s = connect(d.port);
    s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let answer = until_closed(s);
    let (line, _, v) = parse(&answer);
    assert!(line.starts_with("HTTP/1.1 404 "), "{answer:?}");
    assert_eq!(code(&v), "not_found", "{v}");
    let mut s = connect(d.port);
    s.write_all(b"GET /v1/status HTTP/1.0\r\n\r\n").unwrap();
    let answer = until_closed(s);
    let (line, _, v) = parse(&answer);
    assert!(line.starts_with("HTTP/1.0 401 "), "{answer:?}");
    assert_eq!(code(&v), "unauthorized", "{v}");

    // And the daemon is still serving.
    assert_eq!(d.get("/v1/status")["risk"]["level"], "NORMAL");
    let _ = std::fs::remove_dir_all(&dir);
}
