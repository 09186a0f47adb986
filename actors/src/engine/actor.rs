//! The engine's mailbox: routing of signals (now or batched), bars and fills
//! in, each candidate handed to the pure [`decide`](super::decide) and what
//! it returns performed ([`perform`](super::perform)). Its state lives in
//! parts with one job each: the ledger (positions, in flight, fills applied),
//! the outcomes (counts and the batch), the breaker, the guard's rules.
//! Positions, PnL and the decision sequence are rebuilt from the journal at
//! every start (crash-only).

use super::analyzer::AnalyzerStats;
use super::config::load_breaker;
use super::config::EngineConfig;
use super::decide::STEPS;
use super::decide::{self, Decision, Surroundings};
use super::executor::Executor;
use super::intents::own_of;
use super::ledger::Ledger;
use super::messages::{
    BatchDue, FillReceived, Flatten, OrderEnded, OrderRejected, RiskLevelChanged, SignalReceived,
};
use super::momentum::Momentum;
use super::outcomes::Outcomes;
use super::perform::NewOrder;
use super::pipeline::{Candidate, Router};
use super::publish;
use super::strategies::Strategies;
use crate::clock::{Clock, Stopwatch};
use crate::journal::{OutcomeRow, RollRecord, SharedStore, StateKey};
use crate::kernel::{CrashPoint, Ctx, Handle, Handles, Kernel, NodeState, Steps, Worker};
use crate::model::{ModeState, Outcome, RiskLevel, Strategy};
use crate::paths;
use crate::risk::{Account, BookEntry, Breaker, EngineGuard, EquityMark, Guard, RollingVolatility};
use crate::view::StatusView;
use crate::wiring::Wiring;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often outcomes are written and the status view refreshed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Closes kept for the volatility the VaR check uses.
pub const VOLATILITY_BARS: usize = 120;
/// The strategy of the orders that flatten a position at PANIC.
pub const FLATTEN: Strategy = Strategy::FLATTEN;

/// What the engine's neighbours count, shared so the engine can report them.
#[derive(Clone, Default)]
pub struct Neighbours {
    /// Market events the sequencer could not hand this engine.
    pub feed_dropped: Arc<std::sync::atomic::AtomicU64>,
    pub analyzer: Arc<AnalyzerStats>,
    pub pollers: Arc<super::poller::PollerStats>,
    /// Whether the market data is stale (the sentinel judges it).
    pub data: Arc<super::staleness::DataHealth>,
}

pub struct Engine {
    pub(super) cfg: Arc<EngineConfig>,
    pub(super) router: Router,
    /// Its strategies' logic (their windows start afresh at every start:
    /// the bars refill them).
    pub(super) strategies: Strategies,
    /// Each strategy's best close since its position opened (keyed by when
    /// it opened), for its trailing stop.
    pub(super) best: BTreeMap<(Strategy, String), (u64, Decimal)>,
    /// Each strategy's capital-limit breaches since the engine started.
    pub(super) breaches: BTreeMap<Strategy, u64>,
    /// Each configured strategy's equity curve since the engine started
    /// (bounded: one figure per market day).
    pub(super) curves: BTreeMap<Strategy, crate::model::CurveStats>,
    /// The market as the engine marked it (the front month's bars).
    pub(super) momentum: Momentum,
    /// Volatility of the recent bar returns (VaR), kept up to date per bar.
    pub(super) volatility: RollingVolatility,
    /// The front month's last price.
    pub(super) last: Option<Decimal>,
    /// The instrument of the front month's last bar.
    pub(super) front: String,
    /// The front month by the calendar (worked out once a day).
    pub(super) front_month: crate::model::FrontMonth,
    /// Each instrument's last price (bounded: [`MAX_QUOTES`]).
    pub(super) quotes: BTreeMap<String, Decimal>,
    /// The roll under way, as journaled (`engine.<id>.roll`).
    pub(super) roll: Option<RollRecord>,
    /// Why a position to roll waits, as last logged.
    pub(super) roll_waiting: Option<String>,
    /// An operator asked to close every position (why), until it is flat.
    pub(super) flattening: Option<String>,
    /// `faults.crash_at`: where the process aborts on purpose.
    pub(super) crash: CrashPoint,
    /// Market time of the last bar.
    pub(super) last_at_ms: u64,
    pub(super) ledger: Ledger,
    pub(super) outcomes: Outcomes,
    pub(super) decision_seq: u64,
    pub(super) guard: EngineGuard,
    pub(super) breaker: Breaker,
    guard_actor: Handle<Guard>,
    /// `<subtree>/guard`, known when the engine starts.
    guard_path: String,
    pub(super) clock: Clock,
    /// The portfolio level (written by portfolio_risk) and the mode (by the
    /// mode actor).
    pub(super) levels: watch::Receiver<RiskLevel>,
    modes: watch::Receiver<ModeState>,
    account: Arc<Account>,
    /// The equity last published (stands while the position has no price).
    published_equity: Decimal,
    /// The equity last told to the guard.
    marked: Option<Decimal>,
    pub(super) store: Arc<SharedStore>,
    pub(super) executor: Handle<Executor>,
    pub(super) kernel: Kernel,
    /// Registered when it starts (its path is known then).
    pub(super) steps: Arc<Steps>,
    pub(super) view: Arc<StatusView>,
    pub(super) neighbours: Neighbours,
    /// While a market event (a bar, a reading, a batch due) is handled:
    /// when the engine took it, for the orders it leads to.
    pub(super) tick: Option<Stopwatch>,
    /// Where its reads of the market are checked for look-ahead.
    lookahead: Arc<crate::market::Lookahead>,
}

/// What an engine is given besides its configuration.
#[derive(Clone)]
pub struct EngineLinks {
    pub store: Arc<SharedStore>,
    pub executor: Handle<Executor>,
    pub guard: Handle<Guard>,
    pub kernel: Kernel,
    pub view: Arc<StatusView>,
    pub wiring: Wiring,
    pub neighbours: Neighbours,
}

impl Engine {
    pub fn factory(
        cfg: Arc<EngineConfig>,
        links: EngineLinks,
    ) -> impl Fn() -> Engine + Send + Sync + 'static {
        move || {
            let l = links.clone();
            let clock = l.wiring.clock;
            let breaker = load_breaker(&cfg, &l.store, clock.now_ms());
            let decision_seq = l
                .store
                .with(|s| s.last_decision_seq(&cfg.id))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut e = Engine {
                cfg: cfg.clone(),
                router: Router::new(cfg.router.clone()),
                strategies: Strategies::new(&cfg.strategies),
                best: BTreeMap::new(),
                breaches: BTreeMap::new(),
                curves: BTreeMap::new(),
                momentum: Momentum::new(),
                volatility: RollingVolatility::new(VOLATILITY_BARS),
                last: None,
                front: String::new(),
                front_month: crate::model::FrontMonth::new(cfg.spec.clone(), cfg.roll_days),
                quotes: BTreeMap::new(),
                roll: None,
                roll_waiting: None,
                flattening: None,
                crash: l.wiring.crash.clone(),
                last_at_ms: 0,
                ledger: Ledger::new(&cfg.id),
                outcomes: Outcomes::new(),
                decision_seq,
                guard: EngineGuard::new(cfg.guard.clone()),
                breaker,
                guard_actor: l.guard,
                guard_path: String::new(),
                clock,
                levels: l.wiring.risk_level(),
                modes: l.wiring.mode(),
                published_equity: l.wiring.account.equity_of(&cfg.id),
                lookahead: l.wiring.lookahead.clone(),
                account: l.wiring.account.clone(),
                marked: None,
                store: l.store,
                executor: l.executor,
                kernel: l.kernel,
                steps: Arc::new(Steps::none()),
                view: l.view,
                tick: None,
                neighbours: l.neighbours,
            };
            e.recover();
            e
        }
    }

    /// The position from the journal's fills (on top of the carried balance
    /// of those archived), and the orders a predecessor
    /// journaled and the executor has not settled as in flight (it re-drives
    /// or rejects them). No price until the first bar: one from the journal
    /// may be old.
    fn recover(&mut self) {
        let id = &self.cfg.id;
        // What the archived fills added up to (journal retention), then the
        // fills after them.
        let carried = self
            .store
            .with(|s| s.carried(id))
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(c) = carried {
            self.ledger = super::ledger::Ledger::carried(
                id,
                c.positions,
                (c.realized, c.commissions),
                c.by_strategy,
                c.through_fill,
            );
        }
        let after = self.ledger.last_fill_id();
        let fills = self
            .store
            .with(|s| s.fills_after(id, after))
            .unwrap_or_else(|e| panic!("{e}"));
        for (journal_id, f) in fills {
            self.ledger.apply_fill(journal_id, &f, &self.cfg.spec);
        }
        self.warn_orphaned_lots();
        let pending = self
            .store
            .with(|s| s.pending_orders(id, u64::MAX))
            .unwrap_or_else(|e| panic!("{e}"));
        let working = self
            .store
            .with(|s| s.working_orders(id))
            .unwrap_or_else(|e| panic!("{e}"));
        for (_, o) in pending {
            // A working order's fills are in the position: what is left of it
            // is in flight.
            let left = o.qty - working.get(&o.client_order_id).copied().unwrap_or_default();
            self.ledger
                .sent_limit(o.client_order_id, &o.symbol, o.side.sign() * left, o.limit);
        }
        // The roll under way; its decisions are taken (a restart between its
        // record and a leg must not give the leg's number to another).
        let roll = self
            .store
            .with(|s| s.state_entry(StateKey::EngineRoll(id)))
            .unwrap_or_else(|e| panic!("{e}"));
        self.roll = roll.and_then(|entry| match RollRecord::decode(&entry.value) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: super::ENGINE_LOG, engine = %id, error = %e, "unreadable roll in the journal: no roll taken on; a position in an old month is rolled anew");
                None
            }
        });
        if let Some(r) = &self.roll {
            self.decision_seq = self.decision_seq.max(r.close_seq).max(r.open_seq);
        }
    }

    /// The decision's outcome, at the market time it was decided.
    pub(super) fn record(&mut self, c: &Candidate, outcome: Outcome, detail: String) {
        let row = OutcomeRow {
            engine: self.cfg.id.clone(),
            decision_seq: self.decision_seq,
            symbol: c.symbol.clone(),
            strategy: c.strategy.as_str().to_owned(),
            outcome,
            detail,
            at_ms: self.clock.now_ms(),
        };
        self.outcomes.record(&self.store, row);
    }

    /// One candidate: decided (pure), then performed; ends in exactly one
    /// outcome.
    pub(super) fn on_candidate(&mut self, c: Candidate) {
        self.decision_seq += 1;
        let now_ms = self.clock.now_ms();
        self.check_lookahead(&c, now_ms);
        if let Some((outcome, why)) = self.rolling() {
            return self.record(&c, outcome, why);
        }
        let steps = self.steps.clone();
        let state = self.decide_state(&steps, now_ms);
        let world = Around { engine: self };
        let (qty, price) = match decide::decide(&state, &c, &world) {
            Decision::Record(outcome, why) => return self.record(&c, outcome, why),
            Decision::OverCapital(why) => {
                self.capital_breach(c.strategy, &why);
                return self.record(&c, Outcome::RiskRejected, why);
            }
            Decision::Order { qty, price, breach } => {
                if let Some(why) = breach {
                    self.capital_breach(c.strategy, &why);
                }
                (qty, price)
            }
        };
        let trial = match self.admit() {
            Ok(trial) => trial,
            Err(why) => return self.record(&c, Outcome::BreakerOpen, why),
        };
        // The order type the intent asked for, else the strategy's (a limit
        // rests at the broker until the market trades through it, or
        // expires).
        let order = c.order.or_else(|| {
            let spec = self.cfg.strategies.iter().find(|s| s.name == c.strategy);
            spec.map(|s| s.order)
        });
        let limit = order.and_then(|o| o.limit(&self.cfg.spec, c.side, price, now_ms));
        let order = NewOrder {
            strategy: c.strategy,
            instrument: self.front_month.at(now_ms).to_owned(),
            side: c.side,
            qty,
            price,
            at_ms: now_ms,
            trial,
            note: String::new(),
            limit,
        };
        if let Err(why) = self.place(order) {
            self.record(&c, Outcome::Error, why);
        }
    }

    /// Handles a market event with its time taken: the orders `f` sends
    /// are timed from now (`Latencies::tick_to_order`).
    pub(super) fn ticked(&mut self, f: impl FnOnce(&mut Self)) {
        self.tick = Some(Stopwatch::start());
        f(self);
        self.tick = None;
    }

    /// The buffered candidates' window is over: each is decided (timed as
    /// a market event).
    fn batch_due(&mut self) {
        self.ticked(|e| {
            for c in e.router.batch() {
                e.on_candidate(c);
            }
        });
    }

    /// The engine's state a decision at `now_ms` reads.
    pub(super) fn decide_state<'a>(&'a self, steps: &'a Steps, now_ms: u64) -> decide::State<'a> {
        decide::State {
            cfg: &self.cfg,
            steps,
            ledger: &self.ledger,
            guard: &self.guard,
            momentum: self.momentum.value(),
            last: self.last,
            volatility: self.volatility.value(),
            level: *self.levels.borrow(),
            mode: self.modes.borrow().current,
            equity: self.ledger.equity(
                self.cfg.allocation.capital,
                |i| self.mark_of(i),
                &self.cfg.spec,
            ),
            now_ms,
        }
    }

    /// What the decision at `now_ms` reads: the signal, the engine's last
    /// bar, the other engines' entries in the account; none may be from
    /// after `now_ms` (the market sequencer's promise, checked).
    pub(super) fn check_lookahead(&self, c: &Candidate, now_ms: u64) {
        let check = &self.lookahead;
        let id = &self.cfg.id;
        check.check(id, now_ms, c.at_ms, "its signal");
        check.check(id, now_ms, self.last_at_ms, "its last bar");
        check.check(id, now_ms, self.account.as_of_ms(), "the account's book");
    }

    /// Publishes the engine's figures (the operator's view) and its entry in
    /// the account.
    pub(super) fn publish(&mut self) {
        let activity = publish::with_neighbours(
            self.outcomes.activity.clone(),
            &self.neighbours,
            self.router.dropped,
            self.ledger.commissions(),
        );
        let front = self.front_month.at(self.clock.now_ms()).to_owned();
        let (figures, entry) = publish::build(publish::Sources {
            cfg: &self.cfg,
            ledger: &self.ledger,
            last: self.last,
            quotes: &self.quotes,
            front: &front,
            roll: self.roll.as_ref(),
            volatility: self.volatility.value(),
            breaker: &self.breaker,
            activity,
            published_equity: self.published_equity,
            as_of_ms: self.last_at_ms,
            breaches: &self.breaches,
            curves: &self.curves,
        });
        self.published_equity = entry.equity;
        self.account.publish(&self.cfg.id, entry);
        self.view.set_engine(&self.cfg.id, figures);
    }

    /// Tells the guard the equity now, when it changed (a flat engine's
    /// equity does not move with the bars). A full guard mailbox: the next one.
    pub(super) fn mark(&mut self) {
        let equity = self.ledger.equity(
            self.cfg.allocation.capital,
            |i| self.mark_of(i),
            &self.cfg.spec,
        );
        if self.marked == Some(equity) {
            return;
        }
        let mark = EquityMark {
            at_ms: self.last_at_ms,
            equity,
        };
        if self.guard_actor.tell(mark).is_ok() {
            self.marked = Some(equity);
        }
    }

    fn flush(&mut self) {
        // Fills the executor could not tell us (our mailbox was full): from the
        // journal.
        let (id, after) = (self.cfg.id.clone(), self.ledger.last_fill_id());
        match self.store.with(|s| s.fills_after(&id, after)) {
            Ok(fills) => {
                for (journal_id, f) in fills {
                    if self.ledger.apply_fill(journal_id, &f, &self.cfg.spec) {
                        self.outcomes.activity.fills += 1;
                    }
                }
            }
            Err(e) => tracing::error!(engine = %self.cfg.id, error = %e, "cannot read fills back"),
        }
        self.reconcile_in_flight();
        self.enforce_panic();
        self.advance_roll();
        self.outcomes.flush(&self.store, &self.cfg.id);
        self.publish();
    }
}

/// The world as [`decide`](super::decide) asks about it: the kernel's
/// registry and the account.
pub(super) struct Around<'a> {
    pub(super) engine: &'a Engine,
}

impl Surroundings for Around<'_> {
    fn paused(&self) -> bool {
        let e = self.engine;
        e.kernel.registry().is_paused(&e.cfg.path())
    }

    fn data_stale(&self) -> bool {
        self.engine.neighbours.data.stale()
    }

    fn guard_running(&self) -> Result<(), String> {
        let e = self.engine;
        match e.kernel.registry().state(&e.guard_path) {
            Some(NodeState::Running) => Ok(()),
            state => {
                let state = state.map_or("missing".to_owned(), |s| format!("{s:?}").to_lowercase());
                Err(format!(
                    "engine risk guard {state}: no new exposure until it runs"
                ))
            }
        }
    }

    fn others(&self) -> Vec<BookEntry> {
        self.engine.account.book_except(&self.engine.cfg.id)
    }

    fn account_equity(&self) -> Decimal {
        self.engine.account.equity()
    }
}

impl Worker for Engine {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        // The guard is this engine's sibling: `<subtree>/guard`.
        self.guard_path = paths::sibling(ctx.path(), paths::GUARD);
        self.steps = Arc::new(self.kernel.steps(ctx.path(), &STEPS));
        self.publish();
        if let Some(at) = self.breaker.opened_at_ms() {
            let left = (at + self.cfg.breaker_cooldown.as_millis() as u64)
                .saturating_sub(self.clock.now_ms());
            tracing::warn!(
                engine = %self.cfg.id,
                opened_at_ms = at,
                trial_in_ms = left,
                "circuit breaker open (from the journal): its trial order after the cooldown"
            );
        }
        // Every change of the risk level, as it happens.
        let mut levels = self.levels.clone();
        let me = ctx.myself();
        ctx.spawn(async move {
            while levels.changed().await.is_ok() {
                let level = *levels.borrow_and_update();
                if me.tell(RiskLevelChanged(level)).is_err() {
                    // A full mailbox: the engine checks the level every
                    // second too.
                    tracing::debug!(%level, "risk level change not delivered; the next check sees it");
                }
            }
        });
        self.enforce_panic();
        self.advance_roll();
        ctx.run_interval(self.cfg.batch_every, |e, _| e.batch_due());
        ctx.run_interval(FLUSH_EVERY, |e, _| e.flush());
    }

    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.flush();
        tracing::info!(
            engine = %self.cfg.id,
            position = %self.ledger.net(),
            realized_pnl = %self.ledger.realized_net(),
            fills_applied_up_to = self.ledger.last_fill_id(),
            "engine stopped"
        );
    }
}

impl Handles<SignalReceived> for Engine {
    /// A headline or an alert as the analyzer read it: to every strategy.
    fn handle(&mut self, SignalReceived(r): SignalReceived, _: &mut Ctx<'_, Self>) {
        self.ticked(|e| {
            let ledger = &e.ledger;
            let intents = e.strategies.on_reading(&r, |s| own_of(ledger, s));
            let price = r.price.or(e.last);
            e.act(intents, &r.symbol, r.at_ms, price);
        });
    }
}

impl Handles<BatchDue> for Engine {
    fn handle(&mut self, _: BatchDue, _: &mut Ctx<'_, Self>) {
        self.batch_due();
    }
}

impl Handles<FillReceived> for Engine {
    /// The ledger takes fills in journal order (it remembers the last one
    /// applied): a fill whose message was lost (a full mailbox, a fault)
    /// before this one is read from the journal and applied first, or it
    /// would be skipped for ever.
    fn handle(&mut self, m: FillReceived, _: &mut Ctx<'_, Self>) {
        let (id, after) = (self.cfg.id.clone(), self.ledger.last_fill_id());
        if m.journal_id <= after {
            return; // applied already (from the journal)
        }
        let fills = match self.store.with(|s| s.fills_after(&id, after)) {
            Ok(fills) => fills,
            Err(e) => {
                // The journal cannot be read now: this fill, the ones before
                // it at the next flush.
                tracing::error!(engine = %id, error = %e, "cannot read fills back: applying this one");
                Vec::new()
            }
        };
        let mut fills: Vec<_> = fills
            .into_iter()
            .take_while(|(j, _)| *j <= m.journal_id)
            .collect();
        if fills.last().map(|(j, _)| *j) != Some(m.journal_id) {
            // Not read back (yet): the message's own fill, last.
            fills.push((m.journal_id, m.fill));
        }
        let mut applied = false;
        for (journal_id, f) in fills {
            if self.ledger.apply_fill(journal_id, &f, &self.cfg.spec) {
                self.outcomes.activity.fills += 1;
                self.broker_succeeded(&f.client_order_id);
                applied = true;
            }
        }
        if applied {
            self.publish();
            self.mark();
            self.advance_roll();
        }
    }
}

impl Handles<OrderRejected> for Engine {
    fn handle(&mut self, m: OrderRejected, _: &mut Ctx<'_, Self>) {
        self.outcomes.activity.rejected += 1;
        self.ledger.ended(&m.client_order_id);
        tracing::warn!(engine = %self.cfg.id, order = %m.client_order_id, reason = %m.reason, "order rejected");
        if m.broker_failure {
            self.broker_failed(&m.client_order_id);
        } else {
            // Refused for itself, not for an outage: if it was the trial, the
            // next order is.
            self.breaker.order_dropped(&m.client_order_id);
        }
        self.advance_roll();
    }
}

impl Handles<OrderEnded> for Engine {
    /// What did not fill is no longer in flight; the breaker's trial, if it
    /// was this order and nothing filled, is dropped.
    fn handle(&mut self, m: OrderEnded, _: &mut Ctx<'_, Self>) {
        self.outcomes.activity.ended += 1;
        self.ledger.ended(&m.client_order_id);
        tracing::info!(engine = %self.cfg.id, order = %m.client_order_id, reason = %m.reason, "order ended at the broker");
        self.breaker.order_dropped(&m.client_order_id);
        self.publish();
        self.advance_roll();
    }
}

impl Handles<Flatten> for Engine {
    /// Closes every position (each month, at market), then every second
    /// until flat: the engine is paused by `control` first, so nothing
    /// reopens.
    fn handle(&mut self, m: Flatten, _: &mut Ctx<'_, Self>) {
        tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, reason = %m.reason, "flattening every position");
        self.flattening = Some(m.reason);
        self.enforce_panic();
    }
}

impl Handles<RiskLevelChanged> for Engine {
    fn handle(&mut self, RiskLevelChanged(level): RiskLevelChanged, _: &mut Ctx<'_, Self>) {
        tracing::info!(engine = %self.cfg.id, %level, "risk level now applies");
        self.enforce_panic();
    }
}
