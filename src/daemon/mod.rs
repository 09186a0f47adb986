//! `commodore run`: rebuild the state from the journal, build the tree from the
//! config, serve the control API, run until a signal, `POST /v1/shutdown` or the
//! root giving up, and turn the ending into the process exit status.
//!
//! Crash-only: a first start, a restart after a clean stop and a restart after
//! `kill -9` are one code path; everything that matters is read back from the
//! journal (event sequence, risk level, mode, paused engines).
//!
//! Invariant: nothing starts before every start error (a data dir that cannot
//! be written, the journal, the token, the webhooks, the address) is known; once the tree is up, every ending
//! goes through the ordered stop and the final journal flush.

mod logging;
mod signals;
mod systemd;

use crate::api::{self, ApiState};
use crate::assemble::{self, Options, Recovered, Tree};
use crate::config::{BrokerKind, Config};
use crate::token;
use commodore_actors::clock::Clock;
use commodore_actors::kernel::{Kernel, RootExit};
use commodore_actors::model::Tiers;
use logging::EventLog;
use signals::Signals;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Everything checked before anything starts.
struct Checked {
    /// The market clock, resumed from the journal's last market time.
    clock: Clock,
    signals: Signals,
    rec: Recovered,
    token: token::Token,
    options: Options,
    listener: TcpListener,
    /// The data dir's lock, held until the process ends.
    lock: std::fs::File,
}

/// The start checks in order; `Err` is the exit status, the error printed.
fn check(cfg: &Config, tiers: &Tiers, fresh: bool) -> Result<Checked, i32> {
    // Listen for SIGINT/SIGTERM before anything starts: a signal that arrives
    // while the tree starts is kept, and handled once it is up (an ordered stop,
    // never the default "die at once").
    let signals = Signals::listen().map_err(|e| {
        eprintln!("error: cannot listen for SIGINT/SIGTERM: {e}");
        1
    })?;
    // A data dir this process cannot write is one refusal, before any file
    // in it is opened (not every actor failing on its own once started).
    assemble::writable_data_dir(&cfg.data_dir).map_err(|e| {
        eprintln!("error: data_dir: {e}");
        2
    })?;
    // One daemon per data dir: a second would interleave two journals.
    let lock = assemble::lock_data_dir(&cfg.data_dir).map_err(|e| {
        eprintln!("error: data_dir: {e}");
        2
    })?;
    let journal = assemble::journal_path(&cfg.data_dir);
    // A previous run's data dir without its journal is never a silent
    // fresh start; a journal SQLite finds damaged is never started on.
    assemble::journal_present(&cfg.data_dir, &journal, fresh).map_err(|e| {
        tracing::error!("{e}");
        eprintln!("error: {e}");
        1
    })?;
    let unusable = |e: commodore_actors::journal::JournalError| {
        tracing::error!("{e}");
        eprintln!("error: {e}");
        1
    };
    // The one market clock, from where the journal's market time stopped.
    let journal_ms = assemble::journal_market_ms(&journal).map_err(unusable)?;
    let clock = assemble::run_clock(cfg, journal_ms);
    let rec = assemble::recover(&journal, tiers, clock.now_ms()).map_err(unusable)?;
    // The journal holds positions and the token's directory: the
    // operator's alone.
    private(&cfg.data_dir, 0o700)
        .and_then(|()| private(&journal, 0o600))
        .and_then(|()| assemble::mark_run(&cfg.data_dir))
        .map_err(|e| {
            eprintln!("error: data_dir: {e}");
            2
        })?;
    let token = token::for_daemon(cfg).map_err(|e| {
        eprintln!("error: control.token_file: {e}");
        2
    })?;
    let options = Options::run(cfg, clock).map_err(|e| {
        eprintln!("error: {e}");
        2
    })?;
    let listener = TcpListener::bind(cfg.control.listen).map_err(|e| {
        eprintln!(
            "error: control.listen: cannot listen on {}: {e}; is another commodore running? choose another address",
            cfg.control.listen
        );
        2
    })?;
    Ok(Checked {
        clock,
        signals,
        rec,
        token,
        options,
        listener,
        lock,
    })
}

/// `path` readable and writable by its owner only (`mode`).
fn private(path: &std::path::Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        format!(
            "cannot make {} private (mode {mode:o}): {e}; run as its owner, or fix its permissions",
            path.display()
        )
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

/// What the API's handlers use: the tree's handles and the journal to read.
fn api_state(
    cfg: &Config,
    kernel: &Kernel,
    tree: &Tree,
    token: token::Token,
    journal_path: PathBuf,
    reloader: Arc<assemble::Reloader>,
    ids: Arc<std::sync::RwLock<Vec<String>>>,
) -> ApiState {
    ApiState {
        kernel: kernel.clone(),
        view: tree.view.clone(),
        lifecycle: tree.lifecycle.clone(),
        wall: tree.wiring.wall,
        // Made at assembly, just before: the daemon's start on the wall.
        started_wall_ms: tree.wiring.wall.now_ms(),
        market: tree.wiring.clock,
        token,
        risk: tree.risk.clone(),
        mode: tree.mode.clone(),
        control: tree.control.clone(),
        journal_worker: tree.journal.clone(),
        engines: ids,
        live: tree.live.clone(),
        reloader,
        faults: faults_policy(cfg),
        journal_path,
        journal: Mutex::new(None),
        streams: api::Streams::default(),
        history: api::History::default(),
    }
}

/// Runs the daemon; returns the process exit status (0 clean, 1 the root gave up
/// or the journal is unusable, 2 the data dir, the control token or the address
/// is unusable).
pub async fn run(cfg: Config, files: Vec<PathBuf>, fresh: bool) -> i32 {
    // How long the start takes, on the wall clock; the tree and the API read
    // the market clock `check` makes.
    let wall = Clock::wall();
    let t0_ms = wall.now_ms();
    let tiers = cfg.mode.tiers().expect("checked with the config");
    let Checked {
        clock,
        signals,
        rec,
        token,
        options,
        listener,
        lock: _lock,
    } = match check(&cfg, &tiers, fresh) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let path = options.journal.clone();
    tracing::info!(
        last_seq = rec.last_seq,
        risk = %rec.risk.level,
        mode = %rec.mode.encode(),
        paused = ?rec.paused,
        stopped = ?rec.stopped,
        "recovered from the journal"
    );

    // Events are stamped in market time, as everything else the tree journals.
    let kernel = Kernel::stamped(rec.last_seq + 1, Arc::new(move || clock.now_ms()));
    let events = EventLog::spawn(&kernel);
    logging::bound_panic_reports();
    let (tree, mut root) = assemble::start(&cfg, &kernel, rec, options);

    let ids = Arc::new(std::sync::RwLock::new(
        cfg.engines.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
    ));
    let reloader = Arc::new(assemble::Reloader::new(
        files,
        cfg.clone(),
        &kernel,
        &tree,
        path.clone(),
        ids.clone(),
    ));
    let state = Arc::new(api_state(
        &cfg,
        &kernel,
        &tree,
        token,
        path.clone(),
        reloader.clone(),
        ids.clone(),
    ));
    let token_source = state.token.source.to_string();
    let ready_state = state.clone();
    let history_state = state.clone();
    let server = match api::serve(state, listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: control.listen: cannot serve on {}: {e}",
                cfg.control.listen
            );
            tree.lifecycle.begin_shutdown();
            root.wait().await;
            assemble::final_flush(&path, &kernel);
            return 2;
        }
    };
    let server_handle = server.handle();
    actix_rt::spawn(server);

    tracing::info!(
        engines = ?ids.read().unwrap_or_else(|e| e.into_inner()),
        data_dir = %cfg.data_dir.display(),
        listen = %cfg.control.listen,
        token = %token_source,
        start_ms = wall.now_ms().saturating_sub(t0_ms),
        "commodore started; Ctrl-C or POST /v1/shutdown stops it in order"
    );
    api::spawn_sampler(history_state);
    logging::spawn_status_lines(cfg.log.status_every, tree.view.clone(), kernel.clone(), ids);
    signals.stop_on_signal(tree.lifecycle.clone(), reloader);
    systemd::spawn(
        Arc::new(systemd::Notify::from_env()),
        kernel.clone(),
        tree.lifecycle.clone(),
        move || systemd::Standing {
            settled: api::settled(&ready_state),
            not_ready: api::not_ready(&ready_state),
        },
    );

    let exit = root.wait().await;
    // The API answers until the tree is down (readyz says "shutting down"); then
    // it stops taking requests.
    server_handle.stop(true).await;
    events.drain(&kernel);
    assemble::final_flush(&path, &kernel);
    match &exit {
        RootExit::Stopped => tracing::info!("stopped cleanly"),
        RootExit::GaveUp(reason) => {
            tracing::error!(%reason, "the root supervisor gave up; exiting with status 1");
        }
    }
    exit.exit_code()
}
