//! The market clock's sequencer: one per daemon (`master/market`).
//!
//! Every feed of every engine (the bars of every symbol, the headlines)
//! goes through one [`Feed`], merged in market-time order, and the
//! [`Sequencer`] hands each event to the engines of its symbol when the one
//! [`Clock`](crate::clock::Clock) reaches its time. A bar is due at its close
//! (`open + BAR_MS`), never before: whatever an engine decides at market time
//! `t` was decided on what the market had said by `t`. All engines move
//! through market time together, so one engine's book, read by another's
//! portfolio checks, is never from the other's future.
//!
//! In `run` the clock is the bundled data's, at `feed.speed`; in `replay` it
//! is the recorded data's on tokio's paused clock. Same code: the sequencer
//! sleeps until the next event's time, and a paused clock skips the wait.
//!
//! [`Lookahead`] is the check that this holds: every decision and every
//! cross-engine read reports the newest market time it saw against the
//! clock; a replay's report and the property tests count what it caught.
//!
//! Layout: `feed.rs` the events and their sources (the bundled data in laps,
//! recorded series, the merge), `sequencer.rs` the actor, `lookahead.rs` the
//! check.

mod feed;
mod lookahead;
mod sequencer;

pub use feed::{Event, Feed, Merged, Payload, Series, Streamed};
pub use lookahead::Lookahead;
pub use sequencer::{Progress, Route, ScheduledFault, Sequencer};
