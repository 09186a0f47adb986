//! Engine pipeline figures, each next to a bare-actix baseline in the same run:
//! market events per second through analyzer → engine (two hops, as a bare actix
//! chain of two actors on its own arbiter), and tick-to-order latency (a strong
//! headline into the analyzer's mailbox → the order in the broker adapter's
//! `submit`, through analyzer, engine, the pipeline steps, the durable order
//! log and the executor; journal on /dev/shm when it exists). Prints one JSON
//! object per figure; `scripts/bench.sh` makes the table.

use actix::prelude::*;
use commodore_actors::engine::messages::{BatchDue, MarketUpdate, RawEvent};
use commodore_actors::engine::sentinel::SentinelConfig;
use commodore_actors::engine::{self, EngineConfig, SubtreeConfig};
use commodore_actors::kernel::{ChildSpec, Handle, Kernel, Root, SupervisorSpec};
use commodore_actors::model::{contract, Bar, Headline, ModeState, RiskState};
use commodore_actors::view::StatusView;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

const MONDAY_NOON_MS: u64 = 1_767_571_200_000 + 12 * 3_600_000;
const EVENTS: usize = 200_000;
const BATCH: usize = 256;
const ORDERS: usize = 2_000;

fn figure(name: &str, value: f64, unit: &str, baseline: f64, target: &str) {
    println!(
        "{{\"figure\":\"{name}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"baseline\":{baseline:.3},\"target\":\"{target}\"}}"
    );
}

fn bar(i: usize) -> Bar {
    // Alternating a tick apart: a volatility for the VaR check, no momentum.
    let p = Decimal::new(30_000 + 5 * (i as i64 % 2), 2);
    Bar {
        symbol: "KC".into(),
        at_ms: MONDAY_NOON_MS + i as u64,
        open: p,
        high: p,
        low: p,
        close: p,
        volume: 1,
    }
}

// The bare chain: A forwards each bar to B, which keeps the last closes, as the
// analyzer and the engine do.
struct BareB {
    closes: VecDeque<Decimal>,
}
impl Actor for BareB {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}
impl Handler<MarketUpdate> for BareB {
    type Result = ();
    fn handle(&mut self, MarketUpdate(b): MarketUpdate, _: &mut Context<Self>) {
        self.closes.push_back(b.close);
        if self.closes.len() > 15 {
            self.closes.pop_front();
        }
    }
}
impl Handler<BatchDue> for BareB {
    type Result = ();
    fn handle(&mut self, _: BatchDue, _: &mut Context<Self>) {}
}
struct BareA {
    next: Addr<BareB>,
    closes: VecDeque<Decimal>,
}
impl Actor for BareA {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}
impl Handler<RawEvent> for BareA {
    type Result = ();
    fn handle(&mut self, e: RawEvent, _: &mut Context<Self>) {
        if let RawEvent::Bar(b) = e {
            self.closes.push_back(b.close);
            if self.closes.len() > 15 {
                self.closes.pop_front();
            }
            let _ = self.next.try_send(MarketUpdate(b));
        }
    }
}

async fn bare_events_per_s() -> f64 {
    let arb = Arbiter::new();
    let b = BareB::start_in_arbiter(&arb.handle(), |_| BareB {
        closes: VecDeque::new(),
    });
    let b2 = b.clone();
    let a = BareA::start_in_arbiter(&arb.handle(), move |_| BareA {
        next: b2,
        closes: VecDeque::new(),
    });
    let t = Instant::now();
    for chunk in 0..EVENTS / BATCH {
        for i in 0..BATCH - 1 {
            a.do_send(RawEvent::Bar(bar(chunk * BATCH + i)));
        }
        a.send(RawEvent::Bar(bar(chunk * BATCH + BATCH - 1)))
            .await
            .unwrap();
        b.send(BatchDue).await.unwrap();
    }
    let rate = EVENTS as f64 / t.elapsed().as_secs_f64();
    arb.stop();
    rate
}

fn config(journal: std::path::PathBuf) -> EngineConfig {
    EngineConfig::alone(journal)
}

/// The paper broker, noting when each order reaches it: the end of a tick's
/// way to an order.
struct Stamped {
    paper: engine::PaperBroker,
    at: Arc<std::sync::Mutex<Option<Instant>>>,
}
impl engine::Broker for Stamped {
    fn submit(
        &mut self,
        order: &commodore_actors::model::Order,
    ) -> Result<engine::Known, engine::BrokerError> {
        *self.at.lock().unwrap() = Some(Instant::now());
        self.paper.submit(order)
    }
    fn lookup(&mut self, id: &str) -> Result<engine::Known, engine::BrokerError> {
        self.paper.lookup(id)
    }
    fn cancel(&mut self, id: &str, why: &str) -> Result<engine::Known, engine::BrokerError> {
        self.paper.cancel(id, why)
    }
    fn holdings(&mut self) -> Result<commodore_actors::model::Holdings, engine::BrokerError> {
        self.paper.holdings()
    }
}

type Stamp = Arc<std::sync::Mutex<Option<Instant>>>;

async fn engine_tree(
    kernel: &Kernel,
    journal: std::path::PathBuf,
    placement: engine::Threads,
    stamp: Stamp,
) -> (Root, engine::EngineHandles, Arc<StatusView>) {
    let (risk, mode) = (RiskState::initial(0), ModeState::initial(0));
    let wiring =
        commodore_actors::wiring::Wiring::new(commodore_actors::clock::Clock::wall(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let sub = SubtreeConfig {
        supervision: common::config(),
        sentinels: SentinelConfig {
            move_pct: 0.5,
            escalate_pct: 0.9,
            window_bars: 30,
            keywords: vec![],
            close_warning_min: 0,
            max_gap: std::time::Duration::ZERO,
        },
        risk: Handle::new(),
        llm: None,
        placement,
        // No slippage: 2,000 round trips would bleed the account into a drawdown HALT.
        fills: engine::paper::FillModel::immediate(0),
        ib: None,
        commission: Decimal::ZERO,
        broker_timeout: Duration::from_secs(2),
        broker: Some(Arc::new(move || {
            Box::new(Stamped {
                paper: engine::PaperBroker::new(contract("KC").unwrap(), 0, Decimal::ZERO),
                at: stamp.clone(),
            })
        })),
        wiring,
        fsync: commodore_actors::journal::Fsync::On,
    };
    let (spec, handles) =
        engine::subtree_with_handles(Arc::new(config(journal)), &sub, kernel, &view);
    let root = Root::start(
        SupervisorSpec::new("bench", common::config()).child(ChildSpec::supervisor(spec)),
        kernel,
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    (root, handles, view)
}

async fn supervised_events_per_s(h: &engine::EngineHandles) -> f64 {
    let t = Instant::now();
    for chunk in 0..EVENTS / BATCH {
        for i in 0..BATCH - 1 {
            let mut e = RawEvent::Bar(bar(chunk * BATCH + i));
            // Back-pressure instead of drops: the figure counts delivered events.
            while let Err(err) = h.analyzer.tell(e) {
                e = err.into_inner();
                tokio::task::yield_now().await;
            }
        }
        h.analyzer
            .ask(RawEvent::Bar(bar(chunk * BATCH + BATCH - 1)))
            .await
            .unwrap();
        h.engine.ask(BatchDue).await.unwrap();
    }
    EVENTS as f64 / t.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_nanos() as f64 / 1000.0
}

async fn tick_to_order(
    kernel: &Kernel,
    h: &engine::EngineHandles,
    view: &StatusView,
    stamp: &Stamp,
    idle: Option<Duration>,
) -> Vec<Duration> {
    let mut events = kernel.events().subscribe(4096);
    for i in 0..20 {
        h.analyzer.ask(RawEvent::Bar(bar(i))).await.unwrap();
    }
    let mut lat = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        // Frost (buy 5) and a bumper crop (sell 5), in turn: the position stays
        // within its limit and every headline is an order.
        let text = if i % 2 == 0 {
            "Frost hits coffee belt"
        } else {
            "Bumper crop and surplus seen"
        };
        let t = Instant::now();
        h.analyzer
            .tell(RawEvent::News(Headline {
                symbol: "KC".into(),
                at_ms: MONDAY_NOON_MS,
                text: text.into(),
            }))
            .unwrap_or_else(|_| panic!("analyzer refused"));
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), events.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no order within 10 s; the engine's outcomes: {:?}",
                        view.engine("KC").activity.outcomes
                    )
                })
                .expect("event bus open");
            if e.kind.as_str() == "order_submitted" {
                break;
            }
        }
        // Untimed: the fill is journaled and reaches the engine before the next
        // tick, so a tick does not queue behind the previous order's fill.
        loop {
            let e = events.rx.recv().await.expect("event bus open");
            if e.kind.as_str() == "order_filled" {
                break;
            }
        }
        let at = stamp
            .lock()
            .unwrap()
            .take()
            .expect("the order reached the broker");
        lat.push(at - t);
        h.engine.ask(BatchDue).await.unwrap();
        // Back to back (a busy engine, warm caches), or after the thread sat
        // idle, as between the bars of a daemon at 60x.
        if let Some(idle) = idle {
            tokio::time::sleep(idle).await;
        }
    }
    lat.sort();
    lat
}

/// The decision alone: the pure steps the engine runs on a candidate (router,
/// validator, scorer, gate, allocator, risk, the guard's rules, the portfolio
/// checks with the volatility of 120 bars, the breaker) and the order it
/// builds, without the actor hops or the journal.
fn decision() -> Vec<Duration> {
    use commodore_actors::engine::pipeline::{self, Router};
    use commodore_actors::model::{client_order_id, Order, Position, RiskLevel, Sentiment};
    use commodore_actors::risk::{check_opening, Admit, Book, Breaker, EngineGuard, Opening};
    let cfg = config(std::path::PathBuf::new());
    let guard = EngineGuard::new(cfg.guard.clone());
    let mut breaker = Breaker::new(5, 60_000);
    let mut rolling = commodore_actors::risk::RollingVolatility::new(120);
    for i in 0..121 {
        rolling.push(bar(i).close);
    }
    let mut router = Router::new(cfg.router.clone());
    let closes: VecDeque<Decimal> = (0..15).map(|i| Decimal::from(300 + i)).collect();
    let position = Position::default();
    let mut lat = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS as u64 {
        let a = pipeline::Signal {
            order: None,
            symbol: "KC".into(),
            at_ms: MONDAY_NOON_MS,
            sentiment: if i % 2 == 0 {
                Sentiment::Bullish
            } else {
                Sentiment::Bearish
            },
            confidence: 0.9,
            strategy: commodore_actors::model::Strategy::NEWS,
            detail: "frost".into(),
            price: None,
            size: None,
        };
        let t = Instant::now();
        let pipeline::Route::Now(a) = router.route(a) else {
            panic!("a strong signal goes now")
        };
        let c = pipeline::candidate(&a).expect("not neutral");
        let m = pipeline::momentum(&closes);
        let validated = pipeline::validate(&c, m).is_ok();
        let tier = pipeline::score(&c, validated);
        pipeline::gate(Some(&cfg.spec), c.at_ms).unwrap();
        let qty = pipeline::allocate(&cfg.allocation, c.strategy, tier, c.size, &cfg.spec);
        let qty = commodore_actors::risk::order::position_rules(
            RiskLevel::Normal,
            false,
            &position,
            c.side,
            qty,
            &cfg.limits,
        )
        .unwrap();
        let price = closes[14];
        let opening = Opening {
            qty,
            price,
            signal_price: a.price,
            new_position: true,
            open_positions: 0,
            max_open_positions: 2,
        };
        guard.check(&cfg.spec, 0, &opening).unwrap();
        let vol = rolling.value();
        let book = Book {
            equity: cfg.allocation.capital,
            exposures: vec![],
        };
        let delta = c.side.sign() * qty * price * cfg.spec.point_value;
        check_opening(&cfg.portfolio, &book, "KC", delta, vol).unwrap();
        assert_eq!(breaker.admit(0).0, Admit::Pass);
        let order = Order {
            limit: None,
            client_order_id: client_order_id("KC", c.strategy.as_str(), i + 1, "KCH26"),
            engine: "KC".into(),
            strategy: c.strategy.as_str().to_owned(),
            decision_seq: i + 1,
            symbol: c.symbol.clone(),
            side: c.side,
            qty,
            ref_price: closes[14],
            at_ms: c.at_ms,
        };
        std::hint::black_box(&order);
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

/// Order `i` of the journal figures and its `executed` outcome.
fn sample_order(
    i: u64,
) -> (
    commodore_actors::model::Order,
    commodore_actors::journal::OutcomeRow,
) {
    use commodore_actors::journal::OutcomeRow;
    use commodore_actors::model::{client_order_id, Order, Outcome, Side};
    let order = Order {
        limit: None,
        client_order_id: client_order_id("JB", "news", i + 1, "KCH26"),
        engine: "JB".into(),
        strategy: "news".into(),
        decision_seq: i + 1,
        symbol: "KC".into(),
        side: if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        qty: Decimal::from(5),
        ref_price: "300.05".parse().unwrap(),
        at_ms: MONDAY_NOON_MS,
    };
    let row = OutcomeRow {
        engine: "JB".into(),
        decision_seq: i + 1,
        symbol: "KC".into(),
        strategy: "news".into(),
        outcome: Outcome::Executed,
        detail: order.client_order_id.clone(),
        at_ms: MONDAY_NOON_MS,
    };
    (order, row)
}

/// The order log's durable append alone (what the order path pays to journal
/// an order before it is sent).
fn order_log_append(path: &std::path::Path) -> Vec<Duration> {
    use commodore_actors::journal::OrderLog;

    let mut log = OrderLog::open(path).unwrap();
    let mut lat = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS as u64 {
        let (order, row) = sample_order(i);
        let t = Instant::now();
        log.append(&order, &row, MONDAY_NOON_MS).unwrap();
        lat.push(t.elapsed());
        if i % 64 == 63 {
            log.clear().unwrap(); // moved into SQLite, as the engine's connection does
        }
    }
    lat.sort();
    lat
}

/// The SQLite insert alone (order + its `executed` outcome, one durable
/// transaction): what the order path paid before the order log.
fn journal_insert(path: &std::path::Path) -> Vec<Duration> {
    use commodore_actors::journal::Store;

    let mut store = Store::open_durable(path).unwrap();
    let mut lat = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS as u64 {
        let (order, row) = sample_order(i);
        let t = Instant::now();
        store.insert_order(&order, &row, 1).unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

fn main() {
    actix_rt::System::new().block_on(async {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        }
        .join(format!("commodore-engine-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let kernel = Kernel::new(1);
        let stamp: Stamp = Default::default();
        let (_root, h, view) = engine_tree(
            &kernel,
            dir.join("journal.sqlite"),
            engine::Threads::OwnThread,
            stamp.clone(),
        )
        .await;

        // Interleaved rounds, medians: the machine is shared.
        let (mut sup, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            bare.push(bare_events_per_s().await);
            sup.push(supervised_events_per_s(&h).await);
        }
        sup.sort_by(f64::total_cmp);
        bare.sort_by(f64::total_cmp);
        figure(
            "engine pipeline events/s (analyzer -> engine)",
            sup[2] / 1e6,
            "M ev/s",
            bare[2] / 1e6,
            ">= 0.5x bare chain",
        );

        let lat = tick_to_order(&kernel, &h, &view, &stamp, None).await;
        figure(
            "tick-to-order p50 (tick from another thread)",
            percentile(&lat, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "tick-to-order p99 (tick from another thread)",
            percentile(&lat, 0.99),
            "us",
            0.0,
            "(a thread wake-up included)",
        );
        // The same engine on the harness's thread, as the daemon's ticks are on
        // theirs (the collector and the pollers run on the engine's arbiter): no
        // thread wake-up between the tick going in and the order reaching the
        // broker, only the engine's own work.
        let kernel2 = Kernel::new(1);
        let (_root2, h2, view2) = engine_tree(
            &kernel2,
            dir.join("journal2.sqlite"),
            engine::Threads::ParentThread,
            stamp.clone(),
        )
        .await;
        let lat = tick_to_order(&kernel2, &h2, &view2, &stamp, None).await;
        figure(
            "tick-to-order p50 (tick on the engine's thread)",
            percentile(&lat, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "tick-to-order p99 (tick on the engine's thread)",
            percentile(&lat, 0.99),
            "us",
            0.0,
            "<= 50 us",
        );
        let lat = tick_to_order(
            &kernel2,
            &h2,
            &view2,
            &stamp,
            Some(Duration::from_millis(1)),
        )
        .await;
        figure(
            "tick-to-order p50 (engine's thread, after 1 ms idle)",
            percentile(&lat, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "tick-to-order p99 (engine's thread, after 1 ms idle)",
            percentile(&lat, 0.99),
            "us",
            0.0,
            "(cold caches included)",
        );
        let dec = decision();
        figure(
            "decision p50 (no journal, no hops)",
            percentile(&dec, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "decision p99 (no journal, no hops)",
            percentile(&dec, 0.99),
            "us",
            0.0,
            "<= 50 us",
        );
        let app = order_log_append(&dir.join("orders").join("JB.log"));
        figure(
            "order log append p50 (durable, tmpfs)",
            percentile(&app, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "order log append p99 (durable, tmpfs)",
            percentile(&app, 0.99),
            "us",
            0.0,
            "",
        );
        let ins = journal_insert(&dir.join("insert.sqlite"));
        figure(
            "SQLite order insert p50 (the former path)",
            percentile(&ins, 0.5),
            "us",
            0.0,
            "",
        );
        figure(
            "SQLite order insert p99 (the former path)",
            percentile(&ins, 0.99),
            "us",
            0.0,
            "",
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}
