//! `mode`: holds the capital-tier mode (a fixed tier or `auto`), journaled before
//! it takes effect. The automatic controller (tiers by equity, with hysteresis)
//! comes with its issue; until then `auto` keeps the current tier.

mod actor;

pub use actor::{load, ModeActor, ModeError, ModeOutcome, SetMode, MODE_KEY};
