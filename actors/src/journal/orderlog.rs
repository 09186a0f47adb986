//! The order log: where an engine journals an order, durably, before it is
//! sent. One append-only file per engine (`<data_dir>/orders/<engine>.log`),
//! one line per order, `fdatasync`ed before `append` returns: a single small
//! write instead of an SQLite transaction over two tables and four indexes, so
//! the tick-to-order path pays a few microseconds for durability, not tens.
//!
//! The log is a write-ahead buffer in front of the journal's `orders` table,
//! never a second source of truth: whoever next uses the engine's journal
//! connection first moves the logged orders into SQLite (`pending`, with their
//! `executed` outcome; `INSERT OR IGNORE`, so moving twice is harmless) in one
//! durable transaction and then empties the log (`SharedStore::with`). Every
//! reader of orders goes through that connection, so none misses an order.
//!
//! The other decisions' outcomes (`vetoed`, `buffered`, ...) go into the same
//! log as records of their own, written but not `fdatasync`ed: they are
//! statistics, not orders, so they survive a `kill -9` of the process (the
//! kernel holds the written bytes) without paying for a disk flush; a power
//! loss may take the last of them. They are moved into SQLite with the orders,
//! after the orders (a later outcome of a decision replaces an earlier one; an
//! order whose decision has another outcome after it is one whose journaling
//! failed, never sent, and is not moved). A log that holds outcomes only is
//! moved and emptied without a disk flush.
//!
//! Torn writes: every record starts and ends with a newline and carries a
//! checksum of its fields. Only the torn tail can be a crash artefact: the
//! last record, cut short (the file does not end with its closing newline)
//! by a crash or a failed write, is never an order that was sent (sending
//! waits for `append` to return). It is skipped, counted and logged, and cut
//! off before this log appends anything after it (`seal`), so a torn record
//! never ends up in the middle. Any other line that does not check (a changed
//! byte, or a cut-short record with records after it), and a record whose
//! checksum holds but whose fields do not read, is damage, not a crash:
//! `read` reports it with its byte offset (`LogContents::damaged`) and the
//! engine's connection refuses to go on, since it may be an order that was
//! sent; nothing is dropped silently. The newline before every record keeps
//! a cut-short record from swallowing the next.

use crate::model::{Order, Outcome, Side};
use rust_decimal::Decimal;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::OutcomeRow;

const VERSION: &str = "o1";
/// The format of a limit order's record: `o1`'s fields, then the limit
/// price and its expiry (a market order is still written `o1`).
const LIMIT_VERSION: &str = "o2";
/// The format of an outcome record.
const OUTCOME_VERSION: &str = "d1";

/// One order as logged, with its decision's `executed` outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOrder {
    pub order: Order,
    pub outcome: OutcomeRow,
    /// When it was logged (wall time, ms): the executor's re-drive age.
    pub created_ms: u64,
}

pub struct OrderLog {
    path: PathBuf,
    file: File,
    /// The file's length: where the next record starts (a failed append is
    /// cut back to it).
    len: u64,
    /// Whether the file's directory entry is known to be on disk (it existed
    /// when opened, or was synced since).
    entry_durable: bool,
    /// Off: appends and clears never wait for the disk (a replay's log).
    fsync: crate::journal::Fsync,
    /// Flushes to disk so far (what `fsync` decides, made visible to tests).
    syncs: u64,
    /// No torn tail is left before where the next record goes (`seal`).
    sealed: bool,
}

/// What a line of the log is.
enum Line {
    Order(Box<LoggedOrder>),
    Outcome(OutcomeRow),
    /// Does not check (cut short, or a byte changed): a torn tail if no whole
    /// record follows it, else damage.
    Unchecked(&'static str),
    /// Checks, but its fields do not read: damage wherever it is.
    Unreadable,
    /// Whole, but written by another version of commodore.
    Foreign(String),
}

/// What the log holds.
#[derive(Debug, Default, PartialEq)]
pub struct LogContents {
    pub orders: Vec<LoggedOrder>,
    /// Outcomes of decisions that sent no order, in log order.
    pub outcomes: Vec<OutcomeRow>,
    /// The torn tail: 1 when the last record is cut short (by a crash or a
    /// failed write: an order never sent), else 0.
    pub torn: usize,
    /// Where the torn tail begins (a byte offset), when there is one.
    pub torn_at: Option<u64>,
    /// The first damaged record (anything that does not read but the torn
    /// tail): the byte offset of its line and what is wrong with it. Never skipped: it may be an order that was
    /// sent.
    pub damaged: Option<(u64, String)>,
    /// Whole records of another version (a newer commodore's): not readable
    /// here, never to be thrown away.
    pub foreign: Vec<String>,
}

/// 64-bit FNV-1a: enough to tell a torn record from a whole one.
fn checksum(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The checksum a record carries (for tests that write records by hand).
#[cfg(test)]
pub(crate) fn checksum_of(body: &str) -> u64 {
    checksum(body)
}

/// Tabs and newlines separate fields and records: never inside one.
fn field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\t', '\n', '\r']) {
        s.replace(['\t', '\n', '\r'], " ").into()
    } else {
        s.into()
    }
}

fn encode(o: &Order, outcome: &OutcomeRow, created_ms: u64) -> String {
    let body = format!(
        "{VERSION}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        field(&o.client_order_id),
        field(&o.engine),
        field(&o.strategy),
        o.decision_seq,
        field(&o.symbol),
        o.side.as_str(),
        o.qty,
        o.ref_price,
        o.at_ms,
        created_ms,
        outcome.at_ms,
        field(&outcome.detail),
    );
    let body = match &o.limit {
        None => body,
        Some(l) => format!(
            "{LIMIT_VERSION}{}\t{}\t{}",
            &body[VERSION.len()..],
            l.price,
            l.expires_ms
        ),
    };
    let sum = checksum(&body);
    format!("\n{body}\t{sum:016x}\n")
}

fn encode_outcome(r: &OutcomeRow) -> String {
    let body = format!(
        "{OUTCOME_VERSION}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        field(&r.engine),
        r.decision_seq,
        field(&r.symbol),
        field(&r.strategy),
        r.outcome.as_str(),
        r.at_ms,
        field(&r.detail),
    );
    let sum = checksum(&body);
    format!("\n{body}\t{sum:016x}\n")
}

fn decode_outcome(body: &str) -> Option<OutcomeRow> {
    let f: Vec<&str> = body.split('\t').collect();
    let [_, engine, seq, symbol, strategy, outcome, at_ms, detail] = f.as_slice() else {
        return None;
    };
    Some(OutcomeRow {
        engine: (*engine).to_owned(),
        decision_seq: seq.parse().ok()?,
        symbol: (*symbol).to_owned(),
        strategy: (*strategy).to_owned(),
        outcome: Outcome::ALL.into_iter().find(|o| o.as_str() == *outcome)?,
        detail: (*detail).to_owned(),
        at_ms: at_ms.parse().ok()?,
    })
}

fn classify(line: &[u8]) -> Line {
    let Ok(line) = std::str::from_utf8(line) else {
        return Line::Unchecked("not text");
    };
    let Some((body, sum)) = line.rsplit_once('\t') else {
        return Line::Unchecked("no checksum");
    };
    if u64::from_str_radix(sum, 16).ok() != Some(checksum(body)) {
        return Line::Unchecked("its checksum does not match");
    }
    let version = body.split('\t').next().unwrap_or_default();
    let line = match version {
        VERSION | LIMIT_VERSION => decode(body).map(|o| Line::Order(Box::new(o))),
        OUTCOME_VERSION => match decode_outcome(body) {
            Some(r) => Some(Line::Outcome(r)),
            // Whole and checked, but an outcome this build does not know: a
            // newer commodore's record, not a torn one.
            None if body.split('\t').count() == 8 => {
                return Line::Foreign(format!("{OUTCOME_VERSION} (an unknown outcome)"))
            }
            None => None,
        },
        other => return Line::Foreign(other.to_owned()),
    };
    line.unwrap_or(Line::Unreadable)
}

/// Reads the records of a log's bytes, with the byte offset of each line.
fn parse(bytes: &[u8]) -> LogContents {
    let mut lines: Vec<(u64, Line)> = Vec::new();
    let mut start = 0u64;
    for part in bytes.split(|b| *b == b'\n') {
        if !part.is_empty() {
            lines.push((start, classify(part)));
        }
        start += part.len() as u64 + 1;
    }
    // The torn tail: the last record, cut short (no closing newline) and so
    // not checking. Anything else that does not check is damage.
    let cut_short = bytes.last().is_some_and(|b| *b != b'\n')
        && matches!(lines.last(), Some((_, Line::Unchecked(_))));
    let tail = lines.len() - usize::from(cut_short);
    let mut c = LogContents::default();
    for (i, (at, line)) in lines.into_iter().enumerate() {
        match line {
            Line::Order(o) => c.orders.push(*o),
            Line::Outcome(r) => c.outcomes.push(r),
            Line::Foreign(v) => c.foreign.push(v),
            Line::Unchecked(_) if i >= tail => {
                c.torn += 1;
                c.torn_at.get_or_insert(at);
            }
            Line::Unchecked(why) => {
                c.damaged
                    .get_or_insert((at, format!("{why}, and it is not a cut-short last record")));
            }
            Line::Unreadable => {
                c.damaged
                    .get_or_insert((at, "its checksum holds but its fields do not read".into()));
            }
        }
    }
    c
}

/// A checked record's fields.
fn decode(body: &str) -> Option<LoggedOrder> {
    let f: Vec<&str> = body.split('\t').collect();
    let (fields, limit) = match f.as_slice() {
        [VERSION, rest @ ..] => (rest, None),
        [LIMIT_VERSION, rest @ .., price, expires] => (
            rest,
            Some(crate::model::Limit {
                price: price.parse::<Decimal>().ok()?,
                expires_ms: expires.parse().ok()?,
            }),
        ),
        _ => return None,
    };
    let [id, engine, strategy, seq, symbol, side, qty, price, at_ms, created_ms, outcome_at_ms, detail] =
        fields
    else {
        return None;
    };
    let side = match *side {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return None,
    };
    let decision_seq: u64 = seq.parse().ok()?;
    let order = Order {
        limit,
        client_order_id: (*id).to_owned(),
        engine: (*engine).to_owned(),
        strategy: (*strategy).to_owned(),
        decision_seq,
        symbol: (*symbol).to_owned(),
        side,
        qty: qty.parse::<Decimal>().ok()?,
        ref_price: price.parse::<Decimal>().ok()?,
        at_ms: at_ms.parse().ok()?,
    };
    let outcome = OutcomeRow {
        engine: order.engine.clone(),
        decision_seq,
        symbol: order.symbol.clone(),
        strategy: order.strategy.clone(),
        outcome: Outcome::Executed,
        detail: (*detail).to_owned(),
        at_ms: outcome_at_ms.parse().ok()?,
    };
    Some(LoggedOrder {
        order,
        outcome,
        created_ms: created_ms.parse().ok()?,
    })
}

impl OrderLog {
    /// Opens (creating it and its directory if needed) the log at `path`. A
    /// new file's directory entry is made durable before the first order is
    /// appended to it (an outcome needs no disk flush, so a log created for
    /// one costs none).
    pub fn open(path: &Path) -> std::io::Result<OrderLog> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(OrderLog {
            path: path.to_owned(),
            file,
            len,
            entry_durable: existed,
            fsync: crate::journal::Fsync::On,
            syncs: 0,
            sealed: len == 0,
        })
    }

    /// The same log, flushed to disk as `fsync` says.
    pub fn with_fsync(mut self, fsync: crate::journal::Fsync) -> OrderLog {
        self.fsync = fsync;
        self
    }

    /// `fdatasync`, unless this log is not flushed.
    fn sync(&mut self) -> std::io::Result<()> {
        match self.fsync {
            crate::journal::Fsync::On => {
                self.syncs += 1;
                self.file.sync_data()
            }
            crate::journal::Fsync::Off => Ok(()),
        }
    }

    /// How many times this log has waited for the disk.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Makes the file and its directory entry durable, once.
    fn make_entry_durable(&mut self) -> std::io::Result<()> {
        if self.entry_durable || self.fsync == crate::journal::Fsync::Off {
            return Ok(());
        }
        self.file.sync_all()?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        self.entry_durable = true;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one order and waits until it is on disk (`fdatasync`). On an
    /// error the file is cut back to where the record began, so an order the
    /// caller gives up on cannot be read back (and sent) later; if even that
    /// fails, the error says so: `Err((e, false))`.
    pub fn append(
        &mut self,
        o: &Order,
        outcome: &OutcomeRow,
        created_ms: u64,
    ) -> Result<(), (std::io::Error, bool)> {
        if let Err(e) = self.make_entry_durable().and_then(|()| self.seal()) {
            return Err((e, true));
        }
        let record = encode(o, outcome, created_ms);
        let written = self
            .file
            .write_all(record.as_bytes())
            .and_then(|()| self.sync());
        match written {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                let cut = self.file.set_len(self.len).and_then(|()| self.sync());
                self.sealed = cut.is_ok();
                Err((e, cut.is_ok()))
            }
        }
    }

    /// Appends the outcome of a decision that sent no order, without waiting
    /// for the disk (see the module's notes). On an error the file is cut
    /// back to where the record began.
    pub fn append_outcome(&mut self, r: &OutcomeRow) -> std::io::Result<()> {
        self.seal()?;
        let record = encode_outcome(r);
        match self.file.write_all(record.as_bytes()) {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.sealed = self.file.set_len(self.len).is_ok();
                Err(e)
            }
        }
    }

    /// Every whole record in the log, oldest first, with what did not read
    /// (the torn tail; damage before it, with its byte offset).
    pub fn read(&mut self) -> std::io::Result<LogContents> {
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        Ok(parse(&bytes))
    }

    /// Before this log's first append: cuts off a torn tail a previous writer
    /// left (a crash mid-append), so that no torn record ever has whole ones
    /// after it (which would read as damage).
    fn seal(&mut self) -> std::io::Result<()> {
        if self.sealed {
            return Ok(());
        }
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        if let Some(at) = parse(&bytes).torn_at {
            tracing::warn!(
                log = %self.path.display(),
                at,
                bytes = bytes.len() as u64 - at,
                "order log: a torn tail (a record cut short by a crash or a failed write: never an order sent) is cut off before appending"
            );
            // With the record's own leading newline.
            self.file.set_len(at.saturating_sub(1))?;
            self.sync()?;
        }
        self.len = self.file.metadata()?.len();
        self.sealed = true;
        Ok(())
    }

    /// Empties the log (its records are in SQLite), durably.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.sync()?;
        self.len = 0;
        self.sealed = true;
        Ok(())
    }

    /// Bytes written to the log since it was last emptied (as this process
    /// knows them).
    pub fn written(&self) -> u64 {
        self.len
    }

    /// Empties a log that held outcomes only, without waiting for the disk:
    /// if the emptying is lost to a power cut, the outcomes are moved again
    /// (`INSERT OR REPLACE` of the same rows).
    pub fn clear_unsynced(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.len = 0;
        self.sealed = true;
        Ok(())
    }

    /// Whether the file holds anything.
    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.file.metadata()?.len() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(seq: u64) -> (Order, OutcomeRow) {
        let o = Order {
            limit: None,
            client_order_id: format!("KC-news-{seq}"),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            side: if seq.is_multiple_of(2) {
                Side::Sell
            } else {
                Side::Buy
            },
            qty: Decimal::from(5),
            ref_price: "300.05".parse().unwrap(),
            at_ms: 1_000 + seq,
        };
        let r = OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Executed,
            detail: format!("KC-news-{seq}: buy 5 @ 300.05\twith a tab"),
            at_ms: 1_000 + seq,
        };
        (o, r)
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("commodore-orderlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("orders").join("KC.log")
    }

    #[test]
    fn orders_round_trip_and_clear() {
        let p = temp("roundtrip");
        let mut log = OrderLog::open(&p).unwrap();
        assert!(log.is_empty().unwrap());
        for seq in 1..=3 {
            let (o, r) = order(seq);
            log.append(&o, &r, 77).unwrap();
        }
        drop(log);
        let mut log = OrderLog::open(&p).unwrap();
        let c = log.read().unwrap();
        assert_eq!((c.torn, c.foreign.len()), (0, 0));
        let read = c.orders;
        assert_eq!(read.len(), 3);
        let (o, mut r) = order(2);
        r.detail = r.detail.replace('\t', " ");
        assert_eq!(
            read[1],
            LoggedOrder {
                order: o,
                outcome: r,
                created_ms: 77
            }
        );
        log.clear().unwrap();
        assert!(log.is_empty().unwrap());
        assert_eq!(log.read().unwrap(), LogContents::default());
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_log_waits_for_the_disk_per_order_unless_told_not_to() {
        use crate::journal::Fsync;
        for (fsync, name, per_order) in [(Fsync::On, "sync-on", 1), (Fsync::Off, "sync-off", 0)] {
            let p = temp(name);
            let mut log = OrderLog::open(&p).unwrap().with_fsync(fsync);
            for seq in 1..=3 {
                let (o, r) = order(seq);
                log.append(&o, &r, 77).unwrap();
            }
            assert_eq!(log.syncs(), 3 * per_order, "{fsync:?}");
            log.clear().unwrap();
            assert_eq!(log.syncs(), 4 * per_order, "{fsync:?}: the clear too");
            // What it holds is the same either way.
            let (o, r) = order(4);
            log.append(&o, &r, 78).unwrap();
            assert_eq!(log.read().unwrap().orders.len(), 1);
            let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
        }
    }

    #[test]
    fn outcomes_sit_between_orders_and_read_back_in_order() {
        let p = temp("outcomes");
        let mut log = OrderLog::open(&p).unwrap();
        let vetoed = |seq: u64| OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Vetoed,
            detail: format!("sell against a +0.70% move\tseq {seq}"),
            at_ms: 9,
        };
        log.append_outcome(&vetoed(1)).unwrap();
        let (o, r) = order(2);
        log.append(&o, &r, 1).unwrap();
        let mut abandoned = vetoed(2);
        abandoned.outcome = Outcome::Error;
        log.append_outcome(&abandoned).unwrap();
        log.append_outcome(&vetoed(4)).unwrap();
        // Cut short at the end (a crash mid-write): the torn tail, skipped.
        let whole = encode_outcome(&vetoed(5));
        log.file
            .write_all(&whole.as_bytes()[..whole.len() - 5])
            .unwrap();
        let c = log.read().unwrap();
        let outcomes: Vec<(u64, Outcome)> = c
            .outcomes
            .iter()
            .map(|r| (r.decision_seq, r.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                (1, Outcome::Vetoed),
                (2, Outcome::Error),
                (4, Outcome::Vetoed)
            ]
        );
        assert_eq!(c.outcomes[0].detail, "sell against a +0.70% move seq 1");
        assert_eq!((c.orders.len(), c.torn, c.foreign.len()), (1, 1, 0));
        assert_eq!(c.damaged, None);
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_torn_tail_is_skipped_and_cut_off_before_the_next_append() {
        let p = temp("torn");
        let mut log = OrderLog::open(&p).unwrap();
        let (o, r) = order(1);
        log.append(&o, &r, 1).unwrap();
        let whole_len = log.written();
        // A crash in the middle of the second record: the torn tail.
        let torn = encode(&order(2).0, &order(2).1, 1);
        log.file
            .write_all(&torn.as_bytes()[..torn.len() / 2])
            .unwrap();
        let c = log.read().unwrap();
        assert_eq!(c.orders.len(), 1);
        // Offsets are of a line's first byte (after the record's newline).
        assert_eq!(
            (c.torn, c.torn_at, c.damaged),
            (1, Some(whole_len + 1), None)
        );
        // The next process's log cuts it off before it appends: the torn
        // record never ends up in the middle.
        drop(log);
        let mut log = OrderLog::open(&p).unwrap();
        let (o3, r3) = order(3);
        log.append(&o3, &r3, 1).unwrap();
        let c = log.read().unwrap();
        let seqs: Vec<u64> = c.orders.iter().map(|l| l.order.decision_seq).collect();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!((c.torn, c.damaged), (0, None));
        // Outcomes (not flushed) seal the same way.
        let torn = encode_outcome(&order(4).1);
        log.file
            .write_all(&torn.as_bytes()[..torn.len() - 3])
            .unwrap();
        drop(log);
        let mut log = OrderLog::open(&p).unwrap();
        log.append_outcome(&order(5).1).unwrap();
        let c = log.read().unwrap();
        assert_eq!((c.orders.len(), c.outcomes.len(), c.torn), (2, 1, 0));
        assert_eq!(c.damaged, None);
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn damage_before_whole_records_is_reported_at_its_offset_never_skipped() {
        let p = temp("damaged");
        let mut log = OrderLog::open(&p).unwrap();
        for seq in 1..=3 {
            let (o, r) = order(seq);
            log.append(&o, &r, 1).unwrap();
        }
        let second = encode(&order(1).0, &order(1).1, 1).len() as u64;
        let whole = std::fs::read(&p).unwrap();
        let mut bytes = whole.clone();
        // One byte changed in the middle of the second record.
        let at = second as usize + 20;
        bytes[at] = if bytes[at] == b'X' { b'Y' } else { b'X' };
        std::fs::write(&p, &bytes).unwrap();
        let c = log.read().unwrap();
        let (offset, what) = c.damaged.clone().expect("damage is reported");
        assert_eq!(offset, second + 1, "the damaged line's first byte");
        assert!(what.contains("checksum"), "{what}");
        assert_eq!(c.torn, 0, "not a torn tail");
        // A changed byte in the last record (whole: it ends with its newline)
        // is damage too, not a torn tail.
        let mut bytes = whole;
        let last = bytes.len() - 10;
        bytes[last] ^= 0x01;
        std::fs::write(&p, &bytes).unwrap();
        let c = log.read().unwrap();
        assert_eq!((c.orders.len(), c.torn), (2, 0));
        let third = second + encode(&order(2).0, &order(2).1, 1).len() as u64;
        assert_eq!(c.damaged.map(|(at, _)| at), Some(third + 1));
        // A whole record (checksum holds) whose fields do not read: damage
        // even at the end.
        std::fs::write(&p, b"").unwrap();
        let body = format!("{VERSION}\tKC-news-9\tonly three fields");
        std::fs::write(&p, format!("\n{body}\t{:016x}\n", checksum(&body))).unwrap();
        let c = log.read().unwrap();
        assert_eq!(c.damaged.map(|(at, _)| at), Some(1));
        // Damage is never cut off as a torn tail: the file is left as it is.
        let (o, r) = order(4);
        drop(log);
        let mut log = OrderLog::open(&p).unwrap();
        log.append(&o, &r, 1).unwrap();
        let c = log.read().unwrap();
        assert_eq!(c.damaged.map(|(at, _)| at), Some(1));
        // A whole record of another version is not damage: kept apart.
        let body = "o9\tsomething newer";
        std::fs::write(&p, format!("\n{body}\t{:016x}\n", checksum(body))).unwrap();
        let c = log.read().unwrap();
        assert_eq!(c.foreign, vec!["o9".to_owned()]);
        assert_eq!((c.torn, c.damaged), (0, None));
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }
}
