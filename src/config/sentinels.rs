//! `[sentinels]`: the thresholds every engine's sentinels alert on. Moves are
//! in percent, windows in market time (the bundled bars are one minute each).
//! Invariant: escalating takes at least the move that alerts, and the window
//! holds at least two bars.

use super::durations::duration;
use super::{invalid, Invalid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sentinels {
    pub move_pct: f64,
    pub escalate_pct: f64,
    #[serde(with = "duration")]
    pub window: Duration,
    pub keywords: Vec<String>,
    #[serde(with = "duration")]
    pub close_warning: Duration,
}

impl Sentinels {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(self.move_pct > 0.0 && self.move_pct <= 100.0) {
            return invalid("sentinels.move_pct", "must be above 0 and at most 100");
        }
        if !(self.escalate_pct >= self.move_pct && self.escalate_pct <= 100.0) {
            return invalid(
                "sentinels.escalate_pct",
                "must be at least sentinels.move_pct and at most 100",
            );
        }
        if self.window < Duration::from_secs(120) || self.window > Duration::from_secs(86_400) {
            return invalid("sentinels.window", "must be between 2m and 24h");
        }
        if self.close_warning > Duration::from_secs(6 * 3600) {
            return invalid("sentinels.close_warning", "must be at most 6h");
        }
        if self.keywords.len() > 100 || self.keywords.iter().any(|k| k.trim().is_empty()) {
            return invalid("sentinels.keywords", "at most 100 words, none empty");
        }
        Ok(())
    }
}
