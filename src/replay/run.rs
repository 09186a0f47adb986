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
use commodore_actors::engine::collector::ReplayProgress;
use commodore_actors::journal::Store;
use commodore_actors::kernel::{EventKind, Kernel, NodeState, RootExit};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Plays the tree from a fresh journal (`opts.journal`) to the end of the
/// data; `Err((1, why))` when anything failed.
pub async fn play(
    cfg: &Config,
    opts: Options,
    progress: &ReplayProgress,
    total: u64,
) -> Result<(), (i32, String)> {
    // A fresh journal: the risk level and the mode start where a first
    // `run` starts.
    let path = opts.journal.clone();
    let tiers = cfg.mode.tiers().expect("checked with the config");
    let rec =
        assemble::recover(&path, &tiers, opts.clock.now_ms()).map_err(|e| (1, e.to_string()))?;

    // The virtual clock: everything below runs on this thread.
    tokio::time::pause();
    let kernel = Kernel::new(rec.last_seq + 1);
    let (tree, mut root) = assemble::start(cfg, &kernel, rec, opts);
    let failed = to_the_end(cfg, &kernel, tree.wiring.clock, progress, total).await;
    // The last batch and the last fills settle, then an ordered stop.
    tokio::time::sleep(cfg.pipeline.batch_interval + Duration::from_secs(5)).await;
    tree.lifecycle.begin_shutdown();
    let exit = root.wait().await;
    assemble::final_flush(&path, &kernel);
    if let Some(why) = failed {
        return Err((1, why));
    }
    // No fault is injected in a replay: a failure of anything (a step that
    // panicked, an actor restarted) means the report is not the strategy's.
    let failures = failures(&path).map_err(|e| (1, e))?;
    if let Some(first) = failures.first() {
        return Err((
            1,
            format!(
                "{} failures during the replay, the first {first}; the report would not be the strategies' (see the log)",
                failures.len()
            ),
        ));
    }
    if let RootExit::GaveUp(why) = exit {
        return Err((1, format!("the root supervisor gave up: {why}")));
    }
    Ok(())
}

/// Waits, a virtual minute at a time, until every engine has played its data;
/// `Some(why)` when an engine failed or the data did not end in time.
async fn to_the_end(
    cfg: &Config,
    kernel: &Kernel,
    clock: Clock,
    progress: &ReplayProgress,
    total: u64,
) -> Option<String> {
    let mut bar = Progress::new(total);
    let engines: Vec<String> = cfg.engines.iter().map(|e| e.id.clone()).collect();
    // Engines play side by side, a bar every 60 s / speed each: four times
    // all the bars one after another, and a day, is a hang.
    let per_bar = Duration::from_secs_f64(60.0 / cfg.feed.speed.max(1e-6));
    let deadline = per_bar
        .saturating_mul(u32::try_from(total).unwrap_or(u32::MAX).saturating_mul(4))
        .saturating_add(Duration::from_secs(86_400));
    let started_ms = clock.now_ms();
    let failed = loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
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
        if !failed.is_empty() {
            break Some(format!(
                "engines {failed:?} failed during the replay (see the log)"
            ));
        }
        if progress.ended.load(Ordering::Relaxed) >= engines.len() {
            break None;
        }
        if Duration::from_millis(clock.now_ms().saturating_sub(started_ms)) > deadline {
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

/// A progress bar on a terminal; a line every 10 % elsewhere.
struct Progress {
    total: u64,
    tty: bool,
    last_decile: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total: total.max(1),
            tty: std::io::stderr().is_terminal(),
            last_decile: 0,
        }
    }

    fn show(&mut self, done: u64) {
        let pct = (done * 100 / self.total).min(100);
        let mut err = std::io::stderr();
        if self.tty {
            let filled = (pct / 5) as usize;
            let _ = write!(
                err,
                "\rreplay [{}{}] {pct:>3}%  {done}/{} bars",
                "#".repeat(filled),
                ".".repeat(20 - filled),
                self.total
            );
            let _ = err.flush();
        } else if pct / 10 > self.last_decile {
            self.last_decile = pct / 10;
            let _ = writeln!(err, "replay {pct}%  {done}/{} bars", self.total);
        }
    }

    fn done(&mut self, done: u64) {
        self.show(done);
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}
