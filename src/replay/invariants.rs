//! The invariants of a finished replay, checked over its journal alone (the
//! SQLite file, opened read-only): the report lists them, and a replay whose
//! invariants fail exits 1 naming the one that failed.
//!
//! Each check is SQL aggregates, or one pass over one table, so memory stays
//! bounded at any number of orders; it says what it checked when it holds and
//! its first counter-example (ids, seqs) when not.
//!
//! What the journal does not keep is not guessed at:
//! - an engine's position is not journaled: a restart rebuilds it from the
//!   fills (the engine's ledger). `positions_match_fills` compares that
//!   position with the one the filled orders say, per engine and symbol.
//! - the risk level's history is its `risk_changed` events, whose detail the
//!   risk actor writes as `<FROM> -> <TO> by <who>: <reason>` (`who` is
//!   `operator reset` for a reset); the `state` table keeps the last level.
//! - decisions are numbered 1, 2, 3... per engine, each with one outcome, so a
//!   decision without an outcome row is a gap in its engine's numbers.

use commodore_actors::journal::{order_log_path, LevelRecord, StateKey, SCHEMA_VERSION};
use commodore_actors::model::{RiskLevel, Side};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Params, Row};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One invariant over a replay's journal.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Check {
    /// Stable: the report's key and the word the exit message names.
    pub name: &'static str,
    pub holds: bool,
    /// What was checked when it holds; the first counter-example when not.
    pub detail: String,
}

const UNIQUE_IDS: &str = "unique_client_order_ids";
const ONE_FILL: &str = "fills_are_parts_of_their_order";
const POSITIONS: &str = "fills_match_orders";
const ENGINE_POSITIONS: &str = "positions_match_fills";
const NO_LOOKAHEAD: &str = "no_lookahead";
const RISK: &str = "risk_level_only_rises_without_reset";
const OUTCOMES: &str = "one_outcome_per_decision";
const EVENT_SEQ: &str = "event_seq_without_gaps";
const FILL_EVENTS: &str = "fills_have_events";
const RECONCILED: &str = "journal_matches_broker_daily";

/// How the risk actor names an operator reset in a `risk_changed` detail.
const RESET_BY: &str = "operator reset";

/// Positions listed in a detail that holds (the rest are counted).
pub(super) const LISTED: usize = 8;

/// Every invariant over the journal at `path` (closed, the replay finished),
/// in a stable order. `Err` when there is no journal to check (it says what
/// to give instead) or it cannot be read.
pub fn check(path: &Path) -> Result<Vec<Check>, String> {
    let j = Journal::open(path)?;
    Ok(vec![
        j.unique_client_order_ids()?,
        j.fills_are_parts_of_their_order()?,
        j.positions_match_fills()?,
        j.risk_level_only_rises_without_reset()?,
        j.one_outcome_per_decision()?,
        j.event_seq_without_gaps()?,
        j.fills_have_events()?,
        j.journal_matches_broker_daily()?,
    ])
}

/// Each engine's position as its ledger held it at the end (`positions`:
/// engine, symbol, quantity) against the signed sum of the engine's fills in
/// the journal: what the engine traded on is what was journaled.
pub fn engine_positions(
    path: &Path,
    cfg: &crate::config::Config,
    positions: &[(String, String, Decimal)],
) -> Result<Check, String> {
    let j = Journal::open(path)?;
    let mut problems = Vec::new();
    let mut fills = 0u64;
    for e in &cfg.engines {
        let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut stmt = j
            .conn
            .prepare("SELECT symbol, side, qty FROM fills WHERE engine = ?1 ORDER BY id")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![e.id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        for row in rows {
            let (symbol, side, q) = row.map_err(|e| e.to_string())?;
            let q: Decimal = q
                .parse()
                .map_err(|_| format!("fill qty {q:?} is not a number"))?;
            let sign = if side == "sell" {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            *sums.entry(symbol).or_default() += sign * q;
            fills += 1;
        }
        let held: BTreeMap<String, Decimal> = positions
            .iter()
            .filter(|(id, _, _)| *id == e.id)
            .map(|(_, s, q)| (s.clone(), *q))
            .collect();
        for symbol in sums.keys().chain(held.keys()) {
            let (journaled, ledger) = (
                sums.get(symbol).copied().unwrap_or_default(),
                held.get(symbol).copied().unwrap_or_default(),
            );
            if journaled != ledger {
                problems.push(format!(
                    "engine {} {symbol}: its ledger holds {}, its journaled fills sum to {}",
                    e.id,
                    qty(ledger),
                    qty(journaled)
                ));
            }
        }
    }
    problems.dedup();
    let checked = format!(
        "{} over {}: every engine's position is the sum of its fills",
        n(fills, "fill"),
        n(cfg.engines.len() as u64, "engine")
    );
    Ok(Check::of(ENGINE_POSITIONS, problems, checked))
}

/// No decision or cross-engine read saw the market's future (the market
/// sequencer's promise, counted by `market::Lookahead` during the run).
pub fn no_lookahead(ran: &super::Ran) -> Check {
    let problems = match (&ran.lookahead_first, ran.lookahead_violations) {
        (_, 0) => Vec::new(),
        (first, v) => vec![format!(
            "{} of {} reads saw the future; the first: {}",
            v,
            ran.lookahead_checks,
            first.as_deref().unwrap_or("?")
        )],
    };
    let checked = format!(
        "{}: none saw a bar, a headline or an engine's book from after its market time",
        n(ran.lookahead_checks, "read")
    );
    Check::of(NO_LOOKAHEAD, problems, checked)
}

impl Check {
    /// Holds with `checked` when nothing was found, else fails with the
    /// counter-examples found.
    pub(super) fn of(name: &'static str, problems: Vec<String>, checked: String) -> Check {
        if problems.is_empty() {
            Check {
                name,
                holds: true,
                detail: checked,
            }
        } else {
            Check {
                name,
                holds: false,
                detail: problems.join("; "),
            }
        }
    }
}

/// "1 order" / "2 orders".
pub(super) fn n(count: u64, what: &str) -> String {
    format!("{count} {what}{}", if count == 1 { "" } else { "s" })
}

/// A decimal without trailing zeros, signed when short.
fn qty(d: Decimal) -> String {
    let d = d.normalize();
    if d > Decimal::ZERO {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

pub(super) struct Journal {
    pub(super) conn: Connection,
    path: PathBuf,
}

impl Journal {
    pub(super) fn open(path: &Path) -> Result<Journal, String> {
        let shown = path.display();
        let give = "give the journal.sqlite of a finished replay \
                    (<data_dir>/replay/<stamp>/journal.sqlite)";
        if !path.is_file() {
            return Err(format!("no journal at {shown}: {give}"));
        }
        unmoved_order_logs(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| format!("journal {shown}: {e}; {give}"))?;
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| format!("journal {shown}: {e}; {give}"))?;
        if version < 2 {
            return Err(format!(
                "{shown} is not a replay's journal (schema version {version}: no orders, fills \
                 or outcomes); {give}"
            ));
        }
        if version > SCHEMA_VERSION {
            return Err(format!(
                "journal {shown}: schema version {version} is newer than this commodore knows \
                 ({SCHEMA_VERSION}); check it with a newer commodore"
            ));
        }
        Ok(Journal {
            conn,
            path: path.to_owned(),
        })
    }

    /// The last decision of `engine` retention archived (0: none).
    fn carried_decision(&self, engine: &str) -> Result<i64, String> {
        let has_table = self.count(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'carried'",
            [],
        )? > 0;
        if !has_table {
            return Ok(0);
        }
        Ok(self
            .first(
                "SELECT decision_seq FROM carried WHERE engine = ?1",
                params![engine],
                |r| r.get::<_, i64>(0),
            )?
            .unwrap_or(0)
            .max(0))
    }

    /// The last seq retention archived (0: none, or a journal from before
    /// retention).
    fn archived_up_to(&self) -> Result<u64, String> {
        let has_table = self.count(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'event_days'",
            [],
        )? > 0;
        if !has_table {
            return Ok(0);
        }
        Ok(self
            .first("SELECT MAX(last_seq) FROM event_days", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .flatten()
            .unwrap_or(0)
            .max(0) as u64)
    }

    pub(super) fn sql(&self, e: rusqlite::Error) -> String {
        format!("journal {}: {e}", self.path.display())
    }

    fn corrupt(&self, what: String) -> String {
        format!("journal {}: corrupt: {what}", self.path.display())
    }

    pub(super) fn count(&self, sql: &str, p: impl Params) -> Result<u64, String> {
        self.conn
            .query_row(sql, p, |r| r.get::<_, Option<i64>>(0))
            .map(|c| c.unwrap_or(0).max(0) as u64)
            .map_err(|e| self.sql(e))
    }

    /// The first row of `sql`, if any.
    pub(super) fn first<T>(
        &self,
        sql: &str,
        p: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, String> {
        self.conn
            .query_row(sql, p, f)
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// 1. No client order id twice (nor a decision with two orders: the
    ///    other half of an order's identity), and no fill without its order.
    fn unique_client_order_ids(&self) -> Result<Check, String> {
        let orders = self.count("SELECT COUNT(*) FROM orders", [])?;
        let fills = self.count("SELECT COUNT(*) FROM fills", [])?;
        let mut problems = Vec::new();
        let twice = self.first(
            "SELECT client_order_id, COUNT(*) FROM orders GROUP BY client_order_id
             HAVING COUNT(*) > 1 ORDER BY client_order_id LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )?;
        if let Some((id, times)) = twice {
            let all = self.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM orders GROUP BY client_order_id
                 HAVING COUNT(*) > 1)",
                [],
            )?;
            problems.push(format!(
                "order {id} is journaled {times} times ({} in all)",
                n(all, "repeated id")
            ));
        }
        let decision = self.first(
            "SELECT engine, decision_seq, COUNT(*), MIN(client_order_id), MAX(client_order_id)
             FROM orders GROUP BY engine, decision_seq HAVING COUNT(*) > 1
             ORDER BY engine, decision_seq LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )?;
        if let Some((engine, seq, times, a, b)) = decision {
            problems.push(format!(
                "{engine} decision {seq} has {times} orders ({a} .. {b})"
            ));
        }
        let orphan = self.first(
            "SELECT f.id, f.client_order_id FROM fills f
             WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.client_order_id = f.client_order_id)
             ORDER BY f.id LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        if let Some((id, coid)) = orphan {
            let all = self.count(
                "SELECT COUNT(*) FROM fills f WHERE NOT EXISTS
                 (SELECT 1 FROM orders o WHERE o.client_order_id = f.client_order_id)",
                [],
            )?;
            problems.push(format!(
                "fill {id} is of {coid}, which no order has ({} in all)",
                n(all, "such fill")
            ));
        }
        let checked = format!(
            "{}, {}: no client order id twice, every fill's order journaled",
            n(orders, "order"),
            n(fills, "fill")
        );
        Ok(Check::of(UNIQUE_IDS, problems, checked))
    }

    /// Every fill has its `order_filled` event (the detail starts with the
    /// client order id): they are journaled in one transaction. A fill from
    /// before `journal.archived_before` may have its event in the archive.
    fn fills_have_events(&self) -> Result<Check, String> {
        const MISSING: &str = "FROM fills f LEFT JOIN
             (SELECT substr(detail, 1, instr(detail, ' ') - 1) AS id FROM events
              WHERE kind = 'order_filled') e ON e.id = f.client_order_id
             WHERE e.id IS NULL AND f.at_ms >= ?1";
        let archived_before = self
            .first(
                "SELECT CAST(value AS INTEGER) FROM state WHERE key = ?1",
                params![StateKey::JournalArchivedBefore.name()],
                |r| r.get::<_, i64>(0),
            )?
            .unwrap_or(0);
        let fills = self.count("SELECT COUNT(*) FROM fills", [])?;
        let missing = self.count(
            &format!("SELECT COUNT(*) {MISSING}"),
            params![archived_before],
        )?;
        let mut problems = Vec::new();
        if missing > 0 {
            let first = self
                .first(
                    &format!("SELECT f.client_order_id {MISSING} ORDER BY f.id LIMIT 1"),
                    params![archived_before],
                    |r| r.get::<_, String>(0),
                )?
                .unwrap_or_default();
            problems.push(format!(
                "the fill of {first} has no order_filled event ({} in all)",
                n(missing, "such fill")
            ));
        }
        let checked = format!("{}, each with its order_filled event", n(fills, "fill"));
        Ok(Check::of(FILL_EVENTS, problems, checked))
    }

    /// Every daily reconciliation found the journal and the brokers agree
    /// (no `reconcile_mismatch` event).
    fn journal_matches_broker_daily(&self) -> Result<Check, String> {
        let days = self.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'daily_summary'",
            [],
        )?;
        let mismatches = self.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'reconcile_mismatch'",
            [],
        )?;
        let mut problems = Vec::new();
        if mismatches > 0 {
            let first = self
                .first(
                    "SELECT detail FROM events WHERE kind = 'reconcile_mismatch' ORDER BY seq LIMIT 1",
                    [],
                    |r| r.get::<_, String>(0),
                )?
                .unwrap_or_default();
            problems.push(format!(
                "{} ({} reconciled); the first: {first}",
                n(mismatches, "reconciliation mismatch"),
                n(days, "market day")
            ));
        }
        let checked = format!(
            "{} reconciled: each engine's journal positions and cash match its broker's",
            n(days, "market day")
        );
        Ok(Check::of(RECONCILED, problems, checked))
    }

    /// 2. An order's fills are its parts: every `filled` order has at least
    ///    one, each part is journaled once, every fill's order says `filled`
    ///    or `working`, and a limit order's fills are at its limit or better.
    fn fills_are_parts_of_their_order(&self) -> Result<Check, String> {
        let filled = self.count("SELECT COUNT(*) FROM orders WHERE status = 'filled'", [])?;
        let fills = self.count("SELECT COUNT(*) FROM fills", [])?;
        let mut problems = Vec::new();
        let none = self.first(
            "SELECT client_order_id FROM orders o WHERE status = 'filled' AND NOT EXISTS
             (SELECT 1 FROM fills f WHERE f.client_order_id = o.client_order_id)
             ORDER BY engine, decision_seq LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )?;
        if let Some(id) = none {
            let all = self.count(
                "SELECT COUNT(*) FROM orders o WHERE status = 'filled' AND NOT EXISTS
                 (SELECT 1 FROM fills f WHERE f.client_order_id = o.client_order_id)",
                [],
            )?;
            problems.push(format!(
                "order {id} is filled but has no fill ({} in all)",
                n(all, "such order")
            ));
        }
        let twice = self.first(
            "SELECT client_order_id, part, COUNT(*), MIN(id), MAX(id) FROM fills
             GROUP BY client_order_id, part HAVING COUNT(*) > 1 ORDER BY MIN(id) LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )?;
        if let Some((id, part, times, a, b)) = twice {
            let all = self.count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM fills GROUP BY client_order_id, part
                 HAVING COUNT(*) > 1)",
                [],
            )?;
            problems.push(format!(
                "order {id} has part {part} {times} times (fill {a} .. {b}; {} in all)",
                n(all, "such part")
            ));
        }
        let unfilled = self.first(
            "SELECT f.id, f.client_order_id, o.status FROM fills f
             JOIN orders o ON o.client_order_id = f.client_order_id
             WHERE o.status NOT IN ('filled', 'working') ORDER BY f.id LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        if let Some((id, coid, status)) = unfilled {
            problems.push(format!("fill {id} is of {coid}, whose order is {status}"));
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, f.client_order_id, f.side, f.price, o.limit_price FROM fills f
                 JOIN orders o ON o.client_order_id = f.client_order_id
                 WHERE o.limit_price != '' ORDER BY f.id",
            )
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        let (mut limit_fills, mut beyond) = (0u64, None::<String>);
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let text = |i: usize| r.get::<_, String>(i).map_err(|e| self.sql(e));
            let id = r.get::<_, i64>(0).map_err(|e| self.sql(e))?;
            let (coid, side, price, limit) = (text(1)?, text(2)?, text(3)?, text(4)?);
            let dec = |s: &str| {
                s.parse::<Decimal>()
                    .map_err(|e| self.corrupt(format!("fill {id}: {s:?}: {e}")))
            };
            let side: Side = side
                .parse()
                .map_err(|e| self.corrupt(format!("fill {id}: {e}")))?;
            let (price, limit) = (dec(&price)?, dec(&limit)?);
            limit_fills += 1;
            let worse = match side {
                Side::Buy => price > limit,
                Side::Sell => price < limit,
            };
            if worse && beyond.is_none() {
                beyond = Some(format!(
                    "fill {id} of {coid} is at {price}, beyond its limit {limit}"
                ));
            }
        }
        problems.extend(beyond);
        let limits = match limit_fills {
            0 => String::new(),
            1 => "; 1 limit fill, at its limit or better".to_owned(),
            k => format!("; {k} limit fills, at their limit or better"),
        };
        let checked = format!(
            "{}, {}: each part once{limits}",
            n(filled, "filled order"),
            n(fills, "fill"),
        );
        Ok(Check::of(ONE_FILL, problems, checked))
    }

    /// 3. Per engine and symbol, the position a restart rebuilds (the signed
    ///    sum of the fills) equals the one the orders they filled say; one
    ///    pass over the fills with their orders.
    fn positions_match_fills(&self) -> Result<Check, String> {
        /// (from the fills, from their orders, fills).
        type Book = (Decimal, Decimal, u64);
        let mut books: BTreeMap<(String, String), Book> = BTreeMap::new();
        /// Per order: its engine, symbol, signed quantity, whether it filled
        /// in full, and what its fills add up to.
        type Filled = (String, String, Decimal, bool, Decimal);
        let mut orders: BTreeMap<String, Filled> = BTreeMap::new();
        let (mut fills, mut first, mut differ) = (0u64, None::<String>, 0u64);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, f.client_order_id, f.engine, f.symbol, f.side, f.qty,
                        o.engine, o.symbol, o.side, o.qty, o.status = 'filled' AND o.detail = ''
                 FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id
                 ORDER BY f.id",
            )
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let text = |i: usize| r.get::<_, String>(i).map_err(|e| self.sql(e));
            let id = r.get::<_, i64>(0).map_err(|e| self.sql(e))?;
            let coid = text(1)?;
            let (fe, fs, fside, fqty) = (text(2)?, text(3)?, text(4)?, text(5)?);
            let (oe, os, oside, oqty) = (text(6)?, text(7)?, text(8)?, text(9)?);
            let signed = |side: &str, q: &str, whose: &str| -> Result<Decimal, String> {
                let side: Side = side
                    .parse()
                    .map_err(|e| self.corrupt(format!("{whose} of fill {id}: {e}")))?;
                let q: Decimal = q
                    .parse()
                    .map_err(|e| self.corrupt(format!("{whose} of fill {id}: qty {q:?}: {e}")))?;
                Ok(side.sign() * q)
            };
            let (from_fill, from_order) = (
                signed(&fside, &fqty, "fill")?,
                signed(&oside, &oqty, "the order")?,
            );
            let full = r.get::<_, bool>(10).map_err(|e| self.sql(e))?;
            fills += 1;
            // A part of its order: the same book and side, never more.
            let unlike = (&fe, &fs, from_fill.is_sign_negative())
                != (&oe, &os, from_order.is_sign_negative())
                || from_fill.abs() > from_order.abs();
            if unlike {
                differ += 1;
                first.get_or_insert_with(|| {
                    format!(
                        "fill {id} ({coid}) is {fe} {fs} {}, its order {oe} {os} {}",
                        qty(from_fill),
                        qty(from_order)
                    )
                });
            }
            let book = books.entry((fe, fs)).or_default();
            book.0 += from_fill;
            book.2 += 1;
            // What the order says it filled: all of it when it filled in
            // full, else what its parts add up to (at most all of it).
            let o = orders
                .entry(coid)
                .or_insert((oe, os, from_order, full, Decimal::ZERO));
            o.4 += from_fill.abs();
        }
        for (oe, os, whole, full, parts) in orders.into_values() {
            let filled = if full {
                whole.abs()
            } else {
                parts.min(whole.abs())
            };
            let signed = if whole.is_sign_negative() {
                -filled
            } else {
                filled
            };
            books.entry((oe, os)).or_default().1 += signed;
        }
        let mut problems: Vec<String> = books
            .iter()
            .filter(|(_, b)| b.0 != b.1)
            .map(|((engine, symbol), b)| {
                format!(
                    "{engine} {symbol}: position {} from its fills, {} from the orders they filled",
                    qty(b.0),
                    qty(b.1)
                )
            })
            .collect();
        if let Some(first) = first {
            problems.push(format!(
                "first: {first} ({} in all)",
                n(differ, "fill unlike its order")
            ));
        }
        let mut listed: Vec<String> = books
            .iter()
            .take(LISTED)
            .map(|((engine, symbol), b)| format!("{engine} {symbol} {}", qty(b.0)))
            .collect();
        if books.len() > LISTED {
            listed.push(format!("and {} more", books.len() - LISTED));
        }
        let checked = if books.is_empty() {
            "no fills: every position flat".to_owned()
        } else {
            format!(
                "the positions rebuilt from {} match the orders they filled: {}",
                n(fills, "fill"),
                listed.join(", ")
            )
        };
        Ok(Check::of(POSITIONS, problems, checked))
    }

    /// 4. Along its `risk_changed` events, the level never falls but at an
    ///    operator reset (nor between two events), and the `state` table
    ///    keeps the level the last event left.
    fn risk_level_only_rises_without_reset(&self) -> Result<Check, String> {
        let (mut changes, mut resets) = (0u64, 0u64);
        let mut first_from = None::<RiskLevel>;
        let mut last = None::<(i64, RiskLevel)>;
        let mut problems = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT seq, detail FROM events WHERE kind = ?1 ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let kind = commodore_actors::events::RISK_CHANGED.as_str();
        let mut rows = stmt.query(params![kind]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let seq = r.get::<_, i64>(0).map_err(|e| self.sql(e))?;
            let detail = r.get::<_, String>(1).map_err(|e| self.sql(e))?;
            let Some((from, to, reset)) = risk_change(&detail) else {
                problems.push(format!(
                    "event {seq}: {kind} {detail:?} is not `<FROM> -> <TO> by <who>: <reason>`"
                ));
                break;
            };
            changes += 1;
            resets += u64::from(reset);
            first_from.get_or_insert(from);
            if let Some((at, was)) = last.filter(|(_, was)| from < *was) {
                problems.push(format!(
                    "event {seq} starts from {from}, but event {at} left it at {was}: it fell \
                     with no reset journaled"
                ));
                break;
            }
            if to < from && !reset {
                problems.push(format!("event {seq}: {detail}: it fell, not at a reset"));
                break;
            }
            last = Some((seq, to));
        }
        drop(rows);
        let state = self.first(
            "SELECT value FROM state WHERE key = ?1",
            params![StateKey::RiskLevel.name()],
            |r| r.get::<_, String>(0),
        )?;
        let state = match state.as_deref().map(LevelRecord::decode) {
            None => None,
            Some(Ok(l)) => Some(l.0),
            Some(Err(e)) => return Err(self.corrupt(format!("{}: {e}", StateKey::RiskLevel))),
        };
        if let (true, Some((at, to))) = (problems.is_empty(), last) {
            match state {
                Some(s) if s < to => problems.push(format!(
                    "the state's {} is {s}, but event {at} left it at {to}: it fell with no reset \
                     journaled",
                    StateKey::RiskLevel
                )),
                None if to > RiskLevel::Normal => problems.push(format!(
                    "the state has no {}, but event {at} left it at {to}: a restart would start \
                     at NORMAL",
                    StateKey::RiskLevel
                )),
                _ => {}
            }
        }
        let now = state.map_or_else(|| "none".to_owned(), |s| s.to_string());
        let checked = match (first_from, last) {
            (Some(from), Some((_, to))) => format!(
                "{} ({}), from {from} to {to}; the state's level {now}",
                n(changes, "level change"),
                n(resets, "operator reset")
            ),
            _ => format!("no level change journaled; the state's level {now}"),
        };
        Ok(Check::of(RISK, problems, checked))
    }

    /// 5. Every decision (1, 2, 3... per engine) has exactly one outcome;
    ///    every order's decision is `executed` (or `error` for an order
    ///    abandoned as `rejected`), and every `executed` one has its order.
    fn one_outcome_per_decision(&self) -> Result<Check, String> {
        let mut problems = Vec::new();
        let twice = self.first(
            "SELECT engine, decision_seq, COUNT(*) FROM outcomes GROUP BY engine, decision_seq
             HAVING COUNT(*) > 1 ORDER BY engine, decision_seq LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )?;
        if let Some((engine, seq, times)) = twice {
            problems.push(format!("{engine} decision {seq} has {times} outcomes"));
        }
        // Per engine: its highest decision, and whether 1..=it all have one.
        let engines: Vec<(String, i64)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT engine, MAX(decision_seq) FROM
                     (SELECT engine, decision_seq FROM orders
                      UNION ALL SELECT engine, decision_seq FROM outcomes)
                     GROUP BY engine ORDER BY engine",
                )
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.sql(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?
        };
        let mut decisions = 0u64;
        for (engine, max) in &engines {
            let max = (*max).max(0);
            // Retention archived the decisions up to `base` (with their
            // outcomes): the journal's run from `base + 1`.
            let base = self.carried_decision(engine)?;
            let first = base + 1;
            decisions += (max - base).max(0) as u64;
            let have = self.count(
                "SELECT COUNT(*) FROM outcomes WHERE engine = ?1 AND decision_seq BETWEEN ?3 AND ?2",
                params![engine, max, first],
            )?;
            if have >= (max - base).max(0) as u64 {
                continue;
            }
            let has_first = self.count(
                "SELECT COUNT(*) FROM outcomes WHERE engine = ?1 AND decision_seq = ?2",
                params![engine, first],
            )? > 0;
            let gap = if has_first {
                // The first decision whose successor has none.
                self.first(
                    "SELECT o.decision_seq + 1 FROM outcomes o
                     WHERE o.engine = ?1 AND o.decision_seq BETWEEN ?3 AND ?2 - 1 AND NOT EXISTS
                     (SELECT 1 FROM outcomes p WHERE p.engine = o.engine
                      AND p.decision_seq = o.decision_seq + 1)
                     ORDER BY o.decision_seq LIMIT 1",
                    params![engine, max, first],
                    |r| r.get::<_, i64>(0),
                )?
                .unwrap_or(max)
            } else {
                first
            };
            problems.push(format!(
                "{engine} decision {gap} has no outcome ({} of its {max} without one)",
                (max - base).max(0) as u64 - have
            ));
        }
        let orders = self.count("SELECT COUNT(*) FROM orders", [])?;
        let bad_order = self.first(
            "SELECT o.client_order_id, o.engine, o.decision_seq, o.status, c.outcome
             FROM orders o LEFT JOIN outcomes c
               ON c.engine = o.engine AND c.decision_seq = o.decision_seq
             WHERE c.outcome IS NULL OR (c.outcome != 'executed'
               AND NOT (c.outcome = 'error' AND o.status = 'rejected'))
             ORDER BY o.engine, o.decision_seq LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        if let Some((id, engine, seq, status, outcome)) = bad_order {
            problems.push(match outcome {
                None => {
                    format!("order {id} ({status}): its decision {engine} {seq} has no outcome")
                }
                Some(o) => format!(
                    "order {id} ({status}): its decision {engine} {seq} is {o}, not executed"
                ),
            });
        }
        let orderless = self.first(
            "SELECT c.engine, c.decision_seq FROM outcomes c WHERE c.outcome = 'executed'
             AND NOT EXISTS (SELECT 1 FROM orders o
                             WHERE o.engine = c.engine AND o.decision_seq = c.decision_seq)
             ORDER BY c.engine, c.decision_seq LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )?;
        if let Some((engine, seq)) = orderless {
            problems.push(format!(
                "{engine} decision {seq} is executed, but no order of it is journaled"
            ));
        }
        let checked = format!(
            "{} of {}, one outcome each; {}, each of an executed decision",
            n(decisions, "decision"),
            n(engines.len() as u64, "engine"),
            n(orders, "order")
        );
        Ok(Check::of(OUTCOMES, problems, checked))
    }

    /// 6. The events' seq runs from its first to its last without a gap.
    fn event_seq_without_gaps(&self) -> Result<Check, String> {
        let (first, last, count) = self
            .conn
            .query_row("SELECT MIN(seq), MAX(seq), COUNT(*) FROM events", [], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Check::of(EVENT_SEQ, vec![], "no events journaled".into()));
        };
        let span = last - first + 1;
        let mut checked = format!("{}, seq {first} to {last}", n(count as u64, "event"));
        // Retention moved the oldest to the archive files: the journal's
        // first event follows the last archived one.
        let archived = self.archived_up_to()?;
        if archived > 0 {
            checked = format!("{checked}, after {archived} archived");
            if archived + 1 != first as u64 {
                return Ok(Check::of(
                    EVENT_SEQ,
                    vec![format!(
                        "the archive ends at seq {archived} but the journal starts at {first}"
                    )],
                    checked,
                ));
            }
        }
        if count >= span {
            return Ok(Check::of(EVENT_SEQ, vec![], checked));
        }
        let before = self.first(
            "SELECT e.seq FROM events e WHERE e.seq < ?1 AND NOT EXISTS
             (SELECT 1 FROM events n WHERE n.seq = e.seq + 1) ORDER BY e.seq LIMIT 1",
            params![last],
            |r| r.get::<_, i64>(0),
        )?;
        let problem = match before {
            Some(at) => {
                let next = self.count("SELECT MIN(seq) FROM events WHERE seq > ?1", params![at])?;
                format!(
                    "event {at} is followed by {next} ({} missing there, {} between {first} and \
                     {last})",
                    next as i64 - at - 1,
                    span - count
                )
            }
            None => format!("{} missing between {first} and {last}", span - count),
        };
        Ok(Check::of(EVENT_SEQ, vec![problem], checked))
    }
}

/// A `risk_changed` detail as the risk actor writes it: (from, to, whether
/// an operator reset).
fn risk_change(detail: &str) -> Option<(RiskLevel, RiskLevel, bool)> {
    let (from, rest) = detail.split_once(" -> ")?;
    let (to, rest) = rest.split_once(" by ")?;
    let reset = rest
        .strip_prefix(RESET_BY)
        .is_some_and(|r| r.starts_with(": "));
    Some((from.parse().ok()?, to.parse().ok()?, reset))
}

/// `Err` when an engine's order log beside the journal still holds what the
/// journal has not taken (orders, outcomes): the journal is not the whole
/// replay, and its invariants would be checked on part of it.
fn unmoved_order_logs(journal: &Path) -> Result<(), String> {
    let log = order_log_path(journal, "_");
    let Some(dir) = log.parent() else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // no order log at all
    };
    let mut logs: Vec<(PathBuf, u64)> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("order logs {}: {e}", dir.display()))?;
        let path = e.path();
        if path.extension().is_some_and(|x| x == "log") {
            let len = e
                .metadata()
                .map_err(|e| format!("order log {}: {e}", path.display()))?
                .len();
            logs.push((path, len));
        }
    }
    logs.sort();
    match logs.into_iter().find(|(_, len)| *len > 0) {
        None => Ok(()),
        Some((log, len)) => Err(format!(
            "journal {}: the order log {} still holds {len} bytes the journal has not taken \
             (orders or decision outcomes), so the journal is not the whole replay: it did not \
             stop cleanly; run it again",
            journal.display(),
            log.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::events::{ORDER_FILLED, ORDER_SUBMITTED, RISK_CHANGED};
    use commodore_actors::journal::{OutcomeRow, Store};
    use commodore_actors::kernel::{Event, EventKind};
    use commodore_actors::model::{Fill, Order, Outcome};

    /// A fresh journal path for test `name` (its directory emptied).
    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "commodore-invariants-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("journal.sqlite")
    }

    /// Writes a journal as the daemon does, through the Store.
    struct Writer {
        store: Store,
        events: Vec<Event>,
        decisions: BTreeMap<String, u64>,
    }

    impl Writer {
        fn new(path: &Path) -> Writer {
            Writer {
                store: Store::open(path).unwrap(),
                events: Vec::new(),
                decisions: BTreeMap::new(),
            }
        }

        fn event(&mut self, kind: EventKind, path: &str, detail: String) {
            let seq = self.events.len() as u64 + 1;
            self.events.push(Event {
                seq,
                at_ms: 1_000 + seq,
                kind,
                path: path.into(),
                detail,
            });
        }

        fn next(&mut self, engine: &str) -> u64 {
            let d = self.decisions.entry(engine.into()).or_default();
            *d += 1;
            *d
        }

        fn outcome(&self, engine: &str, seq: u64, outcome: Outcome, detail: &str) -> OutcomeRow {
            OutcomeRow {
                engine: engine.into(),
                decision_seq: seq,
                symbol: engine.into(),
                strategy: "news".into(),
                outcome,
                detail: detail.into(),
                at_ms: seq,
            }
        }

        /// A decision without an order.
        fn decide(&mut self, engine: &str, outcome: Outcome) {
            let seq = self.next(engine);
            let row = self.outcome(engine, seq, outcome, "no order");
            self.store.append_outcomes(&[row]).unwrap();
        }

        /// A decision with its order, journaled and submitted.
        fn order(&mut self, engine: &str, side: Side, qty: i64) -> Order {
            let seq = self.next(engine);
            let o = Order {
                limit: None,
                client_order_id: format!("{engine}-news-{seq:08}"),
                engine: engine.into(),
                strategy: "news".into(),
                decision_seq: seq,
                symbol: engine.into(),
                side,
                qty: Decimal::from(qty),
                ref_price: Decimal::from(300),
                at_ms: seq,
            };
            let row = self.outcome(engine, seq, Outcome::Executed, &o.client_order_id);
            self.store.insert_order(&o, &row, seq).unwrap();
            let detail = format!(
                "{} {} {qty} {engine} ref 300",
                o.client_order_id,
                side.as_str()
            );
            self.event(
                ORDER_SUBMITTED,
                &format!("master/{engine}/executor"),
                detail,
            );
            o
        }

        fn fill(&mut self, o: &Order) {
            let f = Fill {
                part: 1,
                client_order_id: o.client_order_id.clone(),
                engine: o.engine.clone(),
                symbol: o.symbol.clone(),
                side: o.side,
                qty: o.qty,
                price: o.ref_price,
                commission: Decimal::new(250, 2),
                at_ms: o.at_ms,
            };
            assert!(self.store.record_fill(&f).unwrap().is_some());
            let detail = format!("{} {} {}", o.client_order_id, o.side.as_str(), o.qty);
            self.event(
                ORDER_FILLED,
                &format!("master/{}/executor", o.engine),
                detail,
            );
        }

        /// The level moves, journaled as the risk actor does.
        fn risk(&mut self, from: RiskLevel, to: RiskLevel, who: &str, reason: &str) {
            self.store
                .put_state_durable(StateKey::RiskLevel, &LevelRecord(to).encode(), reason, 1)
                .unwrap();
            let detail = format!("{from} -> {to} by {who}: {reason}");
            self.event(RISK_CHANGED, "master/portfolio_risk", detail);
        }

        fn close(mut self) {
            self.store.append_events(&self.events).unwrap();
        }
    }

    /// A consistent journal: two engines; orders filled, rejected, abandoned
    /// and pending; decisions without orders; the level raised, reset and
    /// raised again. Its events, by seq: 1, 2 `started`; 3 NORMAL -> HALT;
    /// 4 the reset; 5-8 orders; 9 NORMAL -> WARNING; 10-14 orders;
    /// 15 WARNING -> HALT.
    fn consistent(name: &str) -> PathBuf {
        use RiskLevel::*;
        let p = temp(name);
        let mut w = Writer::new(&p);
        w.event(EventKind::Started, "master/journal", String::new());
        w.event(EventKind::Started, "master/portfolio_risk", String::new());
        w.risk(Normal, Halt, "master/KC/guard", "daily loss");
        w.risk(Halt, Normal, RESET_BY, "losses accepted");
        w.decide("KC", Outcome::Vetoed); // KC 1
        let o = w.order("KC", Side::Buy, 2); // KC 2
        w.fill(&o);
        w.decide("KC", Outcome::Buffered); // KC 3
        let o = w.order("KC", Side::Sell, 1); // KC 4
        w.fill(&o);
        w.risk(Normal, Warning, "master/KC/guard", "daily loss");
        let o = w.order("KC", Side::Buy, 1); // KC 5: the broker refused it
        w.store.reject_order(&o.client_order_id, "refused").unwrap();
        let o = w.order("KC", Side::Buy, 1); // KC 6: abandoned
        let error = w.outcome("KC", 6, Outcome::Error, "executor: gone");
        w.store.abandon_order(&o, &error).unwrap();
        w.order("KC", Side::Buy, 1); // KC 7: still pending
        let o = w.order("CC", Side::Sell, 3); // CC 1
        w.fill(&o);
        w.decide("CC", Outcome::LowScore); // CC 2
        w.risk(
            Warning,
            Halt,
            "master/portfolio_risk",
            "account drawdown 6%",
        );
        w.close();
        p
    }

    #[test]
    fn a_journal_whose_old_events_were_archived_still_holds() {
        let p = consistent("archived");
        let before = check(&p).unwrap();
        let mut s = Store::open(&p).unwrap();
        let done = s.archive_events(u64::MAX, 1_000).unwrap();
        assert!(done.events >= 10, "{done:?}");
        drop(s);
        let after = check(&p).unwrap();
        assert!(after.iter().all(|c| c.holds), "{after:#?}");
        let seq = after.iter().find(|c| c.name == EVENT_SEQ).unwrap();
        assert!(seq.detail.contains("archived"), "{}", seq.detail);
        assert_eq!(before.len(), after.len());
        // Orders, fills and outcomes too (up to KC's pending order, and all
        // but CC's newest decision): the decisions run on from the balance.
        let mut s = Store::open(&p).unwrap();
        let done = s.archive_orders(u64::MAX, 1_000).unwrap();
        assert!(done.decisions >= 6 && done.fills >= 2, "{done:?}");
        drop(s);
        let after = check(&p).unwrap();
        assert!(after.iter().all(|c| c.holds), "{after:#?}");
        // The journal's first event must follow the archive's last.
        plant(&p, "UPDATE event_days SET last_seq = last_seq - 1 WHERE last_seq = (SELECT MAX(last_seq) FROM event_days)");
        let detail = only_fails(&p, EVENT_SEQ);
        assert!(detail.starts_with("the archive ends at seq"), "{detail}");
    }

    /// Raw SQL on a journal (planting a violation), foreign keys off (the
    /// bundled SQLite enforces them: no build of ours can write an orphan).
    fn plant(p: &Path, sql: &str) {
        let c = rusqlite::Connection::open(p).unwrap();
        c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        c.execute_batch(sql).unwrap();
    }

    /// Exactly invariant `name` fails: its detail.
    fn only_fails(p: &Path, name: &str) -> String {
        let checks = check(p).unwrap();
        let failed: Vec<&str> = checks.iter().filter(|c| !c.holds).map(|c| c.name).collect();
        assert_eq!(failed, vec![name], "{checks:#?}");
        checks.into_iter().find(|c| c.name == name).unwrap().detail
    }

    #[test]
    fn invariants_hold_on_a_consistent_journal_and_say_what_they_checked() {
        let p = consistent("ok");
        let checks = check(&p).unwrap();
        let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                UNIQUE_IDS,
                ONE_FILL,
                POSITIONS,
                RISK,
                OUTCOMES,
                EVENT_SEQ,
                FILL_EVENTS,
                RECONCILED
            ]
        );
        assert!(checks.iter().all(|c| c.holds), "{checks:#?}");
        let detail = |i: usize| checks[i].detail.as_str();
        assert_eq!(
            detail(0),
            "6 orders, 3 fills: no client order id twice, every fill's order journaled"
        );
        assert_eq!(detail(1), "3 filled orders, 3 fills: each part once");
        assert_eq!(
            detail(2),
            "the positions rebuilt from 3 fills match the orders they filled: CC CC -3, KC KC +1"
        );
        assert_eq!(
            detail(3),
            "4 level changes (1 operator reset), from NORMAL to HALT; the state's level HALT"
        );
        assert_eq!(
            detail(4),
            "9 decisions of 2 engines, one outcome each; 6 orders, each of an executed decision"
        );
        assert_eq!(detail(5), "15 events, seq 1 to 15");
        assert_eq!(
            detail(7),
            "0 market days reconciled: each engine's journal positions and cash match its broker's"
        );
        // What the report carries.
        let json = serde_json::to_value(&checks[5]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": EVENT_SEQ, "holds": true, "detail": "15 events, seq 1 to 15"})
        );
    }

    #[test]
    fn a_reconciliation_mismatch_breaks_journal_matches_broker_daily() {
        let p = consistent("mismatch");
        plant(
            &p,
            "INSERT INTO events (seq, at_ms, kind, path, detail)
             VALUES (16, 9, 'reconcile_mismatch', 'master/reconcile',
                     '2026-01-05: KC: KC: journal holds 1 contracts, the broker 2');
             INSERT INTO events (seq, at_ms, kind, path, detail)
             VALUES (17, 9, 'daily_summary', 'master/reconcile', '2026-01-05: ...')",
        );
        let detail = only_fails(&p, RECONCILED);
        assert_eq!(
            detail,
            "1 reconciliation mismatch (1 market day reconciled); the first: 2026-01-05: KC: KC: journal holds 1 contracts, the broker 2"
        );
    }

    #[test]
    fn a_fill_without_its_order_breaks_unique_client_order_ids() {
        let p = consistent("orphan");
        plant(
            &p,
            "INSERT INTO fills (client_order_id, engine, symbol, side, qty, price, commission, at_ms)
             VALUES ('KC-news-00000099', 'KC', 'KC', 'buy', '1', '300', '2.5', 9);
             INSERT INTO events (seq, at_ms, kind, path, detail)
             VALUES (16, 9, 'order_filled', 'master/KC/executor', 'KC-news-00000099 buy 1')",
        );
        let detail = only_fails(&p, UNIQUE_IDS);
        assert_eq!(
            detail,
            "fill 4 is of KC-news-00000099, which no order has (1 such fill in all)"
        );
    }

    #[test]
    fn an_order_journaled_twice_breaks_unique_client_order_ids() {
        let p = consistent("twice");
        // Without its primary key, as no build of ours makes it.
        plant(
            &p,
            "CREATE TABLE o2 AS SELECT * FROM orders; DROP TABLE orders;
             ALTER TABLE o2 RENAME TO orders;
             INSERT INTO orders SELECT * FROM orders WHERE client_order_id = 'KC-news-00000005';",
        );
        let detail = only_fails(&p, UNIQUE_IDS);
        assert!(
            detail
                .starts_with("order KC-news-00000005 is journaled 2 times (1 repeated id in all)"),
            "{detail}"
        );
        assert!(detail.contains("KC decision 5 has 2 orders"), "{detail}");
    }

    #[test]
    fn a_part_journaled_twice_breaks_fills_are_parts_of_their_order() {
        let p = consistent("dupfill");
        plant(
            &p,
            "CREATE TABLE f2 AS SELECT * FROM fills; DROP TABLE fills;
             ALTER TABLE f2 RENAME TO fills;
             INSERT INTO fills SELECT id + 10, client_order_id, part, engine, symbol, side, qty, price,
               commission, at_ms FROM fills WHERE client_order_id = 'KC-news-00000004';",
        );
        // The position the fills make is off too: the order filled once.
        let checks = check(&p).unwrap();
        let failed: Vec<(&str, &str)> = checks
            .iter()
            .filter(|c| !c.holds)
            .map(|c| (c.name, c.detail.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                (
                    ONE_FILL,
                    "order KC-news-00000004 has part 1 2 times (fill 2 .. 12; 1 such part in all)"
                ),
                (
                    POSITIONS,
                    "KC KC: position 0 from its fills, +1 from the orders they filled"
                )
            ]
        );
    }

    #[test]
    fn a_filled_order_without_its_fill_breaks_fills_are_parts_of_their_order() {
        let p = consistent("nofill");
        plant(
            &p,
            "DELETE FROM fills WHERE client_order_id = 'CC-news-00000001';
             UPDATE orders SET status = 'filled' WHERE client_order_id = 'KC-news-00000007';",
        );
        let detail = only_fails(&p, ONE_FILL);
        assert_eq!(
            detail,
            "order CC-news-00000001 is filled but has no fill (2 such orders in all)"
        );
        // A fill of an order that does not say filled.
        let p = consistent("unfilled");
        plant(
            &p,
            "UPDATE orders SET status = 'rejected' WHERE client_order_id = 'KC-news-00000002'",
        );
        assert_eq!(
            only_fails(&p, ONE_FILL),
            "fill 1 is of KC-news-00000002, whose order is rejected"
        );
    }

    #[test]
    fn a_limit_fill_beyond_its_limit_breaks_fills_are_parts_of_their_order() {
        let p = consistent("limit");
        plant(
            &p,
            "UPDATE orders SET limit_price = '1' WHERE client_order_id = 'KC-news-00000002'",
        );
        let detail = only_fails(&p, ONE_FILL);
        assert!(
            detail.starts_with("fill 1 of KC-news-00000002 is at ")
                && detail.ends_with(", beyond its limit 1"),
            "{detail}"
        );
        // At its limit or better: holds, and says so.
        let p = consistent("limit-ok");
        plant(
            &p,
            "UPDATE orders SET limit_price = '100000' WHERE client_order_id = 'KC-news-00000002'",
        );
        let checks = check(&p).unwrap();
        let one = checks.iter().find(|c| c.name == ONE_FILL).unwrap();
        assert!(one.holds, "{one:?}");
        assert!(
            one.detail
                .ends_with("; 1 limit fill, at its limit or better"),
            "{}",
            one.detail
        );
    }

    #[test]
    fn a_position_off_by_one_breaks_positions_match_fills() {
        let p = consistent("position");
        plant(
            &p,
            "UPDATE fills SET qty = '3' WHERE client_order_id = 'KC-news-00000002'",
        );
        let detail = only_fails(&p, POSITIONS);
        assert_eq!(
            detail,
            "KC KC: position +2 from its fills, +1 from the orders they filled; first: fill 1 \
             (KC-news-00000002) is KC KC +3, its order KC KC +2 (1 fill unlike its order in all)"
        );
        // A fill booked to another engine moves a position too.
        let p = consistent("engine");
        plant(&p, "UPDATE fills SET engine = 'CC' WHERE id = 2");
        let detail = only_fails(&p, POSITIONS);
        assert!(
            detail.starts_with("CC KC: position -1 from its fills, 0 from the orders"),
            "{detail}"
        );
        assert!(detail.contains("fill 2 (KC-news-00000004)"), "{detail}");
    }

    #[test]
    fn a_level_falling_without_reset_breaks_risk_level_only_rises_without_reset() {
        let p = consistent("fall");
        plant(
            &p,
            "UPDATE events SET detail = 'HALT -> NORMAL by master/portfolio_risk: recovered'
             WHERE seq = 4",
        );
        let detail = only_fails(&p, RISK);
        assert_eq!(
            detail,
            "event 4: HALT -> NORMAL by master/portfolio_risk: recovered: it fell, not at a reset"
        );
        // Between two events: the second starts below where the first left it.
        let p = consistent("between");
        plant(
            &p,
            "UPDATE events SET detail = 'NORMAL -> HALT by master/portfolio_risk: drawdown'
             WHERE seq = 15",
        );
        assert_eq!(
            only_fails(&p, RISK),
            "event 15 starts from NORMAL, but event 9 left it at WARNING: it fell with no reset \
             journaled"
        );
        // The state below the last event: a restart would start lower.
        let p = consistent("state");
        plant(
            &p,
            "UPDATE state SET value = 'WARNING' WHERE key = 'risk.level'",
        );
        assert_eq!(
            only_fails(&p, RISK),
            "the state's risk.level is WARNING, but event 15 left it at HALT: it fell with no \
             reset journaled"
        );
        let p = consistent("nostate");
        plant(&p, "DELETE FROM state WHERE key = 'risk.level'");
        assert!(only_fails(&p, RISK).contains("a restart would start at NORMAL"));
        // A detail this check cannot read is not taken as holding.
        let p = consistent("garbled");
        plant(&p, "UPDATE events SET detail = 'up' WHERE seq = 9");
        assert!(only_fails(&p, RISK).starts_with("event 9: risk_changed \"up\" is not"));
    }

    #[test]
    fn a_missing_outcome_breaks_one_outcome_per_decision() {
        let p = consistent("outcome");
        plant(
            &p,
            "DELETE FROM outcomes WHERE engine = 'KC' AND decision_seq = 4",
        );
        let detail = only_fails(&p, OUTCOMES);
        assert_eq!(
            detail,
            "KC decision 4 has no outcome (1 of its 7 without one); order KC-news-00000004 \
             (filled): its decision KC 4 has no outcome"
        );
        // A decision without an order: a gap in its engine's numbers.
        let p = consistent("gap");
        plant(
            &p,
            "DELETE FROM outcomes WHERE engine = 'KC' AND decision_seq IN (1, 3)",
        );
        assert_eq!(
            only_fails(&p, OUTCOMES),
            "KC decision 1 has no outcome (2 of its 7 without one)"
        );
        let p = consistent("gap3");
        plant(
            &p,
            "DELETE FROM outcomes WHERE engine = 'KC' AND decision_seq = 3",
        );
        assert_eq!(
            only_fails(&p, OUTCOMES),
            "KC decision 3 has no outcome (1 of its 7 without one)"
        );
        // An order whose decision says it was not executed, and the reverse.
        let p = consistent("vetoed");
        plant(
            &p,
            "UPDATE outcomes SET outcome = 'vetoed' WHERE engine = 'KC' AND decision_seq = 2;
             UPDATE outcomes SET outcome = 'executed' WHERE engine = 'KC' AND decision_seq = 3;",
        );
        assert_eq!(
            only_fails(&p, OUTCOMES),
            "order KC-news-00000002 (filled): its decision KC 2 is vetoed, not executed; KC \
             decision 3 is executed, but no order of it is journaled"
        );
    }

    #[test]
    fn a_gap_in_event_seq_breaks_event_seq_without_gaps() {
        let p = consistent("seq");
        // Submissions only (5: KC 2, 7: KC 4, 10: KC 5): a fill's event
        // missing breaks `fills_have_events` as well.
        plant(&p, "DELETE FROM events WHERE seq IN (5, 7, 10)");
        assert_eq!(
            only_fails(&p, EVENT_SEQ),
            "event 4 is followed by 6 (1 missing there, 3 between 1 and 15)"
        );
    }

    #[test]
    fn a_fill_without_its_event_breaks_fills_have_events() {
        let p = consistent("fill-event");
        plant(&p, "DELETE FROM events WHERE seq = 8");
        let checks = check(&p).unwrap();
        let failed: Vec<&str> = checks.iter().filter(|c| !c.holds).map(|c| c.name).collect();
        assert_eq!(failed, vec![EVENT_SEQ, FILL_EVENTS], "{checks:#?}");
        let detail = &checks
            .iter()
            .find(|c| c.name == FILL_EVENTS)
            .unwrap()
            .detail;
        assert!(
            detail.starts_with("the fill of KC-news-00000004 has no order_filled event"),
            "{detail}"
        );
    }

    #[test]
    fn an_empty_journal_holds_and_says_it_had_nothing() {
        let p = temp("empty");
        drop(Store::open(&p).unwrap());
        let checks = check(&p).unwrap();
        assert!(checks.iter().all(|c| c.holds), "{checks:#?}");
        assert_eq!(checks[2].detail, "no fills: every position flat");
        assert_eq!(
            checks[3].detail,
            "no level change journaled; the state's level none"
        );
        assert_eq!(checks[5].detail, "no events journaled");
    }

    #[test]
    fn no_journal_is_an_error_that_says_what_to_give() {
        let p = temp("missing");
        let err = check(&p).unwrap_err();
        assert!(err.starts_with("no journal at "), "{err}");
        assert!(
            err.contains("give the journal.sqlite of a finished replay"),
            "{err}"
        );
        assert!(!p.exists(), "nothing is created");
        // A file that is not a journal.
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "bars, not a journal").unwrap();
        let err = check(&p).unwrap_err();
        assert!(err.contains("give the journal.sqlite"), "{err}");
        // A SQLite file that is not a journal.
        std::fs::remove_file(&p).unwrap();
        rusqlite::Connection::open(&p)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = check(&p).unwrap_err();
        assert!(
            err.contains("is not a replay's journal (schema version 0"),
            "{err}"
        );
        // A journal from a newer commodore.
        let p = consistent("newer");
        plant(&p, &format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1));
        let err = check(&p).unwrap_err();
        assert!(err.contains("newer than this commodore knows"), "{err}");
    }

    #[test]
    fn an_order_log_the_journal_has_not_taken_is_an_error() {
        let p = consistent("log");
        let log = order_log_path(&p, "KC");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(order_log_path(&p, "CC"), "").unwrap();
        assert!(check(&p).is_ok(), "an empty log holds nothing");
        std::fs::write(&log, "o1 ...\n").unwrap();
        let err = check(&p).unwrap_err();
        assert!(err.contains("KC.log still holds 7 bytes"), "{err}");
        assert!(err.contains("run it again"), "{err}");
    }
}
