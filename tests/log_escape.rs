//! Text from outside never reaches a log line raw: an LLM endpoint (a real HTTP
//! server on a free loopback port, actix-web in this process) that answers an
//! error body full of terminal escapes and newlines is logged escaped, on one
//! line, bounded.

mod common;

use actix_web::{web, App, HttpResponse, HttpServer};
use commodore_actors::llm::client::{LlmClient, LlmConfig};
use std::time::Duration;

/// Recolours a terminal and forges a log line of its own.
const HOSTILE: &str =
    "\u{1b}[31moverloaded\u{1b}[0m\n2026-01-01T00:00:00Z ERROR commodore: FORGED risk=PANIC\r\n";

async fn hostile() -> HttpResponse {
    HttpResponse::InternalServerError().body(HOSTILE.repeat(20))
}

fn fake() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            HttpServer::new(|| App::new().route("/v1/chat/completions", web::post().to(hostile)))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run()
                .await
        })
    });
    format!("http://127.0.0.1:{port}/v1/chat/completions")
}

fn assert_safe(line: &str) {
    assert!(!line.chars().any(char::is_control), "raw control: {line:?}");
    assert!(line.contains("\\x1b[31moverloaded"), "escaped: {line:?}");
    assert!(line.contains("\\n2026-01-01"), "escaped: {line:?}");
}

#[actix_rt::test]
async fn an_llm_error_body_is_escaped_and_bounded() {
    let client = LlmClient::new(LlmConfig {
        endpoint: fake(),
        model: "test".into(),
        api_key: None,
        timeout: Duration::from_secs(10),
        max_response_bytes: 65_536,
    })
    .unwrap();
    let e = client
        .complete("system", "Frost in Brazil")
        .await
        .unwrap_err();
    let shown = e.to_string();
    assert_safe(&shown);
    assert!(shown.len() < 1200, "bounded: {} bytes", shown.len());
}

#[test]
fn the_daemon_logs_an_llm_error_body_on_one_escaped_line() {
    let endpoint = fake();
    let dir = common::temp_dir("log-escape");
    let mut d = common::Daemon::start(
        &dir,
        &[
            ("COMMODORE__LLM__ENABLED", "true"),
            ("COMMODORE__LLM__ENDPOINT", &endpoint),
            ("COMMODORE__LLM__TIMEOUT", "5s"),
            ("COMMODORE__FEED__SPEED", "3000"),
        ],
    );
    d.expect("LLM analysis failed");
    let line = d.seen.last().unwrap().clone();
    assert_safe(&line);
    assert!(
        !d.seen
            .iter()
            .any(|l| l.contains("FORGED") && !l.contains("LLM")),
        "a forged line: {:?}",
        d.seen
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    assert!(
        !d.seen.iter().any(|l| l.starts_with("2026-01-01")),
        "a forged line"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
