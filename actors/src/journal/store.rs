//! The journal file: SQLite through rusqlite (bundled), WAL, versioned schema.

use crate::kernel::{Event, EventKind};
use crate::model::{Fill, Order, Outcome, Side};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

/// Schema migrations, applied in order; `PRAGMA user_version` is the number
/// applied. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: events and durable key/value state.
    "CREATE TABLE events (
        seq    INTEGER PRIMARY KEY,
        at_ms  INTEGER NOT NULL,
        kind   TEXT    NOT NULL,
        path   TEXT    NOT NULL,
        detail TEXT    NOT NULL
     );
     CREATE TABLE state (
        key    TEXT PRIMARY KEY,
        value  TEXT    NOT NULL,
        reason TEXT    NOT NULL,
        at_ms  INTEGER NOT NULL
     );",
    // 2: orders, fills and decision outcomes, namespaced by engine.
    "CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        engine          TEXT    NOT NULL,
        strategy        TEXT    NOT NULL,
        decision_seq    INTEGER NOT NULL,
        symbol          TEXT    NOT NULL,
        side            TEXT    NOT NULL,
        qty             TEXT    NOT NULL,
        ref_price       TEXT    NOT NULL,
        status          TEXT    NOT NULL,
        detail          TEXT    NOT NULL DEFAULT '',
        at_ms           INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL
     );
     CREATE INDEX orders_engine ON orders (engine, status);
     CREATE UNIQUE INDEX orders_decision ON orders (engine, decision_seq);
     CREATE TABLE fills (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT    NOT NULL UNIQUE REFERENCES orders (client_order_id),
        engine          TEXT    NOT NULL,
        symbol          TEXT    NOT NULL,
        side            TEXT    NOT NULL,
        qty             TEXT    NOT NULL,
        price           TEXT    NOT NULL,
        commission      TEXT    NOT NULL,
        at_ms           INTEGER NOT NULL
     );
     CREATE INDEX fills_engine ON fills (engine, id);
     CREATE TABLE outcomes (
        engine       TEXT    NOT NULL,
        decision_seq INTEGER NOT NULL,
        symbol       TEXT    NOT NULL,
        strategy     TEXT    NOT NULL,
        outcome      TEXT    NOT NULL,
        detail       TEXT    NOT NULL,
        at_ms        INTEGER NOT NULL,
        PRIMARY KEY (engine, decision_seq)
     );",
    // 3: the notifier's outbox: one row per notification per webhook, written
    // before it is sent, removed when delivered (or failed for good).
    "CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook    TEXT    NOT NULL,
        dedupe     TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        created_ms INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_ms    INTEGER NOT NULL,
        UNIQUE (webhook, dedupe)
     );
     CREATE INDEX outbox_order ON outbox (webhook, id);",
];

/// Notification kinds the outbox drops (oldest first) when it is full; the
/// others (risk, error, breaker, mode, recovery) are never dropped.
pub const DROPPABLE_KINDS: [&str; 2] = ["trade", "milestone"];

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

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("journal {path}: cannot create its directory: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}: schema version {found} is newer than this commodore knows ({known}); run a newer commodore")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("journal {path}: corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "order log {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    OrderLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}: its last write failed: no order is journaled (or sent) until it answers again")]
    Failing { path: PathBuf },
}

/// One row of durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub key: String,
    pub value: String,
    pub reason: String,
    pub at_ms: u64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Every commit is `synchronous = FULL` (an engine's connection, whose
    /// writes are orders and fills): no switching per transaction.
    always_full: bool,
}

fn sqlite_at(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Sqlite {
        path: path.to_owned(),
        source,
    }
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

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T, JournalError> {
        r.map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn setup(&mut self) -> Result<(), JournalError> {
        // WAL: readers never block the writer. NORMAL is durable across process
        // crashes in WAL mode; changes that must survive power loss use `durable`.
        // A 256 KiB page cache per connection: the working set is the tail of a
        // few tables, and every engine holds connections of its own.
        let r = self.conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -256;",
        );
        self.sql(r)?;
        let found: u32 = {
            let r = self
                .conn
                .query_row("PRAGMA user_version", [], |row| row.get(0));
            self.sql(r)?
        };
        if found > SCHEMA_VERSION {
            return Err(JournalError::TooNew {
                path: self.path.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        let path = self.path.clone();
        for (i, m) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction().map_err(sqlite_at(&path))?;
            let r = tx
                .execute_batch(m)
                .and_then(|_| tx.pragma_update(None, "user_version", (i + 1) as u32));
            r.and_then(|_| tx.commit()).map_err(sqlite_at(&path))?;
        }
        Ok(())
    }

    /// The highest event sequence number written, 0 for a new journal.
    pub fn last_seq(&self) -> Result<u64, JournalError> {
        let r = self
            .conn
            .query_row("SELECT MAX(seq) FROM events", [], |row| {
                row.get::<_, Option<i64>>(0)
            });
        Ok(self.sql(r)?.unwrap_or(0) as u64)
    }

    /// Appends events in one transaction (one commit for the batch). Events at or
    /// below the last written seq are skipped (a replay after a restart).
    /// Returns how many were written.
    pub fn append_events(&mut self, events: &[Event]) -> Result<usize, JournalError> {
        let last = self.last_seq()?;
        // Invariant, checked before writing: strictly increasing seq.
        if let Some(w) = events.windows(2).find(|w| w[1].seq <= w[0].seq) {
            return Err(JournalError::Corrupt {
                path: self.path.clone(),
                what: format!("events out of order: seq {} after {}", w[1].seq, w[0].seq),
            });
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sqlite_at(&path))?;
        let mut written = 0;
        {
            let stmt = tx.prepare_cached(
                "INSERT INTO events (seq, at_ms, kind, path, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            );
            let mut stmt = stmt.map_err(sqlite_at(&path))?;
            for e in events.iter().filter(|e| e.seq > last) {
                stmt.execute(params![
                    e.seq as i64,
                    e.at_ms as i64,
                    e.kind.as_str(),
                    e.path,
                    e.detail
                ])
                .map_err(sqlite_at(&path))?;
                written += 1;
            }
        }
        tx.commit().map_err(sqlite_at(&path))?;
        Ok(written)
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

    /// Writes a state value with `synchronous = FULL`: it survives power loss, not
    /// only a crash of the process. For risk level, mode and order changes.
    pub fn put_state_durable(
        &mut self,
        key: &str,
        value: &str,
        reason: &str,
        at_ms: u64,
    ) -> Result<(), JournalError> {
        self.durable(|tx| {
            tx.execute(
                "INSERT INTO state (key, value, reason, at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, reason = excluded.reason, at_ms = excluded.at_ms",
                params![key, value, reason, at_ms as i64],
            )
        })
        .map(|_| ())
    }

    /// A state value with its reason and time, if set.
    pub fn state_entry(&self, key: &str) -> Result<Option<StateEntry>, JournalError> {
        let r = self
            .conn
            .query_row(
                "SELECT value, reason, at_ms FROM state WHERE key = ?1",
                params![key],
                |row| {
                    Ok(StateEntry {
                        key: key.to_owned(),
                        value: row.get(0)?,
                        reason: row.get(1)?,
                        at_ms: row.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional();
        self.sql(r)
    }

    /// Every state entry whose key starts with `prefix`, by key.
    pub fn state_prefixed(&self, prefix: &str) -> Result<Vec<StateEntry>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT key, value, reason, at_ms FROM state WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params![prefix], |row| {
            Ok(StateEntry {
                key: row.get(0)?,
                value: row.get(1)?,
                reason: row.get(2)?,
                at_ms: row.get::<_, i64>(3)? as u64,
            })
        });
        let rows = rows.map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|source| JournalError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// A state value and its reason, if set.
    pub fn state(&self, key: &str) -> Result<Option<(String, String)>, JournalError> {
        let r = self
            .conn
            .query_row(
                "SELECT value, reason FROM state WHERE key = ?1",
                params![key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional();
        self.sql(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction committed with `synchronous = FULL`.
    fn durable<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        if self.always_full {
            let result = self
                .conn
                .transaction()
                .and_then(|tx| f(&tx).and_then(|v| tx.commit().map(|_| v)));
            return self.sql(result);
        }
        let r = self.conn.execute_batch("PRAGMA synchronous = FULL");
        self.sql(r)?;
        let result = self
            .conn
            .transaction()
            .and_then(|tx| f(&tx).and_then(|v| tx.commit().map(|_| v)));
        let reset = self.conn.execute_batch("PRAGMA synchronous = NORMAL");
        let v = self.sql(result)?;
        self.sql(reset)?;
        Ok(v)
    }

    /// Queues notifications and sets state entries (the notifier's cursor) in
    /// one durable transaction: a notification is queued exactly once. A row
    /// whose (webhook, dedupe) is queued already is skipped. Past `max` rows the
    /// oldest droppable ones (`DROPPABLE_KINDS`) are deleted. Returns (queued,
    /// dropped).
    pub fn enqueue(
        &mut self,
        rows: &[OutboxRow],
        state: &[(&str, String)],
        max: usize,
        at_ms: u64,
    ) -> Result<(usize, usize), JournalError> {
        self.durable(|tx| {
            let mut queued = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO outbox (webhook, dedupe, kind, body, created_ms, attempts, next_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5)",
                )?;
                for r in rows {
                    queued += insert.execute(params![r.webhook, r.dedupe, r.kind, r.body, r.created_ms as i64])?;
                }
                let mut put = tx.prepare_cached(
                    "INSERT INTO state (key, value, reason, at_ms) VALUES (?1, ?2, 'notifier', ?3)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, at_ms = excluded.at_ms",
                )?;
                for (k, v) in state {
                    put.execute(params![k, v, at_ms as i64])?;
                }
            }
            let len: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            let over = (len - max as i64).max(0);
            let dropped = if over > 0 {
                tx.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind IN ('trade', 'milestone')
                     ORDER BY id LIMIT ?1)",
                    params![over],
                )?
            } else {
                0
            };
            Ok((queued, dropped))
        })
    }

    /// The oldest notification for `webhook`, if it is due at `now_ms`: a
    /// webhook gets its notifications in order, and while the oldest waits for
    /// its retry the others wait behind it.
    pub fn next_due(&self, webhook: &str, now_ms: u64) -> Result<Option<OutboxRow>, JournalError> {
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
        Ok(self.sql(r)?.filter(|row| row.next_ms <= now_ms))
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

    /// Notifications waiting, per kind.
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

    /// Journals an order as `pending` before it is sent, with its decision's
    /// `executed` outcome, in one durable transaction. A second order with the
    /// same client order id or decision is refused: that is the order's identity.
    pub fn insert_order(&mut self, o: &Order, outcome: &OutcomeRow) -> Result<(), JournalError> {
        check_order(o, &self.path)?;
        let now = crate::model::now_ms();
        self.durable(|tx| {
            insert_pending(tx, o, now, Conflict::Refuse)?;
            insert_outcome(tx, outcome)
        })
        .map(|_| ())
    }

    /// Moves orders from the order log into `orders` (`pending`) with their
    /// `executed` outcomes, and then the other outcomes the log holds (in
    /// their order, a later one of a decision replacing an earlier one), in
    /// one durable transaction. An order already here (moved before, then
    /// settled) is left as it is. Returns how many orders were new.
    pub fn absorb_log(
        &mut self,
        logged: &[super::LoggedOrder],
        outcomes: &[OutcomeRow],
    ) -> Result<usize, JournalError> {
        if logged.is_empty() && outcomes.is_empty() {
            return Ok(0);
        }
        self.durable(|tx| {
            let mut new = 0;
            for l in logged {
                new += insert_pending(tx, &l.order, l.created_ms, Conflict::Ignore)?;
                insert_outcome_as(tx, &l.outcome, Conflict::Ignore)?;
            }
            for o in outcomes {
                insert_outcome_as(tx, o, Conflict::Replace)?;
            }
            Ok(new)
        })
    }

    /// Journals a fill and marks its order `filled`, in one durable transaction.
    /// Returns the fill's journal id (increasing), or `None` (and writes nothing)
    /// when the order already has its fill.
    pub fn record_fill(&mut self, f: &Fill) -> Result<Option<u64>, JournalError> {
        self.durable(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE orders SET status = 'filled' WHERE client_order_id = ?1 AND status = 'pending'",
                )?
                .execute(params![f.client_order_id])?;
            if n == 0 {
                return Ok(None);
            }
            tx.prepare_cached(
                "INSERT INTO fills (client_order_id, engine, symbol, side, qty, price, commission, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                    f.client_order_id,
                    f.engine,
                    f.symbol,
                    f.side.as_str(),
                    f.qty.to_string(),
                    f.price.to_string(),
                    f.commission.to_string(),
                    f.at_ms as i64
                ])?;
            Ok(Some(tx.last_insert_rowid() as u64))
        })
    }

    /// Marks a pending order `rejected` with the broker's reason (durable).
    pub fn reject_order(&mut self, client_order_id: &str, why: &str) -> Result<(), JournalError> {
        self.durable(|tx| {
            tx.execute(
                "UPDATE orders SET status = 'rejected', detail = ?2 WHERE client_order_id = ?1 AND status = 'pending'",
                params![client_order_id, why],
            )
        })
        .map(|_| ())
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

    /// Orders of `engine` journaled but not acknowledged (neither filled nor
    /// rejected) and journaled at or before `created_before_ms` (wall time): to
    /// re-drive. Oldest first, with their journal time.
    pub fn pending_orders(
        &self,
        engine: &str,
        created_before_ms: u64,
    ) -> Result<Vec<(u64, Order)>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT client_order_id, strategy, decision_seq, symbol, side, qty, ref_price, at_ms, created_ms
                 FROM orders WHERE engine = ?1 AND status = 'pending' AND created_ms <= ?2 ORDER BY decision_seq",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(
            params![engine, created_before_ms.min(i64::MAX as u64) as i64],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            },
        );
        let rows: Vec<_> = self
            .sql(rows)?
            .collect::<Result<_, _>>()
            .map_err(sqlite_at(&self.path))?;
        rows.into_iter()
            .map(
                |(id, strategy, seq, symbol, side, qty, price, at, created)| {
                    Ok((
                        created as u64,
                        Order {
                            client_order_id: id,
                            engine: engine.to_owned(),
                            strategy,
                            decision_seq: seq as u64,
                            symbol,
                            side: self.side(&side)?,
                            qty: self.decimal(&qty, "qty")?,
                            ref_price: self.decimal(&price, "ref_price")?,
                            at_ms: at as u64,
                        },
                    ))
                },
            )
            .collect()
    }

    /// Every fill of `engine` with its journal id, in the order they were
    /// journaled: positions and PnL are rebuilt from these.
    pub fn fills(&self, engine: &str) -> Result<Vec<(u64, Fill)>, JournalError> {
        self.fills_after(engine, 0)
    }

    /// The fills of `engine` with a journal id above `after_id`, in order.
    pub fn fills_after(
        &self,
        engine: &str,
        after_id: u64,
    ) -> Result<Vec<(u64, Fill)>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT client_order_id, symbol, side, qty, price, commission, at_ms, id
                 FROM fills WHERE engine = ?1 AND id > ?2 ORDER BY id",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params![engine, after_id.min(i64::MAX as u64) as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        });
        let rows: Vec<_> = self
            .sql(rows)?
            .collect::<Result<_, _>>()
            .map_err(sqlite_at(&self.path))?;
        rows.into_iter()
            .map(|(id, symbol, side, qty, price, commission, at, rowid)| {
                Ok((
                    rowid as u64,
                    Fill {
                        client_order_id: id,
                        engine: engine.to_owned(),
                        symbol,
                        side: self.side(&side)?,
                        qty: self.decimal(&qty, "qty")?,
                        price: self.decimal(&price, "price")?,
                        commission: self.decimal(&commission, "commission")?,
                        at_ms: at as u64,
                    },
                ))
            })
            .collect()
    }

    /// The highest decision sequence `engine` has used (orders and outcomes), 0 if
    /// none: the next decision continues after it.
    pub fn last_decision_seq(&self, engine: &str) -> Result<u64, JournalError> {
        let r = self.conn.query_row(
            "SELECT MAX(s) FROM (SELECT MAX(decision_seq) AS s FROM orders WHERE engine = ?1
                                 UNION ALL SELECT MAX(decision_seq) FROM outcomes WHERE engine = ?1)",
            params![engine],
            |row| row.get::<_, Option<i64>>(0),
        );
        Ok(self.sql(r)?.unwrap_or(0) as u64)
    }

    /// Appends decision outcomes in one transaction (batched, not durable: a crash
    /// may lose the last batch, never an order or a fill).
    pub fn append_outcomes(&mut self, rows: &[OutcomeRow]) -> Result<(), JournalError> {
        // Outcome batches need no fsync of their own: on a durable connection
        // they are committed with `synchronous = NORMAL` (once a second per
        // engine, not once per order).
        if self.always_full {
            let r = self.conn.execute_batch("PRAGMA synchronous = NORMAL");
            self.sql(r)?;
            let result = self.append_outcomes_tx(rows);
            let r = self.conn.execute_batch("PRAGMA synchronous = FULL");
            self.sql(r)?;
            return result;
        }
        self.append_outcomes_tx(rows)
    }

    fn append_outcomes_tx(&mut self, rows: &[OutcomeRow]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sqlite_at(&path))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO outcomes (engine, decision_seq, symbol, strategy, outcome, detail, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(sqlite_at(&path))?;
            for o in rows {
                stmt.execute(params![
                    o.engine,
                    o.decision_seq as i64,
                    o.symbol,
                    o.strategy,
                    o.outcome.as_str(),
                    o.detail,
                    o.at_ms as i64
                ])
                .map_err(sqlite_at(&path))?;
            }
        }
        tx.commit().map_err(sqlite_at(&path))
    }

    /// Marks a pending order `rejected` and its decision `error`, in one durable
    /// transaction: the engine could not hand it to the executor.
    pub fn abandon_order(&mut self, o: &Order, outcome: &OutcomeRow) -> Result<(), JournalError> {
        self.durable(|tx| {
            tx.execute(
                "UPDATE orders SET status = 'rejected', detail = ?2 WHERE client_order_id = ?1 AND status = 'pending'",
                params![o.client_order_id, outcome.detail],
            )?;
            insert_outcome(tx, outcome)
        })
    }

    /// Outcome counts of `engine` (for tests and reports).
    pub fn outcome_counts(&self, engine: &str) -> Result<Vec<(String, u64)>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT outcome, COUNT(*) FROM outcomes WHERE engine = ?1 GROUP BY outcome ORDER BY outcome",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params![engine], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        });
        let out = self.sql(rows)?.collect::<Result<Vec<_>, _>>();
        out.map_err(sqlite_at(&self.path))
    }
}

/// The invariant of an order, checked before it is journaled (wherever): a
/// positive quantity and price.
pub(super) fn check_order(o: &Order, path: &Path) -> Result<(), JournalError> {
    if o.qty <= Decimal::ZERO || o.ref_price <= Decimal::ZERO {
        return Err(JournalError::Corrupt {
            path: path.to_owned(),
            what: format!(
                "order {} with qty {} at {}",
                o.client_order_id, o.qty, o.ref_price
            ),
        });
    }
    Ok(())
}

/// What an insert does with a row whose key is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conflict {
    /// Fails: a reused client order id or decision is refused.
    Refuse,
    /// Keeps the row there (moving the order log twice is harmless).
    Ignore,
    /// Replaces it (a decision's `executed` becomes `error`).
    Replace,
}

impl Conflict {
    fn insert(self) -> &'static str {
        match self {
            Conflict::Refuse => "INSERT",
            Conflict::Ignore => "INSERT OR IGNORE",
            Conflict::Replace => "INSERT OR REPLACE",
        }
    }
}

/// Inserts `o` as `pending`; returns the rows inserted (0 or 1).
fn insert_pending(
    tx: &rusqlite::Transaction<'_>,
    o: &Order,
    created_ms: u64,
    conflict: Conflict,
) -> rusqlite::Result<usize> {
    let sql = format!(
        "{} INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10)",
        conflict.insert()
    );
    tx.prepare_cached(&sql)?.execute(params![
        o.client_order_id,
        o.engine,
        o.strategy,
        o.decision_seq as i64,
        o.symbol,
        o.side.as_str(),
        o.qty.to_string(),
        o.ref_price.to_string(),
        o.at_ms as i64,
        created_ms as i64
    ])
}

fn insert_outcome(tx: &rusqlite::Transaction<'_>, o: &OutcomeRow) -> rusqlite::Result<()> {
    insert_outcome_as(tx, o, Conflict::Replace)
}

fn insert_outcome_as(
    tx: &rusqlite::Transaction<'_>,
    o: &OutcomeRow,
    conflict: Conflict,
) -> rusqlite::Result<()> {
    let sql = format!(
        "{} INTO outcomes (engine, decision_seq, symbol, strategy, outcome, detail, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        conflict.insert()
    );
    tx.prepare_cached(&sql)?
        .execute(params![
            o.engine,
            o.decision_seq as i64,
            o.symbol,
            o.strategy,
            o.outcome.as_str(),
            o.detail,
            o.at_ms as i64
        ])
        .map(|_| ())
}

/// One decision's outcome, as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow {
    pub engine: String,
    pub decision_seq: u64,
    pub symbol: String,
    pub strategy: String,
    pub outcome: Outcome,
    pub detail: String,
    pub at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("commodore-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("journal.sqlite")
    }

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 1_000 + seq,
            kind: EventKind::Started,
            path: format!("master/a{seq}"),
            detail: "d".into(),
        }
    }

    #[test]
    fn a_new_journal_is_migrated_and_empty() {
        let p = temp("new");
        let s = Store::open(&p).unwrap();
        assert_eq!(s.last_seq().unwrap(), 0);
        let v: u32 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
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
    fn a_journal_from_a_newer_commodore_is_refused() {
        let p = temp("newer");
        drop(Store::open(&p).unwrap());
        Connection::open(&p)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Store::open(&p).err().unwrap().to_string();
        assert!(err.contains("newer than this commodore knows"), "{err}");
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

    #[test]
    fn a_durable_connection_stays_full_after_an_outcome_batch() {
        let p = temp("full");
        let sync = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        let mut normal = Store::open(&p).unwrap();
        assert_eq!(sync(&normal), 1, "NORMAL");
        normal.put_state_durable("k", "v", "r", 1).unwrap();
        assert_eq!(sync(&normal), 1, "back to NORMAL after a durable write");
        let mut durable = Store::open_durable(&p).unwrap();
        assert_eq!(sync(&durable), 2, "FULL");
        let row = OutcomeRow {
            engine: "KC".into(),
            decision_seq: 1,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Vetoed,
            detail: "x".into(),
            at_ms: 1,
        };
        durable.append_outcomes(&[row]).unwrap();
        assert_eq!(sync(&durable), 2, "still FULL after a relaxed batch");
    }

    #[test]
    fn the_outbox_queues_once_and_at_its_bound_drops_only_the_oldest_trades() {
        let p = temp("outbox");
        let mut s = Store::open(&p).unwrap();
        let row = |dedupe: &str, kind: &str| OutboxRow {
            id: 0,
            webhook: "desk".into(),
            dedupe: dedupe.into(),
            kind: kind.into(),
            body: "{}".into(),
            created_ms: 1,
            attempts: 0,
            next_ms: 0,
        };
        let rows = [row("e1", "trade"), row("e2", "risk"), row("e3", "trade")];
        let cursor = [("notifier.cursor", "3".to_owned())];
        assert_eq!(s.enqueue(&rows, &cursor, 100, 1).unwrap(), (3, 0));
        assert_eq!(
            s.enqueue(&rows, &cursor, 100, 1).unwrap(),
            (0, 0),
            "queued once"
        );
        assert_eq!(s.state("notifier.cursor").unwrap().unwrap().0, "3");
        // Bound 3: a fourth (risk) row pushes out the oldest trade (e1).
        assert_eq!(s.enqueue(&[row("e4", "risk")], &[], 3, 1).unwrap(), (1, 1));
        let first = s.next_due("desk", 10).unwrap().unwrap();
        assert_eq!(first.dedupe, "e2");
        // Full of risk rows: nothing droppable is left, so none is dropped.
        s.outbox_done(first.id).unwrap();
        let risks: Vec<_> = (5..9).map(|i| row(&format!("e{i}"), "risk")).collect();
        assert_eq!(
            s.enqueue(&risks, &[], 3, 1).unwrap(),
            (4, 1),
            "e3 (trade) goes"
        );
        assert_eq!(s.outbox_len().unwrap(), 5, "risk rows are never dropped");
        // A retry makes the oldest not due until then, and the rest wait behind
        // it: a webhook gets its notifications in order.
        let r = s.next_due("desk", 10).unwrap().unwrap();
        s.outbox_retry(r.id, 1, 500).unwrap();
        assert_eq!(s.next_due("desk", 499).unwrap(), None);
        assert_eq!(s.next_due("desk", 500).unwrap().unwrap().id, r.id);
        assert_eq!(s.outbox_forget_others(&["other".into()]).unwrap(), 5);
    }

    #[test]
    fn durable_state_round_trips() {
        let p = temp("state");
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.state("risk").unwrap(), None);
        s.put_state_durable("risk", "HALT", "drawdown 6%", 1)
            .unwrap();
        s.put_state_durable("risk", "PANIC", "operator", 2).unwrap();
        s.put_state_durable("engine.KC.paused", "true", "r", 3)
            .unwrap();
        s.put_state_durable("engine_x", "false", "not mine", 4)
            .unwrap();
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(
            s.state("risk").unwrap(),
            Some(("PANIC".into(), "operator".into()))
        );
        assert_eq!(s.state_entry("risk").unwrap().unwrap().at_ms, 2);
        let paused = s.state_prefixed("engine.").unwrap();
        assert_eq!(paused.len(), 1, "{paused:?}");
        assert_eq!(
            (paused[0].key.as_str(), paused[0].value.as_str()),
            ("engine.KC.paused", "true")
        );
    }
}
