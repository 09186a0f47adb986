//! IB adapter figures, each beside a baseline in the same run (the TWS
//! simulator on a loopback socket stands in for IB Gateway):
//!
//! - orders through the adapter until IB's fills are known, unpaced (the
//!   adapter's own cost: `ibapi`, the pool's thread, the book), against the
//!   same orders through the durable paper broker;
//! - the same, paced at 40 messages a second (what `run` does by default):
//!   the pacing is the bound, as it should be;
//! - connect-to-ready with 1,000 orders and their executions to reconcile,
//!   against connect-to-ready with none.
//!
//! Prints one JSON object per figure; `scripts/bench.sh` makes the table.

use commodore_actors::clock::Clock;
use commodore_actors::engine::broker::paper_broker_path;
use commodore_actors::engine::{Broker, Known, PaperBroker};
use commodore_actors::ib::{IbPool, IbSettings};
use commodore_actors::journal::Fsync;
use commodore_actors::model::{contract, Order, Side};
use commodore_ibsim::Sim;
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "DU0000001";
const ORDERS: u64 = 400;
const PACED: u64 = 120;
const AT_IB: u64 = 1_000;

fn figure(name: &str, value: f64, unit: &str, baseline: f64, target: &str) {
    println!(
        "{{\"figure\":\"{name}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"baseline\":{baseline:.3},\"target\":\"{target}\"}}"
    );
}

fn order(seq: u64) -> Order {
    Order {
        client_order_id: format!("KC-bench-{seq:08}-KCH26"),
        engine: "KC".into(),
        strategy: "bench".into(),
        decision_seq: seq,
        symbol: "KCH26".into(),
        side: if seq.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        qty: Decimal::ONE,
        ref_price: Decimal::from(345),
        at_ms: 0,
        limit: None,
    }
}

fn settings(sim: &Sim, per_second: u32) -> IbSettings {
    IbSettings {
        messages_per_second: per_second,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..IbSettings::local(ACCOUNT, sim.port())
    }
}

async fn ready(pool: &IbPool) -> IbAdapter {
    let a = pool.adapter("KC", "KC").unwrap();
    while !a.status().ready {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    a
}

type IbAdapter = commodore_actors::ib::IbBroker;

/// Sends orders `from..to` and waits until every one is known filled. The
/// connection's queue holds 256: a full one is waited for, as the
/// executor's re-drive would.
async fn through(a: &mut IbAdapter, from: u64, to: u64) {
    for i in from..to {
        while let Err(e) = a.submit(&order(i)) {
            assert!(e.to_string().contains("queue is full"), "{e}");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    for i in from..to {
        let id = order(i).client_order_id;
        while !matches!(a.lookup(&id), Ok(Known::Filled(_))) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

fn paper_seconds(n: u64) -> f64 {
    let dir = std::env::temp_dir().join(format!("commodore-ib-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut paper = PaperBroker::durable(
        paper_broker_path(&dir.join("journal.sqlite"), "KC"),
        Fsync::On,
        contract("KC").unwrap(),
        0,
        Decimal::ZERO,
    );
    let t = Instant::now();
    for i in 0..n {
        assert!(matches!(paper.submit(&order(i)).unwrap(), Known::Filled(_)));
    }
    let s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    s
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Unpaced: the adapter's own cost against the paper broker's.
        let sim = Sim::start(ACCOUNT);
        let pool = IbPool::start(settings(&sim, 0), Clock::wall(), vec!["KC".into()]).unwrap();
        let mut a = ready(&pool).await;
        let t = Instant::now();
        through(&mut a, 0, ORDERS).await;
        let ib = ORDERS as f64 / t.elapsed().as_secs_f64();
        let paper = ORDERS as f64 / paper_seconds(ORDERS);
        figure(
            "ib_orders_per_s_unpaced",
            ib,
            "orders/s",
            paper,
            "IB simulator vs durable paper broker, fills known",
        );
        drop(a);
        drop(pool);

        // Paced at the default: the bound is IB's limit, kept.
        let sim = Sim::start(ACCOUNT);
        sim.set_pacing_limit(Some(50));
        let pool = IbPool::start(settings(&sim, 40), Clock::wall(), vec!["KC".into()]).unwrap();
        let mut a = ready(&pool).await;
        let t = Instant::now();
        through(&mut a, 0, PACED).await;
        let paced = PACED as f64 / t.elapsed().as_secs_f64();
        assert_eq!(sim.violations(), 0);
        figure(
            "ib_orders_per_s_paced",
            paced,
            "orders/s",
            40.0,
            "paced at 40 messages/s; baseline: the pace",
        );
        drop(a);
        drop(pool);

        // Reconciliation at connect: 1,000 orders and fills at IB.
        let sim = Sim::start(ACCOUNT);
        let empty = {
            let t = Instant::now();
            let pool = IbPool::start(settings(&sim, 0), Clock::wall(), vec!["KC".into()]).unwrap();
            let _a = ready(&pool).await;
            t.elapsed().as_secs_f64() * 1000.0
        };
        {
            let pool = IbPool::start(settings(&sim, 0), Clock::wall(), vec!["KC".into()]).unwrap();
            let mut a = ready(&pool).await;
            through(&mut a, 0, AT_IB).await;
        }
        while !sim.clients().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t = Instant::now();
        let pool = IbPool::start(settings(&sim, 0), Clock::wall(), vec!["KC".into()]).unwrap();
        let mut a = ready(&pool).await;
        let full = t.elapsed().as_secs_f64() * 1000.0;
        assert!(matches!(
            a.lookup(&order(AT_IB - 1).client_order_id),
            Ok(Known::Filled(_))
        ));
        figure(
            "ib_reconcile_ms_1000_orders",
            full,
            "ms",
            empty,
            "connect to ready: 1,000 orders at IB vs none",
        );
    });
}
