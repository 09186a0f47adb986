//! Spawning a supervised actix actor so that the kernel sees every way it can end.
//!
//! The kernel builds the actor's mailbox and context itself (as actix's
//! `start_in_arbiter` does) and spawns one task per actor that
//! - polls the actor's context future inside `catch_unwind`, so a panic that escapes
//!   the actor (an async part of a handler, a spawned future, a supervisor's own code)
//!   becomes an exit report instead of a silent death;
//! - watches a kill switch: sending on it, or dropping it, drops the actor at once.
//!   Dropping it is how a dying supervisor takes its children with it (OTP links);
//! - reports exactly one [`ExitCause`] when the task ends, even if the task is
//!   dropped without completing (its arbiter stopped) or was never spawned.

use super::supervisor::{ChildExited, Supervisor};
use actix::dev::channel;
use actix::{Actor, Addr, ArbiterHandle, Context, WeakAddr};
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use tokio::sync::oneshot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExitCause {
    /// The actor stopped (by itself, or because it was asked to).
    Normal,
    /// The actor stopped after recording a failure in its exit note (a supervisor
    /// that gave up).
    Failed(String),
    /// A panic escaped the actor; the message is the panic payload.
    Panicked(String),
    /// The kill switch fired.
    Killed,
    /// The task vanished without finishing (its arbiter was stopped, or could not
    /// take the spawn).
    Lost,
}

/// Written by an actor before it stops to say that the stop is a failure
/// (supervisors use it; workers have none).
#[derive(Clone, Default)]
pub(crate) struct ExitNote(Option<Arc<Mutex<Option<String>>>>);

impl ExitNote {
    pub(crate) fn new() -> Self {
        ExitNote(Some(Arc::default()))
    }
    pub(crate) fn fail(&self, reason: String) {
        if let Some(n) = &self.0 {
            *n.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        }
    }
    fn take(&self) -> Option<String> {
        self.0
            .as_ref()
            .and_then(|n| n.lock().unwrap_or_else(|e| e.into_inner()).take())
    }
}

/// Sending on it (or dropping it) kills the actor.
pub(crate) struct KillSwitch(Option<oneshot::Sender<()>>);

impl KillSwitch {
    pub(crate) fn kill(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Where an exit report goes.
pub(crate) enum ReportTo {
    /// To a supervisor, about its child `idx`, instance `instance`. Weak, so that
    /// a report never keeps a dead supervisor's mailbox alive.
    Child {
        supervisor: WeakAddr<Supervisor>,
        idx: usize,
        instance: u64,
    },
    /// To whoever waits for the root.
    Root(oneshot::Sender<ExitCause>),
}

/// Delivers the exit report exactly once; if never used, reports `Lost` on drop.
/// No boxed closure: it exists once per supervised actor.
pub(crate) struct Reporter(Option<ReportTo>);

impl Reporter {
    pub(crate) fn new(to: ReportTo) -> Self {
        Reporter(Some(to))
    }

    fn report(&mut self, cause: ExitCause) {
        match self.0.take() {
            Some(ReportTo::Child {
                supervisor,
                idx,
                instance,
            }) => {
                if let Some(s) = supervisor.upgrade() {
                    s.do_send(ChildExited {
                        idx,
                        instance,
                        cause,
                    });
                }
            }
            Some(ReportTo::Root(tx)) => {
                let _ = tx.send(cause);
            }
            None => {}
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.report(ExitCause::Lost);
    }
}

/// Turns a panic payload into the message operators read.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Spawns `make`'s actor with a mailbox of `capacity` messages: on `arbiter`, or on
/// the current thread when `arbiter` is `None`. A spawn on the current thread is
/// queued behind the tasks already woken there, so siblings started one after the
/// other run their `started` hooks in that order.
/// Returns its address at once; the actor starts when its task first runs.
pub(crate) fn spawn_supervised<A, F>(
    arbiter: Option<&ArbiterHandle>,
    capacity: usize,
    make: F,
    note: ExitNote,
    reporter: Reporter,
) -> (Addr<A>, KillSwitch)
where
    A: Actor<Context = Context<A>>,
    F: FnOnce(&mut Context<A>) -> A + Send + 'static,
{
    let (tx, rx) = channel::channel::<A>(capacity);
    let (kill_tx, kill_rx) = oneshot::channel();
    let run = move || {
        let mut ctx = Context::with_receiver(rx);
        match catch_unwind(AssertUnwindSafe(|| make(&mut ctx))) {
            Ok(actor) => {
                let fut = ctx.into_future(actor);
                actix_rt::spawn(Watched {
                    fut: Some(fut),
                    kill: kill_rx,
                    kill_armed: false,
                    reporter: Some(reporter),
                    note,
                });
            }
            Err(payload) => {
                let mut reporter = reporter;
                reporter.report(ExitCause::Panicked(panic_message(&*payload)))
            }
        }
    };
    match arbiter {
        // If the arbiter is gone the closure (and the reporter in it) is dropped,
        // which reports `Lost`.
        Some(arbiter) => {
            arbiter.spawn_fn(run);
        }
        None => run(),
    }
    (Addr::new(tx), KillSwitch(Some(kill_tx)))
}

/// The actor's future is held inline (actix's `ContextFut` is `Unpin`): one
/// allocation per actor, the task, as for a bare actix actor.
struct Watched<F> {
    fut: Option<F>,
    kill: oneshot::Receiver<()>,
    /// The kill receiver's waker is registered once; later polls only peek.
    kill_armed: bool,
    reporter: Option<Reporter>,
    note: ExitNote,
}

impl<F> Watched<F> {
    fn finish(&mut self, cause: ExitCause) -> Poll<()> {
        // Dropping the actor runs user Drop impls; a panic there must not take the
        // arbiter's other tasks down either.
        let fut = self.fut.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
        if let Some(mut r) = self.reporter.take() {
            r.report(cause);
        }
        Poll::Ready(())
    }
}

impl<F: Future<Output = ()> + Unpin> Future for Watched<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.fut.is_none() {
            return Poll::Ready(());
        }
        // A fired or dropped kill switch both mean: die now. Register the waker on
        // the first poll only (it stays valid for this task); afterwards a cheap
        // peek, keeping the hot path free of the receiver's bookkeeping.
        let killed = if this.kill_armed {
            !matches!(
                this.kill.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            )
        } else {
            this.kill_armed = true;
            Pin::new(&mut this.kill).poll(cx).is_ready()
        };
        if killed {
            return this.finish(ExitCause::Killed);
        }
        let fut = this.fut.as_mut().expect("checked above");
        match catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => {
                let cause = match this.note.take() {
                    Some(reason) => ExitCause::Failed(reason),
                    None => ExitCause::Normal,
                };
                this.finish(cause)
            }
            Err(payload) => {
                let msg = panic_message(&*payload);
                this.finish(ExitCause::Panicked(msg))
            }
        }
    }
}
