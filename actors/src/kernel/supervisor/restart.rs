//! Restarting by strategy: a failure is counted against the restart intensity,
//! queued, and restarted with its siblings as the strategy says (`one_for_one`,
//! `one_for_all`, `rest_for_one`) after the failed child's backoff.
//!
//! Invariant: one operation at a time; a restart only brings back children still
//! failed and neither held nor removed, so a child stopped during its backoff never
//! comes back.

use super::{ChildState, Decision, Instance, Op, Phase, Supervisor, Then};
use crate::kernel::event::EventKind;
use crate::kernel::registry::NodeState;
use crate::kernel::spec::{ChildKind, Restart, Strategy};
use actix::{AsyncContext, Context};
use tokio::sync::oneshot;
use tokio::time::Instant;

impl Supervisor {
    /// A child failed: count it, then restart it (queued) or give up.
    pub(super) fn on_failure(
        &mut self,
        idx: usize,
        inst: Option<Instance>,
        decision: Option<oneshot::Sender<Decision>>,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        let path = self.children[idx].path.clone();
        // A restart whose init failed did not happen: not counted.
        self.children[idx].pending_restart = None;
        let listed = self.emit(EventKind::Failed, &path, reason.clone());
        self.kernel.registry().set_failure(&path, &reason);
        // Logged as the event is listed: in a storm, a few per actor and
        // window, then one `suppressed` line with the count.
        if listed {
            tracing::warn!(actor = %path, %reason, "child failed");
        }
        let restart = self.children[idx].spec.restart;
        if self.phase != Phase::Running || restart == Restart::Temporary || self.children[idx].held
        {
            // Not restarted: let it go (a live in-place cell stops when its decision
            // sender is dropped). A temporary child's spec is gone with it.
            drop(decision);
            self.children[idx].held = true;
            if restart == Restart::Temporary {
                self.children[idx].removed = true;
            }
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

    /// Which children restart with `idx`, by strategy, in start order: as in
    /// OTP every child of the group, also one that was down (a transient
    /// child that exited normally); not one an operator stopped (`held`: an
    /// operator's stop is not undone by a sibling's failure, a documented
    /// difference from OTP) and not a temporary one that ended (its spec is
    /// gone).
    fn restart_set(&self, idx: usize) -> Vec<usize> {
        let affected = |j: usize| {
            let c = &self.children[j];
            j == idx
                || (!c.held
                    && !c.removed
                    && (c.spec.restart != Restart::Temporary
                        || !matches!(c.state, ChildState::Stopped)))
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
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
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

    /// The stops of a group restart are done: wait out the failed child's backoff
    /// (its attempt number is its own recent restarts), then restart the group.
    pub(super) fn back_off(&mut self, op_id: u64, failed: usize, ctx: &mut Context<Self>) {
        let period = self.spec.config.intensity.period;
        let attempt = self.children[failed].record_restart(Instant::now().into_std(), period);
        let delay = self.spec.config.backoff.delay(attempt, &mut self.rng);
        if delay.is_zero() {
            self.restart_now(op_id, ctx);
        } else {
            ctx.run_later(delay, move |sup, ctx| sup.restart_now(op_id, ctx));
        }
    }

    fn restart_now(&mut self, op_id: u64, ctx: &mut Context<Self>) {
        let Some(op) = &self.op else { return };
        if op.id != op_id || !op.in_backoff {
            return; // superseded by a shutdown or give-up
        }
        let Some(Op {
            then: Then::Restart { restart, failed },
            ..
        }) = self.op.take()
        else {
            return;
        };
        let origin = &self.children[failed];
        if origin.held || origin.removed {
            // The child whose failure this restart was for has been stopped
            // (or removed) meanwhile: the restart is cancelled, and the
            // siblings stopped with it stay down, as in OTP (a later
            // restart_child starts that child only).
            let why = format!(
                "not restarted: the restart of {} it was stopped for was cancelled",
                origin.path
            );
            for j in restart.into_iter().filter(|&j| j != failed) {
                if matches!(
                    self.children[j].state,
                    ChildState::Failed { inst: None, .. }
                ) {
                    self.stopped(j, false, &why);
                }
            }
            self.pump(ctx);
            return;
        }
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
                        // Counted when its fresh worker's init succeeded
                        // (`ChildStarted`).
                        child.state = ChildState::Running(inst);
                        child.probing = false;
                        child.pending_restart = Some(true);
                    } else {
                        drop(inst);
                        self.start_child(j, ctx, true);
                    }
                }
                // Failed, or down before the group restart (a transient
                // child that exited normally): started again with the group.
                ChildState::Failed { .. } | ChildState::Stopped => self.start_child(j, ctx, true),
                other => child.state = other,
            }
        }
        self.pump(ctx);
    }
}
