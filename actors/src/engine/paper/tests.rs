use super::*;
use crate::model::{contract, Limit, Side};
use rusqlite::Connection;
use std::path::Path;

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
        limit: None,
    }
}

fn one(k: Known) -> Fill {
    match k {
        Known::Filled(mut f) if f.len() == 1 => f.remove(0),
        other => panic!("not one fill: {other:?}"),
    }
}

#[test]
fn paper_fills_slip_against_the_order_and_charge_per_contract() {
    let kc = contract("KC").unwrap();
    let mut b = PaperBroker::new(kc.clone(), 1, "2.50".parse().unwrap());
    let f = one(b.submit(&order(Side::Buy)).unwrap());
    assert_eq!(
        (f.price, f.commission, f.part),
        ("300.05".parse().unwrap(), Decimal::from(5), 1)
    );
    assert!(
        matches!(b.submit(&order(Side::Buy)), Err(BrokerError::Rejected(_))),
        "same id twice"
    );
    let mut b = PaperBroker::new(kc, 1, Decimal::ZERO);
    assert_eq!(
        one(b.submit(&order(Side::Sell)).unwrap()).price,
        "299.95".parse::<Decimal>().unwrap()
    );
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("commodore-paper-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    paper_broker_path(&dir.join("journal.sqlite"), "KC")
}

fn durable(path: &Path) -> PaperBroker {
    let kc = contract("KC").unwrap();
    PaperBroker::durable(path.to_owned(), Fsync::On, kc, 1, Decimal::ONE)
}

fn bar(at_min: u64, [o, h, l, c]: [&str; 4], volume: u64) -> Bar {
    Bar {
        symbol: "KC".into(),
        at_ms: at_min * 60_000,
        open: o.parse().unwrap(),
        high: h.parse().unwrap(),
        low: l.parse().unwrap(),
        close: c.parse().unwrap(),
        volume,
    }
}

#[test]
fn the_paper_broker_remembers_every_answer_across_instances() {
    let p = temp("remember");
    let mut b = durable(&p);
    let id = "KC-news-00000001";
    assert_eq!(b.lookup(id), Ok(Known::Unknown));
    let fill = one(b.submit(&order(Side::Buy)).unwrap());
    let mut zero = order(Side::Sell);
    zero.client_order_id = "KC-news-00000002".into();
    zero.qty = Decimal::ZERO;
    assert!(matches!(b.submit(&zero), Err(BrokerError::Rejected(_))));
    // A new instance (the daemon restarted, or was killed): same memory.
    drop(b);
    let mut b = durable(&p);
    assert_eq!(b.lookup(id), Ok(Known::Filled(vec![fill])));
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
fn a_working_order_fills_in_parts_across_bars_and_a_restart() {
    let p = temp("parts");
    let model = FillModel {
        latency_ms: 1_000,
        participation: "0.25".parse().unwrap(),
        ..FillModel::immediate(1)
    };
    let mut b = durable(&p).with_model(model.clone());
    let mut o = order(Side::Buy);
    o.qty = Decimal::from(5);
    o.at_ms = 60_000;
    let id = o.client_order_id.clone();
    assert_eq!(
        b.submit(&o).unwrap(),
        Known::Working(vec![]),
        "latency: nothing yet"
    );
    // The bar of 1:00 opened before the order reached the market.
    assert!(b
        .market(&bar(1, ["300", "301", "299", "300"], 40))
        .unwrap()
        .is_empty());
    // 2:00: a quarter of 9 is 2 contracts, at the open and its tick.
    assert_eq!(
        b.market(&bar(2, ["301.00", "302", "300", "301"], 9))
            .unwrap(),
        vec![id.clone()]
    );
    let Known::Working(f) = b.lookup(&id).unwrap() else {
        panic!("still working")
    };
    assert_eq!(
        f.iter()
            .map(|f| (f.part, f.qty, f.price, f.at_ms))
            .collect::<Vec<_>>(),
        vec![(1, Decimal::TWO, "301.05".parse().unwrap(), 3 * 60_000)]
    );
    // Restarted: it goes on working from its memory.
    drop(b);
    let mut b = durable(&p).with_model(model);
    assert_eq!(
        b.market(&bar(3, ["302.00", "303", "301", "302"], 100))
            .unwrap(),
        vec![id.clone()]
    );
    let Known::Filled(f) = b.lookup(&id).unwrap() else {
        panic!("filled")
    };
    assert_eq!(
        f.iter().map(|f| (f.part, f.qty)).collect::<Vec<_>>(),
        vec![(1, Decimal::TWO), (2, Decimal::from(3))]
    );
    let h = b.holdings().unwrap();
    assert_eq!((h.position("KC"), h.fills), (Decimal::from(5), 2));
    // Done: another bar moves nothing.
    assert!(b
        .market(&bar(4, ["303", "304", "302", "303"], 100))
        .unwrap()
        .is_empty());
    let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
}

#[test]
fn a_limit_order_expires_with_what_it_filled_and_a_cancel_ends_one() {
    let mut b = PaperBroker::new(contract("KC").unwrap(), 1, Decimal::ZERO).with_model(FillModel {
        participation: "0.5".parse().unwrap(),
        ..FillModel::immediate(1)
    });
    let mut o = order(Side::Buy);
    o.qty = Decimal::from(4);
    o.at_ms = 60_000;
    o.limit = Some(Limit {
        price: "299.00".parse().unwrap(),
        expires_ms: 5 * 60_000,
    });
    let id = o.client_order_id.clone();
    assert_eq!(
        b.submit(&o).unwrap(),
        Known::Working(vec![]),
        "not marketable"
    );
    assert!(b
        .market(&bar(1, ["300", "301", "299.50", "300"], 10))
        .unwrap()
        .is_empty());
    // Through the limit, half of 2 contracts of volume: 1.
    assert_eq!(
        b.market(&bar(2, ["300", "301", "298.50", "299"], 2))
            .unwrap(),
        vec![id.clone()]
    );
    assert_eq!(
        b.market(&bar(5, ["300", "301", "298.50", "299"], 100))
            .unwrap(),
        vec![id.clone()]
    );
    let Known::Ended { fills, why } = b.lookup(&id).unwrap() else {
        panic!("ended")
    };
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, "299.00".parse::<Decimal>().unwrap());
    assert_eq!(why, "expired: 1 of 4 filled");

    // A refusal says what is wrong with the limit.
    let mut bad = o.clone();
    bad.client_order_id = "KC-news-00000002".into();
    bad.limit = Some(Limit {
        price: "299.03".parse().unwrap(),
        expires_ms: 5 * 60_000,
    });
    let e = b.submit(&bad).unwrap_err().to_string();
    assert!(
        e.contains("not a positive multiple of the tick 0.05"),
        "{e}"
    );

    // Cancelled while working: ended, and a cancel of what is done changes nothing.
    let mut c = o.clone();
    c.client_order_id = "KC-news-00000003".into();
    b.submit(&c).unwrap();
    let k = b.cancel(&c.client_order_id, "cancelled: PANIC").unwrap();
    assert_eq!(
        k,
        Known::Ended {
            fills: vec![],
            why: "cancelled: PANIC".into()
        }
    );
    assert_eq!(b.cancel(&c.client_order_id, "again").unwrap(), k);
}

#[test]
fn a_bare_symbols_bars_price_only_months_without_bars_of_their_own() {
    let model = FillModel {
        latency_ms: 1,
        ..FillModel::immediate(0)
    };
    let mut b = PaperBroker::new(contract("KC").unwrap(), 0, Decimal::ZERO).with_model(model);
    let mut h = order(Side::Buy);
    h.symbol = "KCH26".into();
    h.client_order_id = "KC-news-00000001-KCH26".into();
    let mut k = h.clone();
    k.symbol = "KCK26".into();
    k.client_order_id = "KC-news-00000002-KCK26".into();
    b.submit(&h).unwrap();
    b.submit(&k).unwrap();
    let mut own = bar(1, ["310", "310", "310", "310"], 10);
    own.symbol = "KCK26".into();
    assert_eq!(b.market(&own).unwrap(), vec![k.client_order_id.clone()]);
    assert_eq!(
        one(b.lookup(&k.client_order_id).unwrap()).price,
        Decimal::from(310)
    );
    let front = bar(2, ["300", "300", "300", "300"], 10);
    assert_eq!(b.market(&front).unwrap(), vec![h.client_order_id.clone()]);
    // Its own bars stopped (the data went on as the front series): the bare
    // symbol's bars price it again, or an order there would work for ever.
    let mut later = k.clone();
    later.client_order_id = "KC-news-00000003-KCK26".into();
    later.at_ms = 5 * 60_000;
    b.submit(&later).unwrap();
    let front = bar(9, ["305", "305", "305", "305"], 10);
    assert_eq!(
        b.market(&front).unwrap(),
        vec![later.client_order_id.clone()]
    );
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
    assert!(b.market(&bar(1, ["1", "1", "1", "1"], 1)).is_err());
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
        fills.push(one(b.submit(&o).unwrap()));
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
    c.execute_batch(
        "DELETE FROM paper_fills WHERE client_order_id IN ('KC-news-00000001', 'KC-news-00000002');
         DELETE FROM paper_book WHERE seq <= 2",
    )
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
fn a_memory_of_one_fill_per_order_moves_to_parts_once() {
    let p = temp("older");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let c = Connection::open(&p).unwrap();
    // What a build before working orders wrote.
    c.execute_batch(
        "CREATE TABLE paper_orders (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('filled', 'rejected')),
            engine TEXT NOT NULL DEFAULT '', symbol TEXT NOT NULL DEFAULT '',
            side TEXT NOT NULL DEFAULT '', qty TEXT NOT NULL DEFAULT '',
            price TEXT NOT NULL DEFAULT '', commission TEXT NOT NULL DEFAULT '',
            at_ms INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '');
         CREATE TABLE paper_holdings (symbol TEXT PRIMARY KEY, qty TEXT NOT NULL,
            cash TEXT NOT NULL, commissions TEXT NOT NULL, fills INTEGER NOT NULL);
         INSERT INTO paper_orders (client_order_id, status, engine, symbol, side, qty, price, commission, at_ms)
           VALUES ('KC-news-00000001', 'filled', 'KC', 'KC', 'buy', '2', '300.05', '2', 5);
         INSERT INTO paper_orders (client_order_id, status, reason) VALUES ('KC-news-00000002', 'rejected', 'no');",
    )
    .unwrap();
    drop(c);
    let mut b = durable(&p);
    let f = one(b.lookup("KC-news-00000001").unwrap());
    assert_eq!(
        (f.part, f.qty, f.price),
        (1, Decimal::TWO, "300.05".parse().unwrap())
    );
    assert_eq!(
        b.lookup("KC-news-00000002").unwrap(),
        Known::Rejected("no".into())
    );
    assert_eq!(
        b.holdings().unwrap().position("KC"),
        Decimal::TWO,
        "rebuilt"
    );
    drop(b);
    // Once: a second open finds it moved.
    let mut b = durable(&p);
    assert_eq!(b.holdings().unwrap().fills, 1);
    let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
}

#[test]
fn the_paper_broker_forgets_only_beyond_its_bound() {
    let mut b = PaperBroker::new(contract("KC").unwrap(), 0, Decimal::ZERO);
    b.book.keep = 3;
    let mut o = order(Side::Buy);
    for i in 1..=(memory::PRUNE_EVERY + 1) {
        o.client_order_id = format!("KC-news-{i:08}");
        b.submit(&o).unwrap();
    }
    // Pruned at the answer after every PRUNE_EVERY: the newest 3 kept.
    let known = |b: &mut PaperBroker, i: u64| b.lookup(&format!("KC-news-{i:08}")).unwrap();
    assert_eq!(known(&mut b, 1), Known::Unknown);
    assert_eq!(known(&mut b, memory::PRUNE_EVERY - 2), Known::Unknown);
    for i in memory::PRUNE_EVERY - 1..=memory::PRUNE_EVERY + 1 {
        assert!(matches!(known(&mut b, i), Known::Filled(_)), "{i}");
    }
}
