//! The supervisor actor: starts children in order, restarts them by strategy within
//! the restart intensity, probes their liveness, and stops them in reverse order.
//!
//! One operation runs at a time (`Op`): a group restart (stop the affected siblings
//! in reverse order, wait out the backoff, start them in order), a shutdown, or a
//! give-up. Failures that arrive meanwhile are counted at once and queued. Every
//! delayed step carries the id of the operation it belongs to, and a child's restart
//! only happens if the child is still waiting for it: a child stopped or removed
//! during its backoff never comes back.
//!
//! Files: `start.rs` (starting one child), `restart.rs` (failures, restart by
//! strategy, intensity and backoff), `stop.rs` (the operation machine: ordered
//! stops, shutdown, give-up), `probe.rs` (liveness), `messages.rs` (what it
//! accepts); here: its state, its child records, and its own start and drop.
//!
//! Invariant: a child's `ChildState` is the one truth about that child here; its
//! kill switch lives in it, so dropping the supervisor kills every child.

mod messages;
mod probe;
mod restart;
mod start;
mod stop;

pub(crate) use messages::{ChildExited, ChildFailed, ChildStarted, Decision};

/// Child records a supervisor holds, deleted ones included (a deleted child's
/// record stays, so late reports from it are recognised as stale): past it,
/// `start_child` is refused.
pub const MAX_CHILDREN: usize = 100_000;

use super::cell::WorkerStarter;
use super::event::EventKind;
use super::intensity::{Intensity, RestartWindow, SplitMix64};
use super::registry::{NodeKind, NodeState, Reach};
use super::spawn::{spawn_supervised, ExitNote, KillSwitch, Reporter};
use super::spec::{ChildKind, ChildSpec, Placement, SupervisorSpec};
use super::{Control, Kernel};
use actix::{Actor, Addr, Arbiter, AsyncContext, Context, Recipient};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::oneshot;

struct Instance {
    id: u64,
    control: ControlTo,
    _kill: KillSwitch,
}

impl Instance {
    fn kill(&mut self) {
        self._kill.kill();
    }
}

/// How a supervisor reaches one instance of a child. A worker is reached through
/// its handle's slot, which holds the address of its instance for as long as the
/// instance lives (an address less per worker); a child supervisor's address is
/// held here.
enum ControlTo {
    Supervisor(Recipient<Control>),
    Worker(Arc<dyn WorkerStarter>),
}

impl ControlTo {
    fn do_send(&self, msg: Control) {
        match self {
            ControlTo::Supervisor(r) => r.do_send(msg),
            ControlTo::Worker(w) => w.control(msg),
        }
    }

    /// A child supervisor's control mailbox, for the registry.
    fn supervisor(&self) -> Option<Recipient<Control>> {
        match self {
            ControlTo::Supervisor(r) => Some(r.clone()),
            ControlTo::Worker(_) => None,
        }
    }
}

enum ChildState {
    /// Not running and not waiting for a restart.
    Stopped,
    Running(Instance),
    /// Failed, waiting for its restart. `inst` is still alive when the failure was
    /// caught in place (its mailbox waits for `decision`).
    Failed {
        inst: Option<Instance>,
        decision: Option<oneshot::Sender<Decision>>,
    },
    /// Asked to stop; `then_restart` when the stop is part of a group restart;
    /// `killed` once its shutdown timeout passed and it was killed.
    Stopping {
        inst: Instance,
        then_restart: bool,
        killed: bool,
    },
}

struct Child {
    spec: Arc<ChildSpec>,
    path: Arc<str>,
    state: ChildState,
    next_instance: u64,
    restarts: u64,
    /// This child's own recent restarts: the backoff attempt number. Made at
    /// its first restart: most children never restart.
    recent: Option<Box<RestartWindow>>,
    probing: bool,
    /// Stopped by an operator (or temporary and done): not part of group restarts.
    held: bool,
    removed: bool,
    /// A worker restarted, its successor's init (factory, `started`) not yet
    /// done: the restart is counted and evented when the worker says it is
    /// ([`ChildStarted`]), never for an init that fails. `true` for a restart
    /// in place (the event says so).
    pending_restart: Option<bool>,
}

impl Child {
    /// Records a restart of this child at `now`; returns how many it had in
    /// the period before (the backoff attempt number).
    fn record_restart(&mut self, now: std::time::Instant, period: std::time::Duration) -> u32 {
        let window = self.recent.get_or_insert_with(|| {
            Box::new(RestartWindow::new(Intensity {
                max_restarts: 64,
                period,
            }))
        });
        let attempt = window.recent(now);
        window.record(now);
        attempt
    }

    fn new(spec: Arc<ChildSpec>, parent: &str) -> Child {
        Child {
            path: format!("{parent}/{}", spec.name).into(),
            spec,
            state: ChildState::Stopped,
            next_instance: 0,
            restarts: 0,
            recent: None,
            probing: false,
            held: false,
            removed: false,
            pending_restart: None,
        }
    }
}

enum Then {
    Restart { restart: Vec<usize>, failed: usize },
    Shutdown,
    GiveUp(String),
}

struct Op {
    id: u64,
    /// Children still to stop; `pop()` takes the last, so stops run in reverse
    /// start order.
    stop: Vec<usize>,
    waiting: Option<usize>,
    then: Then,
    /// Set once the stops are done and the restart waits out its backoff.
    in_backoff: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    ShuttingDown,
    GivingUp,
}

pub struct Supervisor {
    path: Arc<str>,
    spec: Arc<SupervisorSpec>,
    kernel: Kernel,
    children: Vec<Child>,
    window: RestartWindow,
    rng: SplitMix64,
    phase: Phase,
    queue: VecDeque<usize>,
    op: Option<Op>,
    next_op: u64,
    own_arbiter: Option<Arbiter>,
    note: ExitNote,
    is_root: bool,
}

/// Spawns a supervisor for `spec` at `path`: on a fresh arbiter of its own if the
/// spec asks for one, else on the current thread.
pub(crate) fn spawn_supervisor(
    spec: Arc<SupervisorSpec>,
    path: Arc<str>,
    kernel: Kernel,
    reporter: Reporter,
    is_root: bool,
    first_start: bool,
) -> (Addr<Supervisor>, KillSwitch) {
    let (own, handle) = match &spec.placement {
        Placement::Current => (None, None),
        Placement::Pool(pool) if first_start => (None, Some(pool.next())),
        Placement::Own | Placement::Pool(_) => {
            let a = Arbiter::new();
            let h = a.handle();
            (Some(a), Some(h))
        }
    };
    kernel
        .registry()
        .upsert(&path, NodeKind::Supervisor, Some(spec.config.strategy));
    // Starting until it has started its children (its `started` says so), also
    // when it is started again.
    kernel
        .registry()
        .update(&path, |e| e.state = NodeState::Starting);
    let note = ExitNote::new();
    let note2 = note.clone();
    spawn_supervised(
        handle.as_ref(),
        64,
        move |_ctx| Supervisor::new(spec, path, kernel, own, note2, is_root),
        note,
        reporter,
    )
}

impl Supervisor {
    fn new(
        spec: Arc<SupervisorSpec>,
        path: Arc<str>,
        kernel: Kernel,
        own_arbiter: Option<Arbiter>,
        note: ExitNote,
        is_root: bool,
    ) -> Self {
        let cfg = spec.config;
        let children = spec
            .children
            .iter()
            .map(|c| Child::new(c.clone(), &path))
            .collect();
        Supervisor {
            rng: SplitMix64::for_path(cfg.seed, &path),
            window: RestartWindow::new(cfg.intensity),
            path,
            spec,
            kernel,
            children,
            phase: Phase::Running,
            queue: VecDeque::new(),
            op: None,
            next_op: 0,
            own_arbiter,
            note,
            is_root,
        }
    }

    /// Publishes an event; false when the bus's throttle counted it
    /// instead of listing it.
    fn emit(&self, kind: EventKind, path: &str, detail: impl Into<String>) -> bool {
        self.kernel.events().publish(kind, path, detail).is_some()
    }

    fn set_node(&self, idx: usize, state: NodeState) {
        self.set_node_as(idx, Some(state));
    }

    /// A child just started: a worker runs; a child supervisor says itself
    /// when it runs, once it has started its children (it may be on another
    /// thread, and may be there already).
    fn set_node_started(&self, idx: usize) {
        let is_sup = matches!(self.children[idx].spec.kind, ChildKind::Supervisor(_));
        self.set_node_as(idx, (!is_sup).then_some(NodeState::Running));
    }

    fn set_node_as(&self, idx: usize, state: Option<NodeState>) {
        let c = &self.children[idx];
        let restarts = c.restarts;
        // Only supervisors are reached directly; a worker is reached through its
        // supervisor (one mailbox address less per worker).
        let is_sup = matches!(c.spec.kind, ChildKind::Supervisor(_));
        let control = match &c.state {
            _ if !is_sup => None,
            ChildState::Running(i) | ChildState::Stopping { inst: i, .. } => i.control.supervisor(),
            ChildState::Failed { inst: Some(i), .. } => i.control.supervisor(),
            _ => None,
        };
        self.kernel.registry().update(&c.path, |e| {
            if let Some(state) = state {
                e.state = state;
            }
            e.restarts = restarts;
            if is_sup {
                e.reach = Reach::Supervisor(control);
            }
        });
    }

    /// A child held at start ([`ChildSpec::held`]): listed, stopped, not started.
    fn hold(&mut self, idx: usize) {
        let child = &mut self.children[idx];
        child.held = true;
        let registry = self.kernel.registry();
        match &child.spec.kind {
            ChildKind::Worker(starter) => {
                registry.upsert(&child.path, NodeKind::Worker, None);
                let s = starter.clone();
                registry.update(&child.path, |e| e.reach = Reach::Worker(s));
                starter.unavailable(true);
            }
            ChildKind::Supervisor(spec) => {
                registry.upsert(
                    &child.path,
                    NodeKind::Supervisor,
                    Some(spec.config.strategy),
                );
                // Its subtree, from an earlier start, is down too.
                registry.stop_below(&child.path);
            }
        }
        registry.update(&child.path, |e| e.state = NodeState::Stopped);
    }

    fn unavailable(&self, idx: usize, stopped: bool) {
        if let ChildKind::Worker(s) = &self.children[idx].spec.kind {
            s.unavailable(stopped);
        }
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let control = ctx.address().recipient();
        let strategy = self.spec.config.strategy;
        self.kernel.registry().update(&self.path, |e| {
            e.strategy = Some(strategy);
            e.reach = Reach::Supervisor(Some(control));
        });
        for j in 0..self.children.len() {
            if self.children[j].spec.is_held() {
                self.hold(j);
            } else {
                self.start_child(j, ctx, false);
            }
        }
        // Running once every child has been started: whoever sees the subtree
        // running (readiness) finds all its children in the registry.
        self.kernel
            .registry()
            .update(&self.path, |e| e.state = NodeState::Running);
        ctx.run_interval(self.spec.config.probe_interval, |sup, ctx| sup.probe(ctx));
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Children die with their supervisor: dropping `children` drops every kill
        // switch. The subtree's own thread goes too.
        self.children.clear();
        if let Some(a) = self.own_arbiter.take() {
            a.stop();
        }
    }
}
