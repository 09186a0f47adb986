//! What a supervisor is told: its strategy, limits and children.

use super::cell::{Handle, Worker, WorkerStarter};
use super::intensity::{Backoff, Intensity};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Which children a supervisor restarts when one fails (OTP's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child.
    OneForOne,
    /// Every child: the others are stopped in reverse start order, then all start.
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "one_for_one" => Ok(Strategy::OneForOne),
            "one_for_all" => Ok(Strategy::OneForAll),
            "rest_for_one" => Ok(Strategy::RestForOne),
            other => Err(format!(
                "unknown strategy {other:?}: use one_for_one, one_for_all or rest_for_one"
            )),
        }
    }
}

/// When a child is restarted (OTP's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always: after a failure and after a normal exit.
    Permanent,
    /// Only after a failure (panic, hang, give-up), not after a normal exit.
    Transient,
    /// Never.
    Temporary,
}

impl Restart {
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Permanent => "permanent",
            Restart::Transient => "transient",
            Restart::Temporary => "temporary",
        }
    }
}

/// A supervisor's own settings. Defaults follow `config/default.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorConfig {
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub backoff: Backoff,
    /// How often every running child is probed for liveness.
    pub probe_interval: Duration,
    /// A child that has not answered a probe within this is hung: it is killed and
    /// counted as failed.
    pub probe_timeout: Duration,
    /// How long a child may take to stop before it is killed.
    pub shutdown_timeout: Duration,
    /// Seed of the jitter generator (same seed, same restart schedule).
    pub seed: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 10,
                period: Duration::from_secs(60),
            },
            backoff: Backoff {
                min: Duration::from_millis(5),
                max: Duration::from_secs(30),
            },
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(3),
            shutdown_timeout: Duration::from_secs(5),
            seed: 0x5eed,
        }
    }
}

/// Mailbox capacity of a worker unless its spec says otherwise.
pub const DEFAULT_MAILBOX: usize = 1024;

/// A supervisor: its name (the path segment), settings and children in start order.
#[derive(Clone)]
pub struct SupervisorSpec {
    pub(crate) name: Arc<str>,
    pub(crate) config: SupervisorConfig,
    /// Shared with the supervisor's child records, so a child's spec is held
    /// once however often its supervisor is started.
    pub(crate) children: Vec<Arc<ChildSpec>>,
    pub(crate) placement: Placement,
    /// The names taken, for the duplicate check while building; emptied by
    /// [`sealed`](Self::sealed) once the spec is in use.
    names: HashSet<Arc<str>>,
}

/// Where a subtree's supervisor (and so its workers) runs.
#[derive(Clone, Default)]
pub(crate) enum Placement {
    /// On its parent's thread.
    #[default]
    Current,
    /// On a fresh arbiter of its own at every start.
    Own,
    /// First start on the next arbiter of a shared pool; every restart on a
    /// fresh arbiter of its own (a restart after a hang never lands on the
    /// wedged thread).
    Pool(ArbiterPool),
}

/// A fixed set of arbiters (threads) shared by many subtrees, round robin: many
/// engines in one process without a thread each. Stopped when the last clone is
/// dropped. Create it inside a running actix system.
#[derive(Clone)]
pub struct ArbiterPool(Arc<PoolInner>);

struct PoolInner {
    arbiters: Vec<actix::Arbiter>,
    next: std::sync::atomic::AtomicUsize,
}

impl ArbiterPool {
    pub fn new(threads: usize) -> ArbiterPool {
        ArbiterPool(Arc::new(PoolInner {
            arbiters: (0..threads.max(1)).map(|_| actix::Arbiter::new()).collect(),
            next: Default::default(),
        }))
    }

    pub fn threads(&self) -> usize {
        self.0.arbiters.len()
    }

    pub(crate) fn next(&self) -> actix::ArbiterHandle {
        let i = self
            .0
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.arbiters[i % self.0.arbiters.len()].handle()
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

impl SupervisorSpec {
    pub fn new(name: &str, config: SupervisorConfig) -> Self {
        check_name(name);
        SupervisorSpec {
            name: name.into(),
            config,
            children: Vec::new(),
            placement: Placement::Current,
            names: HashSet::new(),
        }
    }

    /// Adds a child; children start in the order they are added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        assert!(
            self.names.insert(child.name.clone()),
            "supervisor {:?} already has a child named {:?}",
            self.name,
            child.name
        );
        self.children.push(Arc::new(child));
        self
    }

    /// The spec as a running tree holds it: the builder's name set dropped
    /// and the child list trimmed to its length.
    pub(crate) fn sealed(mut self) -> Arc<SupervisorSpec> {
        self.names = HashSet::new();
        self.children.shrink_to_fit();
        Arc::new(self)
    }

    /// Adds children in order (see [`child`](Self::child)). Room for them is
    /// made once, from the iterator's size hint.
    pub fn children(mut self, children: impl IntoIterator<Item = ChildSpec>) -> Self {
        let children = children.into_iter();
        let (at_least, _) = children.size_hint();
        self.children.reserve(at_least);
        self.names.reserve(at_least);
        children.fold(self, |s, c| s.child(c))
    }

    /// Runs this subtree on an arbiter (thread) of its own, created afresh at every
    /// start, so that code that blocks in it cannot stall the rest of the tree, and
    /// a restart after a hang does not land on the wedged thread.
    pub fn on_own_arbiter(mut self) -> Self {
        self.placement = Placement::Own;
        self
    }

    /// Runs this subtree on one of `pool`'s arbiters at its first start, and on a
    /// fresh arbiter of its own at every restart: threads are shared by many
    /// subtrees while all is well, and a subtree that hung or failed is moved
    /// off the shared thread.
    pub fn on_arbiter_pool(mut self, pool: &ArbiterPool) -> Self {
        self.placement = Placement::Pool(pool.clone());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The longest an orderly shutdown of this subtree can take: each child gets
    /// its timeout, then as long again to report its exit after being killed.
    pub fn worst_shutdown(&self) -> Duration {
        let per_child =
            |c: &Arc<ChildSpec>| c.shutdown_timeout.unwrap_or(self.config.shutdown_timeout) * 2;
        self.children.iter().map(per_child).sum::<Duration>() + Duration::from_millis(100)
    }
}

pub(crate) enum ChildKind {
    Worker(Arc<dyn WorkerStarter>),
    Supervisor(Arc<SupervisorSpec>),
}

impl Clone for ChildKind {
    fn clone(&self) -> Self {
        match self {
            ChildKind::Worker(w) => ChildKind::Worker(w.clone()),
            ChildKind::Supervisor(s) => ChildKind::Supervisor(s.clone()),
        }
    }
}

/// One child of a supervisor.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) name: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) mailbox: usize,
    pub(crate) kind: ChildKind,
    /// Not started with its supervisor while this is set (see
    /// [`held`](Self::held)).
    pub(crate) held: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl ChildSpec {
    /// A worker built by `factory` at every (re)start and reachable through `handle`
    /// (create it with [`Handle::new`] first, so that siblings' factories can capture
    /// it). A handle belongs to exactly one spec.
    pub fn worker<W, F>(name: &str, handle: &Handle<W>, factory: F) -> ChildSpec
    where
        W: Worker,
        F: Fn() -> W + Send + Sync + 'static,
    {
        check_name(name);
        ChildSpec {
            name: name.into(),
            restart: Restart::Permanent,
            shutdown_timeout: None,
            mailbox: DEFAULT_MAILBOX,
            kind: ChildKind::Worker(handle.bind(Box::new(factory))),
            held: None,
        }
    }

    /// A child supervisor (a subtree). Its shutdown timeout defaults to the longest
    /// its own ordered shutdown can take, so that a parent does not kill a subtree
    /// that is still stopping its children in order.
    pub fn supervisor(spec: SupervisorSpec) -> ChildSpec {
        ChildSpec {
            name: spec.name.clone(),
            restart: Restart::Permanent,
            shutdown_timeout: Some(spec.worst_shutdown()),
            mailbox: 64,
            kind: ChildKind::Supervisor(spec.sealed()),
            held: None,
        }
    }

    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Starts the child stopped: its supervisor keeps its record, shows it
    /// `stopped` (as after `terminate_child`) and starts it only when asked
    /// (`Kernel::restart_child`); a group restart leaves it down. For a child an
    /// operator stopped before the process restarted (an engine stopped on purpose
    /// stays stopped). Its first start is evented `started`, not `restarted`.
    pub fn held(self) -> Self {
        self.held_while(Arc::new(std::sync::atomic::AtomicBool::new(true)))
    }

    /// [`held`](Self::held) whenever its supervisor starts while `flag` is
    /// set: whoever stops and starts the child keeps the flag current, so a
    /// supervisor started again (after a failure) holds exactly the children
    /// that are meant to be stopped now.
    pub fn held_while(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.held = Some(flag);
        self
    }

    /// Whether the child is held when its supervisor starts now.
    pub(crate) fn is_held(&self) -> bool {
        self.held
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Acquire))
    }

    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Mailbox capacity: tells beyond it are refused with `TellError::Full`, asks
    /// wait for room.
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = capacity.max(1);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn check_name(name: &str) {
    assert!(
        !name.is_empty() && !name.contains('/'),
        "actor names are non-empty path segments without '/', got {name:?}"
    );
}
