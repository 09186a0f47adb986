//! Every supervision semantic of the kernel, each with a test that fails without it.
//! Time is paused tokio time throughout (actix-rt runs current-thread tokio).

mod common;

use commodore_actors::kernel::*;
use common::*;
use std::time::Duration;
use tokio::time::Instant;

#[actix_rt::test]
async fn panic_in_a_handler_restarts_in_place_and_keeps_queued_messages() {
    tokio::time::pause();
    let log = Log::default();
    let (a, h) = counter("a", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    idle(ms(1)).await;
    assert_eq!(h.ask(Incr).await, Ok(1));
    assert_eq!(h.ask(Incr).await, Ok(2));

    // Queue three messages behind each other; the first panics.
    let t0 = Instant::now();
    let boom = h.ask(Boom);
    let incr = h.ask(Incr);
    let get = h.ask(Get);
    match boom.await {
        Err(CallError::Panicked { path, reason }) => {
            assert_eq!(path, "root/a");
            assert_eq!(reason, "boom in a");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    // Delivered to the successor (fresh state), not lost.
    assert_eq!(incr.await, Ok(1));
    assert_eq!(get.await, Ok(1));
    // Not before the first backoff step (min 10 ms, jitter keeps at least half).
    assert!(t0.elapsed() >= ms(5), "restarted after {:?}", t0.elapsed());

    let n = node(&k, "root/a");
    assert_eq!((n.state, n.restarts), (NodeState::Running, 1));
    assert_eq!(n.last_failure.as_deref(), Some("boom in a"));
    assert_eq!(
        kinds_at(&k, "root/a"),
        vec![EventKind::Started, EventKind::Failed, EventKind::Restarted]
    );
    let failed = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Failed)
        .unwrap();
    assert_eq!(
        failed.2, "boom in a",
        "the failed event carries the panic message"
    );
    assert_eq!(log.take(), vec!["start a", "start a"]);
    assert_eq!(root.shutdown().await, RootExit::Stopped);
}

struct FlakyStart {
    starts: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Worker for FlakyStart {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        let n = self
            .starts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            panic!("cannot start the first time");
        }
        if n == 1 {
            // The second instance fails from a timer callback.
            ctx.run_later(ms(100), |_, _| panic!("timer boom"));
        }
    }
}

impl Handles<Get> for FlakyStart {
    fn handle(&mut self, _: Get, _: &mut Ctx<'_, Self>) -> u64 {
        self.starts.load(std::sync::atomic::Ordering::SeqCst) as u64
    }
}

#[actix_rt::test]
async fn panics_in_lifecycle_hooks_and_timers_are_failures_of_that_actor() {
    tokio::time::pause();
    let starts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let h = Handle::new();
    let s2 = starts.clone();
    let spec = ChildSpec::worker("flaky", &h, move || FlakyStart { starts: s2.clone() });
    let log = Log::default();
    let (other, other_h) = counter("other", &log);
    let k = Kernel::new(1);
    let root = start(
        tree("root", cfg(Strategy::OneForOne), vec![spec, other]),
        &k,
    )
    .await;
    assert_eq!(other_h.ask(Incr).await, Ok(1));
    idle(Duration::from_secs(2)).await;
    assert_eq!(h.ask(Get).await, Ok(3));
    let failures: Vec<String> = events(&k)
        .into_iter()
        .filter(|e| e.0 == EventKind::Failed)
        .map(|e| e.2)
        .collect();
    assert_eq!(failures, vec!["cannot start the first time", "timer boom"]);
    assert_eq!(node(&k, "root/flaky").restarts, 2);
    // The sibling was not touched (one_for_one).
    assert_eq!(other_h.ask(Get).await, Ok(1));
    assert_eq!(node(&k, "root/other").restarts, 0);
    root.shutdown().await;
}

#[actix_rt::test]
async fn panic_in_a_spawned_future_recreates_the_actor_behind_the_same_handle() {
    tokio::time::pause();
    let log = Log::default();
    let (a, h) = counter("a", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    assert_eq!(h.ask(Incr).await, Ok(1));
    assert_eq!(h.ask(BoomLater).await, Ok(()));
    idle(Duration::from_secs(2)).await;
    assert_eq!(
        h.ask(Get).await,
        Ok(0),
        "a fresh instance answers through the old handle"
    );
    let failed = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Failed)
        .unwrap();
    assert_eq!(failed.2, "async boom");
    assert_eq!(node(&k, "root/a").restarts, 1);
    root.shutdown().await;
}

#[actix_rt::test]
async fn one_for_all_stops_the_others_in_reverse_then_starts_all_in_order() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, hb) = counter("b", &log);
    let (c, hc) = counter("c", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForAll), vec![a, b, c]), &k).await;
    for h in [&ha, &hb, &hc] {
        assert_eq!(h.ask(Incr).await, Ok(1));
    }
    log.take();
    let _ = hb.ask(Boom).await;
    idle(Duration::from_secs(2)).await;
    assert_eq!(
        log.take(),
        vec!["stop c", "stop a", "start a", "start b", "start c"]
    );
    for h in [&ha, &hb, &hc] {
        assert_eq!(
            h.ask(Get).await,
            Ok(0),
            "every child restarted with fresh state"
        );
    }
    for p in ["root/a", "root/b", "root/c"] {
        assert_eq!(node(&k, p).restarts, 1, "{p}");
    }
    root.shutdown().await;
}

#[actix_rt::test]
async fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, hb) = counter("b", &log);
    let (c, hc) = counter("c", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::RestForOne), vec![a, b, c]), &k).await;
    for h in [&ha, &hb, &hc] {
        assert_eq!(h.ask(Incr).await, Ok(1));
    }
    log.take();
    let _ = hb.ask(Boom).await;
    idle(Duration::from_secs(2)).await;
    assert_eq!(log.take(), vec!["stop c", "start b", "start c"]);
    assert_eq!(ha.ask(Get).await, Ok(1), "a started before b: untouched");
    assert_eq!(hb.ask(Get).await, Ok(0));
    assert_eq!(hc.ask(Get).await, Ok(0));
    assert_eq!(node(&k, "root/a").restarts, 0);
    root.shutdown().await;
}

#[actix_rt::test]
async fn restart_types_decide_what_comes_back() {
    tokio::time::pause();
    let log = Log::default();
    let (p, hp) = counter("perm", &log);
    let (t, ht) = counter("trans", &log);
    let (t2, ht2) = counter("trans2", &log);
    let (tmp, htmp) = counter("temp", &log);
    let k = Kernel::new(1);
    let spec = tree(
        "root",
        cfg(Strategy::OneForOne),
        vec![
            p,
            t.restart(Restart::Transient),
            t2.restart(Restart::Transient),
            tmp.restart(Restart::Temporary),
        ],
    );
    let root = start(spec, &k).await;
    idle(ms(1)).await;

    // permanent: back after a normal stop.
    k.inject("root/perm", Fault::stop()).await.unwrap();
    // transient: not back after a normal stop ...
    k.inject("root/trans", Fault::stop()).await.unwrap();
    // ... but back after a failure.
    let _ = ht2.ask(Boom).await;
    // temporary: never back.
    let _ = htmp.ask(Boom).await;
    idle(Duration::from_secs(2)).await;

    assert_eq!(hp.ask(Get).await, Ok(0));
    assert_eq!(node(&k, "root/perm").restarts, 1);
    assert!(matches!(ht.ask(Get).await, Err(CallError::Stopped { .. })));
    assert_eq!(node(&k, "root/trans").state, NodeState::Stopped);
    assert_eq!(ht2.ask(Get).await, Ok(0));
    assert_eq!(node(&k, "root/trans2").restarts, 1);
    assert!(matches!(
        htmp.ask(Get).await,
        Err(CallError::Stopped { .. })
    ));
    assert_eq!(node(&k, "root/temp").state, NodeState::Failed);
    assert_eq!(node(&k, "root/temp").restarts, 0);
    root.shutdown().await;
}

#[actix_rt::test]
async fn exceeding_intensity_stops_children_in_reverse_and_escalates_to_the_parent() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, _hb) = counter("b", &log);
    let (c, hc) = counter("c", &log);
    let mut sub_cfg = cfg(Strategy::OneForOne);
    sub_cfg.intensity = Intensity {
        max_restarts: 2,
        period: Duration::from_secs(10),
    };
    let sub = tree("engine", sub_cfg, vec![a, b, c]);
    let k = Kernel::new(1);
    let root = start(
        tree(
            "root",
            cfg(Strategy::OneForOne),
            vec![ChildSpec::supervisor(sub)],
        ),
        &k,
    )
    .await;
    assert_eq!(ha.ask(Incr).await, Ok(1));

    for _ in 0..2 {
        let _ = hc.ask(Boom).await;
        idle(Duration::from_secs(2)).await;
    }
    log.take();
    let _ = hc.ask(Boom).await; // the third within 10 s: too many
    idle(Duration::from_secs(3)).await;

    // c died in the panic (no stop hook); b and a stop in reverse start order, then
    // the root restarts the whole subtree in order.
    assert_eq!(
        log.take(),
        vec!["stop b", "stop a", "start a", "start b", "start c"]
    );
    let at_engine = kinds_at(&k, "root/engine");
    let tail: Vec<_> = at_engine.iter().rev().take(4).rev().copied().collect();
    assert_eq!(
        tail,
        vec![
            EventKind::GaveUp,
            EventKind::Escalated,
            EventKind::Failed,
            EventKind::Restarted
        ]
    );
    let failed = events(&k)
        .into_iter()
        .rfind(|e| e.0 == EventKind::Failed && e.1 == "root/engine")
        .unwrap();
    assert!(
        failed.2.contains("restart intensity exceeded"),
        "{}",
        failed.2
    );
    assert_eq!(
        ha.ask(Get).await,
        Ok(0),
        "the subtree restarted with fresh children"
    );
    assert_eq!(node(&k, "root/engine").restarts, 1);
    root.shutdown().await;
}

#[actix_rt::test]
async fn the_root_giving_up_ends_the_tree_with_exit_status_1() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, _hb) = counter("b", &log);
    let mut c = cfg(Strategy::OneForOne);
    c.intensity = Intensity {
        max_restarts: 1,
        period: Duration::from_secs(60),
    };
    let k = Kernel::new(1);
    let mut root = start(tree("root", c, vec![a, b]), &k).await;
    let _ = ha.ask(Boom).await;
    idle(Duration::from_secs(1)).await;
    log.take();
    let _ = ha.ask(Boom).await;
    let exit = root.wait().await;
    assert!(
        matches!(&exit, RootExit::GaveUp(r) if r.contains("restart intensity exceeded")),
        "{exit:?}"
    );
    assert_eq!(exit.exit_code(), 1);
    assert_eq!(log.take(), vec!["stop b"]);
    let esc = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Escalated)
        .unwrap();
    assert!(esc.2.contains("exits with status 1"));
    assert_eq!(node(&k, "root").state, NodeState::Failed);
}

#[actix_rt::test]
async fn backoff_grows_exponentially_with_jitter_between_restarts_of_one_child() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let mut c = cfg(Strategy::OneForOne);
    c.intensity = Intensity {
        max_restarts: 100,
        period: Duration::from_secs(3600),
    };
    c.backoff = Backoff {
        min: ms(100),
        max: ms(1000),
    };
    let k = Kernel::new(1);
    let root = start(tree("root", c, vec![a]), &k).await;
    idle(ms(1)).await;
    let mut delays = Vec::new();
    for _ in 0..6 {
        let t0 = Instant::now();
        let boom = ha.ask(Boom);
        let get = ha.ask(Get);
        let _ = boom.await;
        assert_eq!(get.await, Ok(0));
        delays.push(t0.elapsed());
    }
    let ceilings = [100, 200, 400, 800, 1000, 1000];
    for (d, c) in delays.iter().zip(ceilings) {
        assert!(
            *d >= ms(c / 2) && *d <= ms(c) + ms(1),
            "delay {d:?} outside [{}, {c}] ms",
            c / 2
        );
    }
    root.shutdown().await;
}

#[actix_rt::test]
async fn a_child_stopped_or_removed_during_its_backoff_never_comes_back() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, hb) = counter("b", &log);
    let mut c = cfg(Strategy::OneForOne);
    c.backoff = Backoff {
        min: Duration::from_secs(10),
        max: Duration::from_secs(10),
    };
    let k = Kernel::new(1);
    let root = start(tree("root", c, vec![a, b]), &k).await;
    idle(ms(1)).await;
    let _ = ha.ask(Boom).await;
    let _ = hb.ask(Boom).await;
    idle(ms(100)).await;
    assert_eq!(node(&k, "root/a").state, NodeState::Restarting);
    k.child_op("root/a", ChildOp::Stop).await.unwrap();
    k.child_op("root/b", ChildOp::Remove).await.unwrap();
    idle(Duration::from_secs(120)).await;
    assert!(matches!(ha.ask(Get).await, Err(CallError::Stopped { .. })));
    assert!(matches!(hb.ask(Get).await, Err(CallError::Stopped { .. })));
    assert_eq!(node(&k, "root/a").state, NodeState::Stopped);
    assert_eq!(node(&k, "root/a").restarts, 0);
    assert!(
        k.registry().node("root/b").is_none(),
        "removed from the tree"
    );
    assert_eq!(node(&k, "root").children, vec!["root/a".to_owned()]);
    assert!(!events(&k).iter().any(|e| e.0 == EventKind::Restarted));
    // An operator can bring a stopped child back.
    k.child_op("root/a", ChildOp::Restart).await.unwrap();
    assert_eq!(ha.ask(Get).await, Ok(0));
    assert!(matches!(
        k.child_op("root/zz", ChildOp::Stop).await,
        Err(KernelError::UnknownPath(_))
    ));
    root.shutdown().await;
}

/// OTP's terminate_child during a group restart: a sibling slow to stop (hung)
/// is stopped by an operator while the one_for_all restart waits for it; it
/// ends stopped (not `restarting` forever), the group comes back without it,
/// and a later restart brings it back.
#[actix_rt::test]
async fn a_child_stopped_while_its_group_restart_waits_for_it_ends_stopped() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, hb) = counter("b", &log);
    let mut c = cfg(Strategy::OneForAll);
    c.shutdown_timeout = Duration::from_secs(5);
    c.probe_interval = Duration::from_secs(3600);
    let k = Kernel::new(1);
    let root = start(tree("root", c, vec![a, b]), &k).await;
    idle(ms(1)).await;
    // b cannot stop for 60 s (its mailbox is blocked); a fails: the group
    // restart waits for b's stop (then kills it after 5 s).
    k.inject("root/b", Fault::hang(60_000)).await.unwrap();
    let _ = ha.ask(Boom).await;
    idle(ms(100)).await;
    k.child_op("root/b", ChildOp::Stop).await.unwrap();
    idle(Duration::from_secs(30)).await;
    assert_eq!(node(&k, "root/b").state, NodeState::Stopped);
    assert!(matches!(hb.ask(Get).await, Err(CallError::Stopped { .. })));
    assert_eq!(ha.ask(Get).await, Ok(0), "the group came back without b");
    // Restarting it works: it is stopped, not "restarting".
    k.child_op("root/b", ChildOp::Restart).await.unwrap();
    assert_eq!(hb.ask(Get).await, Ok(0));
    assert_eq!(node(&k, "root/b").state, NodeState::Running);
    root.shutdown().await;
}

/// OTP's child administration: start_child (last in start order), which and
/// count children, terminate (spec kept), restart, delete (refused while it
/// runs), and a temporary child's spec gone once it ended.
#[actix_rt::test]
async fn child_adm_start_terminate_restart_delete_which_and_count() {
    tokio::time::pause();
    let log = Log::default();
    let (a, _ha) = counter("a", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    idle(ms(1)).await;

    let (b, hb) = counter("b", &log);
    k.start_child("root", b).await.unwrap();
    assert_eq!(hb.ask(Incr).await, Ok(1));
    let (b2, _) = counter("b", &log);
    assert!(matches!(
        k.start_child("root", b2).await,
        Err(KernelError::Refused(m)) if m.contains("already has a child named")
    ));
    let (t, ht) = counter("t", &log);
    k.start_child("root", t.restart(Restart::Temporary))
        .await
        .unwrap();
    let names = |v: Vec<ChildInfo>| v.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(
        names(k.which_children("root").await.unwrap()),
        ["a", "b", "t"]
    );
    assert_eq!(
        k.count_children("root").await.unwrap(),
        ChildCounts {
            specs: 3,
            active: 3,
            supervisors: 0,
            workers: 3
        }
    );
    assert!(matches!(
        k.which_children("root/a").await,
        Err(KernelError::Refused(_))
    ));

    // Terminate: stopped, spec kept; delete refused while running.
    assert!(matches!(
        k.delete_child("root/b").await,
        Err(KernelError::Refused(m)) if m.contains("terminate it first")
    ));
    k.terminate_child("root/b").await.unwrap();
    idle(ms(10)).await;
    let listed = k.which_children("root").await.unwrap();
    assert_eq!(listed[1].state, NodeState::Stopped);
    assert_eq!(k.count_children("root").await.unwrap().active, 2);
    k.restart_child("root/b").await.unwrap();
    assert_eq!(hb.ask(Get).await, Ok(0), "a fresh instance");
    k.terminate_child("root/b").await.unwrap();
    idle(ms(10)).await;
    k.delete_child("root/b").await.unwrap();
    assert_eq!(names(k.which_children("root").await.unwrap()), ["a", "t"]);
    assert!(k.registry().node("root/b").is_none());
    // The name is free again.
    let (b3, hb3) = counter("b", &log);
    k.start_child("root", b3).await.unwrap();
    assert_eq!(hb3.ask(Get).await, Ok(0));

    // A temporary child that ended has no spec: restarting it is not found.
    let _ = ht.ask(Boom).await;
    idle(ms(10)).await;
    assert_eq!(names(k.which_children("root").await.unwrap()), ["a", "b"]);
    assert!(matches!(
        k.restart_child("root/t").await,
        Err(KernelError::Refused(m)) if m.contains("has no child named")
    ));
    assert_eq!(node(&k, "root/t").state, NodeState::Failed, "still shown");
    root.shutdown().await;
}

/// A child held at start is listed stopped, reached as stopped, left down by a
/// group restart, and runs when restarted (evented `started`, not a restart).
#[actix_rt::test]
async fn a_held_child_starts_stopped_and_runs_when_restarted() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let (b, hb) = counter("b", &log);
    let k = Kernel::new(1);
    let _root = start(
        tree("root", cfg(Strategy::OneForAll), vec![a, b.held()]),
        &k,
    )
    .await;
    idle(ms(1)).await;

    assert_eq!(k.registry().state("root/b"), Some(NodeState::Stopped));
    assert!(matches!(hb.ask(Get).await, Err(CallError::Stopped { .. })));
    let listed = k.which_children("root").await.unwrap();
    assert_eq!(listed[1].state, NodeState::Stopped);
    assert_eq!(k.count_children("root").await.unwrap().active, 1);

    // A sibling's crash restarts the group; the held child stays down.
    let _ = ha.ask(Boom).await;
    idle(ms(100)).await;
    assert_eq!(ha.ask(Get).await, Ok(0), "a was restarted");
    assert_eq!(k.registry().state("root/b"), Some(NodeState::Stopped));

    k.restart_child("root/b").await.unwrap();
    assert_eq!(hb.ask(Incr).await, Ok(1));
    assert_eq!(k.registry().state("root/b"), Some(NodeState::Running));
    let node = k.registry().node("root/b").unwrap();
    assert_eq!(node.restarts, 0, "its first start is not a restart");
    let b_events: Vec<EventKind> = k
        .events()
        .recent(0, 10_000)
        .into_iter()
        .filter(|e| e.path == "root/b")
        .map(|e| e.kind)
        .collect();
    assert_eq!(b_events, [EventKind::Started]);
}
