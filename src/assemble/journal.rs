//! What the tree starts from and what it leaves: the state recovered from the
//! journal before anything starts, and the last events written once the tree
//! has ended.
//!
//! Invariant: `run` and `replay` recover through [`recover`] alike (a replay's
//! journal is fresh, so it recovers to a first start), and both end with
//! [`final_flush`], however the tree ended.

use commodore_actors::control;
use commodore_actors::journal::{JournalError, Store};
use commodore_actors::kernel::Kernel;
use commodore_actors::mode;
use commodore_actors::model::{ModeState, RiskState, Tiers};
use commodore_actors::risk;
use std::path::{Path, PathBuf};

/// The journal in a data directory.
pub fn journal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("journal.sqlite")
}

/// What the last run left in the journal, read and checked before anything
/// starts (the actors read it again themselves when they start).
pub struct Recovered {
    pub last_seq: u64,
    pub risk: RiskState,
    pub mode: ModeState,
    pub paused: Vec<String>,
}

/// The newest market time the journal at `path` holds (0 when empty): where
/// `run`'s market clock resumes.
pub fn journal_market_ms(path: &Path) -> Result<u64, JournalError> {
    Store::open(path)?.last_at_ms()
}

/// `now_ms`: the time a level or mode never journaled starts from.
pub fn recover(path: &Path, tiers: &Tiers, now_ms: u64) -> Result<Recovered, JournalError> {
    let store = Store::open(path)?;
    Ok(Recovered {
        last_seq: store.last_seq()?,
        risk: risk::load(&store, now_ms)?,
        mode: mode::load(&store, tiers, now_ms)?,
        paused: control::load_paused(&store)?.into_iter().collect(),
    })
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
