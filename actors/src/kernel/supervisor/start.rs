//! Starting one child: a worker through its starter, a child supervisor through
//! `spawn_supervisor`, on the supervisor's own thread.
//!
//! Invariant: every start makes a new instance id, so reports from an earlier
//! instance are recognised as stale; the child's kill switch is kept in its state.

use super::{spawn_supervisor, ChildState, ControlTo, Instance, Supervisor};
use crate::kernel::cell::{Link, StartEnv};
use crate::kernel::event::EventKind;
use crate::kernel::registry::{NodeKind, Reach};
use crate::kernel::spawn::{ReportTo, Reporter};
use crate::kernel::spec::ChildKind;
use actix::{AsyncContext, Context};

impl Supervisor {
    pub(super) fn start_child(&mut self, idx: usize, ctx: &mut Context<Self>, restarted: bool) {
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
                self.kernel
                    .registry()
                    .upsert(&child.path, NodeKind::Worker, None);
                let s = starter.clone();
                self.kernel
                    .registry()
                    .update(&child.path, |e| e.reach = Reach::Worker(s));
                let kill = starter.clone().start(StartEnv {
                    path: child.path.clone(),
                    mailbox: child.spec.mailbox,
                    link: Link {
                        supervisor: me,
                        idx,
                        instance: id,
                    },
                    reporter,
                });
                (ControlTo::Worker(starter.clone()), kill)
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
                (ControlTo::Supervisor(addr.recipient()), kill)
            }
        };
        child.state = ChildState::Running(Instance {
            id,
            control,
            _kill: kill,
        });
        child.probing = false;
        let is_worker = matches!(child.spec.kind, ChildKind::Worker(_));
        let path = child.path.clone();
        if restarted && is_worker {
            // Counted and evented once its init succeeded (`ChildStarted`):
            // a failing init loop reports failures, not restarts.
            child.pending_restart = Some(false);
            return;
        }
        if restarted {
            child.restarts += 1;
        }
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
}
