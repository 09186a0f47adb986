//! The supervisor actor: starts children in order, restarts them by strategy within
//! the restart intensity, probes their liveness, and stops them in reverse order.
//!
//! One operation runs at a time (`Op`): a group restart (stop the affected siblings
//! in reverse order, wait out the backoff, start them in order), a shutdown, or a
//! give-up. Failures that arrive meanwhile are counted at once and queued. Every
//! delayed step carries the id of the operation it belongs to, and a child's restart
//! only happens if the child is still waiting for it: a child stopped or removed
//! during its backoff never comes back.

use super::cell::{Link, StartEnv};
use super::event::EventKind;
use super::fault::FaultKind;
use super::intensity::{Intensity, RestartWindow, SplitMix64};
use super::registry::{NodeKind, NodeState};
use super::spawn::{spawn_supervised, ExitCause, ExitNote, KillSwitch, ReportTo, Reporter};
use super::spec::{ChildKind, ChildSpec, Placement, Restart, Strategy, SupervisorSpec};
use super::{ChildOp, Control, Kernel};
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{
    Actor, ActorContext, Addr, Arbiter, AsyncContext, Context, Handler, Message, Recipient,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A cell's in-place failure report; the cell's mailbox waits for `decision`.
pub(crate) struct ChildFailed {
    pub(crate) idx: usize,
    pub(crate) instance: u64,
    pub(crate) reason: String,
    pub(crate) decision: oneshot::Sender<Decision>,
}

impl Message for ChildFailed {
    type Result = ();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Restart,
    Stop,
}

/// The end of a child's task, from its watcher.
pub(crate) struct ChildExited {
    pub(crate) idx: usize,
    pub(crate) instance: u64,
    pub(crate) cause: ExitCause,
}

impl Message for ChildExited {
    type Result = ();
}

struct Instance {
    id: u64,
    control: Recipient<Control>,
    _kill: KillSwitch,
}

impl Instance {
    fn kill(&mut self) {
        self._kill.kill();
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
    spec: ChildSpec,
    path: Arc<str>,
    state: ChildState,
    next_instance: u64,
    restarts: u64,
    /// This child's own recent restarts: the backoff attempt number.
    recent: RestartWindow,
    probing: bool,
    /// Stopped by an operator (or temporary and done): not part of group restarts.
    held: bool,
    removed: bool,
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
            .map(|c| Child {
                spec: c.clone(),
                path: format!("{path}/{}", c.name).into(),
                state: ChildState::Stopped,
                next_instance: 0,
                restarts: 0,
                recent: RestartWindow::new(Intensity {
                    max_restarts: 64,
                    period: cfg.intensity.period,
                }),
                probing: false,
                held: false,
                removed: false,
            })
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

    fn emit(&self, kind: EventKind, path: &str, detail: impl Into<String>) {
        self.kernel.events().publish(kind, path, detail);
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
            ChildState::Running(i) | ChildState::Stopping { inst: i, .. } => {
                Some(i.control.clone())
            }
            ChildState::Failed { inst: Some(i), .. } => Some(i.control.clone()),
            _ => None,
        };
        self.kernel.registry().update(&c.path, |e| {
            if let Some(state) = state {
                e.state = state;
            }
            e.restarts = restarts;
            e.control = control;
        });
    }

    fn start_child(&mut self, idx: usize, ctx: &mut Context<Self>, restarted: bool) {
        let me = ctx.address().downgrade();
        let child = &mut self.children[idx];
        child.next_instance += 1;
        let id = child.next_instance;
        let reporter = Reporter::new(ReportTo::Child {
            supervisor: me.clone(),
            idx,
            instance: id,
        });
        let (control, kill) = match &child.spec.kind {
            ChildKind::Worker(starter) => {
                let stats = self
                    .kernel
                    .registry()
                    .upsert(&child.path, NodeKind::Worker, None);
                let s = starter.clone();
                self.kernel
                    .registry()
                    .update(&child.path, |e| e.starter = Some(s));
                starter.start(StartEnv {
                    path: child.path.clone(),
                    mailbox: child.spec.mailbox,
                    link: Link {
                        supervisor: me,
                        idx,
                        instance: id,
                    },
                    stats,
                    reporter,
                })
            }
            ChildKind::Supervisor(spec) => {
                let (addr, kill) = spawn_supervisor(
                    spec.clone(),
                    child.path.clone(),
                    self.kernel.clone(),
                    reporter,
                    false,
                    id == 1,
                );
                (addr.recipient(), kill)
            }
        };
        child.state = ChildState::Running(Instance {
            id,
            control,
            _kill: kill,
        });
        child.probing = false;
        if restarted {
            child.restarts += 1;
        }
        let path = child.path.clone();
        self.set_node_started(idx);
        if restarted {
            self.emit(
                EventKind::Restarted,
                &path,
                format!("restart #{}", self.children[idx].restarts),
            );
        } else {
            self.emit(EventKind::Started, &path, "");
        }
    }

    fn unavailable(&self, idx: usize, stopped: bool) {
        if let ChildKind::Worker(s) = &self.children[idx].spec.kind {
            s.unavailable(stopped);
        }
    }

    /// A child failed: count it, then restart it (queued) or give up.
    fn on_failure(
        &mut self,
        idx: usize,
        inst: Option<Instance>,
        decision: Option<oneshot::Sender<Decision>>,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        let path = self.children[idx].path.clone();
        self.emit(EventKind::Failed, &path, reason.clone());
        self.kernel
            .registry()
            .update(&path, |e| e.last_failure = Some(reason.clone()));
        tracing::warn!(actor = %path, %reason, "child failed");
        let restart = self.children[idx].spec.restart;
        if self.phase != Phase::Running || restart == Restart::Temporary || self.children[idx].held
        {
            // Not restarted: let it go (a live in-place cell stops when its decision
            // sender is dropped).
            drop(decision);
            self.children[idx].held = true;
            self.set_node(idx, NodeState::Failed);
            self.children[idx].state = match inst {
                Some(inst) => ChildState::Stopping {
                    inst,
                    then_restart: false,
                    killed: false,
                },
                None => ChildState::Stopped,
            };
            if matches!(self.children[idx].state, ChildState::Stopped) {
                self.unavailable(idx, true);
                self.set_node(idx, NodeState::Failed);
                if self.phase == Phase::Running {
                    self.emit(
                        EventKind::Stopped,
                        &path,
                        format!("{} child is not restarted", restart.as_str()),
                    );
                }
                self.advance_if_waiting(idx, ctx);
            }
            return;
        }
        if !self.window.record(Instant::now().into_std()) {
            let i = self.spec.config.intensity;
            let why = format!(
                "restart intensity exceeded: more than {} restarts within {:?}; last failure: {path}: {reason}",
                i.max_restarts, i.period
            );
            // The failed child is stopped with the rest.
            drop(decision);
            self.set_node(idx, NodeState::Failed);
            match inst {
                Some(inst) => {
                    self.children[idx].state = ChildState::Stopping {
                        inst,
                        then_restart: false,
                        killed: false,
                    }
                }
                None => {
                    self.children[idx].state = ChildState::Stopped;
                    self.unavailable(idx, true);
                }
            }
            self.give_up(why, ctx);
            return;
        }
        if inst.is_none() {
            self.unavailable(idx, false);
            if let ChildKind::Supervisor(_) = self.children[idx].spec.kind {
                self.kernel.registry().invalidate_below(&path);
            }
        }
        self.children[idx].state = ChildState::Failed { inst, decision };
        self.set_node(idx, NodeState::Restarting);
        self.queue.push_back(idx);
        self.pump(ctx);
    }

    /// Which children restart with `idx`, by strategy, in start order.
    fn restart_set(&self, idx: usize) -> Vec<usize> {
        let affected = |j: usize| {
            let c = &self.children[j];
            j == idx || (!c.held && !c.removed && !matches!(c.state, ChildState::Stopped))
        };
        match self.spec.config.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..self.children.len()).filter(|&j| affected(j)).collect(),
            Strategy::RestForOne => (idx..self.children.len())
                .filter(|&j| affected(j))
                .collect(),
        }
    }

    /// Starts the next queued restart unless an operation is running.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.op.is_some() || self.phase != Phase::Running {
            return;
        }
        while let Some(idx) = self.queue.pop_front() {
            if !matches!(self.children[idx].state, ChildState::Failed { .. }) {
                continue;
            }
            let set = self.restart_set(idx);
            self.queue.retain(|j| !set.contains(j));
            let stop: Vec<usize> = set.iter().copied().filter(|&j| j != idx).collect();
            let restart: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&j| j == idx || self.children[j].spec.restart != Restart::Temporary)
                .collect();
            self.begin(
                stop,
                Then::Restart {
                    restart,
                    failed: idx,
                },
                ctx,
            );
            return;
        }
    }

    fn begin(&mut self, stop: Vec<usize>, then: Then, ctx: &mut Context<Self>) {
        self.next_op += 1;
        self.op = Some(Op {
            id: self.next_op,
            stop,
            waiting: None,
            then,
            in_backoff: false,
        });
        self.advance(ctx);
    }

    fn advance_if_waiting(&mut self, idx: usize, ctx: &mut Context<Self>) {
        if let Some(op) = &mut self.op {
            if op.waiting == Some(idx) {
                op.waiting = None;
                self.advance(ctx);
            }
        }
    }

    /// Drives the current operation: the next stop, or what comes after the stops.
    fn advance(&mut self, ctx: &mut Context<Self>) {
        loop {
            let Some(op) = &mut self.op else { return };
            if op.waiting.is_some() || op.in_backoff {
                return;
            }
            let op_id = op.id;
            if let Some(j) = op.stop.pop() {
                // Siblings that will not be restarted (temporary ones) stop for good.
                let then_restart =
                    matches!(&op.then, Then::Restart { restart, .. } if restart.contains(&j));
                let child = &mut self.children[j];
                let state = std::mem::replace(&mut child.state, ChildState::Stopped);
                match state {
                    ChildState::Running(inst) => {
                        inst.control.do_send(Control::Stop);
                        self.stopping(j, inst, then_restart, ctx);
                        self.op.as_mut().expect("op").waiting = Some(j);
                        return;
                    }
                    ChildState::Failed {
                        inst: Some(inst),
                        decision,
                    } => {
                        if let Some(d) = decision {
                            let _ = d.send(Decision::Stop);
                        }
                        self.stopping(j, inst, then_restart, ctx);
                        self.op.as_mut().expect("op").waiting = Some(j);
                        return;
                    }
                    s @ ChildState::Stopping { .. } => {
                        child.state = s;
                        self.op.as_mut().expect("op").waiting = Some(j);
                        return;
                    }
                    ChildState::Failed {
                        inst: None,
                        decision,
                    } => {
                        if then_restart {
                            child.state = ChildState::Failed {
                                inst: None,
                                decision,
                            };
                        } else {
                            self.unavailable(j, true);
                            self.set_node(j, NodeState::Stopped);
                        }
                    }
                    ChildState::Stopped => {}
                }
                continue;
            }
            // All stops done.
            let op = self.op.as_mut().expect("op");
            match &op.then {
                Then::Restart { failed, .. } => {
                    op.in_backoff = true;
                    let failed = *failed;
                    let attempt = self.children[failed]
                        .recent
                        .recent(Instant::now().into_std());
                    self.children[failed]
                        .recent
                        .record(Instant::now().into_std());
                    let delay = self.spec.config.backoff.delay(attempt, &mut self.rng);
                    if delay.is_zero() {
                        self.restart_now(op_id, ctx);
                    } else {
                        ctx.run_later(delay, move |sup, ctx| sup.restart_now(op_id, ctx));
                    }
                }
                Then::Shutdown => {
                    self.op = None;
                    self.kernel
                        .registry()
                        .update(&self.path, |e| e.state = NodeState::Stopped);
                    ctx.stop();
                }
                Then::GiveUp(reason) => {
                    let reason = reason.clone();
                    self.op = None;
                    let detail = if self.is_root {
                        "the root supervisor gave up: the process exits with status 1".to_owned()
                    } else {
                        format!("failure passed to {}", parent_of(&self.path))
                    };
                    self.emit(EventKind::Escalated, &self.path, detail);
                    self.note.fail(format!("gave up: {reason}"));
                    ctx.stop();
                }
            }
            return;
        }
    }

    /// Marks child `j` as stopping (it has been asked to) and arms its shutdown
    /// timeout.
    fn stopping(&mut self, j: usize, inst: Instance, then_restart: bool, ctx: &mut Context<Self>) {
        let id = inst.id;
        self.children[j].state = ChildState::Stopping {
            inst,
            then_restart,
            killed: false,
        };
        let timeout = self.children[j]
            .spec
            .shutdown_timeout
            .unwrap_or(self.spec.config.shutdown_timeout);
        ctx.run_later(timeout, move |sup, ctx| {
            sup.stop_timed_out(j, id, timeout, ctx)
        });
    }

    fn stop_timed_out(&mut self, j: usize, id: u64, timeout: Duration, ctx: &mut Context<Self>) {
        let child = &mut self.children[j];
        match &mut child.state {
            ChildState::Stopping { inst, killed, .. } if inst.id == id && !*killed => {
                // Kill it, and still wait for its exit report (one more timeout), so
                // that stops stay in order.
                inst.kill();
                *killed = true;
                ctx.run_later(timeout, move |sup, ctx| {
                    sup.stop_timed_out(j, id, timeout, ctx)
                });
            }
            ChildState::Stopping {
                inst, then_restart, ..
            } if inst.id == id => {
                // Killed and still no exit: its thread is wedged. Abandon it.
                let then_restart = *then_restart;
                let detail =
                    format!("abandoned: killed after {timeout:?} and its thread does not respond");
                self.stopped(j, then_restart, &detail);
                self.advance_if_waiting(j, ctx);
            }
            _ => {}
        }
    }

    /// A child finished stopping.
    fn stopped(&mut self, j: usize, then_restart: bool, detail: &str) {
        let path = self.children[j].path.clone();
        if then_restart {
            self.children[j].state = ChildState::Failed {
                inst: None,
                decision: None,
            };
            self.unavailable(j, false);
            self.set_node(j, NodeState::Restarting);
        } else {
            self.children[j].state = ChildState::Stopped;
            self.unavailable(j, true);
            let failed = self.kernel.registry().state(&path) == Some(NodeState::Failed);
            self.set_node(
                j,
                if failed {
                    NodeState::Failed
                } else {
                    NodeState::Stopped
                },
            );
        }
        self.emit(EventKind::Stopped, &path, detail);
    }

    fn restart_now(&mut self, op_id: u64, ctx: &mut Context<Self>) {
        let Some(op) = &self.op else { return };
        if op.id != op_id || !op.in_backoff {
            return; // superseded by a shutdown or give-up
        }
        let Some(Op {
            then: Then::Restart { restart, .. },
            ..
        }) = self.op.take()
        else {
            return;
        };
        for j in restart {
            let child = &mut self.children[j];
            if child.removed || child.held {
                continue;
            }
            match std::mem::replace(&mut child.state, ChildState::Stopped) {
                ChildState::Failed {
                    inst: Some(inst),
                    decision: Some(d),
                } => {
                    if d.send(Decision::Restart).is_ok() {
                        child.state = ChildState::Running(inst);
                        child.restarts += 1;
                        child.probing = false;
                        let (path, n) = (child.path.clone(), child.restarts);
                        self.set_node(j, NodeState::Running);
                        self.emit(
                            EventKind::Restarted,
                            &path,
                            format!("restart #{n} (in place)"),
                        );
                    } else {
                        drop(inst);
                        self.start_child(j, ctx, true);
                    }
                }
                ChildState::Failed { .. } => self.start_child(j, ctx, true),
                other => child.state = other,
            }
        }
        self.pump(ctx);
    }

    fn give_up(&mut self, reason: String, ctx: &mut Context<Self>) {
        self.phase = Phase::GivingUp;
        self.queue.clear();
        tracing::error!(supervisor = %self.path, %reason, "supervisor gives up");
        self.emit(EventKind::GaveUp, &self.path, reason.clone());
        self.kernel.registry().update(&self.path, |e| {
            e.state = NodeState::Failed;
            e.last_failure = Some(reason.clone());
        });
        let all = (0..self.children.len()).collect();
        self.begin(all, Then::GiveUp(reason), ctx);
    }

    fn shutdown(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::ShuttingDown;
        self.queue.clear();
        let all = (0..self.children.len()).collect();
        self.begin(all, Then::Shutdown, ctx);
    }

    fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let timeout = self.spec.config.probe_timeout;
        for j in 0..self.children.len() {
            let child = &mut self.children[j];
            let ChildState::Running(inst) = &child.state else {
                continue;
            };
            if child.probing {
                continue;
            }
            child.probing = true;
            let (tx, rx) = oneshot::channel();
            inst.control.do_send(Control::Probe(tx));
            let id = inst.id;
            ctx.spawn(wrap_future(tokio::time::timeout(timeout, rx)).map(
                move |res, sup: &mut Self, ctx| {
                    sup.children[j].probing = false;
                    // `Ok(Err(_))`: the child died; its exit report tells why.
                    if res.is_err() {
                        sup.hung(j, id, timeout, ctx);
                    }
                },
            ));
        }
    }

    fn hung(&mut self, j: usize, id: u64, timeout: Duration, ctx: &mut Context<Self>) {
        let child = &mut self.children[j];
        match std::mem::replace(&mut child.state, ChildState::Stopped) {
            ChildState::Running(mut inst) if inst.id == id => {
                inst.kill();
                let reason = format!("hung: no answer to the liveness probe within {timeout:?}");
                self.on_failure(j, None, None, reason, ctx);
            }
            other => child.state = other,
        }
    }

    fn child_op(&mut self, op: ChildOp, name: &str, ctx: &mut Context<Self>) -> Result<(), String> {
        let Some(j) = self
            .children
            .iter()
            .position(|c| &*c.spec.name == name && !c.removed)
        else {
            return Err(format!("{} has no child named {name:?}", self.path));
        };
        match op {
            ChildOp::Inject(fault) => match &self.children[j].state {
                ChildState::Running(inst) => {
                    inst.control.do_send(Control::Fault(fault));
                    Ok(())
                }
                _ => Err(format!("{}/{name} is not running", self.path)),
            },
            ChildOp::Restart => {
                if !matches!(self.children[j].state, ChildState::Stopped) {
                    return Err(format!("{}/{name} is not stopped", self.path));
                }
                if self.phase != Phase::Running {
                    return Err(format!("{} is shutting down", self.path));
                }
                self.children[j].held = false;
                self.start_child(j, ctx, true);
                Ok(())
            }
            ChildOp::Stop | ChildOp::Remove => {
                let child = &mut self.children[j];
                child.held = true;
                self.queue.retain(|&k| k != j);
                let path = child.path.clone();
                match std::mem::replace(&mut child.state, ChildState::Stopped) {
                    ChildState::Running(inst) => {
                        inst.control.do_send(Control::Stop);
                        self.stopping(j, inst, false, ctx);
                    }
                    ChildState::Failed { inst, decision } => {
                        // Stopped during its backoff: it never comes back.
                        drop(decision);
                        if let Some(mut inst) = inst {
                            inst.kill();
                        }
                        self.stopped(j, false, "stopped by request during its restart backoff");
                    }
                    other => self.children[j].state = other,
                }
                if op == ChildOp::Remove {
                    self.children[j].removed = true;
                    self.kernel.registry().remove_subtree(&path);
                }
                Ok(())
            }
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
            e.control = Some(control);
        });
        for j in 0..self.children.len() {
            self.start_child(j, ctx, false);
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

impl Handler<ChildFailed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildFailed, ctx: &mut Context<Self>) {
        let ChildFailed {
            idx,
            instance,
            reason,
            decision,
        } = msg;
        let child = &mut self.children[idx];
        match std::mem::replace(&mut child.state, ChildState::Stopped) {
            ChildState::Running(inst) if inst.id == instance => {
                self.on_failure(idx, Some(inst), Some(decision), reason, ctx)
            }
            // Stale (or already stopping): dropping `decision` lets the cell stop.
            other => child.state = other,
        }
    }
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let ChildExited {
            idx,
            instance,
            cause,
        } = msg;
        let child = &mut self.children[idx];
        match std::mem::replace(&mut child.state, ChildState::Stopped) {
            ChildState::Running(inst) if inst.id == instance => {
                drop(inst);
                let restart = child.spec.restart;
                let reason = match cause {
                    ExitCause::Normal if restart == Restart::Permanent => {
                        "stopped by itself (normal exit); permanent children are restarted"
                            .to_owned()
                    }
                    ExitCause::Normal => {
                        child.held = true;
                        self.stopped(
                            idx,
                            false,
                            &format!(
                                "exited normally; {} child is not restarted",
                                restart.as_str()
                            ),
                        );
                        return;
                    }
                    ExitCause::Failed(r) | ExitCause::Panicked(r) => r,
                    ExitCause::Killed => "killed".to_owned(),
                    ExitCause::Lost => "lost: its task vanished (arbiter stopped)".to_owned(),
                };
                self.on_failure(idx, None, None, reason, ctx);
            }
            ChildState::Stopping {
                inst,
                then_restart,
                killed,
            } if inst.id == instance => {
                drop(inst);
                let detail = match cause {
                    _ if killed => "killed: did not stop within its shutdown timeout".to_owned(),
                    ExitCause::Normal | ExitCause::Killed => "stopped".to_owned(),
                    ExitCause::Failed(r) | ExitCause::Panicked(r) => {
                        format!("stopped with a failure: {r}")
                    }
                    ExitCause::Lost => "stopped (task lost)".to_owned(),
                };
                self.stopped(idx, then_restart, &detail);
                self.advance_if_waiting(idx, ctx);
            }
            ChildState::Failed {
                inst: Some(inst),
                decision,
            } if inst.id == instance => {
                // Died while waiting for its in-place restart: it will be re-created.
                drop(inst);
                drop(decision);
                self.children[idx].state = ChildState::Failed {
                    inst: None,
                    decision: None,
                };
                self.unavailable(idx, false);
            }
            other => self.children[idx].state = other,
        }
    }
}

impl Handler<Control> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Control, ctx: &mut Context<Self>) {
        match msg {
            Control::Probe(tx) => {
                let _ = tx.send(());
            }
            Control::Stop => self.shutdown(ctx),
            Control::Fault(f) => match f.kind {
                FaultKind::Panic => panic!("injected fault: panic"),
                FaultKind::Hang => ctx.wait(wrap_future(tokio::time::sleep(f.duration()))),
                FaultKind::Stop => self.shutdown(ctx),
                // Refused by `Kernel::inject` before they get here.
                FaultKind::Error | FaultKind::Slow => {}
            },
            Control::Child(op, name, reply) => {
                let _ = reply.send(self.child_op(op, &name, ctx));
            }
        }
    }
}
