//! [`Handle<W>`]: the stable address of a supervised worker, and the slot behind
//! it that says which instance (if any) is current.
//!
//! Invariant: a handle reaches whichever instance is current across restarts;
//! while the first instance's mailbox is current it is reached without a lock
//! (`Slot::fast`), and once an instance has been re-created the slot's `state` is
//! the only truth.

use super::{CallError, Cell, Handles, TellError, Worker};
use actix::dev::SendError;
use actix::{Addr, MailboxError, Message};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// The wire type of every user message inside the kernel.
pub struct Envelope<M>(pub(super) M);

impl<M: Message> Message for Envelope<M>
where
    M::Result: Send,
{
    type Result = Result<M::Result, CallError>;
}

pub(super) enum SlotState<W: Worker> {
    Unstarted,
    /// The first instance runs; its address is in `Slot::first` (kept once).
    First,
    Running(Addr<Cell<W>>),
    Restarting,
    Stopped,
}

/// `Slot::flags`: an instance was re-created (the lock-free path is over).
const RECREATED: u8 = 1;
/// `Slot::flags`: the worker failed in place and waits out its restart backoff:
/// its mailbox is paused, so a new ask is answered `Restarting` at once instead
/// of waiting for the restart (which a failing start may never bring). Tells
/// are queued and handled after the restart.
const BACKOFF: u8 = 2;

/// Everything a worker child keeps between its instances, in one allocation:
/// where its current instance is, its factory, its path and its counters. It is
/// also the child's type-erased starter (`WorkerStarter`, in `start.rs`).
pub(crate) struct Slot<W: Worker> {
    /// The first instance's address, read without a lock for as long as that
    /// instance's mailbox is the current one (in-place restarts keep it). Once an
    /// instance has been re-created, `state` is the only truth.
    pub(super) first: OnceLock<Addr<Cell<W>>>,
    pub(super) state: RwLock<SlotState<W>>,
    pub(super) flags: AtomicU8,
    /// Builds the worker at every start; set once, when the handle is bound to
    /// its child spec.
    pub(super) factory: OnceLock<Box<dyn Fn() -> W + Send + Sync>>,
    pub(super) path: OnceLock<Arc<str>>,
    pub(super) refused_full: AtomicU64,
    /// Messages handled by every instance so far; the current instance is the
    /// only writer, so a plain store publishes it (no read-modify-write).
    pub(super) messages: AtomicU64,
}

impl<W: Worker> Slot<W> {
    pub(super) fn path(&self) -> String {
        self.path
            .get()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "<not started>".to_owned())
    }
    pub(super) fn set(&self, s: SlotState<W>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Whatever the supervisor made of the child (a new instance, stopped,
        // re-created), the in-place backoff is over.
        self.flags.fetch_and(!BACKOFF, Ordering::Release);
        let s = match s {
            // The first instance ever (a child held at start was `Stopped`
            // before it): reached without a lock.
            SlotState::Running(addr) if self.first.get().is_none() => {
                let _ = self.first.set(addr);
                SlotState::First
            }
            // Anything after the first instance: the lock-free path is over.
            s => {
                if self.first.get().is_some() {
                    self.flags.fetch_or(RECREATED, Ordering::Release);
                }
                s
            }
        };
        *state = s;
    }

    pub(super) fn set_backoff(&self, on: bool) {
        if on {
            self.flags.fetch_or(BACKOFF, Ordering::Release);
        } else {
            self.flags.fetch_and(!BACKOFF, Ordering::Release);
        }
    }

    fn in_backoff(&self) -> bool {
        self.flags.load(Ordering::Acquire) & BACKOFF != 0
    }

    /// The first instance's address while it is current.
    #[inline]
    fn fast(&self) -> Option<&Addr<Cell<W>>> {
        if self.flags.load(Ordering::Acquire) & RECREATED != 0 {
            None
        } else {
            self.first.get()
        }
    }

    /// The current instance's address, under the state's lock.
    pub(super) fn current<'a>(&'a self, state: &'a SlotState<W>) -> Option<&'a Addr<Cell<W>>> {
        match state {
            SlotState::First => self.first.get(),
            SlotState::Running(addr) => Some(addr),
            _ => None,
        }
    }
}

/// A stable handle to a supervised worker: it reaches whichever instance is current,
/// across restarts. Cheap to clone, `Send + Sync`.
pub struct Handle<W: Worker> {
    pub(super) slot: Arc<Slot<W>>,
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
    /// [`ChildSpec::worker`]: crate::kernel::ChildSpec::worker
    pub fn new() -> Self {
        Handle {
            slot: Arc::new(Slot {
                first: OnceLock::new(),
                state: RwLock::new(SlotState::Unstarted),
                flags: AtomicU8::new(0),
                factory: OnceLock::new(),
                path: OnceLock::new(),
                refused_full: AtomicU64::new(0),
                messages: AtomicU64::new(0),
            }),
        }
    }

    /// Whether `other` is a handle to the same child (a clone of this one).
    pub fn same(&self, other: &Handle<W>) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
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
        match (&*state, self.slot.current(&state)) {
            (_, Some(addr)) => match addr.try_send(Envelope(msg)) {
                Ok(()) => Ok(()),
                Err(SendError::Full(Envelope(m))) => Err(self.full(m)),
                Err(SendError::Closed(Envelope(m))) => Err(TellError::Restarting(m)),
            },
            (SlotState::Stopped, None) => Err(TellError::Stopped(msg)),
            (_, None) => Err(TellError::Restarting(msg)),
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
            _ if slot.in_backoff() => Err(true),
            Some(addr) if addr.connected() => Ok(addr.send(Envelope(msg))),
            _ => {
                let state = self.slot.state.read().unwrap_or_else(|e| e.into_inner());
                match (&*state, self.slot.current(&state)) {
                    (_, Some(addr)) if addr.connected() => Ok(addr.send(Envelope(msg))),
                    (SlotState::Stopped, _) => Err(false),
                    _ => Err(true),
                }
            }
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
}
