//! The outside world against a real HTTP server on a free loopback port (an
//! OpenAI-compatible fake served by actix-web in this process): up, down, slow,
//! garbage, error status, too large; the shared limiter, macro cache and budget;
//! HTTP news feeds (JSON, RSS, malformed items, a dead source);
//! and the daemon trading on with an endpoint that answers garbage.

mod common;

use actix_web::{web, App, HttpResponse, HttpServer};
use commodore_actors::kernel::Kernel;
use commodore_actors::llm::client::{LlmClient, LlmConfig, LlmError};
use commodore_actors::llm::{BudgetGuard, LlmServices, Prices};
use commodore_actors::model::Sentiment;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Garbage,
    Status500,
    Slow,
    Large,
}

#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    macro_calls: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

async fn chat(
    body: web::Json<Value>,
    mode: web::Data<Mode>,
    seen: web::Data<Seen>,
) -> HttpResponse {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let system = body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let is_macro = system.contains("summarise today's macroeconomic");
    if is_macro {
        seen.macro_calls.fetch_add(1, Ordering::SeqCst);
    }
    // Every call takes a moment, so concurrent callers overlap.
    actix_rt::time::sleep(Duration::from_millis(if *mode.get_ref() == Mode::Slow {
        2000
    } else {
        30
    }))
    .await;
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    let content = match (*mode.get_ref(), is_macro) {
        (_, true) => "Markets calm; dollar steady.".to_owned(),
        (Mode::Garbage, false) => "Probably up, I would say!".to_owned(),
        _ => r#"{"sentiment": "bullish", "confidence": 0.91}"#.to_owned(),
    };
    match *mode.get_ref() {
        Mode::Status500 => HttpResponse::InternalServerError().body("model overloaded"),
        Mode::Large => HttpResponse::Ok().body("x".repeat(200_000)),
        _ => HttpResponse::Ok().json(json!({
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
        })),
    }
}

/// Fresh items (a minute old), one from last year (stale), two malformed.
async fn feed_json() -> HttpResponse {
    // Fixed once: a feed repeats an item with the same time.
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let fresh = AT.get_or_init(|| (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339());
    HttpResponse::Ok().json(json!([
        {"at": fresh, "headline": "Frost damages Brazil coffee trees"},
        {"at": "2025-01-05T10:00:00Z", "headline": "Last year's news"},
        {"at": "not a time", "headline": "malformed"},
        {"headline": "no time at all"},
    ]))
}

async fn feed_rss() -> HttpResponse {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let fresh = AT.get_or_init(|| (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc2822());
    HttpResponse::Ok()
        .content_type("application/rss+xml")
        .body(format!(
            r#"<rss version="2.0"><channel><item><title>Drought in Minas Gerais</title>
        <pubDate>{fresh}</pubDate></item></channel></rss>"#
        ))
}

async fn feed_atom() -> HttpResponse {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let fresh = AT.get_or_init(|| (chrono::Utc::now() - chrono::Duration::minutes(3)).to_rfc3339());
    HttpResponse::Ok()
        .content_type("application/atom+xml")
        .body(format!(
            r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
        <title>Coffee wire</title><id>urn:wire</id><updated>{fresh}</updated>
        <entry><title>Brazil&#8217;s harvest slows</title><id>urn:1</id><updated>{fresh}</updated></entry></feed>"#
        ))
}

/// Serves the fake on a free port in a thread of its own; returns its URL.
fn fake(mode: Mode) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = seen.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(mode))
                    .app_data(web::Data::from(s.clone()))
                    .route("/v1/chat/completions", web::post().to(chat))
                    .route("/feed.json", web::get().to(feed_json))
                    .route("/feed.rss", web::get().to(feed_rss))
                    .route("/feed.atom", web::get().to(feed_atom))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run()
            .await
        })
    });
    (format!("http://127.0.0.1:{port}/v1/chat/completions"), seen)
}

fn client(endpoint: &str) -> LlmClient {
    LlmClient::new(LlmConfig {
        endpoint: endpoint.to_owned(),
        model: "test".into(),
        api_key: Some("sk-test".into()),
        timeout: Duration::from_millis(500),
        max_response_bytes: 65_536,
    })
    .unwrap()
}

fn services(endpoint: &str, max_concurrency: usize, budget: Decimal) -> Arc<LlmServices> {
    services_with(endpoint, max_concurrency, budget, Kernel::new(1))
}

fn services_with(
    endpoint: &str,
    max_concurrency: usize,
    budget: Decimal,
    kernel: Kernel,
) -> Arc<LlmServices> {
    LlmServices::new(
        client(endpoint),
        max_concurrency,
        BudgetGuard::new(
            budget,
            Prices {
                input_per_1k: Decimal::new(1, 3),
                output_per_1k: Decimal::new(2, 3),
            },
        ),
        kernel,
        commodore_actors::clock::Clock::wall(),
    )
}

#[actix_rt::test]
async fn every_way_the_endpoint_can_fail_is_an_error_not_a_crash() {
    let (up, _) = fake(Mode::Up);
    let a = client(&up)
        .analyze("KC", "Frost in Brazil", "calm")
        .await
        .unwrap();
    assert_eq!((a.sentiment, a.confidence), (Sentiment::Bullish, 0.91));
    assert_eq!(
        (a.usage.prompt_tokens, a.usage.completion_tokens),
        (1000, 100)
    );

    let (garbage, _) = fake(Mode::Garbage);
    let r = client(&garbage).analyze("KC", "x", "").await;
    assert!(matches!(r, Err(LlmError::Garbage(_))), "{r:?}");
    let (status, _) = fake(Mode::Status500);
    let r = client(&status).analyze("KC", "x", "").await;
    assert!(
        matches!(r, Err(LlmError::Status { status: 500, .. })),
        "{r:?}"
    );
    let (slow, _) = fake(Mode::Slow);
    let r = client(&slow).analyze("KC", "x", "").await;
    assert!(matches!(r, Err(LlmError::Timeout(_))), "{r:?}");
    let (large, _) = fake(Mode::Large);
    let r = client(&large).analyze("KC", "x", "").await;
    assert!(matches!(r, Err(LlmError::TooLarge(_))), "{r:?}");
    let down = format!(
        "http://127.0.0.1:{}/v1/chat/completions",
        common::free_port()
    );
    let r = client(&down).analyze("KC", "x", "").await;
    assert!(matches!(r, Err(LlmError::Unreachable(_))), "{r:?}");
}

#[actix_rt::test]
async fn the_limiter_bounds_calls_in_flight_and_the_macro_call_is_made_once_a_day() {
    let (up, seen) = fake(Mode::Up);
    let shared = services(&up, 2, Decimal::from(100));
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let s = shared.clone();
            actix_rt::spawn(async move {
                s.analyze(if i % 2 == 0 { "KC" } else { "CC" }, "Frost")
                    .await
            })
        })
        .collect();
    for c in calls {
        assert!(c.await.unwrap().is_ok());
    }
    assert_eq!(
        seen.macro_calls.load(Ordering::SeqCst),
        1,
        "one macro call for both engines"
    );
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        9,
        "8 analyses + 1 macro"
    );
    let max = seen.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 2, "at most max_concurrency in flight, saw {max}");
    assert_eq!(shared.stats.calls.load(Ordering::SeqCst), 8);
}

#[actix_rt::test]
async fn over_budget_the_llm_is_not_called_and_the_operator_is_told_once() {
    let (up, seen) = fake(Mode::Up);
    // Each call (the day's macro call too) costs 1000 × $0.001/1k + 100 ×
    // $0.002/1k = $0.0012: macro + a = $0.0024 < $0.003, + b = $0.0036: spent.
    let kernel = Kernel::new(1);
    let shared = services_with(&up, 4, Decimal::new(3, 3), kernel.clone()); // $0.003
    assert!(shared.analyze("KC", "a").await.is_ok());
    assert!(
        shared.analyze("KC", "b").await.is_ok(),
        "$0.0024 < $0.003 before it"
    );
    let r = shared.analyze("KC", "c").await;
    assert_eq!(r, Err(LlmError::OverBudget));
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        3,
        "2 analyses + 1 macro; none after"
    );
    assert_eq!(shared.stats.over_budget.load(Ordering::SeqCst), 1);
    let told: Vec<_> = kernel
        .events()
        .recent(0, 100)
        .into_iter()
        .filter(|e| e.kind.as_str() == "budget_exhausted")
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
}

#[test]
fn the_daemon_trades_on_when_the_llm_answers_garbage() {
    let (garbage, seen) = fake(Mode::Garbage);
    let dir = common::temp_dir("llm-garbage");
    let mut d = common::Daemon::start(
        &dir,
        &[
            ("COMMODORE__LLM__ENABLED", "true"),
            ("COMMODORE__LLM__ENDPOINT", &garbage),
            ("COMMODORE__LLM__TIMEOUT", "2s"),
            ("COMMODORE__FEED__SPEED", "3000"),
        ],
    );
    for _ in 0..3 {
        d.expect("kind=\"order_filled\"");
    }
    assert!(
        seen.requests.load(Ordering::SeqCst) > 0,
        "headlines went to the LLM"
    );
    assert!(
        d.seen.iter().any(|l| l.contains("LLM analysis failed")),
        "and the failures are logged"
    );
    assert_eq!(d.call_as(None, "GET", "/healthz", None).0, 200);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_api_key_variable_that_is_not_set_is_a_config_error() {
    let out = common::commodore()
        .arg("check-config")
        .env("COMMODORE__LLM__ENABLED", "true")
        .env("COMMODORE__LLM__API_KEY_ENV", "COMMODORE_TEST_NO_SUCH_KEY")
        .env_remove("COMMODORE_TEST_NO_SUCH_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("llm.api_key_env") && err.contains("COMMODORE_TEST_NO_SUCH_KEY"),
        "{err}"
    );
}

#[test]
fn http_feeds_bring_news_and_malformed_items_or_a_dead_source_are_counted() {
    let (chat_url, seen) = fake(Mode::Up);
    let base = chat_url.trim_end_matches("/v1/chat/completions").to_owned();
    let dir = common::temp_dir("feeds");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("feeds.toml");
    let down = format!("http://127.0.0.1:{}/gone", common::free_port());
    std::fs::write(
        &file,
        format!(
            r#"[[engines]]
id = "KC"
feeds = [
  {{ kind = "json", url = "{base}/feed.json", every = "1s" }},
  {{ kind = "rss", url = "{base}/feed.rss", every = "1s" }},
  {{ kind = "atom", url = "{base}/feed.atom", every = "1s" }},
  {{ kind = "json", url = "{down}", every = "1s", timeout = "200ms", attempts = 2 }},
]

[[engines]]
id = "CC"
"#
        ),
    )
    .unwrap();
    let mut d = common::Daemon::spawn_args(
        &dir,
        common::free_port(),
        &["--config", file.to_str().unwrap()],
        &[],
    );
    d.expect_any("malformed feed items dropped");
    d.expect_any("feed poll failed");
    // The status view refreshes every second; wait on the polls' own log lines.
    let mut kc = Value::Null;
    for _ in 0..30 {
        d.expect("feed poll failed");
        let st = d.get("/v1/status");
        kc = common::engine(&st, "KC");
        if kc["activity"]["feed_items"].as_u64() >= Some(3)
            && kc["activity"]["feed_failures"].as_u64() >= Some(1)
        {
            break;
        }
    }
    let a = &kc["activity"];
    assert_eq!(
        a["feed_items"].as_u64(),
        Some(3),
        "one JSON, one RSS and one Atom item, each once: {kc}"
    );
    assert!(
        a["feed_malformed"].as_u64() >= Some(3),
        "two malformed, one stale: {kc}"
    );
    assert!(a["feed_failures"].as_u64() >= Some(1), "{kc}");
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        0,
        "the LLM is off by default"
    );
    assert_eq!(d.call_as(None, "GET", "/healthz", None).0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
