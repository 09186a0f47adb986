//! Shared test workers and helpers for the kernel tests.
#![allow(dead_code)]

use actix::Message;
use commodore_actors::kernel::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A short, quick-to-test configuration: backoff 10 ms .. 1 s, 5 restarts per minute.
pub fn cfg(strategy: Strategy) -> SupervisorConfig {
    SupervisorConfig {
        strategy,
        intensity: Intensity {
            max_restarts: 5,
            period: Duration::from_secs(60),
        },
        backoff: Backoff {
            min: ms(10),
            max: Duration::from_secs(1),
        },
        probe_interval: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(3),
        shutdown_timeout: Duration::from_secs(1),
        seed: 1,
    }
}

/// What the workers did, in order ("start a", "stop b", ...).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Get;

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Incr;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Boom;

/// Spawns a future that panics: a failure outside any handler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BoomLater;

/// Blocks the worker's thread until the sender is dropped or sends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BlockThread(pub std::sync::mpsc::Receiver<()>);

pub struct Counter {
    pub name: &'static str,
    pub n: u64,
    pub log: Log,
}

impl Counter {
    pub fn new(name: &'static str, log: &Log) -> Self {
        Counter {
            name,
            n: 0,
            log: log.clone(),
        }
    }
}

impl Worker for Counter {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.log.push(format!("start {}", self.name));
    }
    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.log.push(format!("stop {}", self.name));
    }
}

impl Handles<Get> for Counter {
    fn handle(&mut self, _: Get, _: &mut Ctx<'_, Self>) -> u64 {
        self.n
    }
}

impl Handles<Incr> for Counter {
    fn handle(&mut self, _: Incr, _: &mut Ctx<'_, Self>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Handles<Boom> for Counter {
    fn handle(&mut self, _: Boom, _: &mut Ctx<'_, Self>) {
        panic!("boom in {}", self.name);
    }
}

impl Handles<BoomLater> for Counter {
    fn handle(&mut self, _: BoomLater, ctx: &mut Ctx<'_, Self>) {
        ctx.spawn(async { panic!("async boom") });
    }
}

impl Handles<BlockThread> for Counter {
    fn handle(&mut self, BlockThread(rx): BlockThread, _: &mut Ctx<'_, Self>) {
        let _ = rx.recv();
    }
}

/// A counter child spec with its handle.
pub fn counter(name: &'static str, log: &Log) -> (ChildSpec, Handle<Counter>) {
    let h = Handle::new();
    let log = log.clone();
    (
        ChildSpec::worker(name, &h, move || Counter::new(name, &log)),
        h,
    )
}

/// Lets every ready task run and every timer up to `d` of paused time fire.
pub async fn idle(d: Duration) {
    tokio::time::sleep(d).await;
}

/// `(kind, path, detail)` of every retained event, oldest first.
pub fn events(k: &Kernel) -> Vec<(EventKind, String, String)> {
    k.events()
        .recent(0, usize::MAX)
        .into_iter()
        .map(|e| (e.kind, e.path, e.detail))
        .collect()
}

pub fn kinds_at(k: &Kernel, path: &str) -> Vec<EventKind> {
    events(k)
        .into_iter()
        .filter(|(_, p, _)| p == path)
        .map(|(kind, _, _)| kind)
        .collect()
}

pub fn node(k: &Kernel, path: &str) -> NodeInfo {
    k.registry()
        .node(path)
        .unwrap_or_else(|| panic!("no node {path}"))
}

/// Until [`RealWait::finish`], paused tokio time does not auto-advance: for waits on
/// other threads (other arbiters), which the paused clock would otherwise overtake.
pub struct RealWait {
    release: std::sync::mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RealWait {
    pub fn begin() -> Self {
        let (release, rx) = std::sync::mpsc::channel::<()>();
        let task = tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        RealWait { release, task }
    }

    /// Ends the real-time window and waits until paused time may auto-advance again.
    pub async fn finish(self) {
        drop(self.release);
        let _ = self.task.await;
    }
}

/// Starts a tree and lets it come up (the root starts its children on its first
/// turn on the arbiter).
pub async fn start(spec: SupervisorSpec, k: &Kernel) -> Root {
    let root = Root::start(spec, k);
    idle(ms(1)).await;
    root
}

/// A journal path in a fresh temp directory: `commodore-<prefix>-<name>-<pid>`.
pub fn temp_journal(prefix: &str, name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("commodore-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("journal.sqlite")
}

/// Makes every later write of durable state fail, as a full or broken disk would.
pub fn refuse_state_writes(path: &std::path::Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER no_insert BEFORE INSERT ON state BEGIN SELECT RAISE(FAIL, 'disk says no'); END;
             CREATE TRIGGER no_update BEFORE UPDATE ON state BEGIN SELECT RAISE(FAIL, 'disk says no'); END;",
        )
        .unwrap();
}

/// A supervisor spec named `name` with `children`, in order.
pub fn tree(name: &str, config: SupervisorConfig, children: Vec<ChildSpec>) -> SupervisorSpec {
    children
        .into_iter()
        .fold(SupervisorSpec::new(name, config), |s, c| s.child(c))
}
