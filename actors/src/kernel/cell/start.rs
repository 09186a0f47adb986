//! Starting a worker child: binding a [`Handle`] to its factory, and the
//! type-erased [`WorkerStarter`] a supervisor holds to start any worker type.
//!
//! Invariant: a handle is bound to exactly one child spec; every start publishes
//! the new instance's address in the handle's slot, and `unavailable` turns the
//! slot to `Restarting` or `Stopped` as soon as the instance is gone.

use super::handle::{Slot, SlotState};
use super::{Cell, Core, Handle, Worker};
use crate::kernel::fault::Armed;
use crate::kernel::registry::NodeStats;
use crate::kernel::spawn::{spawn_supervised, ExitNote, KillSwitch, Reporter};
use crate::kernel::supervisor::Supervisor;
use crate::kernel::Control;
use actix::{Recipient, WeakAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl<W: Worker> Handle<W> {
    pub(crate) fn bind(&self, factory: Arc<dyn Fn() -> W + Send + Sync>) -> Arc<dyn WorkerStarter> {
        assert!(
            !self.slot.bound.swap(true, Ordering::SeqCst),
            "a Handle belongs to exactly one ChildSpec; create a new Handle for each child"
        );
        Arc::new(Starter {
            slot: self.slot.clone(),
            factory,
        })
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
    pub(crate) stats: Arc<NodeStats>,
    pub(crate) reporter: Reporter,
}

/// Type-erased start of a worker child, so a supervisor can hold any worker type.
pub(crate) trait WorkerStarter: Send + Sync {
    fn start(&self, env: StartEnv) -> (Recipient<Control>, KillSwitch);
    /// The current instance is gone: `stopped` for good, or being restarted.
    fn unavailable(&self, stopped: bool);
}

struct Starter<W: Worker> {
    slot: Arc<Slot<W>>,
    factory: Arc<dyn Fn() -> W + Send + Sync>,
}

impl<W: Worker> WorkerStarter for Starter<W> {
    fn start(&self, env: StartEnv) -> (Recipient<Control>, KillSwitch) {
        let _ = self.slot.path.set(env.path.clone());
        let myself = Handle {
            slot: self.slot.clone(),
        };
        let factory = self.factory.clone();
        let (path, link, stats) = (env.path, env.link, env.stats);
        // A re-created instance goes on counting where the last one stopped.
        let handled = stats.messages.load(Ordering::Relaxed);
        // Workers run on their supervisor's thread, which is the current one.
        let (addr, kill) = spawn_supervised(
            None,
            env.mailbox,
            move |_ctx| Cell {
                worker: None,
                core: Core {
                    path,
                    myself,
                    factory,
                    link,
                    stats,
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
        self.slot.set(SlotState::Running(addr.clone()));
        (addr.recipient(), kill)
    }

    fn unavailable(&self, stopped: bool) {
        self.slot.set(if stopped {
            SlotState::Stopped
        } else {
            SlotState::Restarting
        });
    }
}
