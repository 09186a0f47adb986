//! Why a call to a worker got no answer ([`CallError`]) or a tell was refused
//! ([`TellError`]).
//!
//! Invariant: nothing sent to a worker is dropped without its sender being told:
//! every path that cannot deliver ends in one of these, and a refused tell gives
//! its message back.

use std::fmt;

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
