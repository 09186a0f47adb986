//! The market the tree plays and its one clock: the sequencer's feed and
//! routes, for `run` (the bundled data in laps, from where the journal's
//! market time stopped) and `replay` (recorded data once, with its faults).
//!
//! Invariant: the clock and the feed agree: the clock starts at the feed's
//! first market time (a replay, a first `run`) or at the journal's last one
//! (a restarted `run`, which resumes the bundled data there), so nothing is
//! delivered from the past or skipped.

use crate::config::{Config, FeedSource};
use commodore_actors::clock::Clock;
use commodore_actors::engine::data;
use commodore_actors::kernel::{ChildSpec, Handle, Kernel};
use commodore_actors::market::{Feed, Merged, Progress, Route, ScheduledFault, Sequencer, Series};
use commodore_actors::paths;
use std::sync::Arc;

/// The market data the tree plays.
pub enum DataSource {
    /// The embedded `config/data/`, in laps a week apart, for ever.
    Bundled,
    /// A recorded feed, played once (`commodore replay`), and the faults a
    /// seeded replay injects on its clock.
    Recorded {
        feed: Box<dyn Feed>,
        faults: Vec<ScheduledFault>,
    },
    /// A live feed (IB's bars, `feed.source = "ib"`), on the wall clock.
    Live(Box<dyn Feed>),
}

/// The symbols the config's engines trade, each once, in config order.
pub fn symbols(cfg: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &cfg.engines {
        if !out.iter().any(|s| s == e.symbol()) {
            out.push(e.symbol().to_owned());
        }
    }
    out
}

/// The first market time of the bundled data of the config's symbols.
pub fn bundled_start_ms(cfg: &Config) -> u64 {
    symbols(cfg)
        .iter()
        .filter_map(|s| data::bundled(s))
        .filter_map(|(bars, news)| Series::once(bars, news).starts_at_ms())
        .min()
        .unwrap_or(0)
}

/// `run`'s clock on the bundled data: from where the journal's market time
/// stopped (`journal_ms`), or from the data's start, at `feed.speed`. On a
/// live feed (`feed.source = "ib"`) the market's time is the wall's.
pub fn run_clock(cfg: &Config, journal_ms: u64) -> Clock {
    match cfg.feed.source {
        FeedSource::Ib => Clock::wall(),
        FeedSource::Bundled => Clock::market(bundled_start_ms(cfg).max(journal_ms), cfg.feed.speed),
    }
}

/// The bundled data of the config's symbols, merged, from the first event
/// due after `after_ms`.
fn bundled_feed(cfg: &Config, after_ms: u64) -> Box<dyn Feed> {
    let series = symbols(cfg)
        .iter()
        .filter_map(|s| data::bundled(s))
        .map(|(bars, news)| Series::laps(bars, news, after_ms))
        .collect();
    Box::new(Merged::new(series))
}

/// The sequencer `master/market` over `data`, handing events to `routes`
/// (as a reload changes them).
pub fn sequencer(
    cfg: &Config,
    kernel: &Kernel,
    clock: Clock,
    data: DataSource,
    routes: tokio::sync::watch::Receiver<Vec<Route>>,
    progress: Arc<Progress>,
) -> ChildSpec {
    let (feed, faults) = match data {
        DataSource::Bundled => (bundled_feed(cfg, clock.now_ms()), Vec::new()),
        DataSource::Recorded { feed, faults } => (feed, faults),
        DataSource::Live(feed) => (feed, Vec::new()),
    };
    ChildSpec::worker(
        paths::MARKET,
        &Handle::new(),
        Sequencer::factory(feed, faults, routes, clock, kernel.clone(), progress),
    )
}
