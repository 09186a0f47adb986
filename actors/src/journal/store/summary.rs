//! What the daily reconciliation reads of the journal: an engine's holdings
//! as its fills make them, its orders still pending, and a window's counts
//! (fills, outcomes, restarts, risk changes) for the day's summary. Reads
//! only; nothing here writes.

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::model::Holdings;
use rusqlite::params;

/// What happened in a window of market time, for the daily summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub fills: u64,
    /// Outcome name → count, by name.
    pub outcomes: Vec<(String, u64)>,
    /// Actors restarted after a failure (kernel `restarted` events).
    pub restarts: u64,
    /// Risk level changes (`risk_changed` events).
    pub risk_changes: u64,
}

fn ms(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl Store {
    /// The holdings of `engine` as its journaled fills make them.
    /// (its carried balance, then the fills after it).
    pub fn holdings(&self, engine: &str) -> Result<Holdings, JournalError> {
        let carried = self.carried(engine)?.unwrap_or_default();
        let fills = self.fills_after(engine, carried.through_fill)?;
        let mut h =
            Holdings::of(fills.iter().map(|(_, f)| f)).map_err(|what| JournalError::Corrupt {
                path: self.path.clone(),
                what,
            })?;
        for (instrument, p) in &carried.positions {
            *h.positions.entry(instrument.clone()).or_default() += p.qty;
        }
        h.positions.retain(|_, q| !q.is_zero());
        h.cash += carried.cash;
        h.commissions += carried.commissions;
        h.fills += carried.fills;
        Ok(h)
    }

    /// How many orders of `engine` are pending (journaled, fate not yet known).
    pub fn pending_count(&self, engine: &str) -> Result<u64, JournalError> {
        let r = self.conn.query_row(
            "SELECT COUNT(*) FROM orders WHERE engine = ?1 AND status IN ('pending', 'working')",
            params![engine],
            |row| row.get::<_, i64>(0),
        );
        Ok(self.sql(r)?.max(0) as u64)
    }

    /// What happened with market time in `(after_ms, until_ms]`.
    pub fn day_counts(&self, after_ms: u64, until_ms: u64) -> Result<DayCounts, JournalError> {
        let (a, u) = (ms(after_ms), ms(until_ms));
        let count = |sql: &str| -> Result<u64, JournalError> {
            let r = self
                .conn
                .query_row(sql, params![a, u], |row| row.get::<_, i64>(0));
            Ok(self.sql(r)?.max(0) as u64)
        };
        let fills = count("SELECT COUNT(*) FROM fills WHERE at_ms > ?1 AND at_ms <= ?2")?;
        let restarts = count(
            "SELECT COUNT(*) FROM events WHERE kind = 'restarted' AND at_ms > ?1 AND at_ms <= ?2",
        )?;
        let risk_changes = count(
            "SELECT COUNT(*) FROM events WHERE kind = 'risk_changed' AND at_ms > ?1 AND at_ms <= ?2",
        )?;
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT outcome, COUNT(*) FROM outcomes WHERE at_ms > ?1 AND at_ms <= ?2
                 GROUP BY outcome ORDER BY outcome",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params![a, u], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        });
        let outcomes = self
            .sql(rows)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_at(&self.path))?;
        Ok(DayCounts {
            fills,
            outcomes,
            restarts,
            risk_changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::super::OutcomeRow;
    use super::*;
    use crate::kernel::{Event, EventKind};
    use crate::model::{Fill, Order, Outcome, Side};
    use rust_decimal::Decimal;

    fn order(seq: u64, side: Side, at_ms: u64) -> (Order, OutcomeRow) {
        let id = crate::model::client_order_id("KC", "news", seq, "KC");
        let o = Order {
            limit: None,
            client_order_id: id,
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            side,
            qty: Decimal::from(2),
            ref_price: "300".parse().unwrap(),
            at_ms,
        };
        let row = OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Executed,
            detail: String::new(),
            at_ms,
        };
        (o, row)
    }

    fn fill_of(o: &Order, price: &str) -> Fill {
        Fill {
            part: 1,
            client_order_id: o.client_order_id.clone(),
            engine: o.engine.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty: o.qty,
            price: price.parse().unwrap(),
            commission: "2.5".parse().unwrap(),
            at_ms: o.at_ms,
        }
    }

    #[test]
    fn holdings_pending_orders_and_a_days_counts_come_from_the_journal() {
        let p = temp("summary");
        let mut s = Store::open(&p).unwrap();
        let (buy, r1) = order(1, Side::Buy, 1_000);
        let (sell, r2) = order(2, Side::Sell, 5_000);
        let (open, r3) = order(3, Side::Buy, 9_000);
        for (o, r) in [(&buy, &r1), (&sell, &r2), (&open, &r3)] {
            s.insert_order(o, r, o.at_ms).unwrap();
        }
        s.record_fill(&fill_of(&buy, "300")).unwrap();
        s.record_fill(&fill_of(&sell, "301")).unwrap();
        let h = s.holdings("KC").unwrap();
        assert!(h.positions.is_empty(), "bought 2, sold 2");
        // (301 - 300) × 2 × $375 - 2 fills × $2.50 = $745.
        assert_eq!(h.cash, Decimal::from(745));
        assert_eq!(s.pending_count("KC").unwrap(), 1);
        assert_eq!(s.holdings("CC").unwrap(), Holdings::default());

        let ev = |seq, kind, at_ms| Event {
            seq,
            at_ms,
            kind,
            path: "master/engines/KC/engine".into(),
            detail: String::new(),
        };
        s.append_events(&[
            ev(1, EventKind::Restarted, 2_000),
            ev(2, EventKind::Other("risk_changed"), 6_000),
            ev(3, EventKind::Restarted, 12_000),
        ])
        .unwrap();
        let c = s.day_counts(1_000, 9_000).unwrap();
        assert_eq!(
            c,
            DayCounts {
                fills: 1,
                outcomes: vec![("executed".into(), 2)],
                restarts: 1,
                risk_changes: 1,
            },
            "the window is (after, until]"
        );
    }
}
