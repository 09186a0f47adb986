//! `[journal]`: how long the journal keeps its events. Older ones are moved
//! to a monthly archive file beside it (`<data_dir>/archive/events-YYYY-MM.sqlite`)
//! and counted per day and kind in the journal (`event_days`).
//! Invariant: retention is market time, at least an hour, or `0s` (keep all).

use super::durations::duration;
use super::{invalid, Invalid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Events older than this (market time) are archived after each daily
    /// reconciliation; `0s`: never.
    #[serde(with = "duration")]
    pub retention: Duration,
}

impl Journal {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let r = self.retention;
        if !r.is_zero() && r < Duration::from_secs(3_600) {
            return invalid(
                "journal.retention",
                "must be 0s (keep every event) or at least 1h, like \"30d\"",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_off_or_at_least_an_hour() {
        let j = |secs| Journal {
            retention: Duration::from_secs(secs),
        };
        assert!(j(0).validate().is_ok());
        assert!(j(30 * 86_400).validate().is_ok());
        assert_eq!(j(59).validate().unwrap_err().0, "journal.retention");
    }
}
