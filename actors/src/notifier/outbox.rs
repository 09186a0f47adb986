//! The notifier's outbox policy; the journal only stores the rows
//! (`journal::Store`'s outbox operations) and does what this decides.
//!
//! - At its bound (`WebhookConfig::max_outbox`) the outbox drops the oldest
//!   notifications of `DROPPABLE_KINDS`, never the others: an operator may miss
//!   a trade or a milestone under a flood, never a risk change, an error, a
//!   breaker, a mode change or a recovery.
//! - A webhook gets its notifications in order: only its oldest row is a
//!   candidate, and while it waits for its retry the others wait behind it.

use crate::journal::{JournalError, OutboxRow, OutboxTrim, Store};

/// Notification kinds the outbox drops (oldest first) when it is full; the
/// others (risk, error, breaker, mode, recovery) are never dropped.
pub const DROPPABLE_KINDS: [&str; 2] = ["trade", "milestone"];

/// The reason written with the state entries the notifier sets with its
/// notifications (its cursor, its milestone).
pub const STATE_REASON: &str = "notifier";

/// How the outbox is trimmed after an enqueue, for a bound of `max_rows`.
pub fn trim(max_rows: usize) -> OutboxTrim<'static> {
    OutboxTrim {
        max_rows,
        kinds: &DROPPABLE_KINDS,
    }
}

/// Whether `row` may be sent at `now_ms` (its retry time has come).
pub fn is_due(row: &OutboxRow, now_ms: u64) -> bool {
    row.next_ms <= now_ms
}

/// The notification to send to `webhook` at `now_ms`, if any: its oldest, if
/// that one is due.
pub fn next_due(
    store: &Store,
    webhook: &str,
    now_ms: u64,
) -> Result<Option<OutboxRow>, JournalError> {
    Ok(store
        .outbox_head(webhook)?
        .filter(|row| is_due(row, now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::testing::{outbox_row, temp};
    use crate::journal::StateKey;

    /// An enqueue as the notifier does it.
    fn enqueue(
        s: &mut Store,
        rows: &[OutboxRow],
        state: &[(StateKey<'_>, String)],
        max: usize,
        at_ms: u64,
    ) -> Result<(usize, usize), JournalError> {
        s.enqueue_trimmed(rows, state, STATE_REASON, trim(max), at_ms)
    }

    #[test]
    fn the_outbox_queues_once_and_at_its_bound_drops_only_the_oldest_trades() {
        let p = temp("outbox");
        let mut s = Store::open(&p).unwrap();
        let row = outbox_row;
        let rows = [row("e1", "trade"), row("e2", "risk"), row("e3", "trade")];
        let cursor = [(StateKey::NotifierCursor, "3".to_owned())];
        assert_eq!(enqueue(&mut s, &rows, &cursor, 100, 1).unwrap(), (3, 0));
        assert_eq!(
            enqueue(&mut s, &rows, &cursor, 100, 1).unwrap(),
            (0, 0),
            "queued once"
        );
        assert_eq!(s.state(StateKey::NotifierCursor).unwrap().unwrap().0, "3");
        // Bound 3: a fourth (risk) row pushes out the oldest trade (e1).
        assert_eq!(
            enqueue(&mut s, &[row("e4", "risk")], &[], 3, 1).unwrap(),
            (1, 1)
        );
        let first = next_due(&s, "desk", 10).unwrap().unwrap();
        assert_eq!(first.dedupe, "e2");
        // Full of risk rows: nothing droppable is left, so none is dropped.
        s.outbox_done(first.id).unwrap();
        let risks: Vec<_> = (5..9).map(|i| row(&format!("e{i}"), "risk")).collect();
        assert_eq!(
            enqueue(&mut s, &risks, &[], 3, 1).unwrap(),
            (4, 1),
            "e3 (trade) goes"
        );
        assert_eq!(s.outbox_len().unwrap(), 5, "risk rows are never dropped");
        // A retry makes the oldest not due until then, and the rest wait behind
        // it: a webhook gets its notifications in order.
        let r = next_due(&s, "desk", 10).unwrap().unwrap();
        s.outbox_retry(r.id, 1, 500).unwrap();
        assert_eq!(next_due(&s, "desk", 499).unwrap(), None);
        assert_eq!(next_due(&s, "desk", 500).unwrap().unwrap().id, r.id);
        assert_eq!(s.outbox_forget_others(&["other".into()]).unwrap(), 5);
    }
}
