//! The portfolio risk level under any interleaving of escalations, resets and
//! restarts (proptest; the real `portfolio_risk` actor on a real SQLite
//! journal), and the circuit breaker on paused time.

mod common;

use commodore_actors::clock::Clock;
use commodore_actors::kernel::*;
use commodore_actors::model::{ModeState, PortfolioLimits, RiskLevel, RiskState};
use commodore_actors::risk::{
    Admit, Breaker, BreakerState, Capitalized, Escalate, PortfolioRisk, ResetRisk,
};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use proptest::prelude::{
    prop, prop_assert, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig, TestCaseError,
};
use proptest::strategy::Strategy as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Escalate(RiskLevel),
    Reset(RiskLevel),
    /// The worker panics; its successor reads the journal.
    Crash,
    /// The whole tree goes and a new one starts on the same journal (a
    /// process restart, `kill -9` included: the level is journaled before
    /// it takes effect).
    Restart,
}

fn level() -> impl proptest::strategy::Strategy<Value = RiskLevel> {
    prop::sample::select(RiskLevel::ALL.to_vec())
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        4 => level().prop_map(Op::Escalate),
        1 => level().prop_map(Op::Reset),
        1 => Just(Op::Crash),
        1 => Just(Op::Restart),
    ]
}

struct Tree {
    kernel: Kernel,
    view: Arc<StatusView>,
    risk: Handle<PortfolioRisk>,
    _root: Root,
}

async fn tree(path: &Path) -> Tree {
    let kernel = Kernel::new(1);
    let (risk, mode) = (RiskState::initial(0), ModeState::initial(0));
    let wiring = Wiring::new(Clock::wall(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let risk = Handle::new();
    // Restart intensity is not under test here: crashes in a row are fine.
    let mut supervision = cfg(Strategy::OneForOne);
    supervision.intensity.max_restarts = 1_000;
    let spec = SupervisorSpec::new("master", supervision).child(ChildSpec::worker(
        "portfolio_risk",
        &risk,
        PortfolioRisk::factory(
            path.to_owned(),
            kernel.clone(),
            view.clone(),
            &wiring,
            tokio::sync::watch::channel(Capitalized {
                limits: PortfolioLimits::default(),
                capital: rust_decimal::Decimal::from(500_000),
            })
            .1,
        ),
    ));
    let root = start(spec, &kernel).await;
    Tree {
        kernel,
        view,
        risk,
        _root: root,
    }
}

/// The level as the actor answers it (an escalation to NORMAL changes nothing).
async fn current(t: &Tree) -> RiskLevel {
    for _ in 0..100 {
        let asked = t.risk.ask(Escalate {
            level: RiskLevel::Normal,
            reason: "read".into(),
            source: "test".into(),
        });
        if let Ok(Ok(out)) = asked.await {
            return out.risk.level;
        }
        // Restarting: its backoff is paused time.
        idle(Duration::from_millis(20)).await;
    }
    panic!("portfolio_risk never answered");
}

fn journal(case: u64) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("commodore-risk-prop-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("journal.sqlite")
}

fn run(ops: Vec<Op>, case: u64) -> Result<(), TestCaseError> {
    let path = journal(case);
    let result = actix_rt::System::new().block_on(async {
        tokio::time::pause();
        let mut t = tree(&path).await;
        let mut model = RiskLevel::Normal;
        for op in ops {
            let before = current(&t).await;
            prop_assert_eq!(before, model);
            match &op {
                Op::Escalate(l) => {
                    t.risk
                        .ask(Escalate {
                            level: *l,
                            reason: "guard".into(),
                            source: "test".into(),
                        })
                        .await
                        .unwrap()
                        .unwrap();
                    model = model.max(*l);
                }
                Op::Reset(l) => {
                    t.risk
                        .ask(ResetRisk {
                            level: *l,
                            reason: "operator".into(),
                        })
                        .await
                        .unwrap()
                        .unwrap();
                    model = *l;
                }
                Op::Crash => {
                    t.kernel
                        .inject("master/portfolio_risk", Fault::panic())
                        .await
                        .unwrap();
                }
                Op::Restart => {
                    drop(t);
                    idle(Duration::from_millis(10)).await;
                    t = tree(&path).await;
                }
            }
            let after = current(&t).await;
            prop_assert_eq!(after, model, "after {:?}", op);
            prop_assert!(
                after >= before || matches!(op, Op::Reset(_)),
                "{:?} lowered the level from {} to {}",
                op,
                before,
                after
            );
            prop_assert_eq!(t.view.risk().level, model, "the view follows");
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    result
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_level_never_falls_except_by_reset(ops in prop::collection::vec(op(), 1..20)) {
        static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        run(ops, CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed))?;
    }
}

/// The guard actor beside portfolio_risk: an engine's drawdown from the day's
/// start asks for WARNING then HALT; the account's drawdown (measured by
/// portfolio_risk, the account's one owner) for PANIC.
#[actix_rt::test]
async fn the_guard_escalates_on_drawdowns() {
    use commodore_actors::model::GuardLimits;
    use commodore_actors::risk::{AccountEntry, EquityMark, Guard};
    use rust_decimal::Decimal;

    tokio::time::pause();
    let path = journal(10_000);
    let kernel = Kernel::new(1);
    let (risk, mode) = (RiskState::initial(0), ModeState::initial(0));
    let wiring = Wiring::new(Clock::wall(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let (risk, guard) = (Handle::new(), Handle::new());
    let spec = SupervisorSpec::new("master", cfg(Strategy::OneForOne))
        .child(ChildSpec::worker(
            "portfolio_risk",
            &risk,
            PortfolioRisk::factory(
                path.clone(),
                kernel.clone(),
                view.clone(),
                &wiring,
                tokio::sync::watch::channel(Capitalized {
                    limits: PortfolioLimits::default(),
                    capital: rust_decimal::Decimal::from(500_000),
                })
                .1,
            ),
        ))
        .child(ChildSpec::worker(
            "guard",
            &guard,
            Guard::factory(
                "KC".into(),
                GuardLimits::default(),
                risk.clone(),
                wiring.risk_level(),
                Arc::new(commodore_actors::journal::SharedStore::new(&path)),
                wiring.clock,
                rust_decimal::Decimal::from(250_000),
            ),
        ));
    let _root = start(spec, &kernel).await;
    // Monday 2026-01-05, 15:00 UTC (10:00 in New York).
    let at = 1_767_571_200_000 + 15 * 3_600_000;
    let mark = |equity: i64| EquityMark {
        at_ms: at,
        equity: Decimal::from(equity),
    };
    let level = |v: &StatusView| v.risk().level;
    guard.ask(mark(100_000)).await.unwrap();
    guard.ask(mark(98_000)).await.unwrap();
    idle(Duration::from_millis(10)).await;
    assert_eq!(
        level(&view),
        RiskLevel::Normal,
        "2 % is below the 3 % warning"
    );
    // 3.5 % from the day's start: WARNING.
    guard.ask(mark(96_500)).await.unwrap();
    idle(Duration::from_millis(10)).await;
    assert_eq!(level(&view), RiskLevel::Warning);
    assert!(
        view.risk().reason.contains("day drawdown 3.5%"),
        "{:?}",
        view.risk()
    );
    // 6 %: HALT.
    guard.ask(mark(94_000)).await.unwrap();
    idle(Duration::from_millis(10)).await;
    assert_eq!(level(&view), RiskLevel::Halt);
    // Its marks are journaled: a successor measures from the same day start.
    let store = commodore_actors::journal::Store::open(&path).unwrap();
    let (marks, _) = store
        .state(commodore_actors::journal::StateKey::EngineGuard("KC"))
        .unwrap()
        .unwrap();
    assert!(marks.contains(":100000:100000:HALT:"), "{marks}");
    drop(store);
    // The account: 200,000 at its peak, then 150,000 (25 % ≥ the 20 % PANIC),
    // as the engine publishes it; the guard's next mark changes nothing here.
    let equity = |e: i64| AccountEntry {
        equity: Decimal::from(e),
        ..AccountEntry::default()
    };
    wiring.account.publish("KC", equity(200_000));
    wiring.account.publish("KC", equity(150_000));
    guard.ask(mark(94_000)).await.unwrap();
    idle(Duration::from_millis(10)).await;
    assert_eq!(level(&view), RiskLevel::Panic);
    assert!(
        view.risk().reason.contains("account drawdown 25%"),
        "{:?}",
        view.risk()
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[actix_rt::test]
async fn the_breaker_opens_waits_its_cooldown_on_paused_time_and_closes_on_a_trial() {
    tokio::time::pause();
    let clock = Clock::wall();
    let mut b = Breaker::new(5, 60_000);
    for i in 0..4 {
        assert_eq!(b.on_failure(clock.now_ms()), None, "failure {i}");
        assert_eq!(b.admit(clock.now_ms()).0, Admit::Pass);
    }
    assert_eq!(b.on_failure(clock.now_ms()), Some(BreakerState::Open));
    tokio::time::advance(Duration::from_secs(59)).await;
    let (admit, changed) = b.admit(clock.now_ms());
    assert!(
        matches!(&admit, Admit::Refuse(why) if why.contains("trial order in 1 s")),
        "{admit:?}"
    );
    assert!(!changed);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(b.admit(clock.now_ms()), (Admit::Trial, true));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(
        matches!(b.admit(clock.now_ms()).0, Admit::Refuse(_)),
        "one trial at a time"
    );
    // The trial fails: open again, for a full cooldown from now.
    assert_eq!(b.on_failure(clock.now_ms()), Some(BreakerState::Open));
    tokio::time::advance(Duration::from_millis(59_999)).await;
    assert!(matches!(b.admit(clock.now_ms()).0, Admit::Refuse(_)));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(b.admit(clock.now_ms()).0, Admit::Trial);
    assert_eq!(b.on_success(), Some(BreakerState::Closed));
    assert_eq!(b.admit(clock.now_ms()).0, Admit::Pass);
    assert_eq!(b.opens(), 2);
}
