//! The supervision tree at run time, on paused tokio time: liveness probes
//! and hangs, ordered shutdown, faults by path, a panicking supervisor, full
//! mailboxes, events, thread isolation and readiness. (Restart semantics:
//! supervision.rs.)

mod common;

use commodore_actors::kernel::*;
use common::*;
use std::time::Duration;
use tokio::time::Instant;

#[actix_rt::test]
async fn a_hung_child_fails_its_probe_and_is_recreated_behind_the_same_handle() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let mut c = cfg(Strategy::OneForOne);
    c.backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(1),
    };
    let k = Kernel::new(1);
    let root = start(tree("root", c, vec![a]), &k).await;
    assert_eq!(ha.ask(Incr).await, Ok(1));
    k.inject("root/a", Fault::hang(60_000)).await.unwrap();
    let queued = ha.ask(Get); // stuck in the hung mailbox
                              // Probe every 1 s, timeout 3 s: failed by t = 4 s, restarted 0.5-1 s later.
    idle(ms(4100)).await;
    assert_eq!(node(&k, "root/a").state, NodeState::Restarting);
    assert!(
        matches!(queued.await, Err(CallError::Lost { .. })),
        "queued asks get a clear error"
    );
    assert!(matches!(
        ha.ask(Get).await,
        Err(CallError::Restarting { .. })
    ));
    match ha.tell(Incr) {
        Err(TellError::Restarting(Incr)) => {}
        other => panic!(
            "expected the message back, got {:?}",
            other.map_err(|e| e.to_string())
        ),
    }
    let handled_before = node(&k, "root/a").messages;
    idle(Duration::from_secs(2)).await;
    assert_eq!(ha.ask(Get).await, Ok(0));
    assert_eq!(
        node(&k, "root/a").messages,
        handled_before + 1,
        "the count goes on across instances"
    );
    let failed = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Failed)
        .unwrap();
    assert!(
        failed
            .2
            .starts_with("hung: no answer to the liveness probe within 3s"),
        "{}",
        failed.2
    );
    root.shutdown().await;
}

#[actix_rt::test]
async fn a_short_hang_within_the_probe_timeout_is_not_a_failure() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    assert_eq!(ha.ask(Incr).await, Ok(1));
    k.inject("root/a", Fault::hang(2_000)).await.unwrap();
    let t0 = Instant::now();
    assert_eq!(ha.ask(Get).await, Ok(1));
    assert!(t0.elapsed() >= ms(2000), "hang must stop the mailbox");
    idle(Duration::from_secs(10)).await;
    assert_eq!(node(&k, "root/a").restarts, 0);
    root.shutdown().await;
}

#[actix_rt::test]
async fn shutdown_runs_in_reverse_start_order_and_kills_a_child_past_its_timeout() {
    tokio::time::pause();
    let log = Log::default();
    let (a, _ha) = counter("a", &log);
    let (b, _hb) = counter("b", &log);
    let (c, _hc) = counter("c", &log);
    let sub = tree("sub", cfg(Strategy::OneForOne), vec![b, c]);
    let k = Kernel::new(1);
    let root = start(
        tree(
            "root",
            cfg(Strategy::OneForOne),
            vec![a, ChildSpec::supervisor(sub)],
        ),
        &k,
    )
    .await;
    idle(ms(10)).await;
    log.take();
    // b will not process its stop for a minute: it is killed after 1 s.
    k.inject("root/sub/b", Fault::hang(60_000)).await.unwrap();
    idle(ms(10)).await;
    let t0 = Instant::now();
    assert_eq!(root.shutdown().await, RootExit::Stopped);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    // actix runs the stopping hook of a killed actor's context once, best effort, as
    // it drops it; the kill is waited for, so the order holds.
    assert_eq!(log.take(), vec!["stop c", "stop b", "stop a"]);
    let stops: Vec<(String, String)> = events(&k)
        .into_iter()
        .filter(|e| e.0 == EventKind::Stopped)
        .map(|e| (e.1, e.2))
        .collect();
    let paths: Vec<&str> = stops.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        paths,
        vec!["root/sub/c", "root/sub/b", "root/sub", "root/a", "root"]
    );
    assert!(
        stops[1].1.starts_with("killed: did not stop within"),
        "{}",
        stops[1].1
    );
}

#[actix_rt::test]
async fn faults_by_path_error_slow_and_validation() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    assert_eq!(ha.ask(Incr).await, Ok(1));

    k.inject("root/a", Fault::error(2)).await.unwrap();
    assert!(matches!(
        ha.ask(Incr).await,
        Err(CallError::Injected { .. })
    ));
    assert!(matches!(
        ha.ask(Incr).await,
        Err(CallError::Injected { .. })
    ));
    assert_eq!(
        ha.ask(Incr).await,
        Ok(2),
        "errors are answers, not restarts: state kept"
    );

    k.inject("root/a", Fault::slow(500, 2)).await.unwrap();
    let t0 = Instant::now();
    let (x, y, z) = (ha.ask(Get), ha.ask(Get), ha.ask(Get));
    assert_eq!((x.await, y.await, z.await), (Ok(2), Ok(2), Ok(2)));
    let took = t0.elapsed();
    assert!(
        took >= ms(1000) && took < ms(1100),
        "two slow messages of 500 ms each, one normal: {took:?}"
    );

    k.inject("root/a", Fault::panic().with_count(2))
        .await
        .unwrap();
    idle(ms(100)).await;
    assert!(matches!(ha.ask(Get).await, Err(CallError::Panicked { .. })));
    // In its restart backoff: an ask is answered at once, not held.
    assert!(matches!(
        ha.ask(Get).await,
        Err(CallError::Restarting { .. })
    ));
    idle(ms(100)).await;
    assert_eq!(ha.ask(Get).await, Ok(0));
    assert_eq!(node(&k, "root/a").restarts, 2);

    assert!(matches!(
        k.inject("root/nope", Fault::panic()).await,
        Err(KernelError::UnknownPath(_))
    ));
    assert!(matches!(
        k.inject("root/a", Fault::hang(0)).await,
        Err(KernelError::InvalidFault(_))
    ));
    assert!(matches!(
        k.inject("root", Fault::error(1)).await,
        Err(KernelError::InvalidFault(_))
    ));
    let injected = events(&k)
        .into_iter()
        .filter(|e| e.0 == EventKind::FaultInjected)
        .count();
    assert_eq!(injected, 3);
    root.shutdown().await;
}

#[actix_rt::test]
async fn a_panicking_supervisor_takes_its_subtree_down_and_is_restarted_with_it() {
    tokio::time::pause();
    let log = Log::default();
    let (b, hb) = counter("b", &log);
    let sub = tree("sub", cfg(Strategy::OneForOne), vec![b]);
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
    assert_eq!(hb.ask(Incr).await, Ok(1));
    k.inject("root/sub", Fault::panic()).await.unwrap();
    idle(Duration::from_secs(1)).await;
    assert_eq!(
        hb.ask(Get).await,
        Ok(0),
        "the child was killed with its supervisor and started anew"
    );
    assert_eq!(node(&k, "root/sub").restarts, 1);
    let failed = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Failed)
        .unwrap();
    assert_eq!(
        (failed.1.as_str(), failed.2.as_str()),
        ("root/sub", "injected fault: panic")
    );
    root.shutdown().await;
}

#[actix_rt::test]
async fn a_full_mailbox_refuses_tells_and_gives_the_message_back() {
    tokio::time::pause();
    let log = Log::default();
    let h = Handle::new();
    let l2 = log.clone();
    let spec = ChildSpec::worker("a", &h, move || Counter::new("a", &l2)).mailbox(4);
    let k = Kernel::new(1);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![spec]), &k).await;
    idle(ms(1)).await;
    // Nothing runs between these tells (one thread): the mailbox fills up.
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..100 {
        match h.tell(Incr) {
            Ok(()) => accepted += 1,
            Err(TellError::Full(Incr)) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!((4..=6).contains(&accepted), "accepted {accepted}");
    assert_eq!(refused, 100 - accepted);
    assert_eq!(h.refused_full(), refused as u64);
    assert_eq!(
        h.ask(Get).await,
        Ok(accepted as u64),
        "every accepted tell was handled"
    );
    assert!(h.tell(Incr).is_ok(), "room again once drained");
    root.shutdown().await;
}

#[actix_rt::test]
async fn events_have_strictly_increasing_seq_from_the_given_start_and_reach_subscribers() {
    tokio::time::pause();
    let log = Log::default();
    let (a, ha) = counter("a", &log);
    let k = Kernel::new(1000);
    let mut sub = k.events().subscribe(1024);
    let root = start(tree("root", cfg(Strategy::OneForOne), vec![a]), &k).await;
    let _ = ha.ask(Boom).await;
    idle(ms(100)).await;
    root.shutdown().await;
    let mut got = Vec::new();
    while let Ok(e) = sub.rx.try_recv() {
        got.push(e);
    }
    assert_eq!(got[0].seq, 1000);
    assert!(got.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let kinds: Vec<&str> = got.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "started",
            "started",
            "failed",
            "restarted",
            "stopped",
            "stopped"
        ]
    );
    assert_eq!(sub.dropped(), 0);
}

#[actix_rt::test]
async fn a_blocked_thread_in_an_isolated_subtree_stalls_neither_the_root_nor_its_restart() {
    tokio::time::pause();
    let log = Log::default();
    let (risk, h_risk) = counter("risk", &log);
    let (eng, h_eng) = counter("analyzer", &log);
    let mut sub_cfg = cfg(Strategy::OneForOne);
    // The subtree's own timers run on its own (unpaused) runtime: keep them quiet.
    sub_cfg.probe_interval = Duration::from_secs(3600);
    let sub = tree("KC", sub_cfg, vec![eng]).on_own_arbiter();
    let mut root_cfg = cfg(Strategy::OneForOne);
    root_cfg.backoff = Backoff::NONE;
    let k = Kernel::new(1);
    let root = start(
        tree("root", root_cfg, vec![risk, ChildSpec::supervisor(sub)]),
        &k,
    )
    .await;
    let real = RealWait::begin();
    assert_eq!(until_started(&h_eng).await, Ok(1));
    real.finish().await;
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    h_eng
        .tell(BlockThread(blocked))
        .map_err(|e| e.to_string())
        .unwrap();
    // The engine's thread is now blocked; the root's arbiter is not.
    assert_eq!(h_risk.ask(Incr).await, Ok(1));
    assert_eq!(h_risk.ask(Incr).await, Ok(2));
    // The root's probe of the subtree times out; it is killed and started again on
    // a fresh arbiter, while the old thread is still blocked.
    idle(ms(4100)).await;
    let failed = events(&k)
        .into_iter()
        .find(|e| e.0 == EventKind::Failed)
        .unwrap();
    assert_eq!(failed.1, "root/KC");
    assert!(failed.2.starts_with("hung"), "{}", failed.2);
    let real = RealWait::begin();
    assert_eq!(
        until_started(&h_eng).await,
        Ok(1),
        "the successor runs on a new thread"
    );
    real.finish().await;
    drop(release);
    assert_eq!(node(&k, "root/risk").restarts, 0);
    let real = RealWait::begin();
    assert_eq!(root.shutdown().await, RootExit::Stopped);
    real.finish().await;
}

/// Asks `Incr` until the worker (on another thread) is up. Bounded by a generous
/// wall-clock deadline (a bound on a busy machine, not a sleep).
async fn until_started(h: &Handle<Counter>) -> Result<u64, CallError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match h.ask(Incr).await {
            Err(CallError::Restarting { .. }) | Err(CallError::Lost { .. }) => {
                tokio::task::yield_now().await
            }
            other => return other,
        }
    }
    Err(CallError::Restarting { path: h.path() })
}

#[derive(actix::Message)]
#[rtype(result = "String")]
struct WhichThread;

#[derive(Default)]
struct Where;

impl Worker for Where {}

impl Handles<WhichThread> for Where {
    fn handle(&mut self, _: WhichThread, _: &mut Ctx<'_, Self>) -> String {
        format!("{:?}", std::thread::current().id())
    }
}

async fn thread_of(h: &Handle<Where>) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match h.ask(WhichThread).await {
            Ok(t) => return t,
            Err(_) => tokio::task::yield_now().await,
        }
    }
    panic!("{} never answered", h.path());
}

#[actix_rt::test]
async fn a_pool_shares_threads_until_a_subtree_fails_then_it_gets_its_own() {
    tokio::time::pause();
    let pool = ArbiterPool::new(1);
    let mut sub_cfg = cfg(Strategy::OneForOne);
    sub_cfg.probe_interval = Duration::from_secs(3600);
    let (ha, hb) = (Handle::<Where>::new(), Handle::<Where>::new());
    let a = SupervisorSpec::new("A", sub_cfg)
        .child(ChildSpec::worker("w", &ha, Where::default))
        .on_arbiter_pool(&pool);
    let b = SupervisorSpec::new("B", sub_cfg)
        .child(ChildSpec::worker("w", &hb, Where::default))
        .on_arbiter_pool(&pool);
    let mut root_cfg = cfg(Strategy::OneForOne);
    root_cfg.backoff = Backoff::NONE;
    let k = Kernel::new(1);
    let root = start(
        tree(
            "root",
            root_cfg,
            vec![ChildSpec::supervisor(a), ChildSpec::supervisor(b)],
        ),
        &k,
    )
    .await;
    let real = RealWait::begin();
    let (ta, tb) = (thread_of(&ha).await, thread_of(&hb).await);
    let here = format!("{:?}", std::thread::current().id());
    assert_eq!(ta, tb, "one pool thread for both subtrees");
    assert_ne!(ta, here, "not the root's thread");

    // A fails: its successor runs on a fresh thread of its own; B stays.
    k.inject("root/A", Fault::panic()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let moved = loop {
        let t = thread_of(&ha).await;
        if t != ta || std::time::Instant::now() > deadline {
            break t;
        }
        tokio::task::yield_now().await;
    };
    assert_ne!(moved, ta, "the restarted subtree left the shared thread");
    assert_eq!(thread_of(&hb).await, tb, "the other subtree did not move");
    assert_eq!(root.shutdown().await, RootExit::Stopped);
    real.finish().await;
    assert_eq!(pool.threads(), 1);
}

/// The blocker's "I am blocked" sender and its "go on" receiver.
type Gate = std::sync::Arc<
    std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
>;

/// Blocks its thread in `started` until the test lets it go (after saying so).
struct Blocker {
    gate: Gate,
}

impl Worker for Blocker {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        if let Some((blocked, release)) = self.gate.lock().unwrap().take() {
            blocked.send(()).unwrap();
            let _ = release.recv();
        }
    }
}

/// A subtree is `running` in the registry only once it has started its
/// children: whoever sees it running (readiness) finds them all there, even
/// while the subtree's thread is busy and its parent has long spawned it.
#[actix_rt::test]
async fn a_subtree_is_running_only_once_its_children_are_started() {
    tokio::time::pause();
    let (blocked_tx, blocked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(Some((blocked_tx, release_rx))));
    let log = Log::default();
    let (w, _h) = counter("w", &log);
    // A, on a thread of its own: first the blocker, then subtree B on A's thread.
    let b = SupervisorSpec::new("B", cfg(Strategy::OneForOne)).child(w);
    let a = SupervisorSpec::new("A", cfg(Strategy::OneForOne))
        .child(ChildSpec::worker("blocker", &Handle::new(), move || {
            Blocker { gate: gate.clone() }
        }))
        .child(ChildSpec::supervisor(b))
        .on_own_arbiter();
    let k = Kernel::new(1);
    let root = start(
        tree(
            "root",
            cfg(Strategy::OneForOne),
            vec![ChildSpec::supervisor(a)],
        ),
        &k,
    )
    .await;
    let real = RealWait::begin();
    // A's thread is held by the blocker before B could start its children.
    blocked_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the blocker started");
    assert_eq!(k.registry().state("root/B"), None);
    assert_eq!(k.registry().state("root/A/B"), Some(NodeState::Starting));
    assert_eq!(k.registry().state("root/A/B/w"), None, "not started yet");
    release_tx.send(()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while k.registry().state("root/A/B") != Some(NodeState::Running) {
        assert!(std::time::Instant::now() < deadline, "B never ran");
        tokio::task::yield_now().await;
    }
    assert!(
        k.registry().state("root/A/B/w").is_some(),
        "running means its children are there"
    );
    assert_eq!(root.shutdown().await, RootExit::Stopped);
    real.finish().await;
}
