//! The `orders` and `outcomes` tables: an order journaled `pending` before it
//! is sent, with its decision's outcome, then settled (`filled` by `fills.rs`,
//! or `rejected`); the decision sequence an engine continues from. Invariant:
//! an order has a positive quantity and price (`check_order`, before it is
//! journaled anywhere), and its client order id and its decision are its
//! identity (`insert_order` refuses a second one).

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::model::{Order, Outcome};
use rusqlite::{params, OptionalExtension};
use rust_decimal::Decimal;
use std::path::Path;

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

/// What became of an order, as the journal has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Journaled, its fate not yet known.
    Pending,
    Rejected,
    /// Filled, for this many contracts.
    Filled(Decimal),
}

impl Store {
    /// What became of order `client_order_id`; `None` when the journal has
    /// no such order (never journaled, or archived).
    pub fn order_fate(&self, client_order_id: &str) -> Result<Option<Fate>, JournalError> {
        let r = self
            .conn
            .query_row(
                "SELECT status FROM orders WHERE client_order_id = ?1",
                params![client_order_id],
                |r| r.get::<_, String>(0),
            )
            .optional();
        let Some(status) = self.sql(r)? else {
            return Ok(None);
        };
        Ok(Some(match status.as_str() {
            // Acknowledged by the broker, not done: still open.
            "pending" | "working" => Fate::Pending,
            "rejected" => Fate::Rejected,
            _ => {
                let mut stmt = {
                    let r = self
                        .conn
                        .prepare_cached("SELECT qty FROM fills WHERE client_order_id = ?1");
                    self.sql(r)?
                };
                let rows = stmt.query_map(params![client_order_id], |r| r.get::<_, String>(0));
                let qtys: Vec<String> = self
                    .sql(rows)?
                    .collect::<Result<_, _>>()
                    .map_err(sqlite_at(&self.path))?;
                let mut filled = Decimal::ZERO;
                for q in qtys {
                    filled += self.decimal(&q, "qty")?;
                }
                Fate::Filled(filled)
            }
        }))
    }

    /// Journals an order as `pending` before it is sent, with its decision's
    /// `executed` outcome, in one durable transaction. A second order with the
    /// same client order id or decision is refused: that is the order's identity.
    /// `now_ms`: when it was journaled (the caller's clock).
    pub fn insert_order(
        &mut self,
        o: &Order,
        outcome: &OutcomeRow,
        now_ms: u64,
    ) -> Result<(), JournalError> {
        check_order(o, &self.path)?;
        self.durable(|tx| {
            insert_pending(tx, o, now_ms, Conflict::Refuse)?;
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
        logged: &[crate::journal::LoggedOrder],
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

    /// Marks a pending (or working, unfilled) order `rejected` with the
    /// broker's reason (durable).
    pub fn reject_order(&mut self, client_order_id: &str, why: &str) -> Result<(), JournalError> {
        self.end_order(client_order_id, why).map(|_| ())
    }

    /// Ends a pending or working order for `why` (expired, cancelled, refused):
    /// `filled` if any part of it filled, else `rejected` (durable). `false`:
    /// it was settled already.
    pub fn end_order(&mut self, client_order_id: &str, why: &str) -> Result<bool, JournalError> {
        self.durable(|tx| {
            tx.execute(
                "UPDATE orders SET detail = ?2, status = CASE
                   WHEN EXISTS (SELECT 1 FROM fills f WHERE f.client_order_id = ?1) THEN 'filled'
                   ELSE 'rejected' END
                 WHERE client_order_id = ?1 AND status IN ('pending', 'working')",
                params![client_order_id, why],
            )
        })
        .map(|n| n > 0)
    }

    /// Marks a pending order `working`: the broker acknowledged it, and it is
    /// not done. From then on it is never sent again, whatever the broker
    /// says later (durable).
    pub fn mark_working(&mut self, client_order_id: &str) -> Result<(), JournalError> {
        self.durable(|tx| {
            tx.execute(
                "UPDATE orders SET status = 'working' WHERE client_order_id = ?1 AND status = 'pending'",
                params![client_order_id],
            )
        })
        .map(|_| ())
    }

    /// The working orders of `engine` (acknowledged by the broker, not
    /// done), each with the contracts filled so far.
    pub fn working_orders(
        &self,
        engine: &str,
    ) -> Result<std::collections::HashMap<String, Decimal>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT o.client_order_id, f.qty FROM orders o
                 LEFT JOIN fills f ON f.client_order_id = o.client_order_id
                 WHERE o.engine = ?1 AND o.status = 'working'",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params![engine], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        });
        let rows: Vec<_> = self
            .sql(rows)?
            .collect::<Result<_, _>>()
            .map_err(sqlite_at(&self.path))?;
        let mut working = std::collections::HashMap::new();
        for (id, qty) in rows {
            let q = match qty {
                Some(q) => self.decimal(&q, "qty")?,
                None => Decimal::ZERO,
            };
            *working.entry(id).or_insert(Decimal::ZERO) += q;
        }
        Ok(working)
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

    /// Orders of `engine` journaled but not settled (pending, or working at
    /// the broker: neither filled nor rejected) and journaled at or before `created_before_ms` (wall time): to
    /// re-drive. Oldest first, with their journal time.
    pub fn pending_orders(
        &self,
        engine: &str,
        created_before_ms: u64,
    ) -> Result<Vec<(u64, Order)>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT client_order_id, strategy, decision_seq, symbol, side, qty, ref_price, at_ms, created_ms, limit_price, expires_ms
                 FROM orders INDEXED BY orders_pending
                 WHERE engine = ?1 AND status IN ('pending', 'working') AND created_ms <= ?2 ORDER BY decision_seq",
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
                    (r.get::<_, String>(9)?, r.get::<_, i64>(10)?),
                ))
            },
        );
        let rows: Vec<_> = self
            .sql(rows)?
            .collect::<Result<_, _>>()
            .map_err(sqlite_at(&self.path))?;
        rows.into_iter()
            .map(
                |(id, strategy, seq, symbol, side, qty, price, at, created, (limit, expires))| {
                    let limit = if limit.is_empty() {
                        None
                    } else {
                        Some(crate::model::Limit {
                            price: self.decimal(&limit, "limit_price")?,
                            expires_ms: expires.max(0) as u64,
                        })
                    };
                    Ok((
                        created as u64,
                        Order {
                            limit,
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

    /// The highest decision sequence `engine` has used (orders, outcomes and
    /// the decisions archived), 0 if none: the next decision continues after it.
    pub fn last_decision_seq(&self, engine: &str) -> Result<u64, JournalError> {
        let r = self.conn.query_row(
            "SELECT MAX(s) FROM (SELECT MAX(decision_seq) AS s FROM orders WHERE engine = ?1
                                 UNION ALL SELECT MAX(decision_seq) FROM outcomes WHERE engine = ?1
                                 UNION ALL SELECT decision_seq FROM carried WHERE engine = ?1)",
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
        for o in rows {
            insert_outcome(&tx, o).map_err(sqlite_at(&path))?;
        }
        tx.commit().map_err(sqlite_at(&path))
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
pub(in crate::journal) fn check_order(o: &Order, path: &Path) -> Result<(), JournalError> {
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
        "{} INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms, limit_price, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12)",
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
        created_ms as i64,
        o.limit.map_or_else(String::new, |l| l.price.to_string()),
        o.limit
            .map_or(0, |l| l.expires_ms.min(i64::MAX as u64) as i64)
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

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::*;

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
        normal
            .put_state_durable(crate::journal::StateKey::JournalWriteCheck, "v", "r", 1)
            .unwrap();
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
}
