//! `StatusView`: the one shared, read-mostly snapshot of what the operator sees
//! (`GET /v1/status`, `/metrics`, `/readyz`). A read model only: each part has
//! exactly one writer, the actor that owns the state (portfolio_risk writes
//! `risk` and the account's figures, mode writes `mode`, every engine its own
//! entry, the notifier its figures); readers never wait on an actor, so the
//! status of a daemon with a hung actor can still be read. No actor decides
//! from it: what actors need from each other flows through `crate::wiring`.

use crate::model::{ModeState, RiskState};
use crate::risk::Portfolio;
use dashmap::DashMap;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::RwLock;

/// What an engine publishes about itself. Engines write it from the engines issue
/// on; until an engine has written anything, it has no positions and no PnL.
/// Money as `Decimal`, serialized as a decimal string (the API's rule).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineFigures {
    /// The contract it trades.
    pub symbol: String,
    /// The month it trades now (`KCH26`): its front month at the market
    /// clock's time (the bare symbol where the calendar names none).
    pub contract: Option<String>,
    /// The roll under way (`KCH26 → KCK26: 2 contracts`), if any.
    pub roll: Option<String>,
    pub positions: Vec<PositionView>,
    /// Signed notional of the position at the last price, in dollars.
    pub exposure: Decimal,
    /// Standard deviation of one bar's return over the recent bars (the VaR
    /// input), if there are enough bars.
    pub volatility: Option<f64>,
    pub realized_pnl: Decimal,
    pub equity: Decimal,
    pub breaker: BreakerView,
    pub last_price: Option<Decimal>,
    /// Each strategy's part of the engine: its configured ones in order,
    /// then the engine's own (`flatten`, `roll`, `house`) where they hold or
    /// made anything. Their PnL adds up to the engine's.
    pub strategies: Vec<StrategyView>,
    /// The orders in flight (sent, or working at the broker), by id; the
    /// first [`MAX_ORDERS_LISTED`].
    pub orders: Vec<OrderView>,
    pub activity: EngineActivity,
    /// Holding a position with no price yet (a restart before its first bar):
    /// its equity is not marked, so the account drawdown is not measured.
    #[serde(skip)]
    pub unpriced: bool,
}

/// Orders in flight an engine's figures list at most.
pub const MAX_ORDERS_LISTED: usize = 64;

/// One order in flight: what is left of it, and its limit if it rests.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrderView {
    pub id: String,
    pub strategy: String,
    pub contract: String,
    pub side: &'static str,
    /// Contracts still to fill.
    pub left: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Decimal>,
    /// Market time (ms) it expires at, for a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// What the engine has done since the daemon started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineActivity {
    /// Raw events read by the analyzer (bars and headlines).
    pub events_in: u64,
    pub signals: u64,
    /// Candidates by outcome (`executed`, `vetoed`, ...).
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    pub orders: u64,
    pub fills: u64,
    pub rejected: u64,
    /// Orders that worked at the broker and ended before they filled in
    /// full (a limit order's expiry, a cancel).
    pub ended: u64,
    /// Market events or signals dropped at a full mailbox or buffer.
    pub dropped: u64,
    pub commissions: Decimal,
    /// HTTP feeds: items read, malformed items dropped, polls that failed.
    pub feed_items: u64,
    pub feed_malformed: u64,
    pub feed_failures: u64,
}

/// One strategy inside its engine's net position.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyView {
    pub strategy: String,
    /// Its kind; none for the engine's own.
    pub kind: Option<&'static str>,
    pub weight: Option<Decimal>,
    /// Its capital limit now: `weight × equity`.
    pub capital: Option<Decimal>,
    /// The contracts its lots hold over every month (signed).
    pub position: Decimal,
    /// What its lots and its orders on the way hold, at margin.
    pub margin: Decimal,
    /// The realized PnL of its lots, net of its orders' commissions.
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
    pub fees: Decimal,
    /// Its orders refused or cut by its capital limit since the start.
    pub capital_breaches: u64,
    /// Its round trips (the lots it owned, closed by anyone) and what they
    /// add up to; kept across restarts and retention.
    pub trades: crate::model::TradeStats,
    /// Its equity curve (its share of the capital plus its PnL, at every
    /// front-month bar) since the engine started: return, Sharpe, Sortino,
    /// drawdown, exposure. None for the engine's own owners.
    pub curve: Option<crate::model::CurveResults>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub symbol: String,
    pub qty: Decimal,
    pub avg_price: Decimal,
    pub unrealized_pnl: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    pub state: String,
    pub consecutive_failures: u32,
    pub opens: u64,
    /// When it opened last (ms since the epoch), while open or half-open.
    pub opened_at_ms: Option<u64>,
}

impl Default for BreakerView {
    /// A breaker that has seen no failure is closed.
    fn default() -> Self {
        BreakerView {
            state: "closed".to_owned(),
            consecutive_failures: 0,
            opens: 0,
            opened_at_ms: None,
        }
    }
}

/// What the notifier has done, for `/v1/status` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifierFigures {
    /// Notifications waiting in the journal's outbox.
    pub outbox: u64,
    pub delivered: u64,
    pub retries: u64,
    /// Refused for good by a webhook (4xx other than 429).
    pub failed: u64,
    /// `trade`/`milestone` notifications dropped at the outbox bound.
    pub dropped: u64,
}

/// The last daily reconciliation, for `/v1/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileView {
    /// The market day reconciled (`YYYY-MM-DD`, New York), `None` before the first.
    pub day: Option<String>,
    /// Engines whose journal and broker agreed.
    pub matched: u64,
    /// The differences found (and engines that could not be asked), one line each.
    pub mismatches: Vec<String>,
    /// Reconciliations run by this process.
    pub runs: u64,
}

/// An engine's label on a histogram.
pub type EngineLabel = [(&'static str, String); 1];

/// Histograms of one engine each (bounded by the engines configured since
/// the daemon started).
pub type PerEngine = Family<EngineLabel, Histogram, fn() -> Histogram>;

/// How long the hot path takes, in real time, for `/metrics`.
pub struct Latencies {
    /// From an engine taking a market event (a bar, a reading, a batch due)
    /// to the order it decided on handed to its executor, the durable
    /// journal write included.
    pub tick_to_order: PerEngine,
    /// The durable append of an order to the engine's order log (fsync
    /// included), before the order is sent.
    pub journal_append: PerEngine,
}

/// 10 µs to about 0.33 s, doubling.
fn tick_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 16))
}

/// 20 µs to about 0.66 s, doubling: an fsync is milliseconds on most disks.
fn append_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_02, 2.0, 16))
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            tick_to_order: Family::new_with_constructor(tick_buckets as fn() -> Histogram),
            journal_append: Family::new_with_constructor(append_buckets as fn() -> Histogram),
        }
    }
}

impl Latencies {
    /// `seconds` of engine `engine` into `histogram`. The engine id goes
    /// into the exposition as it is: ids are letters, digits, `-` and `_`
    /// (checked by the config), nothing a label must escape.
    pub fn observe(histogram: &PerEngine, engine: &str, seconds: f64) {
        histogram
            .get_or_create(&[("engine", engine.to_owned())])
            .observe(seconds);
    }

    /// An engine a reload removed: its series leave the exposition.
    pub fn forget(&self, engine: &str) {
        let label = [("engine", engine.to_owned())];
        self.tick_to_order.remove(&label);
        self.journal_append.remove(&label);
    }
}

pub struct StatusView {
    /// Written by the engines, read by `/metrics`.
    pub latency: Latencies,
    reconcile: RwLock<ReconcileView>,
    notifier: RwLock<NotifierFigures>,
    risk: RwLock<RiskState>,
    mode: RwLock<ModeState>,
    engines: DashMap<String, EngineFigures>,
    /// The account's equity and drawdown as `portfolio_risk` last measured.
    portfolio: RwLock<Portfolio>,
}

impl StatusView {
    pub fn new(risk: RiskState, mode: ModeState) -> StatusView {
        StatusView {
            latency: Latencies::default(),
            reconcile: RwLock::new(ReconcileView::default()),
            notifier: RwLock::new(NotifierFigures::default()),
            risk: RwLock::new(risk),
            mode: RwLock::new(mode),
            engines: DashMap::new(),
            portfolio: RwLock::new(Portfolio::default()),
        }
    }

    pub fn risk(&self) -> RiskState {
        self.risk.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For portfolio_risk only.
    pub fn set_risk(&self, s: RiskState) {
        *self.risk.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// For the reconciliation only.
    pub fn set_reconcile(&self, r: ReconcileView) {
        *self.reconcile.write().unwrap_or_else(|e| e.into_inner()) = r;
    }

    pub fn reconcile(&self) -> ReconcileView {
        self.reconcile
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// For the notifier only.
    pub fn set_notifier(&self, f: NotifierFigures) {
        *self.notifier.write().unwrap_or_else(|e| e.into_inner()) = f;
    }

    pub fn notifier(&self) -> NotifierFigures {
        self.notifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every engine's figures (a snapshot).
    pub fn engines(&self) -> Vec<(String, EngineFigures)> {
        self.engines
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    pub fn mode(&self) -> ModeState {
        self.mode.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For the mode actor only.
    pub fn set_mode(&self, s: ModeState) {
        *self.mode.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// An engine's figures (zero until the engine has published any).
    pub fn engine(&self, id: &str) -> EngineFigures {
        self.engines.get(id).map(|e| e.clone()).unwrap_or_default()
    }

    /// For engine `id` only.
    pub fn set_engine(&self, id: &str, figures: EngineFigures) {
        self.engines.insert(id.to_owned(), figures);
    }

    /// For portfolio_risk only.
    pub fn set_portfolio(&self, p: Portfolio) {
        *self.portfolio.write().unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// The account's equity and drawdown from its peak, as last measured.
    pub fn portfolio(&self) -> Portfolio {
        *self.portfolio.read().unwrap_or_else(|e| e.into_inner())
    }
}
