//! The bundled-data collector: replays the embedded bars and headlines of its
//! symbol, one 1-minute bar every `60 s / feed.speed`, headlines in time order
//! before the bar they precede. At the end of the data it starts again a week
//! later (weekdays preserved), so a daemon left running keeps trading.
//!
//! Limit: the analyzer's mailbox. A bar or headline the analyzer cannot take is
//! dropped and counted (conflation: the next bar is fresher).

use super::analyzer::Analyzer;
use super::messages::RawEvent;
use super::sentinel::Sentinel;
use crate::kernel::{Ctx, Handle, Worker};
use crate::model::{Bar, Headline};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WEEK_MS: u64 = 7 * 86_400_000;

/// Where the replay is; shared by successive instances, so a restarted collector
/// goes on where its predecessor stopped.
#[derive(Default)]
pub struct Cursor {
    next_bar: AtomicUsize,
    loops: AtomicU64,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Collector {
    bars: Arc<Vec<Bar>>,
    news: Arc<Vec<Headline>>,
    cursor: Arc<Cursor>,
    every: Duration,
    analyzer: Handle<Analyzer>,
    sentinel: Handle<Sentinel>,
}

impl Collector {
    pub fn factory(
        bars: Arc<Vec<Bar>>,
        news: Arc<Vec<Headline>>,
        speed: f64,
        analyzer: Handle<Analyzer>,
        sentinel: Handle<Sentinel>,
        cursor: Arc<Cursor>,
    ) -> impl Fn() -> Collector + Send + Sync + 'static {
        let every = Duration::from_secs_f64(60.0 / speed.max(1e-6)).max(Duration::from_micros(100));
        move || Collector {
            bars: bars.clone(),
            news: news.clone(),
            cursor: cursor.clone(),
            every,
            analyzer: analyzer.clone(),
            sentinel: sentinel.clone(),
        }
    }

    fn send(&self, e: RawEvent) {
        // The sentinel sees everything it can take; a drop there is counted too.
        if self.sentinel.tell(e.clone()).is_err() {
            self.cursor.dropped.fetch_add(1, Ordering::Relaxed);
        }
        match self.analyzer.tell(e) {
            Ok(()) => self.cursor.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.cursor.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Emits the next bar and the headlines up to it.
    pub fn step(&mut self) {
        if self.bars.is_empty() {
            return;
        }
        let mut i = self.cursor.next_bar.load(Ordering::Relaxed);
        if i >= self.bars.len() {
            i = 0;
            self.cursor.loops.fetch_add(1, Ordering::Relaxed);
        }
        let offset = self.cursor.loops.load(Ordering::Relaxed) * WEEK_MS;
        let bar = &self.bars[i];
        let from = if i == 0 {
            0
        } else {
            self.bars[i - 1].at_ms + 1
        };
        // Headlines between the previous bar and this one (those before the first
        // bar of the data go with it).
        for h in self
            .news
            .iter()
            .filter(|h| h.at_ms >= from && h.at_ms <= bar.at_ms)
        {
            self.send(RawEvent::News(Headline {
                at_ms: h.at_ms + offset,
                ..h.clone()
            }));
        }
        self.send(RawEvent::Bar(Bar {
            at_ms: bar.at_ms + offset,
            ..bar.clone()
        }));
        self.cursor.next_bar.store(i + 1, Ordering::Relaxed);
    }
}

impl Worker for Collector {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.run_interval(self.every, |c, _| c.step());
    }
}
