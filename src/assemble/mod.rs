//! The master tree built from a config, for `commodore run` and `commodore
//! replay` alike.
//!
//! Invariant: one function, [`assemble`], builds the tree; what `run` and
//! `replay` do differently (the journal, the market data, the engines'
//! threads, the webhooks, the LLM) is an [`Options`] value, never a second copy
//! of the tree. Both start from what their journal holds ([`recover`]):
//! crash-only, a first start, a restart after `kill -9` and a replay's fresh
//! journal are one code path. Neither the HTTP API nor the signals are part of
//! the tree: `run` adds them around it.

mod engines;
mod journal;
mod market;
mod reload;

pub use journal::{
    backup, final_flush, journal_market_ms, journal_path, journal_present, lock_data_dir, mark_run,
    recover, writable_data_dir, Recovered,
};
pub use market::{run_clock, symbols, DataSource};
pub use reload::{ReloadError, Reloader};

use crate::config::{BrokerKind, Config, FeedSource};
use commodore_actors::clock::Clock;
use commodore_actors::control::{ControlActor, EngineBook, Lifecycle};
use commodore_actors::ib::IbPool;
use commodore_actors::journal::{Fsync, Journal};
use commodore_actors::kernel::{ChildSpec, Handle, Kernel, Root, SupervisorSpec};
use commodore_actors::market::Route;
use commodore_actors::mode::ModeActor;
use commodore_actors::model::Tiers;
use commodore_actors::notifier::{self, Notifier};
use commodore_actors::paths;
use commodore_actors::reconcile::{self, ReconcileConfig, Reconciler};
use commodore_actors::risk::{Capitalized, PortfolioRisk};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// What the caller keeps of the tree it assembled: the handles of the master's
/// workers that the API talks to, the status view and the lifecycle that stops
/// the tree.
pub struct Tree {
    pub journal: Handle<Journal>,
    pub risk: Handle<PortfolioRisk>,
    pub mode: Handle<ModeActor>,
    pub control: Handle<ControlActor>,
    pub view: Arc<StatusView>,
    pub lifecycle: Arc<Lifecycle>,
    /// What the tree's actors need from each other: the one clock, the
    /// account, the level and mode watches.
    pub wiring: Wiring,
    /// How far the market sequencer has played its feed.
    pub market: Arc<commodore_actors::market::Progress>,
    /// What a live reload changes (each actor reads its part from here when
    /// it is built, or as it runs).
    pub live: Arc<Live>,
}

/// The configuration the tree's actors read live: each cell's one writer is
/// the reload ([`Reloader`]); the actors and their factories read it, so a
/// restarted actor is built on the configuration in force.
pub struct Live {
    /// The engines: ids in config order, child specs and hold flags (`control`).
    pub engines: Arc<RwLock<EngineBook>>,
    /// Where the sequencer hands each engine its events.
    pub routes: watch::Sender<Vec<Route>>,
    /// What the daily reconciliation asks.
    pub targets: watch::Sender<Vec<reconcile::Target>>,
    pub reconcile: watch::Sender<ReconcileConfig>,
    pub webhooks: watch::Sender<notifier::WebhookConfig>,
    /// The mode's tiers and how often it looks at the equity.
    pub mode: watch::Sender<(Tiers, Duration)>,
    /// The portfolio limits and the engines' configured capital.
    pub portfolio: watch::Sender<Capitalized>,
    /// The LLM path the engines share (its limiter, its day's budget): a
    /// rebuilt engine gets this one unless `llm` itself changed.
    pub llm: RwLock<Option<Arc<commodore_actors::llm::LlmServices>>>,
    /// The IB connection pool (`broker.kind = "ib"` in `run`): an engine
    /// added by a reload connects through it too.
    pub ib: RwLock<Option<commodore_actors::ib::IbPool>>,
}

impl Live {
    fn new(cfg: &Config, webhooks: notifier::WebhookConfig) -> Live {
        Live {
            engines: Default::default(),
            routes: watch::Sender::new(Vec::new()),
            targets: watch::Sender::new(Vec::new()),
            reconcile: watch::Sender::new(reconcile_config(cfg)),
            webhooks: watch::Sender::new(webhooks),
            mode: watch::Sender::new(mode_settings(cfg)),
            portfolio: watch::Sender::new(capitalized(cfg)),
            llm: RwLock::new(None),
            ib: RwLock::new(None),
        }
    }
}

fn reconcile_config(cfg: &Config) -> ReconcileConfig {
    ReconcileConfig {
        after_close: cfg.reconcile.after_close,
        escalate: cfg.reconcile.escalation(),
        cash_tolerance: cfg.reconcile.cash_tolerance,
        broker_timeout: cfg.broker.timeout,
        capital: cfg.engines.iter().map(|e| e.capital).sum(),
        retention: cfg.journal.retention,
    }
}

fn mode_settings(cfg: &Config) -> (Tiers, Duration) {
    (
        cfg.mode.tiers().expect("checked with the config"),
        cfg.mode.check_every,
    )
}

fn capitalized(cfg: &Config) -> Capitalized {
    Capitalized {
        limits: cfg.risk.portfolio_limits(),
        capital: cfg.engines.iter().map(|e| e.capital).sum(),
    }
}

/// Where the engine subtrees run, as chosen for `run` or `replay`;
/// `engines.rs` turns it into the subtrees' `engine::Threads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadChoice {
    /// A pool of `engine_supervision.threads` threads (0: one per engine, 1 to
    /// 16).
    Pool,
    /// Every engine on the caller's thread: a replay's virtual clock is that
    /// thread's paused tokio clock.
    Caller,
}

/// What differs between `run` and `replay` when the tree is built; everything
/// else comes from the config.
pub struct Options {
    /// The journal the tree writes (and the engines' order logs beside it).
    pub journal: PathBuf,
    /// The market data: the bundled data in a loop, or recorded data once.
    pub data: DataSource,
    /// Where the engine subtrees run.
    pub threads: ThreadChoice,
    /// The notifier's webhooks (a replay has no targets).
    pub webhooks: notifier::WebhookConfig,
    /// Whether the engines' orders and fills wait for the disk: on for `run`
    /// (everything recovers from the journal), off for `replay` (its journal
    /// is read once for the report, never recovered from).
    pub fsync: Fsync,
    /// The one clock every part of the tree reads time from: made by the
    /// caller, which reads it too (start times, a replay's stamp).
    pub clock: Clock,
    /// Whether the journal archives its old events (`journal.retention`):
    /// `run`'s does; a replay's keeps all, for its report.
    pub retention: bool,
    /// Draws the paper broker's random slippage: a replay's `--seed`, 0 in
    /// `run`.
    pub fill_seed: u64,
    /// The IB connection pool (`run` with `broker.kind = "ib"` or
    /// `feed.source = "ib"`). A replay has none: it fills on the paper
    /// broker whatever the kind, and never sends an order to IB.
    pub ib: Option<IbPool>,
}

impl Options {
    /// `commodore run`: the journal under `data_dir`, the bundled data, the
    /// engines on a pool, the config's webhooks; `Err` when a webhook's URL
    /// variable is not set.
    ///
    /// With IB in use (`broker.kind` or `feed.source`), the pool starts
    /// here; with `feed.source = "ib"` the market data is IB's bars (on
    /// the wall clock: see [`run_clock`]).
    pub fn run(cfg: &Config, clock: Clock) -> Result<Options, String> {
        let ib = ib_pool(cfg, clock);
        let data = match (&ib, cfg.feed.source) {
            (Some(pool), FeedSource::Ib) => DataSource::Live(Box::new(
                pool.bars(symbols(cfg), cfg.roll.days_before_first_notice),
            )),
            _ => DataSource::Bundled,
        };
        Ok(Options {
            journal: journal_path(&cfg.data_dir),
            data,
            threads: ThreadChoice::Pool,
            webhooks: webhook_config(cfg)?,
            fsync: Fsync::On,
            clock,
            retention: true,
            fill_seed: 0,
            ib,
        })
    }

    /// `commodore replay`: a journal of its own in `data_dir` (the live one is
    /// never touched), recorded data, every engine on the caller's thread, no
    /// webhooks (a backtest must not page a desk); `Err` when the config needs
    /// what a virtual clock cannot give: an LLM call or an HTTP feed.
    pub fn replay(
        cfg: &Config,
        data_dir: &Path,
        data: DataSource,
        clock: Clock,
    ) -> Result<Options, String> {
        if cfg.llm.enabled {
            return Err("llm.enabled: a replay runs on a virtual clock, where an LLM call cannot; set llm.enabled = false (the rules analyzer decides)".into());
        }
        if cfg.engines.iter().any(|e| !e.feeds.is_empty()) {
            return Err("engines.feeds: a replay reads recorded data only; remove the HTTP feeds (put recorded headlines in --news)".into());
        }
        if cfg.broker.kind == BrokerKind::Ib {
            tracing::info!("broker.kind = \"ib\": a replay never sends orders to IB; it fills on the paper broker ([broker]'s paper keys)");
        }
        Ok(Options {
            journal: journal_path(data_dir),
            data,
            threads: ThreadChoice::Caller,
            webhooks: webhooks(cfg, Vec::new()),
            fsync: Fsync::Off,
            clock,
            retention: false,
            fill_seed: 0,
            ib: None,
        })
    }
}

/// The IB connection pool when `run` talks to IB (its orders, its bars);
/// its connections are made as the engines' brokers and the feed start. A
/// pool that cannot start its thread is a broken one: every order is
/// refused as unavailable, and no bars come (the engines go stale).
fn ib_pool(cfg: &Config, clock: Clock) -> Option<IbPool> {
    if cfg.broker.kind != BrokerKind::Ib && cfg.feed.source != FeedSource::Ib {
        return None;
    }
    let order: Vec<String> = cfg.engines.iter().map(|e| e.id.clone()).collect();
    match IbPool::start(cfg.broker.ib.settings(), clock, order) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!("the IB connection pool could not start its thread: {e}; every order is refused as unavailable");
            Some(IbPool::broken(format!("the IB pool could not start: {e}")))
        }
    }
}

/// The supervision tree of ARCHITECTURE.md: `master` with, in start order,
/// `journal` (so it stops last), `notifier`, `portfolio_risk`, `mode`,
/// `control`, `engines` (one subtree per `[[engines]]`), `reconcile` (the
/// daily reconciliation, which asks the engines' brokers) and `market` (the
/// sequencer that plays the market to the engines on the one clock, so it
/// stops first), from the state recovered from the journal.
pub fn assemble(
    cfg: &Config,
    kernel: &Kernel,
    rec: Recovered,
    opts: Options,
) -> (Tree, SupervisorSpec) {
    let clock = opts.clock;
    let live = Arc::new(Live::new(cfg, opts.webhooks.clone()));
    if !opts.retention {
        live.reconcile.send_modify(|r| r.retention = Duration::ZERO);
    }
    let tree = Tree {
        live,
        wiring: Wiring::new(clock, &rec.risk, &rec.mode).with_crash(
            commodore_actors::kernel::CrashPoint::parse(&cfg.faults.crash_at)
                .expect("checked with the config"),
        ),
        view: Arc::new(StatusView::new(rec.risk, rec.mode)),
        lifecycle: Arc::new(Lifecycle::new(clock.now_ms())),
        journal: Handle::new(),
        risk: Handle::new(),
        mode: Handle::new(),
        control: Handle::new(),
        market: Default::default(),
    };
    let spec = master(cfg, kernel, &tree, opts, &rec.stopped);
    (tree, spec)
}

/// [`assemble`], then the tree started under a root that the tree's lifecycle
/// stops (a signal, `POST /v1/shutdown`, the end of a replay).
pub fn start(cfg: &Config, kernel: &Kernel, rec: Recovered, opts: Options) -> (Tree, Root) {
    let (tree, spec) = assemble(cfg, kernel, rec, opts);
    let root = Root::start(spec, kernel);
    tree.lifecycle.set_root(root.shutdown_handle());
    (tree, root)
}

fn master(
    cfg: &Config,
    kernel: &Kernel,
    tree: &Tree,
    opts: Options,
    stopped: &[String],
) -> SupervisorSpec {
    let journal = opts.journal.clone();
    let view = &tree.view;
    let engines = engines::supervisor(cfg, kernel, view, &tree.risk, &tree.wiring, &opts, stopped);
    let live = &tree.live;
    live.routes.send_replace(engines.routes);
    live.targets.send_replace(engines.targets);
    *live.llm.write().unwrap_or_else(|e| e.into_inner()) = engines.llm;
    *live.ib.write().unwrap_or_else(|e| e.into_inner()) = opts.ib.clone();
    *live.engines.write().unwrap_or_else(|e| e.into_inner()) = EngineBook {
        ids: cfg.engines.iter().map(|e| e.id.clone()).collect(),
        specs: engines.specs,
    };
    let clock = tree.wiring.clock;
    let market = market::sequencer(
        cfg,
        kernel,
        clock,
        opts.data,
        live.routes.subscribe(),
        tree.market.clone(),
    );
    let reconcile = Reconciler::factory(
        journal.clone(),
        live.targets.subscribe(),
        live.reconcile.subscribe(),
        kernel.clone(),
        (tree.risk.clone(), tree.journal.clone()),
        view.clone(),
        &tree.wiring,
    );
    SupervisorSpec::new(paths::MASTER, cfg.root_supervision())
        .child(ChildSpec::worker(
            paths::JOURNAL,
            &tree.journal,
            Journal::factory(journal.clone(), kernel.clone()),
        ))
        .child(ChildSpec::worker(
            paths::NOTIFIER,
            &Handle::new(),
            Notifier::factory(
                kernel.clone(),
                journal.clone(),
                live.webhooks.subscribe(),
                view.clone(),
                &tree.wiring,
            ),
        ))
        .child(ChildSpec::worker(
            paths::PORTFOLIO_RISK,
            &tree.risk,
            PortfolioRisk::factory(
                journal.clone(),
                kernel.clone(),
                view.clone(),
                &tree.wiring,
                live.portfolio.subscribe(),
            ),
        ))
        .child(ChildSpec::worker(
            paths::MODE,
            &tree.mode,
            ModeActor::factory(
                journal.clone(),
                kernel.clone(),
                view.clone(),
                &tree.wiring,
                live.mode.subscribe(),
            ),
        ))
        .child(ChildSpec::worker(
            paths::CONTROL,
            &tree.control,
            ControlActor::factory(
                journal,
                kernel.clone(),
                tree.lifecycle.clone(),
                live.engines.clone(),
                tree.risk.clone(),
                tree.wiring.clock,
            ),
        ))
        .child(ChildSpec::supervisor(engines.spec))
        .child(ChildSpec::worker(
            paths::RECONCILE,
            &Handle::new(),
            reconcile,
        ))
        .child(market)
}

/// The webhooks with their URLs (from `url` or the variable `url_env` names):
/// a variable that is not set is a start error, said with the key, never the
/// URL.
pub fn webhook_config(cfg: &Config) -> Result<notifier::WebhookConfig, String> {
    use commodore_actors::notifier::webhook::{Target, WebhookKind};
    let mut targets = Vec::new();
    for (i, w) in cfg.notifier.webhooks.iter().enumerate() {
        let name = w.name(i);
        let url = w
            .url()
            .map_err(|e| format!("notifier.webhooks.url_env ({name}): {e}"))?;
        targets.push(Target {
            name,
            kind: match w.kind {
                crate::config::WebhookKind::Discord => WebhookKind::Discord,
                crate::config::WebhookKind::Slack => WebhookKind::Slack,
                crate::config::WebhookKind::Json => WebhookKind::Json,
            },
            url,
            events: w.events.clone(),
            rate_per_min: w.rate_per_min,
            timeout: w.timeout,
        });
    }
    Ok(webhooks(cfg, targets))
}

/// The notifier's settings with these targets.
fn webhooks(cfg: &Config, targets: Vec<notifier::webhook::Target>) -> notifier::WebhookConfig {
    notifier::WebhookConfig {
        targets,
        max_outbox: cfg.notifier.max_outbox,
        backoff_min: cfg.notifier.backoff_min,
        backoff_max: cfg.notifier.backoff_max,
        milestones: cfg.notifier.milestones.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Config {
        Config::load(&[]).expect("the embedded defaults load")
    }

    #[test]
    fn run_and_replay_differ_in_their_options_only() {
        let mut cfg = defaults();
        cfg.notifier.webhooks.push(
            toml::from_str("kind = \"json\"\nurl = \"https://example.invalid/hook\"").unwrap(),
        );
        let run = Options::run(&cfg, Clock::wall()).unwrap();
        assert_eq!(run.journal, cfg.data_dir.join("journal.sqlite"));
        assert!(matches!(run.data, DataSource::Bundled));
        assert_eq!(run.threads, ThreadChoice::Pool);
        assert_eq!(run.webhooks.targets.len(), 1);
        assert_eq!(run.fsync, Fsync::On, "run recovers from its journal");
        assert!(run.retention, "run archives its old events");

        let dir = Path::new("replay-dir");
        let replay = Options::replay(&cfg, dir, DataSource::Bundled, Clock::wall()).unwrap();
        assert_eq!(replay.journal, dir.join("journal.sqlite"));
        assert_eq!(replay.threads, ThreadChoice::Caller);
        assert_eq!(
            replay.fsync,
            Fsync::Off,
            "nothing recovers from a replay's journal"
        );
        assert!(!replay.retention, "a replay's report reads every event");
        // No webhook is called from a replay; the outbox bounds stay the config's.
        assert!(replay.webhooks.targets.is_empty());
        assert_eq!(replay.webhooks.max_outbox, run.webhooks.max_outbox);
    }

    #[test]
    fn a_replay_refuses_an_llm_and_http_feeds() {
        let mut cfg = defaults();
        cfg.llm.enabled = true;
        let e = Options::replay(&cfg, Path::new("d"), DataSource::Bundled, Clock::wall())
            .err()
            .unwrap();
        assert!(
            e.starts_with("llm.enabled: a replay runs on a virtual clock"),
            "{e}"
        );

        let mut cfg = defaults();
        cfg.engines[0]
            .feeds
            .push(toml::from_str("kind = \"rss\"\nurl = \"https://example.invalid/rss\"").unwrap());
        let e = Options::replay(&cfg, Path::new("d"), DataSource::Bundled, Clock::wall())
            .err()
            .unwrap();
        assert!(
            e.starts_with("engines.feeds: a replay reads recorded data only"),
            "{e}"
        );
        assert!(Options::run(&cfg, Clock::wall()).is_ok());
    }

    #[test]
    fn a_webhook_without_its_url_variable_is_a_start_error_naming_the_key() {
        let mut cfg = defaults();
        cfg.notifier.webhooks.push(
            toml::from_str("kind = \"slack\"\nurl_env = \"COMMODORE_TEST_UNSET_WEBHOOK_URL\"")
                .unwrap(),
        );
        let e = Options::run(&cfg, Clock::wall()).err().unwrap();
        assert!(e.starts_with("notifier.webhooks.url_env (slack1): "), "{e}");
    }
}
