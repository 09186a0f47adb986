//! The journal file: SQLite through rusqlite (bundled), WAL, versioned schema.
//!
//! `Store` is one connection to it; each table family adds its own
//! `impl Store` in a file of its own, all sharing that connection:
//!
//! - `schema.rs`: the migrations and the connection's setup.
//! - `events.rs`: the kernel events copied into SQLite.
//! - `state.rs`: durable key/value rows.
//! - `orders.rs`: orders and decision outcomes, and the order invariant.
//! - `fills.rs`: fills.
//! - `outbox.rs`: the notifier's outbox (storage only; its policy is the
//!   notifier's).
//! - `summary.rs`: what the daily reconciliation reads (holdings from the
//!   fills, pending orders, a day's counts).
//!
//! Invariant: a change that must survive power loss is committed with
//! `synchronous = FULL` (`durable`), and a connection is left with the
//! synchronous setting it was opened with.

mod archive;
mod carry;
mod error;
mod events;
mod fills;
mod orders;
mod outbox;
mod schema;
mod state;
mod summary;

pub use archive::{archive_path, Archived};
pub use carry::{orders_archive_path, ArchivedOrders, Carried};
pub use error::JournalError;
pub(super) use orders::check_order;
pub use orders::{Fate, OutcomeRow};
pub use outbox::{OutboxRow, OutboxTrim};
pub use schema::SCHEMA_VERSION;
pub use state::StateEntry;
pub use summary::DayCounts;

use crate::model::Side;
use rusqlite::{Connection, TransactionBehavior};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Every commit is `synchronous = FULL` (an engine's connection, whose
    /// writes are orders and fills): no switching per transaction.
    always_full: bool,
    /// Off: nothing is flushed to disk, not even by `durable` (a replay's
    /// journal, which nothing recovers from).
    fsync: Fsync,
}

/// Whether a journal's writes are flushed to disk. `On` everywhere the daemon
/// recovers from; `Off` only for a replay's own journal, which is read once
/// for its report and never recovered from (the report says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    #[default]
    On,
    Off,
}

impl Store {
    /// Opens (creating if needed) and migrates the journal at `path`.
    pub fn open(path: &Path) -> Result<Store, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Dir {
                path: path.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| JournalError::Sqlite {
            path: path.to_owned(),
            source,
        })?;
        // No lookaside memory: SQLite reserves ~120 KiB per connection for it by
        // default, and every engine holds connections of its own.
        // SAFETY: the handle is valid (just opened) and nothing has allocated
        // from the lookaside yet; a null buffer with size 0 turns it off. The
        // workspace's one `unsafe` (rusqlite has no safe call for this option).
        #[allow(unsafe_code)]
        unsafe {
            rusqlite::ffi::sqlite3_db_config(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
                std::ptr::null_mut::<std::ffi::c_void>(),
                0 as std::ffi::c_int,
                0 as std::ffi::c_int,
            );
        }
        let mut store = Store {
            conn,
            path: path.to_owned(),
            always_full: false,
            fsync: Fsync::On,
        };
        store.setup()?;
        Ok(store)
    }

    /// A connection whose every commit is durable against power loss
    /// (`synchronous = FULL`): for a writer of orders and fills, which saves
    /// switching the setting around each of them.
    pub fn open_durable(path: &Path) -> Result<Store, JournalError> {
        let mut store = Store::open(path)?;
        let r = store.conn.execute_batch("PRAGMA synchronous = FULL");
        store.sql(r)?;
        store.always_full = true;
        Ok(store)
    }

    /// The connection of a writer of orders and fills: `open_durable`, or
    /// with `Fsync::Off` one that never waits for the disk.
    pub fn open_for_orders(path: &Path, fsync: Fsync) -> Result<Store, JournalError> {
        if fsync == Fsync::On {
            return Store::open_durable(path);
        }
        let mut store = Store::open(path)?;
        let r = store.conn.execute_batch("PRAGMA synchronous = OFF");
        store.sql(r)?;
        store.fsync = Fsync::Off;
        Ok(store)
    }

    /// Merges the write-ahead log into the database file and empties it
    /// (`wal_checkpoint(TRUNCATE)`): after a clean stop `journal.sqlite`
    /// alone holds everything. `Ok(false)`: another connection still reads,
    /// the log is merged as far as it could be.
    pub fn checkpoint(&self) -> Result<bool, JournalError> {
        let r = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        Ok(self.sql(r)? == 0)
    }

    /// A consistent copy of the journal into `dest` (`VACUUM INTO`), taken
    /// while the daemon runs; `dest` must not exist.
    pub fn backup_to(&self, dest: &Path) -> Result<(), JournalError> {
        let r = self
            .conn
            .execute("VACUUM INTO ?1", [dest.to_string_lossy().as_ref()]);
        self.sql(r).map(|_| ())
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, JournalError> {
        r.map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction committed with `synchronous = FULL`; the
    /// transaction takes the write lock first (`IMMEDIATE`), so what it reads
    /// is what it writes after, whatever other connections do.
    fn durable<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        if self.always_full || self.fsync == Fsync::Off {
            let result = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .and_then(|tx| f(&tx).and_then(|v| tx.commit().map(|_| v)));
            return self.sql(result);
        }
        let r = self.conn.execute_batch("PRAGMA synchronous = FULL");
        self.sql(r)?;
        let result = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| f(&tx).and_then(|v| tx.commit().map(|_| v)));
        let reset = self.conn.execute_batch("PRAGMA synchronous = NORMAL");
        let v = self.sql(result)?;
        self.sql(reset)?;
        Ok(v)
    }

    fn decimal(&self, s: &str, what: &str) -> Result<Decimal, JournalError> {
        s.parse().map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            what: format!("{what} {s:?}: {e}"),
        })
    }

    fn side(&self, s: &str) -> Result<Side, JournalError> {
        s.parse().map_err(|what| JournalError::Corrupt {
            path: self.path.clone(),
            what,
        })
    }
}

/// What the journal's tests and its users' tests (the notifier's outbox)
/// build their journals and rows with.
#[cfg(test)]
pub(crate) mod testing {
    use super::OutboxRow;
    use std::path::PathBuf;

    /// A fresh journal path for test `name` (its directory emptied).
    pub(crate) fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("commodore-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("journal.sqlite")
    }

    /// A notification for the webhook `desk`, due at once.
    pub(crate) fn outbox_row(dedupe: &str, kind: &str) -> OutboxRow {
        OutboxRow {
            id: 0,
            webhook: "desk".into(),
            dedupe: dedupe.into(),
            kind: kind.into(),
            body: "{}".into(),
            created_ms: 1,
            attempts: 0,
            next_ms: 0,
        }
    }
}
