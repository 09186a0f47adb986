//! The reader: headlines (the LLM, or keywords) and the sentinel's alerts →
//! sentiment and confidence, for the engine's strategies. Every bar goes on
//! to the engine (marks, and the strategies' windows); one the engine cannot
//! take now is conflated (`conflate::Latest`: the latest wins).

use super::actor::Engine;
use super::conflate::{Delivery, Latest, FLUSH_EVERY};
use super::messages::{MarketUpdate, RawEvent, SignalReceived};
use crate::kernel::{Ctx, Handle, Handles, Worker};
use crate::llm::LlmServices;
use crate::model::{Analyzed, Bar, ContractSpec, FrontMonth, Headline, Sentiment, Source};
use rust_decimal::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// The front month's last close (a reading's price).
    last: Option<Decimal>,
    /// Which month's bars are the front month's.
    front: FrontMonth,
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
            last: None,
            front: FrontMonth::new(front.0.clone(), front.1),
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
        if self.front.is_front(&bar.symbol, bar.at_ms) {
            self.last = Some(bar.close);
        }
        // Marks: a bar the engine cannot take now waits, replaced by a newer one.
        match self.marks.send(&self.engine, MarketUpdate(bar)) {
            Delivery::Sent => {}
            Delivery::Held => self.schedule_flush(ctx),
            Delivery::Replaced => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.schedule_flush(ctx);
            }
        }
    }

    fn on_news(&mut self, h: Headline, ctx: &mut Ctx<'_, Self>) {
        let price = self.last;
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
                    source: Source::Headline,
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
        source: Source::Headline,
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
            // A directional alert is a strong reading (the momentum
            // strategies take it); the others are for the operator (they
            // are events already).
            RawEvent::Alert(a) if a.sentiment != Sentiment::Neutral => self.signal(Analyzed {
                symbol: a.symbol,
                at_ms: a.at_ms,
                sentiment: a.sentiment,
                confidence: 0.9,
                source: Source::Alert,
                detail: format!("sentinel {}: {}", a.kind, a.text),
                price: self.last,
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
