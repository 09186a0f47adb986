//! What the engine did: one outcome per decision, counted for the status and
//! written to the engine's order log at once (it survives `kill -9`); without
//! an order log, or when it cannot take a row, the row waits in a batch
//! written every second.
//!
//! Invariant: the batch holds at most [`MAX_PENDING_OUTCOMES`] rows; beyond
//! it the oldest is dropped and counted (outcomes are statistics, orders and
//! fills are not).

use crate::journal::{OutcomeRow, SharedStore};
use crate::model::Outcome;
use crate::view::EngineActivity;
use std::collections::VecDeque;

/// Outcome rows waiting for the next journal write (when the order log cannot
/// take them); beyond this the oldest are dropped (counted).
pub const MAX_PENDING_OUTCOMES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Outcomes {
    /// Counts since the engine started (outcomes, orders, fills, rejections,
    /// drops).
    pub activity: EngineActivity,
    pending: VecDeque<OutcomeRow>,
}

impl Outcomes {
    pub fn new() -> Outcomes {
        Outcomes::default()
    }

    pub fn count(&mut self, o: Outcome) {
        *self.activity.outcomes.entry(o.as_str()).or_default() += 1;
    }

    /// Takes back a count (an `executed` that became an `error`).
    pub fn uncount(&mut self, o: Outcome) {
        if let Some(n) = self.activity.outcomes.get_mut(o.as_str()) {
            *n = n.saturating_sub(1);
        }
    }

    /// Counts `row` and writes it to the order log, or keeps it for the next
    /// batch.
    pub fn record(&mut self, store: &SharedStore, row: OutcomeRow) {
        self.count(row.outcome);
        tracing::debug!(target: super::ENGINE_LOG, engine = %row.engine, seq = row.decision_seq, outcome = %row.outcome, detail = %row.detail, "decision");
        // In the order log at once (it survives kill -9); else, without a log
        // or when the write fails, in the next batch.
        match store.log_outcome(&row) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(engine = %row.engine, error = %e, "outcome not in the order log: kept for the next batch");
            }
        }
        self.keep(row);
    }

    /// The batch's bound: the oldest row goes (counted) to make room.
    fn keep(&mut self, row: OutcomeRow) {
        if self.pending.len() >= MAX_PENDING_OUTCOMES {
            self.pending.pop_front();
            self.activity.dropped += 1;
        }
        self.pending.push_back(row);
    }

    /// Writes the batch; rows the journal refuses are counted as dropped,
    /// never retried into a crash loop.
    pub fn flush(&mut self, store: &SharedStore, engine: &str) {
        if self.pending.is_empty() {
            return;
        }
        let rows: Vec<OutcomeRow> = self.pending.drain(..).collect();
        if let Err(e) = store.with(|s| s.append_outcomes(&rows)) {
            tracing::error!(engine = %engine, error = %e, "outcomes not journaled");
            self.activity.dropped += rows.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64) -> OutcomeRow {
        OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Vetoed,
            detail: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn the_batch_is_bounded_and_drops_the_oldest() {
        let mut o = Outcomes::new();
        for seq in 0..MAX_PENDING_OUTCOMES as u64 + 3 {
            o.keep(row(seq));
        }
        assert_eq!(o.pending.len(), MAX_PENDING_OUTCOMES);
        assert_eq!(o.activity.dropped, 3);
        assert_eq!(o.pending.front().map(|r| r.decision_seq), Some(3));
    }

    #[test]
    fn counts_go_up_and_back() {
        let mut o = Outcomes::new();
        o.count(Outcome::Executed);
        o.count(Outcome::Executed);
        o.uncount(Outcome::Executed);
        o.uncount(Outcome::Error);
        assert_eq!(o.activity.outcomes.get("executed"), Some(&1));
        assert_eq!(o.activity.outcomes.get("error"), None);
    }
}
