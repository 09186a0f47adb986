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

mod charts;
mod data;
mod faults;
mod invariants;
#[cfg(test)]
mod lookahead_tests;
mod outbox;
mod render;
mod report;
mod run;
mod walk;

pub use run::Ran;

use crate::assemble::{DataSource, Options};
use crate::config::Config;
use commodore_actors::clock::Clock;
use commodore_actors::market::{Feed, Merged, Streamed};
use render::Written;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How fast a replay's market clock runs against its virtual clock: a
/// market second per virtual millisecond. Nothing waits either way (the
/// virtual clock is paused); it sets how often the tree's own virtual-clock
/// timers (supervision probes, journal batches, safety nets) fire per market
/// hour, so that nights and weekends cost next to nothing, and it keeps the
/// replay deterministic: tokio's timers tick in whole milliseconds, and
/// every time in the data (whole seconds) then falls on a tick. Market-time
/// rules (the batch window, the breaker's cooldown, staleness) are on the
/// market clock and do not depend on it.
pub const REPLAY_SPEED: f64 = 1_000.0;

/// What `commodore replay` was asked.
pub struct Args {
    /// The bars (`None`: the bundled week, with its headlines).
    pub data: Option<PathBuf>,
    pub news: Option<PathBuf>,
    pub out: Option<PathBuf>,
    /// Faults to inject, chosen by `seed`.
    pub faults: u32,
    pub seed: u64,
}

impl Args {
    /// The command that runs this replay again (what a failing seed prints).
    pub fn command(&self) -> String {
        let mut c = "commodore replay".to_owned();
        if let Some(d) = &self.data {
            c.push_str(&format!(" --data {}", d.display()));
        }
        if let Some(n) = &self.news {
            c.push_str(&format!(" --news {}", n.display()));
        }
        format!("{c} --faults {} --seed {}", self.faults, self.seed)
    }
}

/// Runs the replay; returns the exit status (0 done, 1 the tree failed or
/// an invariant does not hold, 2 a data or config error).
pub async fn run(cfg: Config, args: Args) -> i32 {
    match replay(cfg, &args).await {
        Ok((report, written)) => {
            print!("{}", render::summary(&report));
            println!(
                "report: {}\n        {}",
                written.json.display(),
                written.html.display()
            );
            let failed: Vec<&Value> = report["invariants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["holds"] == false)
                .collect();
            if failed.is_empty() {
                return 0;
            }
            for c in &failed {
                eprintln!(
                    "error: invariant {} does not hold (seed {}): {}",
                    c["name"].as_str().unwrap_or("?"),
                    args.seed,
                    c["detail"].as_str().unwrap_or("")
                );
            }
            eprintln!("reproduce: {}", args.command());
            1
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

/// The report and where it was written, or the exit status and why.
async fn replay(cfg: Config, args: &Args) -> Result<(Value, Written), (i32, String)> {
    if args.faults > faults::MAX_FAULTS {
        return Err((
            2,
            format!(
                "--faults {}: at most {}; replay longer data for more",
                args.faults,
                faults::MAX_FAULTS
            ),
        ));
    }
    let recorded = Arc::new(
        match &args.data {
            Some(path) => data::load(&cfg, path, args.news.as_deref()),
            None => data::bundled(&cfg, args.news.as_deref()),
        }
        .map_err(|e| (2, e))?,
    );
    // Where the report goes, checked before the run, not after it.
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("reports"));
    writable(&out).map_err(|e| (2, e))?;
    // The wall clock names the replay's folder and report; the replay runs
    // on the market clock of its data.
    let stamp = chrono::DateTime::from_timestamp_millis(Clock::wall().now_ms() as i64)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let (dir, stamp) = claim(&cfg.data_dir.join("replay"), &stamp).map_err(|e| (2, e))?;
    let (start, end) = span(&recorded);
    let plan = faults::plan(&cfg, args.faults, args.seed, start, end);
    let (ran, journal) =
        play_recorded(&cfg, &recorded, &dir, (plan.clone(), args.seed), |f| f).await?;
    let data_name = args
        .data
        .as_ref()
        .map_or_else(|| "bundled".to_owned(), |p| p.display().to_string());
    let mut report = report::report(&cfg, &journal, &recorded, &data_name).map_err(|e| (1, e))?;
    let mut checks = invariants::check(&journal).map_err(|e| (1, e))?;
    checks.push(invariants::engine_positions(&journal, &cfg, &ran.positions).map_err(|e| (1, e))?);
    checks.push(invariants::no_lookahead(&ran));
    let obj = report.as_object_mut().expect("the report is an object");
    obj.insert("seed".into(), json!(args.seed));
    obj.insert(
        "faults".into(),
        json!(plan
            .iter()
            .map(|f| json!({
                "at": report::rfc3339(f.at_ms),
                "path": f.path,
                "kind": f.fault.kind.as_str(),
                "count": f.fault.count,
                "ms": f.fault.ms,
            }))
            .collect::<Vec<_>>()),
    );
    obj.insert(
        "run".into(),
        json!({
            "bars": ran.bars,
            "headlines": ran.headlines,
            "faults_injected": ran.faults_injected,
            "failures": ran.failures,
            "failed_engines": ran.failed_engines,
            "root": ran.root_gave_up.as_deref().map_or_else(|| "stopped".to_owned(), |w| format!("gave up: {w}")),
            "lookahead": {"checks": ran.lookahead_checks, "violations": ran.lookahead_violations},
        }),
    );
    obj.insert("invariants".into(), json!(checks));
    let written = render::write(&report, &out, &stamp).map_err(|e| (1, e))?;
    Ok((report, written))
}

/// The first and the last market time of the data (the first bar's open or
/// headline, the last bar's close).
fn span(recorded: &data::Recorded) -> (u64, u64) {
    let start = recorded
        .values()
        .flat_map(|(bars, news)| {
            bars.first_open_ms()
                .into_iter()
                .chain(news.first().map(|h| h.at_ms))
        })
        .min()
        .unwrap_or(0);
    let end = recorded
        .values()
        .filter_map(|(bars, _)| bars.last_close_ms())
        .max()
        .unwrap_or(start);
    (start, end)
}

/// The tree over `recorded` from a fresh journal in `dir`, with `faults`
/// and the seed (of the faults and the paper broker's random slippage);
/// `feed` may wrap the merged feed (a test that bypasses the clock). What
/// the run left, and its journal.
async fn play_recorded(
    cfg: &Config,
    recorded: &data::Recorded,
    dir: &std::path::Path,
    (faults, seed): (Vec<commodore_actors::market::ScheduledFault>, u64),
    feed: impl FnOnce(Box<dyn Feed>) -> Box<dyn Feed>,
) -> Result<(Ran, PathBuf), (i32, String)> {
    // Each symbol's bars streamed (from the file when there is one).
    let series: Vec<Streamed> = crate::assemble::symbols(cfg)
        .iter()
        .map(|s| {
            let (bars, news) = &recorded[s];
            Streamed::new(bars.stream(), news.clone())
        })
        .collect();
    let (start, end) = span(recorded);
    // The virtual clock: paused, and on one of tokio's millisecond ticks,
    // before the market clock is made on it. Tokio's timers tick in whole
    // milliseconds counted from when the runtime started (real time): made
    // at some fraction of a tick, the market clock's phase against the ticks,
    // and so when each event is due, would change from run to run.
    tokio::time::pause();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    let clock = Clock::market(start, REPLAY_SPEED);
    let faulted = !faults.is_empty();
    let source = DataSource::Recorded {
        feed: feed(Box::new(Merged::new(series))),
        faults,
    };
    let mut opts = Options::replay(cfg, dir, source, clock).map_err(|e| (2, e))?;
    opts.fill_seed = seed;
    std::fs::create_dir_all(dir).map_err(|e| (2, format!("data_dir: {}: {e}", dir.display())))?;
    let total: u64 = recorded.values().map(|(bars, _)| bars.count()).sum();
    let journal = opts.journal.clone();
    let ran = run::play(cfg, opts, total, faulted, end).await?;
    Ok((ran, journal))
}

/// A folder of its own for this replay's journal under `root`, named
/// `stamp`, or `stamp-2`, `stamp-3`... when other replays started in the
/// same millisecond took it (`simulate` runs several at once); the name
/// also names the report.
fn claim(root: &std::path::Path, stamp: &str) -> Result<(std::path::PathBuf, String), String> {
    std::fs::create_dir_all(root).map_err(|e| format!("data_dir: {}: {e}", root.display()))?;
    for n in 1..=1000 {
        let name = if n == 1 {
            stamp.to_owned()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = root.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, name)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("data_dir: {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "data_dir: {}: a thousand replays started in one millisecond: start fewer at once",
        root.display()
    ))
}

/// Whether the report can be written into `dir` (made if missing): a file
/// is created there and removed.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    let probe = dir.join(".commodore-write-check");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "--out {}: the report cannot be written there ({e}): give a directory you can write to",
                dir.display()
            )
        })
}

/// `commodore check-journal`: the replay's invariants over any journal (a
/// daemon's after a chaos run or a crash loop, stopped), and with
/// `delivered` the outbox's. One line per check; 0 when all hold, 1 when one
/// fails (named), 2 when there is no journal to check.
pub fn check_journal(journal: &Path, delivered: Option<&Path>, exactly_once: bool) -> u8 {
    let checks = invariants::check(journal).and_then(|mut checks| {
        if let Some(d) = delivered {
            checks.push(outbox::outbox_delivered_or_pending(
                journal,
                d,
                exactly_once,
            )?);
        }
        Ok(checks)
    });
    let checks = match checks {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    for c in &checks {
        let verdict = if c.holds { "holds" } else { "FAILS" };
        println!("{verdict} {}: {}", c.name, c.detail);
    }
    match checks.iter().find(|c| !c.holds) {
        Some(c) => {
            eprintln!("invariant {} failed in {}", c.name, journal.display());
            1
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::claim;

    #[test]
    fn replays_started_in_one_millisecond_get_a_folder_each() {
        let root = std::env::temp_dir().join(format!("commodore-claim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let stamp = "20260211T091500.000Z";
        let names: Vec<String> = (0..3).map(|_| claim(&root, stamp).unwrap().1).collect();
        assert_eq!(
            names,
            [stamp.to_owned(), format!("{stamp}-2"), format!("{stamp}-3")]
        );
        assert!(root.join(format!("{stamp}-3")).is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
