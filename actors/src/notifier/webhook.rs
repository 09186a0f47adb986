//! Webhooks, pure: which events become which notification kinds, the body each
//! kind of webhook gets, what an answer means (delivered, retry, give up), the
//! retry backoff with jitter and the per-webhook rate limit.

use crate::kernel::Event;
use std::time::Duration;

/// The notification kinds a webhook can filter on.
pub const KINDS: [&str; 8] = [
    "trade",
    "risk",
    "breaker",
    "mode_transition",
    "error",
    "recovery",
    "milestone",
    "summary",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    Discord,
    Slack,
    Json,
}

/// One configured webhook. The URL is a secret: `Debug` does not show it and
/// nothing logs it; the webhook is named by `name`.
#[derive(Clone)]
pub struct Target {
    pub name: String,
    pub kind: WebhookKind,
    pub url: String,
    /// Notification kinds it wants; empty: all.
    pub events: Vec<String>,
    pub rate_per_min: u32,
    pub timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &"<redacted>")
            .field("events", &self.events)
            .finish()
    }
}

impl Target {
    pub fn wants(&self, kinds: &[&'static str]) -> bool {
        self.kind_for(kinds).is_some()
    }

    /// The kind this webhook gets an event of `kinds` as: the first of them it
    /// asked for (a `breaker_closed` is `recovery` to a webhook that wants only
    /// recoveries), or none.
    pub fn kind_for(&self, kinds: &[&'static str]) -> Option<&'static str> {
        kinds
            .iter()
            .copied()
            .find(|k| self.events.is_empty() || self.events.iter().any(|e| e == k))
    }
}

/// The notification kinds of a journaled event (none: not notified).
pub fn kinds_of(e: &Event) -> &'static [&'static str] {
    // `master/engines/<id>`: an engine's own supervisor.
    let engine = crate::paths::engine_id(&e.path).is_some();
    match e.kind.as_str() {
        "order_filled" | "rolled" => &["trade"],
        "risk_changed" => &["risk"],
        "breaker_opened" => &["breaker"],
        "breaker_closed" => &["breaker", "recovery"],
        "mode_changed" => &["mode_transition"],
        "gave_up"
        | "budget_exhausted"
        | "stale"
        | "reconcile_mismatch"
        | "reconcile_incomplete"
        | "roll_failed" => &["error"],
        "daily_summary" => &["summary"],
        "recovered" => &["recovery"],
        "failed" if engine => &["error"],
        "restarted" if engine => &["recovery"],
        _ => &[],
    }
}

/// One line for people.
pub fn text(kind: &str, event: &str, path: &str, detail: &str) -> String {
    format!("commodore [{kind}] {event} {path}: {detail}")
}

/// The body a webhook of `target` gets. `id` is the notification's dedupe key
/// (also sent as the `Idempotency-Key` header): a receiver that sees it twice
/// (a crash between its answer and our bookkeeping) can drop the second.
pub fn body(
    target: WebhookKind,
    id: &str,
    kind: &str,
    event: &str,
    path: &str,
    detail: &str,
    at_ms: u64,
) -> String {
    let line = text(kind, event, path, detail);
    let v = match target {
        // Discord refuses content over 2,000 characters.
        WebhookKind::Discord => serde_json::json!({ "content": truncate(&line, 1_900) }),
        WebhookKind::Slack => serde_json::json!({ "text": line }),
        WebhookKind::Json => serde_json::json!({
            "id": id,
            "kind": kind,
            "event": event,
            "path": path,
            "detail": detail,
            "at_ms": at_ms,
        }),
    };
    v.to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// What an attempt's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again: after `after` if the webhook said when (429 Retry-After),
    /// else after the backoff.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Never going to work (4xx other than 429): logged, counted, dropped.
    GiveUp(String),
}

/// The longest wait a Retry-After may ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A Retry-After header: delay-seconds or an HTTP-date (RFC 9110), as a wait
/// from `now_ms`, at most `MAX_RETRY_AFTER`; a date in the past is no wait.
/// Anything else is `None` (the backoff applies).
pub fn retry_after(value: &str, now_ms: u64) -> Option<Duration> {
    let v = value.trim();
    let wait = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => {
            let at_ms = http_date_ms(v)?;
            Duration::from_millis(at_ms.saturating_sub(now_ms))
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// An HTTP-date in any of the three forms RFC 9110 says a recipient must
/// accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
fn http_date_ms(v: &str) -> Option<u64> {
    let at = httpdate::parse_http_date(v).ok()?;
    let ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    Some(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Classifies an HTTP status (and its Retry-After header) or a transport error.
pub fn verdict(answer: Result<(u16, Option<&str>), String>, now_ms: u64) -> Verdict {
    match answer {
        Err(e) => Verdict::Retry {
            after: None,
            why: e,
        },
        Ok((s, _)) if (200..300).contains(&s) => Verdict::Delivered,
        Ok((429, header)) => Verdict::Retry {
            after: header.and_then(|v| retry_after(v, now_ms)),
            why: "429 too many requests".into(),
        },
        Ok((s, _)) if s >= 500 => Verdict::Retry {
            after: None,
            why: format!("status {s}"),
        },
        // A redirect is not followed (a webhook URL carries its secret), and
        // not given up on either: a moved endpoint is an operator's fix, and
        // what waits (a risk change) must still get through once it is made.
        Ok((s, _)) if (300..400).contains(&s) => Verdict::Retry {
            after: None,
            why: format!("status {s}: the webhook redirects (not followed): fix its URL"),
        },
        Ok((s, _)) => Verdict::GiveUp(format!("status {s}: the webhook refuses this request")),
    }
}

/// The wait before attempt `attempts + 1`: `min` doubled per attempt up to
/// `max`, then "equal jitter" (half fixed, half random from `random` in
/// [0, 1)) so that many notifications do not retry in step.
pub fn backoff(attempts: u32, min: Duration, max: Duration, random: f64) -> Duration {
    let base = min
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(max);
    base / 2 + base.mul_f64(random.clamp(0.0, 1.0) / 2.0)
}

/// A token bucket: `per_min` tokens a minute, a burst of as many.
#[derive(Debug, Clone)]
pub struct Rate {
    per_min: f64,
    tokens: f64,
    at_ms: u64,
}

impl Rate {
    pub fn new(per_min: u32, now_ms: u64) -> Rate {
        Rate {
            per_min: f64::from(per_min.max(1)),
            tokens: f64::from(per_min.max(1)),
            at_ms: now_ms,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now_ms: u64) -> bool {
        let dt = now_ms.saturating_sub(self.at_ms) as f64 / 60_000.0;
        self.tokens = (self.tokens + dt * self.per_min).min(self.per_min);
        self.at_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::EventKind;

    fn ev(kind: EventKind, path: &str) -> Event {
        Event {
            seq: 1,
            at_ms: 0,
            kind,
            path: path.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn events_map_to_kinds() {
        let o = EventKind::Other;
        assert_eq!(
            kinds_of(&ev(o("order_filled"), "master/engines/KC/executor")),
            ["trade"]
        );
        assert_eq!(
            kinds_of(&ev(o("breaker_closed"), "master/engines/KC")),
            ["breaker", "recovery"]
        );
        assert_eq!(
            kinds_of(&ev(EventKind::Failed, "master/engines/KC")),
            ["error"]
        );
        assert!(
            kinds_of(&ev(EventKind::Failed, "master/engines/KC/analyzer")).is_empty(),
            "a worker restart is not an error"
        );
        assert_eq!(
            kinds_of(&ev(EventKind::Restarted, "master/engines/KC")),
            ["recovery"]
        );
        assert!(kinds_of(&ev(o("order_submitted"), "x")).is_empty());
        assert_eq!(
            kinds_of(&ev(o("stale"), "master/engines/KC/sentinel")),
            ["error"],
            "stale market data is an alert"
        );
        assert_eq!(
            kinds_of(&ev(o("recovered"), "master/engines/KC/sentinel")),
            ["recovery"]
        );
        assert_eq!(
            kinds_of(&ev(o("reconcile_mismatch"), "master/reconcile")),
            ["error"],
            "a journal that disagrees with the broker is an alert"
        );
        assert_eq!(
            kinds_of(&ev(o("daily_summary"), "master/reconcile")),
            ["summary"]
        );
    }

    #[test]
    fn a_webhook_gets_an_event_as_the_first_kind_it_asked_for() {
        let t = |events: &[&str]| Target {
            name: "desk".into(),
            kind: WebhookKind::Json,
            url: "http://127.0.0.1:9/hook".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            rate_per_min: 30,
            timeout: Duration::from_secs(5),
        };
        let closed = ["breaker", "recovery"];
        assert_eq!(t(&["recovery"]).kind_for(&closed), Some("recovery"));
        assert_eq!(
            t(&["breaker", "recovery"]).kind_for(&closed),
            Some("breaker")
        );
        assert_eq!(t(&[]).kind_for(&closed), Some("breaker"), "no filter: all");
        assert_eq!(t(&["trade"]).kind_for(&closed), None);
        assert!(!t(&["trade"]).wants(&closed));
    }

    #[test]
    fn each_webhook_kind_has_its_body() {
        let d = body(
            WebhookKind::Discord,
            "event:7",
            "risk",
            "risk_changed",
            "master/portfolio_risk",
            "NORMAL -> HALT",
            5,
        );
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(
            v["content"],
            "commodore [risk] risk_changed master/portfolio_risk: NORMAL -> HALT"
        );
        let s: serde_json::Value = serde_json::from_str(&body(
            WebhookKind::Slack,
            "i",
            "trade",
            "order_filled",
            "p",
            "d",
            5,
        ))
        .unwrap();
        assert_eq!(s["text"], "commodore [trade] order_filled p: d");
        let j: serde_json::Value = serde_json::from_str(&body(
            WebhookKind::Json,
            "event:7",
            "risk",
            "risk_changed",
            "p",
            "d",
            5,
        ))
        .unwrap();
        assert_eq!(
            (j["id"].as_str(), j["kind"].as_str(), j["at_ms"].as_u64()),
            (Some("event:7"), Some("risk"), Some(5))
        );
        let long = "x".repeat(5_000);
        let v: serde_json::Value = serde_json::from_str(&body(
            WebhookKind::Discord,
            "i",
            "error",
            "gave_up",
            "p",
            &long,
            0,
        ))
        .unwrap();
        assert!(v["content"].as_str().unwrap().chars().count() <= 1_901);
    }

    #[test]
    fn answers_decide_what_happens_next() {
        assert_eq!(verdict(Ok((204, None)), 0), Verdict::Delivered);
        assert_eq!(
            verdict(Ok((429, Some("7"))), 0),
            Verdict::Retry {
                after: Some(Duration::from_secs(7)),
                why: "429 too many requests".into()
            }
        );
        assert_eq!(
            verdict(Ok((429, Some("99999"))), 0),
            Verdict::Retry {
                after: Some(MAX_RETRY_AFTER),
                why: "429 too many requests".into()
            }
        );
        assert!(matches!(
            verdict(Ok((429, Some("soon"))), 0),
            Verdict::Retry { after: None, .. }
        ));
        assert!(matches!(
            verdict(Ok((503, None)), 0),
            Verdict::Retry { after: None, .. }
        ));
        assert!(matches!(
            verdict(Err("timed out".into()), 0),
            Verdict::Retry { after: None, .. }
        ));
        assert!(matches!(verdict(Ok((404, None)), 0), Verdict::GiveUp(_)));
        // A redirect is retried (and said), never a notification given up.
        for s in [301, 302, 307, 308] {
            assert!(
                matches!(verdict(Ok((s, None)), 0), Verdict::Retry { ref why, .. } if why.contains("fix its URL")),
                "{s}"
            );
        }
        // An HTTP-date: the wait until then (Sun, 06 Nov 1994 08:49:37 GMT is
        // 784,111,777 s after the epoch).
        let at = 784_111_777_000;
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 90_000),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 5_000),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        assert_eq!(
            retry_after("Sat, 06 Nov 2094 08:49:37 GMT", at),
            Some(MAX_RETRY_AFTER)
        );
        // The two obsolete forms a recipient must still accept, same instant.
        for obsolete in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(
                retry_after(obsolete, at - 90_000),
                Some(Duration::from_secs(90)),
                "{obsolete}"
            );
        }
        assert_eq!(retry_after(" 12 ", 0), Some(Duration::from_secs(12)));
        assert_eq!(retry_after("next tuesday", 0), None);
        assert!(matches!(verdict(Ok((400, None)), 0), Verdict::GiveUp(_)));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, min, max, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, min, max, 0.999_999).as_millis(), 999);
        assert_eq!(
            backoff(3, min, max, 0.0),
            Duration::from_secs(2),
            "4 s base"
        );
        assert_eq!(
            backoff(30, min, max, 0.0),
            Duration::from_secs(30),
            "capped at 60 s base"
        );
    }

    #[test]
    fn the_rate_refills_per_minute() {
        let mut r = Rate::new(2, 0);
        assert!(r.take(0) && r.take(0));
        assert!(!r.take(29_999), "one token takes 30 s");
        assert!(r.take(30_000));
    }
}
