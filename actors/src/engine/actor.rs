//! The engine: hybrid routing of signals, the pure pipeline steps, positions and
//! PnL, and one outcome per candidate. Positions, PnL and the decision sequence
//! are rebuilt from the journal at every start (crash-only).

use super::analyzer::AnalyzerStats;
use super::collector::Cursor;
use super::executor::Executor;
use super::messages::{
    BatchDue, FillReceived, MarketUpdate, OrderRejected, SignalReceived, SubmitOrder,
};
use super::pipeline::{self, Allocation, Candidate, Limits, Route, Router, RouterConfig};
use crate::journal::{OutcomeRow, SharedStore};
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::model::{client_order_id, ContractSpec, Order, Outcome, Position};
use crate::view::{EngineActivity, EngineFigures, PositionView, StatusView};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Outcome rows waiting for the next journal write; beyond this the oldest are
/// dropped (counted): outcomes are statistics, orders and fills are not.
pub const MAX_PENDING_OUTCOMES: usize = 10_000;
/// How often outcomes are written and the status view refreshed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub id: String,
    pub spec: ContractSpec,
    pub router: RouterConfig,
    /// The batch interval in wall time (the configured interval / feed speed:
    /// the pipeline runs on the market's clock).
    pub batch_every: Duration,
    pub allocation: Allocation,
    pub limits: Limits,
    pub journal: PathBuf,
    /// HTTP news sources polled beside the bundled data.
    pub feeds: Vec<super::poller::FeedConfig>,
}

impl EngineConfig {
    pub fn path(&self) -> String {
        crate::control::engine_path(&self.id)
    }
}

/// What the engine's neighbours count, shared so the engine can report them.
#[derive(Clone, Default)]
pub struct Shared {
    pub cursor: Arc<Cursor>,
    pub analyzer: Arc<AnalyzerStats>,
    pub pollers: Arc<super::poller::PollerStats>,
}

pub struct Engine {
    cfg: Arc<EngineConfig>,
    router: Router,
    closes: VecDeque<Decimal>,
    last: Option<Decimal>,
    position: Position,
    realized: Decimal,
    last_fill_id: u64,
    decision_seq: u64,
    activity: EngineActivity,
    pending: VecDeque<OutcomeRow>,
    /// Orders journaled but not yet filled or rejected: client order id →
    /// signed quantity. The risk step counts them as if filled.
    in_flight: std::collections::HashMap<String, Decimal>,
    store: Arc<SharedStore>,
    executor: Handle<Executor>,
    kernel: Kernel,
    view: Arc<StatusView>,
    shared: Shared,
}

impl Engine {
    pub fn factory(
        cfg: Arc<EngineConfig>,
        store: Arc<SharedStore>,
        executor: Handle<Executor>,
        kernel: Kernel,
        view: Arc<StatusView>,
        shared: Shared,
    ) -> impl Fn() -> Engine + Send + Sync + 'static {
        move || {
            let store = store.clone();
            let mut e = Engine {
                cfg: cfg.clone(),
                router: Router::new(cfg.router.clone()),
                closes: VecDeque::with_capacity(super::analyzer::MOMENTUM_BARS + 1),
                last: None,
                position: Position::default(),
                realized: Decimal::ZERO,
                last_fill_id: 0,
                decision_seq: store
                    .with(|s| s.last_decision_seq(&cfg.id))
                    .unwrap_or_else(|e| panic!("{e}")),
                activity: EngineActivity::default(),
                pending: VecDeque::new(),
                in_flight: Default::default(),
                executor: executor.clone(),
                kernel: kernel.clone(),
                view: view.clone(),
                shared: shared.clone(),
                store,
            };
            let fills = e
                .store
                .with(|s| s.fills(&cfg.id))
                .unwrap_or_else(|e| panic!("{e}"));
            for (id, f) in fills {
                e.apply_fill(id, &f);
            }
            // Orders a predecessor journaled and the executor has not settled
            // are in flight (it re-drives or rejects them).
            let pending = e
                .store
                .with(|s| s.pending_orders(&cfg.id, u64::MAX))
                .unwrap_or_else(|e| panic!("{e}"));
            for (_, o) in pending {
                e.in_flight.insert(o.client_order_id, o.side.sign() * o.qty);
            }
            // No price until the first bar: a price from the journal may be old.
            e
        }
    }

    fn apply_fill(&mut self, journal_id: u64, f: &crate::model::Fill) -> bool {
        if journal_id <= self.last_fill_id {
            return false; // already in the position (read from the journal)
        }
        self.last_fill_id = journal_id;
        self.in_flight.remove(&f.client_order_id);
        self.realized += self.position.apply(f.side, f.qty, f.price, &self.cfg.spec);
        self.activity.commissions += f.commission;
        true
    }

    fn record(&mut self, c: &Candidate, outcome: Outcome, detail: String) {
        let row = OutcomeRow {
            engine: self.cfg.id.clone(),
            decision_seq: self.decision_seq,
            symbol: c.symbol.clone(),
            strategy: c.strategy.to_owned(),
            outcome,
            detail,
            at_ms: c.at_ms,
        };
        self.record_row(row);
    }

    fn record_row(&mut self, row: OutcomeRow) {
        *self
            .activity
            .outcomes
            .entry(row.outcome.as_str())
            .or_default() += 1;
        if self.pending.len() >= MAX_PENDING_OUTCOMES {
            self.pending.pop_front();
            self.activity.dropped += 1;
        }
        tracing::debug!(engine = %self.cfg.id, seq = row.decision_seq, outcome = %row.outcome, detail = %row.detail, "decision");
        self.pending.push_back(row);
    }

    /// One candidate through validator → scorer → gate → allocator → risk →
    /// executor; ends in exactly one outcome.
    fn decide(&mut self, c: Candidate) {
        self.decision_seq += 1;
        let momentum = pipeline::momentum(&self.closes);
        let validated = match pipeline::validate(&c, momentum) {
            Ok(()) => true,
            Err(why) => return self.record(&c, Outcome::Vetoed, why),
        };
        let tier = pipeline::score(&c, validated);
        if tier == pipeline::Tier::NoTrade {
            let why = format!("confidence {:.2}", c.confidence);
            return self.record(&c, Outcome::LowScore, why);
        }
        if let Err(why) = pipeline::gate(Some(&self.cfg.spec), c.at_ms) {
            return self.record(&c, Outcome::GateClosed, why);
        }
        let Some(price) = self.last else {
            return self.record(&c, Outcome::GateClosed, "no price yet".into());
        };
        let qty = pipeline::allocate(&self.cfg.allocation, c.strategy, tier, &self.cfg.spec);
        if qty.is_zero() {
            let why = format!("{tier:?} {} allocates no contract", c.strategy);
            return self.record(&c, Outcome::LowScore, why);
        }
        let paused = self.kernel.registry().is_paused(&self.cfg.path());
        let level = self.view.risk().level;
        // Orders in flight count as filled: two quick signals cannot both use
        // the same room.
        let mut projected = Position::default();
        projected.qty = self.position.qty + self.in_flight.values().copied().sum::<Decimal>();
        let qty = match pipeline::risk(level, paused, &projected, c.side, qty, &self.cfg.limits) {
            Ok(q) => q,
            Err(why) => return self.record(&c, Outcome::RiskRejected, why),
        };
        let order = Order {
            client_order_id: client_order_id(&self.cfg.id, c.strategy, self.decision_seq),
            engine: self.cfg.id.clone(),
            strategy: c.strategy.to_owned(),
            decision_seq: self.decision_seq,
            symbol: c.symbol.clone(),
            side: c.side,
            qty,
            ref_price: price,
            at_ms: c.at_ms,
        };
        let id = order.client_order_id.clone();
        let row = OutcomeRow {
            engine: self.cfg.id.clone(),
            decision_seq: self.decision_seq,
            symbol: c.symbol.clone(),
            strategy: c.strategy.to_owned(),
            outcome: Outcome::Executed,
            detail: format!("{id}: {} {qty} @ {price}", c.side.as_str()),
            at_ms: c.at_ms,
        };
        // Journaled (with its `executed` outcome, durably) before anything is
        // sent: an order the journal does not hold does not exist.
        if let Err(e) = self.store.with(|s| s.insert_order(&order, &row)) {
            tracing::error!(engine = %self.cfg.id, order = %id, error = %e, "order not journaled: not sent");
            return self.record(&c, Outcome::Error, format!("not journaled: {e}"));
        }
        self.count(Outcome::Executed);
        self.activity.orders += 1;
        self.in_flight.insert(id.clone(), c.side.sign() * qty);
        if let Err(e) = self.executor.tell(SubmitOrder(order.clone())) {
            // Executor down: the order is abandoned (rejected) and the decision
            // ends in `error`, in one durable write.
            let error = OutcomeRow {
                outcome: Outcome::Error,
                detail: format!("{id}: executor: {e}"),
                ..row
            };
            match self.store.with(|s| s.abandon_order(&order, &error)) {
                Ok(()) => {
                    self.uncount(Outcome::Executed);
                    self.count(Outcome::Error);
                    self.activity.orders -= 1;
                    self.in_flight.remove(&id);
                }
                // Still pending: the executor re-drives it when it is back (or
                // rejects it as stale).
                Err(je) => {
                    tracing::error!(engine = %self.cfg.id, order = %id, error = %je, "could not abandon the order")
                }
            }
        }
    }

    fn count(&mut self, o: Outcome) {
        *self.activity.outcomes.entry(o.as_str()).or_default() += 1;
    }

    fn uncount(&mut self, o: Outcome) {
        if let Some(n) = self.activity.outcomes.get_mut(o.as_str()) {
            *n = n.saturating_sub(1);
        }
    }

    fn publish(&mut self) {
        let spec = &self.cfg.spec;
        let unrealized = self
            .last
            .map_or(Decimal::ZERO, |p| self.position.unrealized(p, spec));
        let mut activity = self.activity.clone();
        activity.events_in = self.shared.analyzer.events.load(Ordering::Relaxed);
        activity.signals = self.shared.analyzer.signals.load(Ordering::Relaxed);
        activity.feed_items = self.shared.pollers.items.load(Ordering::Relaxed);
        activity.feed_malformed = self.shared.pollers.malformed.load(Ordering::Relaxed);
        activity.feed_failures = self.shared.pollers.failures.load(Ordering::Relaxed);
        activity.dropped += self.shared.analyzer.dropped.load(Ordering::Relaxed)
            + self.shared.cursor.dropped.load(Ordering::Relaxed)
            + self.router.dropped;
        let positions = if self.position.qty.is_zero() {
            Vec::new()
        } else {
            vec![PositionView {
                symbol: spec.symbol.to_owned(),
                qty: self.position.qty,
                avg_price: self.position.avg_price(),
                unrealized_pnl: unrealized,
            }]
        };
        let equity =
            self.cfg.allocation.capital + self.realized - self.activity.commissions + unrealized;
        self.view.set_engine(
            &self.cfg.id,
            EngineFigures {
                positions,
                realized_pnl: self.realized - self.activity.commissions,
                equity,
                breaker: Default::default(),
                last_price: self.last,
                activity,
            },
        );
    }

    fn flush(&mut self) {
        // Fills the executor could not tell us (our mailbox was full): from the
        // journal.
        let (id, after) = (self.cfg.id.clone(), self.last_fill_id);
        match self.store.with(|s| s.fills_after(&id, after)) {
            Ok(fills) => {
                for (id, f) in fills {
                    if self.apply_fill(id, &f) {
                        self.activity.fills += 1;
                    }
                }
            }
            Err(e) => tracing::error!(engine = %self.cfg.id, error = %e, "cannot read fills back"),
        }
        if !self.pending.is_empty() {
            let rows: Vec<OutcomeRow> = self.pending.drain(..).collect();
            if let Err(e) = self.store.with(|s| s.append_outcomes(&rows)) {
                // Outcomes are statistics: counted as dropped, never a crash loop.
                tracing::error!(engine = %self.cfg.id, error = %e, "outcomes not journaled");
                self.activity.dropped += rows.len() as u64;
            }
        }
        self.publish();
    }
}

impl Worker for Engine {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.publish();
        ctx.run_interval(self.cfg.batch_every, |e, _| {
            for c in e.router.batch() {
                e.decide(c);
            }
        });
        ctx.run_interval(FLUSH_EVERY, |e, _| e.flush());
    }

    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.flush();
        tracing::info!(
            engine = %self.cfg.id,
            position = %self.position.qty,
            realized_pnl = %(self.realized - self.activity.commissions),
            fills_applied_up_to = self.last_fill_id,
            "engine stopped"
        );
    }
}

impl Handles<MarketUpdate> for Engine {
    fn handle(&mut self, MarketUpdate(bar): MarketUpdate, _: &mut Ctx<'_, Self>) {
        self.closes.push_back(bar.close);
        if self.closes.len() > super::analyzer::MOMENTUM_BARS {
            self.closes.pop_front();
        }
        self.last = Some(bar.close);
    }
}

impl Handles<SignalReceived> for Engine {
    fn handle(&mut self, SignalReceived(a): SignalReceived, _: &mut Ctx<'_, Self>) {
        match self.router.route(a) {
            Route::Now(a) => {
                if let Some(c) = pipeline::candidate(&a) {
                    self.decide(c);
                }
            }
            Route::Buffered => {
                *self
                    .activity
                    .outcomes
                    .entry(Outcome::Buffered.as_str())
                    .or_default() += 1;
            }
        }
    }
}

impl Handles<BatchDue> for Engine {
    fn handle(&mut self, _: BatchDue, _: &mut Ctx<'_, Self>) {
        for c in self.router.batch() {
            self.decide(c);
        }
    }
}

impl Handles<FillReceived> for Engine {
    fn handle(&mut self, m: FillReceived, _: &mut Ctx<'_, Self>) {
        if self.apply_fill(m.journal_id, &m.fill) {
            self.activity.fills += 1;
            self.publish();
        }
    }
}

impl Handles<OrderRejected> for Engine {
    fn handle(&mut self, m: OrderRejected, _: &mut Ctx<'_, Self>) {
        self.activity.rejected += 1;
        self.in_flight.remove(&m.client_order_id);
        tracing::warn!(engine = %self.cfg.id, order = %m.client_order_id, reason = %m.reason, "order rejected");
    }
}
