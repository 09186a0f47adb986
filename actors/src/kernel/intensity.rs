//! Pure restart bookkeeping: the intensity window and the backoff schedule.
//!
//! No actors, no clocks of their own: callers pass `Instant`s, so unit tests and the
//! property test drive these with any timeline they like.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restart intensity, OTP style: at most `max_restarts` restarts within `period`.
/// The `max_restarts + 1`-th restart inside one period means the supervisor gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: u32,
    pub period: Duration,
}

/// A sliding window of restart instants. Bounded: it never holds more than
/// `max_restarts + 1` entries, however long the supervisor runs.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    limit: Intensity,
    at: VecDeque<Instant>,
}

impl RestartWindow {
    pub fn new(limit: Intensity) -> Self {
        // No preallocation: most children never restart, and a supervisor may
        // hold many thousands of them.
        Self {
            limit,
            at: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; returns `false` when this restart exceeds the
    /// intensity (the supervisor must give up instead of restarting).
    pub fn record(&mut self, now: Instant) -> bool {
        self.forget_before(now);
        self.at.push_back(now);
        if self.at.len() > self.limit.max_restarts as usize + 1 {
            self.at.pop_front();
        }
        self.at.len() <= self.limit.max_restarts as usize
    }

    /// Restarts recorded within the period that ends at `now`.
    pub fn recent(&mut self, now: Instant) -> u32 {
        self.forget_before(now);
        self.at.len() as u32
    }

    /// Forgets restarts more than `period` old. One exactly `period` old
    /// still counts, as in OTP (`Now - Then =< Period`).
    fn forget_before(&mut self, now: Instant) {
        while let Some(first) = self.at.front() {
            if now.saturating_duration_since(*first) > self.limit.period {
                self.at.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Backoff between restarts of one child: exponential from `min`, capped at `max`,
/// with "equal jitter" (half the step fixed, half random) so that siblings failing
/// together do not restart in lock step. `min = 0` means restart at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const NONE: Backoff = Backoff {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The upper bound of the delay before restart number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        if self.min.is_zero() {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max.max(self.min))
    }

    /// The delay before restart number `attempt`: in `[ceiling/2, ceiling]`.
    pub fn delay(&self, attempt: u32, rng: &mut SplitMix64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_nanos() as u64;
        if spread == 0 {
            return ceiling;
        }
        half + Duration::from_nanos(rng.next_u64() % (spread + 1))
    }
}

/// The project's one PRNG (SplitMix64), for jitter and the paper broker's
/// slippage: the same seed gives the same restart schedule, so a failing
/// chaos run can be replayed exactly. Nothing here needs cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Seeds from a base seed and a name (the supervisor's path), so that every
    /// supervisor has its own stream and the whole tree is still reproducible.
    pub fn for_path(seed: u64, path: &str) -> Self {
        // FNV-1a over the path, mixed into the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in path.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Self(seed ^ h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw in `[0, 1)`: the top 53 bits, as many as an `f64` holds.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn window_allows_max_restarts_then_refuses() {
        let t0 = Instant::now();
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 3,
            period: ms(1000),
        });
        assert!(w.record(t0));
        assert!(w.record(t0 + ms(10)));
        assert!(w.record(t0 + ms(20)));
        assert!(
            !w.record(t0 + ms(30)),
            "the 4th restart within the period must be refused"
        );
    }

    #[test]
    fn window_forgets_restarts_older_than_period() {
        let t0 = Instant::now();
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 2,
            period: ms(100),
        });
        assert!(w.record(t0));
        assert!(w.record(t0 + ms(50)));
        // t0 still counts exactly one period later (OTP: Now - Then =< Period)...
        assert_eq!(w.recent(t0 + ms(100)), 2);
        assert!(
            !w.record(t0 + ms(100)),
            "a third restart with the first exactly one period old"
        );
        // ... and falls out just after.
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 2,
            period: ms(100),
        });
        assert!(w.record(t0));
        assert!(w.record(t0 + ms(50)));
        assert!(w.record(t0 + ms(101)));
        assert_eq!(w.recent(t0 + ms(101)), 2);
        assert_eq!(w.recent(t0 + ms(1000)), 0);
    }

    #[test]
    fn zero_max_restarts_refuses_the_first() {
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 0,
            period: ms(100),
        });
        assert!(!w.record(Instant::now()));
    }

    #[test]
    fn window_stays_bounded() {
        let t0 = Instant::now();
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 2,
            period: ms(1_000_000),
        });
        for i in 0..10_000 {
            w.record(t0 + ms(i));
        }
        assert!(w.at.len() <= 3);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            min: ms(5),
            max: ms(30),
        };
        assert_eq!(b.ceiling(0), ms(5));
        assert_eq!(b.ceiling(1), ms(10));
        assert_eq!(b.ceiling(2), ms(20));
        assert_eq!(b.ceiling(3), ms(30));
        assert_eq!(b.ceiling(200), ms(30));
        assert_eq!(Backoff::NONE.ceiling(7), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_half_to_full_ceiling_and_varies() {
        let b = Backoff {
            min: ms(100),
            max: ms(10_000),
        };
        let mut rng = SplitMix64::new(42);
        let mut seen = std::collections::HashSet::new();
        for attempt in 0..8 {
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                let c = b.ceiling(attempt);
                assert!(d >= c / 2 && d <= c, "{d:?} outside [{:?}, {c:?}]", c / 2);
                seen.insert(d);
            }
        }
        assert!(seen.len() > 100, "jitter must actually vary the delay");
    }

    #[test]
    fn same_seed_same_schedule() {
        let b = Backoff {
            min: ms(5),
            max: ms(30_000),
        };
        let run = |seed| {
            let mut r = SplitMix64::for_path(seed, "master/engines/KC");
            (0..10).map(|a| b.delay(a, &mut r)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
