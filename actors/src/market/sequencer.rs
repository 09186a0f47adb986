//! The sequencer (`master/market`): the one market clock's hand. It takes
//! the next event of the merged feed, waits until the clock reaches its due
//! time, and hands it to every engine of its symbol (the sentinel and the
//! analyzer); a seeded replay's faults are scheduled on the same clock.
//!
//! Invariant: nothing reaches an engine before the clock reads its due time,
//! and events reach the engines in due order (ties as the feed orders them).
//! Where it is survives a restart ([`Play`] is shared by successive
//! instances): a restarted sequencer goes on with the next event, at most the
//! one it was handing out when it failed is lost.
//!
//! Limits: at most [`MAX_PER_TURN`] events per turn (a backlog of due events,
//! after a stall, is worked off in turns, the mailbox between them); the
//! engines' mailboxes: a bar an engine cannot take now is held and conflated
//! (`conflate::Latest`, the newest bar wins), a headline it cannot take is
//! dropped; both counted in the engine's `dropped`.

use super::feed::{Event, Feed, Payload};
use crate::clock::Clock;
use crate::engine::analyzer::Analyzer;
use crate::engine::broker::Market;
use crate::engine::conflate::{Delivery, Latest, FLUSH_EVERY};
use crate::engine::messages::RawEvent;
use crate::engine::sentinel::Sentinel;
use crate::kernel::{Ctx, Fault, Handle, Kernel, Worker};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most events handed out in one turn.
pub const MAX_PER_TURN: usize = 1024;

/// How often a live feed with nothing yet is looked at again: a minute bar
/// reaches the engines at most this late after IB's last five seconds.
const LIVE_POLL: Duration = Duration::from_millis(200);

/// Where one engine takes its symbol's events.
#[derive(Clone)]
pub struct Route {
    pub engine: String,
    /// The engine's path in the tree (`master/engines/<id>`): a route to an
    /// engine stopped on purpose is skipped.
    pub path: String,
    pub symbol: String,
    pub analyzer: Handle<Analyzer>,
    pub sentinel: Handle<Sentinel>,
    /// Every bar, never conflated, when the broker fills from them (the
    /// paper broker with a latency, a cap or limit orders).
    pub broker: Option<Handle<crate::engine::BrokerActor>>,
    /// Events this engine could not take (its `dropped` count).
    pub dropped: Arc<AtomicU64>,
}

/// A fault a seeded replay injects at a market time.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFault {
    pub at_ms: u64,
    /// The node's path, e.g. `master/engines/KC/executor`.
    pub path: String,
    pub fault: Fault,
}

/// How far the market has been played (read by a replay and the operator).
#[derive(Debug, Default)]
pub struct Progress {
    pub bars: AtomicU64,
    pub headlines: AtomicU64,
    pub faults: AtomicU64,
    /// Market time of the last event handed out.
    pub last_due_ms: AtomicU64,
    ended: AtomicBool,
}

impl Progress {
    /// Whether the feed has ended (a replay's data; the bundled data never
    /// ends).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// What is left to play: shared by successive sequencer instances.
struct Play {
    feed: Box<dyn Feed>,
    next: Option<Event>,
    faults: VecDeque<ScheduledFault>,
    started: bool,
}

impl Play {
    fn next_due(&mut self) -> Option<u64> {
        if !self.started || (self.next.is_none() && self.feed.live()) {
            self.started = true;
            self.next = self.feed.next_event();
        }
        let event = self.next.as_ref().map(|e| e.due_ms);
        let fault = self.faults.front().map(|f| f.at_ms);
        event.into_iter().chain(fault).min()
    }

    /// The next due item: a fault due at the same time as an event goes
    /// first.
    fn take(&mut self) -> Option<Item> {
        let event = self.next.as_ref().map(|e| e.due_ms);
        match (event, self.faults.front().map(|f| f.at_ms)) {
            (Some(e), Some(f)) if f <= e => self.faults.pop_front().map(Item::Fault),
            (None, Some(_)) => self.faults.pop_front().map(Item::Fault),
            (Some(_), _) => {
                let e = self.next.take();
                self.next = self.feed.next_event();
                e.map(Item::Event)
            }
            (None, None) => None,
        }
    }
}

enum Item {
    Event(Event),
    Fault(ScheduledFault),
}

pub struct Sequencer {
    play: Arc<Mutex<Play>>,
    progress: Arc<Progress>,
    clock: Clock,
    kernel: Kernel,
    /// The engines' routes as configured now (a reload adds, replaces and
    /// removes them).
    table: tokio::sync::watch::Receiver<Vec<Route>>,
    routes: Arc<Vec<Route>>,
    by_symbol: Arc<HashMap<String, Vec<usize>>>,
    /// Per route: the bar held for its sentinel and for its analyzer.
    held: Vec<(Latest<RawEvent>, Latest<RawEvent>)>,
    flush_due: bool,
}

impl Sequencer {
    /// The sequencer over `feed` (merged, in due order) for `routes`, with
    /// `faults` (in time order) injected through `kernel` when due.
    pub fn factory(
        feed: Box<dyn Feed>,
        mut faults: Vec<ScheduledFault>,
        table: tokio::sync::watch::Receiver<Vec<Route>>,
        clock: Clock,
        kernel: Kernel,
        progress: Arc<Progress>,
    ) -> impl Fn() -> Sequencer + Send + Sync + 'static {
        faults.sort_by_key(|f| f.at_ms);
        let play = Arc::new(Mutex::new(Play {
            feed,
            next: None,
            faults: faults.into(),
            started: false,
        }));
        move || {
            let mut s = Sequencer {
                play: play.clone(),
                progress: progress.clone(),
                clock,
                kernel: kernel.clone(),
                table: table.clone(),
                held: Vec::new(),
                routes: Arc::default(),
                by_symbol: Arc::default(),
                flush_due: false,
            };
            s.refresh();
            s
        }
    }

    /// The routes as configured now; what is held for an engine whose route
    /// is the same is kept.
    fn refresh(&mut self) {
        let routes: Vec<Route> = self.table.borrow_and_update().clone();
        let mut by_symbol: HashMap<String, Vec<usize>> = HashMap::new();
        let mut held = Vec::with_capacity(routes.len());
        for (i, r) in routes.iter().enumerate() {
            by_symbol.entry(r.symbol.clone()).or_default().push(i);
            let kept = self
                .routes
                .iter()
                .position(|o| o.engine == r.engine && o.analyzer.same(&r.analyzer));
            held.push(match kept {
                Some(j) => std::mem::take(&mut self.held[j]),
                None => Default::default(),
            });
        }
        self.held = held;
        self.routes = Arc::new(routes);
        self.by_symbol = Arc::new(by_symbol);
    }

    /// Hands out what is due, then sleeps until the next due time.
    fn turn(&mut self, ctx: &mut Ctx<'_, Self>) {
        let play = self.play.clone();
        for _ in 0..MAX_PER_TURN {
            let now = self.clock.now_ms();
            let item = {
                let mut p = play.lock().unwrap_or_else(|e| e.into_inner());
                match p.next_due() {
                    // A live feed with nothing yet: look again soon.
                    None if p.feed.live() => {
                        ctx.run_later(LIVE_POLL, |s, ctx| s.turn(ctx));
                        return;
                    }
                    None => {
                        if !self.progress.ended.swap(true, Ordering::AcqRel) {
                            tracing::info!("the market data has ended");
                        }
                        return;
                    }
                    Some(due) if due > now => {
                        let wait = self.clock.until(due);
                        ctx.run_later(wait, |s, ctx| s.turn(ctx));
                        return;
                    }
                    Some(_) => p.take(),
                }
            };
            match item {
                Some(Item::Event(e)) => self.deliver(e),
                Some(Item::Fault(f)) => self.inject(f, ctx),
                None => {}
            }
            self.schedule_flush(ctx);
        }
        // A backlog: the rest in the next turn, after the mailbox.
        ctx.run_later(Duration::ZERO, |s, ctx| s.turn(ctx));
    }

    fn deliver(&mut self, e: Event) {
        if self.table.has_changed().unwrap_or(false) {
            self.refresh();
        }
        self.progress.last_due_ms.store(e.due_ms, Ordering::Relaxed);
        let by_symbol = self.by_symbol.clone();
        // A bar of any month goes to the engines of its contract.
        let Some(routes) = by_symbol.get(crate::model::root(e.symbol())) else {
            return;
        };
        match e.payload {
            Payload::Bar(bar) => {
                self.progress.bars.fetch_add(1, Ordering::Relaxed);
                let raw = RawEvent::Bar(bar.clone());
                for &i in routes {
                    let r = &self.routes[i];
                    if self.kernel.registry().is_stopped(&r.path) {
                        // Stopped on purpose: nothing is held for it, nothing
                        // counted as dropped (it starts on fresh bars).
                        self.held[i] = Default::default();
                        continue;
                    }
                    // The broker takes every bar (its fills are the bars');
                    // one it has no room for is counted dropped.
                    if let Some(broker) = &r.broker {
                        if broker.tell(Market(bar.clone())).is_err() {
                            r.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let (to_sentinel, to_analyzer) = &mut self.held[i];
                    for replaced in [
                        to_sentinel.send(&r.sentinel, raw.clone()),
                        to_analyzer.send(&r.analyzer, raw.clone()),
                    ] {
                        if replaced == Delivery::Replaced {
                            r.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Payload::News(h) => {
                self.progress.headlines.fetch_add(1, Ordering::Relaxed);
                let raw = RawEvent::News(h);
                for &i in routes {
                    let r = &self.routes[i];
                    if self.kernel.registry().is_stopped(&r.path) {
                        continue;
                    }
                    let (to_sentinel, to_analyzer) = &mut self.held[i];
                    // After the bars held before it; dropped (counted) when
                    // there is no room.
                    if to_sentinel.flush(&r.sentinel) || r.sentinel.tell(raw.clone()).is_err() {
                        r.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    if to_analyzer.flush(&r.analyzer) || r.analyzer.tell(raw.clone()).is_err() {
                        r.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn inject(&mut self, f: ScheduledFault, ctx: &mut Ctx<'_, Self>) {
        self.progress.faults.fetch_add(1, Ordering::Relaxed);
        tracing::info!(path = %f.path, kind = f.fault.kind.as_str(), at_ms = f.at_ms, "scheduled fault");
        let kernel = self.kernel.clone();
        ctx.spawn(async move {
            if let Err(e) = kernel.inject(&f.path, f.fault).await {
                tracing::warn!(path = %f.path, "scheduled fault not injected: {e}");
            }
        });
    }

    fn holding(&self) -> bool {
        self.held.iter().any(|(s, a)| s.holding() || a.holding())
    }

    /// Retries the held bars every `FLUSH_EVERY` until they are delivered.
    fn schedule_flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.flush_due || !self.holding() {
            return;
        }
        self.flush_due = true;
        ctx.run_later(FLUSH_EVERY, |s, ctx| {
            s.flush_due = false;
            for (i, (to_sentinel, to_analyzer)) in s.held.iter_mut().enumerate() {
                to_sentinel.flush(&s.routes[i].sentinel);
                to_analyzer.flush(&s.routes[i].analyzer);
            }
            s.schedule_flush(ctx);
        });
    }
}

impl Worker for Sequencer {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.turn(ctx);
    }
}
