//! The reconciliation's pure rules: when a market day is due (after the last
//! close of the day's contracts, from the trading calendar), which day comes
//! next for a contract, and the words of the day's summary.

use crate::journal::DayCounts;
use crate::model::calendar::calendar;
use crate::model::{civil_from_days, new_york_offset_min};
use rust_decimal::Decimal;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

/// Unix ms of minute `minute` of New York day `day`.
pub fn new_york_ms(day: i64, minute: u16) -> u64 {
    let local = day * DAY_MS + i64::from(minute) * 60_000;
    // The offset at that moment (EST first; a switch is at 02:00 local, so
    // no session's close is near one).
    let utc_guess = local + 300 * 60_000;
    (local - new_york_offset_min(utc_guess.max(0) as u64) * 60_000).max(0) as u64
}

/// The New York day (days since the epoch) of `at_ms`.
pub fn new_york_day(at_ms: u64) -> i64 {
    (at_ms as i64 + new_york_offset_min(at_ms) * 60_000).div_euclid(DAY_MS)
}

/// When the last of `symbols` closes on New York day `day` (Unix ms);
/// `None` when none of them trades that day.
pub fn last_close_ms(symbols: &[String], day: i64) -> Option<u64> {
    symbols
        .iter()
        .filter_map(|s| calendar().session(s, day).ok())
        .map(|(_, close)| new_york_ms(day, close))
        .max()
}

/// The latest market day (at most a fortnight back) whose last close plus
/// `after` is at or before `now_ms`: the day a reconciliation now covers.
pub fn due_day(symbols: &[String], now_ms: u64, after: Duration) -> Option<i64> {
    let today = new_york_day(now_ms);
    (today - 14..=today).rev().find(|&d| {
        last_close_ms(symbols, d)
            .is_some_and(|close| close.saturating_add(after.as_millis() as u64) <= now_ms)
    })
}

/// The next New York day after `day` on which `symbol` trades (within a
/// fortnight; `None` past the calendar's years).
pub fn next_session(symbol: &str, day: i64) -> Option<i64> {
    (day + 1..=day + 14).find(|&d| calendar().session(symbol, d).is_ok())
}

/// `YYYY-MM-DD` of New York day `day`.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day's summary in one line: PnL since the last reconciliation (or
/// since the configured capital, at the first), fills, outcomes, restarts,
/// risk changes, and what the reconciliation found.
pub fn summary_line(
    day: i64,
    equity: Decimal,
    pnl: Decimal,
    counts: &DayCounts,
    matched: usize,
    differ: usize,
    not_asked: usize,
) -> String {
    let outcomes = if counts.outcomes.is_empty() {
        "none".to_owned()
    } else {
        counts
            .outcomes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sign = if pnl > Decimal::ZERO { "+" } else { "" };
    let found = match (differ, not_asked) {
        (0, 0) => format!("{matched} engine(s) match the broker"),
        (d, 0) => format!("{d} engine(s) differ from the broker, {matched} match"),
        (d, n) => format!(
            "{d} engine(s) differ from the broker, {n} could not be compared, {matched} match"
        ),
    };
    format!(
        "{}: pnl {sign}{} (equity {}); fills {}; outcomes: {outcomes}; restarts {}; risk changes {}; {found}",
        date(day),
        pnl.round_dp(2).normalize(),
        equity.round_dp(2).normalize(),
        counts.fills,
        counts.restarts,
        counts.risk_changes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::days_from_civil;

    fn kc_cc() -> Vec<String> {
        vec!["KC".into(), "CC".into()]
    }

    #[test]
    fn a_day_is_due_after_its_last_close_and_the_delay() {
        // Monday 2026-01-05: KC and CC close 13:30 New York (18:30 UTC, EST).
        let mon = days_from_civil(2026, 1, 5);
        let close = new_york_ms(mon, 13 * 60 + 30);
        assert_eq!(close, (mon * DAY_MS) as u64 + (18 * 60 + 30) * 60_000);
        assert_eq!(last_close_ms(&kc_cc(), mon), Some(close));
        let after = Duration::from_secs(15 * 60);
        let due = |at: u64| due_day(&kc_cc(), at, after);
        assert_eq!(due(close + 15 * 60_000 - 1), Some(mon - 3), "Friday before");
        assert_eq!(due(close + 15 * 60_000), Some(mon));
        // The weekend has no close: Monday stays the day due until Tuesday's.
        let sat = new_york_ms(mon + 5, 12 * 60);
        assert_eq!(due(sat), Some(mon + 4), "Friday");
        assert_eq!(due(new_york_ms(mon + 7, 13 * 60)), Some(mon + 4));
    }

    #[test]
    fn summer_time_moves_the_close_in_utc() {
        // 2026-07-06 (EDT, UTC-4): 13:30 New York is 17:30 UTC.
        let d = days_from_civil(2026, 7, 6);
        assert_eq!(
            new_york_ms(d, 13 * 60 + 30),
            (d * DAY_MS) as u64 + (17 * 60 + 30) * 60_000
        );
        assert_eq!(new_york_day(new_york_ms(d, 23 * 60 + 59)), d);
        assert_eq!(new_york_day(new_york_ms(d, 0)), d);
    }

    #[test]
    fn the_next_session_skips_weekends_and_holidays() {
        // Friday 2026-07-02 → Monday 2026-07-06 (Friday 3 July is the
        // Independence Day holiday observed).
        let thu = days_from_civil(2026, 7, 2);
        assert_eq!(next_session("KC", thu), Some(days_from_civil(2026, 7, 6)));
        let fri = days_from_civil(2026, 1, 9);
        assert_eq!(next_session("CC", fri), Some(days_from_civil(2026, 1, 12)));
        // Past the calendar's years: none.
        assert_eq!(next_session("KC", days_from_civil(2040, 1, 2)), None);
        assert_eq!(date(thu), "2026-07-02");
    }

    #[test]
    fn the_summary_says_what_happened() {
        let c = DayCounts {
            fills: 3,
            outcomes: vec![("executed".into(), 3), ("vetoed".into(), 2)],
            restarts: 1,
            risk_changes: 0,
        };
        let day = days_from_civil(2026, 1, 5);
        assert_eq!(
            summary_line(day, "501234.567".parse().unwrap(), "1234.5".parse().unwrap(), &c, 2, 0, 0),
            "2026-01-05: pnl +1234.5 (equity 501234.57); fills 3; outcomes: executed 3, vetoed 2; restarts 1; risk changes 0; 2 engine(s) match the broker"
        );
        let quiet = summary_line(
            day,
            Decimal::ZERO,
            Decimal::from(-7),
            &DayCounts::default(),
            1,
            1,
            0,
        );
        assert!(
            quiet.contains("pnl -7 ") && quiet.contains("outcomes: none"),
            "{quiet}"
        );
        assert!(
            quiet.ends_with("1 engine(s) differ from the broker, 1 match"),
            "{quiet}"
        );
        let partial = summary_line(day, Decimal::ZERO, Decimal::ZERO, &c, 0, 1, 1);
        assert!(
            partial
                .ends_with("1 engine(s) differ from the broker, 1 could not be compared, 0 match"),
            "{partial}"
        );
    }
}
