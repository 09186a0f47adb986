//! One engine per commodity: its subtree, messages, actors and pure pipeline.
//!
//! ```text
//! <id> (engine supervisor, [engine_supervision].strategy, pooled or own arbiter)
//! ├── engine      its strategies, hybrid routing, validator → scorer → gate → allocator → risk
//! │               (level, engine guard rules, portfolio checks) → breaker
//! ├── executor    journaled orders → broker, one at a time; fills → engine
//! ├── broker      the broker adapter (paper) as an actor, asked with a timeout
//! ├── analyzer    headlines (LLM or keywords) and alerts → readings → engine
//! ├── sentinel    price move, news keyword, close approaching → analyzer, risk
//! ├── poller<i>   HTTP feeds → sentinel, analyzer
//! └── guard       the engine risk guard (`risk::Guard`): drawdowns → portfolio_risk
//! ```
//!
//! The market data comes from outside the subtree: the one sequencer
//! (`crate::market`, `master/market`) hands every bar and headline of the
//! engine's symbol to its sentinel and analyzer at its market time.
//!
//! Children start in this order and stop in reverse: the guard and the feeds
//! first, the engine last. Under `rest_for_one` a child's failure restarts it
//! and the children after it: a failing feed restarts the feeds and the guard,
//! never the engine, its executor or its broker; a failing guard restarts only
//! itself (the engine opens nothing meanwhile).
//!
//! The engine actor's parts, one job each:
//! - `actor.rs`: the mailbox (handlers that call into the parts below);
//! - `decide.rs`: the pure decision on a candidate, a `Decision` value;
//! - `perform.rs`: what a decision and the broker's answers do (breaker,
//!   journal, executor, PANIC flatten);
//! - `marks.rs`: the market as the engine marks it (front month, a price
//!   per month);
//! - `strategies/`: the strategies as plug-ins (`Logic`: bars and
//!   readings with the strategy's own position → enter or exit);
//!   `intents.rs`: entries routed, exits taken, a strategy's own position;
//!   `exits.rs`: a strategy's exit, one reducing order for its own lots;
//! - `ledger.rs`: the book (positions per contract month, lots owned by
//!   strategies), PnL, orders in flight, fills applied;
//! - `roll.rs`: moving a position from its month to the front one, two
//!   journaled legs that a restart takes on where the journal says;
//! - `outcomes.rs`: one outcome per decision, counted and journaled;
//! - `publish.rs`: the figures for the operator and the account entry;
//! - `pipeline.rs`: the pure steps (router, validator, scorer, gate,
//!   allocator); `momentum.rs`: the momentum window; `config.rs`: its
//!   configuration. The risk rules are `crate::risk`'s.

pub mod actor;
pub mod analyzer;
pub mod broker;
pub mod config;
pub mod conflate;
pub mod data;
pub mod decide;
pub mod executor;
mod exits;
mod intents;
pub mod ledger;
mod marks;
pub mod messages;
pub mod momentum;
pub mod outcomes;
pub mod paper;
mod perform;
pub mod pipeline;
pub mod poller;
pub mod publish;
pub mod recent;
pub mod roll;
pub mod sentinel;
pub mod staleness;
pub mod strategies;

pub use actor::{Engine, EngineLinks, Neighbours};
pub use analyzer::Analyzer;
pub use broker::{
    Broker, BrokerActor, BrokerError, BrokerFactory, Known, PaperBroker, PAPER_SCHEMA,
};
pub use config::EngineConfig;
pub use executor::Executor;

use crate::kernel::{ChildSpec, Handle, Kernel, SupervisorConfig, SupervisorSpec};
use crate::paths;
use crate::view::StatusView;
use rust_decimal::Decimal;
use std::sync::Arc;

/// The log target of everything the engine actor does, from whichever of
/// its files (`RUST_LOG=commodore_actors::engine::actor=debug` shows every
/// decision), kept as it was when the engine was one file.
pub const ENGINE_LOG: &str = "commodore_actors::engine::actor";

trait Placed {
    fn placed(self, placement: &Threads) -> Self;
}

impl Placed for SupervisorSpec {
    fn placed(self, placement: &Threads) -> Self {
        match placement {
            Threads::Pool(p) => self.on_arbiter_pool(p),
            Threads::OwnThread => self.on_own_arbiter(),
            Threads::ParentThread => self,
        }
    }
}

/// Where an engine subtree runs.
#[derive(Clone)]
pub enum Threads {
    /// On a thread of this pool (first start; a restart gets its own).
    Pool(crate::kernel::ArbiterPool),
    /// On a thread of its own.
    OwnThread,
    /// On its parent's thread (benchmarks that measure without thread
    /// wake-ups).
    ParentThread,
}

/// Settings of one engine subtree besides its `EngineConfig`.
pub struct SubtreeConfig {
    pub supervision: SupervisorConfig,
    pub sentinels: sentinel::SentinelConfig,
    /// Where sentinels escalate.
    pub risk: Handle<crate::risk::PortfolioRisk>,
    /// The shared LLM path, when `llm.enabled`.
    pub llm: Option<Arc<crate::llm::LlmServices>>,
    pub placement: Threads,
    /// How the paper broker fills (`paper::FillModel`).
    pub fills: paper::FillModel,
    pub commission: Decimal,
    /// How long the broker has to answer an order.
    pub broker_timeout: std::time::Duration,
    /// The broker adapter; `None`: IB when `ib` is set, else the paper
    /// broker (`fills`, `commission`).
    pub broker: Option<broker::BrokerFactory>,
    /// The IB connection pool (`broker.kind = "ib"`): each engine's broker
    /// is its connection's adapter.
    pub ib: Option<crate::ib::IbPool>,
    /// The clock, the account and the level and mode watches.
    pub wiring: crate::wiring::Wiring,
    /// Whether the engines' orders and fills wait for the disk (`Off`: a
    /// replay's journal, never recovered from).
    pub fsync: crate::journal::Fsync,
}

/// The subtree of one engine, on a pooled arbiter (or its own).
pub fn subtree(
    cfg: Arc<EngineConfig>,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    view: &Arc<StatusView>,
) -> SupervisorSpec {
    subtree_with_handles(cfg, sub, kernel, view).0
}

/// Handles to an engine subtree's actors (for benchmarks and tests that drive
/// it directly).
#[derive(Clone)]
pub struct EngineHandles {
    pub sentinel: Handle<sentinel::Sentinel>,
    pub analyzer: Handle<Analyzer>,
    pub engine: Handle<Engine>,
    pub executor: Handle<Executor>,
    pub broker: Handle<BrokerActor>,
    pub guard: Handle<crate::risk::Guard>,
    /// Market events the sequencer could not hand this engine (counted in
    /// its `dropped`).
    pub feed_dropped: Arc<std::sync::atomic::AtomicU64>,
    /// Whether the broker fills from the market's bars (the paper broker
    /// with a latency, a participation cap or limit orders to fill): then
    /// the sequencer hands it every bar.
    pub broker_reads_bars: bool,
}

impl EngineHandles {
    /// Where the market sequencer hands this engine its symbol's events.
    pub fn route(&self, engine: &str, symbol: &str) -> crate::market::Route {
        crate::market::Route {
            engine: engine.to_owned(),
            path: crate::paths::engine(engine),
            symbol: symbol.to_owned(),
            analyzer: self.analyzer.clone(),
            sentinel: self.sentinel.clone(),
            broker: self.broker_reads_bars.then(|| self.broker.clone()),
            dropped: self.feed_dropped.clone(),
        }
    }
}

/// [`subtree`] and the handles to its actors.
pub fn subtree_with_handles(
    cfg: Arc<EngineConfig>,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    view: &Arc<StatusView>,
) -> (SupervisorSpec, EngineHandles) {
    let handles = EngineHandles {
        sentinel: Handle::new(),
        analyzer: Handle::new(),
        engine: Handle::new(),
        executor: Handle::new(),
        broker: Handle::new(),
        guard: Handle::new(),
        feed_dropped: Default::default(),
        // A market order that fills at once needs no bars; anything that
        // waits for the market does, and so do orders still working from
        // before (a configuration that no longer needs bars must not strand
        // them: they would never fill nor expire).
        broker_reads_bars: sub.broker.is_none()
            && sub.ib.is_none()
            && (sub.fills.latency_ms > 0
                || sub.fills.participation < Decimal::ONE
                || cfg
                    .strategies
                    .iter()
                    .any(|s| s.order != crate::model::OrderType::Market)
                || paper::has_working(&broker::paper_broker_path(&cfg.journal, &cfg.id))),
    };
    let neighbours = Neighbours {
        feed_dropped: handles.feed_dropped.clone(),
        ..Default::default()
    };
    sub.wiring.account.expect(&cfg.id);
    // One journal connection for the engine and its executor (same thread).
    let store = Arc::new(
        crate::journal::SharedStore::for_engine(&cfg.journal, &cfg.id).with_fsync(sub.fsync),
    );
    let pollers = pollers(&cfg, sub, &handles, &neighbours);
    let (analyzer_stats, guard_store) = (neighbours.analyzer.clone(), store.clone());
    let data = neighbours.data.clone();
    let links = EngineLinks {
        store,
        executor: handles.executor.clone(),
        guard: handles.guard.clone(),
        kernel: kernel.clone(),
        view: view.clone(),
        wiring: sub.wiring.clone(),
        neighbours,
    };
    // The order of a rest_for_one subtree: what others depend on first, the
    // data feeds after, the guard last. A failing feed restarts the feeds and
    // the guard (never the engine, the executor or the broker); a failing
    // guard restarts only itself; a failing broker (its actor, not a broker
    // error) restarts the data path and the guard too. Data flows once the
    // engine, its executor and broker are up, and stops first at shutdown.
    let spec = SupervisorSpec::new(&cfg.id, sub.supervision)
        .children(order_path(&cfg, sub, kernel, &handles, links))
        .children(data_path(
            &cfg,
            sub,
            kernel,
            &handles,
            (analyzer_stats, data),
        ))
        .children(pollers)
        .child(ChildSpec::worker(
            paths::GUARD,
            &handles.guard,
            crate::risk::Guard::factory(
                cfg.id.clone(),
                cfg.guard.clone(),
                sub.risk.clone(),
                sub.wiring.risk_level(),
                guard_store,
                sub.wiring.clock,
                cfg.allocation.capital,
            ),
        ))
        .placed(&sub.placement);
    (spec, handles)
}

/// The engine, its executor and its broker: the order path.
fn order_path(
    cfg: &Arc<EngineConfig>,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    h: &EngineHandles,
    links: EngineLinks,
) -> Vec<ChildSpec> {
    let store = links.store.clone();
    vec![
        ChildSpec::worker(
            paths::ENGINE,
            &h.engine,
            Engine::factory(cfg.clone(), links),
        ),
        ChildSpec::worker(
            paths::EXECUTOR,
            &h.executor,
            Executor::factory(
                cfg.id.clone(),
                store,
                h.broker.clone(),
                sub.broker_timeout,
                h.engine.clone(),
                kernel.clone(),
                (sub.wiring.clock, sub.wiring.crash.clone()),
            ),
        ),
        ChildSpec::worker(
            paths::BROKER,
            &h.broker,
            BrokerActor::factory_boxed(
                broker_adapter(cfg, sub),
                sub.wiring.clock,
                h.executor.clone(),
            ),
        ),
    ]
}

/// The analyzer and the sentinel: the data path (the HTTP feeds' pollers
/// come after them).
fn data_path(
    cfg: &EngineConfig,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    h: &EngineHandles,
    (analyzer_stats, data): (Arc<analyzer::AnalyzerStats>, Arc<staleness::DataHealth>),
) -> Vec<ChildSpec> {
    vec![
        ChildSpec::worker(
            paths::ANALYZER,
            &h.analyzer,
            Analyzer::factory(
                h.engine.clone(),
                analyzer_stats,
                sub.llm.clone(),
                (cfg.spec.clone(), cfg.roll_days),
            ),
        ),
        ChildSpec::worker(
            paths::SENTINEL,
            &h.sentinel,
            sentinel::Sentinel::factory(
                sub.sentinels.clone(),
                (cfg.spec.clone(), cfg.roll_days),
                sentinel::SentinelLinks {
                    analyzer: h.analyzer.clone(),
                    risk: sub.risk.clone(),
                    kernel: kernel.clone(),
                    clock: sub.wiring.clock,
                    health: data.clone(),
                },
            ),
        ),
    ]
}

/// The HTTP feeds' pollers; a feed whose client cannot be built is said and
/// left out.
fn pollers(
    cfg: &EngineConfig,
    sub: &SubtreeConfig,
    h: &EngineHandles,
    neighbours: &Neighbours,
) -> Vec<ChildSpec> {
    let mut pollers = Vec::new();
    for (i, feed) in cfg.feeds.iter().enumerate() {
        let factory = poller::Poller::factory(
            feed.clone(),
            cfg.spec.symbol.to_owned(),
            h.analyzer.clone(),
            h.sentinel.clone(),
            neighbours.pollers.clone(),
            sub.wiring.wall,
            sub.wiring.clock,
        );
        match factory {
            Ok(f) => pollers.push(ChildSpec::worker(&paths::poller(i), &Handle::new(), f)),
            Err(e) => {
                tracing::error!(engine = %cfg.id, url = %poller::redacted(&feed.url), "{e}; this feed is not polled")
            }
        }
    }
    pollers
}

/// The configured broker adapter, or the paper broker (its memory of client
/// order ids in its own file beside the journal, `broker::paper_broker_path`).
fn broker_adapter(cfg: &EngineConfig, sub: &SubtreeConfig) -> BrokerFactory {
    let spec = cfg.spec.clone();
    let (model, commission, fsync) = (sub.fills.clone(), sub.commission, sub.fsync);
    let memory = broker::paper_broker_path(&cfg.journal, &cfg.id);
    if let (None, Some(pool)) = (&sub.broker, &sub.ib) {
        let (pool, id, symbol) = (pool.clone(), cfg.id.clone(), spec.symbol);
        return Arc::new(move || pool.broker(&id, symbol));
    }
    sub.broker.clone().unwrap_or_else(|| {
        Arc::new(move || {
            Box::new(
                PaperBroker::durable(memory.clone(), fsync, spec.clone(), 0, commission)
                    .with_model(model.clone()),
            )
        })
    })
}
