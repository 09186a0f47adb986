//! Durability at the edges, through the real binary: a fill the broker
//! remembers and our journal lost is journaled after the restart, never sent
//! again; a damaged record in the middle of an order log stops its engine
//! with the file and the byte offset, and is never dropped.

mod common;

use common::*;
use std::path::Path;

/// A first run, stopped cleanly: the journal and `orders/` exist.
fn first_run(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    dir
}

/// The paper broker's own memory (`orders/<engine>.paper.sqlite`), as the
/// broker writes it, holding a fill for `id` at `price`.
fn paper_broker_filled(dir: &Path, id: &str, price: &str) {
    let c = rusqlite::Connection::open(dir.join("orders/KC.paper.sqlite")).unwrap();
    c.execute_batch(commodore_actors::engine::PAPER_SCHEMA)
        .unwrap();
    c.execute_batch(&format!(
        "INSERT INTO paper_book (client_order_id, status, engine, symbol, side, qty, ref_price, at_ms, filled, parts)
           VALUES ('{id}', 'filled', 'KC', 'KC', 'buy', '2', '{price}', 1767606300000, '2', 1);
         INSERT INTO paper_fills (client_order_id, part, engine, symbol, side, qty, price, commission, at_ms)
           VALUES ('{id}', 1, 'KC', 'KC', 'buy', '2', '{price}', '0', 1767606300000);",
    ))
    .unwrap();
}

#[test]
fn a_fill_the_broker_remembers_is_journaled_after_a_restart_and_never_sent_again() {
    let dir = first_run("durability-known-fill");
    // What a full disk left: the order journaled and sent, the broker filled
    // it (and remembers), the fill never reached our journal.
    let db = dir.join("journal.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    let market_ms: i64 = c
        .query_row("SELECT MAX(at_ms) FROM events", [], |r| r.get(0))
        .unwrap();
    c.execute(
        "INSERT INTO orders (client_order_id, engine, strategy, decision_seq, symbol, side, qty, ref_price, status, at_ms, created_ms)
         VALUES ('KC-news-00000077', 'KC', 'news', 77, 'KC', 'buy', '2', '345.00', 'pending', 1767606300000, ?1)",
        [market_ms - 5_000],
    )
    .unwrap();
    drop(c);
    // Filled at 346.00: a price a second send would not give (345.05).
    paper_broker_filled(&dir, "KC-news-00000077", "346.00");

    let mut d = Daemon::start(&dir, &[]);
    d.expect_any("kind=\"order_filled\" path=master/engines/KC/executor detail=KC-news-00000077");
    let evs = events(&d, 0);
    let about = |kind: &str| -> Vec<String> {
        evs.iter()
            .filter(|e| e["kind"] == kind)
            .filter_map(|e| e["detail"].as_str())
            .filter(|d| d.starts_with("KC-news-00000077"))
            .map(str::to_owned)
            .collect()
    };
    let filled = about("order_filled");
    assert_eq!(filled.len(), 1, "{filled:?}");
    assert!(
        filled[0].contains("@ 346.00"),
        "the broker's fill: {filled:?}"
    );
    assert_eq!(
        about("order_submitted"),
        Vec::<String>::new(),
        "never sent again"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let journal = rusqlite::Connection::open(&db).unwrap();
    let (fills, price): (i64, String) = journal
        .query_row(
            "SELECT COUNT(*), MAX(price) FROM fills WHERE client_order_id = 'KC-news-00000077'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((fills, price.as_str()), (1, "346.00"));
    let paper = rusqlite::Connection::open(dir.join("orders/KC.paper.sqlite")).unwrap();
    let answered: i64 = paper
        .query_row(
            "SELECT COUNT(*) FROM paper_book WHERE client_order_id = 'KC-news-00000077'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(answered, 1, "the broker was not sent it a second time");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The order log's checksum (64-bit FNV-1a of a record's fields).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One outcome record of an order log, framed as the engine writes it.
fn outcome_record(seq: u64) -> String {
    let body = format!("d1\tKC\t{seq}\tKC\tnews\tvetoed\t1767606300000\tagainst the move");
    format!("\n{body}\t{:016x}\n", fnv1a(&body))
}

#[test]
fn a_damaged_record_in_the_middle_of_an_order_log_stops_its_engine_naming_file_and_offset() {
    let dir = first_run("durability-damaged-log");
    let log = dir.join("orders/KC.log");
    let records: Vec<String> = (900_001..=900_003).map(outcome_record).collect();
    let mut bytes = records.concat().into_bytes();
    // One byte of the second record changes (the disk, not a crash).
    let second = records[0].len() + 1; // after its leading newline
    bytes[second + 12] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();

    let mut d = Daemon::spawn(&dir, free_port(), &[]);
    d.expect(&format!("byte offset {second}"));
    let line = d.seen.last().unwrap().clone();
    assert!(line.contains(&log.display().to_string()), "{line}");
    assert!(line.contains("not a torn tail"), "{line}");
    // The engine does not start on it (and its supervisor gives up); the
    // others trade on.
    d.expect_any("kind=\"gave_up\" path=master/engines/KC ");
    d.signal(libc::SIGINT);
    d.exit_code();
    // Nothing was dropped or moved: the file is as it was.
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
    let outcomes: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM outcomes WHERE engine = 'KC' AND decision_seq > 900000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcomes, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
