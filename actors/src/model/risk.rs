//! The portfolio risk level: escalation-only, lowered by an operator reset alone.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Lowest to highest. The derived order is the escalation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    /// Normal trading.
    Normal,
    /// Smaller sizes.
    Warning,
    /// No new positions; cancels allowed.
    Halt,
    /// Cancel everything and flatten.
    Panic,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::Normal,
        RiskLevel::Warning,
        RiskLevel::Halt,
        RiskLevel::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Normal => "NORMAL",
            RiskLevel::Warning => "WARNING",
            RiskLevel::Halt => "HALT",
            RiskLevel::Panic => "PANIC",
        }
    }

    /// 0 for NORMAL up to 3 for PANIC (the metrics gauge).
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RiskLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown risk level {s:?}: use one of NORMAL, WARNING, HALT, PANIC")
            })
    }
}

/// The level with when and why it was last set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskState {
    pub level: RiskLevel,
    /// When the level was set, milliseconds since the Unix epoch.
    pub since_ms: u64,
    pub reason: String,
}

impl RiskState {
    pub fn initial(now_ms: u64) -> RiskState {
        RiskState {
            level: RiskLevel::Normal,
            since_ms: now_ms,
            reason: "initial level".to_owned(),
        }
    }

    /// The state after an escalation to `level`, or `None` when `level` is at or
    /// below the current one (an escalation never lowers the level).
    pub fn escalated(&self, level: RiskLevel, reason: &str, now_ms: u64) -> Option<RiskState> {
        (level > self.level).then(|| RiskState {
            level,
            since_ms: now_ms,
            reason: reason.to_owned(),
        })
    }

    /// The state after an operator reset to `level` (any level, the only way down).
    pub fn reset(&self, level: RiskLevel, reason: &str, now_ms: u64) -> RiskState {
        RiskState {
            level,
            since_ms: now_ms,
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_print_and_order() {
        for l in RiskLevel::ALL {
            assert_eq!(l.as_str().parse::<RiskLevel>(), Ok(l));
        }
        assert!(RiskLevel::Normal < RiskLevel::Warning);
        assert!(RiskLevel::Halt < RiskLevel::Panic);
        let err = "halt".parse::<RiskLevel>().unwrap_err();
        assert!(err.contains("NORMAL, WARNING, HALT, PANIC"), "{err}");
    }

    #[test]
    fn escalation_only_goes_up() {
        let s = RiskState::initial(0);
        let up = s.escalated(RiskLevel::Halt, "drawdown", 5).unwrap();
        assert_eq!(up.level, RiskLevel::Halt);
        assert_eq!(up.since_ms, 5);
        assert_eq!(up.escalated(RiskLevel::Halt, "again", 6), None);
        assert_eq!(up.escalated(RiskLevel::Warning, "lower", 7), None);
        let down = up.reset(RiskLevel::Normal, "reviewed", 8);
        assert_eq!(
            (down.level, down.reason.as_str()),
            (RiskLevel::Normal, "reviewed")
        );
    }
}
