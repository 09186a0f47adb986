//! `decide` without actors: every outcome it can return from the engine's
//! state and a fake of the world around it.

use super::*;
use crate::model::{Side, Strategy, Tier};
use crate::risk::BookEntry;
use std::path::PathBuf;

/// Monday 2026-01-05, 12:00 UTC: 07:00 in New York, KC is open.
const MONDAY_NOON_MS: u64 = 1_767_571_200_000 + 12 * 3_600_000;
/// Sunday 2026-01-04, 21:00 UTC: closed.
const SUNDAY_EVENING_MS: u64 = 1_767_571_200_000 - 3 * 3_600_000;

struct World {
    paused: bool,
    stale: bool,
    guard: Result<(), String>,
    others: Vec<BookEntry>,
}

impl Default for World {
    fn default() -> Self {
        World {
            paused: false,
            stale: false,
            guard: Ok(()),
            others: vec![],
        }
    }
}

impl Surroundings for World {
    fn paused(&self) -> bool {
        self.paused
    }
    fn data_stale(&self) -> bool {
        self.stale
    }
    fn guard_running(&self) -> Result<(), String> {
        self.guard.clone()
    }
    fn others(&self) -> Vec<BookEntry> {
        self.others.clone()
    }
    fn account_equity(&self) -> Decimal {
        Decimal::from(250_000)
    }
}

fn candidate(side: Side, confidence: f64, at_ms: u64) -> Candidate {
    Candidate {
        order: None,
        symbol: "KC".into(),
        side,
        confidence,
        strategy: Strategy::NEWS,
        at_ms,
        detail: String::new(),
        price: None,
        size: None,
    }
}

struct Fixture {
    cfg: EngineConfig,
    steps: Steps,
    ledger: Ledger,
    guard: EngineGuard,
}

impl Fixture {
    fn new() -> Fixture {
        let cfg = EngineConfig::alone(PathBuf::new());
        let guard = EngineGuard::new(cfg.guard.clone());
        Fixture {
            cfg,
            steps: Steps::none(),
            ledger: Ledger::new("KC"),
            guard,
        }
    }

    fn state(&self, level: RiskLevel, momentum: Option<f64>) -> State<'_> {
        State {
            cfg: &self.cfg,
            steps: &self.steps,
            ledger: &self.ledger,
            guard: &self.guard,
            momentum,
            last: Some(Decimal::from(300)),
            volatility: Some(0.001),
            level,
            mode: Tier::BALANCED,
            equity: Decimal::from(250_000),
            // Decided at market time: the gate reads the clock, not the
            // signal's time.
            now_ms: MONDAY_NOON_MS,
        }
    }
}

fn outcome(d: &Decision) -> Outcome {
    match d {
        Decision::Record(o, _) => *o,
        Decision::Order { .. } => Outcome::Executed,
        Decision::OverCapital(_) => Outcome::RiskRejected,
    }
}

#[test]
fn a_strong_signal_at_an_open_market_is_an_order() {
    let f = Fixture::new();
    let d = decide(
        &f.state(RiskLevel::Normal, None),
        &candidate(Side::Buy, 0.92, MONDAY_NOON_MS),
        &World::default(),
    );
    assert_eq!(
        d,
        Decision::Order {
            qty: Decimal::from(5),
            price: Decimal::from(300),
            breach: None,
        }
    );
}

#[test]
fn each_step_ends_the_candidate_with_its_outcome() {
    let f = Fixture::new();
    let normal = f.state(RiskLevel::Normal, None);
    let world = World::default();
    let buy = candidate(Side::Buy, 0.92, MONDAY_NOON_MS);
    // The tape fell 1 %: a buy against it is vetoed.
    let against = decide(&f.state(RiskLevel::Normal, Some(-0.01)), &buy, &world);
    assert!(matches!(&against, Decision::Record(Outcome::Vetoed, why) if why.contains("against")));
    let weak = decide(&normal, &candidate(Side::Buy, 0.3, MONDAY_NOON_MS), &world);
    assert_eq!(outcome(&weak), Outcome::LowScore);
    let mut sunday = f.state(RiskLevel::Normal, None);
    sunday.now_ms = SUNDAY_EVENING_MS;
    let closed = decide(
        &sunday,
        &candidate(Side::Buy, 0.92, SUNDAY_EVENING_MS),
        &world,
    );
    assert_eq!(outcome(&closed), Outcome::GateClosed);
    let mut no_price = f.state(RiskLevel::Normal, None);
    no_price.last = None;
    let d = decide(&no_price, &buy, &world);
    assert_eq!(
        d,
        Decision::Record(Outcome::GateClosed, "no price yet".into())
    );
    let mut momentum = buy.clone();
    momentum.strategy = Strategy::MOMENTUM;
    let mut nano = f.state(RiskLevel::Normal, None);
    nano.mode = Tier::NANO;
    // NANO × 0.25 of the momentum allocation still makes a contract here;
    // a strategy the tier does not enable is vetoed.
    let mut cfg = EngineConfig::alone(PathBuf::new());
    cfg.tiers.tiers[0].strategies = vec!["news".into()];
    let nano = State { cfg: &cfg, ..nano };
    let d = decide(&nano, &momentum, &world);
    assert!(
        matches!(&d, Decision::Record(Outcome::Vetoed, why) if why.contains("not enabled in mode NANO"))
    );
}

#[test]
fn risk_refuses_what_opens_and_lets_a_reduction_through() {
    let mut f = Fixture::new();
    let world = World::default();
    let buy = candidate(Side::Buy, 0.92, MONDAY_NOON_MS);
    let halt = decide(&f.state(RiskLevel::Halt, None), &buy, &world);
    assert!(matches!(&halt, Decision::Record(Outcome::RiskRejected, why) if why.contains("HALT")));
    let guard_down = World {
        guard: Err("engine risk guard restarting".into()),
        ..World::default()
    };
    let d = decide(&f.state(RiskLevel::Normal, None), &buy, &guard_down);
    assert_eq!(outcome(&d), Outcome::RiskRejected);
    let paused = World {
        paused: true,
        ..World::default()
    };
    let d = decide(&f.state(RiskLevel::Normal, None), &buy, &paused);
    assert!(matches!(&d, Decision::Record(Outcome::RiskRejected, why) if why.contains("paused")));
    let stale = World {
        stale: true,
        ..World::default()
    };
    let d = decide(&f.state(RiskLevel::Normal, None), &buy, &stale);
    assert!(
        matches!(&d, Decision::Record(Outcome::RiskRejected, why) if why.contains("market data is stale")),
        "{d:?}"
    );
    // Long 2 in flight: a sell of 5 with the guard down (or the data stale)
    // only closes the 2.
    f.ledger
        .sent("KC-news-00000001".into(), "KC", Decimal::from(2));
    let sell = candidate(Side::Sell, 0.92, MONDAY_NOON_MS);
    for world in [&guard_down, &stale] {
        let d = decide(&f.state(RiskLevel::Normal, None), &sell, world);
        assert_eq!(
            d,
            Decision::Order {
                qty: Decimal::from(2),
                price: Decimal::from(300),
                breach: None,
            }
        );
    }
}

#[test]
fn the_portfolio_rules_see_the_other_engines() {
    let f = Fixture::new();
    let mut nano = f.state(RiskLevel::Normal, None);
    nano.mode = Tier::NANO;
    // NANO allows 2 open positions: two other engines hold one each.
    let full = World {
        others: ["CC", "CC2"]
            .into_iter()
            .map(|id| BookEntry {
                id: id.into(),
                symbol: "CC".into(),
                exposure: Decimal::from(10_000),
                volatility: None,
            })
            .collect(),
        ..World::default()
    };
    let d = decide(&nano, &candidate(Side::Buy, 0.92, MONDAY_NOON_MS), &full);
    assert!(
        matches!(&d, Decision::Record(Outcome::RiskRejected, why) if why.contains("open positions"))
    );
}

/// A fill of `strategy`'s order of `qty` KC contracts at 300.
fn filled(f: &mut Fixture, id: u64, strategy: &str, side: Side, qty: i64) {
    let fill = crate::model::Fill {
        part: 1,
        client_order_id: format!("KC-{strategy}-{id:08}-KC"),
        engine: "KC".into(),
        symbol: "KC".into(),
        side,
        qty: Decimal::from(qty),
        price: Decimal::from(300),
        commission: Decimal::ZERO,
        at_ms: 0,
    };
    f.ledger.apply_fill(id, &fill, &f.cfg.spec);
}

#[test]
fn a_strategys_capital_limit_refuses_what_would_take_it_over_and_lets_a_reduction_go() {
    let mut f = Fixture::new();
    // News may hold $25,000 of margin (0.1 of the $250,000 equity): two
    // contracts at $12,000; the allocator still gives it 5 (its weight there
    // is 0.5), so the limit is what stops it.
    f.cfg.strategies[0].weight = Decimal::new(1, 1);
    filled(&mut f, 1, "news", Side::Buy, 1);
    let d = decide(
        &f.state(RiskLevel::Normal, None),
        &candidate(Side::Buy, 0.92, MONDAY_NOON_MS),
        &World::default(),
    );
    assert_eq!(
        d,
        Decision::OverCapital(
            "capital limit: news would hold 6 contracts, $72000 of margin, over its $25000.00 (0.1 of the equity $250000.00)".into()
        )
    );
    // Momentum holds 2 (news sold its one): news's sell of 5 closes
    // momentum's 2 (no capital needed) and would open 3 of its own, over its
    // 2: cut to the 2 that reduce, the breach said.
    filled(&mut f, 2, "news", Side::Sell, 1);
    filled(&mut f, 3, "momentum", Side::Buy, 2);
    let d = decide(
        &f.state(RiskLevel::Normal, None),
        &candidate(Side::Sell, 0.92, MONDAY_NOON_MS),
        &World::default(),
    );
    let Decision::Order { qty, breach, .. } = d else {
        panic!("{d:?}")
    };
    assert_eq!(qty, Decimal::TWO);
    assert!(breach
        .unwrap()
        .starts_with("capital limit: news would hold 3 contracts"));
    // Within its capital: no breach.
    f.cfg.strategies[0].weight = Decimal::new(5, 1);
    let d = decide(
        &f.state(RiskLevel::Normal, None),
        &candidate(Side::Sell, 0.92, MONDAY_NOON_MS),
        &World::default(),
    );
    assert!(matches!(d, Decision::Order { breach: None, .. }), "{d:?}");
}

#[test]
fn the_allocator_sizes_from_the_equity_now() {
    let f = Fixture::new();
    let mut rich = f.state(RiskLevel::Normal, None);
    // 300,000 × 0.5 × 0.5 / 12,000 = 6.25 → 6 (5 at the configured 250,000).
    rich.equity = Decimal::from(300_000);
    let d = decide(
        &rich,
        &candidate(Side::Buy, 0.92, MONDAY_NOON_MS),
        &World::default(),
    );
    assert!(
        matches!(d, Decision::Order { qty, .. } if qty == Decimal::from(6)),
        "{d:?}"
    );
}

#[test]
fn an_exit_never_opens_what_others_orders_already_close() {
    let mut f = Fixture::new();
    filled(&mut f, 1, "news", Side::Buy, 2);
    let c = Candidate {
        order: None,
        strategy: Strategy::NEWS,
        ..candidate(Side::Sell, 1.0, MONDAY_NOON_MS)
    };
    let price = Some(Decimal::from(300));
    // Momentum's sell of 2 is on its way: it will close news's lots.
    f.ledger
        .sent("KC-momentum-00000002-KC".into(), "KC", Decimal::from(-2));
    let d = exit(
        &f.state(RiskLevel::Normal, None),
        &c,
        Decimal::TWO,
        price,
        &World::default(),
    );
    assert!(
        matches!(&d, Decision::Record(Outcome::RiskRejected, why) if why.contains("nothing left to reduce")),
        "{d:?}"
    );
    // Only one of them on its way: the exit closes the other, and no more.
    f.ledger.ended("KC-momentum-00000002-KC");
    f.ledger.sent(
        "KC-momentum-00000003-KC".into(),
        "KC",
        Decimal::NEGATIVE_ONE,
    );
    let d = exit(
        &f.state(RiskLevel::Halt, None),
        &c,
        Decimal::TWO,
        price,
        &World::default(),
    );
    assert!(
        matches!(d, Decision::Order { qty, .. } if qty == Decimal::ONE),
        "{d:?}"
    );
}
