//! One journal connection shared by the actors of one engine (they run on the
//! same thread): half the connections, half the SQLite memory per engine.
//! Its writes are orders and fills, so every commit is `synchronous = FULL`.
//! Crash-only like the rest: a connection that fails a call is dropped and the
//! next call opens a new one.
//!
//! An engine's orders are journaled in its order log (`orderlog.rs`) before
//! they are sent; every use of the connection first moves what the log holds
//! into SQLite, so every reader of orders sees every order journaled.

use super::keys::{StateKey, WriteCheckRecord};
use super::orderlog::OrderLog;
use super::store::Fsync;
use super::store::{check_order, JournalError, OutcomeRow, Store};
use crate::model::Order;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct SharedStore {
    path: PathBuf,
    /// The engine whose orders go through the order log (none: straight to
    /// SQLite).
    engine: Option<(String, PathBuf)>,
    /// Whether its writes wait for the disk (`Off`: a replay's journal).
    fsync: Fsync,
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Option<Store>,
    log: Option<OrderLog>,
    /// The log may hold orders SQLite does not have yet (at first: a log a
    /// previous process left).
    unmoved: bool,
    /// The highest decision sequence journaled (an order or an outcome in the
    /// log); read once.
    last_seq: Option<u64>,
    /// A call on the journal failed: no order is journaled (so none is sent)
    /// until a write to SQLite succeeds again (a read succeeding proves
    /// nothing about writing a fill).
    failing: bool,
    /// Orders whose append failed and could not be cut back out of the log:
    /// never sent, so never moved into SQLite as pending.
    poisoned: Vec<String>,
}

/// Past this size of the order log (SQLite has not taken it for a while: the
/// journal is failing), outcomes stay in the engine's own bounded batch
/// instead; orders are never refused for it.
pub const MAX_OUTCOME_LOG_BYTES: u64 = 8 << 20;

/// Where engine `engine`'s order log lives beside the journal at `journal`.
pub fn order_log_path(journal: &Path, engine: &str) -> PathBuf {
    journal
        .parent()
        .unwrap_or(Path::new("."))
        .join("orders")
        .join(format!("{engine}.log"))
}

impl SharedStore {
    /// A connection without an order log (orders go straight to SQLite).
    pub fn new(path: &Path) -> SharedStore {
        SharedStore::with_log(path, None)
    }

    /// The connection of engine `engine`: its orders go through its order log.
    pub fn for_engine(path: &Path, engine: &str) -> SharedStore {
        SharedStore::with_log(
            path,
            Some((engine.to_owned(), order_log_path(path, engine))),
        )
    }

    /// The same connection, flushed to disk as `fsync` says (`Off` only for
    /// a replay's journal).
    pub fn with_fsync(mut self, fsync: Fsync) -> SharedStore {
        self.fsync = fsync;
        self
    }

    fn with_log(path: &Path, engine: Option<(String, PathBuf)>) -> SharedStore {
        SharedStore {
            path: path.to_owned(),
            fsync: Fsync::On,
            engine,
            inner: Mutex::new(Inner {
                conn: None,
                log: None,
                unmoved: true,
                last_seq: None,
                failing: false,
                poisoned: Vec::new(),
            }),
        }
    }

    fn io_error(&self, path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
        let path = path.to_owned();
        move |source| JournalError::OrderLog {
            path: path.clone(),
            source,
        }
    }

    /// Opens the connection if needed and moves the order log into it.
    fn ready<'a>(&self, inner: &'a mut Inner) -> Result<&'a mut Store, JournalError> {
        let Inner {
            conn,
            log,
            unmoved,
            poisoned,
            ..
        } = inner;
        if conn.is_none() {
            *conn = Some(Store::open_for_orders(&self.path, self.fsync)?);
        }
        let store = conn.as_mut().expect("opened above");
        let Some((_, log_path)) = &self.engine else {
            return Ok(store);
        };
        if !*unmoved {
            return Ok(store);
        }
        if log.is_none() {
            if !log_path.exists() {
                *unmoved = false;
                return Ok(store);
            }
            *log = Some(
                OrderLog::open(log_path)
                    .map_err(self.io_error(log_path))?
                    .with_fsync(self.fsync),
            );
        }
        let log = log.as_mut().expect("opened above");
        let mut read = log.read().map_err(self.io_error(log_path))?;
        if let Some(version) = read.foreign.first() {
            // Never thrown away: they may be orders that were sent.
            return Err(JournalError::Corrupt {
                path: log_path.clone(),
                what: format!(
                    "{} order records of another commodore (format {version}): run that version, or move the file away once its orders are settled",
                    read.foreign.len()
                ),
            });
        }
        if let Some((at, what)) = &read.damaged {
            // Only a torn tail is a crash artefact: this may be an order
            // that was sent. Never dropped, never guessed at.
            return Err(JournalError::Corrupt {
                path: log_path.clone(),
                what: format!(
                    "damaged record at byte offset {at} ({what}): not a torn tail, so not a crash artefact, and it may be an order that was sent; this engine's order path does not start on it. Settle the orders the file holds (one record a line) with the broker, then move the file away"
                ),
            });
        }
        if read.torn > 0 {
            tracing::warn!(
                log = %log_path.display(),
                lines = read.torn,
                at = read.torn_at.unwrap_or_default(),
                "order log: a torn tail was skipped (a record cut short by a crash or a failed write is an order that was never sent)"
            );
        }
        read.orders
            .retain(|l| !poisoned.contains(&l.order.client_order_id));
        // A decision whose order record is followed by another outcome of its
        // own is one whose journaling failed (the engine records `error` and
        // sends nothing): that order was never sent, it is not moved (its
        // `poisoned` mark may have died with a previous process).
        let failed: std::collections::HashSet<u64> = read
            .outcomes
            .iter()
            .filter(|r| r.outcome != crate::model::Outcome::Executed)
            .map(|r| r.decision_seq)
            .collect();
        read.orders.retain(|l| {
            let keep = !failed.contains(&l.order.decision_seq);
            if !keep {
                tracing::warn!(order = %l.order.client_order_id, "order log: an order whose journaling failed is not moved into the journal (it was never sent)");
            }
            keep
        });
        if read.orders.is_empty() {
            // Outcomes only: statistics, written as their batches are (no
            // disk flush of their own).
            if !read.outcomes.is_empty() {
                store.append_outcomes(&read.outcomes)?;
            }
            log.clear_unsynced().map_err(self.io_error(log_path))?;
        } else {
            store.absorb_log(&read.orders, &read.outcomes)?;
            log.clear().map_err(self.io_error(log_path))?;
        }
        poisoned.clear();
        *unmoved = false;
        Ok(store)
    }

    /// Runs `f` on the connection (opening it, and moving the order log into
    /// it, if needed). An error drops the connection, so the next call starts
    /// from a fresh one.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.call(&mut inner, f)
    }

    /// `f` on the ready connection; an error marks the journal failing and
    /// drops the connection.
    fn call<T>(
        &self,
        inner: &mut Inner,
        f: impl FnOnce(&mut Store) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let r = self.ready(inner).and_then(f);
        if r.is_err() {
            inner.failing = true;
            inner.conn = None;
        }
        r
    }

    /// Journals the outcome of a decision that sent no order in the engine's
    /// order log (written, not `fdatasync`ed: it survives `kill -9`); moved
    /// into SQLite at the connection's next use. `Ok(false)`: this connection
    /// has no order log, the caller keeps the row for a batch.
    pub fn log_outcome(&self, row: &OutcomeRow) -> Result<bool, JournalError> {
        let Some((_, log_path)) = &self.engine else {
            return Ok(false);
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.log.is_none() {
            inner.log = Some(
                OrderLog::open(log_path)
                    .map_err(self.io_error(log_path))?
                    .with_fsync(self.fsync),
            );
        }
        let log = inner.log.as_mut().expect("opened above");
        if log.written() >= MAX_OUTCOME_LOG_BYTES {
            return Ok(false);
        }
        if let Err(e) = log.append_outcome(row) {
            inner.log = None;
            inner.unmoved = true;
            return Err(self.io_error(log_path)(e));
        }
        inner.unmoved = true;
        if let Some(last) = inner.last_seq.as_mut() {
            *last = (*last).max(row.decision_seq);
        }
        Ok(true)
    }

    /// Journals an order durably, with its decision's `executed` outcome,
    /// before it is sent: in the engine's order log (one write and one
    /// `fdatasync`), or straight into SQLite without one. Refused: a
    /// non-positive quantity or price, a decision sequence not above every one
    /// journaled before (a decision id is never reused), and any order while
    /// the journal is failing (its fill could not be recorded). `now_ms`: when
    /// it is journaled, on the engine's clock.
    pub fn journal_order(
        &self,
        o: &Order,
        outcome: &OutcomeRow,
        now_ms: u64,
    ) -> Result<(), JournalError> {
        let Some((engine, log_path)) = &self.engine else {
            return self.with(|s| s.insert_order(o, outcome, now_ms));
        };
        check_order(o, log_path)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.failing {
            // Writing works again? One durable write says (a read would not).
            let probe = self.call(&mut inner, |s| {
                s.put_state_durable(
                    StateKey::JournalWriteCheck,
                    &WriteCheckRecord.encode(),
                    "order path",
                    now_ms,
                )
            });
            if probe.is_err() {
                return Err(JournalError::Failing {
                    path: self.path.clone(),
                });
            }
            inner.failing = false;
        }
        let last = match inner.last_seq {
            Some(last) => last,
            None => {
                let last = self.call(&mut inner, |s| s.last_decision_seq(engine))?;
                inner.last_seq = Some(last);
                last
            }
        };
        if o.decision_seq <= last {
            return Err(JournalError::Corrupt {
                path: log_path.clone(),
                what: format!(
                    "order {}: decision {} is not above the last one journaled ({last}); a decision id is never reused",
                    o.client_order_id, o.decision_seq
                ),
            });
        }
        if inner.log.is_none() {
            inner.log = Some(
                OrderLog::open(log_path)
                    .map_err(self.io_error(log_path))?
                    .with_fsync(self.fsync),
            );
        }
        let log = inner.log.as_mut().expect("opened above");
        if let Err((e, cut)) = log.append(o, outcome, now_ms) {
            // The disk is in trouble: no order until a write succeeds again.
            // The record was cut back out of the log; if it could not be, it
            // is never moved into SQLite (so never re-driven and sent).
            inner.failing = true;
            inner.log = None;
            inner.unmoved = true;
            if !cut {
                tracing::error!(
                    order = %o.client_order_id,
                    log = %log_path.display(),
                    "an order whose journaling failed could not be cut out of the order log: it is kept out of the journal"
                );
                inner.poisoned.push(o.client_order_id.clone());
            }
            return Err(self.io_error(log_path)(e));
        }
        inner.unmoved = true;
        inner.last_seq = Some(o.decision_seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Outcome, Side};
    use rust_decimal::Decimal;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("commodore-shared-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("journal.sqlite")
    }

    fn order(seq: u64) -> (Order, OutcomeRow) {
        let id = format!("KC-news-{seq}");
        (
            Order {
                limit: None,
                client_order_id: id.clone(),
                engine: "KC".into(),
                strategy: "news".into(),
                decision_seq: seq,
                symbol: "KC".into(),
                side: Side::Buy,
                qty: Decimal::from(2),
                ref_price: "300.05".parse().unwrap(),
                at_ms: 5,
            },
            OutcomeRow {
                engine: "KC".into(),
                decision_seq: seq,
                symbol: "KC".into(),
                strategy: "news".into(),
                outcome: Outcome::Executed,
                detail: id,
                at_ms: 5,
            },
        )
    }

    fn pending(s: &SharedStore) -> Vec<u64> {
        s.with(|st| st.pending_orders("KC", u64::MAX))
            .unwrap()
            .into_iter()
            .map(|(_, o)| o.decision_seq)
            .collect()
    }

    #[test]
    fn a_logged_order_survives_a_crash_before_it_reached_sqlite() {
        let p = temp("crash");
        let s = SharedStore::for_engine(&p, "KC");
        let (o, r) = order(1);
        s.journal_order(&o, &r, 1).unwrap();
        // The process dies here: nothing moved the log into SQLite.
        drop(s);
        assert!(std::fs::metadata(order_log_path(&p, "KC")).unwrap().len() > 0);
        let s = SharedStore::for_engine(&p, "KC");
        assert_eq!(pending(&s), vec![1], "read back as pending: re-driven");
        let counts = s.with(|st| st.outcome_counts("KC")).unwrap();
        assert_eq!(counts, vec![("executed".to_owned(), 1)]);
        assert_eq!(
            std::fs::metadata(order_log_path(&p, "KC")).unwrap().len(),
            0,
            "emptied once in SQLite"
        );
        // Moved once: a fill settles it, and moving again changes nothing.
        let fill = crate::model::Fill {
            part: 1,
            client_order_id: o.client_order_id.clone(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side: Side::Buy,
            qty: Decimal::from(2),
            price: o.ref_price,
            commission: Decimal::ZERO,
            at_ms: 6,
        };
        assert!(s.with(|st| st.record_fill(&fill)).unwrap().is_some());
        assert_eq!(pending(&s), Vec::<u64>::new());
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn outcomes_in_the_log_survive_a_crash_and_the_last_one_of_a_decision_wins() {
        let p = temp("outcomes");
        let s = SharedStore::for_engine(&p, "KC");
        let row = |seq: u64, outcome: Outcome| OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome,
            detail: String::new(),
            at_ms: 5,
        };
        assert!(s.log_outcome(&row(1, Outcome::Buffered)).unwrap());
        let (o, r) = order(2);
        s.journal_order(&o, &r, 1).unwrap();
        assert!(s.log_outcome(&row(3, Outcome::Vetoed)).unwrap());
        // A later outcome of a decision replaces the earlier one.
        assert!(s.log_outcome(&row(3, Outcome::Error)).unwrap());
        // An order whose journaling failed after all (the engine records
        // `error` and sends nothing): never moved as pending.
        let (o4, r4) = order(4);
        s.journal_order(&o4, &r4, 1).unwrap();
        assert!(s.log_outcome(&row(4, Outcome::Error)).unwrap());
        // A decision logged as an outcome is not reused by an order either.
        let (o3, r3) = order(3);
        assert!(s.journal_order(&o3, &r3, 1).is_err());
        // The process dies: nothing reached SQLite.
        drop(s);
        let s = SharedStore::for_engine(&p, "KC");
        let counts = s.with(|st| st.outcome_counts("KC")).unwrap();
        assert_eq!(
            counts,
            [("buffered", 1), ("error", 2), ("executed", 1)].map(|(k, n)| (k.to_owned(), n))
        );
        assert_eq!(pending(&s), vec![2], "4 was never sent");
        assert_eq!(s.with(|st| st.last_decision_seq("KC")).unwrap(), 4);
        // Without an order log, the caller keeps its rows.
        assert!(!SharedStore::new(&p)
            .log_outcome(&row(4, Outcome::Vetoed))
            .unwrap());
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn a_decision_id_is_never_journaled_twice() {
        let p = temp("reuse");
        let s = SharedStore::for_engine(&p, "KC");
        let (o, r) = order(3);
        s.journal_order(&o, &r, 1).unwrap();
        let again = s.journal_order(&o, &r, 1).unwrap_err().to_string();
        assert!(again.contains("never reused"), "{again}");
        drop(s);
        // A new process reads the last decision from the journal.
        let s = SharedStore::for_engine(&p, "KC");
        let (o2, r2) = order(2);
        assert!(s.journal_order(&o2, &r2, 1).is_err());
        let (o4, r4) = order(4);
        s.journal_order(&o4, &r4, 1).unwrap();
        assert_eq!(pending(&s), vec![3, 4]);
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn no_order_is_journaled_while_the_journal_fails() {
        let p = temp("failing");
        let s = SharedStore::for_engine(&p, "KC");
        let (o, r) = order(1);
        s.journal_order(&o, &r, 1).unwrap();
        // The disk refuses writes (as a full one would) and a call fails.
        let refuse = |on: bool| {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute_batch(if on {
                "CREATE TRIGGER no_insert BEFORE INSERT ON state BEGIN SELECT RAISE(FAIL, 'disk says no'); END;
                 CREATE TRIGGER no_update BEFORE UPDATE ON state BEGIN SELECT RAISE(FAIL, 'disk says no'); END;"
            } else {
                "DROP TRIGGER no_insert; DROP TRIGGER no_update;"
            })
            .unwrap();
        };
        refuse(true);
        let err: Result<(), _> = s.with(|_| {
            Err(JournalError::Corrupt {
                path: p.clone(),
                what: "a fill not written".into(),
            })
        });
        assert!(err.is_err());
        let (o2, r2) = order(2);
        let refused = s.journal_order(&o2, &r2, 1).unwrap_err().to_string();
        assert!(refused.contains("last write failed"), "{refused}");
        // A read that works proves nothing about writing a fill.
        assert_eq!(pending(&s), vec![1]);
        assert!(s.journal_order(&o2, &r2, 1).is_err());
        // Writes work again: orders are taken again.
        refuse(false);
        s.journal_order(&o2, &r2, 1).unwrap();
        assert_eq!(pending(&s), vec![1, 2]);
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn a_damaged_record_before_whole_ones_stops_the_connection_naming_file_and_offset() {
        let p = temp("damaged");
        let s = SharedStore::for_engine(&p, "KC");
        for seq in 1..=3 {
            let (o, r) = order(seq);
            s.journal_order(&o, &r, 1).unwrap();
        }
        // The process dies; a byte of the second record changes on disk.
        drop(s);
        let log = order_log_path(&p, "KC");
        let mut bytes = std::fs::read(&log).unwrap();
        let second = bytes[1..].iter().position(|b| *b == b'\n').unwrap() + 3;
        bytes[second + 10] ^= 0x01;
        std::fs::write(&log, &bytes).unwrap();
        let s = SharedStore::for_engine(&p, "KC");
        let err = s.with(|st| st.last_seq()).unwrap_err().to_string();
        assert!(err.contains(&log.display().to_string()), "{err}");
        assert!(err.contains(&format!("byte offset {second}")), "{err}");
        // Nothing moved, nothing dropped: the file is as it was.
        assert_eq!(std::fs::read(&log).unwrap(), bytes);
        let (o4, r4) = order(4);
        assert!(s.journal_order(&o4, &r4, 1).is_err(), "no order goes on it");
        // A torn tail (the last record cut short) is a crash's: tolerated.
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
        let s = SharedStore::for_engine(&p, "KC");
        for seq in 1..=2 {
            let (o, r) = order(seq);
            s.journal_order(&o, &r, 1).unwrap();
        }
        drop(s);
        let whole = std::fs::read(&log).unwrap();
        std::fs::write(&log, &whole[..whole.len() - 7]).unwrap();
        let s = SharedStore::for_engine(&p, "KC");
        assert_eq!(pending(&s), vec![1], "the torn order was never sent");
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn records_of_another_version_are_never_thrown_away() {
        let p = temp("foreign");
        let log = order_log_path(&p, "KC");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let body = "o9\tKC-news-7\tfrom a newer commodore";
        let sum = super::super::orderlog::checksum_of(body);
        std::fs::write(&log, format!("\n{body}\t{sum:016x}\n")).unwrap();
        let s = SharedStore::for_engine(&p, "KC");
        let err = s.with(|st| st.last_seq()).unwrap_err().to_string();
        assert!(err.contains("another commodore (format o9)"), "{err}");
        assert!(std::fs::metadata(&log).unwrap().len() > 0, "kept");
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}
