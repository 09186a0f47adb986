//! The `fills` table: an order's fills, one row per part, each journaled with
//! the order's move to `working` (more to come) or `filled` (done) in one
//! durable transaction; positions and PnL are rebuilt from these. Invariant:
//! a part of an order is journaled once (`UNIQUE (client_order_id, part)`),
//! only while its order is pending or working, and journal ids increase in
//! the order fills were journaled.

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::kernel::Pending;
use crate::model::Fill;
use rusqlite::params;

/// Marks the order `filled` (`done`) or `working` and inserts the fill: its
/// journal id, or `None` when the order was neither pending nor working
/// (settled already) or has this part already.
fn fill_tx(tx: &rusqlite::Transaction<'_>, f: &Fill, done: bool) -> rusqlite::Result<Option<u64>> {
    let n = tx
        .prepare_cached(
            "UPDATE orders SET status = CASE WHEN ?2 THEN 'filled' ELSE 'working' END
             WHERE client_order_id = ?1 AND status IN ('pending', 'working')",
        )?
        .execute(params![f.client_order_id, done])?;
    if n == 0 {
        return Ok(None);
    }
    let known = tx
        .prepare_cached("SELECT COUNT(*) FROM fills WHERE client_order_id = ?1 AND part = ?2")?
        .query_row(params![f.client_order_id, f.part], |r| r.get::<_, i64>(0))?;
    if known > 0 {
        return Ok(None); // this part is journaled already
    }
    let n = tx
        .prepare_cached(
            "INSERT INTO fills (client_order_id, engine, symbol, side, qty, price, commission, at_ms, part)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
        f.client_order_id,
        f.engine,
        f.symbol,
        f.side.as_str(),
        f.qty.to_string(),
        f.price.to_string(),
        f.commission.to_string(),
        f.at_ms as i64,
        f.part
    ])?;
    Ok((n > 0).then(|| tx.last_insert_rowid() as u64))
}

impl Store {
    /// Journals an order's last fill and marks it `filled`, in one durable
    /// transaction. Returns the fill's journal id (increasing), or `None`
    /// (and writes no fill) when the order is settled or has this part.
    pub fn record_fill(&mut self, f: &Fill) -> Result<Option<u64>, JournalError> {
        self.record_fill_part(f, true)
    }

    /// Journals a fill, the order `filled` when `done`, else `working`.
    pub fn record_fill_part(&mut self, f: &Fill, done: bool) -> Result<Option<u64>, JournalError> {
        self.durable(|tx| fill_tx(tx, f, done))
    }

    /// `record_fill_part` and its `order_filled` event (with the events
    /// before it) in one transaction: a fill acknowledged is never without
    /// its event. `None`: nothing new, nothing is written.
    pub fn record_fill_with_event(
        &mut self,
        pending: &Pending<'_>,
        f: &Fill,
        done: bool,
    ) -> Result<Option<u64>, JournalError> {
        self.durable(|tx| {
            let id = fill_tx(tx, f, done)?;
            if id.is_some() {
                super::events::insert_pending(tx, pending)?;
            }
            Ok(id)
        })
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
                "SELECT client_order_id, symbol, side, qty, price, commission, at_ms, id, part
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
                r.get::<_, u32>(8)?,
            ))
        });
        let rows: Vec<_> = self
            .sql(rows)?
            .collect::<Result<_, _>>()
            .map_err(sqlite_at(&self.path))?;
        rows.into_iter()
            .map(
                |(id, symbol, side, qty, price, commission, at, rowid, part)| {
                    Ok((
                        rowid as u64,
                        Fill {
                            part,
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
                },
            )
            .collect()
    }
}
