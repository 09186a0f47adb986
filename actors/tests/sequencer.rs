//! The market sequencer on paused time: a route to an engine stopped on
//! purpose gets nothing held and nothing counted as dropped; a route to an
//! engine that is merely down (restarting) keeps the latest bar and counts
//! what it replaced.

mod common;

use commodore_actors::clock::Clock;
use commodore_actors::kernel::*;
use commodore_actors::market::{Merged, Progress, Route, Sequencer, Series};
use commodore_actors::model::{Bar, Headline};
use common::*;
use rust_decimal::Decimal;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Monday 2026-01-05, 12:00 UTC: KC is open.
const MONDAY_NOON_MS: u64 = 1_767_571_200_000 + 12 * 3_600_000;

fn bars(n: u64) -> Arc<Vec<Bar>> {
    Arc::new(
        (0..n)
            .map(|i| Bar {
                symbol: "KC".into(),
                at_ms: MONDAY_NOON_MS + i * 60_000,
                open: Decimal::from(300),
                high: Decimal::from(300),
                low: Decimal::from(300),
                close: Decimal::from(300),
                volume: 1,
            })
            .collect(),
    )
}

/// Plays 30 KC bars to a route whose engine never started (its handles are
/// unbound: every tell is refused); `stopped`: the engine is marked stopped
/// on purpose. The route's dropped count.
async fn dropped_after_30_bars(stopped: bool) -> u64 {
    let kernel = Kernel::new(1);
    let path = "master/engines/KC";
    kernel.registry().set_stopped(path, stopped);
    let route = Route {
        engine: "KC".into(),
        path: path.into(),
        symbol: "KC".into(),
        analyzer: Handle::new(),
        sentinel: Handle::new(),
        broker: None,
        dropped: Default::default(),
    };
    let dropped = route.dropped.clone();
    let feed = Box::new(Merged::new(vec![Series::once(
        bars(30),
        Arc::new(Vec::<Headline>::new()),
    )]));
    let clock = Clock::market(MONDAY_NOON_MS, 1.0);
    let spec = SupervisorSpec::new("master", cfg(Strategy::OneForOne)).child(ChildSpec::worker(
        "market",
        &Handle::new(),
        Sequencer::factory(
            feed,
            Vec::new(),
            tokio::sync::watch::channel(vec![route]).1,
            clock,
            kernel.clone(),
            Arc::new(Progress::default()),
        ),
    ));
    let _root = start(spec, &kernel).await;
    // 30 bars of market time, at speed 1 on paused time.
    idle(std::time::Duration::from_secs(31 * 60)).await;
    dropped.load(Ordering::Relaxed)
}

#[actix_rt::test]
async fn a_stopped_engine_gets_nothing_held_and_nothing_counted() {
    tokio::time::pause();
    assert!(
        dropped_after_30_bars(false).await > 0,
        "a down engine's latest bar is held, the ones it replaced counted"
    );
    assert_eq!(dropped_after_30_bars(true).await, 0, "stopped on purpose");
}

fn route(engine: &str) -> Route {
    Route {
        engine: engine.into(),
        path: format!("master/engines/{engine}"),
        symbol: "KC".into(),
        analyzer: Handle::new(),
        sentinel: Handle::new(),
        broker: None,
        dropped: Default::default(),
    }
}

#[actix_rt::test]
async fn a_reload_changes_the_routes_while_the_market_plays() {
    tokio::time::pause();
    let kernel = Kernel::new(1);
    // Engines whose handles are unbound: every bar they are handed is held
    // and the one it replaces counted, so the counts say who was handed what.
    let (kc, kc2) = (route("KC"), route("KC2"));
    let (kc_got, kc2_got) = (kc.dropped.clone(), kc2.dropped.clone());
    let table = tokio::sync::watch::Sender::new(vec![kc]);
    let feed = Box::new(Merged::new(vec![Series::once(
        bars(60),
        Arc::new(Vec::<Headline>::new()),
    )]));
    let clock = Clock::market(MONDAY_NOON_MS, 1.0);
    let spec = SupervisorSpec::new("master", cfg(Strategy::OneForOne)).child(ChildSpec::worker(
        "market",
        &Handle::new(),
        Sequencer::factory(
            feed,
            Vec::new(),
            table.subscribe(),
            clock,
            kernel.clone(),
            Arc::new(Progress::default()),
        ),
    ));
    let _root = start(spec, &kernel).await;
    idle(std::time::Duration::from_secs(20 * 60 + 30)).await;
    let before = kc_got.load(Ordering::Relaxed);
    assert!(before > 0, "KC was handed the first bars");
    assert_eq!(kc2_got.load(Ordering::Relaxed), 0);
    // KC removed, KC2 added.
    table.send_replace(vec![kc2]);
    idle(std::time::Duration::from_secs(20 * 60)).await;
    assert_eq!(
        kc_got.load(Ordering::Relaxed),
        before,
        "KC gets nothing more"
    );
    assert!(kc2_got.load(Ordering::Relaxed) > 0, "KC2 gets the bars now");
}
