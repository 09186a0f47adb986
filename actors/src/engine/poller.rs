//! The HTTP poller: fetches a JSON or RSS news source every `every`, with a
//! timeout, retries with exponential backoff, and a size limit. Malformed items
//! are dropped, counted and logged; a source that keeps failing is logged and
//! counted, never a crash. Items already seen are not sent again (bounded
//! memory of the last `SEEN_LIMIT`).
//!
//! Time: whether an item is fresh is judged on the wall clock (the source's
//! own time); an item is handed on stamped at the market time it arrived, so
//! on bundled data at `feed.speed` (a market clock of its own) a live
//! headline is news "now" to the engines, never a look into their future.

use super::analyzer::Analyzer;
use super::messages::RawEvent;
use super::recent::Recent;
use super::sentinel::Sentinel;
use crate::clock::Clock;
use crate::kernel::{Ctx, Handle, Worker};
use crate::logsafe::{printable, LOG_CHARS};
use crate::model::Headline;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// `[{"at": "<RFC 3339>", "headline": "...", "symbol"?: "..."}]`
    Json,
    /// RSS (`<item><title>…</title><pubDate>RFC 2822</pubDate></item>`) or
    /// Atom (`<entry><title>…</title><published>RFC 3339</published>`).
    Rss,
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub kind: FeedKind,
    pub url: String,
    pub every: Duration,
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Attempts per poll (1 = no retry); backoff doubles from `retry_backoff`.
    pub attempts: u32,
    pub retry_backoff: Duration,
}

/// Items per response beyond this are dropped (counted).
pub const MAX_ITEMS: usize = 500;
/// Items older than this (wall time), or dated further ahead, are dropped: an
/// old headline replayed by a feed must not trade now.
pub const MAX_ITEM_AGE_MS: u64 = 24 * 3_600_000;
pub const MAX_ITEM_AHEAD_MS: u64 = 5 * 60_000;
/// Headline text is cut to this many characters.
pub const MAX_HEADLINE_CHARS: usize = 500;
const SEEN_LIMIT: usize = 4096;

#[derive(Default)]
pub struct PollerStats {
    pub polls: AtomicU64,
    pub items: AtomicU64,
    pub malformed: AtomicU64,
    pub failures: AtomicU64,
}

/// Parses a JSON feed body: items that do not fit are counted, not fatal.
pub fn parse_json(body: &[u8], symbol: &str) -> Result<(Vec<Headline>, u64), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let items = v
        .as_array()
        .or_else(|| v["items"].as_array())
        .ok_or("expected an array of items (or {\"items\": [...]})")?;
    let mut out = Vec::new();
    let mut bad = 0;
    for it in items.iter() {
        if out.len() >= MAX_ITEMS {
            bad += 1;
            continue;
        }
        let at = it["at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
        let text = it["headline"]
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let sym = it["symbol"].as_str().unwrap_or(symbol);
        match (at, text) {
            (Some(at), Some(text)) if sym == symbol => out.push(Headline {
                symbol: symbol.to_owned(),
                at_ms: at.timestamp_millis().max(0) as u64,
                text: text.chars().take(MAX_HEADLINE_CHARS).collect(),
            }),
            (Some(_), Some(_)) => {} // another symbol's item: not ours, not malformed
            _ => bad += 1,
        }
    }
    Ok((out, bad))
}

/// Parses an RSS (0.9x, 1.0, 2.0) or Atom body with `feed-rs`: each entry
/// with a title and a date (RSS `pubDate`, Atom `published`, else its
/// `updated`) is a headline; an entry without either is counted, not fatal.
pub fn parse_rss(body: &[u8], symbol: &str) -> Result<(Vec<Headline>, u64), String> {
    // feed-rs also reads JSON Feed; a JSON body here is a mistaken `kind`.
    if body.trim_ascii_start().first() != Some(&b'<') {
        return Err("not an RSS or Atom document (it does not start with '<'); a JSON source is kind = \"json\"".into());
    }
    let feed =
        feed_rs::parser::parse(body).map_err(|e| format!("not an RSS or Atom document: {e}"))?;
    let mut out = Vec::new();
    let mut bad = 0;
    for entry in feed.entries {
        if out.len() >= MAX_ITEMS {
            bad += 1;
            continue;
        }
        let title = entry
            .title
            .map(|t| t.content.trim().to_owned())
            .filter(|t| !t.is_empty());
        match (title, entry.published.or(entry.updated)) {
            (Some(t), Some(at)) => out.push(Headline {
                symbol: symbol.to_owned(),
                at_ms: at.timestamp_millis().max(0) as u64,
                text: t.chars().take(MAX_HEADLINE_CHARS).collect(),
            }),
            _ => bad += 1,
        }
    }
    Ok((out, bad))
}

/// A feed's URL as a log line may show it: no user or password, and no
/// query string (where API keys go), only that there was one.
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let mut s = u.to_string();
            if had_query {
                s.push_str("?<redacted>");
            }
            s
        }
        Err(_) => match url.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => url.to_owned(),
        },
    }
}

struct Fetcher {
    http: reqwest::Client,
    cfg: FeedConfig,
}

impl Fetcher {
    async fn once(&self) -> Result<Vec<u8>, String> {
        let mut resp = self
            .http
            .get(&self.cfg.url)
            .send()
            .await
            // The URL may carry a key: never in an error (a log line).
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(c) = resp
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            body.extend_from_slice(&c);
            if body.len() > self.cfg.max_bytes {
                return Err(format!("body over {} bytes", self.cfg.max_bytes));
            }
        }
        Ok(body)
    }

    /// With retries and exponential backoff.
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let mut wait = self.cfg.retry_backoff;
        let mut last = String::new();
        for attempt in 1..=self.cfg.attempts.max(1) {
            match self.once().await {
                Ok(b) => return Ok(b),
                Err(e) => last = format!("attempt {attempt}: {e}"),
            }
            if attempt < self.cfg.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(self.cfg.every);
            }
        }
        Err(last)
    }
}

pub struct Poller {
    fetcher: Arc<Fetcher>,
    symbol: String,
    analyzer: Handle<Analyzer>,
    sentinel: Handle<Sentinel>,
    stats: Arc<PollerStats>,
    seen: Arc<Mutex<Recent<(u64, String)>>>,
    busy: Arc<AtomicBool>,
    /// The wall clock: whether an item is fresh is the outside world's time.
    wall: Clock,
    /// The market clock: an item is stamped at the market time it arrives
    /// (never a time the market has not reached).
    market: Clock,
}

impl Poller {
    pub fn factory(
        cfg: FeedConfig,
        symbol: String,
        analyzer: Handle<Analyzer>,
        sentinel: Handle<Sentinel>,
        stats: Arc<PollerStats>,
        wall: Clock,
        market: Clock,
    ) -> Result<impl Fn() -> Poller + Send + Sync + 'static, String> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| format!("cannot build the feed client: {e}"))?;
        let fetcher = Arc::new(Fetcher { http, cfg });
        let seen = Arc::new(Mutex::new(Recent::new(SEEN_LIMIT)));
        Ok(move || Poller {
            fetcher: fetcher.clone(),
            symbol: symbol.clone(),
            analyzer: analyzer.clone(),
            sentinel: sentinel.clone(),
            stats: stats.clone(),
            seen: seen.clone(),
            busy: Arc::new(AtomicBool::new(false)),
            wall,
            market,
        })
    }

    fn poll(&mut self, ctx: &mut Ctx<'_, Self>) {
        // One poll at a time: a slow source is not asked twice at once.
        if self.busy.swap(true, Ordering::SeqCst) {
            return;
        }
        let (wall, market) = (self.wall, self.market);
        let (fetcher, symbol, analyzer, sentinel, stats, seen, busy, path) = (
            self.fetcher.clone(),
            self.symbol.clone(),
            self.analyzer.clone(),
            self.sentinel.clone(),
            self.stats.clone(),
            self.seen.clone(),
            self.busy.clone(),
            ctx.path().to_owned(),
        );
        ctx.spawn(async move {
            stats.polls.fetch_add(1, Ordering::Relaxed);
            let parsed = fetcher.fetch().await.and_then(|body| match fetcher.cfg.kind {
                FeedKind::Json => parse_json(&body, &symbol),
                FeedKind::Rss => parse_rss(&body, &symbol),
            });
            match parsed {
                Err(e) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(actor = %path, url = %redacted(&fetcher.cfg.url), error = %printable(&e, LOG_CHARS), "feed poll failed");
                }
                Ok((items, bad)) => {
                    let now = wall.now_ms();
                    let (items, stale): (Vec<_>, Vec<_>) = items.into_iter().partition(|h| {
                        h.at_ms + MAX_ITEM_AGE_MS >= now && h.at_ms <= now + MAX_ITEM_AHEAD_MS
                    });
                    let bad = bad + stale.len() as u64;
                    if bad > 0 {
                        stats.malformed.fetch_add(bad, Ordering::Relaxed);
                        tracing::warn!(actor = %path, url = %redacted(&fetcher.cfg.url), dropped = bad, "malformed feed items dropped");
                    }
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for h in items {
                        if !seen.insert((h.at_ms, h.text.clone())) {
                            continue;
                        }
                        stats.items.fetch_add(1, Ordering::Relaxed);
                        // Known to the market now, whatever time the source
                        // gave it (on a live market clock the two agree).
                        let h = Headline {
                            at_ms: market.now_ms(),
                            ..h
                        };
                        let _ = sentinel.tell(RawEvent::News(h.clone()));
                        let _ = analyzer.tell(RawEvent::News(h));
                    }
                }
            }
            busy.store(false, Ordering::SeqCst);
        });
    }
}

impl Worker for Poller {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.poll(ctx);
        let every = self.fetcher.cfg.every;
        ctx.run_interval(every, |p, ctx| p.poll(ctx));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_url_in_a_log_line_shows_no_key() {
        assert_eq!(
            redacted("https://user:pw@news.example/rss?apikey=s3cret&x=1"),
            "https://news.example/rss?<redacted>"
        );
        assert_eq!(
            redacted("https://news.example/rss"),
            "https://news.example/rss"
        );
        assert_eq!(redacted("not a url?key=1"), "not a url?<redacted>");
    }

    #[test]
    fn json_items_that_do_not_fit_are_counted_not_fatal() {
        let body = br#"[
            {"at": "2026-01-05T10:00:00Z", "headline": "Frost in Brazil"},
            {"at": "2026-01-05T10:01:00Z", "headline": "Cocoa news", "symbol": "CC"},
            {"at": "yesterday", "headline": "bad date"},
            {"at": "2026-01-05T10:02:00Z"},
            {"at": "2026-01-05T10:03:00Z", "headline": "   "},
            42
        ]"#;
        let (items, bad) = parse_json(body, "KC").unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].text, "Frost in Brazil");
        assert_eq!(bad, 4, "the CC item is not ours, not malformed");
        assert!(parse_json(b"<html>", "KC").is_err());
        assert!(parse_json(br#"{"foo": 1}"#, "KC").is_err());
        let (items, _) = parse_json(
            br#"{"items": [{"at": "2026-01-05T10:00:00+01:00", "headline": "x"}]}"#,
            "KC",
        )
        .unwrap();
        assert_eq!(items[0].at_ms, 1_767_603_600_000, "offsets are honoured");
    }

    #[test]
    fn rss_items_parse_with_cdata_and_entities() {
        let body = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
            <item><title>Drought &amp; heat in Brazil</title><pubDate>Mon, 05 Jan 2026 10:00:00 GMT</pubDate></item>
            <item><title><![CDATA[Ghana <cocoa> output falls]]></title><pubDate>Mon, 05 Jan 2026 11:00:00 +0000</pubDate></item>
            <item><title>No date</title></item>
            <item><pubDate>Mon, 05 Jan 2026 12:00:00 GMT</pubDate></item>
        </channel></rss>"#;
        let (items, bad) = parse_rss(body, "KC").unwrap();
        assert_eq!(
            items.iter().map(|h| h.text.as_str()).collect::<Vec<_>>(),
            ["Drought & heat in Brazil", "Ghana <cocoa> output falls"]
        );
        assert_eq!(items[0].at_ms, 1_767_607_200_000);
        assert_eq!(bad, 2);
        assert!(parse_rss(b"{\"json\": true}", "KC").is_err());
        assert!(parse_rss(&[0xff, 0xfe], "KC").is_err());
        assert!(parse_rss(b"<html><body>Not found</body></html>", "KC").is_err());
    }

    #[test]
    fn numeric_entities_and_longer_tag_names_are_read_as_xml() {
        // `<titleExtra>` is not `<title>`, and `&#8217;` / `&#x2019;` are a
        // right single quote.
        let body = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
            <item><titleExtra>not this</titleExtra><title>Brazil&#8217;s frost &#x2019;worst&#x2019;</title>
            <pubDate>Mon, 05 Jan 2026 10:00:00 GMT</pubDate></item>
        </channel></rss>"#;
        let (items, bad) = parse_rss(body, "KC").unwrap();
        assert_eq!(bad, 0);
        assert_eq!(items[0].text, "Brazil\u{2019}s frost \u{2019}worst\u{2019}");
    }

    #[test]
    fn atom_entries_parse_with_published_or_updated() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom"><title>Cocoa wire</title><id>urn:x</id>
            <updated>2026-01-05T12:00:00Z</updated>
            <entry><title>Ghana output falls</title><id>urn:1</id>
              <published>2026-01-05T10:00:00Z</published><updated>2026-01-05T11:00:00Z</updated></entry>
            <entry><title type="html">Rains &amp;amp; relief</title><id>urn:2</id>
              <updated>2026-01-05T11:30:00+01:00</updated></entry>
            <entry><id>urn:3</id><updated>2026-01-05T12:00:00Z</updated></entry>
            </feed>"#;
        let (items, bad) = parse_rss(body, "CC").unwrap();
        assert_eq!(bad, 1, "the entry without a title");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text, "Ghana output falls");
        assert_eq!(items[0].at_ms, 1_767_607_200_000, "published, not updated");
        assert_eq!(
            items[1].at_ms, 1_767_609_000_000,
            "updated, with its offset"
        );
        assert_eq!(items[1].symbol, "CC");
    }
}
