//! The `events` table: the kernel's events copied into SQLite by the `journal`
//! worker, read back by the notifier and the API. Invariant: seq strictly
//! increases, checked before writing and after reading.

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::kernel::{Event, EventKind, Pending};
use rusqlite::{params, TransactionBehavior};

fn last_seq_in(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<u64> {
    tx.query_row("SELECT MAX(seq) FROM events", [], |row| {
        row.get::<_, Option<i64>>(0)
    })
    .map(|s| s.unwrap_or(0) as u64)
}

/// Inserts `pending`'s event and the retained ones before it that the table
/// lacks (in the caller's transaction, which holds the write lock).
pub(super) fn insert_pending(
    tx: &rusqlite::Transaction<'_>,
    pending: &Pending<'_>,
) -> rusqlite::Result<usize> {
    let last = last_seq_in(tx)?;
    insert_after_last(tx, pending.after(last))
}

/// Inserts the events after the table's last `seq` (in the caller's
/// transaction, which holds the write lock): how many.
fn insert_after_last<'e>(
    tx: &rusqlite::Transaction<'_>,
    events: impl Iterator<Item = &'e Event>,
) -> rusqlite::Result<usize> {
    let last = last_seq_in(tx)?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (seq, at_ms, kind, path, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut written = 0;
    for e in events.filter(|e| e.seq > last) {
        stmt.execute(params![
            e.seq as i64,
            e.at_ms as i64,
            e.kind.as_str(),
            e.path,
            e.detail
        ])?;
        written += 1;
    }
    Ok(written)
}

impl Store {
    /// The highest event sequence number written, 0 for a new journal.
    pub fn last_seq(&self) -> Result<u64, JournalError> {
        let r = self
            .conn
            .query_row("SELECT MAX(seq) FROM events", [], |row| {
                row.get::<_, Option<i64>>(0)
            });
        Ok(self.sql(r)?.unwrap_or(0) as u64)
    }

    /// The newest market time the journal holds: its last event's, a state
    /// change's or an order's journaling, whichever is latest (0 for an empty
    /// journal). A daemon restarted on the bundled data resumes its market
    /// clock from here, so no journaled order is from its future.
    pub fn last_at_ms(&self) -> Result<u64, JournalError> {
        let r = self.conn.query_row(
            "SELECT MAX(COALESCE((SELECT at_ms FROM events ORDER BY seq DESC LIMIT 1), 0),
                        COALESCE((SELECT MAX(at_ms) FROM state), 0),
                        COALESCE((SELECT MAX(created_ms) FROM orders), 0))",
            [],
            |row| row.get::<_, i64>(0),
        );
        Ok(self.sql(r)?.max(0) as u64)
    }

    /// Appends events in one transaction (one commit for the batch). Events at or
    /// below the last written seq are skipped (a replay after a restart, or
    /// events a durable publish wrote first). Returns how many were written.
    pub fn append_events(&mut self, events: &[Event]) -> Result<usize, JournalError> {
        // Invariant, checked before writing: strictly increasing seq.
        if let Some(w) = events.windows(2).find(|w| w[1].seq <= w[0].seq) {
            return Err(JournalError::Corrupt {
                path: self.path.clone(),
                what: format!("events out of order: seq {} after {}", w[1].seq, w[0].seq),
            });
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_at(&path))?;
        let written = insert_after_last(&tx, events.iter()).map_err(sqlite_at(&path))?;
        tx.commit().map_err(sqlite_at(&path))?;
        Ok(written)
    }

    /// Writes what `write` writes and the event `pending` is about to publish,
    /// with every retained event before it the file does not hold yet, in
    /// one durable transaction: the state an event reports and the event are
    /// on disk together or not at all, and the file's `seq` stays gapless.
    pub fn durable_with_events<T>(
        &mut self,
        pending: &Pending<'_>,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        self.durable(|tx| {
            let v = write(tx)?;
            insert_pending(tx, pending)?;
            Ok(v)
        })
    }

    /// Events with `seq > since`, oldest first, at most `limit`.
    pub fn events_since(&self, since: u64, limit: usize) -> Result<Vec<Event>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached("SELECT seq, at_ms, kind, path, detail FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            self.sql(r)?
        };
        let rows = stmt.query_map(
            params![
                since.min(i64::MAX as u64) as i64,
                limit.min(i64::MAX as usize) as i64
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        );
        let rows = rows.map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })?;
        let mut out: Vec<Event> = Vec::new();
        for row in rows {
            let (seq, at_ms, kind, path, detail) = row.map_err(|source| JournalError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
            let kind: EventKind = kind
                .parse()
                .or_else(|e| crate::events::domain_kind(&kind).ok_or(e))
                .map_err(|what: String| JournalError::Corrupt {
                    path: self.path.clone(),
                    what,
                })?;
            // Invariant, checked after reading: strictly increasing seq.
            if out.last().is_some_and(|e| e.seq >= seq as u64) {
                return Err(JournalError::Corrupt {
                    path: self.path.clone(),
                    what: format!("seq {seq} out of order"),
                });
            }
            out.push(Event {
                seq: seq as u64,
                at_ms: at_ms as u64,
                kind,
                path,
                detail,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::*;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 1_000 + seq,
            kind: EventKind::Started,
            path: format!("master/a{seq}"),
            detail: "d".into(),
        }
    }

    /// A connection the process never closes keeps the write-ahead log
    /// unmerged: `journal.sqlite` copied alone would miss what it holds. The
    /// clean stop's checkpoint merges it.
    #[test]
    fn a_checkpoint_leaves_the_file_alone_whole_even_beside_an_unclosed_connection() {
        let copy_alone = |p: &std::path::Path, name: &str| -> i64 {
            let dir = p.parent().unwrap().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(p, dir.join("journal.sqlite")).unwrap();
            rusqlite::Connection::open(dir.join("journal.sqlite"))
                .unwrap()
                .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .unwrap_or(0) // not even the table: it is in the WAL too
        };
        let p = temp("checkpoint");
        let mut writer = Store::open(&p).unwrap();
        writer.append_events(&[ev(1), ev(2)]).unwrap();
        // Never closed, as a connection leaked by an actor that never stopped.
        std::mem::forget(writer);
        assert_eq!(copy_alone(&p, "before"), 0, "the rows are in the WAL only");
        let s = Store::open(&p).unwrap();
        assert!(s.checkpoint().unwrap(), "merged in full");
        assert_eq!(copy_alone(&p, "after"), 2);
        // A backup is a whole journal too, and never written over a file.
        let dest = p.parent().unwrap().join("backup.sqlite");
        s.backup_to(&dest).unwrap();
        assert_eq!(Store::open(&dest).unwrap().last_seq().unwrap(), 2);
        assert!(s.backup_to(&dest).is_err());
    }

    #[test]
    fn events_survive_reopening_and_replays_are_skipped() {
        let p = temp("events");
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.append_events(&[ev(1), ev(2), ev(3)]).unwrap(), 3);
        drop(s);
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.last_seq().unwrap(), 3);
        assert_eq!(
            s.append_events(&[ev(2), ev(3), ev(4)]).unwrap(),
            1,
            "2 and 3 are already there"
        );
        let back = s.events_since(1, 10).unwrap();
        assert_eq!(
            back.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(back[0], ev(2));
        assert_eq!(s.events_since(0, 2).unwrap().len(), 2);
    }

    #[test]
    fn out_of_order_batches_are_refused_before_writing() {
        let p = temp("order");
        let mut s = Store::open(&p).unwrap();
        assert!(matches!(
            s.append_events(&[ev(2), ev(1)]),
            Err(JournalError::Corrupt { .. })
        ));
        assert_eq!(s.last_seq().unwrap(), 0);
    }

    #[test]
    fn a_corrupt_kind_is_reported_not_guessed() {
        let p = temp("corrupt");
        let mut s = Store::open(&p).unwrap();
        s.append_events(&[ev(1)]).unwrap();
        s.conn
            .execute("UPDATE events SET kind = 'exploded'", [])
            .unwrap();
        assert!(matches!(
            s.events_since(0, 10),
            Err(JournalError::Corrupt { .. })
        ));
    }
}
