//! What a supervisor accepts: a cell's in-place failure report ([`ChildFailed`],
//! answered by a [`Decision`]), the end of a child's task ([`ChildExited`]), and
//! the kernel's [`Control`] (probe, stop, fault, operations on a child by name).
//!
//! Invariant: a report about an instance that is no longer the child's current one
//! is stale and changes nothing (dropping a stale `decision` lets that cell stop).

use super::{Child, ChildState, Phase, Supervisor};
use crate::kernel::event::EventKind;
use crate::kernel::fault::FaultKind;
use crate::kernel::registry::NodeState;
use crate::kernel::spawn::ExitCause;
use crate::kernel::spec::Restart;
use crate::kernel::spec::{ChildKind, ChildSpec};
use crate::kernel::ChildInfo;
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

/// A worker's init (factory and `started`) succeeded, at its first start or
/// a restart: a pending restart is counted now.
pub(crate) struct ChildStarted {
    pub(crate) idx: usize,
    pub(crate) instance: u64,
}

impl Message for ChildStarted {
    type Result = ();
}

impl Handler<ChildStarted> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildStarted, _ctx: &mut Context<Self>) {
        let Some(child) = self.children.get_mut(msg.idx) else {
            return;
        };
        let current = matches!(&child.state, ChildState::Running(i) if i.id == msg.instance);
        let Some(in_place) = child.pending_restart.filter(|_| current) else {
            return;
        };
        child.pending_restart = None;
        child.restarts += 1;
        child.probing = false;
        let (path, n) = (child.path.clone(), child.restarts);
        self.set_node(msg.idx, NodeState::Running);
        let how = if in_place { " (in place)" } else { "" };
        self.emit(EventKind::Restarted, &path, format!("restart #{n}{how}"));
    }
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
    /// OTP's `start_child`: a new child, last in start order, started now.
    fn add_child(&mut self, spec: ChildSpec, ctx: &mut Context<Self>) -> Result<(), String> {
        if self.phase != Phase::Running {
            return Err(format!("{} is shutting down", self.path));
        }
        if self
            .children
            .iter()
            .any(|c| c.spec.name == spec.name && !c.removed)
        {
            return Err(format!(
                "{} already has a child named {:?}",
                self.path, spec.name
            ));
        }
        if self.children.len() >= super::MAX_CHILDREN {
            return Err(format!(
                "{} holds {} child records (deleted ones included), its bound",
                self.path,
                super::MAX_CHILDREN
            ));
        }
        self.children
            .push(Child::new(std::sync::Arc::new(spec), &self.path));
        let j = self.children.len() - 1;
        self.start_child(j, ctx, false);
        Ok(())
    }

    /// OTP's `which_children`: in start order, deleted ones left out.
    fn list_children(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .filter(|c| !c.removed)
            .map(|c| ChildInfo {
                name: c.spec.name.to_string(),
                path: c.path.to_string(),
                supervisor: matches!(c.spec.kind, ChildKind::Supervisor(_)),
                restart: c.spec.restart,
                state: match &c.state {
                    ChildState::Running(_) => self
                        .kernel
                        .registry()
                        .state(&c.path)
                        .unwrap_or(NodeState::Running),
                    ChildState::Failed { .. } => NodeState::Restarting,
                    ChildState::Stopping {
                        then_restart: true, ..
                    } => NodeState::Restarting,
                    ChildState::Stopping { .. } => NodeState::Stopping,
                    ChildState::Stopped => match self.kernel.registry().state(&c.path) {
                        Some(NodeState::Failed) => NodeState::Failed,
                        _ => NodeState::Stopped,
                    },
                },
            })
            .collect()
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
            ChildOp::Delete => {
                if !matches!(self.children[j].state, ChildState::Stopped) {
                    return Err(format!(
                        "{}/{name} is running: terminate it first",
                        self.path
                    ));
                }
                let child = &mut self.children[j];
                child.removed = true;
                child.held = true;
                self.queue.retain(|&k| k != j);
                let path = self.children[j].path.clone();
                self.kernel.registry().remove_subtree(&path);
                Ok(())
            }
            ChildOp::Restart => {
                if !matches!(self.children[j].state, ChildState::Stopped) {
                    return Err(format!("{}/{name} is not stopped", self.path));
                }
                if self.phase != Phase::Running {
                    return Err(format!("{} is shutting down", self.path));
                }
                self.children[j].held = false;
                // A child held since its supervisor started has never run:
                // this is its start, not a restart.
                let first = self.children[j].next_instance == 0;
                self.start_child(j, ctx, !first);
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
                    // Stopping as part of a group restart: it ends stopped, not
                    // restarted (the group's restart skips a held child).
                    ChildState::Stopping { inst, killed, .. } => {
                        self.children[j].state = ChildState::Stopping {
                            inst,
                            then_restart: false,
                            killed,
                        };
                    }
                    ChildState::Stopped => {}
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
                        // Down, not held: a later group restart brings a
                        // transient child back, as in OTP (a temporary one's
                        // spec is gone, see `stopped`).
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
            Control::StartChild(spec, reply) => {
                let _ = reply.send(self.add_child(*spec, ctx));
            }
            Control::Children(reply) => {
                let _ = reply.send(Ok(self.list_children()));
            }
        }
    }
}
