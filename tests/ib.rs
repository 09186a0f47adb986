//! The daemon trading at "IB" through the real binary: `broker.kind = "ib"`
//! against the TWS simulator (`commodore-ibsim`) on a loopback port. Orders
//! go with their client order id as IB's order reference, each once; fills
//! are journaled once; a `kill -9` with an order working at IB, filled while
//! commodore was down, is reconciled by reference at the restart and never
//! sent again.

mod common;

use commodore_ibsim::{Fills, Sim};
use common::{events, temp_dir, Daemon};
use std::path::Path;
use std::time::Duration;

const ACCOUNT: &str = "DU7654321";
const WITHIN: Duration = Duration::from_secs(60);

/// The environment of a daemon trading at the simulator, fast.
fn at_ib(sim: &Sim) -> Vec<(&'static str, String)> {
    vec![
        ("COMMODORE__FEED__SPEED", "3000".into()),
        ("COMMODORE__BROKER__KIND", "ib".into()),
        ("COMMODORE__BROKER__IB__PORT", sim.port().to_string()),
        ("COMMODORE__BROKER__IB__ACCOUNT", ACCOUNT.into()),
        ("COMMODORE__BROKER__IB__BACKOFF_MIN", "50ms".into()),
        ("COMMODORE__BROKER__IB__BACKOFF_MAX", "500ms".into()),
    ]
}

fn start(dir: &Path, env: &[(&'static str, String)]) -> Daemon {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::start(dir, &env)
}

/// `(client_order_id, qty, price)` of every journaled fill.
fn journal_fills(dir: &Path) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let mut s = c
        .prepare("SELECT client_order_id, qty, price FROM fills ORDER BY rowid")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_daemons_orders_go_to_ib_once_and_their_fills_are_journaled_once() {
    let sim = Sim::start(ACCOUNT);
    let dir = temp_dir("ib-orders");
    let mut d = start(&dir, &at_ib(&sim));
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    d.expect("kind=\"order_filled\" path=master/engines/CC/executor");
    // Each engine is its own client: base 100 + 1 + its place.
    assert_eq!(sim.clients(), [101, 102]);
    // What IB has executed so far, each journaled before we stop.
    let theirs = sim.executions();
    for x in &theirs {
        d.expect_any(&format!(
            "kind=\"order_filled\" path=master/engines/{}/executor detail={}",
            x.symbol, x.order_ref
        ));
    }
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let at_ib = sim.orders();
    assert!(!at_ib.is_empty());
    for o in &at_ib {
        assert_eq!(sim.placed(&o.order_ref), 1, "{} placed twice", o.order_ref);
        assert_eq!(o.account, ACCOUNT);
        let engine = o.order_ref.split('-').next().unwrap();
        assert_eq!(o.client_id, if engine == "KC" { 101 } else { 102 }, "{o:?}");
        assert_eq!(o.symbol, engine);
    }
    // Every execution at IB is one journaled fill, at IB's price, and
    // every journaled fill is one of IB's executions.
    let ours = journal_fills(&dir);
    let all = sim.executions();
    for x in &theirs {
        let of_order = |f: &&(String, String, String)| f.0 == x.order_ref;
        let execs = all.iter().filter(|y| y.order_ref == x.order_ref).count();
        assert_eq!(
            ours.iter().filter(of_order).count(),
            execs,
            "{x:?}: {ours:?}"
        );
    }
    for (id, qty, price) in &ours {
        assert!(
            all.iter().any(|x| x.order_ref == *id
                && qty.parse::<f64>().unwrap() == x.shares
                && price.parse::<f64>().unwrap() == x.price),
            "{id} {qty} @ {price} is not IB's: {all:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_with_an_order_at_ib_is_reconciled_by_reference_at_the_restart() {
    let sim = Sim::start(ACCOUNT);
    // IB takes the orders and fills nothing yet.
    sim.set_fills(Fills::Rest);
    let dir = temp_dir("ib-kill9");
    let mut d = start(&dir, &at_ib(&sim));
    // An order of two contracts or more, to fill in two parts.
    sim.wait("an order of 2 or more", WITHIN, |s| {
        s.orders().iter().any(|o| o.qty >= 2.0)
    });
    let o = sim.orders().into_iter().find(|o| o.qty >= 2.0).unwrap();
    d.signal(libc::SIGKILL);
    let _ = d.exit_code();
    sim.wait("the clients gone", WITHIN, |s| s.clients().is_empty());
    // While commodore is down, IB fills it, in two parts.
    let half = (o.qty / 2.0).floor();
    sim.fill(&o.order_ref, half, Some(301.0));
    sim.fill(&o.order_ref, o.qty - half, Some(302.0));
    sim.set_fills(Fills::AtOnce);

    let mut d = start(&dir, &at_ib(&sim));
    d.expect_any(&format!(
        "kind=\"order_filled\" path=master/engines/{}/executor detail={}",
        &o.order_ref[..2],
        o.order_ref
    ));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    // Never sent again; each part journaled once, at IB's prices.
    assert_eq!(sim.placed(&o.order_ref), 1);
    let mine: Vec<(String, String, String)> = journal_fills(&dir)
        .into_iter()
        .filter(|f| f.0 == o.order_ref)
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    // In IB's order (its cumulative quantity), whatever order IB listed them.
    assert_eq!(mine[0].2.parse::<f64>().unwrap(), 301.0);
    assert_eq!(mine[1].2.parse::<f64>().unwrap(), 302.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ib_down_at_start_refuses_orders_as_broker_failures_until_it_is_back() {
    let sim = Sim::start(ACCOUNT);
    sim.refuse_connections(true);
    let dir = temp_dir("ib-down");
    let mut d = start(&dir, &at_ib(&sim));
    // Orders are refused as the broker being unavailable: the breaker counts them.
    d.expect("is not ready: cannot connect to IB");
    assert!(sim.orders().is_empty());
    let status = d.get("/v1/status");
    let ib = &status["ib"]["KC"];
    assert_eq!(ib["ready"], false, "{status}");
    assert!(
        ib["why"].as_str().unwrap().contains("cannot connect to IB"),
        "{ib}"
    );
    sim.refuse_connections(false);
    sim.wait("both engines connected", WITHIN, |s| s.clients().len() == 2);
    d.expect("kind=\"order_filled\" path=master/engines/KC/executor");
    let evs = events(&d, 0);
    assert!(evs.iter().any(|e| e["kind"] == "order_filled"));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_names_what_ib_needs() {
    let out = common::commodore()
        .args(["check-config"])
        .env("COMMODORE__BROKER__KIND", "ib")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broker.ib.account: is empty"), "{err}");
    let out = common::commodore()
        .args(["check-config"])
        .env("COMMODORE__BROKER__KIND", "ib")
        .env("COMMODORE__BROKER__IB__ACCOUNT", ACCOUNT)
        .env("COMMODORE__BROKER__IB__MESSAGES_PER_SECOND", "60")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broker.ib.messages_per_second"));
    let out = common::commodore()
        .args(["check-config"])
        .env("COMMODORE__BROKER__KIND", "ib")
        .env("COMMODORE__BROKER__IB__ACCOUNT", ACCOUNT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The example docs/ib.md starts from.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/examples/ib.toml");
    let out = common::commodore()
        .args(["check-config", "--config", example])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind = \"ib\""));
}

#[test]
fn with_feed_source_ib_the_engines_read_ibs_live_bars() {
    let sim = Sim::start(ACCOUNT);
    let dir = temp_dir("ib-bars");
    // IB's bars, the paper broker: paper trading on live data.
    let env = vec![
        ("COMMODORE__FEED__SOURCE", "ib".to_owned()),
        ("COMMODORE__BROKER__IB__PORT", sim.port().to_string()),
    ];
    let d = start(&dir, &env);
    sim.wait("the front months and the next", WITHIN, |s| {
        s.bar_subscriptions().len() == 4
    });
    assert_eq!(sim.clients(), [100]);
    // The front month the engine trades now (the wall clock is the market's).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let front = commodore_actors::model::contract("KC")
        .unwrap()
        .front(now_ms, 5);
    let (_, month) = commodore_actors::model::calendar::ContractMonth::parse(&front).unwrap();
    let yyyymm = format!("{:04}{:02}", month.year, month.month);
    // The minute that just closed, in five-second bars.
    let minute_s = (now_ms / 60_000 - 1) as i64 * 60;
    for i in 0..12 {
        sim.bar(
            "KC",
            &yyyymm,
            minute_s + i * 5,
            [351.0, 352.0, 350.0, 351.25],
            2,
        );
    }
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let status = d.get("/v1/status");
        let kc = common::engine(&status, "KC");
        if kc["last_price"] == "351.25" {
            assert_eq!(kc["contract"], front.as_str(), "{kc}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never read IB's bar: {kc}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = d.get("/v1/status");
    assert_eq!(status["ib"]["market_data"]["ready"], true, "{status}");
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_order_ib_refuses_is_journaled_rejected_with_ibs_reason() {
    let sim = Sim::start(ACCOUNT);
    sim.reject_next(201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED");
    let dir = temp_dir("ib-refused");
    let mut d = start(&dir, &at_ib(&sim));
    d.expect("IB refused an order");
    let refused = sim.orders().remove(0);
    d.expect_any(&format!(
        "kind=\"order_rejected\" path=master/engines/{}/executor detail={}",
        refused.symbol, refused.order_ref
    ));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let c = rusqlite::Connection::open(dir.join("journal.sqlite")).unwrap();
    let (status, why): (String, String) = c
        .query_row(
            "SELECT status, COALESCE(detail, '') FROM orders WHERE client_order_id = ?1",
            [&refused.order_ref],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "rejected");
    assert!(why.contains("IB error 201"), "{why}");
    assert_eq!(sim.placed(&refused.order_ref), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fall_mid_order_is_reconciled_and_its_parts_journaled_once() {
    let sim = Sim::start(ACCOUNT);
    sim.set_fills(Fills::Rest);
    let dir = temp_dir("ib-fall");
    let mut d = start(&dir, &at_ib(&sim));
    sim.wait("an order", WITHIN, |s| !s.orders().is_empty());
    let o = sim.orders().remove(0);
    // The gateway goes away with the order working; IB fills it meanwhile.
    sim.refuse_connections(true);
    sim.drop_connections();
    sim.wait("the clients gone", WITHIN, |s| s.clients().is_empty());
    sim.fill(&o.order_ref, o.qty, Some(347.0));
    sim.set_fills(Fills::Parts(2));
    sim.refuse_connections(false);
    d.expect_any(&format!(
        "kind=\"order_filled\" path=master/engines/{}/executor detail={}",
        o.symbol, o.order_ref
    ));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    assert_eq!(sim.placed(&o.order_ref), 1, "never sent again");
    let mine: Vec<_> = journal_fills(&dir)
        .into_iter()
        .filter(|f| f.0 == o.order_ref)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].2.parse::<f64>().unwrap(), 347.0);
    // Orders after the fall filled in two parts each: each part once.
    let all = sim.executions();
    for (id, _, _) in journal_fills(&dir) {
        let at_ib = all.iter().filter(|x| x.order_ref == id).count();
        let ours = journal_fills(&dir).iter().filter(|f| f.0 == id).count();
        assert!(ours <= at_ib, "{id}: {ours} journaled, {at_ib} at IB");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
