//! `[feed]`, how fast `run` replays the bundled data, and `[pipeline]`, how an
//! engine turns analyzer signals into decisions (at once above the threshold,
//! else batched by consensus). Invariant: the buffer and the batch interval are
//! bounded above zero, so a pipeline always drains.

use super::durations::duration;
use super::{invalid, Invalid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// The market clock's speed in `run` on the bundled data (1.0 = real time).
    pub speed: f64,
    /// Where `run`'s market data comes from: the bundled data (in laps, at
    /// `speed`), or IB's live bars on the wall clock (`[broker.ib]`'s
    /// gateway; any broker).
    pub source: FeedSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedSource {
    Bundled,
    Ib,
}

impl Feed {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(self.speed > 0.0 && self.speed <= 1_000_000.0) {
            return invalid("feed.speed", "must be above 0 and at most 1000000");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub immediate_threshold: f64,
    #[serde(with = "duration")]
    pub batch_interval: Duration,
    pub min_consensus: f64,
    pub max_buffer: usize,
}

impl Pipeline {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(0.0..=1.0).contains(&self.immediate_threshold) {
            return invalid("pipeline.immediate_threshold", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.min_consensus) {
            return invalid("pipeline.min_consensus", "must be between 0 and 1");
        }
        if self.max_buffer == 0 || self.max_buffer > 1_000_000 {
            return invalid("pipeline.max_buffer", "must be between 1 and 1000000");
        }
        if self.batch_interval.is_zero() {
            return invalid("pipeline.batch_interval", "must be above zero");
        }
        Ok(())
    }
}
