//! The IB adapter against the TWS simulator (`commodore-ibsim`), over a real
//! socket: the `ibapi` client, the pool's thread, the engine's book. What IB
//! does is the simulator's; what commodore does is the real adapter's.
//! Real time (the pool and the simulator run their own runtimes): every
//! wait is for an event, bounded only so a failure ends.

use commodore_actors::clock::Clock;
use commodore_actors::engine::{Broker, Known};
use commodore_actors::ib::{IbBroker, IbPool, IbSettings};
use commodore_actors::model::{Limit, Order, Side};
use commodore_ibsim::{Fills, Sim};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const ACCOUNT: &str = "DU1234567";
const WITHIN: Duration = Duration::from_secs(20);

fn settings(sim: &Sim) -> IbSettings {
    IbSettings {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..IbSettings::local(ACCOUNT, sim.port())
    }
}

fn order(seq: u64, side: Side, qty: i64) -> Order {
    Order {
        client_order_id: format!("KC-momentum-{seq}-KCH26"),
        engine: "KC".into(),
        strategy: "momentum".into(),
        decision_seq: seq,
        symbol: "KCH26".into(),
        side,
        qty: Decimal::from(qty),
        ref_price: Decimal::from(300),
        at_ms: 0,
        limit: None,
    }
}

/// An adapter whose "orders moved" hook wakes the test.
struct Watched {
    broker: IbBroker,
    moved: Arc<Notify>,
}

/// The engines of the config, in order.
fn engines() -> Vec<String> {
    vec!["KC".into(), "CC".into()]
}

fn adapter(pool: &IbPool, engine: &str) -> Watched {
    let mut broker = pool.adapter(engine, engine).expect("a connection");
    let moved = Arc::new(Notify::new());
    let m = moved.clone();
    broker.watch(Box::new(move |_| m.notify_waiters()));
    Watched { broker, moved }
}

impl Watched {
    /// Waits until the adapter is connected and reconciled.
    async fn ready(&mut self) {
        let deadline = tokio::time::Instant::now() + WITHIN;
        while !self.broker.status().ready {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never ready: {:?}",
                self.broker.status()
            );
            let _ = tokio::time::timeout(Duration::from_millis(20), self.moved.notified()).await;
        }
    }

    /// Waits until what IB knows of `id` satisfies `f`.
    async fn until(&mut self, id: &str, f: impl Fn(&Known) -> bool) -> Known {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let moved = self.moved.notified();
            if let Ok(k) = self.broker.lookup(id) {
                if f(&k) {
                    return k;
                }
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                panic!("{id} never got there: {:?}", self.broker.lookup(id));
            }
        }
    }
}

#[tokio::test]
async fn an_order_is_placed_with_its_reference_and_filled_once() {
    let sim = Sim::start(ACCOUNT);
    sim.set_price("KC", 300.0);
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    assert_eq!(sim.clients(), [101]);
    let o = order(1, Side::Buy, 2);
    assert_eq!(a.broker.submit(&o).unwrap(), Known::Working(vec![]));
    let k = a
        .until(&o.client_order_id, |k| matches!(k, Known::Filled(_)))
        .await;
    let fills = k.fills();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].qty, Decimal::from(2));
    assert_eq!(fills[0].price, Decimal::from(300));
    assert_eq!(fills[0].commission, Decimal::from(5));
    assert_eq!(fills[0].at_ms, 1_772_550_930_000);
    assert_eq!(fills[0].part, 1);
    // The order went once, to the account, with our id as its reference.
    let at_ib = sim.orders();
    assert_eq!(at_ib.len(), 1);
    assert_eq!(
        (at_ib[0].order_ref.as_str(), at_ib[0].account.as_str()),
        (o.client_order_id.as_str(), ACCOUNT)
    );
    assert_eq!(
        (
            at_ib[0].symbol.as_str(),
            at_ib[0].month.as_str(),
            at_ib[0].action.as_str()
        ),
        ("KC", "202603", "BUY")
    );
    // Submitting it again sends nothing: IB has seen it.
    assert!(matches!(a.broker.submit(&o).unwrap(), Known::Filled(_)));
    assert_eq!(sim.placed(&o.client_order_id), 1);
    // The account's positions serve the reconciliation.
    sim.until("the position", WITHIN, |s| {
        s.position("KC", "202603") == 2.0
    })
    .await;
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        if let Ok(h) = a.broker.holdings() {
            if h.position("KCH26") == Decimal::from(2) && !h.cash.is_zero() {
                assert!(h.account_wide);
                // The account summary's cash: a million less the purchase.
                assert_eq!(h.cash, "774995.00".parse::<Decimal>().unwrap());
                let st = a.broker.status();
                assert_eq!(st.net_liquidation.as_deref(), Some("774995.00"));
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            a.broker.holdings()
        );
        let _ = tokio::time::timeout(Duration::from_millis(20), a.moved.notified()).await;
    }
}

#[tokio::test]
async fn partial_fills_are_parts_and_a_limit_rests_until_filled_or_cancelled() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    sim.set_fills(Fills::Parts(3));
    let o = order(1, Side::Sell, 5);
    a.broker.submit(&o).unwrap();
    let k = a
        .until(&o.client_order_id, |k| matches!(k, Known::Filled(_)))
        .await;
    let parts: Vec<(u32, Decimal)> = k.fills().iter().map(|f| (f.part, f.qty)).collect();
    assert_eq!(
        parts,
        [(1, Decimal::ONE), (2, Decimal::ONE), (3, Decimal::from(3))]
    );

    // A limit order rests; the market fills some of it; we cancel the rest.
    sim.set_fills(Fills::Rest);
    let mut l = order(2, Side::Buy, 4);
    l.limit = Some(Limit {
        price: "299.5".parse().unwrap(),
        expires_ms: 1_772_560_000_000,
    });
    a.broker.submit(&l).unwrap();
    sim.until("the limit", WITHIN, |s| s.orders().len() == 2)
        .await;
    let at_ib = sim.orders().pop().unwrap();
    assert_eq!(
        (at_ib.order_type.as_str(), at_ib.limit),
        ("LMT", Some(299.5))
    );
    assert_eq!(at_ib.good_till, "20260303-17:46:40");
    sim.fill(&l.client_order_id, 1.0, None);
    let k = a.until(&l.client_order_id, |k| k.fills().len() == 1).await;
    assert!(matches!(k, Known::Working(_)), "{k:?}");
    assert_eq!(k.fills()[0].price, "299.5".parse::<Decimal>().unwrap());
    assert!(matches!(
        a.broker.cancel(&l.client_order_id, "halt").unwrap(),
        Known::Working(_)
    ));
    let k = a.until(&l.client_order_id, |k| k.done()).await;
    let Known::Ended { fills, why } = k else {
        panic!("{k:?}")
    };
    assert_eq!(fills.len(), 1);
    assert!(why.contains("cancelled"), "{why}");
    assert_eq!(sim.orders()[1].status, "Cancelled");
}

#[tokio::test]
async fn ib_refusals_reject_with_ibs_reason() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    sim.reject_next(201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE MUST EXCEED THE INITIAL MARGIN");
    let o = order(1, Side::Buy, 1);
    a.broker.submit(&o).unwrap();
    let k = a.until(&o.client_order_id, |k| k.done()).await;
    let Known::Rejected(why) = k else {
        panic!("{k:?}")
    };
    assert!(why.starts_with("IB error 201: Order rejected"), "{why}");
    // A month IB does not list is refused before anything is placed.
    sim.unlist("KC", "202605");
    let mut m = order(2, Side::Buy, 1);
    m.client_order_id = "KC-momentum-2-KCK26".into();
    m.symbol = "KCK26".into();
    a.broker.submit(&m).unwrap();
    let k = a.until(&m.client_order_id, |k| k.done()).await;
    let Known::Rejected(why) = k else {
        panic!("{k:?}")
    };
    assert!(why.contains("could not resolve KCK26"), "{why}");
    assert_eq!(sim.placed(&m.client_order_id), 0);
}

#[tokio::test]
async fn a_fall_mid_order_reconciles_by_reference_and_nothing_is_sent_twice() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    // IB takes the order and its word never comes back: the link falls.
    sim.set_silent(true);
    let o = order(1, Side::Buy, 3);
    a.broker.submit(&o).unwrap();
    sim.until("the order", WITHIN, |s| s.placed(&o.client_order_id) == 1)
        .await;
    sim.refuse_connections(true);
    sim.drop_connections();
    // Down: nothing is answered, so nothing is sent blind.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while a.broker.status().ready {
        assert!(tokio::time::Instant::now() < deadline);
        let _ = tokio::time::timeout(Duration::from_millis(20), a.moved.notified()).await;
    }
    assert!(matches!(a.broker.lookup(&o.client_order_id), Err(e) if e.is_failure()));
    assert!(a
        .broker
        .submit(&order(2, Side::Buy, 1))
        .unwrap_err()
        .is_failure());
    // While we are away, IB fills two of it.
    sim.set_silent(false);
    sim.fill(&o.client_order_id, 2.0, Some(301.0));
    sim.refuse_connections(false);
    a.ready().await;
    assert!(sim.connects() >= 2, "{}", sim.connects());
    let k = a.until(&o.client_order_id, |k| k.fills().len() == 1).await;
    assert!(matches!(k, Known::Working(_)), "{k:?}");
    assert_eq!(k.fills()[0].price, Decimal::from(301));
    // The rest fills on the new connection; every part once.
    sim.fill(&o.client_order_id, 1.0, Some(302.0));
    let k = a
        .until(&o.client_order_id, |k| matches!(k, Known::Filled(_)))
        .await;
    assert_eq!(k.fills().iter().map(|f| f.part).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(sim.placed(&o.client_order_id), 1);
    assert_eq!(sim.placed("KC-momentum-2-KCH26"), 0);
}

#[tokio::test]
async fn a_restart_learns_what_ib_did_while_commodore_was_down() {
    let sim = Sim::start(ACCOUNT);
    let o = order(1, Side::Sell, 2);
    {
        let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
        let mut a = adapter(&pool, "KC");
        a.ready().await;
        sim.set_fills(Fills::Rest);
        a.broker.submit(&o).unwrap();
        sim.until("the order", WITHIN, |s| s.orders().len() == 1)
            .await;
        // commodore goes away (its pool with it).
    }
    sim.until("the client gone", WITHIN, |s| s.clients().is_empty())
        .await;
    sim.fill(&o.client_order_id, 2.0, None);
    // A new process: the same client id, a fresh book.
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    let k = a.broker.lookup(&o.client_order_id).unwrap();
    assert!(matches!(k, Known::Filled(ref f) if f.len() == 1), "{k:?}");
    // So the executor's re-drive never sends it again.
    assert!(matches!(a.broker.submit(&o).unwrap(), Known::Filled(_)));
    assert_eq!(sim.placed(&o.client_order_id), 1);
    // Another engine's orders are not this one's.
    assert_eq!(
        a.broker.lookup("CC-momentum-1-CCH26").unwrap(),
        Known::Unknown
    );
}

#[tokio::test]
async fn parts_keep_their_numbers_across_a_restart_whatever_order_ib_lists_them_in() {
    let sim = Sim::start(ACCOUNT);
    sim.set_fills(Fills::Rest);
    let o = order(1, Side::Buy, 5);
    let before = {
        let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
        let mut a = adapter(&pool, "KC");
        a.ready().await;
        a.broker.submit(&o).unwrap();
        sim.until("the order", WITHIN, |s| s.orders().len() == 1)
            .await;
        sim.fill(&o.client_order_id, 1.0, Some(301.0));
        a.until(&o.client_order_id, |k| k.fills().len() == 1).await
    };
    sim.until("the client gone", WITHIN, |s| s.clients().is_empty())
        .await;
    // While commodore is away: two more parts. IB lists the newest first.
    sim.fill(&o.client_order_id, 2.0, Some(302.0));
    sim.fill(&o.client_order_id, 2.0, Some(303.0));
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    let k = a
        .until(&o.client_order_id, |k| matches!(k, Known::Filled(_)))
        .await;
    let parts: Vec<(u32, Decimal)> = k.fills().iter().map(|f| (f.part, f.price)).collect();
    assert_eq!(parts[0], (before.fills()[0].part, before.fills()[0].price));
    assert_eq!(
        parts,
        [
            (1, Decimal::from(301)),
            (2, Decimal::from(302)),
            (3, Decimal::from(303))
        ]
    );
}

#[tokio::test]
async fn another_clients_order_of_the_same_number_is_not_ours() {
    let sim = Sim::start(ACCOUNT);
    sim.set_fills(Fills::Rest);
    let pool = IbPool::start(settings(&sim), Clock::wall(), engines()).unwrap();
    let mut kc = adapter(&pool, "KC");
    let mut cc = adapter(&pool, "CC");
    kc.ready().await;
    cc.ready().await;
    let k = order(1, Side::Buy, 2);
    let mut c = order(1, Side::Buy, 4);
    c.client_order_id = "CC-momentum-1-CCK26".into();
    c.engine = "CC".into();
    c.symbol = "CCK26".into();
    kc.broker.submit(&k).unwrap();
    cc.broker.submit(&c).unwrap();
    sim.until("both orders", WITHIN, |s| s.orders().len() == 2)
        .await;
    // Each client's first order: the same IB order id.
    assert!(sim
        .orders()
        .iter()
        .all(|o| o.order_id == sim.orders()[0].order_id));
    sim.fill(&c.client_order_id, 3.0, Some(6100.0));
    cc.until(&c.client_order_id, |k| k.fills().len() == 1).await;
    // A reconnect: every client's open orders and statuses are listed.
    sim.drop_connections();
    sim.until("both back", WITHIN, |s| {
        s.connects() >= 4 && s.clients().len() == 2
    })
    .await;
    kc.ready().await;
    // KC's order took nothing of CC's: cancelled, it ends with no fill.
    assert!(
        matches!(kc.broker.cancel(&k.client_order_id, "test").unwrap(), Known::Working(ref f) if f.is_empty())
    );
    let done = kc.until(&k.client_order_id, |k| k.done()).await;
    assert!(
        matches!(&done, Known::Ended { fills, .. } if fills.is_empty()),
        "{done:?}"
    );
    assert_eq!(
        sim.orders()
            .iter()
            .find(|o| o.order_ref == c.client_order_id)
            .unwrap()
            .status,
        "Submitted"
    );
}

#[tokio::test]
async fn pacing_keeps_a_burst_under_ibs_limit() {
    let sim = Sim::start(ACCOUNT);
    sim.set_pacing_limit(Some(10));
    // Half of IB's limit: what leaves our window still crosses ibapi's
    // writer and the socket, which may bunch it up on a loaded machine,
    // and a few messages (the handshake, ibapi's own cancels) are not ours
    // to pace. The default keeps 40 of IB's 50.
    let paced = IbSettings {
        messages_per_second: 5,
        ..settings(&sim)
    };
    let pool = IbPool::start(paced, Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    let orders: Vec<Order> = (1..=20).map(|i| order(i, Side::Buy, 1)).collect();
    for o in &orders {
        a.broker.submit(o).unwrap();
    }
    for o in &orders {
        a.until(&o.client_order_id, |k| matches!(k, Known::Filled(_)))
            .await;
    }
    assert_eq!(sim.violations(), 0);
    assert!(a.broker.status().paced > 0);
    assert_eq!(sim.connects(), 1);

    // The same burst unpaced breaks IB's limit: IB cuts the connection,
    // and the adapter reconnects and reconciles.
    let sim = Sim::start(ACCOUNT);
    sim.set_pacing_limit(Some(10));
    let unpaced = IbSettings {
        messages_per_second: 0,
        ..settings(&sim)
    };
    let pool = IbPool::start(unpaced, Clock::wall(), engines()).unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    for o in &orders {
        let _ = a.broker.submit(o);
    }
    sim.until("a pacing violation", WITHIN, |s| s.violations() >= 1)
        .await;
    a.ready().await;
    for o in &orders {
        let k = a.until(&o.client_order_id, |k| k.done()).await;
        // Each either filled once, or never reached IB and ended.
        let placed = sim.placed(&o.client_order_id);
        match k {
            Known::Filled(_) => assert_eq!(placed, 1),
            Known::Rejected(_) => assert_eq!(placed, 0, "rejected but at IB"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_pool_is_bounded_and_each_engine_has_its_client_id() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(
        IbSettings {
            max_connections: 2,
            ..settings(&sim)
        },
        Clock::wall(),
        engines(),
    )
    .unwrap();
    let mut kc = adapter(&pool, "KC");
    let mut cc = adapter(&pool, "CC");
    kc.ready().await;
    cc.ready().await;
    assert_eq!(sim.clients(), [101, 102]);
    let e = pool.adapter("SB", "SB").err().unwrap();
    assert!(e.contains("all its 2 connections in use"), "{e}");
    // Its broker actor is told so at every call (the breaker counts it).
    let mut none = pool.broker("SB", "SB");
    let e = none.submit(&order(1, Side::Buy, 1)).unwrap_err();
    assert!(
        e.is_failure() && e.to_string().contains("all its 2 connections in use"),
        "{e}"
    );
    // A restarted broker actor gets the same connection back.
    let again = pool.adapter("KC", "KC").unwrap();
    assert!(again.status().ready);
    assert_eq!(sim.connects(), 2);
    assert_eq!(pool.status().len(), 2);
}

#[tokio::test]
async fn a_gateway_that_stops_answering_is_a_fallen_connection() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(
        IbSettings {
            heartbeat: Duration::from_millis(100),
            request_timeout: Duration::from_millis(300),
            ..settings(&sim)
        },
        Clock::wall(),
        engines(),
    )
    .unwrap();
    let mut a = adapter(&pool, "KC");
    a.ready().await;
    // The socket stays open; nothing is answered.
    sim.set_mute(true);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while a.broker.status().ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a hung gateway went unnoticed"
        );
        let _ = tokio::time::timeout(Duration::from_millis(20), a.moved.notified()).await;
    }
    assert!(
        a.broker.status().why.contains("IB stopped answering"),
        "{:?}",
        a.broker.status()
    );
    assert!(a
        .broker
        .submit(&order(1, Side::Buy, 1))
        .unwrap_err()
        .is_failure());
    // It answers again: the adapter reconnects (the old socket was left).
    sim.set_mute(false);
    a.ready().await;
    assert!(sim.connects() >= 2);
}

#[tokio::test]
async fn ibs_five_second_bars_become_the_minute_bars_of_the_front_month_and_the_next() {
    use commodore_actors::market::Feed;
    let sim = Sim::start(ACCOUNT);
    // 2026-03-03 15:15 UTC: KC's front month is May (March rolled).
    let now_ms = 1_772_550_900_000;
    let pool = IbPool::start(settings(&sim), Clock::market(now_ms, 1.0), engines()).unwrap();
    let mut feed = pool.bars(vec!["KC".into()], 5);
    assert!(feed.live());
    sim.until("two subscriptions", WITHIN, |s| {
        s.bar_subscriptions().len() == 2
    })
    .await;
    assert_eq!(
        sim.bar_subscriptions(),
        [
            ("KC".to_owned(), "202605".to_owned()),
            ("KC".to_owned(), "202607".to_owned())
        ]
    );
    assert_eq!(
        sim.clients(),
        [100],
        "the market data connection is client_id_base"
    );
    // A minute of five-second bars of May, then one of July's.
    let minute_s = 1_772_550_840;
    for i in 0..12 {
        let p = 300.0 + i as f64;
        sim.bar(
            "KC",
            "202605",
            minute_s + i * 5,
            [p, p + 1.0, p - 1.0, p + 0.5],
            3,
        );
    }
    sim.bar(
        "KC",
        "202607",
        minute_s + 55,
        [310.0, 310.0, 310.0, 310.0],
        1,
    );
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut got = Vec::new();
    while got.len() < 2 {
        match feed.next_event() {
            Some(e) => got.push(e),
            None => {
                assert!(tokio::time::Instant::now() < deadline, "{got:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // The two months' streams are read in any order.
    got.sort_by_key(|e| e.symbol().to_owned());
    let commodore_actors::market::Payload::Bar(may) = &got[0].payload else {
        panic!()
    };
    assert_eq!(may.symbol, "KCK26");
    assert_eq!(may.at_ms, minute_s as u64 * 1000);
    assert_eq!(
        got[0].due_ms,
        minute_s as u64 * 1000 + 60_000,
        "due at its close"
    );
    assert_eq!(
        (may.open, may.close),
        (Decimal::from(300), "311.5".parse().unwrap())
    );
    assert_eq!(
        (may.high, may.low, may.volume),
        (Decimal::from(312), Decimal::from(299), 36)
    );
    let commodore_actors::market::Payload::Bar(july) = &got[1].payload else {
        panic!()
    };
    assert_eq!((july.symbol.as_str(), july.volume), ("KCN26", 1));
    let status = pool.status();
    assert!(status["market_data"].ready, "{status:?}");
    // The data connection falls: the bars stop, and it comes back subscribed.
    sim.drop_connections();
    sim.until("resubscribed", WITHIN, |s| {
        s.connects() >= 2 && s.bar_subscriptions().len() == 2
    })
    .await;
    sim.bar(
        "KC",
        "202605",
        minute_s + 60 + 55,
        [320.0, 320.0, 320.0, 320.0],
        1,
    );
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        if let Some(e) = feed.next_event() {
            let commodore_actors::market::Payload::Bar(b) = e.payload else {
                panic!()
            };
            assert_eq!((b.symbol.as_str(), b.close), ("KCK26", Decimal::from(320)));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn market_data_lines_are_counted_before_ib_counts_them() {
    let sim = Sim::start(ACCOUNT);
    let pool = IbPool::start(
        IbSettings {
            market_data_lines: 3,
            ..settings(&sim)
        },
        Clock::market(1_772_550_900_000, 1.0),
        engines(),
    )
    .unwrap();
    // Two contracts want four lines; three are allowed.
    let _feed = pool.bars(vec!["KC".into(), "CC".into()], 5);
    sim.until("three subscriptions", WITHIN, |s| {
        s.bar_subscriptions().len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.bar_subscriptions().len(), 3);
}
