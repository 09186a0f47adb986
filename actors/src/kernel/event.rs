//! Supervision events and the bus that delivers them.
//!
//! Every event gets a sequence number from one counter, assigned under the bus lock,
//! so every subscriber sees events in strictly increasing `seq` order. The counter
//! starts where the caller says (the journal continues it across daemon restarts).
//!
//! Limits: each subscriber has a bounded queue; when a subscriber does not keep up,
//! new events for it are dropped and counted in [`Subscription::dropped`] (the
//! publisher, which may be a supervisor on the hot path, never waits). The bus keeps
//! the last `recent_capacity` events for late readers.

use super::throttle::{Admit, Summary, Throttle};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A child was started for the first time.
    Started,
    /// A child failed: panic (with its message), hang, unexpected stop, or give-up.
    Failed,
    /// A child was started again after a failure (or as a sibling under
    /// `one_for_all` / `rest_for_one`).
    Restarted,
    /// A supervisor passed its failure to its parent (or, for the root, to the
    /// process, which exits with status 1).
    Escalated,
    /// A supervisor exceeded its restart intensity and stopped its children.
    GaveUp,
    /// A child stopped and will not be restarted (shutdown, operator, or its restart
    /// type says so).
    Stopped,
    /// A fault was injected into an actor.
    FaultInjected,
    /// Events of the kernel's own kinds above [`super::throttle::BURST`] in a
    /// window for one actor, summed up: the detail says how many and of
    /// which kind ([`EventBus::throttled`]).
    Suppressed,
    /// An event of the actors built on the kernel (`risk_changed`, `mode_changed`,
    /// `operator`, ...), named by them in snake_case. The kernel only carries it.
    Other(&'static str),
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Parses the kernel's own kinds; callers that know more kinds (the journal) look
/// those up themselves.
impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            EventKind::Started,
            EventKind::Failed,
            EventKind::Restarted,
            EventKind::Escalated,
            EventKind::GaveUp,
            EventKind::Stopped,
            EventKind::FaultInjected,
            EventKind::Suppressed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Failed => "failed",
            EventKind::Restarted => "restarted",
            EventKind::Escalated => "escalated",
            EventKind::GaveUp => "gave_up",
            EventKind::Stopped => "stopped",
            EventKind::FaultInjected => "fault_injected",
            EventKind::Suppressed => "suppressed",
            EventKind::Other(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: u64,
    /// Wall-clock time of publication, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub kind: EventKind,
    pub path: String,
    pub detail: String,
}

struct Subscriber {
    tx: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

struct BusInner {
    /// Bounds the kernel's own kinds per actor and window (off unless
    /// [`EventBus::throttled`]).
    throttle: Option<Throttle>,
    /// When ended windows were last summed up.
    swept: Option<Instant>,
    next_seq: u64,
    subscribers: Vec<Subscriber>,
    recent: VecDeque<Event>,
}

/// What stamps an event: milliseconds since the Unix epoch.
pub type StampSource = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The event bus. Cheap to share (`Arc` inside the kernel).
pub struct EventBus {
    inner: Mutex<BusInner>,
    recent_capacity: usize,
    /// The system clock unless the embedder gives its own ([`EventBus::stamped`]).
    stamp: Option<StampSource>,
}

fn throttle_key(path: &str, kind: EventKind) -> String {
    format!("{path}\0{}", kind.as_str())
}

/// What [`EventBus::publish_durably`] hands its `commit`: the event about to
/// be published and the retained events before it.
pub struct Pending<'a> {
    retained: &'a VecDeque<Event>,
    event: &'a Event,
}

impl Pending<'_> {
    /// The event about to be published.
    pub fn event(&self) -> &Event {
        self.event
    }

    /// The retained events with `seq > since`, then the new event: what a
    /// writer whose file ends at `since` writes to stay gapless.
    pub fn after(&self, since: u64) -> impl Iterator<Item = &Event> {
        let first = self.retained.partition_point(|e| e.seq <= since);
        self.retained
            .range(first..)
            .chain(std::iter::once(self.event))
            .filter(move |e| e.seq > since)
    }
}

/// A subscriber's end: a bounded queue of events plus its drop counter.
pub struct Subscription {
    pub rx: mpsc::Receiver<Event>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// Events this subscriber missed because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventBus {
    /// `first_seq`: the sequence number of the first event published.
    pub fn new(first_seq: u64, recent_capacity: usize) -> Self {
        Self {
            inner: Mutex::new(BusInner {
                throttle: None,
                swept: None,
                next_seq: first_seq,
                subscribers: Vec::new(),
                recent: VecDeque::with_capacity(recent_capacity.min(4096)),
            }),
            recent_capacity,
            stamp: None,
        }
    }

    /// Events stamped by `stamp` (the embedder's clock) instead of the
    /// system clock.
    pub fn stamped(first_seq: u64, recent_capacity: usize, stamp: StampSource) -> Self {
        EventBus {
            stamp: Some(stamp),
            ..EventBus::new(first_seq, recent_capacity)
        }
    }

    /// The kernel's own kinds (started, failed, restarted, ...) bounded per
    /// actor and window by `throttle`: a storm of restarts is a few events
    /// per actor and window and one `suppressed` event with the count, not
    /// one event each. The embedders' kinds (`Other`) always pass.
    pub fn throttled(self, throttle: Throttle) -> EventBus {
        self.lock().throttle = Some(throttle);
        self
    }

    /// Subscribes with a queue of at most `capacity` undelivered events.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.lock().subscribers.push(Subscriber {
            tx,
            dropped: dropped.clone(),
        });
        Subscription { rx, dropped }
    }

    /// Publishes an event; returns its sequence number, or `None` when the
    /// throttle counted it instead (see [`EventBus::throttled`]).
    pub fn publish(&self, kind: EventKind, path: &str, detail: impl Into<String>) -> Option<u64> {
        let at_ms = self.stamp();
        let mut inner = self.lock();
        if !matches!(kind, EventKind::Other(_) | EventKind::Suppressed) {
            if let Some(throttle) = inner.throttle.as_mut() {
                let now = Instant::now();
                let (admit, summary) = throttle.admit(&throttle_key(path, kind), now);
                if let Some(s) = summary {
                    self.summed_up(&mut inner, at_ms, s);
                }
                if admit == Admit::Count {
                    return None;
                }
            }
        }
        self.sweep(&mut inner, at_ms);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let event = Event {
            seq,
            at_ms,
            kind,
            path: path.to_owned(),
            detail: detail.into(),
        };
        Some(self.deliver(&mut inner, event))
    }

    /// Publishes the summary of every throttle window that has ended with
    /// events counted (at most once a second; also done on the way by
    /// `publish`). For a caller that runs now and then (the journal), so a
    /// storm that stopped is summed up even when nothing else happens.
    pub fn sum_up_ended(&self) {
        let at_ms = self.stamp();
        let mut inner = self.lock();
        self.sweep(&mut inner, at_ms);
    }

    /// Sums up every throttle window with events counted, ended or not (at
    /// a stop: nothing counted goes unsaid).
    pub fn sum_up_all(&self) {
        let at_ms = self.stamp();
        let mut inner = self.lock();
        let all = match inner.throttle.as_mut() {
            Some(t) => t.all(Instant::now()),
            None => return,
        };
        for s in all {
            self.summed_up(&mut inner, at_ms, s);
        }
    }

    fn sweep(&self, inner: &mut BusInner, at_ms: u64) {
        let now = Instant::now();
        if inner
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        inner.swept = Some(now);
        let ended = match inner.throttle.as_mut() {
            Some(t) => t.ended(now),
            None => return,
        };
        for s in ended {
            self.summed_up(inner, at_ms, s);
        }
    }

    fn summed_up(&self, inner: &mut BusInner, at_ms: u64, s: Summary) {
        let (path, kind) = s.key.split_once('\0').unwrap_or((s.key.as_str(), "events"));
        let event = Event {
            seq: inner.next_seq,
            at_ms,
            kind: EventKind::Suppressed,
            path: path.to_owned(),
            detail: format!(
                "{} more {kind} events in {} s, counted not listed",
                s.counted,
                s.over.as_secs().max(1)
            ),
        };
        inner.next_seq += 1;
        self.deliver(inner, event);
    }

    fn stamp(&self) -> u64 {
        match &self.stamp {
            Some(stamp) => stamp(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    /// Hands a numbered event to the subscribers and the retained window.
    fn deliver(&self, inner: &mut BusInner, event: Event) -> u64 {
        let seq = event.seq;
        tracing::debug!(seq, kind = event.kind.as_str(), path = %event.path, detail = %event.detail, "kernel event");
        inner
            .subscribers
            .retain(|s| match s.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        if self.recent_capacity > 0 {
            if inner.recent.len() == self.recent_capacity {
                inner.recent.pop_front();
            }
            inner.recent.push_back(event);
        }
        seq
    }

    /// Publishes an event only if `commit` accepts it: the event, its `seq`
    /// assigned, is handed to `commit` with every retained event before it
    /// ([`Pending`]), so the embedder can write them to disk in the same
    /// transaction as the state the event reports. `Ok`: the event is
    /// published as by [`EventBus::publish`]; `Err`: nothing is published and
    /// the `seq` is not used. The bus is locked while `commit` runs (every
    /// publisher waits), so it is for rare events that must not be lost, and
    /// `commit` must not publish.
    pub fn publish_durably<E>(
        &self,
        kind: EventKind,
        path: &str,
        detail: impl Into<String>,
        commit: impl FnOnce(&Pending<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.publish_durably_if(kind, path, detail, |p| commit(p).map(Some))
            .map(|published| published.expect("committed").0)
    }

    /// [`EventBus::publish_durably`] for a `commit` that may find there is
    /// nothing to report (`Ok(None)`: it wrote nothing, and nothing is
    /// published); `Ok(Some(v))`: published, with its `seq`.
    pub fn publish_durably_if<T, E>(
        &self,
        kind: EventKind,
        path: &str,
        detail: impl Into<String>,
        commit: impl FnOnce(&Pending<'_>) -> Result<Option<T>, E>,
    ) -> Result<Option<(u64, T)>, E> {
        let at_ms = self.stamp();
        let mut inner = self.lock();
        let event = Event {
            seq: inner.next_seq,
            at_ms,
            kind,
            path: path.to_owned(),
            detail: detail.into(),
        };
        let Some(v) = commit(&Pending {
            retained: &inner.recent,
            event: &event,
        })?
        else {
            return Ok(None);
        };
        inner.next_seq += 1;
        Ok(Some((self.deliver(&mut inner, event), v)))
    }

    /// The retained events with `seq > since`, oldest first, at most `limit`.
    /// The retained events are in `seq` order, so the first one is found by
    /// binary search: a caller that pages through them every few milliseconds
    /// (the journal, the notifier) pays for what it takes, not for the 10,000
    /// retained.
    pub fn recent(&self, since: u64, limit: usize) -> Vec<Event> {
        let inner = self.lock();
        let first = inner.recent.partition_point(|e| e.seq <= since);
        inner.recent.range(first..).take(limit).cloned().collect()
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusInner> {
        // A panic while holding this lock cannot leave the bus inconsistent (each
        // step is a complete push or pop), so a poisoned lock is safe to reuse.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A durable publish hands the writer every retained event after its
    /// file's end and the new one; refused, it publishes nothing and its seq
    /// goes to the next event.
    #[test]
    fn a_durable_publish_is_published_only_when_committed() {
        let bus = EventBus::new(1, 16);
        let mut sub = bus.subscribe(16);
        bus.publish(EventKind::Started, "master/a", "");
        bus.publish(EventKind::Started, "master/b", "");
        let refused: Result<u64, &str> =
            bus.publish_durably(EventKind::Failed, "master/c", "x", |p| {
                assert_eq!(p.event().seq, 3);
                Err("disk full")
            });
        assert_eq!(refused, Err("disk full"));
        assert_eq!(bus.next_seq(), 3, "the seq is not used");
        let mut written = Vec::new();
        let seq = bus
            .publish_durably(EventKind::Failed, "master/c", "y", |p| {
                written = p.after(1).map(|e| e.seq).collect();
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(seq, 3);
        assert_eq!(
            written,
            vec![2, 3],
            "the file ended at 1: 2, then the new one"
        );
        let got: Vec<(u64, String)> = (0..3)
            .map(|_| sub.rx.try_recv().map(|e| (e.seq, e.detail)).unwrap())
            .collect();
        assert_eq!(got[2], (3, "y".to_owned()));
        assert!(
            sub.rx.try_recv().is_err(),
            "the refused one was never published"
        );
        assert_eq!(bus.recent(0, 10).len(), 3);
    }

    #[test]
    fn seq_starts_where_told_and_strictly_increases() {
        let bus = EventBus::new(41, 16);
        let mut sub = bus.subscribe(16);
        for _ in 0..5 {
            bus.publish(EventKind::Started, "master/a", "");
        }
        let seqs: Vec<u64> = (0..5).map(|_| sub.rx.try_recv().unwrap().seq).collect();
        assert_eq!(seqs, vec![41, 42, 43, 44, 45]);
        assert_eq!(bus.next_seq(), 46);
    }

    #[test]
    fn slow_subscriber_loses_new_events_and_counts_them_without_blocking() {
        let bus = EventBus::new(1, 0);
        let mut slow = bus.subscribe(2);
        let mut fast = bus.subscribe(100);
        for _ in 0..10 {
            bus.publish(EventKind::Failed, "x", "boom");
        }
        assert_eq!(slow.dropped(), 8);
        assert_eq!(slow.rx.try_recv().unwrap().seq, 1);
        assert_eq!(slow.rx.try_recv().unwrap().seq, 2);
        assert!(slow.rx.try_recv().is_err());
        assert_eq!(fast.dropped(), 0);
        assert_eq!((0..10).filter(|_| fast.rx.try_recv().is_ok()).count(), 10);
    }

    #[test]
    fn closed_subscribers_are_removed() {
        let bus = EventBus::new(1, 0);
        drop(bus.subscribe(1));
        bus.publish(EventKind::Started, "x", "");
        assert!(bus.lock().subscribers.is_empty());
    }

    #[test]
    fn recent_is_bounded_and_filtered() {
        let bus = EventBus::new(1, 3);
        for _ in 0..10 {
            bus.publish(EventKind::Started, "x", "");
        }
        let seqs: Vec<u64> = bus.recent(0, 100).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![8, 9, 10]);
        assert_eq!(bus.recent(8, 1).len(), 1);
        assert_eq!(bus.recent(8, 1)[0].seq, 9);
    }

    #[test]
    fn recent_starts_after_since_wherever_since_falls() {
        let bus = EventBus::new(100, 1000);
        for _ in 0..500 {
            bus.publish(EventKind::Started, "x", "");
        }
        let seqs =
            |since, limit| -> Vec<u64> { bus.recent(since, limit).iter().map(|e| e.seq).collect() };
        assert_eq!(seqs(0, 3), vec![100, 101, 102], "before the first");
        assert_eq!(seqs(99, 2), vec![100, 101]);
        assert_eq!(seqs(350, 3), vec![351, 352, 353], "in the middle");
        assert_eq!(seqs(598, 10), vec![599], "the last");
        assert!(seqs(599, 10).is_empty(), "after the last");
        assert!(seqs(u64::MAX, 10).is_empty());
        assert_eq!(seqs(350, usize::MAX).len(), 249);
    }
}
