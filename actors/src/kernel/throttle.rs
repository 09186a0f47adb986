//! Bounds repeated events, as OTP's logger bounds a burst: per key (an
//! actor's path and the event's kind), the first `burst` events of a window
//! pass in full; the rest of the window's are counted, and the count is one
//! summary when the window has ended. A restart storm (thousands of restarts
//! a second) then costs a few lines and rows per actor and window, not one
//! per restart, while a single failure is always seen in full.
//!
//! The keys are bounded too: past `max_keys` live windows, the events of new
//! keys share one window under [`OVERFLOW_KEY`].

use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Events per key and window that pass in full.
pub const BURST: u32 = 20;
/// The window a key's burst is counted over.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Keys with a live window at once.
pub const MAX_KEYS: usize = 16_384;
/// The key of every event whose own key found no room.
pub const OVERFLOW_KEY: &str = "(more actors)";

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// In full.
    Pass,
    /// Counted into its key's summary.
    Count,
}

/// The events of one key's window that were counted, not passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub key: String,
    pub counted: u64,
    /// How long the window ran (from its first event to its end or the
    /// event that ended it).
    pub over: Duration,
}

#[derive(Debug)]
struct Slot {
    start: Instant,
    passed: u32,
    counted: u64,
}

#[derive(Debug)]
pub struct Throttle {
    window: Duration,
    burst: u32,
    max_keys: usize,
    slots: HashMap<String, Slot>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(WINDOW, BURST, MAX_KEYS)
    }
}

impl Throttle {
    pub fn new(window: Duration, burst: u32, max_keys: usize) -> Throttle {
        Throttle {
            window,
            burst: burst.max(1),
            max_keys: max_keys.max(1),
            slots: HashMap::new(),
        }
    }

    /// The verdict on one event of `key` at `now`, and the summary of the
    /// key's previous window if it ended with events counted (to be told
    /// before this event).
    pub fn admit(&mut self, key: &str, now: Instant) -> (Admit, Option<Summary>) {
        let key = if self.slots.contains_key(key) || self.slots.len() < self.max_keys {
            key
        } else {
            self.sweep_idle(now);
            if self.slots.contains_key(key) || self.slots.len() < self.max_keys {
                key
            } else {
                OVERFLOW_KEY
            }
        };
        let window = self.window;
        let slot = self.slots.entry(key.to_owned()).or_insert(Slot {
            start: now,
            passed: 0,
            counted: 0,
        });
        let mut summary = None;
        if now.saturating_duration_since(slot.start) >= window {
            if slot.counted > 0 {
                summary = Some(Summary {
                    key: key.to_owned(),
                    counted: slot.counted,
                    over: now.saturating_duration_since(slot.start),
                });
            }
            *slot = Slot {
                start: now,
                passed: 0,
                counted: 0,
            };
        }
        if slot.passed < self.burst {
            slot.passed += 1;
            (Admit::Pass, summary)
        } else {
            slot.counted += 1;
            (Admit::Count, summary)
        }
    }

    /// [`Throttle::admit`] now (tokio's clock: paused in tests).
    pub fn admit_now(&mut self, key: &str) -> (Admit, Option<Summary>) {
        self.admit(key, Instant::now())
    }

    /// The summaries of every window that has ended with events counted;
    /// their keys start afresh. Called now and then, so a storm that stopped
    /// is still summed up.
    pub fn ended(&mut self, now: Instant) -> Vec<Summary> {
        self.take(now, self.window)
    }

    /// The summaries of every window with events counted, ended or not;
    /// every key starts afresh (at a stop).
    pub fn all(&mut self, now: Instant) -> Vec<Summary> {
        self.take(now, Duration::ZERO)
    }

    fn take(&mut self, now: Instant, window: Duration) -> Vec<Summary> {
        let mut out = Vec::new();
        self.slots.retain(|key, slot| {
            let over = now.saturating_duration_since(slot.start);
            if over < window {
                return true;
            }
            if slot.counted > 0 {
                out.push(Summary {
                    key: key.clone(),
                    counted: slot.counted,
                    over,
                });
            }
            false
        });
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Drops the ended windows that counted nothing (nothing to summarise).
    fn sweep_idle(&mut self, now: Instant) {
        let window = self.window;
        self.slots
            .retain(|_, s| s.counted > 0 || now.saturating_duration_since(s.start) < window);
    }

    /// Keys with a window.
    pub fn keys(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_the_rest_is_counted_and_summed_up_once() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(10), 3, 8);
        let verdicts: Vec<Admit> = (0..5).map(|_| t.admit("a", t0).0).collect();
        assert_eq!(
            verdicts,
            [
                Admit::Pass,
                Admit::Pass,
                Admit::Pass,
                Admit::Count,
                Admit::Count
            ]
        );
        // Another key has its own burst.
        assert_eq!(t.admit("b", t0), (Admit::Pass, None));
        // The next window: the summary of the last one comes first.
        let (admit, summary) = t.admit("a", t0 + Duration::from_secs(10));
        assert_eq!(admit, Admit::Pass);
        assert_eq!(
            summary,
            Some(Summary {
                key: "a".into(),
                counted: 2,
                over: Duration::from_secs(10)
            })
        );
        assert_eq!(t.admit("a", t0 + Duration::from_secs(11)).1, None);
    }

    #[test]
    fn a_storm_that_stopped_is_still_summed_up() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(10), 1, 8);
        for _ in 0..1_000 {
            t.admit("a", t0);
        }
        t.admit("quiet", t0);
        assert!(t.ended(t0 + Duration::from_secs(9)).is_empty());
        let ended = t.ended(t0 + Duration::from_secs(10));
        assert_eq!(ended.len(), 1, "only the key that counted: {ended:?}");
        assert_eq!(ended[0].counted, 999);
        assert_eq!(t.keys(), 0, "both windows ended");
        for _ in 0..3 {
            t.admit("b", t0);
        }
        let all = t.all(t0 + Duration::from_secs(1));
        assert_eq!(all[0].counted, 2, "an open window, summed up at a stop");
    }

    #[test]
    fn keys_are_bounded_and_the_rest_share_one_window() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(10), 1, 2);
        t.admit("a", t0);
        t.admit("b", t0);
        assert_eq!(t.admit("c", t0).0, Admit::Pass, "the overflow's first");
        assert_eq!(t.admit("d", t0).0, Admit::Count, "shares c's window");
        assert_eq!(t.keys(), 3);
        // Idle windows make room again once they have ended.
        assert_eq!(
            t.admit("e", t0 + Duration::from_secs(10)).0,
            Admit::Pass,
            "a and b ended idle: room for e"
        );
        assert!(t.keys() <= 3);
    }
}
