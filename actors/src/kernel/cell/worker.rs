//! The user-facing side of a worker: the [`Worker`] lifecycle hooks, one
//! [`Handles<M>`] per message it accepts, and [`Ctx`], what a worker may do from
//! inside a handler, hook or callback.
//!
//! Invariant: every callback a worker registers through [`Ctx`] runs inside the
//! cell's `catch_unwind` and only for the worker instance that registered it (the
//! incarnation check), so a restarted worker never sees its predecessor's timers.

use super::Cell;
use super::Core;
use super::Handle;
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{ActorContext, AsyncContext, Context, Message};
use std::future::Future;
use std::time::Duration;

/// The user's actor logic. Built by its factory at every start and restart.
pub trait Worker: Sized + Unpin + 'static {
    /// Runs after the worker is built (first start and every restart).
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    /// Runs when the worker is stopped on purpose (shutdown, operator, `stop`).
    /// Not run after a panic: the broken instance is dropped as it is.
    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {}
}

/// A worker accepts message `M` (an actix [`Message`]) and answers `M::Result`.
pub trait Handles<M>: Worker
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn handle(&mut self, msg: M, ctx: &mut Ctx<'_, Self>) -> M::Result;
}

/// What a worker can do from inside a handler, hook or callback.
pub struct Ctx<'a, W: Worker> {
    pub(super) actx: &'a mut Context<Cell<W>>,
    pub(super) core: &'a mut Core<W>,
}

impl<W: Worker> Ctx<'_, W> {
    /// This worker's path in the tree, e.g. `master/engines/KC/analyzer`.
    pub fn path(&self) -> &str {
        self.core.path()
    }

    /// A stable handle to this worker (for callbacks that tell it something later).
    pub fn myself(&self) -> Handle<W> {
        self.core.myself.clone()
    }

    /// Calls `f` every `every`, starting after one period, for as long as this
    /// worker instance lives. Panics in `f` are failures of the worker.
    pub fn run_interval(
        &mut self,
        every: Duration,
        mut f: impl FnMut(&mut W, &mut Ctx<'_, W>) + 'static,
    ) {
        let incarnation = self.core.incarnation;
        let h = self.actx.run_interval(every, move |cell, actx| {
            if cell.core.incarnation == incarnation {
                let _ = cell.call(actx, |w, c| f(w, c));
            }
        });
        self.core.intervals.push(h);
    }

    /// Calls `f` once after `after`, unless this worker instance is gone by then.
    pub fn run_later(
        &mut self,
        after: Duration,
        f: impl FnOnce(&mut W, &mut Ctx<'_, W>) + 'static,
    ) {
        let incarnation = self.core.incarnation;
        self.actx.run_later(after, move |cell, actx| {
            if cell.core.incarnation == incarnation {
                let _ = cell.call(actx, f);
            }
        });
    }

    /// Runs a future on this actor's task. A panic inside it ends the actor (it is
    /// re-created by its supervisor).
    pub fn spawn(&mut self, fut: impl Future<Output = ()> + 'static) {
        self.actx.spawn(wrap_future(fut));
    }

    /// Runs `fut` beside the mailbox (messages and liveness probes go on), then
    /// `then` with its output on this worker, unless this instance is gone by
    /// then. No mailbox between the two: the answer cannot be lost to a full one.
    pub fn spawn_then<T: 'static>(
        &mut self,
        fut: impl Future<Output = T> + 'static,
        then: impl FnOnce(&mut W, &mut Ctx<'_, W>, T) + 'static,
    ) {
        let incarnation = self.core.incarnation;
        self.actx
            .spawn(wrap_future(fut).map(move |out, cell: &mut Cell<W>, actx| {
                if cell.core.incarnation == incarnation {
                    let _ = cell.call(actx, |w, c| then(w, c, out));
                }
            }));
    }

    /// Stops this worker: a normal exit (a `permanent` child is started again).
    pub fn stop(&mut self) {
        self.actx.stop();
    }
}
