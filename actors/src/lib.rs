//! commodore's actor system: the supervision kernel and the actors built on it.
//!
//! Dependency direction: every component folder may use `kernel`, `model`,
//! `events`, `paths`, `view`, `wiring`, `clock` and `journal`, may call
//! another component's pure rules (`risk::order`), and reaches its actors
//! only by messages; `kernel` uses nothing else of the
//! project; `model` uses nothing but std, serde and rust_decimal. The map is
//! `docs/ARCHITECTURE.md`.

pub mod clock;
pub mod control;
pub mod engine;
pub mod events;
pub mod ib;
pub mod journal;
pub mod kernel;
pub mod llm;
pub mod logsafe;
pub mod market;
pub mod mode;
pub mod model;
pub mod notifier;
pub mod paths;
pub mod reconcile;
pub mod risk;
pub mod view;
pub mod wiring;
