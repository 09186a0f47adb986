//! The engine: hybrid routing of signals, the pure pipeline steps, positions and
//! PnL, and one outcome per candidate. Positions, PnL and the decision sequence
//! are rebuilt from the journal at every start (crash-only).

use super::analyzer::AnalyzerStats;
use super::collector::Cursor;
use super::executor::Executor;
use super::messages::{
    BatchDue, CancelPending, EquityMark, FillReceived, MarketUpdate, OrderRejected,
    RiskLevelChanged, SignalReceived, SubmitOrder,
};
use super::pipeline::{self, Allocation, Candidate, Limits, Route, Router, RouterConfig};
use crate::clock::Clock;
use crate::events::{BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPENED};
use crate::journal::{OutcomeRow, SharedStore};
use crate::kernel::{Ctx, Handle, Handles, Kernel, NodeState, Steps, Worker};
use crate::model::{
    client_order_id, ContractSpec, GuardLimits, ModeState, Order, Outcome, PortfolioLimits,
    Position, RiskLevel, Side, Tiers,
};
use crate::risk::{
    check_opening, Account, AccountEntry, Admit, Book, Breaker, BreakerState, EngineGuard,
    Exposure, Guard, Opening, RollingVolatility,
};
use crate::view::{BreakerView, EngineActivity, EngineFigures, PositionView, StatusView};
use crate::wiring::Wiring;
use tokio::sync::watch;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Outcome rows waiting for the next journal write (when the order log cannot
/// take them); beyond this the oldest are dropped (counted): outcomes are
/// statistics, orders and fills are not.
pub const MAX_PENDING_OUTCOMES: usize = 10_000;
/// How often outcomes are written and the status view refreshed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Closes kept for the volatility the VaR check uses.
pub const VOLATILITY_BARS: usize = 120;
/// The engine's pure steps, nodes `<engine>/<name>` of the tree that take
/// `panic` and `error` faults (indices into [`STEPS`]).
pub const STEPS: [&str; 4] = ["validator", "scorer", "risk", "gate"];
const STEP_VALIDATOR: usize = 0;
const STEP_SCORER: usize = 1;
const STEP_RISK: usize = 2;
const STEP_GATE: usize = 3;
/// The strategy name of the orders that flatten a position at PANIC.
pub const FLATTEN: &str = "flatten";

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
    /// The engine risk guard's per-order rules and drawdown thresholds.
    pub guard: GuardLimits,
    /// The portfolio checks every opening order passes.
    pub portfolio: PortfolioLimits,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// The capital tiers: the current mode's size factor, open positions and
    /// strategies apply to every decision.
    pub tiers: Tiers,
}

impl EngineConfig {
    /// One KC engine alone in its portfolio, as benchmarks and tests drive it:
    /// the daemon's defaults, but no order-rate limit (every signal may be an
    /// order), no concentration limit (it holds all the exposure there is),
    /// and batches only when asked (`BatchDue`).
    pub fn alone(journal: PathBuf) -> EngineConfig {
        EngineConfig {
            id: "KC".into(),
            spec: crate::model::contract("KC").expect("KC is a known contract"),
            router: RouterConfig {
                immediate_threshold: 0.85,
                min_consensus: 0.6,
                max_buffer: 1000,
            },
            batch_every: Duration::from_secs(3600),
            allocation: Allocation {
                capital: Decimal::from(250_000),
                weights: [
                    ("news".to_owned(), Decimal::new(5, 1)),
                    ("momentum".to_owned(), Decimal::new(5, 1)),
                ]
                .into(),
            },
            limits: Limits {
                max_position: Decimal::from(10),
                warning_factor: Decimal::new(5, 1),
            },
            journal,
            feeds: vec![],
            guard: GuardLimits {
                max_orders_per_sec: 0,
                ..GuardLimits::default()
            },
            portfolio: PortfolioLimits {
                concentration_max: 1.0,
                ..PortfolioLimits::default()
            },
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
            tiers: Tiers::default(),
        }
    }

    pub fn path(&self) -> String {
        crate::control::engine_path(&self.id)
    }

    /// The journal key of this engine's circuit breaker.
    pub fn breaker_key(&self) -> String {
        format!("engine.{}.breaker", self.id)
    }

    fn breaker(&self) -> Breaker {
        Breaker::new(
            self.breaker_threshold,
            self.breaker_cooldown.as_millis() as u64,
        )
    }
}

/// The breaker as journaled; one this version cannot read is taken as open
/// from now (the safe side), and said so.
fn load_breaker(cfg: &EngineConfig, store: &SharedStore, now_ms: u64) -> Breaker {
    let key = cfg.breaker_key();
    let entry = store
        .with(|s| s.state_entry(&key))
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(entry) = entry else {
        return cfg.breaker();
    };
    let (threshold, cooldown) = (
        cfg.breaker_threshold,
        cfg.breaker_cooldown.as_millis() as u64,
    );
    Breaker::decode(threshold, cooldown, &entry.value).unwrap_or_else(|| {
        tracing::error!(engine = %cfg.id, key = %key, value = %entry.value, "unreadable breaker state in the journal: taken as open");
        let mut b = cfg.breaker();
        for _ in 0..threshold {
            b.on_failure(now_ms);
        }
        b
    })
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
    /// Volatility of the recent bar returns (VaR), kept up to date per bar.
    volatility: RollingVolatility,
    /// The equity last told to the guard.
    marked: Option<Decimal>,
    /// Market time of the last bar.
    last_at_ms: u64,
    guard: EngineGuard,
    guard_actor: Handle<Guard>,
    guard_path: String,
    breaker: Breaker,
    clock: Clock,
    /// The portfolio level (written by portfolio_risk) and the mode (by the
    /// mode actor).
    levels: watch::Receiver<RiskLevel>,
    modes: watch::Receiver<ModeState>,
    account: Arc<Account>,
    /// The equity last published (stands while the position has no price).
    published_equity: Decimal,
    store: Arc<SharedStore>,
    executor: Handle<Executor>,
    kernel: Kernel,
    /// Registered when it starts (its path is known then).
    steps: Arc<Steps>,
    view: Arc<StatusView>,
    shared: Shared,
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
    pub shared: Shared,
}

impl Engine {
    pub fn factory(
        cfg: Arc<EngineConfig>,
        links: EngineLinks,
    ) -> impl Fn() -> Engine + Send + Sync + 'static {
        move || {
            let EngineLinks {
                store,
                executor,
                guard,
                kernel,
                view,
                wiring,
                shared,
            } = links.clone();
            let clock = wiring.clock;
            let breaker = load_breaker(&cfg, &store, clock.now_ms());
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
                volatility: RollingVolatility::new(VOLATILITY_BARS),
                marked: None,
                last_at_ms: 0,
                guard: EngineGuard::new(cfg.guard.clone()),
                guard_actor: guard,
                // Set from the engine's own path when it starts.
                guard_path: String::new(),
                breaker,
                clock,
                levels: wiring.risk_level(),
                modes: wiring.mode(),
                account: wiring.account.clone(),
                published_equity: wiring.account.equity_of(&cfg.id),
                executor,
                kernel,
                steps: Arc::new(Steps::none()),
                view,
                shared,
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
        tracing::debug!(engine = %self.cfg.id, seq = row.decision_seq, outcome = %row.outcome, detail = %row.detail, "decision");
        // In the order log at once (it survives kill -9); else, without a log
        // or when the write fails, in the next batch.
        match self.store.log_outcome(&row) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(engine = %self.cfg.id, error = %e, "outcome not in the order log: kept for the next batch");
            }
        }
        if self.pending.len() >= MAX_PENDING_OUTCOMES {
            self.pending.pop_front();
            self.activity.dropped += 1;
        }
        self.pending.push_back(row);
    }

    /// The position as if every order in flight were filled: two quick
    /// signals cannot both use the same room.
    fn projected(&self) -> Position {
        let mut p = Position::default();
        p.qty = self.position.qty + self.in_flight.values().copied().sum::<Decimal>();
        p
    }

    /// One candidate through validator → scorer → gate → allocator → risk
    /// (level, pause, position limit; then the engine guard and the portfolio
    /// checks on the part that opens exposure) → breaker → executor; ends in
    /// exactly one outcome.
    fn decide(&mut self, c: Candidate) {
        self.decision_seq += 1;
        let steps = self.steps.clone();
        let momentum = pipeline::momentum(&self.closes);
        // Degradation (ARCHITECTURE.md): validator down → unvalidated (the
        // scorer takes it one tier lower); scorer or risk down → no trade;
        // gate down → closed.
        let validated = match steps.run(STEP_VALIDATOR, || pipeline::validate(&c, momentum)) {
            Ok(Ok(())) => true,
            Ok(Err(why)) => return self.record(&c, Outcome::Vetoed, why),
            Err(_) => false,
        };
        let tier = match steps.run(STEP_SCORER, || pipeline::score(&c, validated)) {
            Ok(tier) => tier,
            Err(down) => {
                let why = format!("scorer down ({down}): no trade");
                return self.record(&c, Outcome::Error, why);
            }
        };
        if tier == pipeline::Tier::NoTrade {
            let why = format!("confidence {:.2}", c.confidence);
            return self.record(&c, Outcome::LowScore, why);
        }
        let spec = &self.cfg.spec;
        match steps.run(STEP_GATE, || pipeline::gate(Some(spec), c.at_ms)) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return self.record(&c, Outcome::GateClosed, why),
            Err(down) => {
                let why = format!("gate down ({down}): closed");
                return self.record(&c, Outcome::GateClosed, why);
            }
        }
        let Some(price) = self.last else {
            return self.record(&c, Outcome::GateClosed, "no price yet".into());
        };
        let mode = self.modes.borrow().current;
        let params = self.cfg.tiers.params(mode);
        if !params.strategies.iter().any(|s| s == c.strategy) {
            let why = format!("strategy {} is not enabled in mode {mode}", c.strategy);
            return self.record(&c, Outcome::Vetoed, why);
        }
        let qty = pipeline::allocate(&self.cfg.allocation, c.strategy, tier, &self.cfg.spec);
        let qty = (qty * params.size_factor).floor();
        if qty.is_zero() {
            let why = format!(
                "{tier:?} {} allocates no contract in mode {mode} (sizes x {})",
                c.strategy,
                params.size_factor.normalize()
            );
            return self.record(&c, Outcome::LowScore, why);
        }
        let qty = match steps.run(STEP_RISK, || self.risk_step(&c, price, qty)) {
            Ok(Ok(qty)) => qty,
            Ok(Err(why)) => return self.record(&c, Outcome::RiskRejected, why),
            Err(down) => {
                let why = format!("risk down ({down}): no trade");
                return self.record(&c, Outcome::RiskRejected, why);
            }
        };
        let trial = match self.admit() {
            Ok(trial) => trial,
            Err(why) => return self.record(&c, Outcome::BreakerOpen, why),
        };
        if let Err(why) = self.place(c.strategy, c.side, qty, price, c.at_ms, trial) {
            self.record(&c, Outcome::Error, why);
        }
    }

    /// The risk step for `qty` contracts: level, pause and position limit, then
    /// the engine guard and the portfolio checks on the part that opens
    /// exposure. The quantity that may go, or why none may.
    fn risk_step(
        &mut self,
        c: &Candidate,
        price: Decimal,
        qty: Decimal,
    ) -> Result<Decimal, String> {
        let paused = self.kernel.registry().is_paused(&self.cfg.path());
        let level = *self.levels.borrow();
        let projected = self.projected();
        let qty = pipeline::risk(level, paused, &projected, c.side, qty, &self.cfg.limits)?;
        let reducing = pipeline::reducing_part(&projected, c.side, qty);
        let opening = qty - reducing;
        if opening.is_zero() {
            return Ok(qty);
        }
        match self.check_opening(c, price, (opening, qty), &projected) {
            Ok(()) => Ok(qty),
            // The reducing part still goes: a guard never traps a position.
            Err(why) if reducing > Decimal::ZERO => {
                tracing::debug!(engine = %self.cfg.id, %why, "opening part refused; reducing only");
                Ok(reducing)
            }
            Err(why) => Err(why),
        }
    }

    /// The engine guard's rules and the portfolio checks on the part of an
    /// order that opens exposure. `Err` names the rule.
    fn check_opening(
        &mut self,
        c: &Candidate,
        price: Decimal,
        (opening, total): (Decimal, Decimal),
        projected: &Position,
    ) -> Result<(), String> {
        match self.kernel.registry().state(&self.guard_path) {
            Some(NodeState::Running) => {}
            state => {
                let state = state.map_or("missing".to_owned(), |s| format!("{s:?}").to_lowercase());
                return Err(format!(
                    "engine risk guard {state}: no new exposure until it runs"
                ));
            }
        }
        let spec = &self.cfg.spec;
        let others = self.account.book_except(&self.cfg.id);
        let open_positions = others.len() + usize::from(!projected.qty.is_zero());
        let mode = self.modes.borrow().current;
        let opening_order = Opening {
            qty: opening,
            price,
            signal_price: c.price,
            new_position: projected.qty.is_zero(),
            open_positions,
            max_open_positions: self.cfg.tiers.params(mode).max_open_positions,
        };
        self.guard
            .check(spec, self.clock.now_ms(), &opening_order)?;
        let vol = self.volatility.value();
        let mut exposures: Vec<Exposure> = others
            .into_iter()
            .map(|b| Exposure {
                symbol: b.symbol,
                notional: b.exposure,
                volatility: b.volatility,
            })
            .collect();
        exposures.push(Exposure {
            symbol: spec.symbol.to_owned(),
            notional: projected.qty * price * spec.point_value,
            volatility: vol,
        });
        let book = Book {
            equity: self.account.equity(),
            exposures,
        };
        // The whole order: a flip from long 3 with a sell of 5 ends short 2.
        let delta = c.side.sign() * total * price * spec.point_value;
        check_opening(&self.cfg.portfolio, &book, spec.symbol, delta, vol)
    }

    /// Asks the breaker; `Ok(true)` for its half-open trial.
    fn admit(&mut self) -> Result<bool, String> {
        let (admit, changed) = self.breaker.admit(self.clock.now_ms());
        if changed {
            self.breaker_changed("cooldown passed: one trial order goes through");
        }
        match admit {
            Admit::Pass => Ok(false),
            Admit::Trial => Ok(true),
            Admit::Refuse(why) => Err(why),
        }
    }

    /// Journals an order (with its `executed` outcome, durably: the engine's
    /// order log) and sends it to the executor. An order the journal does not
    /// hold does not exist.
    fn place(
        &mut self,
        strategy: &'static str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        at_ms: u64,
        trial: bool,
    ) -> Result<(), String> {
        let order = Order {
            client_order_id: client_order_id(&self.cfg.id, strategy, self.decision_seq),
            engine: self.cfg.id.clone(),
            strategy: strategy.to_owned(),
            decision_seq: self.decision_seq,
            symbol: self.cfg.spec.symbol.to_owned(),
            side,
            qty,
            ref_price: price,
            at_ms,
        };
        let id = order.client_order_id.clone();
        let row = OutcomeRow {
            engine: self.cfg.id.clone(),
            decision_seq: self.decision_seq,
            symbol: order.symbol.clone(),
            strategy: strategy.to_owned(),
            outcome: Outcome::Executed,
            detail: format!("{id}: {} {qty} @ {price}", side.as_str()),
            at_ms,
        };
        if let Err(e) = self.store.journal_order(&order, &row) {
            tracing::error!(engine = %self.cfg.id, order = %id, error = %e, "order not journaled: not sent");
            if trial {
                self.breaker.trial_abandoned();
            }
            return Err(format!("not journaled: {e}"));
        }
        self.count(Outcome::Executed);
        self.activity.orders += 1;
        self.guard.sent(self.clock.now_ms());
        self.in_flight.insert(id.clone(), side.sign() * qty);
        if trial {
            self.breaker.trial_sent(&id);
        }
        if let Err(e) = self.executor.tell(SubmitOrder(order.clone())) {
            // Executor down: the order is abandoned (rejected) and the decision
            // ends in `error`, in one durable write; the breaker counts it.
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
                    self.broker_failed(&id);
                }
                // Still pending: the executor re-drives it when it is back (or
                // rejects it as stale).
                Err(je) => {
                    tracing::error!(engine = %self.cfg.id, order = %id, error = %je, "could not abandon the order")
                }
            }
        }
        Ok(())
    }

    /// Orders in flight the journal no longer has pending were settled without
    /// the engine being told (a message lost to a full mailbox or a restart):
    /// filled ones were applied above from the journal, the others were
    /// rejected. Without this a lost rejection would count as exposure for
    /// ever, and a lost trial would keep the breaker half-open.
    fn reconcile_in_flight(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        let pending = match self
            .store
            .with(|s| s.pending_orders(&self.cfg.id, u64::MAX))
        {
            Ok(p) => p,
            Err(e) => {
                return tracing::error!(engine = %self.cfg.id, error = %e, "cannot read pending orders back")
            }
        };
        let pending: std::collections::HashSet<String> = pending
            .into_iter()
            .map(|(_, o)| o.client_order_id)
            .collect();
        let settled: Vec<String> = self
            .in_flight
            .keys()
            .filter(|id| !pending.contains(*id))
            .cloned()
            .collect();
        for id in settled {
            tracing::warn!(engine = %self.cfg.id, order = %id, "order settled without word to the engine: no longer in flight");
            self.in_flight.remove(&id);
            self.breaker.order_dropped(&id);
        }
    }

    fn broker_failed(&mut self, id: &str) {
        if self.breaker.order_failed(id, self.clock.now_ms()).is_some() {
            let why = format!("{} consecutive broker failures", self.breaker.failures());
            self.breaker_changed(&why);
        }
    }

    fn broker_succeeded(&mut self, id: &str) {
        if self.breaker.order_filled(id).is_some() {
            self.breaker_changed("its trial order was filled");
        }
    }

    /// Journals the breaker's new state (durably: it must still be open after a
    /// restart), publishes its event and logs it.
    fn breaker_changed(&mut self, why: &str) {
        let state = self.breaker.state();
        let (kind, detail) = match state {
            BreakerState::Open => (BREAKER_OPENED, format!("breaker opened: {why}")),
            BreakerState::HalfOpen => (BREAKER_HALF_OPEN, format!("breaker half-open: {why}")),
            BreakerState::Closed => (BREAKER_CLOSED, format!("breaker closed: {why}")),
        };
        let (key, value, now) = (
            self.cfg.breaker_key(),
            self.breaker.encode(),
            self.clock.now_ms(),
        );
        if let Err(e) = self
            .store
            .with(|s| s.put_state_durable(&key, &value, why, now))
        {
            tracing::error!(engine = %self.cfg.id, error = %e, "breaker state not journaled");
        }
        if state == BreakerState::Closed {
            tracing::info!(engine = %self.cfg.id, "{detail}");
        } else {
            tracing::warn!(engine = %self.cfg.id, "{detail}");
        }
        self.kernel.events().publish(kind, &self.cfg.path(), detail);
        self.publish();
    }

    /// At PANIC: every order not yet sent is cancelled and the position, with
    /// what is in flight, is closed at the last price. Idempotent: run on every
    /// level change, every second and at start, until the engine is flat.
    fn enforce_panic(&mut self) {
        if *self.levels.borrow() != RiskLevel::Panic {
            return;
        }
        // Orders decided so far; the closing order below comes after.
        let _ = self.executor.tell(CancelPending {
            reason: "risk level PANIC".into(),
            up_to_seq: self.decision_seq,
        });
        let projected = self.projected();
        if projected.qty.is_zero() {
            return;
        }
        let Some(price) = self.last else {
            tracing::warn!(engine = %self.cfg.id, position = %projected.qty, "PANIC: no price yet to flatten at; retrying every second");
            return;
        };
        let side = if projected.qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let trial = match self.admit() {
            Ok(trial) => trial,
            Err(why) => {
                tracing::warn!(engine = %self.cfg.id, %why, "PANIC: cannot flatten yet; retrying every second");
                return;
            }
        };
        self.decision_seq += 1;
        let (qty, at_ms) = (projected.qty.abs(), self.last_at_ms);
        tracing::warn!(engine = %self.cfg.id, %qty, side = side.as_str(), %price, "PANIC: flattening");
        if let Err(why) = self.place(FLATTEN, side, qty, price, at_ms, trial) {
            tracing::error!(engine = %self.cfg.id, %why, "PANIC: flatten order failed; retrying every second");
            let c = Candidate {
                symbol: self.cfg.spec.symbol.to_owned(),
                side,
                confidence: 1.0,
                strategy: FLATTEN,
                at_ms,
                detail: "flatten at PANIC".into(),
                price: Some(price),
            };
            self.record(&c, Outcome::Error, why);
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
        // A restarted engine holding a position has no price until its first
        // bar: its equity would read as if the position were worth nothing (a
        // false account drawdown). The equity it published before stands until
        // then, and it says it is unpriced (the account drawdown waits).
        let unpriced = self.last.is_none() && !self.position.qty.is_zero();
        let before = self.published_equity;
        let equity = if unpriced && !before.is_zero() {
            before
        } else {
            self.equity()
        };
        self.published_equity = equity;
        let exposure = self
            .last
            .map_or(Decimal::ZERO, |p| self.position.qty * p * spec.point_value);
        let breaker = BreakerView {
            state: self.breaker.state().as_str().to_owned(),
            consecutive_failures: self.breaker.failures(),
            opens: self.breaker.opens(),
            opened_at_ms: self.breaker.opened_at_ms(),
        };
        let volatility = self.volatility.value();
        self.account.publish(
            &self.cfg.id,
            AccountEntry {
                symbol: spec.symbol.to_owned(),
                exposure,
                volatility,
                equity,
                unpriced,
            },
        );
        let figures = EngineFigures {
            symbol: spec.symbol.to_owned(),
            positions,
            exposure,
            volatility,
            realized_pnl: self.realized - self.activity.commissions,
            equity,
            breaker,
            last_price: self.last,
            activity,
            unpriced,
        };
        self.view.set_engine(&self.cfg.id, figures);
    }

    /// Capital + realized PnL − commissions + unrealized PnL at the last price.
    fn equity(&self) -> Decimal {
        let unrealized = self.last.map_or(Decimal::ZERO, |p| {
            self.position.unrealized(p, &self.cfg.spec)
        });
        self.cfg.allocation.capital + self.realized - self.activity.commissions + unrealized
    }

    /// Tells the guard the equity now, when it changed (a flat engine's
    /// equity does not move with the bars). A full guard mailbox: the next one.
    fn mark(&mut self) {
        let equity = self.equity();
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
        self.reconcile_in_flight();
        self.enforce_panic();
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
        // The guard is this engine's sibling: `<subtree>/guard`.
        let subtree = ctx.path().rsplit_once('/').map_or("", |(s, _)| s);
        self.guard_path = format!("{subtree}/guard");
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
        self.volatility.push(bar.close);
        self.last = Some(bar.close);
        self.last_at_ms = bar.at_ms;
        self.mark();
    }
}

impl Handles<SignalReceived> for Engine {
    fn handle(&mut self, SignalReceived(a): SignalReceived, _: &mut Ctx<'_, Self>) {
        let (symbol, strategy, at_ms, confidence) =
            (a.symbol.clone(), a.strategy, a.at_ms, a.confidence);
        match self.router.route(a) {
            Route::Now(a) => {
                if let Some(c) = pipeline::candidate(&a) {
                    self.decide(c);
                }
            }
            // A decision of its own: it waits for the batch, whose candidate
            // (if its symbol reaches consensus) is the next decision.
            Route::Buffered => {
                self.decision_seq += 1;
                self.record_row(OutcomeRow {
                    engine: self.cfg.id.clone(),
                    decision_seq: self.decision_seq,
                    symbol,
                    strategy: strategy.to_owned(),
                    outcome: Outcome::Buffered,
                    detail: format!("confidence {confidence:.2}: waits for the batch"),
                    at_ms,
                });
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
            self.broker_succeeded(&m.fill.client_order_id);
            self.publish();
            self.mark();
        }
    }
}

impl Handles<OrderRejected> for Engine {
    fn handle(&mut self, m: OrderRejected, _: &mut Ctx<'_, Self>) {
        self.activity.rejected += 1;
        self.in_flight.remove(&m.client_order_id);
        tracing::warn!(engine = %self.cfg.id, order = %m.client_order_id, reason = %m.reason, "order rejected");
        if m.broker_failure {
            self.broker_failed(&m.client_order_id);
        } else {
            // Refused for itself, not for an outage: if it was the trial, the
            // next order is.
            self.breaker.order_dropped(&m.client_order_id);
        }
    }
}

impl Handles<RiskLevelChanged> for Engine {
    fn handle(&mut self, RiskLevelChanged(level): RiskLevelChanged, _: &mut Ctx<'_, Self>) {
        tracing::info!(engine = %self.cfg.id, %level, "risk level now applies");
        self.enforce_panic();
    }
}
