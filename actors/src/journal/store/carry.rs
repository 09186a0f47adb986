//! Journal retention for orders, fills and decision outcomes: the old ones
//! move to a monthly archive file (`archive/orders-YYYY-MM.sqlite`, by the UTC
//! month of each row's time), and what they added up to stays in the journal
//! as each engine's carried balance (`carried`): its positions as lots with
//! their owners (one per instrument, `KCH26=<qty>|<lots>;KCK26=...`, a lot
//! `<qty>@<price>@<strategy>@<opened ms>@<stop basis>@<first opened ms>`,
//! folded by `model::Book` as the
//! ledger folds them; a balance written before contract months holds one
//! position of its `symbol`, one before owners `<qty>@<price>` lots, the
//! house's, and both read so),
//! realized PnL, commissions, the cash its fills moved, its fill count, the
//! last fill folded in and the last decision archived.
//!
//! Invariants:
//! - **The balance plus what remains is what all the fills say.** An engine
//!   rebuilds its ledger from its carried balance, then the fills after
//!   `through_fill`; its holdings (the daily reconciliation's) likewise. Only a
//!   prefix is archived: the decisions up to one before the engine's first
//!   pending order, its first recent one and its first recent outcome, and
//!   only when their fills are a prefix of its fills by journal id.
//! - **Nothing is lost or doubled.** The rows are in their archive file
//!   (committed, FULL; keyed, so a second copy is ignored) before one journal
//!   transaction moves the balance and forgets them.
//! - **Decision numbers never go back**: `last_decision_seq` counts the
//!   carried decision.
//! - A pending order is never archived (the executor still asks about it).
//! - A cut never falls between a roll's close leg and its open leg: the
//!   balance does not say whose lots are moving (the pass waits for both).

use super::error::sqlite_at;
use super::{JournalError, Store};
use crate::model::{
    civil_from_days, contract, Book, Fill, Holdings, Lot, Position, Strategy, TradeTally,
};
use rusqlite::{params, OptionalExtension};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One engine's carried balance: what its archived fills added up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// The instrument of the last fill folded in.
    pub symbol: String,
    /// Instrument → position (flat ones left out).
    pub positions: BTreeMap<String, Position>,
    pub realized: Decimal,
    pub commissions: Decimal,
    /// The cash the archived fills moved (`model::Holdings`).
    pub cash: Decimal,
    pub fills: u64,
    /// The journal id of the last fill folded in.
    pub through_fill: u64,
    /// The last decision archived.
    pub decision_seq: u64,
    /// Per strategy: the realized PnL of the lots it owned, and its round
    /// trips added up with the commissions of its orders; a balance from
    /// before strategies were kept has none (its totals are the house's).
    pub by_strategy: BTreeMap<Strategy, (Decimal, TradeTally)>,
}

/// `<name>=<realized>|<fees>|<trades>|<wins>|<gross win>|<gross loss>|<held ms>;...`.
fn encode_by_strategy(by: &BTreeMap<Strategy, (Decimal, TradeTally)>) -> String {
    let parts: Vec<String> = by
        .iter()
        .map(|(s, (r, t))| {
            format!(
                "{s}={r}|{}|{}|{}|{}|{}|{}",
                t.fees, t.trades, t.wins, t.gross_win, t.gross_loss, t.held_ms
            )
        })
        .collect();
    parts.join(";")
}

fn decode_by_strategy(s: &str) -> Option<BTreeMap<Strategy, (Decimal, TradeTally)>> {
    if s.is_empty() {
        return Some(BTreeMap::new());
    }
    s.split(';')
        .map(|e| {
            let (name, rest) = e.split_once('=')?;
            let f: Vec<&str> = rest.split('|').collect();
            let [r, fees, trades, wins, gross_win, gross_loss, held_ms] = f[..] else {
                return None;
            };
            let tally = TradeTally {
                trades: trades.parse().ok()?,
                wins: wins.parse().ok()?,
                gross_win: gross_win.parse().ok()?,
                gross_loss: gross_loss.parse().ok()?,
                held_ms: held_ms.parse().ok()?,
                fees: fees.parse().ok()?,
            };
            Some((Strategy::name(name).ok()?, (r.parse().ok()?, tally)))
        })
        .collect()
}

/// `<qty>|<q>@<p>@<owner>@<opened ms>@<basis>@<since ms>,...` (oldest lot
/// first).
fn encode_lots(p: &Position) -> String {
    let lots: Vec<String> = p
        .lots()
        .map(|l| {
            format!(
                "{}@{}@{}@{}@{}@{}",
                l.qty, l.price, l.owner, l.at_ms, l.basis, l.since_ms
            )
        })
        .collect();
    format!("{}|{}", p.qty, lots.join(","))
}

/// `<instrument>=<lots>;...`, flat positions left out.
fn encode_positions(positions: &BTreeMap<String, Position>) -> String {
    let held: Vec<String> = positions
        .iter()
        .filter(|(_, p)| !p.qty.is_zero())
        .map(|(i, p)| format!("{i}={}", encode_lots(p)))
        .collect();
    held.join(";")
}

/// What [`encode_positions`] wrote, or one position of `symbol` (a balance
/// from before contract months: lots alone).
fn decode_positions(s: &str, symbol: &str) -> Option<BTreeMap<String, Position>> {
    if s.is_empty() {
        return Some(BTreeMap::new());
    }
    if !s.contains('=') {
        let p = decode_lots(s)?;
        return Some(if p.qty.is_zero() {
            BTreeMap::new()
        } else {
            [(symbol.to_owned(), p)].into()
        });
    }
    s.split(';')
        .map(|entry| {
            let (instrument, lots) = entry.split_once('=')?;
            (!instrument.is_empty()).then_some(())?;
            Some((instrument.to_owned(), decode_lots(lots)?))
        })
        .collect()
}

fn decode_lots(s: &str) -> Option<Position> {
    let (qty, rest) = s.split_once('|')?;
    let lots = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(',')
            .map(|l| {
                // `<q>@<p>` alone: a balance from before lots had owners;
                // `<q>@<p>@<owner>@<at>`: before their stop basis.
                let f: Vec<&str> = l.split('@').collect();
                let price: Decimal = f.get(1)?.parse().ok()?;
                let (owner, at_ms) = match f.len() {
                    2 => (Strategy::HOUSE, 0),
                    4 | 6 => (Strategy::name(f[2]).ok()?, f[3].parse().ok()?),
                    _ => return None,
                };
                let (basis, since_ms) = match f.len() {
                    6 => (f[4].parse().ok()?, f[5].parse().ok()?),
                    _ => (price, at_ms),
                };
                Some(Lot {
                    qty: f[0].parse().ok()?,
                    price,
                    owner,
                    at_ms,
                    basis,
                    since_ms,
                })
            })
            .collect::<Option<Vec<_>>>()?
    };
    Position::from_lots(qty.parse().ok()?, lots)
}

/// Each strategy's (realized, trips and fees), from the book's realized
/// parts and the tallies.
pub fn by_strategy(
    realized: &BTreeMap<Strategy, Decimal>,
    tallies: &BTreeMap<Strategy, TradeTally>,
) -> BTreeMap<Strategy, (Decimal, TradeTally)> {
    let mut by: BTreeMap<Strategy, (Decimal, TradeTally)> = BTreeMap::new();
    for (s, r) in realized {
        by.entry(*s).or_default().0 += *r;
    }
    for (s, t) in tallies {
        by.entry(*s).or_default().1 = t.clone();
    }
    by
}

/// Where the orders archive of month `month` (`YYYY-MM`) is.
pub fn orders_archive_path(journal: &Path, month: &str) -> PathBuf {
    journal
        .parent()
        .unwrap_or(Path::new("."))
        .join("archive")
        .join(format!("orders-{month}.sqlite"))
}

fn month(at_ms: i64) -> String {
    let (y, m, _) = civil_from_days(at_ms.max(0) / 86_400_000);
    format!("{y:04}-{m:02}")
}

const ORDERS_ARCHIVE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, engine TEXT NOT NULL, strategy TEXT NOT NULL,
    decision_seq INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    qty TEXT NOT NULL, ref_price TEXT NOT NULL, status TEXT NOT NULL,
    detail TEXT NOT NULL, at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    limit_price TEXT NOT NULL DEFAULT '', expires_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL, engine TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
    commission TEXT NOT NULL, at_ms INTEGER NOT NULL, part INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS outcomes (
    engine TEXT NOT NULL, decision_seq INTEGER NOT NULL, symbol TEXT NOT NULL,
    strategy TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
    at_ms INTEGER NOT NULL, PRIMARY KEY (engine, decision_seq));";

/// What one pass archived, per engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivedOrders {
    pub decisions: u64,
    pub orders: u64,
    pub fills: u64,
}

impl Store {
    /// Engine `engine`'s carried balance (none before its first archive).
    pub fn carried(&self, engine: &str) -> Result<Option<Carried>, JournalError> {
        let row = self
            .conn
            .query_row(
                "SELECT symbol, lots, realized, commissions, cash, fills, through_fill, decision_seq,
                        by_strategy
                 FROM carried WHERE engine = ?1",
                params![engine],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                },
            )
            .optional();
        let Some((symbol, lots, realized, fees, cash, fills, through, decision, by)) =
            self.sql(row)?
        else {
            return Ok(None);
        };
        let corrupt = |what: &str| JournalError::Corrupt {
            path: self.path.clone(),
            what: format!("the carried balance of {engine}: its {what} does not read"),
        };
        Ok(Some(Carried {
            positions: decode_positions(&lots, &symbol).ok_or_else(|| corrupt("lots"))?,
            symbol,
            realized: realized.parse().map_err(|_| corrupt("realized PnL"))?,
            commissions: fees.parse().map_err(|_| corrupt("commissions"))?,
            cash: cash.parse().map_err(|_| corrupt("cash"))?,
            fills: fills.max(0) as u64,
            through_fill: through.max(0) as u64,
            decision_seq: decision.max(0) as u64,
            by_strategy: decode_by_strategy(&by).ok_or_else(|| corrupt("per-strategy figures"))?,
        }))
    }

    /// Archives, for every engine, at most `limit` of its oldest decisions
    /// older than `before_ms` with their orders, fills and outcomes (see the
    /// module's invariants).
    pub fn archive_orders(
        &mut self,
        before_ms: u64,
        limit: u64,
    ) -> Result<ArchivedOrders, JournalError> {
        let engines: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT DISTINCT engine FROM outcomes ORDER BY engine")
                .map_err(sqlite_at(&self.path))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(sqlite_at(&self.path))?;
            rows.collect::<Result<_, _>>()
                .map_err(sqlite_at(&self.path))?
        };
        let mut total = ArchivedOrders::default();
        for engine in engines {
            let done = self.archive_engine(&engine, before_ms, limit)?;
            total.decisions += done.decisions;
            total.orders += done.orders;
            total.fills += done.fills;
        }
        Ok(total)
    }

    /// The fills of `engine`'s decisions in `(from, upto]` after
    /// `through_fill`, in journal order, if they are a prefix of its fills
    /// (no later decision filled before the last of them); `None` if not.
    fn fills_as_prefix(
        &self,
        engine: &str,
        (from, upto): (i64, i64),
        through_fill: u64,
    ) -> Result<Option<Vec<(i64, Fill)>>, JournalError> {
        let path = self.path.clone();
        let ids: std::collections::HashSet<String> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT client_order_id FROM orders
                     WHERE engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3",
                )
                .map_err(sqlite_at(&path))?;
            let rows = stmt
                .query_map(params![engine, from, upto], |r| r.get(0))
                .map_err(sqlite_at(&path))?;
            rows.collect::<Result<_, _>>().map_err(sqlite_at(&path))?
        };
        let fills: Vec<(i64, Fill)> = self
            .fills_after(engine, through_fill)?
            .into_iter()
            .filter(|(_, f)| ids.contains(&f.client_order_id))
            .map(|(id, f)| (id as i64, f))
            .collect();
        if let Some((last, _)) = fills.last() {
            let r = self.conn.query_row(
                "SELECT COUNT(*) FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id
                 WHERE o.engine = ?1 AND f.id < ?2 AND o.decision_seq > ?3",
                params![engine, last, upto],
                |r| r.get::<_, i64>(0),
            );
            if self.sql(r)? > 0 {
                return Ok(None);
            }
        }
        Ok(Some(fills))
    }

    fn archive_engine(
        &mut self,
        engine: &str,
        before_ms: u64,
        limit: u64,
    ) -> Result<ArchivedOrders, JournalError> {
        let path = self.path.clone();
        let before = before_ms.min(i64::MAX as u64) as i64;
        let carried = self.carried(engine)?.unwrap_or_default();
        let from = carried.decision_seq as i64;
        let min = |sql: &str| -> Result<Option<i64>, JournalError> {
            let r = self
                .conn
                .query_row(sql, params![engine, before], |r| r.get::<_, Option<i64>>(0));
            self.sql(r)
        };
        // The first decision that must stay: pending, or not old enough.
        let stays = [
            min("SELECT MIN(decision_seq) FROM orders WHERE engine = ?1 AND (status IN ('pending', 'working') OR created_ms >= ?2)")?,
            min("SELECT MIN(decision_seq) FROM outcomes WHERE engine = ?1 AND at_ms >= ?2")?,
            // The newest decision stays too.
            self.sql(self.conn.query_row(
                "SELECT MAX(decision_seq) FROM outcomes WHERE engine = ?1",
                params![engine],
                |r| r.get::<_, Option<i64>>(0),
            ))?,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(stays) = stays else {
            return Ok(ArchivedOrders::default());
        };
        let mut upto = (stays - 1).min(from.saturating_add(limit.min(i64::MAX as u64) as i64));
        // The fills of those decisions, in journal order; they must be a
        // prefix of the engine's fills. A later decision filled before one
        // of these (orders filling in parts over the same bars, a re-driven
        // order): a shorter cut, halved until the fills are a prefix (the
        // rest waits for a later pass), so a long backlog never stalls.
        let fills = loop {
            if upto <= from {
                tracing::warn!(
                    engine,
                    "retention: fills out of decision order; orders not archived this time"
                );
                return Ok(ArchivedOrders::default());
            }
            match self.fills_as_prefix(engine, (from, upto), carried.through_fill)? {
                Some(fills) => break fills,
                None => upto = from + (upto - from) / 2,
            }
        };
        // The balance moved by them.
        let mut next = carried.clone();
        let mut holdings = Holdings::default();
        // Through the book the ledger uses: the same lots, the same owners.
        let mut book = Book::carried(
            carried.positions.clone(),
            carried.realized,
            carried
                .by_strategy
                .iter()
                .map(|(s, (r, _))| (*s, *r))
                .collect(),
        );
        let mut tallies: BTreeMap<Strategy, TradeTally> = carried
            .by_strategy
            .iter()
            .map(|(s, (_, t))| (*s, t.clone()))
            .collect();
        for (id, f) in &fills {
            let spec = contract(&f.symbol).ok_or_else(|| JournalError::Corrupt {
                path: path.clone(),
                what: format!("fill {id} is for {:?}, which has no contract", f.symbol),
            })?;
            let (_, trips) = book.apply_trips(engine, f, &spec);
            for (owner, trip) in &trips {
                tallies.entry(*owner).or_default().add(trip);
            }
            next.commissions += f.commission;
            tallies
                .entry(Strategy::of_order(engine, &f.client_order_id))
                .or_default()
                .fees += f.commission;
            holdings.apply(f).map_err(|what| JournalError::Corrupt {
                path: path.clone(),
                what,
            })?;
            next.through_fill = next.through_fill.max(*id as u64);
            next.symbol = f.symbol.clone();
        }
        let last_is_roll = fills
            .last()
            .is_some_and(|(_, f)| Strategy::of_order(engine, &f.client_order_id) == Strategy::ROLL);
        if last_is_roll && book.is_moving() {
            // The cut falls between a roll's close leg and its open leg: the
            // balance cannot carry whose lots are moving; a later pass takes
            // both legs.
            tracing::info!(
                engine,
                "retention: a roll's legs are not both old enough; orders not archived this time"
            );
            return Ok(ArchivedOrders::default());
        }
        next.positions = book.positions().clone();
        next.realized = book.realized();
        next.by_strategy = by_strategy(book.realized_by(), &tallies);
        next.cash += holdings.cash;
        next.fills += holdings.fills;
        next.decision_seq = upto as u64;

        // 1. Into the archive files, durably.
        let copy =
            |table: &str, cols: &str, filter: &str, time: &str| -> Result<(), JournalError> {
                let sql = format!("SELECT {time}, {cols} FROM {table} WHERE {filter}");
                let mut stmt = self.conn.prepare(&sql).map_err(sqlite_at(&path))?;
                let n = cols.split(',').count();
                let rows = stmt
                    .query_map(params![engine, from, upto], |r| {
                        let at: i64 = r.get(0)?;
                        let vals: Vec<rusqlite::types::Value> =
                            (1..=n).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                        Ok((at, vals))
                    })
                    .map_err(sqlite_at(&path))?;
                let mut by_month: BTreeMap<String, Vec<Vec<rusqlite::types::Value>>> =
                    BTreeMap::new();
                for row in rows {
                    let (at, vals) = row.map_err(sqlite_at(&path))?;
                    by_month.entry(month(at)).or_default().push(vals);
                }
                for (m, rows) in by_month {
                    let file = orders_archive_path(&path, &m);
                    write_rows(&file, table, cols, &rows).map_err(|e| JournalError::Corrupt {
                        path: file.clone(),
                        what: format!("the archive cannot be written: {e}"),
                    })?;
                }
                Ok(())
            };
        const ORDER_COLS: &str = "client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, detail, at_ms, created_ms, limit_price, expires_ms";
        const FILL_COLS: &str =
            "id, client_order_id, engine, symbol, side, qty, price, commission, at_ms, part";
        const OUTCOME_COLS: &str = "engine, decision_seq, symbol, strategy, outcome, detail, at_ms";
        copy(
            "orders",
            ORDER_COLS,
            "engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3",
            "created_ms",
        )?;
        copy(
            "fills",
            FILL_COLS,
            "client_order_id IN (SELECT client_order_id FROM orders WHERE engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3)",
            "at_ms",
        )?;
        copy(
            "outcomes",
            OUTCOME_COLS,
            "engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3",
            "at_ms",
        )?;
        // 2. The balance moved and the rows forgotten, in one transaction.
        let (orders, decisions) = self.durable(|tx| {
            tx.execute(
                "INSERT INTO carried (engine, symbol, lots, realized, commissions, cash, fills, through_fill, decision_seq, by_strategy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (engine) DO UPDATE SET symbol = excluded.symbol, lots = excluded.lots,
                   realized = excluded.realized, commissions = excluded.commissions, cash = excluded.cash,
                   fills = excluded.fills, through_fill = excluded.through_fill,
                   decision_seq = excluded.decision_seq, by_strategy = excluded.by_strategy",
                params![
                    engine,
                    next.symbol,
                    encode_positions(&next.positions),
                    next.realized.to_string(),
                    next.commissions.to_string(),
                    next.cash.to_string(),
                    next.fills as i64,
                    next.through_fill as i64,
                    next.decision_seq as i64,
                    encode_by_strategy(&next.by_strategy)
                ],
            )?;
            tx.execute(
                "DELETE FROM fills WHERE client_order_id IN
                 (SELECT client_order_id FROM orders WHERE engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3)",
                params![engine, from, upto],
            )?;
            let orders = tx.execute(
                "DELETE FROM orders WHERE engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3",
                params![engine, from, upto],
            )?;
            let decisions = tx.execute(
                "DELETE FROM outcomes WHERE engine = ?1 AND decision_seq > ?2 AND decision_seq <= ?3",
                params![engine, from, upto],
            )?;
            Ok((orders, decisions))
        })?;
        Ok(ArchivedOrders {
            decisions: decisions as u64,
            orders: orders as u64,
            fills: fills.len() as u64,
        })
    }
}

fn write_rows(
    file: &Path,
    table: &str,
    cols: &str,
    rows: &[Vec<rusqlite::types::Value>],
) -> rusqlite::Result<()> {
    let mut conn = super::archive::open_private(file)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(ORDERS_ARCHIVE_SCHEMA)?;
    // A file written before limit orders and fills in parts: their columns.
    for (t, col, decl) in [
        ("orders", "limit_price", "TEXT NOT NULL DEFAULT ''"),
        ("orders", "expires_ms", "INTEGER NOT NULL DEFAULT 0"),
        ("fills", "part", "INTEGER NOT NULL DEFAULT 1"),
    ] {
        let has: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{t}') WHERE name = '{col}'"),
            [],
            |r| r.get(0),
        )?;
        if has == 0 {
            conn.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN {col} {decl}"))?;
        }
    }
    let tx = conn.transaction()?;
    {
        let marks: Vec<&str> = cols.split(',').map(|_| "?").collect();
        let mut stmt = tx.prepare(&format!(
            "INSERT OR IGNORE INTO {table} ({cols}) VALUES ({})",
            marks.join(", ")
        ))?;
        for r in rows {
            stmt.execute(rusqlite::params_from_iter(r.iter()))?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::super::OutcomeRow;
    use super::*;
    use crate::model::{client_order_id, Order, Outcome, Side};
    use rusqlite::Connection;

    const DAY: u64 = 86_400_000;

    struct W {
        s: Store,
        seq: u64,
    }

    impl W {
        fn decide(&mut self, at: u64, outcome: Outcome) -> u64 {
            self.seq += 1;
            let row = OutcomeRow {
                engine: "KC".into(),
                decision_seq: self.seq,
                symbol: "KC".into(),
                strategy: "news".into(),
                outcome,
                detail: String::new(),
                at_ms: at,
            };
            self.s.append_outcomes(&[row]).unwrap();
            self.seq
        }

        fn order(&mut self, at: u64, side: Side, qty: i64, price: i64, fill: bool) -> Order {
            self.order_as(at, ("news", "KC"), side, qty, price, fill)
        }

        /// An order of `strategy` in `symbol`.
        fn order_as(
            &mut self,
            at: u64,
            (strategy, symbol): (&str, &str),
            side: Side,
            qty: i64,
            price: i64,
            fill: bool,
        ) -> Order {
            self.seq += 1;
            let o = Order {
                limit: None,
                client_order_id: client_order_id("KC", strategy, self.seq, symbol),
                engine: "KC".into(),
                strategy: strategy.into(),
                decision_seq: self.seq,
                symbol: symbol.into(),
                side,
                qty: Decimal::from(qty),
                ref_price: Decimal::from(price),
                at_ms: at,
            };
            let row = OutcomeRow {
                engine: "KC".into(),
                decision_seq: self.seq,
                symbol: "KC".into(),
                strategy: "news".into(),
                outcome: Outcome::Executed,
                detail: String::new(),
                at_ms: at,
            };
            self.s.insert_order(&o, &row, at).unwrap();
            if fill {
                self.s
                    .record_fill(&Fill {
                        part: 1,
                        client_order_id: o.client_order_id.clone(),
                        engine: "KC".into(),
                        symbol: o.symbol.clone(),
                        side,
                        qty: o.qty,
                        price: o.ref_price,
                        commission: Decimal::new(25, 1),
                        at_ms: at,
                    })
                    .unwrap();
            }
            o
        }
    }

    /// The position, realized PnL and commissions all of `fills` make.
    fn fold(fills: &[(u64, Fill)]) -> (Position, Decimal, Decimal) {
        let spec = contract("KC").unwrap();
        let mut b = Book::default();
        let mut fees = Decimal::ZERO;
        for (_, f) in fills {
            b.apply("KC", f, &spec);
            fees += f.commission;
        }
        let p = b.positions().get("KC").cloned().unwrap_or_default();
        (p, b.realized(), fees)
    }

    #[test]
    fn a_cut_between_orders_whose_fills_interleave_is_shortened_not_stalled() {
        let p = temp("interleave");
        let mut w = W {
            s: Store::open(&p).unwrap(),
            seq: 0,
        };
        let jan = 20_458 * DAY;
        w.order(jan + 1, Side::Buy, 1, 300, true);
        w.order(jan + 2, Side::Buy, 1, 300, true);
        let third = w.order(jan + 3, Side::Buy, 1, 300, false);
        w.order(jan + 4, Side::Buy, 1, 300, true);
        // The third fills after the fourth (a limit resting, filled later).
        let f = Fill {
            part: 1,
            client_order_id: third.client_order_id.clone(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side: Side::Buy,
            qty: Decimal::ONE,
            price: Decimal::from(300),
            commission: Decimal::ZERO,
            at_ms: jan + 5,
        };
        w.s.record_fill(&f).unwrap();
        w.decide(jan + 40 * DAY, Outcome::Vetoed);
        // A pass of 3 decisions cuts between the third and the fourth, whose
        // fills interleave: it is halved (to the first), not given up, so a
        // backlog longer than a pass never stalls retention.
        let done = w.s.archive_orders(jan + 10 * DAY, 3).unwrap();
        assert_eq!((done.orders, done.fills), (1, 1));
        // The next pass goes past the interleaving whole: 2, 3 and 4.
        let done = w.s.archive_orders(jan + 10 * DAY, 3).unwrap();
        assert_eq!((done.orders, done.fills), (3, 3));
    }

    #[test]
    fn old_decisions_move_to_the_archive_and_the_balance_carries_what_they_held() {
        let p = temp("carry");
        let mut w = W {
            s: Store::open(&p).unwrap(),
            seq: 0,
        };
        let jan = 20_458 * DAY; // 2026-01-05
        w.order(jan + 1, Side::Buy, 3, 300, true);
        w.decide(jan + 2, Outcome::Vetoed);
        w.order(jan + 3, Side::Sell, 1, 310, true);
        w.order(jan + 4, Side::Buy, 1, 305, false); // pending: it and after stay
        w.order(jan + 5, Side::Sell, 1, 320, true);
        w.order(jan + 40 * DAY, Side::Buy, 2, 330, true);
        w.decide(jan + 40 * DAY, Outcome::Buffered);
        let all = w.s.fills("KC").unwrap();
        let (before_holdings, before_seq) = (
            w.s.holdings("KC").unwrap(),
            w.s.last_decision_seq("KC").unwrap(),
        );

        let done = w.s.archive_orders(jan + 10 * DAY, 100).unwrap();
        assert_eq!(
            done,
            ArchivedOrders {
                decisions: 3,
                orders: 2,
                fills: 2
            },
            "up to the pending order, not past it"
        );
        let c = w.s.carried("KC").unwrap().unwrap();
        assert_eq!(c.decision_seq, 3);
        let (pos, realized, fees) = fold(&all[..2]);
        assert_eq!(
            (c.positions.clone(), c.realized, c.commissions),
            ([("KC".to_owned(), pos)].into(), realized, fees)
        );
        assert_eq!(c.through_fill, all[1].0);
        assert_eq!(
            w.s.holdings("KC").unwrap(),
            before_holdings,
            "the same holdings"
        );
        assert_eq!(w.s.last_decision_seq("KC").unwrap(), before_seq);
        assert_eq!(w.s.pending_count("KC").unwrap(), 1);
        // The ledger from the balance and the fills after it is the ledger of
        // every fill.
        let spec = contract("KC").unwrap();
        let mut book = Book::carried(
            c.positions.clone(),
            c.realized,
            c.by_strategy.iter().map(|(s, (r, _))| (*s, *r)).collect(),
        );
        for (_, f) in w.s.fills_after("KC", c.through_fill).unwrap() {
            book.apply("KC", &f, &spec);
        }
        let (rebuilt, r) = (book.positions()["KC"].clone(), book.realized());
        let (all_pos, all_realized, _) = fold(&all);
        assert_eq!((rebuilt, r), (all_pos, all_realized));
        // The rows are in January's archive file.
        let a = Connection::open(orders_archive_path(&p, "2026-01")).unwrap();
        let count = |t: &str| -> i64 {
            a.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            (count("orders"), count("fills"), count("outcomes")),
            (2, 2, 3)
        );
        // Nothing more is old enough to go while the order is pending.
        assert_eq!(
            w.s.archive_orders(jan + 10 * DAY, 100).unwrap(),
            ArchivedOrders::default()
        );
        // The balance reads back as written.
        let written = encode_positions(&c.positions);
        assert_eq!(decode_positions(&written, "x"), Some(c.positions.clone()));
        assert_eq!(decode_lots("2|1@300"), None, "lots must add up");
        // Per month; and a balance from before contract months reads as one
        // position of its symbol.
        let two: BTreeMap<String, Position> = [
            ("KCH26".to_owned(), decode_lots("2|2@300").unwrap()),
            ("KCK26".to_owned(), decode_lots("-1|1@310").unwrap()),
        ]
        .into();
        let text = encode_positions(&two);
        assert_eq!(
            text, "KCH26=2|2@300@house@0@300@0;KCK26=-1|1@310@house@0@310@0",
            "lots from before owners are the house's"
        );
        let owned = decode_lots("3|2@300@news@17,1@301@momentum@18").unwrap();
        let owners: Vec<(Strategy, u64)> = owned.lots().map(|l| (l.owner, l.at_ms)).collect();
        assert_eq!(owners, vec![(Strategy::NEWS, 17), (Strategy::MOMENTUM, 18)]);
        assert_eq!(decode_lots("1|1@300@News@1"), None, "not a name");
        assert_eq!(decode_lots("1|1@300@news"), None, "no time");
        let rolled = decode_lots("1|1@299.6@news@50@297.6@17").unwrap();
        let l = rolled.lots().next().unwrap();
        assert_eq!(
            (l.basis, l.since_ms),
            ("297.6".parse().unwrap(), 17),
            "a roll's basis"
        );
        assert_eq!(decode_lots("1|1@300@news@1@300"), None, "five fields");
        // Per strategy: what the book's owners made and their orders paid.
        let tally = TradeTally {
            trades: 2,
            wins: 1,
            gross_win: Decimal::from(750),
            gross_loss: Decimal::from(375),
            held_ms: 60_000,
            fees: Decimal::new(250, 2),
        };
        let by: BTreeMap<Strategy, (Decimal, TradeTally)> =
            [(Strategy::NEWS, (Decimal::from(375), tally))].into();
        let by_text = encode_by_strategy(&by);
        assert_eq!(by_text, "news=375|2.50|2|1|750|375|60000");
        assert_eq!(decode_by_strategy(&by_text), Some(by));
        assert_eq!(decode_by_strategy(""), Some(BTreeMap::new()));
        assert_eq!(decode_by_strategy("news=1"), None);
        let (_, realized, fees) = fold(&all[..2]);
        assert_eq!(
            c.by_strategy.values().map(|v| v.0).sum::<Decimal>(),
            realized,
            "the owners' parts add up"
        );
        assert_eq!(
            c.by_strategy.values().map(|v| v.1.fees).sum::<Decimal>(),
            fees
        );
        assert_eq!(decode_positions(&text, "KC"), Some(two));
        assert_eq!(
            decode_positions("2|2@300", "KC"),
            Some([("KC".to_owned(), decode_lots("2|2@300").unwrap())].into())
        );
        assert_eq!(decode_positions("", "KC"), Some(BTreeMap::new()));
        assert_eq!(decode_positions("KCH26=2|1@300", "KC"), None);
    }

    #[test]
    fn a_cut_between_a_rolls_two_legs_waits_for_both() {
        let p = temp("carry-roll");
        let mut w = W {
            s: Store::open(&p).unwrap(),
            seq: 0,
        };
        let jan = 20_458 * DAY;
        w.order_as(jan + 1, ("news", "KCH26"), Side::Buy, 2, 300, true);
        w.order_as(jan + 2, ("roll", "KCH26"), Side::Sell, 2, 302, true);
        w.decide(jan + 4, Outcome::Vetoed); // the newest decision stays
                                            // The close leg is old enough, its open leg not there yet: nothing
                                            // goes (the balance cannot say whose lots are moving).
        assert_eq!(
            w.s.archive_orders(jan + 10 * DAY, 100).unwrap(),
            ArchivedOrders::default()
        );
        w.order_as(jan + 5, ("roll", "KCK26"), Side::Buy, 2, 300, true);
        w.order(jan + 40 * DAY, Side::Buy, 1, 300, true);
        let done = w.s.archive_orders(jan + 10 * DAY, 100).unwrap();
        assert_eq!(done.fills, 3, "both legs, with what they moved");
        let c = w.s.carried("KC").unwrap().unwrap();
        let lots: Vec<(Strategy, Decimal)> = c.positions["KCK26"]
            .lots()
            .map(|l| (l.owner, l.basis))
            .collect();
        // News's lots moved to May, their stop basis 300 + (300 − 302).
        assert_eq!(lots, vec![(Strategy::NEWS, Decimal::from(298))]);
    }
}
