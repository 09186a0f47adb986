//! Journal retention: events older than `journal.retention` move to a monthly
//! archive file beside the journal (`archive/events-YYYY-MM.sqlite`, by the
//! UTC month of their time) and are counted per UTC day and kind in the
//! journal's `event_days`.
//!
//! Invariants:
//! - **Nothing is lost.** An event is in its archive file (committed, FULL)
//!   before the journal forgets it; a crash in between archives it again
//!   (the file's `seq` is its key: the second copy is ignored).
//! - **`seq` stays gapless and increasing.** The journal keeps its newest
//!   event, so the daemon always continues after it, and the archived events
//!   are exactly the journal's oldest: `event_days` ends at the seq before
//!   the journal's first (`check-journal` checks it).
//! - **Nothing un-notified is archived**: an event after `notifier.cursor`
//!   (webhooks still owe it) stays.
//! - `journal.archived_before` is the time before which events may be
//!   archived: a fill older than it may have lost its `order_filled` event
//!   to the archive (the check allows for it).

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::journal::keys::{CursorRecord, StateKey};
use crate::model::civil_from_days;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One archive file's table.
const ARCHIVE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq    INTEGER PRIMARY KEY,
    at_ms  INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    path   TEXT    NOT NULL,
    detail TEXT    NOT NULL
)";

/// One event as the journal holds it (its kind as written, whatever build
/// wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    seq: i64,
    at_ms: i64,
    kind: String,
    path: String,
    detail: String,
}

/// What one pass moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    pub events: u64,
    /// The archive files written to.
    pub files: Vec<PathBuf>,
    /// More are due: call again.
    pub more: bool,
}

/// `YYYY-MM` and `YYYY-MM-DD` of a time (UTC).
fn month_and_day(at_ms: i64) -> (String, String) {
    let (y, m, d) = civil_from_days(at_ms.max(0) / 86_400_000);
    (format!("{y:04}-{m:02}"), format!("{y:04}-{m:02}-{d:02}"))
}

/// Where the archive of month `month` (`YYYY-MM`) is, beside the journal.
pub fn archive_path(journal: &Path, month: &str) -> PathBuf {
    journal
        .parent()
        .unwrap_or(Path::new("."))
        .join("archive")
        .join(format!("events-{month}.sqlite"))
}

impl Store {
    /// Moves at most `limit` of the oldest events older than `before_ms` to
    /// their archive files (see the module's invariants).
    pub fn archive_events(
        &mut self,
        before_ms: u64,
        limit: usize,
    ) -> Result<Archived, JournalError> {
        let path = self.path.clone();
        let cursor = self
            .state(StateKey::NotifierCursor)?
            .and_then(|(v, _)| CursorRecord::decode(&v))
            .map_or(i64::MAX, |c| c.0.min(i64::MAX as u64) as i64);
        let newest = self.last_seq()?.min(i64::MAX as u64) as i64;
        let until = cursor.min(newest - 1);
        let before = before_ms.min(i64::MAX as u64) as i64;
        let batch: Vec<Row> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT seq, at_ms, kind, path, detail FROM events
                     WHERE seq <= ?1 AND at_ms < ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(sqlite_at(&path))?;
            let rows = stmt
                .query_map(params![until, before, (limit as i64) + 1], |r| {
                    Ok(Row {
                        seq: r.get(0)?,
                        at_ms: r.get(1)?,
                        kind: r.get(2)?,
                        path: r.get(3)?,
                        detail: r.get(4)?,
                    })
                })
                .map_err(sqlite_at(&path))?;
            rows.collect::<Result<_, _>>().map_err(sqlite_at(&path))?
        };
        // Only the oldest: stop at the first event not old enough (an event
        // stamped out of order keeps the ones after it here too).
        let first_kept = self
            .conn
            .query_row(
                "SELECT MIN(seq) FROM events WHERE seq > ?1 OR at_ms >= ?2",
                params![until, before],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(sqlite_at(&path))?
            .unwrap_or(i64::MAX);
        let mut batch: Vec<Row> = batch
            .into_iter()
            .take_while(|e| e.seq < first_kept)
            .collect();
        let more = batch.len() > limit;
        batch.truncate(limit);
        if batch.is_empty() {
            return Ok(Archived::default());
        }
        // 1. Into the archive files, durably.
        let mut by_month: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for e in &batch {
            by_month
                .entry(month_and_day(e.at_ms).0)
                .or_default()
                .push(e);
        }
        let mut files = Vec::new();
        for (month, events) in &by_month {
            let file = archive_path(&path, month);
            write_archive(&file, events).map_err(|e| JournalError::Corrupt {
                path: file.clone(),
                what: format!("the archive cannot be written: {e}"),
            })?;
            files.push(file);
        }
        // 2. Counted and forgotten here, in one transaction.
        let (first, last) = (batch[0].seq, batch[batch.len() - 1].seq);
        self.durable(|tx| {
            for e in &batch {
                tx.prepare_cached(
                    "INSERT INTO event_days (day, kind, count, first_seq, last_seq)
                     VALUES (?1, ?2, 1, ?3, ?3)
                     ON CONFLICT (day, kind) DO UPDATE SET
                       count = count + 1,
                       first_seq = MIN(first_seq, excluded.first_seq),
                       last_seq = MAX(last_seq, excluded.last_seq)",
                )?
                .execute(params![month_and_day(e.at_ms).1, e.kind, e.seq])?;
            }
            tx.execute(
                "DELETE FROM events WHERE seq >= ?1 AND seq <= ?2",
                params![first, last],
            )?;
            tx.execute(
                "INSERT INTO state (key, value, reason, at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)),
                 reason = excluded.reason, at_ms = excluded.at_ms",
                params![
                    StateKey::JournalArchivedBefore.name(),
                    before.to_string(),
                    "journal retention",
                    before
                ],
            )?;
            Ok(())
        })?;
        Ok(Archived {
            events: batch.len() as u64,
            files,
            more,
        })
    }

    /// The last seq the archive holds (0: none), from `event_days`.
    pub fn archived_up_to(&self) -> Result<u64, JournalError> {
        let r = self
            .conn
            .query_row("SELECT MAX(last_seq) FROM event_days", [], |r| {
                r.get::<_, Option<i64>>(0)
            });
        Ok(self.sql(r)?.unwrap_or(0).max(0) as u64)
    }
}

/// Opens (creating) an archive file: its directory 0700 and the file 0600,
/// as the journal's own (they hold the same orders and events).
pub(super) fn open_private(file: &Path) -> rusqlite::Result<Connection> {
    let created = !file.exists();
    if let Some(dir) = file.parent() {
        if !dir.exists() {
            let _ = std::fs::create_dir_all(dir);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
    }
    let conn = Connection::open(file)?;
    #[cfg(unix)]
    if created {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = created;
    Ok(conn)
}

fn write_archive(file: &Path, events: &[&Row]) -> rusqlite::Result<()> {
    let mut conn = open_private(file)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(ARCHIVE_SCHEMA)?;
    let tx = conn.transaction()?;
    for e in events {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO events (seq, at_ms, kind, path, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![e.seq, e.at_ms, e.kind, e.path, e.detail])?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::*;
    use crate::kernel::{Event, EventKind};

    const DAY: u64 = 86_400_000;

    fn ev(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at_ms,
            kind,
            path: "master".into(),
            detail: format!("event {seq}"),
        }
    }

    fn seqs(s: &Store) -> Vec<u64> {
        s.events_since(0, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn old_events_move_to_monthly_files_counted_per_day_and_the_newest_stays() {
        let p = temp("archive");
        let mut s = Store::open(&p).unwrap();
        // 2026-01-31 and 2026-02-01 (UTC), then today.
        let jan31 = 20_484 * DAY;
        s.append_events(&[
            ev(1, jan31 + 1, EventKind::Started),
            ev(2, jan31 + 2, EventKind::Restarted),
            ev(3, jan31 + DAY, EventKind::Started),
            ev(4, jan31 + 40 * DAY, EventKind::Started),
            ev(5, jan31 + 40 * DAY, EventKind::Started),
        ])
        .unwrap();
        let done = s.archive_events(jan31 + 2 * DAY, 2).unwrap();
        assert_eq!((done.events, done.more), (2, true), "bounded per pass");
        let done = s.archive_events(jan31 + 2 * DAY, 2).unwrap();
        assert_eq!((done.events, done.more), (1, false));
        assert_eq!(seqs(&s), [4, 5]);
        assert_eq!(s.archived_up_to().unwrap(), 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = archive_path(&p, "2026-01");
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(file.parent().unwrap()), 0o700);
        }
        let jan = Connection::open(archive_path(&p, "2026-01")).unwrap();
        let n: i64 = jan
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let feb = Connection::open(archive_path(&p, "2026-02")).unwrap();
        let detail: String = feb
            .query_row("SELECT detail FROM events WHERE seq = 3", [], |r| r.get(0))
            .unwrap();
        assert_eq!(detail, "event 3");
        let days: Vec<(String, String, i64)> = s
            .conn
            .prepare("SELECT day, kind, count FROM event_days ORDER BY day, kind")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            days,
            [
                ("2026-01-31".into(), "restarted".into(), 1),
                ("2026-01-31".into(), "started".into(), 1),
                ("2026-02-01".into(), "started".into(), 1)
            ]
        );
        // Everything old: the newest event stays, so seq goes on after it.
        s.archive_events(u64::MAX, 100).unwrap();
        assert_eq!(seqs(&s), [5]);
        assert_eq!(s.last_seq().unwrap(), 5);
        let before = s.state(StateKey::JournalArchivedBefore).unwrap().unwrap().0;
        assert_eq!(before, (i64::MAX).to_string());
    }

    #[test]
    fn events_the_webhooks_still_owe_stay_and_a_repeat_is_harmless() {
        let p = temp("archive-cursor");
        let mut s = Store::open(&p).unwrap();
        s.append_events(
            &(1..=6)
                .map(|i| ev(i, i, EventKind::Started))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        s.put_state_durable(StateKey::NotifierCursor, "2", "test", 1)
            .unwrap();
        s.archive_events(100, 100).unwrap();
        assert_eq!(seqs(&s), [3, 4, 5, 6], "3 and after not yet notified");
        // A crash after the archive was written and before the journal forgot:
        // the same rows again are ignored by the file.
        let file = archive_path(&p, "1970-01");
        let ev1 = Row {
            seq: 1,
            at_ms: 1,
            kind: "started".into(),
            path: "master".into(),
            detail: "event 1".into(),
        };
        write_archive(&file, &[&ev1]).unwrap();
        let n: i64 = Connection::open(&file)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}
