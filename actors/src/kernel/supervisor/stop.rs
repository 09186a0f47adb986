//! The operation machine: stopping children one at a time in reverse start order
//! (each within its shutdown timeout, then killed, and the kill's exit awaited),
//! then what the operation does next: restart (after the backoff), shut down, or
//! give up and escalate.
//!
//! Invariant: one operation at a time (`Supervisor::op`); it waits for each stop
//! to end before the next, and every delayed step carries the operation's id.

use super::{parent_of, ChildState, Decision, Instance, Op, Phase, Supervisor, Then};
use crate::kernel::event::EventKind;
use crate::kernel::registry::NodeState;
use crate::kernel::spec::Restart;
use crate::kernel::Control;
use actix::{ActorContext, AsyncContext, Context};
use std::time::Duration;

impl Supervisor {
    pub(super) fn begin(&mut self, stop: Vec<usize>, then: Then, ctx: &mut Context<Self>) {
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

    pub(super) fn advance_if_waiting(&mut self, idx: usize, ctx: &mut Context<Self>) {
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
                if self.stop_next(j, then_restart, ctx) {
                    self.op.as_mut().expect("op").waiting = Some(j);
                    return;
                }
                continue;
            }
            self.stops_done(op_id, ctx);
            return;
        }
    }

    /// Stops child `j` as a step of the current operation. True when the operation
    /// must wait for the child's exit before its next step.
    fn stop_next(&mut self, j: usize, then_restart: bool, ctx: &mut Context<Self>) -> bool {
        let child = &mut self.children[j];
        let state = std::mem::replace(&mut child.state, ChildState::Stopped);
        match state {
            ChildState::Running(inst) => {
                inst.control.do_send(Control::Stop);
                self.stopping(j, inst, then_restart, ctx);
                true
            }
            ChildState::Failed {
                inst: Some(inst),
                decision,
            } => {
                if let Some(d) = decision {
                    let _ = d.send(Decision::Stop);
                }
                self.stopping(j, inst, then_restart, ctx);
                true
            }
            s @ ChildState::Stopping { .. } => {
                child.state = s;
                true
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
                false
            }
            ChildState::Stopped => false,
        }
    }

    /// All stops of the current operation are done: what comes after them.
    fn stops_done(&mut self, op_id: u64, ctx: &mut Context<Self>) {
        let op = self.op.as_mut().expect("op");
        match &op.then {
            Then::Restart { failed, .. } => {
                op.in_backoff = true;
                let failed = *failed;
                self.back_off(op_id, failed, ctx);
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
    }

    /// Marks child `j` as stopping (it has been asked to) and arms its shutdown
    /// timeout.
    pub(super) fn stopping(
        &mut self,
        j: usize,
        inst: Instance,
        then_restart: bool,
        ctx: &mut Context<Self>,
    ) {
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

    /// A child finished stopping. A temporary child's spec goes with it (as
    /// in OTP): it is never restarted, and asked to be it is not found; the
    /// registry still shows how it ended.
    pub(super) fn stopped(&mut self, j: usize, then_restart: bool, detail: &str) {
        let path = self.children[j].path.clone();
        if !then_restart && self.children[j].spec.restart == Restart::Temporary {
            self.children[j].removed = true;
        }
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

    pub(super) fn give_up(&mut self, reason: String, ctx: &mut Context<Self>) {
        self.phase = Phase::GivingUp;
        self.queue.clear();
        tracing::error!(supervisor = %self.path, %reason, "supervisor gives up");
        self.emit(EventKind::GaveUp, &self.path, reason.clone());
        let registry = self.kernel.registry();
        registry.update(&self.path, |e| e.state = NodeState::Failed);
        registry.set_failure(&self.path, &reason);
        let all = (0..self.children.len()).collect();
        self.begin(all, Then::GiveUp(reason), ctx);
    }

    pub(super) fn shutdown(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::ShuttingDown;
        self.queue.clear();
        let all = (0..self.children.len()).collect();
        self.begin(all, Then::Shutdown, ctx);
    }
}
