//! `commodore replay`: the daemon's own actor tree over recorded bars (and
//! headlines), on a virtual clock, to the end of the data; then a report.
//!
//! The virtual clock is tokio's paused clock on the one thread every actor of
//! the replay runs on: nothing waits in real time, and every timer of the tree
//! runs as it does in `run` with the same config: one bar every
//! `60 s / feed.speed` (default speed 60: a bar a second), the batch every
//! `batch_interval / feed.speed`, and the breaker's cooldown, the order-rate
//! throttle and the liveness probes in (virtual) seconds. So a replay behaves
//! as the daemon would over the same data, only without waiting; with
//! `feed.speed = 1` every timer is in market time, and the replay is slower
//! (each per-second timer of the tree fires once per market second).
//! The same data and config give the same report, run after run.
//!
//! What differs from `run`, on purpose, is [`Options::replay`]: a fresh
//! journal of its own (`<data_dir>/replay/<stamp>/`, the live one is never
//! touched, written without fsync since nothing recovers from it), every engine on this thread, no webhooks (a backtest must not
//! page a desk), the rules analyzer only (an LLM call cannot run on a virtual
//! clock). No HTTP API is served, so no operator command and no fault
//! injection reach the tree.
//!
//! Layout: `data.rs` reads and checks the recorded data, `run.rs` plays the
//! tree (built by [`crate::assemble`], as `commodore run` builds it) over it on
//! the virtual clock, `report.rs` builds the report from the replay's journal,
//! and `render.rs` prints and writes it.

mod data;
mod invariants;
mod render;
mod report;
mod run;

use crate::assemble::Options;
use crate::config::Config;
use commodore_actors::clock::Clock;
use commodore_actors::engine::{collector::ReplayProgress, DataSource};
use render::Written;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the replay; returns the exit status (0 done, 1 the tree failed, 2 a
/// data or config error).
pub async fn run(
    cfg: Config,
    data_path: PathBuf,
    news_path: Option<PathBuf>,
    out: Option<PathBuf>,
) -> i32 {
    match replay(cfg, &data_path, news_path.as_deref(), out).await {
        Ok((report, written)) => {
            print!("{}", render::summary(&report));
            println!(
                "report: {}\n        {}",
                written.json.display(),
                written.html.display()
            );
            0
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

/// The report and where it was written, or the exit status and why.
async fn replay(
    cfg: Config,
    data_path: &Path,
    news_path: Option<&Path>,
    out: Option<PathBuf>,
) -> Result<(Value, Written), (i32, String)> {
    let recorded = Arc::new(data::load(&cfg, data_path, news_path).map_err(|e| (2, e))?);
    // The replay's one clock; its start names the replay's folder and report.
    let clock = Clock::wall();
    let stamp = chrono::DateTime::from_timestamp_millis(clock.now_ms() as i64)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let dir = cfg.data_dir.join("replay").join(&stamp);
    let progress = Arc::new(ReplayProgress::default());
    let source = DataSource::Recorded {
        data: recorded.clone(),
        progress: progress.clone(),
    };
    let opts = Options::replay(&cfg, &dir, source, clock).map_err(|e| (2, e))?;
    std::fs::create_dir_all(&dir).map_err(|e| (2, format!("data_dir: {}: {e}", dir.display())))?;
    let total: u64 = cfg
        .engines
        .iter()
        .map(|e| recorded[e.symbol()].0.len() as u64)
        .sum();
    let journal = opts.journal.clone();
    run::play(&cfg, opts, &progress, total).await?;
    let report = report::report(&cfg, &journal, &recorded, data_path).map_err(|e| (1, e))?;
    let out = out.unwrap_or_else(|| cfg.data_dir.join("reports"));
    let written = render::write(&report, &out, &stamp).map_err(|e| (1, e))?;
    Ok((report, written))
}
