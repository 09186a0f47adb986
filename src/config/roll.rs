//! `[roll]`: when a position moves from its contract month to the next. An
//! engine trades its contract's front month (the calendar's listed months,
//! `config/data/calendar.toml`); this many business days before that
//! month's first notice day the next listed month becomes the front one,
//! and a position held in the old month is rolled into it (two journaled
//! legs, `actors/src/engine/roll.rs`).
//! Invariant: at least one business day before first notice (a long must
//! be out before it), at most 30 (about six weeks: a month further out
//! would be the front month of nothing).

use super::{invalid, Invalid};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Roll {
    pub days_before_first_notice: u16,
}

impl Roll {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(1..=30).contains(&self.days_before_first_notice) {
            return invalid(
                "roll.days_before_first_notice",
                "must be between 1 and 30 business days (a position must be out of its month before the first notice day)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roll_comes_one_to_thirty_business_days_before_first_notice() {
        let r = |days| Roll {
            days_before_first_notice: days,
        };
        assert!(r(1).validate().is_ok());
        assert!(r(30).validate().is_ok());
        assert_eq!(
            r(0).validate().unwrap_err().0,
            "roll.days_before_first_notice"
        );
        assert!(r(31).validate().unwrap_err().1.contains("first notice"));
    }
}
