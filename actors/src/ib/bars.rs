//! IB's market data as a feed of the one market clock (`feed.source =
//! "ib"`): IB's five-second real-time bars of each engine's front month
//! (and the next, for the roll), made into the one-minute bars the engines
//! read, each handed to the sequencer at its close.
//!
//! - [`Minutes`] (pure) folds five-second bars into minute bars: a minute
//!   is complete when its last five seconds arrive, or when a later minute
//!   begins (a missing last bar does not hold it back); a five-second bar
//!   older than the minute being built is late and dropped (counted).
//! - [`IbBars`] is the [`Feed`]: a bounded queue the data connection fills
//!   and the sequencer drains. It never ends (`live`): an empty queue is
//!   "nothing yet", and the sequencer looks again.
//! - The data connection (`client_id_base`) connects like the order
//!   connections (backoff, heartbeat, pacing, market data lines), resolves
//!   each month and subscribes; every minute it checks which months are
//!   wanted (the front month moves at the roll). A connection that falls
//!   stops the bars: the engines' staleness monitor sees the gap.

use super::conn::{
    connect, dec, down_then_wait, fell_with, heartbeat as heartbeat_of, next_failures, End, Shared,
};
use super::contract::contract_of;
use super::{IbSettings, Link};
use crate::market::{Event, Feed};
use crate::model::{contract, Bar, BAR_MS};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::{StreamExt, StreamMap};

/// The most minute bars waiting for the sequencer; beyond, the oldest go
/// (counted in [`IbBars::dropped`]).
pub const QUEUE: usize = 4096;

/// IB's real-time bars are five seconds.
const FIVE_S_MS: u64 = 5_000;

/// A five-second bar of one instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct Five {
    pub instrument: String,
    /// Its start, Unix ms.
    pub at_ms: u64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: u64,
}

/// Minute bars from five-second ones, per instrument.
#[derive(Debug, Default)]
pub struct Minutes {
    building: BTreeMap<String, Bar>,
    pub late: u64,
}

impl Minutes {
    /// Takes a five-second bar; returns the minute bars it completes.
    pub fn push(&mut self, f: Five) -> Vec<Bar> {
        let minute = f.at_ms - f.at_ms % BAR_MS;
        let mut out = Vec::new();
        match self.building.get_mut(&f.instrument) {
            Some(b) if b.at_ms == minute => {
                b.high = b.high.max(f.high);
                b.low = b.low.min(f.low);
                b.close = f.close;
                b.volume += f.volume;
            }
            Some(b) if b.at_ms > minute => {
                self.late += 1;
                return out;
            }
            _ => {
                let begun = Bar {
                    symbol: f.instrument.clone(),
                    at_ms: minute,
                    open: f.open,
                    high: f.high,
                    low: f.low,
                    close: f.close,
                    volume: f.volume,
                };
                if let Some(done) = self.building.insert(f.instrument.clone(), begun) {
                    out.push(done);
                }
            }
        }
        // The minute's last five seconds: it is complete.
        if f.at_ms + FIVE_S_MS >= minute + BAR_MS {
            if let Some(done) = self.building.remove(&f.instrument) {
                out.push(done);
            }
        }
        out
    }
}

/// The queue between the data connection and the sequencer.
#[derive(Default)]
pub(crate) struct Queue {
    bars: Mutex<VecDeque<Event>>,
    dropped: AtomicU64,
}

impl Queue {
    pub(crate) fn push(&self, bar: Bar) {
        let mut q = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= QUEUE {
            q.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(Event::bar(bar));
    }
}

/// IB's bars as the sequencer's feed. It holds the pool, whose
/// connections live as long as their last holder.
pub struct IbBars {
    queue: Arc<Queue>,
    _pool: Option<super::IbPool>,
}

impl IbBars {
    pub(crate) fn new(queue: Arc<Queue>, pool: Option<super::IbPool>) -> IbBars {
        IbBars { queue, _pool: pool }
    }

    /// Minute bars dropped because the sequencer fell behind by [`QUEUE`].
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }
}

impl Feed for IbBars {
    fn next_event(&mut self) -> Option<Event> {
        self.queue
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    fn live(&self) -> bool {
        true
    }
}

/// The months wanted at `now_ms`: each symbol's front month and the next
/// (the roll trades both).
pub(crate) fn wanted(symbols: &[String], days_before: u16, now_ms: u64) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in symbols {
        let Some(spec) = contract(s) else { continue };
        let front = spec.front(now_ms, days_before);
        let Some((root, month)) = crate::model::calendar::ContractMonth::parse(&front) else {
            continue;
        };
        out.insert(front.clone());
        if let Some(next) = crate::model::calendar::calendar().next_month(&root, month) {
            out.insert(next.label(&root));
        }
    }
    out
}

/// What the data connection serves.
pub(crate) struct Wanted {
    pub symbols: Vec<String>,
    pub days_before: u16,
}

pub(crate) async fn run(link: Arc<Link>, queue: Arc<Queue>, want: Wanted, mut sh: Shared) {
    let mut failures = 0u32;
    let started = sh.clock.instant();
    let mut minutes = Minutes::default();
    loop {
        if *sh.stop.borrow() {
            return;
        }
        let began = sh.clock.instant();
        let End::Lost { why, connected } =
            session(&link, &queue, &want, &sh, started, &mut minutes).await
        else {
            return;
        };
        failures = next_failures(failures, connected, began, &sh.clock);
        tracing::warn!(client_id = link.client_id, why = %why, "IB's market data is down: no bars until it is back (the engines' staleness monitor sees the gap)");
        if !down_then_wait(&link, &mut sh, failures, why).await {
            return;
        }
    }
}

/// One connection's life, and how it ended.
async fn session(
    link: &Arc<Link>,
    queue: &Queue,
    want: &Wanted,
    sh: &Shared,
    started: tokio::time::Instant,
    minutes: &mut Minutes,
) -> End {
    let s: &IbSettings = &sh.settings;
    let client = match connect(s, link.client_id).await {
        Ok(c) => c,
        Err(why) => {
            return End::Lost {
                why,
                connected: false,
            }
        }
    };
    link.lock_status().connects += 1;
    let fell = End::fell;
    let pace = sh.pace(started, link);
    let mut lines = super::pacing::Lines::new(s.market_data_lines);
    let mut streams = StreamMap::new();
    {
        let mut st = link.lock_status();
        st.ready = true;
        st.why.clear();
    }
    let mut stop = sh.stop.clone();
    // Which months are wanted: now, and every minute after.
    let mut check = tokio::time::interval(Duration::from_secs(60));
    let mut heartbeat = tokio::time::interval(s.heartbeat);
    heartbeat.reset();
    loop {
        tokio::select! {
            _ = stop.changed() => {
                client.disconnect().await;
                return End::Stopped;
            }
            _ = check.tick() => {
                let now = wanted(&want.symbols, want.days_before, sh.clock.now_ms());
                let have: BTreeSet<String> = streams.keys().cloned().collect();
                for gone in have.difference(&now) {
                    streams.remove(gone);
                    lines.release();
                    tracing::info!(instrument = %gone, "IB bars: unsubscribed (no longer the front month or the next)");
                }
                for instrument in now.difference(&have) {
                    if let Err(why) = lines.take(instrument) {
                        tracing::error!("{why}");
                        continue;
                    }
                    let Ok(c) = contract_of(instrument, &s.exchange) else { continue };
                    pace.wait().await;
                    match client.realtime_bars(&c).trading_hours(ibapi::market_data::TradingHours::Extended).subscribe().await {
                        Ok(sub) => {
                            tracing::info!(instrument = %instrument, "IB bars: subscribed (five-second bars, made into minutes)");
                            streams.insert(instrument.clone(), sub);
                        }
                        Err(e) => {
                            lines.release();
                            tracing::error!(instrument = %instrument, error = %e, "IB refused the bars of a month: the engines see no bars of it (check the market data permission for ICE US softs)");
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                if let Err(why) = heartbeat_of(&client, s, &pace).await {
                    return fell(why);
                }
            }
            Some((instrument, item)) = streams.next(), if !streams.is_empty() => match item {
                Ok(ibapi::subscriptions::SubscriptionItem::Data(b)) => {
                    let at_ms = b.date.unix_timestamp().max(0) as u64 * 1000;
                    let five = Five {
                        instrument,
                        at_ms,
                        open: dec(b.open),
                        high: dec(b.high),
                        low: dec(b.low),
                        close: dec(b.close),
                        volume: b.volume.max(0.0) as u64,
                    };
                    for bar in minutes.push(five) {
                        queue.push(bar);
                    }
                }
                Ok(ibapi::subscriptions::SubscriptionItem::Notice(n)) => {
                    tracing::info!(instrument = %instrument, code = n.code, message = %n.message, "IB bars notice");
                }
                Err(e) if fell_with(&e) => return fell(format!("the connection to IB fell: {e}")),
                Err(e) => {
                    // One month's bars refused or ended (a permission, a
                    // limit): dropped, asked again at the next check.
                    streams.remove(&instrument);
                    lines.release();
                    tracing::error!(instrument = %instrument, error = %e, "IB ended the bars of a month: asked again in a minute");
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five(sec: u64, close: i64, volume: u64) -> Five {
        Five {
            instrument: "KCH26".into(),
            at_ms: 1_772_550_000_000 + sec * 1000,
            open: Decimal::from(close - 1),
            high: Decimal::from(close + 1),
            low: Decimal::from(close - 2),
            close: Decimal::from(close),
            volume,
        }
    }

    #[test]
    fn twelve_five_second_bars_are_a_minute_complete_at_its_last() {
        let mut m = Minutes::default();
        let mut out = Vec::new();
        for i in 0..12 {
            out.extend(m.push(five(i * 5, 300 + i as i64, 2)));
        }
        assert_eq!(out.len(), 1, "{out:?}");
        let b = &out[0];
        assert_eq!(b.at_ms, 1_772_550_000_000);
        assert_eq!(b.closes_at_ms(), 1_772_550_060_000);
        assert_eq!(b.open, Decimal::from(299));
        assert_eq!(b.high, Decimal::from(312));
        assert_eq!(b.low, Decimal::from(298));
        assert_eq!(b.close, Decimal::from(311));
        assert_eq!(b.volume, 24);
    }

    #[test]
    fn a_missing_last_bar_completes_the_minute_when_the_next_begins_and_late_bars_go() {
        let mut m = Minutes::default();
        assert!(m.push(five(0, 300, 1)).is_empty());
        assert!(m.push(five(30, 301, 1)).is_empty());
        // 55 s never came; the next minute's first bar closes this one.
        let out = m.push(five(60, 305, 1));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].close, out[0].volume), (Decimal::from(301), 2));
        // A bar of the minute already handed out is late.
        assert!(m.push(five(10, 299, 1)).is_empty());
        assert_eq!(m.late, 1);
    }

    #[test]
    fn the_queue_is_bounded_and_never_ends() {
        let q = Arc::new(Queue::default());
        let mut feed = IbBars::new(q.clone(), None);
        assert!(feed.live());
        assert_eq!(feed.next_event(), None);
        for i in 0..QUEUE as u64 + 3 {
            let mut m = Minutes::default();
            let mut f = five(55, 300, 1);
            f.at_ms += i * BAR_MS;
            for b in m.push(f) {
                q.push(b);
            }
        }
        assert_eq!(feed.dropped(), 3);
        let first = feed.next_event().unwrap();
        assert_eq!(first.due_ms, 1_772_550_000_000 + 4 * BAR_MS);
    }

    #[test]
    fn the_front_month_and_the_next_are_wanted() {
        // 2026-03-03: KC's front is May (March rolls before its notice day).
        let w = wanted(&["KC".into(), "CC".into()], 5, 1_772_550_000_000);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w.iter().any(|i| i.starts_with("KC")) && w.iter().any(|i| i.starts_with("CC")));
        assert!(wanted(&["ZZ".into()], 5, 1_772_550_000_000).is_empty());
    }
}
