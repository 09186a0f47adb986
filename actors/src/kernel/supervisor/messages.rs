//! What a supervisor accepts: a cell's in-place failure report ([`ChildFailed`],
//! answered by a [`Decision`]), the end of a child's task ([`ChildExited`]), and
//! the kernel's [`Control`] (probe, stop, fault, operations on a child by name).
//!
//! Invariant: a report about an instance that is no longer the child's current one
//! is stale and changes nothing (dropping a stale `decision` lets that cell stop).

use super::{ChildState, Phase, Supervisor};
use crate::kernel::fault::FaultKind;
use crate::kernel::spawn::ExitCause;
use crate::kernel::spec::Restart;
use crate::kernel::{ChildOp, Control};
use actix::fut::wrap_future;
use actix::{AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;

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

impl Supervisor {
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
