//! The journal's schema: every table of every family, as versioned migrations.
//! Invariant: `PRAGMA user_version` is the number of migrations applied, and a
//! migration that has shipped is never edited (append only).

use super::error::sqlite_at;
use super::{JournalError, Store};

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
    // 4: an engine's pending orders by decision, from one index: with only
    // (engine, status) and (engine, decision_seq), SQLite walked the second to
    // skip the sort and so visited every order the engine ever wrote, every
    // second (the executor's re-drive, the engine's in-flight check).
    "CREATE INDEX orders_pending ON orders (engine, status, decision_seq);
     DROP INDEX orders_engine;",
    // 5: journal retention: the events moved to the monthly archive files,
    // counted per UTC day and kind (`store/archive.rs`).
    "CREATE TABLE event_days (
        day       TEXT    NOT NULL,
        kind      TEXT    NOT NULL,
        count     INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        PRIMARY KEY (day, kind)
     );",
    // 6: journal retention of orders, fills and outcomes: what an engine's
    // archived fills added up to (`store/carry.rs`).
    "CREATE TABLE carried (
        engine       TEXT PRIMARY KEY,
        symbol       TEXT    NOT NULL,
        lots         TEXT    NOT NULL,
        realized     TEXT    NOT NULL,
        commissions  TEXT    NOT NULL,
        cash         TEXT    NOT NULL,
        fills        INTEGER NOT NULL,
        through_fill INTEGER NOT NULL,
        decision_seq INTEGER NOT NULL
     );",
    // 7: the carried balance per strategy (the owners of the lots closed,
    // the strategies of the orders paid): `<name>=<realized>|<fees>;...`.
    "ALTER TABLE carried ADD COLUMN by_strategy TEXT NOT NULL DEFAULT '';",
    // 8: orders that work at the broker: a limit order's terms, the status
    // `working` (acknowledged, not done), and fills in parts (one row per
    // part, each journaled once). The fills table is rebuilt without its
    // one-fill-per-order constraint; its ids go on from where they were.
    "ALTER TABLE orders ADD COLUMN limit_price TEXT NOT NULL DEFAULT '';
     ALTER TABLE orders ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE fills_parts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT    NOT NULL REFERENCES orders (client_order_id),
        part            INTEGER NOT NULL DEFAULT 1,
        engine          TEXT    NOT NULL,
        symbol          TEXT    NOT NULL,
        side            TEXT    NOT NULL,
        qty             TEXT    NOT NULL,
        price           TEXT    NOT NULL,
        commission      TEXT    NOT NULL,
        at_ms           INTEGER NOT NULL,
        UNIQUE (client_order_id, part)
     );
     INSERT INTO fills_parts (id, client_order_id, part, engine, symbol, side, qty, price, commission, at_ms)
        SELECT id, client_order_id, 1, engine, symbol, side, qty, price, commission, at_ms FROM fills;
     DELETE FROM sqlite_sequence WHERE name = 'fills_parts';
     INSERT INTO sqlite_sequence (name, seq) SELECT 'fills_parts', seq FROM sqlite_sequence WHERE name = 'fills';
     DROP TABLE fills;
     ALTER TABLE fills_parts RENAME TO fills;
     CREATE INDEX fills_engine ON fills (engine, id);",
];

pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

impl Store {
    /// Sets the connection's pragmas and applies the migrations it lacks, one
    /// transaction each; refuses a journal written by a newer commodore.
    pub(super) fn setup(&mut self) -> Result<(), JournalError> {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::*;
    use rusqlite::Connection;

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
    fn pending_orders_are_read_from_their_own_index() {
        let p = temp("plan");
        let s = Store::open(&p).unwrap();
        let plan: Vec<String> = s
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT client_order_id FROM orders INDEXED BY orders_pending
                 WHERE engine = 'KC' AND status IN ('pending', 'working') AND created_ms <= 5 ORDER BY decision_seq",
            )
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join(" | ");
        // Only the unsettled orders are visited (and sorted: pending and
        // working are two ranges of the index).
        assert!(
            plan.contains("orders_pending (engine=? AND status=?"),
            "{plan}"
        );
    }

    #[test]
    fn an_order_writer_waits_for_the_disk_unless_told_not_to() {
        use super::super::Fsync;
        let synchronous = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        let p = temp("fsync");
        assert_eq!(
            synchronous(&Store::open_for_orders(&p, Fsync::On).unwrap()),
            2,
            "FULL"
        );
        assert_eq!(
            synchronous(&Store::open_for_orders(&p, Fsync::Off).unwrap()),
            0,
            "OFF"
        );
        assert_eq!(synchronous(&Store::open(&p).unwrap()), 1, "NORMAL");
    }

    #[test]
    fn fills_in_parts_keep_their_ids_going_on_from_an_older_journal() {
        use crate::model::{Fill, Side};
        // A journal of the build before (7 migrations) whose fills 1..=3
        // were archived (gone from the table, their ids taken) and one stays.
        let p = temp("parts");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let c = Connection::open(&p).unwrap();
        for m in &MIGRATIONS[..7] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 7).unwrap();
        c.execute_batch(
            "INSERT INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms)
               VALUES ('KC-news-00000004', 'KC', 'news', 4, 'KC', 'buy', '2', '300', 'filled', 1, 1),
                      ('KC-news-00000005', 'KC', 'news', 5, 'KC', 'buy', '3', '300', 'pending', 1, 1);
             INSERT INTO fills (id, client_order_id, engine, symbol, side, qty, price, commission, at_ms)
               VALUES (3, 'KC-news-00000004', 'KC', 'KC', 'buy', '2', '300', '0', 1);
             UPDATE sqlite_sequence SET seq = 3 WHERE name = 'fills';
             DELETE FROM fills WHERE id = 3;
             INSERT INTO fills (id, client_order_id, engine, symbol, side, qty, price, commission, at_ms)
               VALUES (4, 'KC-news-00000004', 'KC', 'KC', 'buy', '2', '300', '0', 1);",
        )
        .unwrap();
        drop(c);
        let mut s = Store::open(&p).unwrap();
        let kept = s.fills("KC").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].0, kept[0].1.part), (4, 1));
        let part = |n: u32, qty: i64| Fill {
            client_order_id: "KC-news-00000005".into(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side: Side::Buy,
            qty: qty.into(),
            price: 300.into(),
            commission: 0.into(),
            at_ms: 2,
            part: n,
        };
        // Two parts, each once, with ids after the archived ones.
        assert_eq!(s.record_fill_part(&part(1, 1), false).unwrap(), Some(5));
        assert_eq!(
            s.record_fill_part(&part(1, 1), false).unwrap(),
            None,
            "once"
        );
        assert_eq!(
            s.order_fate("KC-news-00000005").unwrap(),
            Some(super::super::Fate::Pending),
            "working"
        );
        assert_eq!(s.record_fill_part(&part(2, 2), true).unwrap(), Some(6));
        assert_eq!(
            s.order_fate("KC-news-00000005").unwrap(),
            Some(super::super::Fate::Filled(3.into()))
        );
        assert!(s.working_orders("KC").unwrap().is_empty());
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
}
