//! The kernel's figures next to bare actix, kameo and ractor, measured in one run.
//!
//! Four kinds of actor do the same work (count `Tick`s, answer `Get`, panic on `Boom`):
//! a bare actix actor, a worker supervised by commodore's kernel (the same two the
//! kernel's own benches use, from `actors/benches/common`), a kameo actor supervised by
//! a kameo supervisor (`Spawn::supervise`, one-for-one, permanent), and a ractor actor
//! linked to a ractor supervisor (`Actor::spawn_linked`) whose `handle_supervisor_evt`
//! spawns a successor under the same registered name. All four run on the same
//! single-threaded runtime (an actix `System`, which is tokio's current-thread runtime),
//! with mailboxes of the same capacity where the library has a bound (ractor's is
//! unbounded).
//!
//!   commodore-peer-bench            all figures, one JSON object per line on stdout
//!   commodore-peer-bench idle LIB N  (internal) start N idle actors of LIB in this
//!                                    process and print its heap and RSS per actor
//!
//! Memory is measured in a fresh child process per library and per measurement, so
//! that no library lives in pages another freed.

use actix::prelude::*;
use commodore_actors::kernel::{ChildSpec, Handle, Kernel, Root, SupervisorSpec, DEFAULT_MAILBOX};
use std::alloc::{GlobalAlloc, Layout, System as SysAlloc};
use std::process::Command;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

#[path = "../../../actors/benches/common/mod.rs"]
mod common;

use common::{Bare, Boom, Get, Supervised, Tick};

struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// Counting live bytes needs a global allocator, which is an `unsafe` trait; it
// forwards every call unchanged to the system allocator. Bench code only.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        SysAlloc.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        SysAlloc.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        SysAlloc.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------
// kameo: a worker supervised by a kameo supervisor.

mod kam {
    use super::{Boom, Get, Tick};
    use kameo::actor::{Actor, ActorRef, Spawn};
    use kameo::error::Infallible;
    use kameo::mailbox;
    use kameo::message::{Context, Message};
    use kameo::supervision::{RestartPolicy, SupervisionStrategy};
    use std::time::Duration;

    #[derive(Clone, Default)]
    pub struct Worker {
        n: u64,
    }

    impl Actor for Worker {
        type Args = Self;
        type Error = Infallible;
        async fn on_start(state: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(state)
        }
    }

    impl Message<Tick> for Worker {
        type Reply = u64;
        async fn handle(&mut self, _: Tick, _: &mut Context<Self, u64>) -> u64 {
            self.n += 1;
            self.n
        }
    }

    impl Message<Get> for Worker {
        type Reply = u64;
        async fn handle(&mut self, _: Get, _: &mut Context<Self, u64>) -> u64 {
            self.n
        }
    }

    impl Message<Boom> for Worker {
        type Reply = ();
        async fn handle(&mut self, _: Boom, _: &mut Context<Self, ()>) {
            panic!("bench boom")
        }
    }

    pub struct Supervisor;

    impl Actor for Supervisor {
        type Args = ();
        type Error = Infallible;
        fn supervision_strategy() -> SupervisionStrategy {
            SupervisionStrategy::OneForOne
        }
        async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(Supervisor)
        }
    }

    pub fn supervisor() -> ActorRef<Supervisor> {
        Supervisor::spawn(())
    }

    /// A worker that is always restarted, with a restart intensity that never gives
    /// up (as the kernel's bench config: 1000 restarts in 1 ms).
    pub async fn worker(sup: &ActorRef<Supervisor>) -> ActorRef<Worker> {
        let w = Worker::supervise(sup, Worker::default())
            .restart_policy(RestartPolicy::Permanent)
            .restart_limit(1000, Duration::from_millis(1))
            .spawn_with_mailbox(mailbox::bounded(super::DEFAULT_MAILBOX))
            .await;
        w.wait_for_startup().await;
        w
    }
}

// ---------------------------------------------------------------------------------
// ractor: a worker linked to a supervisor that spawns a successor when it fails.

mod rac {
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

    pub enum Msg {
        Tick,
        AskTick(RpcReplyPort<u64>),
        Get(RpcReplyPort<u64>),
        Boom,
    }

    pub struct Worker;

    impl Actor for Worker {
        type Msg = Msg;
        type State = u64;
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }
        async fn handle(
            &self,
            _: ActorRef<Msg>,
            msg: Msg,
            n: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Msg::Tick => *n += 1,
                Msg::AskTick(reply) => {
                    *n += 1;
                    let _ = reply.send(*n);
                }
                Msg::Get(reply) => {
                    let _ = reply.send(*n);
                }
                Msg::Boom => panic!("bench boom"),
            }
            Ok(())
        }
    }

    /// Supervises workers: a failed worker that had a name is replaced by a
    /// successor registered under the same name (clients find it with `where_is`).
    pub struct Supervisor;

    impl Actor for Supervisor {
        type Msg = ();
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
        async fn handle_supervisor_evt(
            &self,
            myself: ActorRef<()>,
            evt: SupervisionEvent,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            if let SupervisionEvent::ActorFailed(who, _) = evt {
                Actor::spawn_linked(who.get_name(), Worker, (), myself.get_cell()).await?;
            }
            Ok(())
        }
    }

    pub async fn supervisor() -> ActorRef<()> {
        Actor::spawn(None, Supervisor, ()).await.expect("spawn").0
    }

    pub async fn worker(sup: &ActorRef<()>, name: Option<String>) -> ActorRef<Msg> {
        Actor::spawn_linked(name, Worker, (), sup.get_cell())
            .await
            .expect("spawn")
            .0
    }

    pub async fn get(w: &ActorRef<Msg>) -> Option<u64> {
        match w.call(Msg::Get, None).await {
            Ok(ractor::rpc::CallResult::Success(n)) => Some(n),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_nanos() as f64 / 1000.0
}

/// One row of the kernel table: commodore's figure and the three others'.
fn figure(name: &str, unit: &str, v: [f64; 4], target: &str) {
    println!(
        "{{\"figure\":\"{name}\",\"unit\":\"{unit}\",\"commodore\":{:.3},\"bare\":{:.3},\"kameo\":{:.3},\"ractor\":{:.3},\"target\":\"{target}\"}}",
        v[0], v[1], v[2], v[3]
    );
}

const ROUNDS: usize = 31;
const BATCH: usize = 256;
const BATCHES: usize = 200;
const ASKS: usize = 20_000;
const RESTART_ROUNDS: usize = 20;
const RESTARTS: usize = 1_000; // per round and library
const ACTORS: usize = 100_000;
const IDLE_RUNS: usize = 3;
const RACTOR_NAME: &str = "bench-worker";

/// Tell throughput (M msg/s) and ask round trip (us), the four interleaved round by
/// round so that a noisy neighbour slows all alike; medians over rounds.
fn throughput(sys: &SystemRunner) {
    sys.block_on(async {
        let bare = Bare::default().start();
        let (root, h) = common::supervised().await;
        let ksup = kam::supervisor();
        let k = kam::worker(&ksup).await;
        let rsup = rac::supervisor().await;
        let r = rac::worker(&rsup, None).await;
        let (mut tell, mut ask): ([Vec<f64>; 4], [Vec<f64>; 4]) = Default::default();
        let per_s = |t0: Instant| (BATCHES * (BATCH + 1)) as f64 / t0.elapsed().as_secs_f64() / 1e6;
        let per_ask = |t0: Instant| t0.elapsed().as_nanos() as f64 / ASKS as f64 / 1000.0;
        for _ in 0..ROUNDS {
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    h.tell(Tick).map_err(|e| e.to_string()).expect("room");
                }
                h.ask(Get).await.unwrap();
            }
            tell[0].push(per_s(t0));
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    bare.try_send(Tick).expect("room");
                }
                bare.send(Get).await.unwrap();
            }
            tell[1].push(per_s(t0));
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    k.tell(Tick).try_send().expect("room");
                }
                k.ask(Get).await.unwrap();
            }
            tell[2].push(per_s(t0));
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    r.cast(rac::Msg::Tick).map_err(|_| "cast").unwrap();
                }
                rac::get(&r).await.expect("answers");
            }
            tell[3].push(per_s(t0));

            let t0 = Instant::now();
            for _ in 0..ASKS {
                h.ask(Tick).await.unwrap();
            }
            ask[0].push(per_ask(t0));
            let t0 = Instant::now();
            for _ in 0..ASKS {
                bare.send(Tick).await.unwrap();
            }
            ask[1].push(per_ask(t0));
            let t0 = Instant::now();
            for _ in 0..ASKS {
                k.ask(Tick).await.unwrap();
            }
            ask[2].push(per_ask(t0));
            let t0 = Instant::now();
            for _ in 0..ASKS {
                match r.call(rac::Msg::AskTick, None).await {
                    Ok(ractor::rpc::CallResult::Success(_)) => {}
                    _ => panic!("ractor ask failed"),
                }
            }
            ask[3].push(per_ask(t0));
        }
        figure(
            "tell_throughput",
            "M msg/s",
            tell.map(median),
            ">= 0.9x bare",
        );
        figure("ask_round_trip", "us", ask.map(median), "<= 1.1x bare");
        root.shutdown().await;
        ksup.kill();
        rsup.stop(None);
    });
}

/// Restart latency: a handler panics -> its successor answers an ask. Rounds of
/// each library in turn. Bare actix has no successor: its figure is what the same
/// takes by hand (catch the panic, start a new actor, ask it).
fn restarts(sys: &SystemRunner) {
    let mut lat: [Vec<Duration>; 4] = Default::default();
    sys.block_on(async {
        let (root, h) = common::supervised().await;
        let ksup = kam::supervisor();
        let k = kam::worker(&ksup).await;
        let rsup = rac::supervisor().await;
        let mut r = rac::worker(&rsup, Some(RACTOR_NAME.to_string())).await;
        for _ in 0..RESTART_ROUNDS {
            for _ in 0..RESTARTS {
                let t0 = Instant::now();
                let boom = h.ask(Boom);
                let get = h.ask(Get);
                let _ = boom.await;
                get.await.expect("successor answers");
                lat[0].push(t0.elapsed());
            }
            for _ in 0..RESTARTS {
                let t0 = Instant::now();
                let _ = std::panic::catch_unwind(|| panic!("bench boom"));
                let addr = Bare::default().start();
                addr.send(Get).await.unwrap();
                lat[1].push(t0.elapsed());
            }
            for _ in 0..RESTARTS {
                let t0 = Instant::now();
                k.tell(Boom).try_send().expect("room");
                k.ask(Get).await.expect("successor answers");
                lat[2].push(t0.elapsed());
            }
            // ractor drops the failed actor's mailbox: a client finds the successor
            // by its registered name.
            for _ in 0..RESTARTS {
                let t0 = Instant::now();
                let old = r.get_id();
                r.cast(rac::Msg::Boom).map_err(|_| "cast").unwrap();
                loop {
                    if let Some(next) = ractor::ActorRef::<rac::Msg>::where_is(RACTOR_NAME) {
                        if next.get_id() != old && rac::get(&next).await.is_some() {
                            r = next;
                            break;
                        }
                    }
                    tokio::task::yield_now().await;
                }
                lat[3].push(t0.elapsed());
            }
        }
        root.shutdown().await;
        ksup.kill();
        rsup.stop(None);
    });
    for l in lat.iter_mut() {
        l.sort();
    }
    figure(
        "restart_latency_p50",
        "us",
        [0, 1, 2, 3].map(|i| percentile(&lat[i], 0.5)),
        "<= 2x bare",
    );
    figure(
        "restart_latency_p99",
        "us",
        [0, 1, 2, 3].map(|i| percentile(&lat[i], 0.99)),
        "<= 200 us",
    );
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .expect("/proc/self/statm (the memory figures need Linux)")
}

/// In a fresh process: start `n` idle actors of `lib`, each answering one ask, and
/// print the heap and RSS they added, per actor.
fn idle(lib: &str, n: usize) {
    let sys = System::new();
    let (heap, rss) = sys.block_on(async {
        let heap0 = LIVE_BYTES.load(Ordering::Relaxed);
        let rss0 = rss_bytes();
        let measure = || {
            (
                (LIVE_BYTES.load(Ordering::Relaxed) - heap0) as f64 / n as f64,
                rss_bytes().saturating_sub(rss0) as f64 / n as f64,
            )
        };
        match lib {
            "commodore" => {
                let mut spec = SupervisorSpec::new("mem", common::config());
                let mut handles = Vec::with_capacity(n);
                for i in 0..n {
                    let h = Handle::new();
                    spec = spec.child(ChildSpec::worker(&format!("w{i}"), &h, Supervised::default));
                    handles.push(h);
                }
                let _root = Root::start(spec, &Kernel::new(1));
                for h in &handles {
                    while h.ask(Get).await.is_err() {
                        tokio::task::yield_now().await;
                    }
                }
                measure()
            }
            "bare" => {
                let addrs: Vec<Addr<Bare>> = (0..n).map(|_| Bare::default().start()).collect();
                for a in &addrs {
                    a.send(Get).await.unwrap();
                }
                measure()
            }
            "kameo" => {
                let sup = kam::supervisor();
                let mut refs = Vec::with_capacity(n);
                for _ in 0..n {
                    refs.push(kam::worker(&sup).await);
                }
                for k in &refs {
                    k.ask(Get).await.unwrap();
                }
                measure()
            }
            "ractor" => {
                let sup = rac::supervisor().await;
                let mut refs = Vec::with_capacity(n);
                for _ in 0..n {
                    refs.push(rac::worker(&sup, None).await);
                }
                for r in &refs {
                    rac::get(r).await.expect("answers");
                }
                measure()
            }
            other => panic!("unknown library {other:?}: commodore, bare, kameo or ractor"),
        }
    });
    println!("{heap:.3} {rss:.3}");
    // Exit without tearing down 100,000 actors: the figure is printed.
    std::process::exit(0);
}

/// Memory per idle actor, each library in fresh processes, interleaved; medians.
fn memory() {
    let exe = std::env::current_exe().expect("own executable");
    let libs = ["commodore", "bare", "kameo", "ractor"];
    let (mut heap, mut rss): ([Vec<f64>; 4], [Vec<f64>; 4]) = Default::default();
    for _ in 0..IDLE_RUNS {
        for (i, lib) in libs.iter().enumerate() {
            let out = Command::new(&exe)
                .args(["idle", lib, &ACTORS.to_string()])
                .output()
                .expect("run a child process");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "idle {lib} failed: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut f = text.split_whitespace().map(|s| s.parse::<f64>().unwrap());
            heap[i].push(f.next().unwrap());
            rss[i].push(f.next().unwrap());
        }
    }
    figure("heap_per_idle_actor", "B", heap.map(median), "<= 2048 B");
    figure(
        "rss_per_idle_actor,_fresh_process",
        "B",
        rss.map(median),
        "<= 1536 B",
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("idle") {
        let (Some(lib), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
            eprintln!("usage: commodore-peer-bench idle <commodore|bare|kameo|ractor> <N>");
            std::process::exit(2);
        };
        idle(lib, n);
    }
    // Thousands of panics follow: keep the default hook from printing each one
    // (only "bench boom" ones; anything else still reports).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let boom = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|s| *s == "bench boom");
        if !boom {
            default_hook(info);
        }
    }));
    let sys = System::new();
    throughput(&sys);
    restarts(&sys);
    memory();
}
