//! What the cell does with each message: a user message in its [`Envelope`]
//! (armed faults first, then the worker's handler) and the kernel's [`Control`].
//!
//! Invariant: every ask gets exactly one answer: the worker's result, or a
//! [`CallError`] saying why not (panicked, injected error, lost after a delay).

use super::{CallError, Cell, Envelope, Handles, NotAnswered, Worker};
use crate::kernel::fault::{FaultKind, OnMessage};
use crate::kernel::Control;
use actix::dev::{MessageResponse, OneshotSender};
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{ActorContext, AsyncContext, Context, Handler, Message};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A cell's answer: now, or later (after an injected `slow` delay). Lighter than
/// actix's `ActorResponse` on the hot path: a tell's answer is dropped at once.
pub enum CellReply<T> {
    Now(Result<T, CallError>),
    Later(oneshot::Receiver<Result<T, CallError>>, Arc<str>),
}

impl<W, M> MessageResponse<Cell<W>, Envelope<M>> for CellReply<M::Result>
where
    W: Handles<M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn handle(
        self,
        actx: &mut Context<Cell<W>>,
        tx: Option<OneshotSender<Result<M::Result, CallError>>>,
    ) {
        let Some(tx) = tx else { return };
        match self {
            CellReply::Now(answer) => {
                let _ = tx.send(answer);
            }
            CellReply::Later(rx, path) => {
                actx.spawn(wrap_future(rx).map(move |r, _, _| {
                    let _ = tx.send(r.unwrap_or_else(|_| {
                        Err(CallError::Lost {
                            path: path.to_string(),
                        })
                    }));
                }));
            }
        }
    }
}

impl<W, M> Handler<Envelope<M>> for Cell<W>
where
    W: Handles<M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    type Result = CellReply<M::Result>;

    fn handle(&mut self, Envelope(msg): Envelope<M>, actx: &mut Context<Self>) -> Self::Result {
        self.core.handled += 1;
        self.core
            .myself
            .slot
            .messages
            .store(self.core.handled, Ordering::Relaxed);
        match self.core.armed.next_message() {
            OnMessage::Handle => CellReply::Now(self.dispatch(msg, actx)),
            OnMessage::Error => CellReply::Now(Err(CallError::Injected {
                path: self.core.path().to_string(),
            })),
            OnMessage::Panic => {
                let why = self
                    .call(actx, |_, _| injected_panic())
                    .err()
                    .unwrap_or(NotAnswered::NoWorker);
                CellReply::Now(Err(self.call_error(why)))
            }
            OnMessage::Delay(delay) => {
                // `wait` keeps the whole mailbox behind this message: the actor is
                // slow, not merely this answer.
                let (tx, rx) = oneshot::channel();
                actx.wait(wrap_future(tokio::time::sleep(delay)).map(
                    move |(), cell: &mut Self, actx| {
                        let _ = tx.send(cell.dispatch(msg, actx));
                    },
                ));
                CellReply::Later(rx, self.core.path().clone())
            }
        }
    }
}

fn injected_panic() -> ! {
    panic!("injected fault: panic")
}

impl<W: Worker> Handler<Control> for Cell<W> {
    type Result = ();

    fn handle(&mut self, msg: Control, actx: &mut Context<Self>) {
        match msg {
            Control::Probe(tx) => {
                let _ = tx.send(());
            }
            Control::Stop => {
                self.core.stopping = true;
                actx.stop();
            }
            Control::Fault(fault) => match fault.kind {
                FaultKind::Panic => {
                    if fault.count > 1 {
                        self.core.armed.arm(fault.with_count(fault.count - 1));
                    }
                    let _ = self.call(actx, |_, _| injected_panic());
                }
                FaultKind::Error | FaultKind::Slow => self.core.armed.arm(fault),
                FaultKind::Hang => actx.wait(wrap_future(tokio::time::sleep(fault.duration()))),
                FaultKind::Stop => actx.stop(),
            },
            Control::Child(_, name, reply) => {
                let _ = reply.send(Err(format!(
                    "{} is a worker: it has no child {name:?}",
                    self.core.path()
                )));
            }
            Control::StartChild(_, reply) => {
                let _ = reply.send(Err(format!(
                    "{} is a worker: it has no children",
                    self.core.path()
                )));
            }
            Control::Children(reply) => {
                let _ = reply.send(Err(format!(
                    "{} is a worker: it has no children",
                    self.core.path()
                )));
            }
        }
    }
}
