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

use super::fault::{Armed, FaultKind, OnMessage};
use super::registry::NodeStats;
use super::spawn::{panic_message, spawn_supervised, ExitNote, KillSwitch, Reporter};
use super::supervisor::{ChildFailed, Decision, Supervisor};
use super::Control;
use actix::dev::{MessageResponse, OneshotSender, SendError};
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, MailboxError, Message, Recipient,
    Running, SpawnHandle, WeakAddr,
};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;

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

/// Why an ask got no answer from the worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("{path}: panicked while handling this message ({reason}); it is being restarted")]
    Panicked { path: String, reason: String },
    #[error("{path}: an injected `error` fault answered this message")]
    Injected { path: String },
    #[error("{path}: is restarting; retry shortly")]
    Restarting { path: String },
    #[error("{path}: is stopped and will not answer; start it again or use another actor")]
    Stopped { path: String },
    #[error("{path}: died before answering (hung or crashed outside a handler); the message may not have been handled")]
    Lost { path: String },
    #[error("{path}: no answer within {after_ms} ms")]
    Timeout { path: String, after_ms: u64 },
}

/// Why a tell was refused. The message comes back to the caller.
pub enum TellError<M> {
    /// The mailbox is at its capacity: the actor is not keeping up.
    Full(M),
    /// The actor is between two instances; retry shortly.
    Restarting(M),
    /// The actor is stopped.
    Stopped(M),
}

impl<M> TellError<M> {
    pub fn into_inner(self) -> M {
        match self {
            TellError::Full(m) | TellError::Restarting(m) | TellError::Stopped(m) => m,
        }
    }
}

impl<M> fmt::Debug for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TellError::Full(_) => "Full",
            TellError::Restarting(_) => "Restarting",
            TellError::Stopped(_) => "Stopped",
        })
    }
}

impl<M> fmt::Display for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TellError::Full(_) => "mailbox full: the actor is not keeping up",
            TellError::Restarting(_) => "the actor is restarting; retry shortly",
            TellError::Stopped(_) => "the actor is stopped",
        })
    }
}

/// The wire type of every user message inside the kernel.
pub struct Envelope<M>(M);

impl<M: Message> Message for Envelope<M>
where
    M::Result: Send,
{
    type Result = Result<M::Result, CallError>;
}

enum SlotState<W: Worker> {
    Unstarted,
    Running(Addr<Cell<W>>),
    Restarting,
    Stopped,
}

pub(crate) struct Slot<W: Worker> {
    /// The first instance's address, read without a lock for as long as that
    /// instance's mailbox is the current one (in-place restarts keep it). Once an
    /// instance has been re-created, `state` is the only truth.
    first: OnceLock<Addr<Cell<W>>>,
    recreated: AtomicBool,
    state: RwLock<SlotState<W>>,
    path: OnceLock<Arc<str>>,
    bound: AtomicBool,
    refused_full: AtomicU64,
}

impl<W: Worker> Slot<W> {
    fn path(&self) -> String {
        self.path
            .get()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "<not started>".to_owned())
    }
    fn set(&self, s: SlotState<W>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        match (&*state, &s) {
            (SlotState::Unstarted, SlotState::Running(addr)) => {
                let _ = self.first.set(addr.clone());
            }
            // Anything but the very first start: the lock-free path is over.
            _ => self.recreated.store(true, Ordering::Release),
        }
        *state = s;
    }

    /// The first instance's address while it is current.
    #[inline]
    fn fast(&self) -> Option<&Addr<Cell<W>>> {
        if self.recreated.load(Ordering::Acquire) {
            None
        } else {
            self.first.get()
        }
    }
}

/// A stable handle to a supervised worker: it reaches whichever instance is current,
/// across restarts. Cheap to clone, `Send + Sync`.
pub struct Handle<W: Worker> {
    slot: Arc<Slot<W>>,
}

impl<W: Worker> Clone for Handle<W> {
    fn clone(&self) -> Self {
        Handle {
            slot: self.slot.clone(),
        }
    }
}

impl<W: Worker> Default for Handle<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: Worker> Handle<W> {
    /// A handle not yet bound to a child; pass it to [`ChildSpec::worker`].
    ///
    /// [`ChildSpec::worker`]: super::ChildSpec::worker
    pub fn new() -> Self {
        Handle {
            slot: Arc::new(Slot {
                first: OnceLock::new(),
                recreated: AtomicBool::new(false),
                state: RwLock::new(SlotState::Unstarted),
                path: OnceLock::new(),
                bound: AtomicBool::new(false),
                refused_full: AtomicU64::new(0),
            }),
        }
    }

    /// The worker's path, once started.
    pub fn path(&self) -> String {
        self.slot.path()
    }

    /// Tells refused because the mailbox was full, since start.
    pub fn refused_full(&self) -> u64 {
        self.slot.refused_full.load(Ordering::Relaxed)
    }

    /// Sends without waiting for an answer. Never blocks; refuses when the mailbox is
    /// full or no instance is running, and gives the message back.
    pub fn tell<M>(&self, msg: M) -> Result<(), TellError<M>>
    where
        W: Handles<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let msg = match self.slot.fast() {
            Some(addr) => match addr.try_send(Envelope(msg)) {
                Ok(()) => return Ok(()),
                Err(SendError::Full(Envelope(m))) => return Err(self.full(m)),
                // Closed: stopped or being re-created; the slot says which.
                Err(SendError::Closed(Envelope(m))) => m,
            },
            None => msg,
        };
        let state = self.slot.state.read().unwrap_or_else(|e| e.into_inner());
        match &*state {
            SlotState::Running(addr) => match addr.try_send(Envelope(msg)) {
                Ok(()) => Ok(()),
                Err(SendError::Full(Envelope(m))) => Err(self.full(m)),
                Err(SendError::Closed(Envelope(m))) => Err(TellError::Restarting(m)),
            },
            SlotState::Unstarted | SlotState::Restarting => Err(TellError::Restarting(msg)),
            SlotState::Stopped => Err(TellError::Stopped(msg)),
        }
    }

    fn full<M>(&self, m: M) -> TellError<M> {
        self.slot.refused_full.fetch_add(1, Ordering::Relaxed);
        TellError::Full(m)
    }

    /// Sends and waits for the answer. When the mailbox is full the ask waits for
    /// room (back-pressure). The message is queued when `ask` is called; the future
    /// borrows the handle (clone the handle into a task that outlives it).
    pub fn ask<M>(&self, msg: M) -> impl Future<Output = Result<M::Result, CallError>> + Send + '_
    where
        W: Handles<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let slot = &self.slot;
        let target = match self.slot.fast() {
            Some(addr) if addr.connected() => Ok(addr.send(Envelope(msg))),
            _ => match &*self.slot.state.read().unwrap_or_else(|e| e.into_inner()) {
                SlotState::Running(addr) if addr.connected() => Ok(addr.send(Envelope(msg))),
                SlotState::Stopped => Err(false),
                _ => Err(true),
            },
        };
        async move {
            match target {
                Ok(request) => match request.await {
                    Ok(answer) => answer,
                    Err(MailboxError::Closed) => Err(CallError::Lost { path: slot.path() }),
                    Err(MailboxError::Timeout) => Err(CallError::Timeout {
                        path: slot.path(),
                        after_ms: 0,
                    }),
                },
                Err(true) => Err(CallError::Restarting { path: slot.path() }),
                Err(false) => Err(CallError::Stopped { path: slot.path() }),
            }
        }
    }

    /// [`ask`](Self::ask) with a deadline.
    pub async fn ask_timeout<M>(&self, msg: M, timeout: Duration) -> Result<M::Result, CallError>
    where
        W: Handles<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        match tokio::time::timeout(timeout, self.ask(msg)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout {
                path: self.path(),
                after_ms: timeout.as_millis() as u64,
            }),
        }
    }

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

/// Everything of a cell except the worker, so a [`Ctx`] can borrow it beside the
/// worker.
pub struct Core<W: Worker> {
    path: Arc<str>,
    myself: Handle<W>,
    factory: Arc<dyn Fn() -> W + Send + Sync>,
    link: Link,
    stats: Arc<NodeStats>,
    armed: Armed,
    /// Messages handled; this cell is the only writer of `stats.messages`, so a
    /// plain store publishes it (no read-modify-write on the hot path).
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

/// What a worker can do from inside a handler, hook or callback.
pub struct Ctx<'a, W: Worker> {
    actx: &'a mut Context<Cell<W>>,
    core: &'a mut Core<W>,
}

impl<W: Worker> Ctx<'_, W> {
    /// This worker's path in the tree, e.g. `master/engines/KC/analyzer`.
    pub fn path(&self) -> &str {
        &self.core.path
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
        let path = self.core.path.to_string();
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
        match catch_unwind(AssertUnwindSafe(|| (self.core.factory)())) {
            Ok(worker) => {
                self.worker = Some(worker);
                let _ = self.call(actx, |w, c| w.started(c));
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
        tracing::warn!(actor = %self.core.path, %reason, "worker panicked");
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
                Ok(Decision::Restart) => cell.start_worker(actx),
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
            .stats
            .messages
            .store(self.core.handled, Ordering::Relaxed);
        match self.core.armed.next_message() {
            OnMessage::Handle => CellReply::Now(self.dispatch(msg, actx)),
            OnMessage::Error => CellReply::Now(Err(CallError::Injected {
                path: self.core.path.to_string(),
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
                CellReply::Later(rx, self.core.path.clone())
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
                    self.core.path
                )));
            }
        }
    }
}
