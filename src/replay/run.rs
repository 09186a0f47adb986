//! The tree over the recorded data on the virtual clock, to the end of the
//! data, with a progress bar; then an ordered stop.
//!
//! Invariant: the paused tokio clock is the virtual clock, and everything of
//! the replay runs on this one thread, so nothing waits in real time and the
//! same data and config play the same way, run after run. A run that saw any
//! failure is refused: its report would not be the strategies'.

use crate::assemble::{self, Options};
use crate::config::Config;
use commodore_actors::clock::Clock;
use commodore_actors::journal::Store;
use commodore_actors::kernel::{EventKind, Kernel, NodeState, RootExit};
use commodore_actors::market::Progress as Played;
use commodore_actors::paths;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What the replay's run leaves besides its journal: what the tree saw of
/// itself at the end.
pub struct Ran {
    /// Reads of the market checked for look-ahead, and those that saw the
    /// future (the first said).
    pub lookahead_checks: u64,
    pub lookahead_violations: u64,
    pub lookahead_first: Option<String>,
    /// Each engine's position per symbol as its ledger held it at the end
    /// (the operator's view of it).
    pub positions: Vec<(String, String, rust_decimal::Decimal)>,
    /// Market events played.
    pub bars: u64,
    pub headlines: u64,
    pub faults_injected: u64,
    /// `failed` events journaled, and the engines failed at the end.
    pub failures: usize,
    pub failed_engines: Vec<String>,
    /// How the root ended: `None` stopped in order, `Some(why)` gave up.
    pub root_gave_up: Option<String>,
}

/// Plays the tree from a fresh journal (`opts.journal`) to the end of the
/// data. Without faults (`faulted` false) anything failing fails the
/// replay, `Err((1, why))`: its report would not be the strategies'. With
/// faults, failures are the point: the run goes on to the end of the data
/// (or of the tree) and the invariants judge it.
pub async fn play(
    cfg: &Config,
    opts: Options,
    total: u64,
    faulted: bool,
    end_ms: u64,
) -> Result<Ran, (i32, String)> {
    // A fresh journal: the risk level and the mode start where a first
    // `run` starts.
    let path = opts.journal.clone();
    let tiers = cfg.mode.tiers().expect("checked with the config");
    let rec =
        assemble::recover(&path, &tiers, opts.clock.now_ms()).map_err(|e| (1, e.to_string()))?;

    // The virtual clock (paused by the caller, before it made the market
    // clock): everything below runs on this thread.
    let clock = opts.clock;
    let kernel = Kernel::stamped(rec.last_seq + 1, Arc::new(move || clock.now_ms()));
    let (tree, mut root) = assemble::start(cfg, &kernel, rec, opts);
    let failed = to_the_end(cfg, &kernel, clock, &tree.market, total, faulted, end_ms).await;
    // The last batch and the last fills settle, then an ordered stop.
    tokio::time::sleep(clock.span(cfg.pipeline.batch_interval + Duration::from_secs(5))).await;
    tree.lifecycle.begin_shutdown();
    let exit = root.wait().await;
    assemble::final_flush(&path, &kernel);
    if let Some(why) = failed {
        return Err((1, why));
    }
    let failures = failures(&path).map_err(|e| (1, e))?;
    if !faulted {
        // No fault was injected: a failure of anything (a step that
        // panicked, an actor restarted) means the report is not the
        // strategies'.
        if let Some(first) = failures.first() {
            return Err((
                1,
                format!(
                    "{} failures during the replay, the first {first}; the report would not be the strategies' (see the log)",
                    failures.len()
                ),
            ));
        }
        if let RootExit::GaveUp(why) = &exit {
            return Err((1, format!("the root supervisor gave up: {why}")));
        }
    }
    let look = &tree.wiring.lookahead;
    let mut positions = Vec::new();
    let mut failed_engines = Vec::new();
    for e in &cfg.engines {
        for p in tree.view.engine(&e.id).positions {
            positions.push((e.id.clone(), p.symbol, p.qty));
        }
        if kernel.registry().state(&paths::engine(&e.id)) == Some(NodeState::Failed) {
            failed_engines.push(e.id.clone());
        }
    }
    Ok(Ran {
        lookahead_checks: look.checks(),
        lookahead_violations: look.violations(),
        lookahead_first: look.first(),
        positions,
        bars: tree.market.bars.load(Ordering::Relaxed),
        headlines: tree.market.headlines.load(Ordering::Relaxed),
        faults_injected: tree.market.faults.load(Ordering::Relaxed),
        failures: failures.len(),
        failed_engines,
        root_gave_up: match exit {
            RootExit::Stopped => None,
            RootExit::GaveUp(why) => Some(why),
        },
    })
}

/// Waits, a market hour at a time, until the sequencer has played the data
/// (or the root has ended); `Some(why)` when an engine failed (without
/// faults) or the data did not end in time.
async fn to_the_end(
    cfg: &Config,
    kernel: &Kernel,
    clock: Clock,
    progress: &Played,
    total: u64,
    faulted: bool,
    end_ms: u64,
) -> Option<String> {
    let mut bar = Progress::new(total);
    let engines: Vec<String> = cfg.engines.iter().map(|e| e.id.clone()).collect();
    // The market clock plays the data in its own time: a day past the data's
    // last market time (`end_ms`) is a hang.
    let deadline_ms = end_ms.saturating_add(86_400_000);
    let failed = loop {
        // A market hour at a time.
        tokio::time::sleep(clock.span(Duration::from_secs(3600))).await;
        bar.show(progress.bars.load(Ordering::Relaxed));
        let failed: Vec<&String> = engines
            .iter()
            .filter(|id| {
                kernel
                    .registry()
                    .state(&commodore_actors::control::engine_path(id))
                    == Some(NodeState::Failed)
            })
            .collect();
        // The root has ended (faults past its restart intensity): nothing
        // plays any more.
        let master = kernel.registry().state(paths::MASTER);
        if matches!(
            master,
            Some(NodeState::Failed) | Some(NodeState::Stopped) | None
        ) {
            break None;
        }
        if !failed.is_empty() && !faulted {
            break Some(format!(
                "engines {failed:?} failed during the replay (see the log)"
            ));
        }
        if progress.ended() {
            break None;
        }
        if clock.now_ms() > deadline_ms {
            break Some("the replay did not reach the end of its data in time".to_owned());
        }
    };
    bar.done(progress.bars.load(Ordering::Relaxed));
    failed
}

/// Every `failed` event the replay journaled (all of them, paged).
fn failures(journal: &Path) -> Result<Vec<String>, String> {
    let store = Store::open(journal).map_err(|e| e.to_string())?;
    let (mut since, mut out) = (0, Vec::new());
    loop {
        let page = store.events_since(since, 1000).map_err(|e| e.to_string())?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        since = last.seq;
        out.extend(
            page.iter()
                .filter(|e| e.kind == EventKind::Failed)
                .map(|e| format!("{}: {}", e.path, e.detail)),
        );
    }
}

/// A progress bar on a terminal (`indicatif`); a line every 10 % elsewhere
/// (a log, CI), where a redrawn bar would be noise.
struct Progress {
    total: u64,
    bar: Option<indicatif::ProgressBar>,
    last_decile: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let total = total.max(1);
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "replay [{bar:30}] {percent:>3}%  {pos}/{len} bars  {elapsed} (eta {eta})",
            ) {
                bar.set_style(style.progress_chars("#>."));
            }
            bar
        });
        Progress {
            total,
            bar,
            last_decile: 0,
        }
    }

    fn show(&mut self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done.min(self.total)),
            None => {
                let pct = (done * 100 / self.total).min(100);
                if pct / 10 > self.last_decile {
                    self.last_decile = pct / 10;
                    eprintln!("replay {pct}%  {done}/{} bars", self.total);
                }
            }
        }
    }

    fn done(&mut self, done: u64) {
        self.show(done);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
