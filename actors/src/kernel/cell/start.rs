//! Starting a worker child: binding a [`Handle`] to its factory, and the
//! type-erased [`WorkerStarter`] a supervisor holds to start any worker type.
//!
//! Invariant: a handle is bound to exactly one child spec; every start publishes
//! the new instance's address in the handle's slot, and `unavailable` turns the
//! slot to `Restarting` or `Stopped` as soon as the instance is gone.

use super::handle::{Slot, SlotState};
use super::{Cell, Core, Handle, Worker};
use crate::kernel::fault::Armed;
use crate::kernel::spawn::{spawn_supervised, ExitNote, KillSwitch, Reporter};
use crate::kernel::supervisor::Supervisor;
use crate::kernel::Control;
use actix::WeakAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl<W: Worker> Handle<W> {
    pub(crate) fn bind(&self, factory: Box<dyn Fn() -> W + Send + Sync>) -> Arc<dyn WorkerStarter> {
        assert!(
            self.slot.factory.set(factory).is_ok(),
            "a Handle belongs to exactly one ChildSpec; create a new Handle for each child"
        );
        self.slot.clone()
    }
}

/// Where a cell reports to: its supervisor, its index there, and its instance id.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) supervisor: WeakAddr<Supervisor>,
    pub(crate) idx: usize,
    pub(crate) instance: u64,
}

pub(crate) struct StartEnv {
    pub(crate) path: Arc<str>,
    pub(crate) mailbox: usize,
    pub(crate) link: Link,
    pub(crate) reporter: Reporter,
}

/// Type-erased start of a worker child, so a supervisor can hold any worker type.
pub(crate) trait WorkerStarter: Send + Sync {
    /// Starts an instance; the slot holds its address until it is gone.
    fn start(self: Arc<Self>, env: StartEnv) -> KillSwitch;
    /// Sends a supervisor's message to the current instance, if one runs.
    fn control(&self, msg: Control);
    /// The current instance is gone: `stopped` for good, or being restarted.
    fn unavailable(&self, stopped: bool);
    /// Messages its instances have handled so far.
    fn messages(&self) -> u64;
}

impl<W: Worker> WorkerStarter for Slot<W> {
    fn start(self: Arc<Self>, env: StartEnv) -> KillSwitch {
        let _ = self.path.set(env.path);
        let link = env.link;
        // A re-created instance goes on counting where the last one stopped.
        let handled = self.messages.load(Ordering::Relaxed);
        let myself = Handle { slot: self.clone() };
        // Workers run on their supervisor's thread, which is the current one.
        let (addr, kill) = spawn_supervised(
            None,
            env.mailbox,
            move |_ctx| Cell {
                worker: None,
                core: Core {
                    myself,
                    link,
                    armed: Armed::default(),
                    handled,
                    incarnation: 0,
                    intervals: Vec::new(),
                    stopping: false,
                },
            },
            ExitNote::default(),
            env.reporter,
        );
        self.set(SlotState::Running(addr));
        kill
    }

    fn control(&self, msg: Control) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if let Some(addr) = self.current(&state) {
            addr.do_send(msg);
        }
    }

    fn unavailable(&self, stopped: bool) {
        self.set(if stopped {
            SlotState::Stopped
        } else {
            SlotState::Restarting
        });
    }

    fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
}
