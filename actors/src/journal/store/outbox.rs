//! The `outbox` table: the notifier's notifications, one row per notification
//! per webhook, written before it is sent and removed when it is delivered (or
//! refused for good). Only storage lives here: which kinds may be dropped at
//! the bound, when a row is due and what a retry waits are the notifier's
//! (`notifier::outbox`), handed in as arguments. Invariant: (webhook, dedupe)
//! is unique, so a notification is never queued twice.

use super::{JournalError, Store};
use crate::journal::keys::StateKey;
use rusqlite::{params, params_from_iter, OptionalExtension, ToSql, Transaction};

/// One notification for one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: u64,
    pub webhook: String,
    /// Unique per webhook: the same notification is never queued twice.
    pub dedupe: String,
    pub kind: String,
    pub body: String,
    pub created_ms: u64,
    pub attempts: u32,
    pub next_ms: u64,
}

/// How an enqueue trims the outbox afterwards, as its caller decides: past
/// `max_rows` rows, the oldest rows of `kinds` are deleted (and only those, so
/// the outbox may stay over `max_rows` when not enough of them are left).
#[derive(Debug, Clone, Copy)]
pub struct OutboxTrim<'a> {
    pub max_rows: usize,
    pub kinds: &'a [&'a str],
}

impl Store {
    /// Queues notifications and sets state entries (`state`, written with
    /// `state_reason`) in one durable transaction, so the notifier's cursor
    /// moves exactly when its notifications are queued. A row whose (webhook,
    /// dedupe) is queued already is skipped. Then trims the outbox as `trim`
    /// says. Returns (queued, dropped).
    pub fn enqueue_trimmed(
        &mut self,
        rows: &[OutboxRow],
        state: &[(StateKey<'_>, String)],
        state_reason: &str,
        trim: OutboxTrim<'_>,
        at_ms: u64,
    ) -> Result<(usize, usize), JournalError> {
        self.durable(|tx| {
            let queued = insert_rows(tx, rows)?;
            put_state(tx, state, state_reason, at_ms)?;
            let dropped = trim_oldest(tx, trim)?;
            Ok((queued, dropped))
        })
    }

    /// The oldest notification queued for `webhook`, due or not.
    pub fn outbox_head(&self, webhook: &str) -> Result<Option<OutboxRow>, JournalError> {
        let r = self
            .conn
            .prepare_cached(
                "SELECT id, webhook, dedupe, kind, body, created_ms, attempts, next_ms FROM outbox
                 WHERE webhook = ?1 ORDER BY id LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![webhook], |r| {
                    Ok(OutboxRow {
                        id: r.get::<_, i64>(0)? as u64,
                        webhook: r.get(1)?,
                        dedupe: r.get(2)?,
                        kind: r.get(3)?,
                        body: r.get(4)?,
                        created_ms: r.get::<_, i64>(5)? as u64,
                        attempts: r.get::<_, i64>(6)? as u32,
                        next_ms: r.get::<_, i64>(7)? as u64,
                    })
                })
                .optional()
            });
        self.sql(r)
    }

    /// Removes a notification: delivered, or failed for good. Durable, so a
    /// delivered notification is not sent again after a crash.
    pub fn outbox_done(&mut self, id: u64) -> Result<(), JournalError> {
        self.durable(|tx| tx.execute("DELETE FROM outbox WHERE id = ?1", params![id as i64]))
            .map(|_| ())
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_retry(
        &mut self,
        id: u64,
        attempts: u32,
        next_ms: u64,
    ) -> Result<(), JournalError> {
        let r = self.conn.execute(
            "UPDATE outbox SET attempts = ?2, next_ms = ?3 WHERE id = ?1",
            params![id as i64, attempts as i64, next_ms as i64],
        );
        self.sql(r).map(|_| ())
    }

    /// Notifications waiting, of every webhook and kind.
    pub fn outbox_len(&self) -> Result<u64, JournalError> {
        let r = self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0));
        Ok(self.sql(r)? as u64)
    }

    /// Deletes the notifications of webhooks no longer configured; returns how
    /// many.
    pub fn outbox_forget_others(&mut self, webhooks: &[String]) -> Result<usize, JournalError> {
        let keep: Vec<String> = webhooks
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', "''")))
            .collect();
        let sql = if keep.is_empty() {
            "DELETE FROM outbox".to_owned()
        } else {
            format!(
                "DELETE FROM outbox WHERE webhook NOT IN ({})",
                keep.join(", ")
            )
        };
        let r = self.conn.execute(&sql, []);
        self.sql(r)
    }
}

/// Inserts the rows not queued already; returns how many were.
fn insert_rows(tx: &Transaction<'_>, rows: &[OutboxRow]) -> rusqlite::Result<usize> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox (webhook, dedupe, kind, body, created_ms, attempts, next_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5)",
    )?;
    let mut queued = 0;
    for r in rows {
        queued += insert.execute(params![
            r.webhook,
            r.dedupe,
            r.kind,
            r.body,
            r.created_ms as i64
        ])?;
    }
    Ok(queued)
}

/// Sets state entries; the reason of an entry set before is kept.
fn put_state(
    tx: &Transaction<'_>,
    state: &[(StateKey<'_>, String)],
    reason: &str,
    at_ms: u64,
) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT INTO state (key, value, reason, at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, at_ms = excluded.at_ms",
    )?;
    for (k, v) in state {
        put.execute(params![k.name(), v, reason, at_ms as i64])?;
    }
    Ok(())
}

/// Deletes the oldest rows of `trim.kinds` while the outbox holds more than
/// `trim.max_rows`; returns how many went.
fn trim_oldest(tx: &Transaction<'_>, trim: OutboxTrim<'_>) -> rusqlite::Result<usize> {
    let len: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
    let over = (len - trim.max_rows as i64).max(0);
    if over == 0 || trim.kinds.is_empty() {
        return Ok(0);
    }
    // The kinds are bound, not spliced: one placeholder each, after the limit.
    let kinds: Vec<String> = (0..trim.kinds.len())
        .map(|i| format!("?{}", i + 2))
        .collect();
    let sql = format!(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind IN ({})
         ORDER BY id LIMIT ?1)",
        kinds.join(", ")
    );
    let mut values: Vec<&dyn ToSql> = vec![&over];
    values.extend(trim.kinds.iter().map(|k| k as &dyn ToSql));
    tx.prepare_cached(&sql)?.execute(params_from_iter(values))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{outbox_row as row, temp};
    use super::*;

    fn trim(max_rows: usize, kinds: &'static [&'static str]) -> OutboxTrim<'static> {
        OutboxTrim { max_rows, kinds }
    }

    #[test]
    fn a_trim_deletes_the_oldest_rows_of_the_kinds_it_is_given_and_no_others() {
        let p = temp("outbox-trim");
        let mut s = Store::open(&p).unwrap();
        let rows = [
            row("a1", "a"),
            row("b1", "b"),
            row("c1", "c"),
            row("a2", "a"),
        ];
        assert_eq!(
            s.enqueue_trimmed(&rows, &[], "test", trim(10, &["a"]), 1)
                .unwrap(),
            (4, 0),
            "under the bound: nothing goes"
        );
        assert_eq!(
            s.enqueue_trimmed(&[row("c2", "c")], &[], "test", trim(3, &["a", "b"]), 1)
                .unwrap(),
            (1, 2),
            "two over: the two oldest of a and b"
        );
        assert_eq!(s.outbox_head("desk").unwrap().unwrap().dedupe, "c1");
        assert_eq!(
            s.enqueue_trimmed(&[], &[], "test", trim(0, &[]), 1)
                .unwrap(),
            (0, 0),
            "no kinds: nothing goes"
        );
        assert_eq!(
            s.enqueue_trimmed(&[], &[], "test", trim(0, &["b"]), 1)
                .unwrap(),
            (0, 0),
            "none of that kind left"
        );
        assert_eq!(s.outbox_len().unwrap(), 3);
    }

    #[test]
    fn state_written_with_an_enqueue_keeps_its_first_reason() {
        let p = temp("outbox-state");
        let mut s = Store::open(&p).unwrap();
        let cursor = [(StateKey::NotifierCursor, "1".to_owned())];
        s.enqueue_trimmed(&[], &cursor, "first", trim(10, &[]), 5)
            .unwrap();
        let cursor = [(StateKey::NotifierCursor, "2".to_owned())];
        s.enqueue_trimmed(&[], &cursor, "second", trim(10, &[]), 6)
            .unwrap();
        let e = s.state_entry(StateKey::NotifierCursor).unwrap().unwrap();
        assert_eq!(
            (e.value.as_str(), e.reason.as_str(), e.at_ms),
            ("2", "first", 6)
        );
    }
}
