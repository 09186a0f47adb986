//! The rules analyzer: keywords for headlines, momentum for bars → sentiment and
//! confidence. Every bar also goes on to the engine (marks and momentum); one the
//! engine cannot take now is conflated (`conflate::Latest`: the latest wins).

use super::actor::Engine;
use super::conflate::{Delivery, Latest, FLUSH_EVERY};
use super::messages::{MarketUpdate, RawEvent, SignalReceived};
use super::momentum::Momentum;
use super::momentum::MOMENTUM_BARS;
use crate::kernel::{Ctx, Handle, Handles, Worker};
use crate::llm::LlmServices;
use crate::model::{Analyzed, Bar, ContractSpec, FrontMonth, Headline, Sentiment, Strategy};
use rust_decimal::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A move of at least this fraction over the window is a momentum signal.
pub const MOMENTUM_TRIGGER: f64 = 0.003;
/// Bars between two momentum signals.
pub const MOMENTUM_COOLDOWN_BARS: u32 = 10;

const BULLISH: &[(&str, f64)] = &[
    ("frost", 0.92),
    ("drought", 0.9),
    ("shortage", 0.88),
    ("deficit", 0.87),
    ("disease", 0.86),
    ("strike", 0.8),
    ("smaller", 0.76),
    ("threaten", 0.72),
    ("low", 0.62),
    ("fall", 0.6),
];
const BEARISH: &[(&str, f64)] = &[
    ("bumper", 0.92),
    ("surplus", 0.88),
    ("slump", 0.82),
    ("record", 0.76),
    ("improve", 0.72),
    ("surge", 0.72),
    ("jumps", 0.7),
    ("weak", 0.66),
    ("rise", 0.6),
    ("cut", 0.58),
];

/// A headline's sentiment and confidence by keywords: the strongest keyword of
/// the side with the larger total wins; no keyword is neutral at 0.3.
pub fn headline_sentiment(text: &str) -> (Sentiment, f64) {
    let lower = text.to_lowercase();
    let hits = |words: &[(&str, f64)]| -> (f64, f64) {
        words
            .iter()
            .filter(|(w, _)| lower.contains(w))
            .fold((0.0, 0.0), |(sum, max), (_, c)| {
                (sum + c, f64::max(max, *c))
            })
    };
    let (bull, bull_max) = hits(BULLISH);
    let (bear, bear_max) = hits(BEARISH);
    if bull > bear {
        (Sentiment::Bullish, bull_max)
    } else if bear > bull {
        (Sentiment::Bearish, bear_max)
    } else {
        (Sentiment::Neutral, 0.3)
    }
}

/// Counters the engine's status reads.
#[derive(Default)]
pub struct AnalyzerStats {
    pub events: AtomicU64,
    pub signals: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Analyzer {
    engine: Handle<Engine>,
    /// Headlines go to the LLM when set (rules on any error or over budget).
    llm: Option<Arc<LlmServices>>,
    /// The front month's closes (the month the engine trades).
    momentum: Momentum,
    /// Which month's bars are the front month's.
    front: FrontMonth,
    /// The front month of the last bar (a new one starts the momentum
    /// afresh: the step between two months is a spread, not a move).
    front_month: String,
    since_signal: u32,
    stats: Arc<AnalyzerStats>,
    /// A mark waiting for room at the engine.
    marks: Latest<MarketUpdate>,
    flush_due: bool,
}

impl Analyzer {
    pub fn factory(
        engine: Handle<Engine>,
        stats: Arc<AnalyzerStats>,
        llm: Option<Arc<LlmServices>>,
        front: (ContractSpec, u16),
    ) -> impl Fn() -> Analyzer + Send + Sync + 'static {
        move || Analyzer {
            engine: engine.clone(),
            llm: llm.clone(),
            momentum: Momentum::new(),
            front: FrontMonth::new(front.0.clone(), front.1),
            front_month: String::new(),
            since_signal: MOMENTUM_COOLDOWN_BARS,
            stats: stats.clone(),
            marks: Latest::default(),
            flush_due: false,
        }
    }

    fn signal(&mut self, a: Analyzed) {
        // The latest mark first: the engine decides at the freshest price.
        self.marks.flush(&self.engine);
        self.stats.signals.fetch_add(1, Ordering::Relaxed);
        if self.engine.tell(SignalReceived(a)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Retries the held mark every `FLUSH_EVERY` until it is delivered.
    fn schedule_flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.flush_due || !self.marks.holding() {
            return;
        }
        self.flush_due = true;
        ctx.run_later(FLUSH_EVERY, |a, ctx| {
            a.flush_due = false;
            a.marks.flush(&a.engine);
            a.schedule_flush(ctx);
        });
    }

    fn on_bar(&mut self, bar: Bar, ctx: &mut Ctx<'_, Self>) {
        let front = self.front.is_front(&bar.symbol, bar.at_ms);
        if front {
            let month = self.front.at(bar.at_ms);
            if self.front_month != month {
                if !self.front_month.is_empty() {
                    self.momentum = Momentum::new();
                }
                self.front_month = month.to_owned();
            }
            self.momentum.push(bar.close);
            self.since_signal = self.since_signal.saturating_add(1);
        }
        let momentum = self.momentum.value().unwrap_or(0.0);
        let (symbol, at_ms, price) = (bar.root().to_owned(), bar.closes_at_ms(), bar.close);
        // Marks: a bar the engine cannot take now waits, replaced by a newer one.
        match self.marks.send(&self.engine, MarketUpdate(bar)) {
            Delivery::Sent => {}
            Delivery::Held => self.schedule_flush(ctx),
            Delivery::Replaced => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.schedule_flush(ctx);
            }
        }
        if front
            && self.momentum.is_full()
            && momentum.abs() >= MOMENTUM_TRIGGER
            && self.since_signal >= MOMENTUM_COOLDOWN_BARS
        {
            self.since_signal = 0;
            let confidence = (0.5 + momentum.abs() * 50.0).min(0.95);
            self.signal(Analyzed {
                symbol,
                at_ms,
                sentiment: if momentum > 0.0 {
                    Sentiment::Bullish
                } else {
                    Sentiment::Bearish
                },
                confidence,
                strategy: Strategy::Momentum,
                detail: format!("{:+.2}% over {MOMENTUM_BARS} bars", momentum * 100.0),
                price: Some(price),
            });
        }
    }

    fn on_news(&mut self, h: Headline, ctx: &mut Ctx<'_, Self>) {
        let price = self.momentum.last();
        let Some(llm) = self.llm.clone() else {
            let a = rules_news(h, price);
            return self.signal(a);
        };
        // The call runs beside the mailbox: bars keep flowing while it waits.
        let (engine, stats) = (self.engine.clone(), self.stats.clone());
        ctx.spawn(async move {
            let a = match llm.analyze(&h.symbol, &h.text).await {
                Ok(answer) => Analyzed {
                    symbol: h.symbol,
                    at_ms: h.at_ms,
                    sentiment: answer.sentiment,
                    confidence: answer.confidence,
                    strategy: Strategy::News,
                    detail: format!("llm: {}", h.text),
                    price,
                },
                Err(_) => rules_news(h, price),
            };
            stats.signals.fetch_add(1, Ordering::Relaxed);
            if engine.tell(SignalReceived(a)).is_err() {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// A headline read by the keyword rules.
fn rules_news(h: Headline, price: Option<Decimal>) -> Analyzed {
    let (sentiment, confidence) = headline_sentiment(&h.text);
    Analyzed {
        symbol: h.symbol,
        at_ms: h.at_ms,
        sentiment,
        confidence,
        strategy: Strategy::News,
        detail: h.text,
        price,
    }
}

impl Worker for Analyzer {}

impl Handles<RawEvent> for Analyzer {
    fn handle(&mut self, e: RawEvent, ctx: &mut Ctx<'_, Self>) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        match e {
            RawEvent::Bar(b) => self.on_bar(b, ctx),
            RawEvent::News(h) => self.on_news(h, ctx),
            // A directional alert is a strong momentum signal; the others are
            // for the operator (they are events already).
            RawEvent::Alert(a) if a.sentiment != Sentiment::Neutral => self.signal(Analyzed {
                symbol: a.symbol,
                at_ms: a.at_ms,
                sentiment: a.sentiment,
                confidence: 0.9,
                strategy: Strategy::Momentum,
                detail: format!("sentinel {}: {}", a.kind, a.text),
                price: self.momentum.last(),
            }),
            RawEvent::Alert(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines_read_by_keywords() {
        let (s, c) = headline_sentiment("Frost hits Minas Gerais coffee belt, damage assessed");
        assert_eq!((s, c), (Sentiment::Bullish, 0.92));
        let (s, _) =
            headline_sentiment("Favourable rains boost Ivory Coast main crop, surplus seen");
        assert_eq!(s, Sentiment::Bearish);
        let (s, c) = headline_sentiment("Smuggling and shortage cut Ghana cocoa output");
        assert_eq!((s, c), (Sentiment::Bullish, 0.88), "shortage outweighs cut");
        assert_eq!(
            headline_sentiment("Roasters hold annual meeting in Hamburg"),
            (Sentiment::Neutral, 0.3)
        );
    }
}
