//! Workers, their stable handles, and the cell that runs a worker under supervision.
//!
//! A worker is plain Rust: a struct implementing [`Worker`] and one [`Handles<M>`]
//! per message it accepts. The kernel owns the actix actor type, [`Cell<W>`], which
//! runs every handler, hook and timer callback of the worker inside `catch_unwind`.
//!
//! **In-place restart.** When the worker panics, the cell drops the broken instance,
//! answers the failing message with [`CallError::Panicked`], reports the failure to
//! its supervisor and pauses its mailbox until the supervisor decides. On
//! `restart` (after the backoff) it builds a fresh worker from the factory and goes
//! on with the queued messages: same address, same mailbox, nothing queued is lost.
//!
//! **Re-created instance.** What cannot be caught in place (a hang found by the
//! liveness probe, a panic in a future the worker spawned, a stop) ends the actor;
//! the supervisor starts a new one with a new mailbox and publishes its address in
//! the handle's slot. Asks that were queued in the old mailbox fail with
//! [`CallError::Lost`]; new asks and tells during the restart window fail at once
//! with `Restarting` (tells give the message back). Nothing fails silently.
//!
//! Files: `worker.rs` (the user-facing traits and [`Ctx`]), `handle.rs`
//! ([`Handle`] and its slot), `error.rs` ([`CallError`], [`TellError`]),
//! `start.rs` (binding and starting a worker child), `handlers.rs` (the cell's
//! message handlers); here: the [`Cell<W>`] actor and its `catch_unwind` handling.
//!
//! Invariant: a panic in a worker's handler, hook, timer or factory is caught here
//! and becomes that worker's failure, reported once to its supervisor.

mod error;
mod handle;
mod handlers;
mod start;
mod worker;

pub use error::{CallError, TellError};
pub use handle::{Envelope, Handle};
pub use handlers::CellReply;
pub(crate) use start::StartEnv;
pub(crate) use start::{Link, WorkerStarter};
pub use worker::{Ctx, Handles, Worker};

use super::fault::Armed;
use super::spawn::panic_message;
use super::supervisor::{ChildFailed, ChildStarted, Decision};
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, AsyncContext, Context, Message, Running, SpawnHandle};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Everything of a cell except the worker, so a [`Ctx`] can borrow it beside the
/// worker.
pub struct Core<W: Worker> {
    /// Its slot holds the path, the factory and the message count.
    myself: Handle<W>,
    link: Link,
    armed: Armed,
    /// Messages handled; this cell is the only writer of the slot's `messages`,
    /// so a plain store publishes it (no read-modify-write on the hot path).
    handled: u64,
    /// Bumped at every new worker instance: callbacks registered by an earlier
    /// instance become no-ops.
    incarnation: u64,
    intervals: Vec<SpawnHandle>,
    stopping: bool,
}

/// The kernel's actix actor around a worker.
pub struct Cell<W: Worker> {
    worker: Option<W>,
    core: Core<W>,
}

impl<W: Worker> Cell<W> {
    /// Runs `f` on the worker inside `catch_unwind`. A panic is the worker's failure.
    fn call<R>(
        &mut self,
        actx: &mut Context<Self>,
        f: impl FnOnce(&mut W, &mut Ctx<'_, W>) -> R,
    ) -> Result<R, NotAnswered> {
        let worker = self.worker.as_mut().ok_or(NotAnswered::NoWorker)?;
        let mut ctx = Ctx {
            actx,
            core: &mut self.core,
        };
        match catch_unwind(AssertUnwindSafe(|| f(worker, &mut ctx))) {
            Ok(r) => Ok(r),
            Err(payload) => {
                let reason = panic_message(&*payload);
                self.fail(actx, reason.clone());
                Err(NotAnswered::Panicked(reason))
            }
        }
    }

    fn call_error(&self, why: NotAnswered) -> CallError {
        let path = self.core.path().to_string();
        match why {
            NotAnswered::NoWorker => CallError::Restarting { path },
            NotAnswered::Panicked(reason) => CallError::Panicked { path, reason },
        }
    }

    fn dispatch<M>(&mut self, msg: M, actx: &mut Context<Self>) -> Result<M::Result, CallError>
    where
        W: Handles<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.call(actx, |w, c| w.handle(msg, c))
            .map_err(|why| self.call_error(why))
    }

    fn start_worker(&mut self, actx: &mut Context<Self>) {
        self.core.new_incarnation(actx);
        let slot = &self.core.myself.slot;
        let factory = slot
            .factory
            .get()
            .expect("a started worker's handle is bound");
        match catch_unwind(AssertUnwindSafe(factory)) {
            Ok(worker) => {
                self.worker = Some(worker);
                if self.call(actx, |w, c| w.started(c)).is_ok() {
                    // Init done: a restart counts from here.
                    let link = &self.core.link;
                    if let Some(supervisor) = link.supervisor.upgrade() {
                        supervisor.do_send(ChildStarted {
                            idx: link.idx,
                            instance: link.instance,
                        });
                    }
                }
            }
            Err(payload) => self.fail(
                actx,
                format!("factory panicked: {}", panic_message(&*payload)),
            ),
        }
    }

    /// The in-place failure path: drop the broken worker, report, and pause the
    /// mailbox until the supervisor decides.
    fn fail(&mut self, actx: &mut Context<Self>, reason: String) {
        if let Some(broken) = self.worker.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(broken)));
        }
        self.core.new_incarnation(actx);
        if self.core.stopping {
            return;
        }
        // Its supervisor logs the failure (bounded in a storm).
        tracing::debug!(actor = %self.core.path(), %reason, "worker panicked");
        // Until the supervisor's decision (after the backoff), new asks are
        // answered at once with `Restarting`; tells wait in the mailbox.
        self.core.myself.slot.set_backoff(true);
        let (tx, rx) = oneshot::channel();
        let link = &self.core.link;
        if let Some(supervisor) = link.supervisor.upgrade() {
            supervisor.do_send(ChildFailed {
                idx: link.idx,
                instance: link.instance,
                reason,
                decision: tx,
            });
        }
        actx.wait(
            wrap_future(rx).map(|decision, cell: &mut Self, actx| match decision {
                Ok(Decision::Restart) => {
                    cell.core.myself.slot.set_backoff(false);
                    cell.start_worker(actx)
                }
                // Told to stop, or the supervisor is gone: stop without reporting again.
                Ok(Decision::Stop) | Err(_) => {
                    cell.core.stopping = true;
                    actx.stop();
                }
            }),
        );
    }
}

/// Why the worker gave no answer.
enum NotAnswered {
    /// No worker instance (between a failure and the restart).
    NoWorker,
    Panicked(String),
}

impl<W: Worker> Core<W> {
    /// This worker's path (set in its slot before its first instance starts).
    fn path(&self) -> &Arc<str> {
        self.myself
            .slot
            .path
            .get()
            .expect("set before the cell starts")
    }

    fn new_incarnation(&mut self, actx: &mut Context<Cell<W>>) {
        self.incarnation += 1;
        for h in self.intervals.drain(..) {
            actx.cancel_future(h);
        }
    }
}

impl<W: Worker> Actor for Cell<W> {
    type Context = Context<Self>;

    fn started(&mut self, actx: &mut Context<Self>) {
        self.start_worker(actx);
    }

    fn stopping(&mut self, actx: &mut Context<Self>) -> Running {
        self.core.stopping = true;
        let _ = self.call(actx, |w, c| w.stopping(c));
        Running::Stop
    }
}
