//! The bundled-data collector: replays the embedded bars and headlines of its
//! symbol, one 1-minute bar every `60 s / feed.speed`, headlines in time order
//! before the bar they precede. At the end of the data it starts again a week
//! later (weekdays preserved), so a daemon left running keeps trading: every
//! other lap plays the prices backwards, so the price goes on from where it
//! was, without a jump at the wrap ([`super::data::lap_bar`]). In a
//! replay (`Recorded` data with a [`ReplayProgress`]) it plays the data once
//! and then says it has ended.
//!
//! Limit: the analyzer's and the sentinel's mailboxes. A bar either cannot take
//! now is held and conflated (`conflate::Latest`: a newer bar replaces it, the
//! older one is dropped and counted); a headline either cannot take is dropped
//! and counted.

use super::analyzer::Analyzer;
use super::conflate::{Delivery, Latest, FLUSH_EVERY};
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
    pub dropped: AtomicU64,
}

/// How far the collectors of a replay have played their data (shared by all).
#[derive(Debug, Default)]
pub struct ReplayProgress {
    /// Bars sent, over every engine.
    pub bars: AtomicU64,
    /// Collectors at the end of their data.
    pub ended: AtomicUsize,
}

/// The collector's data: `news` must be in time order (the collector finds a
/// bar's headlines by binary search).
pub struct Collector {
    /// In a replay: play once, count here.
    progress: Option<Arc<ReplayProgress>>,
    bars: Arc<Vec<Bar>>,
    news: Arc<Vec<Headline>>,
    cursor: Arc<Cursor>,
    every: Duration,
    analyzer: Handle<Analyzer>,
    sentinel: Handle<Sentinel>,
    /// Bars waiting for room at the analyzer and the sentinel.
    to_analyzer: Latest<RawEvent>,
    to_sentinel: Latest<RawEvent>,
    flush_due: bool,
}

impl Collector {
    pub fn factory(
        bars: Arc<Vec<Bar>>,
        news: Arc<Vec<Headline>>,
        speed: f64,
        analyzer: Handle<Analyzer>,
        sentinel: Handle<Sentinel>,
        cursor: Arc<Cursor>,
        progress: Option<Arc<ReplayProgress>>,
    ) -> impl Fn() -> Collector + Send + Sync + 'static {
        let every = Duration::from_secs_f64(60.0 / speed.max(1e-6)).max(Duration::from_micros(100));
        move || Collector {
            progress: progress.clone(),
            bars: bars.clone(),
            news: news.clone(),
            cursor: cursor.clone(),
            every,
            analyzer: analyzer.clone(),
            sentinel: sentinel.clone(),
            to_analyzer: Latest::default(),
            to_sentinel: Latest::default(),
            flush_due: false,
        }
    }

    /// A headline: after the bars held before it, or dropped (counted).
    fn send_news(&mut self, h: Headline) {
        let e = RawEvent::News(h);
        // The sentinel sees everything it can take; a drop there is counted too.
        if self.to_sentinel.flush(&self.sentinel) || self.sentinel.tell(e.clone()).is_err() {
            self.cursor.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.to_analyzer.flush(&self.analyzer) || self.analyzer.tell(e).is_err() {
            self.cursor.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A bar: the latest wins at a full mailbox.
    fn send_bar(&mut self, b: Bar) {
        let e = RawEvent::Bar(b);
        if self.to_sentinel.send(&self.sentinel, e.clone()) == Delivery::Replaced {
            self.cursor.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.to_analyzer.send(&self.analyzer, e) == Delivery::Replaced {
            self.cursor.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn holding(&self) -> bool {
        self.to_analyzer.holding() || self.to_sentinel.holding()
    }

    /// Retries the held bars every `FLUSH_EVERY` until both are delivered.
    fn schedule_flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.flush_due || !self.holding() {
            return;
        }
        self.flush_due = true;
        ctx.run_later(FLUSH_EVERY, |c, ctx| {
            c.flush_due = false;
            c.to_sentinel.flush(&c.sentinel);
            c.to_analyzer.flush(&c.analyzer);
            c.schedule_flush(ctx);
        });
    }

    /// Emits the next bar and the headlines up to it.
    pub fn step(&mut self) {
        let (bars, news) = (self.bars.clone(), self.news.clone());
        if bars.is_empty() {
            return;
        }
        let mut i = self.cursor.next_bar.load(Ordering::Relaxed);
        if i >= bars.len() {
            if let Some(p) = &self.progress {
                // A replay plays its data once; the end is said once.
                if i == bars.len() {
                    p.ended.fetch_add(1, Ordering::Relaxed);
                    self.cursor.next_bar.store(i + 1, Ordering::Relaxed);
                }
                return;
            }
            i = 0;
            self.cursor.loops.fetch_add(1, Ordering::Relaxed);
        }
        let lap = self.cursor.loops.load(Ordering::Relaxed);
        let offset = lap * WEEK_MS;
        let bar = &bars[i];
        let from = if i == 0 { 0 } else { bars[i - 1].at_ms + 1 };
        // Headlines between the previous bar and this one (those before the first
        // bar of the data go with it).
        // Headlines are in time order: a binary search, not a scan per bar.
        let first = news.partition_point(|h| h.at_ms < from);
        let end = news.partition_point(|h| h.at_ms <= bar.at_ms);
        for h in &news[first..end.max(first)] {
            self.send_news(Headline {
                at_ms: h.at_ms + offset,
                ..h.clone()
            });
        }
        self.send_bar(super::data::lap_bar(&bars, lap, i));
        self.cursor.next_bar.store(i + 1, Ordering::Relaxed);
        if let Some(p) = &self.progress {
            p.bars.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Worker for Collector {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.run_interval(self.every, |c, ctx| {
            c.step();
            c.schedule_flush(ctx);
        });
    }
}
