//! One engine per commodity: its subtree, messages, actors and pure pipeline.
//!
//! ```text
//! <id> (engine supervisor, [engine_supervision].strategy, pooled or own arbiter)
//! ├── engine      hybrid routing, validator → scorer → gate → allocator → risk
//! │               (level, engine guard rules, portfolio checks) → breaker
//! ├── executor    journaled orders → broker, one at a time; fills → engine
//! ├── broker      the broker adapter (paper) as an actor, asked with a timeout
//! ├── analyzer    rules: keywords, momentum → engine
//! ├── sentinel    price move, news keyword, close approaching → analyzer, risk
//! ├── collector   bundled data replay → sentinel, analyzer
//! ├── poller<i>   HTTP feeds → sentinel, analyzer
//! └── guard       the engine risk guard (`risk::Guard`): drawdowns → portfolio_risk
//! ```
//!
//! Children start in this order and stop in reverse: the guard and the feeds
//! first, the engine last. Under `rest_for_one` a child's failure restarts it
//! and the children after it: a failing feed restarts the feeds and the guard,
//! never the engine, its executor or its broker; a failing guard restarts only
//! itself (the engine opens nothing meanwhile).

pub mod actor;
pub mod analyzer;
pub mod broker;
pub mod collector;
pub mod conflate;
pub mod data;
pub mod executor;
pub mod messages;
pub mod momentum;
pub mod pipeline;
pub mod poller;
pub mod recent;
pub mod sentinel;

pub use actor::{Engine, EngineConfig, EngineLinks, Shared};
pub use analyzer::Analyzer;
pub use broker::{Broker, BrokerActor, BrokerError, BrokerFactory, PaperBroker};
pub use collector::Collector;
pub use executor::Executor;

use crate::kernel::{ChildSpec, Handle, Kernel, SupervisorConfig, SupervisorSpec};
use crate::view::StatusView;
use rust_decimal::Decimal;
use std::sync::Arc;

trait Placed {
    fn placed(self, placement: &Placement) -> Self;
}

impl Placed for SupervisorSpec {
    fn placed(self, placement: &Placement) -> Self {
        match placement {
            Placement::Pool(p) => self.on_arbiter_pool(p),
            Placement::OwnThread => self.on_own_arbiter(),
            Placement::ParentThread => self,
        }
    }
}

/// Where an engine subtree runs.
#[derive(Clone)]
pub enum Placement {
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
    pub llm: Option<Arc<crate::shared::SharedServices>>,
    pub placement: Placement,
    pub speed: f64,
    pub slippage_ticks: i64,
    pub commission: Decimal,
    /// How long the broker has to answer an order.
    pub broker_timeout: std::time::Duration,
    /// The broker adapter; `None`: the paper broker (`slippage_ticks`,
    /// `commission`).
    pub broker: Option<broker::BrokerFactory>,
    /// The market data: the bundled data (looping), or recorded data played
    /// once (`commodore replay`).
    pub data: DataSource,
    /// The clock, the account and the level and mode watches.
    pub wiring: crate::wiring::Wiring,
}

/// Where the collectors' bars and headlines come from.
#[derive(Clone, Default)]
pub enum DataSource {
    /// The embedded `config/data/`, replayed in a loop.
    #[default]
    Bundled,
    /// Recorded data per symbol, played once; the collectors count into the
    /// progress.
    Recorded {
        data: Arc<std::collections::HashMap<String, data::Replay>>,
        progress: Arc<collector::ReplayProgress>,
    },
}

/// The subtree of one engine, on a pooled arbiter (or its own). `None` when there is no
/// data for its symbol.
pub fn subtree(
    cfg: Arc<EngineConfig>,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    view: &Arc<StatusView>,
) -> Option<SupervisorSpec> {
    subtree_with_handles(cfg, sub, kernel, view).map(|(s, _)| s)
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
}

/// [`subtree`] and the handles to its actors.
pub fn subtree_with_handles(
    cfg: Arc<EngineConfig>,
    sub: &SubtreeConfig,
    kernel: &Kernel,
    view: &Arc<StatusView>,
) -> Option<(SupervisorSpec, EngineHandles)> {
    let ((bars, news), progress) = match &sub.data {
        DataSource::Bundled => (data::bundled(cfg.spec.symbol)?, None),
        DataSource::Recorded { data, progress } => {
            (data.get(cfg.spec.symbol)?.clone(), Some(progress.clone()))
        }
    };
    let (sentinel, analyzer, engine, executor) =
        (Handle::new(), Handle::new(), Handle::new(), Handle::new());
    let (broker, guard) = (Handle::new(), Handle::new());
    let handles = EngineHandles {
        sentinel: sentinel.clone(),
        analyzer: analyzer.clone(),
        engine: engine.clone(),
        executor: executor.clone(),
        broker: broker.clone(),
        guard: guard.clone(),
    };
    let shared = Shared::default();
    sub.wiring.account.expect(&cfg.id);
    // One journal connection for the engine and its executor (same thread).
    let store = Arc::new(crate::journal::SharedStore::for_engine(
        &cfg.journal,
        &cfg.id,
    ));
    let guard_store = store.clone();
    let mut pollers = Vec::new();
    for (i, feed) in cfg.feeds.iter().enumerate() {
        let factory = poller::Poller::factory(
            feed.clone(),
            cfg.spec.symbol.to_owned(),
            analyzer.clone(),
            sentinel.clone(),
            shared.pollers.clone(),
        );
        match factory {
            Ok(f) => pollers.push(ChildSpec::worker(&format!("poller{i}"), &Handle::new(), f)),
            Err(e) => {
                tracing::error!(engine = %cfg.id, url = %feed.url, "{e}; this feed is not polled")
            }
        }
    }
    let spec = cfg.spec.clone();
    let (slip, commission) = (sub.slippage_ticks, sub.commission);
    let (analyzer_stats, cursor) = (shared.analyzer.clone(), shared.cursor.clone());
    Some((
        SupervisorSpec::new(&cfg.id, sub.supervision)
            // The order of a rest_for_one subtree: what others depend on
            // first, the data feeds after, the guard last. A failing feed
            // restarts the feeds and the guard (never the engine, the executor
            // or the broker); a failing guard restarts only itself; a failing
            // broker (its actor, not a broker error) restarts the data path
            // and the guard too. Data flows once the engine, its executor and
            // broker are up, and stops first at shutdown.
            .child(ChildSpec::worker(
                "engine",
                &engine,
                Engine::factory(
                    cfg.clone(),
                    EngineLinks {
                        store: store.clone(),
                        executor: executor.clone(),
                        guard: guard.clone(),
                        kernel: kernel.clone(),
                        view: view.clone(),
                        wiring: sub.wiring.clone(),
                        shared,
                    },
                ),
            ))
            .child(ChildSpec::worker(
                "executor",
                &executor,
                Executor::factory(
                    cfg.id.clone(),
                    store,
                    broker.clone(),
                    sub.broker_timeout,
                    engine.clone(),
                    kernel.clone(),
                ),
            ))
            .child(ChildSpec::worker(
                "broker",
                &broker,
                match sub.broker.clone() {
                    Some(adapter) => BrokerActor::factory_boxed(adapter),
                    None => BrokerActor::factory_boxed(std::sync::Arc::new(move || {
                        Box::new(PaperBroker::new(spec.clone(), slip, commission))
                    })),
                },
            ))
            .child(ChildSpec::worker(
                "analyzer",
                &analyzer,
                Analyzer::factory(engine, analyzer_stats, sub.llm.clone()),
            ))
            .child(ChildSpec::worker(
                "sentinel",
                &sentinel,
                sentinel::Sentinel::factory(
                    sub.sentinels.clone(),
                    cfg.spec.clone(),
                    analyzer.clone(),
                    sub.risk.clone(),
                    kernel.clone(),
                ),
            ))
            .child(ChildSpec::worker(
                "collector",
                &Handle::new(),
                Collector::factory(
                    bars,
                    news,
                    sub.speed,
                    analyzer.clone(),
                    sentinel.clone(),
                    cursor,
                    progress,
                ),
            ))
            .children(pollers)
            .child(ChildSpec::worker(
                "guard",
                &guard,
                crate::risk::Guard::factory(
                    cfg.id.clone(),
                    cfg.guard.clone(),
                    sub.risk.clone(),
                    sub.wiring.risk_level(),
                    guard_store,
                    sub.wiring.clock,
                ),
            ))
            .placed(&sub.placement),
        handles,
    ))
}
