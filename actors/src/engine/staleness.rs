//! Market-data staleness (the seed's market monitor). While its contract's market
//! is open (the trading calendar), an engine whose bars stop for longer than
//! `max_gap` is stale: a `stale` event, a notification, and the engine opens
//! nothing new until bars come back (`recovered`). The second gap in one market
//! day also raises the portfolio risk level to WARNING.
//!
//! [`Staleness`] is the pure rule. [`DataHealth`] holds it for the engine's
//! subtree: the sentinel writes it, the engine's risk step reads
//! [`DataHealth::stale`], and it outlives restarts of either.
//!
//! Invariant: staleness is judged only while the market is open, from the later
//! of the last bar and the session's open, so a night or a holiday is never a gap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No bar for `gap_ms` of open market; `gaps_today` counts this one.
    Stale { gap_ms: u64, gaps_today: u32 },
    /// Bars are back after `stale_for_ms`.
    Recovered { stale_for_ms: u64 },
}

/// The rule, over market milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staleness {
    last_data_ms: Option<u64>,
    /// When the current watcher (the sentinel instance) started: no gap is
    /// counted from before it, so a start mid-session is not a gap.
    watching_since_ms: u64,
    stale_since: Option<u64>,
    /// The New York day `gaps` counts for.
    day: i64,
    gaps: u32,
}

impl Staleness {
    /// A watcher starts at `now_ms` (the daemon, or the engine after a stop or
    /// a restart): gaps count from here at the earliest. A stale state stays
    /// until data returns.
    pub fn watch_from(&mut self, now_ms: u64) {
        self.watching_since_ms = now_ms;
    }

    /// A bar arrived at `now_ms`.
    pub fn on_data(&mut self, now_ms: u64) -> Option<Change> {
        self.last_data_ms = Some(now_ms);
        self.stale_since.take().map(|since| Change::Recovered {
            stale_for_ms: now_ms.saturating_sub(since),
        })
    }

    /// Looks at the gap at `now_ms`. `session`: the open of the session under
    /// way (Unix ms) and its New York day, or `None` while the market is
    /// closed. `max_gap_ms = 0` turns the rule off.
    pub fn check(
        &mut self,
        now_ms: u64,
        max_gap_ms: u64,
        session: Option<(u64, i64)>,
    ) -> Option<Change> {
        if max_gap_ms == 0 || self.stale_since.is_some() {
            return None;
        }
        let (open_ms, day) = session?;
        let since = self
            .last_data_ms
            .map_or(open_ms, |last| last.max(open_ms))
            .max(self.watching_since_ms);
        let gap_ms = now_ms.saturating_sub(since);
        if gap_ms <= max_gap_ms {
            return None;
        }
        if self.day != day {
            self.day = day;
            self.gaps = 0;
        }
        self.gaps += 1;
        self.stale_since = Some(now_ms);
        Some(Change::Stale {
            gap_ms,
            gaps_today: self.gaps,
        })
    }

    pub fn is_stale(&self) -> bool {
        self.stale_since.is_some()
    }
}

/// One engine's data health, shared by its sentinel (writer) and its risk
/// step (reader).
#[derive(Debug, Default)]
pub struct DataHealth {
    stale: AtomicBool,
    rule: Mutex<Staleness>,
}

impl DataHealth {
    /// Whether the engine's market data is stale now.
    pub fn stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// Runs `f` on the rule and publishes its verdict.
    pub fn with<R>(&self, f: impl FnOnce(&mut Staleness) -> R) -> R {
        let mut rule = self.rule.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut rule);
        self.stale.store(rule.is_stale(), Ordering::Release);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn a_gap_in_open_market_is_stale_until_data_returns() {
        let mut s = Staleness::default();
        let open = 1_000 * MIN;
        let session = Some((open, 7));
        // Before any bar, the gap counts from the session's open.
        assert_eq!(s.check(open + 5 * MIN, 5 * MIN, session), None);
        assert_eq!(
            s.check(open + 5 * MIN + 1, 5 * MIN, session),
            Some(Change::Stale {
                gap_ms: 5 * MIN + 1,
                gaps_today: 1
            })
        );
        assert!(s.is_stale());
        assert_eq!(s.check(open + 9 * MIN, 5 * MIN, session), None, "once");
        assert_eq!(
            s.on_data(open + 10 * MIN),
            Some(Change::Recovered {
                stale_for_ms: 5 * MIN - 1
            })
        );
        assert!(!s.is_stale());
        assert_eq!(s.on_data(open + 11 * MIN), None);
        // The second gap of the day says so.
        assert_eq!(
            s.check(open + 17 * MIN, 5 * MIN, session),
            Some(Change::Stale {
                gap_ms: 6 * MIN,
                gaps_today: 2
            })
        );
        // A new day starts counting again.
        s.on_data(open + 18 * MIN);
        let next = Some((open + 1_440 * MIN, 8));
        assert_eq!(
            s.check(open + 1_446 * MIN, 5 * MIN, next),
            Some(Change::Stale {
                gap_ms: 6 * MIN,
                gaps_today: 1
            }),
            "the gap counts from the new session's open, not from yesterday's last bar"
        );
    }

    #[test]
    fn a_watcher_started_mid_session_counts_from_its_start() {
        let mut s = Staleness::default();
        let open = 1_000 * MIN;
        s.on_data(open - 600 * MIN); // yesterday's last bar
        s.watch_from(open + 120 * MIN);
        let session = Some((open, 7));
        assert_eq!(s.check(open + 121 * MIN, 5 * MIN, session), None);
        assert!(matches!(
            s.check(open + 126 * MIN, 5 * MIN, session),
            Some(Change::Stale { gap_ms, .. }) if gap_ms == 6 * MIN
        ));
    }

    #[test]
    fn a_closed_market_or_a_zero_gap_is_never_stale() {
        let mut s = Staleness::default();
        s.on_data(0);
        assert_eq!(s.check(1_000 * MIN, 5 * MIN, None), None, "closed");
        assert_eq!(s.check(1_000 * MIN, 0, Some((0, 0))), None, "off");
        assert!(!s.is_stale());
    }

    #[test]
    fn the_shared_health_publishes_the_verdict() {
        let h = DataHealth::default();
        h.with(|s| s.check(10 * MIN, MIN, Some((0, 0))));
        assert!(h.stale());
        h.with(|s| s.on_data(11 * MIN));
        assert!(!h.stale());
    }
}
