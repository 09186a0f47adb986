//! The `engines` supervisor: one subtree per `[[engines]]`, each engine's
//! settings read from the config, and the shared LLM path they call.
//!
//! Invariant: every engine of the config gets its subtree here, and only here;
//! its symbol has data (checked by the config for the bundled data, by replay
//! for recorded data).

use super::{Options, ThreadChoice};
use crate::config::BrokerKind;
use crate::config::Config;
use commodore_actors::control::EngineSpec;
use commodore_actors::engine::{
    self,
    pipeline::{Allocation, RouterConfig},
    EngineConfig,
};
use commodore_actors::ib::IbPool;
use commodore_actors::kernel::{ArbiterPool, ChildSpec, Handle, Kernel, Restart, SupervisorSpec};
use commodore_actors::llm::client::{LlmClient, LlmConfig};
use commodore_actors::llm::{BudgetGuard, LlmServices, Prices};
use commodore_actors::market::Route;
use commodore_actors::model::contract;
use commodore_actors::paths;
use commodore_actors::reconcile;
use commodore_actors::risk::{order::Limits, PortfolioRisk};
use commodore_actors::view::StatusView;
use commodore_actors::{clock::Clock, wiring::Wiring};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The `engines` supervisor with one subtree per engine, and where the
/// market sequencer hands each engine its symbol's events.
///
/// An engine that gives up (its own restart intensity exceeded) stays failed:
/// `temporary` under `engines`, so the other engines keep trading, the failure
/// is notified, /readyz says which engine, and resuming it is refused (409);
/// an operator's `start` brings it back.
///
/// The engines in `stopped` (stopped by an operator, from the journal) are
/// held: listed `stopped`, not started. Each engine's child spec and the flag
/// that holds it are returned too, for `control` to stop and start it, and
/// its broker and guard, for the daily reconciliation.
pub(super) fn supervisor(
    cfg: &Config,
    kernel: &Kernel,
    view: &Arc<StatusView>,
    risk: &Handle<PortfolioRisk>,
    wiring: &Wiring,
    opts: &Options,
    stopped: &[String],
) -> Engines {
    let placement = match opts.threads {
        ThreadChoice::Pool => {
            engine::Threads::Pool(ArbiterPool::new(match cfg.engine_supervision.threads {
                0 => cfg.engines.len().clamp(1, 16),
                n => n,
            }))
        }
        ThreadChoice::Caller => engine::Threads::ParentThread,
    };
    // The LLM path every engine shares (its limiter and its day's budget):
    // kept by the reload, which builds another only when `llm` changes.
    let llm = llm_services(cfg, kernel, wiring.wall);
    let ib = engine_ib(cfg, opts.ib.as_ref());
    let sub = subtree_config(
        cfg,
        risk,
        wiring,
        placement,
        (opts.fsync, opts.fill_seed),
        (llm.clone(), ib.clone()),
    );
    let mut routes = Vec::new();
    let mut targets = Vec::new();
    let mut specs = BTreeMap::new();
    let spec = cfg.engines.iter().fold(
        SupervisorSpec::new(paths::ENGINES, cfg.root_supervision()),
        |s, e| {
            let held = Arc::new(AtomicBool::new(stopped.contains(&e.id)));
            let built = one_engine(cfg, e, &sub, kernel, view, &opts.journal, held);
            routes.push(built.route);
            targets.push(built.target);
            let child = built.spec.spec.clone();
            specs.insert(e.id.clone(), built.spec);
            s.child(child)
        },
    );
    Engines {
        spec,
        routes,
        specs,
        targets,
        llm,
    }
}

/// The `engines` supervisor and what the rest of the tree needs of it.
pub(super) struct Engines {
    pub spec: SupervisorSpec,
    /// Where the market sequencer hands each engine its events.
    pub routes: Vec<Route>,
    /// Each engine's child spec and hold flag, for `control`.
    pub specs: BTreeMap<String, EngineSpec>,
    /// Each engine's broker and guard, for the daily reconciliation.
    pub targets: Vec<reconcile::Target>,
    /// The LLM path the engines share.
    pub llm: Option<Arc<LlmServices>>,
}

/// One engine's subtree, as `engines` holds it, and where the sequencer and
/// the reconciliation reach it.
pub(super) struct Built {
    pub spec: EngineSpec,
    pub route: Route,
    pub target: reconcile::Target,
}

/// Engine `e`'s subtree (held while `held`), from the config.
pub(super) fn one_engine(
    cfg: &Config,
    e: &crate::config::Engine,
    sub: &engine::SubtreeConfig,
    kernel: &Kernel,
    view: &Arc<StatusView>,
    journal: &Path,
    held: Arc<AtomicBool>,
) -> Built {
    let ecfg = engine_config(cfg, e, journal, sub.wiring.clock);
    let (subtree, h) = engine::subtree_with_handles(Arc::new(ecfg), sub, kernel, view);
    let child = ChildSpec::supervisor(subtree)
        .restart(Restart::Temporary)
        .held_while(held.clone());
    Built {
        spec: EngineSpec {
            spec: child,
            held,
            engine: h.engine.clone(),
        },
        route: h.route(&e.id, e.symbol()),
        target: reconcile::Target {
            engine: e.id.clone(),
            symbol: e.symbol().to_owned(),
            broker: h.broker.clone(),
            guard: h.guard.clone(),
        },
    }
}

/// The pool the engines' brokers connect through: only with
/// `broker.kind = "ib"` (the pool may be there for IB's bars alone).
pub(super) fn engine_ib(cfg: &Config, pool: Option<&IbPool>) -> Option<IbPool> {
    pool.filter(|_| cfg.broker.kind == BrokerKind::Ib).cloned()
}

/// What every engine subtree shares, placed by `placement`.
pub(super) fn subtree_config(
    cfg: &Config,
    risk: &Handle<PortfolioRisk>,
    wiring: &Wiring,
    placement: engine::Threads,
    (fsync, fill_seed): (commodore_actors::journal::Fsync, u64),
    (llm, ib): (Option<Arc<LlmServices>>, Option<IbPool>),
) -> engine::SubtreeConfig {
    let b = &cfg.broker;
    let sn = &cfg.sentinels;
    engine::SubtreeConfig {
        supervision: cfg.engine_supervision(),
        sentinels: engine::sentinel::SentinelConfig {
            move_pct: sn.move_pct / 100.0,
            escalate_pct: sn.escalate_pct / 100.0,
            window_bars: (sn.window.as_secs() / 60) as usize,
            keywords: sn.keywords.iter().map(|k| k.to_lowercase()).collect(),
            close_warning_min: (sn.close_warning.as_secs() / 60) as u16,
            max_gap: cfg.staleness.max_gap,
        },
        risk: risk.clone(),
        // The LLM's daily budget is real money per real day: the wall clock.
        llm,
        placement,
        fills: engine::paper::FillModel {
            slippage_ticks: i64::from(b.slippage_ticks),
            random_ticks: i64::from(b.slippage_random_ticks),
            spread_ticks: i64::from(b.spread_ticks),
            latency_ms: b.latency.as_millis().min(u128::from(u64::MAX)) as u64,
            participation: b.participation,
            seed: fill_seed,
        },
        commission: cfg.broker.commission,
        broker_timeout: cfg.broker.timeout,
        broker: None,
        ib,
        fsync,
        wiring: wiring.clone(),
    }
}

/// The shared LLM path when `llm.enabled` (the config checked the key's variable).
pub(super) fn llm_services(
    cfg: &Config,
    kernel: &Kernel,
    clock: Clock,
) -> Option<Arc<LlmServices>> {
    let l = &cfg.llm;
    if !l.enabled {
        return None;
    }
    let client = LlmClient::new(LlmConfig {
        endpoint: l.endpoint.clone(),
        model: l.model.clone(),
        api_key: (!l.api_key_env.is_empty())
            .then(|| std::env::var(&l.api_key_env).ok())
            .flatten(),
        timeout: l.timeout,
        max_response_bytes: l.max_response_bytes,
    });
    match client {
        Ok(c) => Some(LlmServices::new(
            c,
            l.max_concurrency,
            BudgetGuard::new(
                l.daily_budget_usd,
                Prices {
                    input_per_1k: l.price_input_per_1k,
                    output_per_1k: l.price_output_per_1k,
                },
            ),
            kernel.clone(),
            clock,
        )),
        Err(e) => {
            tracing::error!("{e}; the rules analyzer reads headlines instead");
            None
        }
    }
}

/// One engine's settings, from the config; it journals into `journal`.
fn engine_config(
    cfg: &Config,
    e: &crate::config::Engine,
    journal: &Path,
    clock: Clock,
) -> EngineConfig {
    let spec = contract(e.symbol()).expect("the config checked the symbol");
    let strategies = e.strategy_specs();
    // The pipeline runs on the market's clock: a 60 s batch at speed 60 is 1 s.
    let batch_every = clock
        .span(cfg.pipeline.batch_interval)
        .max(std::time::Duration::from_millis(1));
    EngineConfig {
        id: e.id.clone(),
        spec,
        router: RouterConfig {
            immediate_threshold: cfg.pipeline.immediate_threshold,
            min_consensus: cfg.pipeline.min_consensus,
            max_buffer: cfg.pipeline.max_buffer,
        },
        batch_every,
        allocation: Allocation::of(e.capital, &strategies),
        strategies,
        limits: Limits {
            max_position: e.max_position.into(),
            warning_factor: cfg.risk.warning_size_factor,
        },
        guard: cfg.risk.guard_limits(),
        portfolio: cfg.risk.portfolio_limits(),
        breaker_threshold: cfg.breaker.failure_threshold,
        breaker_cooldown: cfg.breaker.cooldown,
        tiers: cfg.mode.tiers().expect("checked with the config"),
        roll_days: cfg.roll.days_before_first_notice,
        journal: journal.to_owned(),
        feeds: e
            .feeds
            .iter()
            .map(|f| engine::poller::FeedConfig {
                kind: match f.kind {
                    crate::config::FeedKind::Json => engine::poller::FeedKind::Json,
                    crate::config::FeedKind::Rss | crate::config::FeedKind::Atom => {
                        engine::poller::FeedKind::Rss
                    }
                },
                url: f.url.clone(),
                every: f.every,
                timeout: f.timeout,
                max_bytes: f.max_bytes,
                attempts: f.attempts,
                retry_backoff: std::time::Duration::from_millis(500),
            })
            .collect(),
    }
}
