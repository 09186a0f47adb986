//! The owners of durable state (portfolio_risk, mode, control) against a real
//! SQLite journal: journaled before effect, read back by every new instance, and
//! what happens when the journal refuses a write.

mod common;

use commodore_actors::control::{
    self, ControlActor, ControlError, Lifecycle, PauseEngine, ResumeEngine, StartEngine, StopEngine,
};
use commodore_actors::journal::Store;
use commodore_actors::kernel::*;
use commodore_actors::mode::{self, ModeActor, ModeError, SetMode};
use commodore_actors::model::PortfolioLimits;
use commodore_actors::model::{ModeChoice, ModeState, RiskLevel, RiskState, Tier, Tiers};
use commodore_actors::risk::{self, Capitalized, Escalate, PortfolioRisk, ResetRisk, RiskError};
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct Owners {
    kernel: Kernel,
    /// A counter in each stand-in engine subtree (`master/engines/<id>/w`).
    engine_workers: BTreeMap<String, Handle<Counter>>,
    view: Arc<StatusView>,
    risk: Handle<PortfolioRisk>,
    mode: Handle<ModeActor>,
    control: Handle<ControlActor>,
    _root: Root,
}

fn journal(name: &str) -> PathBuf {
    temp_journal("state", name)
}

async fn owners(path: &Path) -> Owners {
    let kernel = Kernel::new(1);
    let (risk, mode) = (RiskState::initial(0), ModeState::initial(0));
    let wiring = Wiring::new(commodore_actors::clock::Clock::wall(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let (risk, mode, control) = (Handle::new(), Handle::new(), Handle::new());
    // Stand-in engines: a temporary subtree per id under `engines`, as the
    // daemon builds them.
    let log = Log::default();
    let mut specs = BTreeMap::new();
    let mut engine_workers = BTreeMap::new();
    let engines = ["KC", "CC"].into_iter().fold(
        SupervisorSpec::new("engines", cfg(Strategy::OneForOne)),
        |s, id| {
            let (w, h) = counter("w", &log);
            let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let child = ChildSpec::supervisor(tree(id, cfg(Strategy::OneForOne), vec![w]))
                .restart(Restart::Temporary)
                .held_while(held.clone());
            specs.insert(
                id.to_owned(),
                control::EngineSpec {
                    spec: child.clone(),
                    held,
                    engine: Handle::new(),
                },
            );
            engine_workers.insert(id.to_owned(), h);
            s.child(child)
        },
    );
    let spec = SupervisorSpec::new("master", cfg(Strategy::OneForOne))
        .child(ChildSpec::worker(
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
        ))
        .child(ChildSpec::worker(
            "mode",
            &mode,
            ModeActor::factory(
                path.to_owned(),
                kernel.clone(),
                view.clone(),
                &wiring,
                tokio::sync::watch::channel((Tiers::default(), Duration::from_secs(1))).1,
            ),
        ))
        .child(ChildSpec::worker(
            "control",
            &control,
            ControlActor::factory(
                path.to_owned(),
                kernel.clone(),
                Arc::new(Lifecycle::new(0)),
                Arc::new(std::sync::RwLock::new(control::EngineBook {
                    ids: vec!["KC".into(), "CC".into()],
                    specs,
                })),
                risk.clone(),
                wiring.clock,
            ),
        ))
        .child(ChildSpec::supervisor(engines));
    let root = start(spec, &kernel).await;
    Owners {
        kernel,
        engine_workers,
        view,
        risk,
        mode,
        control,
        _root: root,
    }
}

fn escalate(level: RiskLevel, reason: &str) -> Escalate {
    Escalate {
        level,
        reason: reason.into(),
        source: "test".into(),
    }
}

#[actix_rt::test]
async fn risk_is_journaled_before_effect_and_read_back_by_a_successor() {
    tokio::time::pause();
    let path = journal("risk");
    let o = owners(&path).await;
    let out = o
        .risk
        .ask(escalate(RiskLevel::Halt, "drawdown"))
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed);
    assert_eq!(o.view.risk().level, RiskLevel::Halt, "the view follows");
    let store = Store::open(&path).unwrap();
    assert_eq!(
        risk::load(&store, 0).unwrap().level,
        RiskLevel::Halt,
        "journaled"
    );

    let out = o
        .risk
        .ask(escalate(RiskLevel::Warning, "lower"))
        .await
        .unwrap()
        .unwrap();
    assert!(!out.changed);
    assert_eq!(out.risk.level, RiskLevel::Halt);

    // A panic: the successor reads HALT back from the journal.
    o.kernel
        .inject("master/portfolio_risk", Fault::panic())
        .await
        .unwrap();
    idle(ms(50)).await;
    let out = o
        .risk
        .ask(escalate(RiskLevel::Halt, "again"))
        .await
        .unwrap()
        .unwrap();
    assert!(!out.changed, "the successor knows HALT: {out:?}");

    let out = o
        .risk
        .ask(ResetRisk {
            level: RiskLevel::Normal,
            reason: "reviewed".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.risk.level, RiskLevel::Normal);
    let back = risk::load(&store, 0).unwrap();
    assert_eq!(
        (back.level, back.reason.as_str()),
        (RiskLevel::Normal, "reviewed")
    );
    let kinds: Vec<String> = events(&o.kernel)
        .into_iter()
        .filter(|e| e.0.as_str() == "risk_changed")
        .map(|e| e.2)
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
}

#[actix_rt::test]
async fn when_the_journal_refuses_escalation_still_applies_and_lowering_does_not() {
    tokio::time::pause();
    let path = journal("refuse-risk");
    let o = owners(&path).await;
    refuse_state_writes(&path);

    let out = o
        .risk
        .ask(escalate(RiskLevel::Panic, "venue down"))
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed, "higher is the safe side: {out:?}");
    assert!(
        out.message.contains("not journaled"),
        "and it says so: {}",
        out.message
    );
    assert_eq!(o.view.risk().level, RiskLevel::Panic);

    let r = o
        .risk
        .ask(ResetRisk {
            level: RiskLevel::Normal,
            reason: "ops".into(),
        })
        .await
        .unwrap();
    assert!(matches!(r, Err(RiskError::Journal(_))), "{r:?}");
    assert_eq!(
        o.view.risk().level,
        RiskLevel::Panic,
        "a reset that is not journaled does not happen"
    );
}

#[actix_rt::test]
async fn mode_and_pause_are_journaled_or_refused() {
    tokio::time::pause();
    let path = journal("mode-pause");
    let o = owners(&path).await;
    let out = o
        .mode
        .ask(SetMode {
            choice: ModeChoice::Fixed(Tier::MINI),
            reason: "desk".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed);
    assert_eq!(o.view.mode().current, Tier::MINI);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        mode::load(&store, &Tiers::default(), 0).unwrap().current,
        Tier::MINI
    );

    let out = o
        .control
        .ask(PauseEngine {
            engine: "CC".into(),
            reason: "roll".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(out.paused && out.changed);
    assert!(o.kernel.registry().is_paused("master/engines/CC"));
    assert!(control::load_paused(&store).unwrap().contains("CC"));
    let r = o
        .control
        .ask(PauseEngine {
            engine: "ZZ".into(),
            reason: "x".into(),
        })
        .await
        .unwrap();
    assert!(
        matches!(r, Err(ControlError::UnknownEngine { .. })),
        "{r:?}"
    );

    // A restarted control re-applies the journal's pauses.
    o.kernel.registry().set_paused("master/engines/CC", false);
    o.kernel
        .inject("master/control", Fault::panic())
        .await
        .unwrap();
    idle(ms(50)).await;
    assert!(o.kernel.registry().is_paused("master/engines/CC"));

    refuse_state_writes(&path);
    let r = o
        .mode
        .ask(SetMode {
            choice: ModeChoice::Auto,
            reason: "x".into(),
        })
        .await
        .unwrap();
    assert!(matches!(r, Err(ModeError::Journal(_))), "{r:?}");
    assert!(!o.view.mode().auto, "unchanged");
    let r = o
        .control
        .ask(ResumeEngine {
            engine: "CC".into(),
            reason: "x".into(),
        })
        .await
        .unwrap();
    assert!(matches!(r, Err(ControlError::Journal(_))), "{r:?}");
    assert!(
        o.kernel.registry().is_paused("master/engines/CC"),
        "still paused"
    );
}

fn stop_engine(engine: &str) -> StopEngine {
    StopEngine {
        engine: engine.into(),
        reason: "test".into(),
    }
}

fn start_engine(engine: &str) -> StartEngine {
    StartEngine {
        engine: engine.into(),
        reason: "test".into(),
    }
}

/// Stop and start: journaled before effect, the engine's subtree stopped and
/// started through the kernel (its record gone once stopped: a temporary
/// child), and a successor of `control` still knows it is stopped.
#[actix_rt::test]
async fn an_engine_stop_is_journaled_and_a_start_brings_its_subtree_back() {
    tokio::time::pause();
    let path = journal("stop-start");
    let o = owners(&path).await;
    let kc = o.engine_workers["KC"].clone();
    assert_eq!(kc.ask(Incr).await, Ok(1));

    let out = o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    assert!(out.changed && out.stopped, "{out:?}");
    idle(ms(50)).await;
    let registry = o.kernel.registry();
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Stopped)
    );
    assert!(registry.is_paused("master/engines/KC"), "stopped is meant");
    assert_eq!(
        registry.state("master/engines/CC"),
        Some(NodeState::Running)
    );
    assert!(matches!(kc.ask(Get).await, Err(CallError::Stopped { .. })));
    let store = Store::open(&path).unwrap();
    assert!(
        control::load_stopped(&store).unwrap().contains("KC"),
        "journaled"
    );
    assert!(matches!(
        o.control.ask(stop_engine("XX")).await.unwrap(),
        Err(ControlError::UnknownEngine { .. })
    ));

    // A successor of control reads the stop back.
    o.kernel
        .inject("master/control", Fault::panic())
        .await
        .unwrap();
    idle(ms(50)).await;
    let out = o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    assert!(!out.changed, "the successor knows KC is stopped: {out:?}");

    let out = o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    assert!(out.changed && !out.stopped, "{out:?}");
    idle(ms(50)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
    assert!(!registry.is_paused("master/engines/KC"));
    assert_eq!(kc.ask(Get).await, Ok(0), "a fresh subtree");
    assert!(!control::load_stopped(&Store::open(&path).unwrap())
        .unwrap()
        .contains("KC"));
    // Starting a running engine changes nothing.
    let out = o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    assert!(!out.changed, "{out:?}");

    // Stop then start at once: the start waits for the stop to finish.
    o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
    assert_eq!(kc.ask(Get).await, Ok(0));
}

/// Commands that race: a stop right after a start ends stopped; a second start
/// while one is under way changes nothing; `engines` started again (after a
/// failure) holds exactly the engines stopped now.
#[actix_rt::test]
async fn engine_commands_that_race_end_as_the_last_one_says() {
    tokio::time::pause();
    let path = journal("stop-start-races");
    let o = owners(&path).await;
    let registry = o.kernel.registry();
    o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    idle(ms(50)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Stopped)
    );

    // Start, then stop at once: stopped.
    o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Stopped)
    );
    assert!(registry.is_stopped("master/engines/KC"));

    // Two starts: the second changes nothing, and it runs once.
    let first = o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    let second = o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    assert!(first.changed && !second.changed, "{first:?} {second:?}");
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
    assert!(!registry.is_stopped("master/engines/KC"));

    // KC stopped, then `engines` fails and is started again: KC stays
    // stopped (held), CC runs.
    o.control.ask(stop_engine("KC")).await.unwrap().unwrap();
    idle(ms(200)).await;
    o.kernel
        .inject("master/engines", Fault::panic())
        .await
        .unwrap();
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/CC"),
        Some(NodeState::Running)
    );
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Stopped)
    );
    let cc = o.engine_workers["CC"].clone();
    assert_eq!(cc.ask(Get).await, Ok(0), "CC's subtree came back");
    assert!(matches!(
        o.engine_workers["KC"].ask(Get).await,
        Err(CallError::Stopped { .. })
    ));
    // And a start after that brings it back from its held record.
    o.control.ask(start_engine("KC")).await.unwrap().unwrap();
    idle(ms(200)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
}

/// A stand-in engine subtree `id` with a fresh counter, as a reload builds it.
fn new_engine(id: &str) -> (control::EngineSpec, Handle<Counter>) {
    let (w, h) = counter("w", &Log::default());
    let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spec = ChildSpec::supervisor(tree(id, cfg(Strategy::OneForOne), vec![w]))
        .restart(Restart::Temporary)
        .held_while(held.clone());
    (
        control::EngineSpec {
            spec,
            held,
            engine: Handle::new(),
        },
        h,
    )
}

#[actix_rt::test]
async fn a_reload_replaces_adds_and_removes_engine_subtrees_journaled_first() {
    tokio::time::pause();
    let path = journal("reconfigure");
    let o = owners(&path).await;
    let old_kc = o.engine_workers["KC"].clone();
    assert_eq!(old_kc.ask(Incr).await, Ok(1));
    let (kc, new_kc) = new_engine("KC");
    let (xx, new_xx) = new_engine("XX");
    o.control
        .ask(control::Reconfigure {
            start: vec![("KC".into(), kc), ("XX".into(), xx)],
            remove: vec!["CC".into()],
            ids: vec!["KC".into(), "XX".into()],
            forget: vec![("CC".into(), rust_decimal::Decimal::from(250_000))],
            detail: "config reloaded (test): engines.CC, engines.KC.capital, engines.XX".into(),
        })
        .await
        .unwrap()
        .unwrap();
    // Journaled before anything changed.
    let events = Store::open(&path).unwrap().events_since(0, 1_000).unwrap();
    let reloaded: Vec<&str> = events
        .iter()
        .filter(|e| e.kind.as_str() == "config_reloaded")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        reloaded,
        ["config reloaded (test): engines.CC, engines.KC.capital, engines.XX"]
    );
    idle(ms(500)).await;
    let registry = o.kernel.registry();
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
    assert_eq!(
        registry.state("master/engines/XX"),
        Some(NodeState::Running)
    );
    assert_eq!(registry.state("master/engines/CC"), None, "removed");
    // KC runs its new subtree; the old instance is gone.
    assert!(matches!(
        old_kc.ask(Get).await,
        Err(CallError::Stopped { .. })
    ));
    assert_eq!(new_kc.ask(Incr).await, Ok(1));
    assert_eq!(new_xx.ask(Incr).await, Ok(1));
    // control knows the engines as they are now, and so does its successor.
    assert!(matches!(
        o.control.ask(stop_engine("CC")).await.unwrap(),
        Err(ControlError::UnknownEngine { .. })
    ));
    o.kernel
        .inject("master/control", Fault::panic())
        .await
        .unwrap();
    idle(ms(50)).await;
    let out = o.control.ask(stop_engine("XX")).await.unwrap().unwrap();
    assert!(out.changed && out.stopped, "{out:?}");
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/XX"),
        Some(NodeState::Stopped)
    );
    let out = o.control.ask(start_engine("XX")).await.unwrap().unwrap();
    assert!(out.changed, "{out:?}");
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/XX"),
        Some(NodeState::Running)
    );
    // A control that dies between an engine's old subtree and its new one
    // (the record deleted, the new spec in the book): its successor starts it.
    o.kernel.terminate_child("master/engines/KC").await.unwrap();
    assert!(o.kernel.wait_stopped("master/engines/KC", ms(5_000)).await);
    let _ = o.kernel.delete_child("master/engines/KC").await;
    assert!(o.kernel.forget_ended("master/engines/KC"));
    assert_eq!(registry.state("master/engines/KC"), None);
    o.kernel
        .inject("master/control", Fault::panic())
        .await
        .unwrap();
    idle(ms(500)).await;
    assert_eq!(
        registry.state("master/engines/KC"),
        Some(NodeState::Running)
    );
    assert_eq!(
        new_kc.ask(Get).await,
        Ok(0),
        "the book's spec, started afresh"
    );
}
