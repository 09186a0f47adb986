//! `commodore run`: rebuild the state from the journal, build the tree from the
//! config, serve the control API, run until a signal, `POST /v1/shutdown` or the
//! root giving up, and turn the ending into the process exit status.
//!
//! Crash-only: a first start, a restart after a clean stop and a restart after
//! `kill -9` are one code path; everything that matters is read back from the
//! journal (event sequence, risk level, mode, paused engines).

use crate::api::{self, ApiState};
use crate::config::{BrokerKind, Config};
use crate::token;
use commodore_actors::control::{self, Control, Lifecycle};
use commodore_actors::engine::{
    self,
    pipeline::{Allocation, Limits, RouterConfig},
    EngineConfig,
};
use commodore_actors::journal::{Journal, JournalError, Store};
use commodore_actors::kernel::{
    ArbiterPool, ChildSpec, Handle, Kernel, Restart, Root, RootExit, SupervisorSpec,
};
use commodore_actors::mode::{self, ModeActor};
use commodore_actors::model::now_ms;
use commodore_actors::model::{contract, Tiers};
use commodore_actors::notifier::{self, Notifier};
use commodore_actors::risk::{self, PortfolioRisk};
use commodore_actors::shared::llm::{LlmClient, LlmConfig};
use commodore_actors::shared::{BudgetGuard, Prices, SharedServices};
use commodore_actors::view::StatusView;
use commodore_actors::{clock::Clock, wiring::Wiring};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The handles of the master's workers that the API talks to.
pub struct Handles {
    pub journal: Handle<Journal>,
    pub risk: Handle<PortfolioRisk>,
    pub mode: Handle<ModeActor>,
    pub control: Handle<Control>,
    /// The clock, the account and the level and mode watches.
    pub wiring: commodore_actors::wiring::Wiring,
}

/// The supervision tree of ARCHITECTURE.md: `master` with, in start order,
/// `journal` (so it stops last), `notifier`, `portfolio_risk`, `mode`, `shared`,
/// `control` and `engines` (one subtree per `[[engines]]`, each on its own
/// arbiter).
///
/// `data`: the bundled data on pooled arbiters (`run`), or recorded data with
/// every engine on the caller's thread (`replay`, whose virtual clock is that
/// thread's paused tokio clock).
pub fn tree(
    cfg: &Config,
    kernel: &Kernel,
    view: &Arc<StatusView>,
    lifecycle: &Arc<Lifecycle>,
    h: &Handles,
    webhooks: notifier::WebhookConfig,
    data: engine::DataSource,
) -> SupervisorSpec {
    let journal = journal_path(cfg);
    // An engine that gives up (its own restart intensity exceeded) stays failed:
    // `temporary` under `engines`, so the other engines keep trading, the failure
    // is notified, /readyz says which engine, and resuming it is refused (409).
    let sn = &cfg.sentinels;
    let sub = engine::SubtreeConfig {
        supervision: cfg.engine_supervision(),
        sentinels: engine::sentinel::SentinelConfig {
            move_pct: sn.move_pct / 100.0,
            escalate_pct: sn.escalate_pct / 100.0,
            window_bars: (sn.window.as_secs() / 60) as usize,
            keywords: sn.keywords.iter().map(|k| k.to_lowercase()).collect(),
            close_warning_min: (sn.close_warning.as_secs() / 60) as u16,
        },
        risk: h.risk.clone(),
        llm: llm_services(cfg, kernel, h.wiring.clock),
        placement: match data {
            engine::DataSource::Bundled => {
                engine::Threads::Pool(ArbiterPool::new(match cfg.engine_supervision.threads {
                    0 => cfg.engines.len().clamp(1, 16),
                    n => n,
                }))
            }
            engine::DataSource::Recorded { .. } => engine::Threads::ParentThread,
        },
        speed: cfg.feed.speed,
        slippage_ticks: i64::from(cfg.broker.slippage_ticks),
        commission: cfg.broker.commission,
        broker_timeout: cfg.broker.timeout,
        broker: None,
        data,
        wiring: h.wiring.clone(),
    };
    let engines = cfg.engines.iter().fold(
        SupervisorSpec::new("engines", cfg.root_supervision()),
        |s, e| {
            let subtree = engine::subtree(Arc::new(engine_config(cfg, e)), &sub, kernel, view)
                .expect("every engine's symbol has data (checked by the config, or by replay)");
            s.child(ChildSpec::supervisor(subtree).restart(Restart::Temporary))
        },
    );
    let ids: Vec<String> = cfg.engines.iter().map(|e| e.id.clone()).collect();
    SupervisorSpec::new("master", cfg.root_supervision())
        .child(ChildSpec::worker(
            "journal",
            &h.journal,
            Journal::factory(journal.clone(), kernel.clone()),
        ))
        .child(ChildSpec::worker(
            "notifier",
            &Handle::new(),
            Notifier::factory(kernel.clone(), journal.clone(), webhooks, view.clone()),
        ))
        .child(ChildSpec::worker(
            "portfolio_risk",
            &h.risk,
            PortfolioRisk::factory(
                journal.clone(),
                kernel.clone(),
                view.clone(),
                &h.wiring,
                cfg.risk.portfolio_limits(),
            ),
        ))
        .child(ChildSpec::worker(
            "mode",
            &h.mode,
            ModeActor::factory(
                journal.clone(),
                kernel.clone(),
                view.clone(),
                &h.wiring,
                cfg.mode.tiers().expect("checked with the config"),
                cfg.mode.check_every,
            ),
        ))
        // Budget guard, LLM limiter, macro cache and equity arrive with the
        // issues that use them; the supervisor is their place in the tree.
        .child(ChildSpec::supervisor(SupervisorSpec::new(
            "shared",
            cfg.root_supervision(),
        )))
        .child(ChildSpec::worker(
            "control",
            &h.control,
            Control::factory(
                journal,
                kernel.clone(),
                lifecycle.clone(),
                ids,
                h.wiring.clock,
            ),
        ))
        .child(ChildSpec::supervisor(engines))
}

/// The shared LLM path when `llm.enabled` (the config checked the key's variable).
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
    Ok(notifier::WebhookConfig {
        targets,
        max_outbox: cfg.notifier.max_outbox,
        backoff_min: cfg.notifier.backoff_min,
        backoff_max: cfg.notifier.backoff_max,
        milestones: cfg.notifier.milestones.clone(),
    })
}

fn llm_services(cfg: &Config, kernel: &Kernel, clock: Clock) -> Option<Arc<SharedServices>> {
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
        Ok(c) => Some(SharedServices::new(
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

/// One engine's settings, from the config.
pub fn engine_config(cfg: &Config, e: &crate::config::Engine) -> EngineConfig {
    let spec = contract(e.symbol()).expect("the config checked the symbol");
    // The pipeline runs on the market's clock: a 60 s batch at speed 60 is 1 s.
    let batch_every = cfg
        .pipeline
        .batch_interval
        .div_f64(cfg.feed.speed)
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
        allocation: Allocation {
            capital: e.capital,
            weights: e
                .strategies
                .iter()
                .map(|(k, w)| {
                    (
                        k.clone(),
                        rust_decimal::Decimal::from_f64_retain(*w)
                            .unwrap_or_default()
                            .round_dp(6),
                    )
                })
                .collect(),
        },
        limits: Limits {
            max_position: e.max_position.into(),
            warning_factor: rust_decimal::Decimal::from_f64_retain(cfg.risk.warning_size_factor)
                .unwrap_or_default()
                .round_dp(6),
        },
        guard: cfg.risk.guard_limits(),
        portfolio: cfg.risk.portfolio_limits(),
        breaker_threshold: cfg.breaker.failure_threshold,
        breaker_cooldown: cfg.breaker.cooldown,
        tiers: cfg.mode.tiers().expect("checked with the config"),
        journal: journal_path(cfg),
        feeds: e
            .feeds
            .iter()
            .map(|f| engine::poller::FeedConfig {
                kind: match f.kind {
                    crate::config::FeedKind::Json => engine::poller::FeedKind::Json,
                    crate::config::FeedKind::Rss => engine::poller::FeedKind::Rss,
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

pub fn journal_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("journal.sqlite")
}

/// What the last run left in the journal, read and checked before anything
/// starts (the actors read it again themselves when they start).
struct Recovered {
    last_seq: u64,
    risk: commodore_actors::model::RiskState,
    mode: commodore_actors::model::ModeState,
    paused: Vec<String>,
}

fn recover(path: &Path, tiers: &Tiers) -> Result<Recovered, JournalError> {
    let store = Store::open(path)?;
    Ok(Recovered {
        last_seq: store.last_seq()?,
        risk: risk::load(&store, now_ms())?,
        mode: mode::load(&store, tiers, now_ms())?,
        paused: control::load_paused(&store)?.into_iter().collect(),
    })
}

fn faults_policy(cfg: &Config) -> Result<(), String> {
    if cfg.broker.kind != BrokerKind::Paper {
        return Err("fault injection is refused unless the broker is the paper broker".into());
    }
    if !cfg.faults.enabled {
        return Err(
            "fault injection is disabled: set faults.enabled = true (paper broker only)".into(),
        );
    }
    Ok(())
}

/// Runs the daemon; returns the process exit status (0 clean, 1 the root gave up
/// or the journal is unusable, 2 the control token or address is unusable).
pub async fn run(cfg: Config) -> i32 {
    let t0 = Instant::now();
    // Listen for SIGINT/SIGTERM before anything starts: a signal that arrives
    // while the tree starts is kept, and handled once it is up (an ordered stop,
    // never the default "die at once").
    let signals = match Signals::listen() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen for SIGINT/SIGTERM: {e}");
            return 1;
        }
    };
    let path = journal_path(&cfg);
    let tiers = cfg.mode.tiers().expect("checked with the config");
    let rec = match recover(&path, &tiers) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return 1;
        }
    };
    let token = match token::for_daemon(&cfg) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: control.token_file: {e}");
            return 2;
        }
    };
    let webhooks = match webhook_config(&cfg) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let listener = match std::net::TcpListener::bind(cfg.control.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: control.listen: cannot listen on {}: {e}; is another commodore running? choose another address",
                cfg.control.listen
            );
            return 2;
        }
    };
    tracing::info!(
        last_seq = rec.last_seq,
        risk = %rec.risk.level,
        mode = %rec.mode.encode(),
        paused = ?rec.paused,
        "recovered from the journal"
    );

    let kernel = Kernel::new(rec.last_seq + 1);
    let logged = Arc::new(AtomicU64::new(0));
    let mut events = kernel.events().subscribe(4096);
    let logged2 = logged.clone();
    actix_rt::spawn(async move {
        while let Some(e) = events.rx.recv().await {
            log_event(&e);
            logged2.store(e.seq, Ordering::Relaxed);
        }
    });

    let wiring = Wiring::new(Clock::new(), &rec.risk, &rec.mode);
    let view = Arc::new(StatusView::new(rec.risk, rec.mode));
    let lifecycle = Arc::new(Lifecycle::new(now_ms()));
    let handles = Handles {
        journal: Handle::new(),
        risk: Handle::new(),
        mode: Handle::new(),
        control: Handle::new(),
        wiring,
    };
    let mut root = Root::start(
        tree(
            &cfg,
            &kernel,
            &view,
            &lifecycle,
            &handles,
            webhooks,
            engine::DataSource::Bundled,
        ),
        &kernel,
    );
    lifecycle.set_root(root.shutdown_handle());

    let state_view = view.clone();
    let state = Arc::new(ApiState {
        kernel: kernel.clone(),
        view,
        lifecycle: lifecycle.clone(),
        token,
        risk: handles.risk,
        mode: handles.mode,
        control: handles.control,
        journal_worker: handles.journal,
        engines: cfg.engines.iter().map(|e| e.id.clone()).collect(),
        tiers,
        faults: faults_policy(&cfg),
        journal_path: path.clone(),
        journal: Mutex::new(None),
    });
    let token_source = state.token.source.to_string();
    let server = match api::serve(state, listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: control.listen: cannot serve on {}: {e}",
                cfg.control.listen
            );
            lifecycle.begin_shutdown();
            root.wait().await;
            final_flush(&path, &kernel);
            return 2;
        }
    };
    let server_handle = server.handle();
    actix_rt::spawn(server);

    let ids: Vec<&str> = cfg.engines.iter().map(|e| e.id.as_str()).collect();
    tracing::info!(
        engines = ?ids,
        data_dir = %cfg.data_dir.display(),
        listen = %cfg.control.listen,
        token = %token_source,
        start_ms = t0.elapsed().as_secs_f64() * 1000.0,
        "commodore started; Ctrl-C or POST /v1/shutdown stops it in order"
    );

    if !cfg.log.status_every.is_zero() {
        let (every, view, kernel, ids) = (
            cfg.log.status_every,
            state_view.clone(),
            kernel.clone(),
            cfg.engines.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        );
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                log_status(&view, &kernel, &ids);
            }
        });
    }

    let lc = lifecycle.clone();
    actix_rt::spawn(async move {
        let mut signals = signals;
        loop {
            signals.next().await;
            if lc.begin_shutdown() {
                tracing::info!("signal received: stopping in reverse start order");
            } else {
                tracing::info!("signal received: the shutdown is already under way");
            }
        }
    });

    let exit = root.wait().await;
    // The API answers until the tree is down (readyz says "shutting down"); then
    // it stops taking requests.
    server_handle.stop(true).await;
    // Events published after the logger's last turn.
    for e in kernel
        .events()
        .recent(logged.load(Ordering::Relaxed), usize::MAX)
    {
        log_event(&e);
    }
    final_flush(&path, &kernel);
    match &exit {
        RootExit::Stopped => tracing::info!("stopped cleanly"),
        RootExit::GaveUp(reason) => {
            tracing::error!(%reason, "the root supervisor gave up; exiting with status 1");
        }
    }
    exit.exit_code()
}

/// One line per engine for whoever watches the log: what came in, what it decided,
/// where it stands.
fn log_status(view: &StatusView, kernel: &Kernel, ids: &[String]) {
    let (risk, mode) = (view.risk(), view.mode());
    for id in ids {
        let f = view.engine(id);
        let a = &f.activity;
        let state = kernel
            .registry()
            .state(&control::engine_path(id))
            .map_or("starting".to_owned(), |s| format!("{s:?}").to_lowercase());
        let outcomes: Vec<String> = a.outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let position = f.positions.first().map_or("flat".to_owned(), |p| {
            format!("{:+} @ {}", p.qty, p.avg_price)
        });
        tracing::info!(
            engine = %id,
            state = %state,
            events_in = a.events_in,
            signals = a.signals,
            outcomes = %outcomes.join(" "),
            orders = a.orders,
            fills = a.fills,
            position = %position,
            last = %f.last_price.map_or("-".to_owned(), |p| p.to_string()),
            pnl = %f.realized_pnl.round_dp(2),
            equity = %f.equity.round_dp(2),
            breaker = %f.breaker.state,
            risk = %risk.level,
            mode = %mode.current,
            "status"
        );
    }
}

/// Runs once the tree has ended, however it ended: the journal worker stopped with
/// its subtree, so the last events (the master's own) are written here.
pub fn final_flush(path: &Path, kernel: &Kernel) {
    let flushed = Store::open(path).and_then(|mut s| {
        let last = s.last_seq()?;
        s.append_events(&kernel.events().recent(last, usize::MAX))
    });
    if let Err(e) = flushed {
        tracing::error!("final journal flush failed: {e}");
    }
}

/// Every event goes to the log; the ones the notifier reports loudly are logged
/// there instead of twice.
fn log_event(e: &commodore_actors::kernel::Event) {
    if notifier::notable(e).is_none() {
        tracing::info!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "event");
    } else {
        tracing::debug!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "event");
    }
}

/// SIGINT and SIGTERM, registered when created.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM (including one received before this call).
    async fn next(&mut self) {
        std::future::poll_fn(|cx| {
            if self.int.poll_recv(cx).is_ready() || self.term.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }
}
