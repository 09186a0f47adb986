//! The executor against both real brokers through the one `Broker` trait:
//! the paper broker (its own SQLite memory beside the journal) and the IB
//! adapter (the pool, `ibapi`, the TWS simulator on a loopback port). The
//! same scenarios, the same assertions: an order is sent once and its fill
//! journaled once; an order a predecessor sent (the broker has it) is
//! journaled from the broker's answer, never sent again; a pending order the
//! broker never saw is sent once. One engine subtree, a real journal.
//! Real time: the IB venue speaks over a socket (waits are for conditions,
//! bounded so a failure ends).

mod common;
#[path = "common/engines.rs"]
mod engines;

use commodore_actors::clock::Clock;
use commodore_actors::engine::broker::{paper_broker_path, BrokerFactory};
use commodore_actors::engine::messages::SubmitOrder;
use commodore_actors::engine::{self, Broker, BrokerError, EngineConfig, Known, PaperBroker};
use commodore_actors::ib::{IbPool, IbSettings};
use commodore_actors::journal::{Fsync, OutcomeRow, Store};
use commodore_actors::kernel::*;
use commodore_actors::model::{contract, Order, Outcome, RiskLevel, Side};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use commodore_ibsim::{Fills, Sim};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Monday 2026-01-05, 16:00 UTC (KC open).
const NOW_MS: u64 = 1_767_571_200_000 + 16 * 3_600_000;
const ACCOUNT: &str = "DU1111111";
const WITHIN: Duration = Duration::from_secs(20);

/// What the executor sent its broker, counted in front of the real one.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<HashMap<String, u32>>>);

impl Sent {
    fn of(&self, id: &str) -> u32 {
        self.0.lock().unwrap().get(id).copied().unwrap_or(0)
    }
}

/// A real broker with its submits counted.
struct Counted(Box<dyn Broker>, Sent);

impl Broker for Counted {
    fn submit(&mut self, o: &Order) -> Result<Known, BrokerError> {
        *self
            .1
             .0
            .lock()
            .unwrap()
            .entry(o.client_order_id.clone())
            .or_default() += 1;
        self.0.submit(o)
    }
    fn lookup(&mut self, id: &str) -> Result<Known, BrokerError> {
        self.0.lookup(id)
    }
    fn cancel(&mut self, id: &str, why: &str) -> Result<Known, BrokerError> {
        self.0.cancel(id, why)
    }
    fn holdings(&mut self) -> Result<commodore_actors::model::Holdings, BrokerError> {
        self.0.holdings()
    }
    fn watch(&mut self, moved: Box<dyn Fn(Vec<String>) + Send + Sync>) {
        self.0.watch(moved)
    }
}

/// Where the orders go.
enum Venue {
    Paper,
    Ib(Sim),
}

impl Venue {
    fn name(&self) -> &'static str {
        match self {
            Venue::Paper => "paper",
            Venue::Ib(_) => "ib",
        }
    }

    fn settings(sim: &Sim) -> IbSettings {
        IbSettings {
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            ..IbSettings::local(ACCOUNT, sim.port())
        }
    }

    /// The broker the engine's actor builds, counted; the IB pool lives as
    /// long as the returned guard.
    fn factory(&self, journal: &Path, sent: &Sent) -> (BrokerFactory, Option<IbPool>) {
        let sent = sent.clone();
        match self {
            Venue::Paper => {
                let memory = paper_broker_path(journal, "KC");
                let f: BrokerFactory = Arc::new(move || {
                    let paper = PaperBroker::durable(
                        memory.clone(),
                        Fsync::On,
                        contract("KC").unwrap(),
                        0,
                        Decimal::ZERO,
                    );
                    Box::new(Counted(Box::new(paper), sent.clone()))
                });
                (f, None)
            }
            Venue::Ib(sim) => {
                let pool =
                    IbPool::start(Venue::settings(sim), Clock::wall(), vec!["KC".into()]).unwrap();
                let p = pool.clone();
                let f: BrokerFactory =
                    Arc::new(move || Box::new(Counted(p.broker("KC", "KC"), sent.clone())));
                (f, Some(pool))
            }
        }
    }

    /// A predecessor sent `o` and the broker filled it (at `price` at IB).
    async fn filled_before(&self, journal: &Path, o: &Order) {
        match self {
            Venue::Paper => {
                let mut paper = PaperBroker::durable(
                    paper_broker_path(journal, "KC"),
                    Fsync::On,
                    contract("KC").unwrap(),
                    0,
                    Decimal::ZERO,
                );
                assert!(matches!(paper.submit(o).unwrap(), Known::Filled(_)));
            }
            Venue::Ib(sim) => {
                let pool =
                    IbPool::start(Venue::settings(sim), Clock::wall(), vec!["KC".into()]).unwrap();
                let mut a = pool.adapter("KC", "KC").unwrap();
                wait("the predecessor's connection", || a.status().ready).await;
                a.submit(o).unwrap();
                sim.until("its fill", WITHIN, |s| !s.executions().is_empty())
                    .await;
                drop(a);
                drop(pool);
                sim.until("the predecessor gone", WITHIN, |s| s.clients().is_empty())
                    .await;
            }
        }
    }

    /// How many times the venue itself was given the order.
    fn at_venue(&self, journal: &Path, id: &str) -> u32 {
        match self {
            Venue::Paper => rusqlite::Connection::open(paper_broker_path(journal, "KC"))
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM paper_book WHERE client_order_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap(),
            Venue::Ib(sim) => sim.placed(id),
        }
    }
}

fn venues() -> Vec<Venue> {
    vec![Venue::Paper, Venue::Ib(Sim::start(ACCOUNT))]
}

/// Waits (real time, bounded) until `f` holds.
async fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn order(seq: u64) -> (Order, OutcomeRow) {
    let id = format!("KC-news-{seq:08}-KCH26");
    (
        Order {
            limit: None,
            client_order_id: id.clone(),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: seq,
            symbol: "KCH26".into(),
            side: Side::Buy,
            qty: Decimal::from(2),
            ref_price: Decimal::from(345),
            at_ms: NOW_MS,
        },
        OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KCH26".into(),
            strategy: "news".into(),
            outcome: Outcome::Executed,
            detail: id,
            at_ms: NOW_MS,
        },
    )
}

fn status_of(path: &Path, id: &str) -> Option<String> {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT status FROM orders WHERE client_order_id = ?1",
            [id],
            |r| r.get(0),
        )
        .ok()
}

fn fills_of(path: &Path, id: &str) -> usize {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM fills WHERE client_order_id = ?1",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
}

fn fresh(venue: &Venue, name: &str) -> PathBuf {
    let path = common::temp_journal("venues", &format!("{}-{name}", venue.name()));
    Store::open(&path).unwrap();
    path
}

struct Running {
    _root: Root,
    h: engine::EngineHandles,
    pool: Option<IbPool>,
}

impl Running {
    /// Until the broker takes orders (IB: connected and reconciled; before
    /// that an order is refused as unavailable, and the breaker counts it).
    async fn ready(&self) {
        if let Some(pool) = &self.pool {
            wait("the IB connection", || {
                pool.status().get("KC").is_some_and(|s| s.ready)
            })
            .await;
        }
    }
}

/// The engine subtree `test/KC` on `journal`, its broker the venue's.
async fn engine_on(venue: &Venue, journal: &Path, sent: &Sent) -> Running {
    let kernel = Kernel::new(1);
    let (risk, mode) = engines::levels(RiskLevel::Normal);
    let wiring = Wiring::new(Clock::market(NOW_MS, 1.0), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let (factory, pool) = venue.factory(journal, sent);
    let sub = engines::subtree(
        wiring,
        common::cfg(Strategy::RestForOne),
        Duration::ZERO,
        Some(factory),
    );
    let cfg = Arc::new(EngineConfig::alone(journal.to_owned()));
    let (spec, h) = engine::subtree_with_handles(cfg, &sub, &kernel, &view);
    let root = common::start(
        SupervisorSpec::new("test", common::cfg(Strategy::OneForOne))
            .child(ChildSpec::supervisor(spec)),
        &kernel,
    )
    .await;
    Running {
        _root: root,
        h,
        pool,
    }
}

#[actix_rt::test]
async fn an_order_is_sent_once_and_its_fill_journaled_once_on_both_brokers() {
    for venue in venues() {
        let path = fresh(&venue, "once");
        let sent = Sent::default();
        let run = engine_on(&venue, &path, &sent).await;
        run.ready().await;
        let (o, r) = order(1);
        Store::open(&path)
            .unwrap()
            .insert_order(&o, &r, NOW_MS)
            .unwrap();
        run.h.executor.ask(SubmitOrder(o.clone())).await.unwrap();
        let id = o.client_order_id.clone();
        wait(&format!("{} filled", venue.name()), || {
            status_of(&path, &id).as_deref() == Some("filled")
        })
        .await;
        assert_eq!(fills_of(&path, &id), 1, "{}", venue.name());
        // Its message again changes nothing.
        run.h.executor.ask(SubmitOrder(o.clone())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sent.of(&id), 1, "{}", venue.name());
        assert_eq!(venue.at_venue(&path, &id), 1, "{}", venue.name());
        assert_eq!(fills_of(&path, &id), 1, "{}", venue.name());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

#[actix_rt::test]
async fn an_order_a_predecessor_sent_is_journaled_from_the_broker_never_sent_again() {
    for venue in venues() {
        let path = fresh(&venue, "predecessor");
        // Journaled pending, sent, filled at the broker; the fill never
        // reached the journal (a crash).
        let (o, r) = order(7);
        Store::open(&path)
            .unwrap()
            .insert_order(&o, &r, NOW_MS - 5_000)
            .unwrap();
        venue.filled_before(&path, &o).await;
        let sent = Sent::default();
        let _run = engine_on(&venue, &path, &sent).await;
        let id = o.client_order_id.clone();
        wait(
            &format!("{} journaled from the broker", venue.name()),
            || status_of(&path, &id).as_deref() == Some("filled"),
        )
        .await;
        assert_eq!(fills_of(&path, &id), 1, "{}", venue.name());
        assert_eq!(sent.of(&id), 0, "{}: never sent again", venue.name());
        assert_eq!(venue.at_venue(&path, &id), 1, "{}", venue.name());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

#[actix_rt::test]
async fn a_pending_order_the_broker_never_saw_is_sent_once() {
    for venue in venues() {
        if let Venue::Ib(sim) = &venue {
            sim.set_fills(Fills::Parts(2));
        }
        let path = fresh(&venue, "unseen");
        let (o, r) = order(9);
        Store::open(&path)
            .unwrap()
            .insert_order(&o, &r, NOW_MS - 1_000)
            .unwrap();
        let sent = Sent::default();
        let _run = engine_on(&venue, &path, &sent).await;
        let id = o.client_order_id.clone();
        wait(&format!("{} sent and filled", venue.name()), || {
            status_of(&path, &id).as_deref() == Some("filled")
        })
        .await;
        assert_eq!(sent.of(&id), 1, "{}", venue.name());
        assert_eq!(venue.at_venue(&path, &id), 1, "{}", venue.name());
        // At IB it filled in two parts: each journaled once.
        let parts = if matches!(venue, Venue::Ib(_)) { 2 } else { 1 };
        assert_eq!(fills_of(&path, &id), parts, "{}", venue.name());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
