//! The paper broker: fills every order at once and keeps its own memory.
//!
//! It stands in for an exchange, so it keeps its memory of
//! client order ids in a small SQLite file of its own,
//! `<data_dir>/orders/<engine>.paper.sqlite` ([`paper_broker_path`]): every
//! fill and refusal is committed there (`synchronous = FULL`) before the
//! broker answers, so it survives a restart and a `kill -9` of the daemon
//! whatever our journal managed to write. Its holdings (net contracts per
//! symbol, cash, commissions) are a table of their own, moved in the same
//! transaction as each fill and never pruned. It keeps the newest
//! [`PAPER_MEMORY`] orders (older ones are pruned: far more than can be
//! pending between a send and its lookup, since an engine sends one order at
//! a time and stops sending while a fill cannot be journaled). It lives in
//! `orders/`, so `run --fresh` (which moves `orders/` aside) sets it aside
//! with the order logs: a fresh journal numbers its decisions from 1 again,
//! and the broker must not take those ids for the old run's.

use super::broker::{Broker, BrokerError, Known};
use crate::journal::Fsync;
use crate::model::{ContractSpec, Fill, Holdings, Order, Side};
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

/// Orders the paper broker remembers (the newest; older ones are pruned).
pub const PAPER_MEMORY: u64 = 10_000;
/// The paper broker prunes its memory once every this many orders.
const PRUNE_EVERY: u64 = 256;

/// Fills every order at once at its reference price moved `slippage_ticks`
/// against it, plus `commission` per contract; remembers every client order
/// id it answered (see the module's notes).
pub struct PaperBroker {
    pub spec: ContractSpec,
    pub slippage_ticks: i64,
    pub commission: Decimal,
    book: PaperBook,
}

impl PaperBroker {
    /// A paper broker whose memory is this instance's only (tests, benches):
    /// gone with it.
    pub fn new(spec: ContractSpec, slippage_ticks: i64, commission: Decimal) -> PaperBroker {
        PaperBroker {
            spec,
            slippage_ticks,
            commission,
            book: PaperBook {
                at: None,
                fsync: Fsync::Off,
                conn: None,
                answered: 0,
                keep: PAPER_MEMORY,
            },
        }
    }

    /// A paper broker whose memory is the SQLite file at `path` (opened at
    /// its first use, and again after an error; it cannot answer meanwhile:
    /// `Unavailable`). `Fsync::Off` only for a replay's.
    pub fn durable(
        path: PathBuf,
        fsync: Fsync,
        spec: ContractSpec,
        slippage_ticks: i64,
        commission: Decimal,
    ) -> PaperBroker {
        let mut b = PaperBroker::new(spec, slippage_ticks, commission);
        b.book.at = Some(path);
        b.book.fsync = fsync;
        b
    }

    fn unavailable(&mut self, e: String) -> BrokerError {
        self.book.failed();
        BrokerError::Unavailable(format!(
            "the paper broker's memory {}: {e}; check that the directory is writable and the disk is not full",
            self.book.name()
        ))
    }
}

impl Broker for PaperBroker {
    fn submit(&mut self, o: &Order) -> Result<Fill, BrokerError> {
        let id = &o.client_order_id;
        match self.book.known(id) {
            Ok(Known::Unknown) => {}
            Ok(_) => {
                return Err(BrokerError::Rejected(format!(
                    "duplicate client order id {id}"
                )))
            }
            Err(e) => return Err(self.unavailable(e)),
        }
        if o.qty <= Decimal::ZERO {
            let why = format!("quantity {} is not positive", o.qty);
            return match self.book.remember(id, Err(&why)) {
                Ok(()) => Err(BrokerError::Rejected(why)),
                Err(e) => Err(self.unavailable(e)),
            };
        }
        let slip = match o.side {
            Side::Buy => self.slippage_ticks,
            Side::Sell => -self.slippage_ticks,
        };
        let fill = Fill {
            client_order_id: id.clone(),
            engine: o.engine.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty: o.qty,
            price: self.spec.ticks(o.ref_price, slip),
            commission: self.commission * o.qty,
            at_ms: o.at_ms,
        };
        // Remembered (durably) before it is answered: filled, for good.
        match self.book.remember(id, Ok(&fill)) {
            Ok(()) => Ok(fill),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError> {
        self.book
            .known(client_order_id)
            .map_err(|e| self.unavailable(e))
    }

    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        self.book.holdings().map_err(|e| self.unavailable(e))
    }
}

/// The paper broker's memory: one SQLite table of the orders it answered.
struct PaperBook {
    /// `None`: in memory.
    at: Option<PathBuf>,
    fsync: Fsync,
    conn: Option<Connection>,
    /// Orders answered by this instance (pruning runs every `PRUNE_EVERY`).
    answered: u64,
    /// How many orders it remembers (`PAPER_MEMORY`).
    keep: u64,
}

/// The paper broker's tables (its file is its own, not the journal's): the
/// orders it answered (pruned to the newest `PAPER_MEMORY`) and its holdings
/// per symbol (never pruned).
pub const PAPER_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS paper_orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('filled', 'rejected')),
    engine TEXT NOT NULL DEFAULT '',
    symbol TEXT NOT NULL DEFAULT '',
    side TEXT NOT NULL DEFAULT '',
    qty TEXT NOT NULL DEFAULT '',
    price TEXT NOT NULL DEFAULT '',
    commission TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS paper_holdings (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    cash TEXT NOT NULL,
    commissions TEXT NOT NULL,
    fills INTEGER NOT NULL
)";

impl PaperBook {
    fn name(&self) -> String {
        self.at
            .as_ref()
            .map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string())
    }

    /// A file's connection is dropped after an error (opened again at the
    /// next use); an in-memory one is all there is.
    fn failed(&mut self) {
        if self.at.is_some() {
            self.conn = None;
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, String> {
        if self.conn.is_none() {
            let conn = self.open().map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("opened above"))
    }

    fn open(&self) -> Result<Connection, Box<dyn std::error::Error>> {
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
        backfill_holdings(&conn)?;
        Ok(conn)
    }

    fn holdings(&mut self) -> Result<Holdings, String> {
        self.read_holdings().map_err(|e| e.to_string())
    }

    fn read_holdings(&mut self) -> Result<Holdings, Box<dyn std::error::Error>> {
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

    fn known(&mut self, id: &str) -> Result<Known, String> {
        self.read(id).map_err(|e| e.to_string())
    }

    fn read(&mut self, id: &str) -> Result<Known, Box<dyn std::error::Error>> {
        let row = self
            .conn()?
            .prepare_cached(&format!(
                "SELECT status, reason, {FILLED} FROM paper_orders WHERE client_order_id = ?1"
            ))?
            .query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    filled_row(r, 2)?,
                ))
            })
            .optional()?;
        match row {
            None => Ok(Known::Unknown),
            Some((status, reason, _)) if status == "rejected" => Ok(Known::Rejected(reason)),
            Some((_, _, row)) => Ok(Known::Filled(filled(id, row)?)),
        }
    }

    /// Remembers the answer to `id`, committed before it returns; prunes the
    /// oldest beyond `PAPER_MEMORY` now and then.
    fn remember(&mut self, id: &str, answer: Result<&Fill, &str>) -> Result<(), String> {
        self.write(id, answer).map_err(|e| e.to_string())
    }

    fn write(
        &mut self,
        id: &str,
        answer: Result<&Fill, &str>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        self.answered += 1;
        let (prune, keep) = (self.answered % PRUNE_EVERY == 1, self.keep);
        let conn = self.conn()?;
        // The answer and the holdings it moves: both or neither.
        let tx = conn.transaction()?;
        match answer {
            Ok(f) => {
                tx.prepare_cached(
                    "INSERT INTO paper_orders
                     (client_order_id, status, engine, symbol, side, qty, price, commission, at_ms)
                     VALUES (?1, 'filled', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    id,
                    f.engine,
                    f.symbol,
                    f.side.as_str(),
                    f.qty.to_string(),
                    f.price.to_string(),
                    f.commission.to_string(),
                    f.at_ms.min(i64::MAX as u64) as i64
                ])?;
                move_holdings(&tx, f)?;
            }
            Err(why) => {
                tx.prepare_cached(
                    "INSERT INTO paper_orders (client_order_id, status, reason)
                     VALUES (?1, 'rejected', ?2)",
                )?
                .execute(params![id, why])?;
            }
        };
        if prune {
            tx.execute(
                "DELETE FROM paper_orders
                 WHERE seq <= (SELECT MAX(seq) FROM paper_orders) - ?1",
                params![keep.min(i64::MAX as u64) as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The columns of a filled order's answer, as `filled_row` reads them.
const FILLED: &str = "engine, symbol, side, qty, price, commission, at_ms";

/// A filled row's columns from `from` on (`FILLED`, in order).
type FilledRow = ([String; 6], i64);

fn filled_row(r: &rusqlite::Row<'_>, from: usize) -> rusqlite::Result<FilledRow> {
    Ok((
        [
            r.get(from)?,
            r.get(from + 1)?,
            r.get(from + 2)?,
            r.get(from + 3)?,
            r.get(from + 4)?,
            r.get(from + 5)?,
        ],
        r.get(from + 6)?,
    ))
}

/// The fill a filled row of `id` answered.
fn filled(
    id: &str,
    ([engine, symbol, side, qty, price, commission], at_ms): FilledRow,
) -> Result<Fill, String> {
    let bad = |what: &str| format!("{id}: its {what} does not read");
    let dec = |s: &str, what: &str| s.parse::<Decimal>().map_err(|_| bad(what));
    Ok(Fill {
        client_order_id: id.to_owned(),
        engine,
        symbol,
        side: side.parse().map_err(|_| bad("side"))?,
        qty: dec(&qty, "qty")?,
        price: dec(&price, "price")?,
        commission: dec(&commission, "commission")?,
        at_ms: at_ms.max(0) as u64,
    })
}

/// Moves the holdings of the fill's symbol by the fill.
fn move_holdings(tx: &Connection, f: &Fill) -> Result<(), Box<dyn std::error::Error>> {
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

/// A memory written before the holdings table existed: its holdings are
/// rebuilt from the fills it still remembers (an older file pruned beyond
/// `PAPER_MEMORY` has lost some, and the reconciliation will say so).
fn backfill_holdings(conn: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    let count = |sql: &str| -> rusqlite::Result<i64> { conn.query_row(sql, [], |r| r.get(0)) };
    if count("SELECT COUNT(*) FROM paper_holdings")? > 0
        || count("SELECT COUNT(*) FROM paper_orders WHERE status = 'filled'")? == 0
    {
        return Ok(());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT client_order_id, {FILLED} FROM paper_orders WHERE status = 'filled' ORDER BY seq"
    ))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, filled_row(r, 1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let tx = conn.unchecked_transaction()?;
    for (id, row) in rows {
        move_holdings(&tx, &filled(&id, row)?)?;
    }
    tx.commit()?;
    tracing::warn!("the paper broker's holdings were rebuilt from the orders it remembers (a memory from an older build)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract;

    fn order(side: Side) -> Order {
        Order {
            client_order_id: "KC-news-00000001".into(),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: 1,
            symbol: "KC".into(),
            side,
            qty: Decimal::from(2),
            ref_price: "300.00".parse().unwrap(),
            at_ms: 5,
        }
    }

    #[test]
    fn paper_fills_slip_against_the_order_and_charge_per_contract() {
        let kc = contract("KC").unwrap();
        let mut b = PaperBroker::new(kc.clone(), 1, "2.50".parse().unwrap());
        let f = b.submit(&order(Side::Buy)).unwrap();
        assert_eq!(
            (f.price, f.commission),
            ("300.05".parse().unwrap(), Decimal::from(5))
        );
        assert!(
            matches!(b.submit(&order(Side::Buy)), Err(BrokerError::Rejected(_))),
            "same id twice"
        );
        let mut b = PaperBroker::new(kc, 1, Decimal::ZERO);
        assert_eq!(
            b.submit(&order(Side::Sell)).unwrap().price,
            "299.95".parse::<Decimal>().unwrap()
        );
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("commodore-paper-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        paper_broker_path(&dir.join("journal.sqlite"), "KC")
    }

    fn durable(path: &Path) -> PaperBroker {
        let kc = contract("KC").unwrap();
        PaperBroker::durable(path.to_owned(), Fsync::On, kc, 1, Decimal::ONE)
    }

    #[test]
    fn the_paper_broker_remembers_every_answer_across_instances() {
        let p = temp("remember");
        let mut b = durable(&p);
        let id = "KC-news-00000001";
        assert_eq!(b.lookup(id), Ok(Known::Unknown));
        let fill = b.submit(&order(Side::Buy)).unwrap();
        let mut zero = order(Side::Sell);
        zero.client_order_id = "KC-news-00000002".into();
        zero.qty = Decimal::ZERO;
        assert!(matches!(b.submit(&zero), Err(BrokerError::Rejected(_))));
        // A new instance (the daemon restarted, or was killed): same memory.
        drop(b);
        let mut b = durable(&p);
        assert_eq!(b.lookup(id), Ok(Known::Filled(fill)));
        assert_eq!(
            b.lookup("KC-news-00000002"),
            Ok(Known::Rejected("quantity 0 is not positive".into()))
        );
        assert_eq!(b.lookup("KC-news-00000003"), Ok(Known::Unknown));
        let again = b.submit(&order(Side::Buy)).unwrap_err();
        assert!(again.to_string().contains("duplicate"), "{again}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_paper_broker_that_cannot_reach_its_memory_is_unavailable_and_fills_nothing() {
        let p = temp("unreachable");
        // Where its directory goes is a file.
        std::fs::create_dir_all(p.parent().unwrap().parent().unwrap()).unwrap();
        std::fs::write(p.parent().unwrap(), "not a directory").unwrap();
        let mut b = durable(&p);
        let e = b.lookup("KC-news-00000001").unwrap_err();
        assert!(e.is_failure(), "{e}");
        assert!(e.to_string().contains("KC.paper.sqlite"), "{e}");
        assert!(matches!(
            b.submit(&order(Side::Buy)),
            Err(BrokerError::Unavailable(_))
        ));
        // Reachable again: opened at the next use, and nothing was filled.
        std::fs::remove_file(p.parent().unwrap()).unwrap();
        assert_eq!(b.lookup("KC-news-00000001"), Ok(Known::Unknown));
        assert!(b.submit(&order(Side::Buy)).is_ok());
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn the_paper_brokers_holdings_move_with_each_fill_and_outlive_its_pruning() {
        let p = temp("holdings");
        let mut b = durable(&p);
        let mut o = order(Side::Buy);
        let mut fills = Vec::new();
        for (i, side) in [Side::Buy, Side::Buy, Side::Sell].into_iter().enumerate() {
            o.client_order_id = format!("KC-news-{:08}", i + 1);
            o.side = side;
            fills.push(b.submit(&o).unwrap());
        }
        // A refusal moves nothing.
        o.client_order_id = "KC-news-00000009".into();
        o.qty = Decimal::ZERO;
        assert!(b.submit(&o).is_err());
        let expected = Holdings::of(&fills).unwrap();
        assert_eq!(expected.position("KC"), Decimal::from(2));
        drop(b);
        // The oldest two orders pruned (as beyond `PAPER_MEMORY`): another
        // instance (a restart) reads the same holdings.
        let c = Connection::open(&p).unwrap();
        c.execute("DELETE FROM paper_orders WHERE seq <= 2", [])
            .unwrap();
        let mut b = durable(&p);
        assert_eq!(b.holdings().unwrap(), expected);
        assert_eq!(b.lookup("KC-news-00000001").unwrap(), Known::Unknown);

        // A memory from a build before holdings: rebuilt from what it remembers.
        c.execute("DELETE FROM paper_holdings", []).unwrap();
        drop((b, c));
        let mut b = durable(&p);
        let remembered = Holdings::of(&fills[2..]).unwrap();
        assert_eq!(
            b.holdings().unwrap(),
            remembered,
            "only the remembered fill"
        );
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn the_paper_broker_forgets_only_beyond_its_bound() {
        let mut b = PaperBroker::new(contract("KC").unwrap(), 0, Decimal::ZERO);
        b.book.keep = 3;
        let mut o = order(Side::Buy);
        for i in 1..=(PRUNE_EVERY + 1) {
            o.client_order_id = format!("KC-news-{i:08}");
            b.submit(&o).unwrap();
        }
        // Pruned at the answer after every PRUNE_EVERY: the newest 3 kept.
        let known = |b: &mut PaperBroker, i: u64| b.lookup(&format!("KC-news-{i:08}")).unwrap();
        assert_eq!(known(&mut b, 1), Known::Unknown);
        assert_eq!(known(&mut b, PRUNE_EVERY - 2), Known::Unknown);
        for i in PRUNE_EVERY - 1..=PRUNE_EVERY + 1 {
            assert!(matches!(known(&mut b, i), Known::Filled(_)), "{i}");
        }
    }
}
