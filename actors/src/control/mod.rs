//! `control`: carries out the operator's commands that change the daemon itself
//! (pause, resume, flatten, stop and start an engine, shut down, the engines a reload
//! replaces, adds and removes), journaled before they take effect.
//! Risk and mode commands go to the actors that own that state.
//!
//! - `messages.rs`: what it accepts.
//! - `actor.rs`: the worker; `lifecycle.rs`: the daemon's started/stopping facts.

mod actor;
mod lifecycle;
mod messages;

pub use actor::{engine_path, load_paused, load_stopped, ControlActor, EngineBook, EngineSpec};
pub use lifecycle::Lifecycle;
pub use messages::{
    ControlError, EngineOutcome, FlattenEngine, PauseEngine, Reconfigure, ResumeEngine, Shutdown,
    StartEngine, StopEngine,
};
