//! The paper broker's memory: one SQLite file per engine, its own, not the
//! journal's. Every order it answered (the newest [`PAPER_MEMORY`] of those
//! done; a working order is never pruned), each fill of each, and its
//! holdings per symbol (net contracts, cash, commissions; never pruned),
//! each change committed in one transaction before the broker answers.
//! The working orders are held in memory too, read back at every open, so
//! a restarted broker goes on working them.

use super::model::Working;
use crate::engine::broker::Known;
use crate::journal::Fsync;
use crate::model::{Fill, Holdings, Limit, Order};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

/// Where the paper broker of engine `engine` keeps its memory, beside the
/// journal at `journal` (in the order logs' directory).
pub fn paper_broker_path(journal: &Path, engine: &str) -> PathBuf {
    journal
        .parent()
        .unwrap_or(Path::new("."))
        .join("orders")
        .join(format!("{engine}.paper.sqlite"))
}

/// Whether the paper broker's memory at `path` holds orders still working
/// (read once when an engine's subtree is built: its broker must then hear
/// the market's bars, whatever the configuration says now). A memory that
/// cannot be read says no.
pub fn has_working(path: &Path) -> bool {
    if !path.exists() {
        return false;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    Connection::open_with_flags(path, flags)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM paper_book WHERE status = 'working'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .is_ok_and(|n| n > 0)
}

/// Orders done that the paper broker remembers (the newest; older ones are
/// pruned: far more than can be pending between a send and its lookup).
pub const PAPER_MEMORY: u64 = 10_000;
/// The paper broker prunes its memory once every this many orders.
pub(super) const PRUNE_EVERY: u64 = 256;

/// The paper broker's tables: the orders it answered, their fills (one row
/// per part) and its holdings per symbol.
pub const PAPER_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS paper_book (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('working', 'filled', 'ended', 'rejected')),
    reason TEXT NOT NULL DEFAULT '',
    engine TEXT NOT NULL DEFAULT '',
    strategy TEXT NOT NULL DEFAULT '',
    decision_seq INTEGER NOT NULL DEFAULT 0,
    symbol TEXT NOT NULL DEFAULT '',
    side TEXT NOT NULL DEFAULT '',
    qty TEXT NOT NULL DEFAULT '',
    ref_price TEXT NOT NULL DEFAULT '',
    limit_price TEXT NOT NULL DEFAULT '',
    expires_ms INTEGER NOT NULL DEFAULT 0,
    at_ms INTEGER NOT NULL DEFAULT 0,
    active_ms INTEGER NOT NULL DEFAULT 0,
    filled TEXT NOT NULL DEFAULT '0',
    parts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS paper_book_working ON paper_book (status);
CREATE TABLE IF NOT EXISTS paper_fills (
    client_order_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    engine TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (client_order_id, part)
);
CREATE TABLE IF NOT EXISTS paper_holdings (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    cash TEXT NOT NULL,
    commissions TEXT NOT NULL,
    fills INTEGER NOT NULL
)";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The paper broker's memory (see the module's notes).
pub(super) struct PaperBook {
    /// `None`: in memory.
    at: Option<PathBuf>,
    fsync: Fsync,
    conn: Option<Connection>,
    /// The working orders, in the order they came (as in the file).
    working: Vec<Working>,
    /// Orders answered by this instance (pruning runs every `PRUNE_EVERY`).
    answered: u64,
    /// How many orders done it remembers (`PAPER_MEMORY`).
    pub(super) keep: u64,
}

impl PaperBook {
    pub(super) fn new(at: Option<PathBuf>, fsync: Fsync) -> PaperBook {
        PaperBook {
            at,
            fsync,
            conn: None,
            working: Vec::new(),
            answered: 0,
            keep: PAPER_MEMORY,
        }
    }

    pub(super) fn name(&self) -> String {
        self.at
            .as_ref()
            .map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string())
    }

    /// A file's connection is dropped after an error (opened again, and its
    /// working orders read back, at the next use); an in-memory one is all
    /// there is.
    pub(super) fn failed(&mut self) {
        if self.at.is_some() {
            self.conn = None;
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, String> {
        if self.conn.is_none() {
            let conn = self.open().map_err(|e| e.to_string())?;
            self.working = read_working(&conn).map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("opened above"))
    }

    fn open(&self) -> Res<Connection> {
        let conn = match &self.at {
            None => Connection::open_in_memory()?,
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let created = !path.exists();
                let conn = Connection::open(path)?;
                #[cfg(unix)]
                if created {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
                }
                #[cfg(not(unix))]
                let _ = created;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                let sync = match self.fsync {
                    Fsync::On => "FULL",
                    Fsync::Off => "OFF",
                };
                conn.pragma_update(None, "synchronous", sync)?;
                // Asked a few times a second at most: a small cache.
                conn.pragma_update(None, "cache_size", -64)?;
                conn
            }
        };
        conn.execute_batch(PAPER_SCHEMA)?;
        from_one_fill_per_order(&conn)?;
        backfill_holdings(&conn)?;
        Ok(conn)
    }

    /// The working orders, as the file has them.
    pub(super) fn working(&mut self) -> Result<Vec<Working>, String> {
        self.conn()?;
        Ok(self.working.clone())
    }

    pub(super) fn holdings(&mut self) -> Result<Holdings, String> {
        self.read_holdings().map_err(|e| e.to_string())
    }

    fn read_holdings(&mut self) -> Res<Holdings> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT symbol, qty, cash, commissions, fills FROM paper_holdings ORDER BY symbol",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut h = Holdings::default();
        for row in rows {
            let (symbol, qty, cash, fees, fills) = row?;
            let dec = |s: &str, what: &str| {
                s.parse::<Decimal>()
                    .map_err(|_| format!("holdings of {symbol}: its {what} {s:?} does not read"))
            };
            let qty = dec(&qty, "qty")?;
            if !qty.is_zero() {
                h.positions.insert(symbol.clone(), qty);
            }
            h.cash += dec(&cash, "cash")?;
            h.commissions += dec(&fees, "commissions")?;
            h.fills += fills.max(0) as u64;
        }
        Ok(h)
    }

    pub(super) fn known(&mut self, id: &str) -> Result<Known, String> {
        self.read(id).map_err(|e| e.to_string())
    }

    fn read(&mut self, id: &str) -> Res<Known> {
        let conn = self.conn()?;
        let row = conn
            .prepare_cached("SELECT status, reason FROM paper_book WHERE client_order_id = ?1")?
            .query_row(params![id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        let Some((status, reason)) = row else {
            return Ok(Known::Unknown);
        };
        if status == "rejected" {
            return Ok(Known::Rejected(reason));
        }
        let fills = read_fills(conn, id)?;
        Ok(match status.as_str() {
            "working" => Known::Working(fills),
            "filled" => Known::Filled(fills),
            _ => Known::Ended { fills, why: reason },
        })
    }

    /// Remembers `id` refused for `why`, committed before it returns.
    pub(super) fn refuse(&mut self, id: &str, why: &str) -> Result<(), String> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO paper_book (client_order_id, status, reason) VALUES (?1, 'rejected', ?2)",
            )?
            .execute(params![id, why])?;
            Ok(())
        })
        .map_err(|e| e.to_string())
    }

    /// Takes a new order, with what filled at once: both (and the holdings
    /// the fill moves) or neither, committed before it returns; the answer
    /// is what it knows of the order then.
    pub(super) fn take(&mut self, mut w: Working, now: Option<Fill>) -> Result<Known, String> {
        if let Some(f) = &now {
            w.filled = f.qty;
            w.parts = 1;
        }
        let done = w.remaining() <= Decimal::ZERO;
        let o = w.order.clone();
        let (active, filled, parts) = (w.active_ms, w.filled, w.parts);
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO paper_book (client_order_id, status, engine, strategy, decision_seq, symbol,
                   side, qty, ref_price, limit_price, expires_ms, at_ms, active_ms, filled, parts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                o.client_order_id,
                if done { "filled" } else { "working" },
                o.engine,
                o.strategy,
                o.decision_seq.min(i64::MAX as u64) as i64,
                o.symbol,
                o.side.as_str(),
                o.qty.to_string(),
                o.ref_price.to_string(),
                o.limit.map_or_else(String::new, |l| l.price.to_string()),
                o.limit.map_or(0, |l| l.expires_ms.min(i64::MAX as u64) as i64),
                o.at_ms.min(i64::MAX as u64) as i64,
                active.min(i64::MAX as u64) as i64,
                filled.to_string(),
                parts
            ])?;
            if let Some(f) = &now {
                insert_fill(tx, f)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let fills: Vec<Fill> = now.into_iter().collect();
        if done {
            Ok(Known::Filled(fills))
        } else {
            self.working.push(w);
            Ok(Known::Working(fills))
        }
    }

    /// Records fill `f` of working order `w` (its next part), and the order
    /// filled when nothing is left.
    pub(super) fn filled(&mut self, w: &Working, f: &Fill) -> Result<(), String> {
        let filled = w.filled + f.qty;
        let done = filled >= w.order.qty;
        let id = w.order.client_order_id.clone();
        self.write(|tx| {
            insert_fill(tx, f)?;
            tx.prepare_cached(
                "UPDATE paper_book SET filled = ?2, parts = ?3,
                   status = CASE WHEN ?4 THEN 'filled' ELSE status END
                 WHERE client_order_id = ?1 AND status = 'working'",
            )?
            .execute(params![id, filled.to_string(), f.part, done])?;
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if done {
            self.working.retain(|x| x.order.client_order_id != id);
        } else if let Some(x) = self
            .working
            .iter_mut()
            .find(|x| x.order.client_order_id == id)
        {
            x.filled = filled;
            x.parts = f.part;
        }
        Ok(())
    }

    /// Ends working order `id` for `why` (expired, cancelled); `false`: it
    /// was not working.
    pub(super) fn end(&mut self, id: &str, why: &str) -> Result<bool, String> {
        self.conn()?;
        if !self.working.iter().any(|w| w.order.client_order_id == id) {
            return Ok(false);
        }
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE paper_book SET status = 'ended', reason = ?2
                 WHERE client_order_id = ?1 AND status = 'working'",
            )?
            .execute(params![id, why])?;
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        self.working.retain(|w| w.order.client_order_id != id);
        Ok(true)
    }

    /// Runs `change` in one transaction (committed, durably as configured,
    /// before it returns); prunes the oldest done orders beyond the memory
    /// now and then.
    fn write(&mut self, change: impl FnOnce(&rusqlite::Transaction<'_>) -> Res<()>) -> Res<()> {
        self.answered += 1;
        let (prune, keep) = (self.answered % PRUNE_EVERY == 1, self.keep);
        let conn = self.conn()?;
        let tx = conn.transaction()?;
        change(&tx)?;
        if prune {
            let keep = keep.min(i64::MAX as u64) as i64;
            tx.execute(
                "DELETE FROM paper_fills WHERE client_order_id IN
                   (SELECT client_order_id FROM paper_book WHERE status != 'working'
                    AND seq <= (SELECT MAX(seq) FROM paper_book) - ?1)",
                params![keep],
            )?;
            tx.execute(
                "DELETE FROM paper_book WHERE status != 'working'
                 AND seq <= (SELECT MAX(seq) FROM paper_book) - ?1",
                params![keep],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Inserts a fill and moves the holdings of its symbol by it.
fn insert_fill(tx: &Connection, f: &Fill) -> Res<()> {
    tx.prepare_cached(
        "INSERT INTO paper_fills (client_order_id, part, engine, symbol, side, qty, price, commission, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        f.client_order_id,
        f.part,
        f.engine,
        f.symbol,
        f.side.as_str(),
        f.qty.to_string(),
        f.price.to_string(),
        f.commission.to_string(),
        f.at_ms.min(i64::MAX as u64) as i64
    ])?;
    move_holdings(tx, f)
}

/// The fills of `id`, by part.
fn read_fills(conn: &Connection, id: &str) -> Res<Vec<Fill>> {
    let mut stmt = conn.prepare_cached(
        "SELECT engine, symbol, side, qty, price, commission, at_ms, part
         FROM paper_fills WHERE client_order_id = ?1 ORDER BY part",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok((texts::<6>(r, 0)?, r.get::<_, i64>(6)?, r.get::<_, u32>(7)?))
    })?;
    let mut fills = Vec::new();
    for row in rows {
        let ([engine, symbol, side, qty, price, commission], at_ms, part) = row?;
        let bad = |what: &str| format!("{id}: its {what} does not read");
        let dec = |s: &str, what: &str| s.parse::<Decimal>().map_err(|_| bad(what));
        fills.push(Fill {
            client_order_id: id.to_owned(),
            engine,
            symbol,
            side: side.parse().map_err(|_| bad("side"))?,
            qty: dec(&qty, "qty")?,
            price: dec(&price, "price")?,
            commission: dec(&commission, "commission")?,
            at_ms: at_ms.max(0) as u64,
            part,
        });
    }
    Ok(fills)
}

/// `N` text columns of `r` from `from` on.
fn texts<const N: usize>(r: &rusqlite::Row<'_>, from: usize) -> rusqlite::Result<[String; N]> {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (i, t) in out.iter_mut().enumerate() {
        *t = r.get(from + i)?;
    }
    Ok(out)
}

/// The working orders in the file, in the order they came.
fn read_working(conn: &Connection) -> Res<Vec<Working>> {
    let mut stmt = conn.prepare(
        "SELECT client_order_id, engine, strategy, symbol, side, qty, ref_price, limit_price, filled,
           decision_seq, expires_ms, at_ms, active_ms, parts
         FROM paper_book WHERE status = 'working' ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        let ints: [i64; 4] = [r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?];
        Ok((texts::<9>(r, 0)?, ints, r.get::<_, u32>(13)?))
    })?;
    let mut working = Vec::new();
    for row in rows {
        let (
            [id, engine, strategy, symbol, side, qty, ref_price, limit, filled],
            [seq, expires, at, active],
            parts,
        ) = row?;
        let bad = |what: &str| format!("working order {id}: its {what} does not read");
        let dec = |s: &str, what: &str| s.parse::<Decimal>().map_err(|_| bad(what));
        let limit = if limit.is_empty() {
            None
        } else {
            Some(Limit {
                price: dec(&limit, "limit price")?,
                expires_ms: expires.max(0) as u64,
            })
        };
        working.push(Working {
            order: Order {
                client_order_id: id.clone(),
                engine,
                strategy,
                decision_seq: seq.max(0) as u64,
                symbol,
                side: side.parse().map_err(|_| bad("side"))?,
                qty: dec(&qty, "qty")?,
                ref_price: dec(&ref_price, "reference price")?,
                at_ms: at.max(0) as u64,
                limit,
            },
            active_ms: active.max(0) as u64,
            filled: dec(&filled, "filled quantity")?,
            parts,
        });
    }
    Ok(working)
}

/// Moves the holdings of the fill's symbol by the fill.
fn move_holdings(tx: &Connection, f: &Fill) -> Res<()> {
    let row = tx
        .prepare_cached(
            "SELECT qty, cash, commissions, fills FROM paper_holdings WHERE symbol = ?1",
        )?
        .query_row(params![f.symbol], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let mut h = Holdings::default();
    if let Some((qty, cash, fees, fills)) = row {
        let dec = |s: &str| {
            s.parse::<Decimal>()
                .map_err(|_| format!("holdings of {}: {s:?} does not read", f.symbol))
        };
        h.positions.insert(f.symbol.clone(), dec(&qty)?);
        h.cash = dec(&cash)?;
        h.commissions = dec(&fees)?;
        h.fills = fills.max(0) as u64;
    }
    h.apply(f)?;
    tx.prepare_cached(
        "INSERT INTO paper_holdings (symbol, qty, cash, commissions, fills)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (symbol) DO UPDATE SET
           qty = excluded.qty, cash = excluded.cash,
           commissions = excluded.commissions, fills = excluded.fills",
    )?
    .execute(params![
        f.symbol,
        h.position(&f.symbol).to_string(),
        h.cash.to_string(),
        h.commissions.to_string(),
        h.fills.min(i64::MAX as u64) as i64
    ])?;
    Ok(())
}

/// A memory written before orders could work (one fill per order, in
/// `paper_orders`): its answers move into `paper_book` and `paper_fills`,
/// once, in one transaction.
fn from_one_fill_per_order(conn: &Connection) -> Res<()> {
    let old: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'paper_orders'",
        [],
        |r| r.get(0),
    )?;
    if old == 0 {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(
        "INSERT OR IGNORE INTO paper_book (client_order_id, status, reason, engine, symbol, side, qty,
           ref_price, at_ms, active_ms, filled, parts)
         SELECT client_order_id, status, reason, engine, symbol, side, qty, price, at_ms, at_ms,
           CASE status WHEN 'filled' THEN qty ELSE '0' END, CASE status WHEN 'filled' THEN 1 ELSE 0 END
         FROM paper_orders ORDER BY seq;
         INSERT OR IGNORE INTO paper_fills (client_order_id, part, engine, symbol, side, qty, price, commission, at_ms)
         SELECT client_order_id, 1, engine, symbol, side, qty, price, commission, at_ms
         FROM paper_orders WHERE status = 'filled';
         DROP TABLE paper_orders;",
    )?;
    tx.commit()?;
    tracing::info!("the paper broker's memory moved to orders that fill in parts (a memory from an older build)");
    Ok(())
}

/// A memory written before the holdings table existed: its holdings are
/// rebuilt from the fills it still remembers (an older file pruned beyond
/// `PAPER_MEMORY` has lost some, and the reconciliation will say so).
fn backfill_holdings(conn: &Connection) -> Res<()> {
    let count = |sql: &str| -> rusqlite::Result<i64> { conn.query_row(sql, [], |r| r.get(0)) };
    if count("SELECT COUNT(*) FROM paper_holdings")? > 0
        || count("SELECT COUNT(*) FROM paper_fills")? == 0
    {
        return Ok(());
    }
    let ids: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT b.client_order_id FROM paper_book b
             JOIN paper_fills f ON f.client_order_id = b.client_order_id ORDER BY b.seq",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let tx = conn.unchecked_transaction()?;
    for id in ids {
        for f in read_fills(&tx, &id)? {
            move_holdings(&tx, &f)?;
        }
    }
    tx.commit()?;
    tracing::warn!("the paper broker's holdings were rebuilt from the orders it remembers (a memory from an older build)");
    Ok(())
}
