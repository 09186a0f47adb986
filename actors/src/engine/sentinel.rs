//! Sentinels: watch the raw events for what must not wait for the pipeline —
//! a sharp price move, an alarming headline, the close approaching. Each trigger
//! becomes an event (`sentinel`), an alert to the analyzer, and for the severe
//! ones an escalation of the portfolio risk level (to WARNING: the operator or
//! the risk guards decide more).
//!
//! The sentinel also judges market-data staleness (`staleness.rs`): no bar for
//! `max_gap` while the market is open makes the engine's data stale.
//!
//! The rules (`Sentinels`, `Staleness`) are pure; the worker only routes what
//! they say.

use super::analyzer::Analyzer;
use super::messages::{Alert, RawEvent};
use super::staleness::{Change, DataHealth};
use crate::clock::Clock;
use crate::events::{RECOVERED, SENTINEL, STALE};
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::logsafe::{printable, LOG_CHARS};
use crate::model::{Bar, ContractSpec, Headline, RiskLevel, Sentiment, BAR_MS};
use crate::risk::{Escalate, PortfolioRisk};
use rust_decimal::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SentinelConfig {
    /// A move of at least this fraction within `window_bars` raises an alert.
    pub move_pct: f64,
    /// A move of at least this fraction also escalates the risk level.
    pub escalate_pct: f64,
    pub window_bars: usize,
    /// Headline words that escalate (lower case).
    pub keywords: Vec<String>,
    /// Minutes before the close for the close warning (0: off).
    pub close_warning_min: u16,
    /// Market data is stale after this long without a bar in open market
    /// (zero: never judged).
    pub max_gap: std::time::Duration,
}

/// What a sentinel saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub kind: &'static str,
    pub at_ms: u64,
    pub text: String,
    /// Direction for the analyzer, if the trigger has one.
    pub sentiment: Sentiment,
    pub escalate: bool,
}

/// The sentinel rules over one contract's events.
pub struct Sentinels {
    cfg: SentinelConfig,
    spec: ContractSpec,
    closes: VecDeque<Decimal>,
    /// Bars since the last price alert (no alert storms: one per window).
    since_alert: usize,
    /// The market day (days since epoch) of the last close warning.
    warned_day: Option<i64>,
}

impl Sentinels {
    pub fn new(cfg: SentinelConfig, spec: ContractSpec) -> Sentinels {
        Sentinels {
            since_alert: cfg.window_bars,
            closes: VecDeque::with_capacity(cfg.window_bars + 1),
            cfg,
            spec,
            warned_day: None,
        }
    }

    pub fn on_bar(&mut self, bar: &Bar) -> Vec<Trigger> {
        let mut out = Vec::new();
        self.closes.push_back(bar.close);
        if self.closes.len() > self.cfg.window_bars {
            self.closes.pop_front();
        }
        self.since_alert += 1;
        if let Some(m) = super::pipeline::momentum(&self.closes) {
            if m.abs() >= self.cfg.move_pct && self.since_alert >= self.cfg.window_bars {
                self.since_alert = 0;
                out.push(Trigger {
                    kind: "price_move",
                    at_ms: bar.closes_at_ms(),
                    text: format!(
                        "{} moved {:+.2}% within {} bars to {}",
                        bar.symbol,
                        m * 100.0,
                        self.closes.len(),
                        bar.close
                    ),
                    sentiment: if m > 0.0 {
                        Sentiment::Bullish
                    } else {
                        Sentiment::Bearish
                    },
                    escalate: m.abs() >= self.cfg.escalate_pct,
                });
            }
        }
        if self.cfg.close_warning_min > 0 {
            if let Some((left, day)) = self.spec.minutes_to_close(bar.at_ms) {
                if left <= self.cfg.close_warning_min && self.warned_day != Some(day) {
                    self.warned_day = Some(day);
                    out.push(Trigger {
                        kind: "close_approaching",
                        at_ms: bar.closes_at_ms(),
                        text: format!("{} closes in {left} minutes", bar.symbol),
                        sentiment: Sentiment::Neutral,
                        escalate: false,
                    });
                }
            }
        }
        out
    }

    pub fn on_news(&mut self, h: &Headline) -> Vec<Trigger> {
        // Whole words only: "war" must not fire on "warm" or "award".
        let words: String = h
            .text
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let padded = format!(
            " {} ",
            words.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        match self
            .cfg
            .keywords
            .iter()
            .find(|k| padded.contains(&format!(" {} ", k.trim())))
        {
            Some(k) => vec![Trigger {
                kind: "news_keyword",
                at_ms: h.at_ms,
                text: format!("{:?} in: {}", k, h.text),
                sentiment: Sentiment::Neutral,
                escalate: true,
            }],
            None => Vec::new(),
        }
    }
}

/// Who a sentinel tells, and what it reads.
#[derive(Clone)]
pub struct SentinelLinks {
    pub analyzer: Handle<Analyzer>,
    /// Where severe triggers and repeated staleness escalate.
    pub risk: Handle<PortfolioRisk>,
    pub kernel: Kernel,
    pub clock: Clock,
    /// The engine's data health: written here, read by its risk step.
    pub health: Arc<DataHealth>,
}

pub struct Sentinel {
    rules: Sentinels,
    spec: ContractSpec,
    /// Which month is the front one.
    front: crate::model::FrontMonth,
    max_gap: std::time::Duration,
    links: SentinelLinks,
}

/// How often staleness is looked at, in market time: a fifth of the gap, at
/// least one bar.
fn check_every(max_gap: std::time::Duration) -> std::time::Duration {
    (max_gap / 5).max(std::time::Duration::from_millis(BAR_MS))
}

impl Sentinel {
    pub fn factory(
        cfg: SentinelConfig,
        (spec, roll_days): (ContractSpec, u16),
        links: SentinelLinks,
    ) -> impl Fn() -> Sentinel + Send + Sync + 'static {
        move || Sentinel {
            rules: Sentinels::new(cfg.clone(), spec.clone()),
            spec: spec.clone(),
            front: crate::model::FrontMonth::new(spec.clone(), roll_days),
            max_gap: cfg.max_gap,
            links: links.clone(),
        }
    }

    /// A bar came: data that was stale has recovered.
    fn on_data(&self, path: &str) {
        let now = self.links.clock.now_ms();
        if let Some(change) = self.links.health.with(|s| s.on_data(now)) {
            self.tell_staleness(change, path);
        }
    }

    fn check_stale(&self, path: &str) {
        let now = self.links.clock.now_ms();
        let session = self
            .spec
            .minutes_to_close(now)
            .and_then(|(_, day)| Some((self.spec.session_open_ms(now)?, day)));
        let max_gap = self.max_gap.as_millis() as u64;
        if let Some(change) = self.links.health.with(|s| s.check(now, max_gap, session)) {
            self.tell_staleness(change, path);
        }
    }

    fn tell_staleness(&self, change: Change, path: &str) {
        let symbol = self.spec.symbol;
        match change {
            Change::Stale { gap_ms, gaps_today } => {
                let detail = format!(
                    "{symbol}: no market data for {}s of open market (gap {gaps_today} today); no new positions until it returns",
                    gap_ms / 1000
                );
                tracing::warn!(actor = path, %detail, "market data stale");
                self.links
                    .kernel
                    .events()
                    .publish(STALE, path, detail.clone());
                if gaps_today >= 2 {
                    let _ = self.links.risk.tell(Escalate {
                        level: RiskLevel::Warning,
                        reason: format!("market data stale again today: {detail}"),
                        source: path.to_owned(),
                    });
                }
            }
            Change::Recovered { stale_for_ms } => {
                let detail = format!(
                    "{symbol}: market data back after {}s stale",
                    stale_for_ms / 1000
                );
                tracing::info!(actor = path, %detail, "market data recovered");
                self.links.kernel.events().publish(RECOVERED, path, detail);
            }
        }
    }

    fn raise(&self, t: Trigger, symbol: &str, path: &str) {
        // The text is a feed's: escaped and bounded for the log and the event
        // (which is logged and sent to webhooks too).
        let text = printable(&t.text, LOG_CHARS);
        tracing::info!(actor = path, kind = t.kind, text = %text, "sentinel");
        self.links
            .kernel
            .events()
            .publish(SENTINEL, path, format!("{}: {text}", t.kind));
        if t.escalate {
            // A full or restarting portfolio_risk: the next trigger asks again;
            // the event above is there for the operator either way.
            let _ = self.links.risk.tell(Escalate {
                level: RiskLevel::Warning,
                reason: format!("sentinel {}: {}", t.kind, t.text),
                source: path.to_owned(),
            });
        }
        let _ = self.links.analyzer.tell(RawEvent::Alert(Alert {
            symbol: symbol.to_owned(),
            at_ms: t.at_ms,
            kind: t.kind,
            text: t.text,
            sentiment: t.sentiment,
        }));
    }
}

impl Worker for Sentinel {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.max_gap.is_zero() {
            let now = self.links.clock.now_ms();
            self.links.health.with(|s| s.watch_from(now));
            let every = self.links.clock.span(check_every(self.max_gap));
            ctx.run_interval(every, |s, ctx| s.check_stale(ctx.path()));
        }
    }
}

impl Handles<RawEvent> for Sentinel {
    fn handle(&mut self, e: RawEvent, ctx: &mut Ctx<'_, Self>) {
        let (symbol, triggers) = match &e {
            // Any month's bar is data; only the front month's moves are
            // the market's (another month's price differs by a spread).
            RawEvent::Bar(b) => {
                self.on_data(ctx.path());
                if !self.front.is_front(&b.symbol, b.at_ms) {
                    return;
                }
                (b.root().to_owned(), self.rules.on_bar(b))
            }
            RawEvent::News(h) => (h.symbol.clone(), self.rules.on_news(h)),
            RawEvent::Alert(_) => return,
        };
        for t in triggers {
            self.raise(t, &symbol, ctx.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract;

    fn cfg() -> SentinelConfig {
        SentinelConfig {
            move_pct: 0.01,
            escalate_pct: 0.03,
            window_bars: 5,
            keywords: vec!["embargo".into()],
            close_warning_min: 15,
            max_gap: std::time::Duration::ZERO,
        }
    }

    fn bar(at_min: u64, close: i64) -> Bar {
        let p = Decimal::from(close);
        Bar {
            symbol: "CC".into(),
            // 2026-01-05 (Monday) 12:00 UTC + minutes.
            at_ms: 1_767_571_200_000 + (12 * 60 + at_min) * 60_000,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: 1,
        }
    }

    #[test]
    fn a_sharp_move_alerts_once_per_window_and_a_crash_escalates() {
        let mut s = Sentinels::new(cfg(), contract("CC").unwrap());
        assert!(s.on_bar(&bar(0, 6000)).is_empty());
        assert!(s.on_bar(&bar(1, 6030)).is_empty(), "+0.5%");
        let t = s.on_bar(&bar(2, 6070));
        assert_eq!(t.len(), 1, "+1.17%: {t:?}");
        assert_eq!(
            (t[0].kind, t[0].sentiment, t[0].escalate),
            ("price_move", Sentiment::Bullish, false)
        );
        assert!(s.on_bar(&bar(3, 6100)).is_empty(), "one alert per window");
        for m in 4..8 {
            s.on_bar(&bar(m, 6100));
        }
        let t = s.on_bar(&bar(8, 5900));
        assert_eq!(
            (t.len(), t[0].escalate),
            (1, true),
            "-3.3% escalates: {t:?}"
        );
    }

    #[test]
    fn keywords_escalate_and_the_close_is_announced_once_a_day() {
        let mut s = Sentinels::new(cfg(), contract("CC").unwrap());
        let h = Headline {
            symbol: "CC".into(),
            at_ms: 0,
            text: "Ghana weighs cocoa export EMBARGO".into(),
        };
        let t = s.on_news(&h);
        assert_eq!((t.len(), t[0].escalate), (1, true));
        assert!(s
            .on_news(&Headline {
                text: "calm day".into(),
                ..h.clone()
            })
            .is_empty());
        let mut words = cfg();
        words.keywords = vec!["war".into(), "export ban".into()];
        let mut s2 = Sentinels::new(words, contract("CC").unwrap());
        let text = |t: &str| Headline {
            text: t.into(),
            ..h.clone()
        };
        assert!(
            s2.on_news(&text("Warm weather award for growers"))
                .is_empty(),
            "whole words only"
        );
        assert_eq!(
            s2.on_news(&text("Trade war: Ghana's export-ban talk"))
                .len(),
            1
        );
        assert_eq!(
            s2.on_news(&text("Export ban looms")).len(),
            1,
            "phrases match across case"
        );
        // CC closes 18:30 UTC: the warning fires from 18:15, once.
        let late = |m: u64| bar(6 * 60 + m, 6000);
        assert!(s.on_bar(&late(14)).is_empty(), "18:14");
        let t = s.on_bar(&late(15));
        assert_eq!(
            t.iter().filter(|t| t.kind == "close_approaching").count(),
            1,
            "{t:?}"
        );
        assert!(s
            .on_bar(&late(16))
            .iter()
            .all(|t| t.kind != "close_approaching"));
    }
}
