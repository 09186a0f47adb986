//! `[staleness]`: when an engine's market data counts as stale. Judged only
//! while the contract's market is open (the trading calendar), from the later
//! of the last bar and the session's open.
//! Invariant: a gap is at least two bars long (the bundled bars are one minute
//! each), or zero (off).

use super::durations::duration;
use super::{invalid, Invalid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Staleness {
    /// No bar for this long in open market: `stale`, no new positions; the
    /// second gap in a market day raises the risk level to WARNING. `0s`: off.
    #[serde(with = "duration")]
    pub max_gap: Duration,
}

impl Staleness {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let g = self.max_gap;
        if !g.is_zero() && (g < Duration::from_secs(120) || g > Duration::from_secs(86_400)) {
            return invalid(
                "staleness.max_gap",
                "must be 0s (off) or between 2m and 24h (bars are one minute long)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_off_or_at_least_two_bars() {
        let s = |secs| Staleness {
            max_gap: Duration::from_secs(secs),
        };
        assert!(s(0).validate().is_ok());
        assert!(s(300).validate().is_ok());
        assert_eq!(s(60).validate().unwrap_err().0, "staleness.max_gap");
        assert!(s(86_401).validate().is_err());
    }
}
