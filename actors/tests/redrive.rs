//! The executor never sends an order whose fate it does not know: one engine
//! subtree (real actors, a real SQLite journal) on paused time, with a broker
//! test double behind the `Broker` trait that says what it knows of each
//! client order id and counts what it is sent.

mod common;
#[path = "common/engines.rs"]
mod engines;

use commodore_actors::engine::messages::SubmitOrder;
use commodore_actors::engine::{self, Broker, BrokerError, EngineConfig, EngineHandles, Known};
use commodore_actors::journal::{OutcomeRow, Store};
use commodore_actors::kernel::*;
use commodore_actors::model::{Fill, Order, Outcome, RiskLevel, Side};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Monday 2026-01-05, 16:00 UTC: the market clock's start (KC open).
const NOW_MS: u64 = 1_767_571_200_000 + 16 * 3_600_000;

/// What the double knows and was sent, shared with the test.
#[derive(Default)]
struct Book {
    known: HashMap<String, Known>,
    /// Lookups fail (the broker is unreachable).
    unreachable: bool,
    submits: Vec<String>,
    lookups: Vec<String>,
}

#[derive(Clone, Default)]
struct Double(Arc<Mutex<Book>>);

impl Broker for Double {
    fn submit(&mut self, o: &Order) -> Result<Known, BrokerError> {
        let mut b = self.0.lock().unwrap();
        b.submits.push(o.client_order_id.clone());
        let filled = Known::Filled(vec![fill_of(o, o.ref_price)]);
        b.known.insert(o.client_order_id.clone(), filled.clone());
        Ok(filled)
    }

    fn cancel(&mut self, id: &str, why: &str) -> Result<Known, BrokerError> {
        let mut b = self.0.lock().unwrap();
        let k = match b.known.get(id).cloned() {
            Some(Known::Working(fills)) => Known::Ended {
                fills,
                why: why.to_owned(),
            },
            other => other.unwrap_or(Known::Unknown),
        };
        b.known.insert(id.to_owned(), k.clone());
        Ok(k)
    }

    fn lookup(&mut self, id: &str) -> Result<Known, BrokerError> {
        let mut b = self.0.lock().unwrap();
        b.lookups.push(id.to_owned());
        if b.unreachable {
            return Err(BrokerError::Unavailable("down for the test".into()));
        }
        Ok(b.known.get(id).cloned().unwrap_or(Known::Unknown))
    }

    /// The holdings of every fill it gave.
    fn holdings(&mut self) -> Result<commodore_actors::model::Holdings, BrokerError> {
        let b = self.0.lock().unwrap();
        let fills: Vec<&Fill> = b.known.values().flat_map(|k| k.fills()).collect();
        commodore_actors::model::Holdings::of(fills).map_err(BrokerError::Unavailable)
    }
}

impl Double {
    fn submits(&self) -> Vec<String> {
        self.0.lock().unwrap().submits.clone()
    }
    fn lookups(&self) -> usize {
        self.0.lock().unwrap().lookups.len()
    }
    fn set(&self, f: impl FnOnce(&mut Book)) {
        f(&mut self.0.lock().unwrap())
    }
}

fn fill_of(o: &Order, price: Decimal) -> Fill {
    Fill {
        part: 1,
        client_order_id: o.client_order_id.clone(),
        engine: o.engine.clone(),
        symbol: o.symbol.clone(),
        side: o.side,
        qty: o.qty,
        price,
        commission: Decimal::ZERO,
        at_ms: o.at_ms,
    }
}

fn order(seq: u64) -> (Order, OutcomeRow) {
    let id = format!("KC-news-{seq:08}");
    (
        Order {
            limit: None,
            client_order_id: id.clone(),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            side: Side::Buy,
            qty: Decimal::from(2),
            ref_price: Decimal::from(300),
            at_ms: NOW_MS,
        },
        OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Executed,
            detail: id,
            at_ms: NOW_MS,
        },
    )
}

/// Journals order `seq` pending, as if journaled `age_ms` ago.
fn journal_pending(path: &Path, seq: u64, age_ms: u64) -> Order {
    let (o, r) = order(seq);
    Store::open(path)
        .unwrap()
        .insert_order(&o, &r, NOW_MS - age_ms)
        .unwrap();
    o
}

fn status_of(path: &Path, id: &str) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT status FROM orders WHERE client_order_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

fn fill_prices(path: &Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare("SELECT client_order_id, price FROM fills ORDER BY id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Makes every later write of a fill fail, as a full disk would (or stops).
fn refuse_fills(path: &Path, on: bool) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(if on {
            "CREATE TRIGGER no_fill BEFORE INSERT ON fills BEGIN SELECT RAISE(FAIL, 'disk full'); END;"
        } else {
            "DROP TRIGGER no_fill;"
        })
        .unwrap();
}

struct Tree {
    _root: Root,
    kernel: Kernel,
    h: EngineHandles,
}

/// The engine subtree `test/KC` with the double as its broker; `before`
/// prepares the journal before anything starts.
async fn tree(path: &Path, broker: &Double) -> Tree {
    let kernel = Kernel::new(1);
    let (risk, mode) = engines::levels(RiskLevel::Normal);
    let clock = commodore_actors::clock::Clock::market(NOW_MS, 1.0);
    let wiring = Wiring::new(clock, &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let double = broker.clone();
    let sub = engines::subtree(
        wiring,
        cfg(Strategy::RestForOne),
        Duration::ZERO,
        Some(Arc::new(move || Box::new(double.clone()))),
    );
    let cfg = Arc::new(EngineConfig::alone(path.to_owned()));
    let (spec, h) = engine::subtree_with_handles(cfg, &sub, &kernel, &view);
    let root = start(
        SupervisorSpec::new("test", common::cfg(Strategy::OneForOne))
            .child(ChildSpec::supervisor(spec)),
        &kernel,
    )
    .await;
    idle(ms(10)).await;
    Tree {
        _root: root,
        kernel,
        h,
    }
}

fn submitted_events(k: &Kernel) -> usize {
    events(k)
        .into_iter()
        .filter(|(kind, _, _)| kind.as_str() == "order_submitted")
        .count()
}

fn fresh(name: &str) -> PathBuf {
    let path = temp_journal("redrive", name);
    Store::open(&path).unwrap();
    path
}

#[actix_rt::test]
async fn an_order_the_broker_filled_is_journaled_from_its_answer_not_sent_again() {
    tokio::time::pause();
    let path = fresh("filled");
    // Sent by a predecessor, filled at 301, and the fill never journaled.
    let o = journal_pending(&path, 7, 5_000);
    let broker = Double::default();
    broker.set(|b| {
        b.known.insert(
            o.client_order_id.clone(),
            Known::Filled(vec![fill_of(&o, Decimal::from(301))]),
        );
    });
    let t = tree(&path, &broker).await;
    idle(Duration::from_secs(3)).await;
    assert_eq!(broker.submits(), Vec::<String>::new(), "never sent again");
    assert!(broker.lookups() >= 1);
    assert_eq!(status_of(&path, &o.client_order_id), "filled");
    assert_eq!(
        fill_prices(&path),
        vec![(o.client_order_id.clone(), "301".to_owned())],
        "the broker's fill, once"
    );
    assert_eq!(submitted_events(&t.kernel), 0);
    // Its message arriving late changes nothing.
    t.h.executor.ask(SubmitOrder(o.clone())).await.unwrap();
    idle(ms(100)).await;
    assert!(broker.submits().is_empty());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[actix_rt::test]
async fn a_known_rejection_is_journaled_and_an_unknown_order_sent_once() {
    tokio::time::pause();
    let path = fresh("rejected");
    let refused = journal_pending(&path, 7, 5_000);
    let never_seen = journal_pending(&path, 8, 5_000);
    // The broker never saw it, and it is too old to send at its price.
    let stale = journal_pending(&path, 9, 120_000);
    let broker = Double::default();
    broker.set(|b| {
        b.known.insert(
            refused.client_order_id.clone(),
            Known::Rejected("margin".into()),
        );
    });
    let _t = tree(&path, &broker).await;
    idle(Duration::from_secs(3)).await;
    assert_eq!(status_of(&path, &refused.client_order_id), "rejected");
    assert_eq!(status_of(&path, &never_seen.client_order_id), "filled");
    assert_eq!(status_of(&path, &stale.client_order_id), "rejected");
    assert_eq!(broker.submits(), vec![never_seen.client_order_id.clone()]);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[actix_rt::test]
async fn a_broker_that_cannot_say_leaves_the_order_pending_and_is_asked_again() {
    tokio::time::pause();
    let path = fresh("unreachable");
    let o = journal_pending(&path, 7, 5_000);
    let broker = Double::default();
    broker.set(|b| b.unreachable = true);
    let _t = tree(&path, &broker).await;
    idle(Duration::from_secs(3)).await;
    let asked = broker.lookups();
    assert!(asked >= 2, "asked at the start and again: {asked}");
    assert!(broker.submits().is_empty(), "never sent blind");
    assert_eq!(status_of(&path, &o.client_order_id), "pending");
    // Reachable again, and it never saw the order: sent, once.
    broker.set(|b| b.unreachable = false);
    idle(Duration::from_secs(3)).await;
    assert_eq!(broker.submits(), vec![o.client_order_id.clone()]);
    assert_eq!(status_of(&path, &o.client_order_id), "filled");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[actix_rt::test]
async fn a_fill_that_cannot_be_journaled_stops_the_order_path_until_it_is() {
    tokio::time::pause();
    let path = fresh("held");
    let broker = Double::default();
    let t = tree(&path, &broker).await;
    refuse_fills(&path, true);
    let first = journal_pending(&path, 7, 0);
    t.h.executor.ask(SubmitOrder(first.clone())).await.unwrap();
    idle(ms(100)).await;
    assert_eq!(broker.submits(), vec![first.client_order_id.clone()]);
    assert_eq!(status_of(&path, &first.client_order_id), "pending");
    // The next order is held: nothing is sent while a fill waits.
    let second = journal_pending(&path, 8, 0);
    t.h.executor.ask(SubmitOrder(second.clone())).await.unwrap();
    idle(Duration::from_secs(5)).await;
    assert_eq!(broker.submits().len(), 1, "{:?}", broker.submits());
    assert_eq!(status_of(&path, &first.client_order_id), "pending");
    // The journal takes writes again: the held fill first, then the next order.
    refuse_fills(&path, false);
    idle(Duration::from_millis(1_100)).await;
    assert_eq!(
        broker.submits(),
        vec![
            first.client_order_id.clone(),
            second.client_order_id.clone()
        ],
        "each sent once"
    );
    let fills: Vec<String> = fill_prices(&path).into_iter().map(|(id, _)| id).collect();
    assert_eq!(fills, vec![first.client_order_id, second.client_order_id]);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[actix_rt::test]
async fn a_held_fill_lost_with_its_executor_is_recovered_from_the_broker_not_resent() {
    tokio::time::pause();
    let path = fresh("held-restart");
    let broker = Double::default();
    let t = tree(&path, &broker).await;
    refuse_fills(&path, true);
    let o = journal_pending(&path, 7, 0);
    t.h.executor.ask(SubmitOrder(o.clone())).await.unwrap();
    idle(ms(100)).await;
    // The executor dies holding the fill (its memory is gone).
    let fault = Fault {
        kind: FaultKind::Panic,
        count: 1,
        ms: 0,
    };
    t.kernel.inject("test/KC/executor", fault).await.unwrap();
    idle(Duration::from_secs(3)).await;
    assert!(node(&t.kernel, "test/KC/executor").restarts >= 1);
    assert_eq!(status_of(&path, &o.client_order_id), "pending");
    refuse_fills(&path, false);
    idle(Duration::from_secs(3)).await;
    assert_eq!(
        broker.submits(),
        vec![o.client_order_id.clone()],
        "sent once"
    );
    assert_eq!(status_of(&path, &o.client_order_id), "filled");
    assert_eq!(fill_prices(&path).len(), 1);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// An order a predecessor sent and the broker works (a part filled): the
/// successor journals the part once, asks again at every re-drive, journals
/// the last part when the broker has it, and never sends it again; a working
/// order the broker no longer knows ends there, not re-sent.
#[actix_rt::test]
async fn a_working_order_is_journaled_part_by_part_and_never_sent_again() {
    tokio::time::pause();
    let path = fresh("working");
    let o = journal_pending(&path, 7, 5_000);
    let part = |n: u32, qty: i64, price: i64| {
        let mut f = fill_of(&o, Decimal::from(price));
        f.part = n;
        f.qty = Decimal::from(qty);
        f
    };
    let broker = Double::default();
    let first = part(1, 1, 301);
    broker.set(|b| {
        b.known.insert(
            o.client_order_id.clone(),
            Known::Working(vec![first.clone()]),
        );
    });
    let t = tree(&path, &broker).await;
    idle(Duration::from_secs(3)).await;
    assert_eq!(status_of(&path, &o.client_order_id), "working");
    assert_eq!(
        fill_prices(&path),
        vec![(o.client_order_id.clone(), "301".to_owned())]
    );
    // Asked again a few times: the part is journaled once.
    idle(Duration::from_secs(3)).await;
    assert_eq!(fill_prices(&path).len(), 1);
    assert!(
        broker.lookups() >= 3,
        "every working order at each re-drive"
    );
    broker.set(|b| {
        b.known.insert(
            o.client_order_id.clone(),
            Known::Filled(vec![first.clone(), part(2, 1, 302)]),
        );
    });
    idle(Duration::from_secs(2)).await;
    assert_eq!(status_of(&path, &o.client_order_id), "filled");
    assert_eq!(
        fill_prices(&path),
        vec![
            (o.client_order_id.clone(), "301".to_owned()),
            (o.client_order_id.clone(), "302".to_owned())
        ]
    );
    assert!(broker.submits().is_empty(), "never sent again");
    assert_eq!(submitted_events(&t.kernel), 0);

    // Working at the broker, then forgotten by it: it ends, not re-sent.
    let lost = journal_pending(&path, 8, 5_000);
    broker.set(|b| {
        b.known
            .insert(lost.client_order_id.clone(), Known::Working(Vec::new()));
    });
    idle(Duration::from_secs(2)).await;
    assert_eq!(status_of(&path, &lost.client_order_id), "working");
    broker.set(|b| {
        b.known.remove(&lost.client_order_id);
    });
    idle(Duration::from_secs(2)).await;
    assert_eq!(status_of(&path, &lost.client_order_id), "rejected");
    assert!(broker.submits().is_empty(), "never sent blind");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
