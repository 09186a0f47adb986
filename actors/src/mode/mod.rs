//! `mode`: holds the capital-tier mode (a fixed tier or `auto`), journaled before
//! it takes effect. In `auto`, its controller moves the tier by account equity
//! (the `Tiers` thresholds, with hysteresis), checked at a fixed interval; a fixed
//! tier is never moved by it.

mod actor;

pub use actor::{load, ModeActor, ModeError, ModeOutcome, SetMode};
