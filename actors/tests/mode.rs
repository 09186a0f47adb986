//! The automatic capital-tier controller against a real SQLite journal: it follows
//! the account equity with hysteresis, journals every change before it takes
//! effect, leaves a manual mode alone, and changes nothing when the journal
//! refuses. Time is paused: the controller's interval fires as time advances.

mod common;

use commodore_actors::journal::{StateKey, Store};
use commodore_actors::kernel::*;
use commodore_actors::mode::{self, ModeActor, SetMode};
use commodore_actors::model::{ModeChoice, ModeState, RiskState, Tier, Tiers};
use commodore_actors::risk::AccountEntry;
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use common::*;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the controller looks at the equity in these tests.
const CHECK_EVERY: Duration = Duration::from_secs(1);

struct Setup {
    kernel: Kernel,
    view: Arc<StatusView>,
    wiring: Wiring,
    mode: Handle<ModeActor>,
    _root: Root,
}

fn journal(name: &str) -> PathBuf {
    temp_journal("mode", name)
}

async fn setup(path: &Path) -> Setup {
    let kernel = Kernel::new(1);
    let (risk, mode) = (RiskState::initial(0), ModeState::initial(0));
    let wiring = Wiring::new(commodore_actors::clock::Clock::wall(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let mode = Handle::new();
    let spec = SupervisorSpec::new("master", cfg(Strategy::OneForOne)).child(ChildSpec::worker(
        "mode",
        &mode,
        ModeActor::factory(
            path.to_owned(),
            kernel.clone(),
            view.clone(),
            &wiring,
            tokio::sync::watch::channel((Tiers::default(), CHECK_EVERY)).1,
        ),
    ));
    let root = start(spec, &kernel).await;
    Setup {
        kernel,
        view,
        wiring,
        mode,
        _root: root,
    }
}

/// Sets the account equity (one engine's) in dollars, then lets the controller
/// look at it at least once.
async fn equity(s: &Setup, dollars: Decimal) {
    s.wiring.account.publish(
        "KC",
        AccountEntry {
            equity: dollars,
            ..Default::default()
        },
    );
    idle(CHECK_EVERY + ms(100)).await;
}

fn dollars(n: i64) -> Decimal {
    Decimal::from(n)
}

/// The details of every `mode_changed` event, oldest first.
fn mode_changes(k: &Kernel) -> Vec<String> {
    events(k)
        .into_iter()
        .filter(|e| e.0.as_str() == "mode_changed")
        .map(|e| e.2)
        .collect()
}

/// The journal's mode and the reason it was set with.
fn journaled(path: &Path) -> (ModeState, String) {
    let store = Store::open(path).unwrap();
    let reason = store
        .state_entry(StateKey::Mode)
        .unwrap()
        .map(|e| e.reason)
        .unwrap_or_default();
    (mode::load(&store, &Tiers::default(), 0).unwrap(), reason)
}

fn now(s: &Setup) -> (Tier, bool) {
    let m = s.view.mode();
    (m.current, m.auto)
}

fn accept_state_writes(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("DROP TRIGGER no_insert; DROP TRIGGER no_update;")
        .unwrap();
}

#[actix_rt::test]
async fn auto_mode_follows_equity_with_hysteresis_and_journals_each_change() {
    tokio::time::pause();
    let path = journal("walk");
    let s = setup(&path).await;
    assert_eq!(now(&s), (Tier::NANO, true), "a fresh daemon: auto NANO");

    // Up into MICRO at 10,000 × 1.10 = 11,000, not before.
    equity(&s, dollars(10_500)).await;
    equity(&s, dollars(10_999)).await;
    assert_eq!(now(&s), (Tier::NANO, true));
    assert!(mode_changes(&s.kernel).is_empty());

    equity(&s, dollars(11_000)).await;
    assert_eq!(now(&s), (Tier::MICRO, true));
    let up = "auto: equity $11000.00 >= MICRO threshold $10000 × 1.10";
    let (m, reason) = journaled(&path);
    assert_eq!(
        (m.current, m.auto, reason.as_str()),
        (Tier::MICRO, true, up)
    );
    assert_eq!(
        mode_changes(&s.kernel),
        vec![format!("auto:NANO -> auto:MICRO: {up}")]
    );

    // Back under 11,000 and down to 8,000 (10,000 × 0.80): MICRO stays.
    for e in [10_500, 9_000, 10_500, 9_000, 8_001, 8_000] {
        equity(&s, dollars(e)).await;
        assert_eq!(now(&s), (Tier::MICRO, true), "at {e}");
    }
    assert_eq!(mode_changes(&s.kernel).len(), 1, "no flapping");

    // A restarted worker reads MICRO back and carries on from there.
    s.kernel
        .inject("master/mode", Fault::panic())
        .await
        .unwrap();
    idle(ms(50)).await;
    equity(&s, dollars(9_000)).await;
    assert_eq!(now(&s), (Tier::MICRO, true));

    // Under 8,000: NANO.
    equity(&s, Decimal::new(799_999, 2)).await;
    assert_eq!(now(&s), (Tier::NANO, true));
    let down = "auto: equity $7999.99 < MICRO threshold $10000 × 0.80";
    let (m, reason) = journaled(&path);
    assert_eq!(
        (m.current, m.auto, reason.as_str()),
        (Tier::NANO, true, down)
    );
    assert_eq!(
        mode_changes(&s.kernel),
        vec![
            format!("auto:NANO -> auto:MICRO: {up}"),
            format!("auto:MICRO -> auto:NANO: {down}"),
        ]
    );

    // A jump crosses several tiers in one change: 300,000 >= 275,000.
    equity(&s, dollars(300_000)).await;
    assert_eq!(now(&s), (Tier::BALANCED, true));
    assert_eq!(journaled(&path).0.current, Tier::BALANCED);
    assert_eq!(mode_changes(&s.kernel).len(), 3);
}

#[actix_rt::test]
async fn a_manual_mode_is_not_moved_and_auto_brings_the_controller_back() {
    tokio::time::pause();
    let path = journal("manual");
    let s = setup(&path).await;
    let out = s
        .mode
        .ask(SetMode {
            choice: ModeChoice::Fixed(Tier::MINI),
            reason: "desk".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed);
    assert_eq!(now(&s), (Tier::MINI, false));

    for e in [300_000, 1_000, 11_000, 45_000] {
        equity(&s, dollars(e)).await;
        assert_eq!(now(&s), (Tier::MINI, false), "at {e}: manual stays");
    }
    assert_eq!(journaled(&path).1, "desk");
    assert_eq!(mode_changes(&s.kernel).len(), 1, "only the operator's");

    // Back to auto: it keeps MINI, and the controller applies the hysteresis
    // from there: 45,000 >= 50,000 × 0.80 = 40,000, MINI stays.
    let out = s
        .mode
        .ask(SetMode {
            choice: ModeChoice::Auto,
            reason: "desk: auto".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed);
    assert_eq!(now(&s), (Tier::MINI, true));
    equity(&s, dollars(45_000)).await;
    assert_eq!(now(&s), (Tier::MINI, true));

    // 39,000 < 40,000: MICRO (39,000 >= 8,000 keeps it there).
    equity(&s, dollars(39_000)).await;
    assert_eq!(now(&s), (Tier::MICRO, true));
    let (m, reason) = journaled(&path);
    assert_eq!(
        (m.current, m.auto, reason.as_str()),
        (
            Tier::MICRO,
            true,
            "auto: equity $39000.00 < MINI threshold $50000 × 0.80"
        )
    );
    let changes = mode_changes(&s.kernel);
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes[2].starts_with("auto:MINI -> auto:MICRO: auto: equity $39000.00"),
        "{changes:?}"
    );
}

#[actix_rt::test]
async fn when_the_journal_refuses_the_mode_does_not_change() {
    tokio::time::pause();
    let path = journal("refuse");
    let s = setup(&path).await;
    equity(&s, dollars(5_000)).await;
    assert_eq!(now(&s), (Tier::NANO, true));

    refuse_state_writes(&path);
    equity(&s, dollars(20_000)).await;
    idle(CHECK_EVERY * 3).await;
    assert_eq!(now(&s), (Tier::NANO, true), "not journaled: not applied");
    assert_eq!(journaled(&path).0.current, Tier::NANO);
    assert!(mode_changes(&s.kernel).is_empty());

    // The disk recovers: the next check applies it.
    accept_state_writes(&path);
    idle(CHECK_EVERY + ms(100)).await;
    assert_eq!(now(&s), (Tier::MICRO, true));
    assert_eq!(journaled(&path).0.current, Tier::MICRO);
    assert_eq!(mode_changes(&s.kernel).len(), 1);
}
