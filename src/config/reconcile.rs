//! `[reconcile]`: the daily reconciliation after the last close (journal
//! positions and cash against every engine's broker), the guards' day start
//! and the daily summary.
//! Invariant: it runs on market time, once per market day, after the last
//! close of the day's contracts plus `after_close`.

use super::durations::duration;
use super::{invalid, Invalid};
use commodore_actors::model::RiskLevel;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    /// How long after the day's last close it runs (market time).
    #[serde(with = "duration")]
    pub after_close: Duration,
    /// The level a discrepancy raises the risk level to: `WARNING`, `HALT`,
    /// `PANIC`, or `none` (evented and notified only).
    pub escalate: String,
    /// Dollars the journal's and the broker's cash may differ by (a broker
    /// may round commissions); positions must agree exactly.
    pub cash_tolerance: Decimal,
}

impl Reconcile {
    /// The level a discrepancy escalates to; `None` for `none`.
    pub fn escalation(&self) -> Option<RiskLevel> {
        match self.escalate.as_str() {
            "none" => None,
            s => s.parse().ok().filter(|l| *l > RiskLevel::Normal),
        }
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.after_close > Duration::from_secs(12 * 3_600) {
            return invalid(
                "reconcile.after_close",
                "must be at most 12h (it runs once a market day, after the last close)",
            );
        }
        if self.escalate != "none" && self.escalation().is_none() {
            return invalid(
                "reconcile.escalate",
                format!(
                    "{:?} is not one of WARNING, HALT, PANIC or none",
                    self.escalate
                ),
            );
        }
        if self.cash_tolerance < Decimal::ZERO {
            return invalid("reconcile.cash_tolerance", "must not be negative");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(after: u64, escalate: &str, tolerance: &str) -> Reconcile {
        Reconcile {
            after_close: Duration::from_secs(after),
            escalate: escalate.into(),
            cash_tolerance: tolerance.parse().unwrap(),
        }
    }

    #[test]
    fn escalation_is_a_level_above_normal_or_none() {
        assert_eq!(
            r(900, "WARNING", "0.01").escalation(),
            Some(RiskLevel::Warning)
        );
        assert_eq!(r(900, "PANIC", "0").escalation(), Some(RiskLevel::Panic));
        assert_eq!(r(900, "none", "0").escalation(), None);
        assert!(r(900, "none", "0").validate().is_ok());
        for bad in ["NORMAL", "warning", "", "LOUD"] {
            let e = r(900, bad, "0").validate().unwrap_err();
            assert_eq!(e.0, "reconcile.escalate", "{bad}");
            assert!(e.1.contains("WARNING, HALT, PANIC or none"), "{}", e.1);
        }
        assert_eq!(
            r(13 * 3_600, "none", "0").validate().unwrap_err().0,
            "reconcile.after_close"
        );
        assert_eq!(
            r(0, "none", "-0.01").validate().unwrap_err().0,
            "reconcile.cash_tolerance"
        );
    }
}
