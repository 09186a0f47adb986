//! The one clock of the daemon: market time. Nothing outside this module and
//! the kernel reads the time: every actor and service that needs it is handed
//! a [`Clock`], made once when the tree is assembled.
//!
//! A `Clock` reads market milliseconds: where the market was when the clock
//! was made, advanced by tokio's clock at the clock's speed. [`Clock::wall`]
//! is the wall clock (speed 1, live data); [`Clock::market`] starts at a
//! market time of the data and runs `speed` times tokio's clock (`run` on the
//! bundled data at `feed.speed`; `replay` the same, on tokio's paused clock,
//! so nothing waits). The market sequencer (`crate::market`) delivers each
//! bar and headline when this clock reaches its time, so whatever reads the
//! clock sees only what the market has already said. Timers that are market
//! durations (the batch window) are turned into tokio's by [`Clock::span`].
//! It is `Copy`.

use std::time::Duration;

/// Speeds are kept in thousandths: exact integer arithmetic, so a replay's
/// clock reads the same milliseconds run after run.
const SCALE: u128 = 1_000;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
    /// Market milliseconds per 1,000 of tokio's milliseconds.
    rate: u64,
}

impl Clock {
    /// The clock of this process on live data: wall time now, advanced by
    /// tokio's clock (paused or not). Make it once, at assembly, and hand it
    /// down.
    pub fn wall() -> Clock {
        Clock::market(wall_now_ms(), 1.0)
    }

    /// Market time from `start_ms`, running `speed` times tokio's clock
    /// (clamped to 0.001 ..= 1,000,000).
    pub fn market(start_ms: u64, speed: f64) -> Clock {
        let rate = (speed.clamp(0.001, 1_000_000.0) * SCALE as f64).round() as u64;
        Clock {
            base_ms: start_ms,
            base: tokio::time::Instant::now(),
            rate: rate.max(1),
        }
    }

    /// Market milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let elapsed = self.base.elapsed().as_nanos();
        self.base_ms + (elapsed * u128::from(self.rate) / (SCALE * 1_000_000)) as u64
    }

    /// Tokio's instant now, for deadlines and timeouts on this clock.
    pub fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }

    /// How long (on tokio's clock) a market span of `market` takes.
    pub fn span(&self, market: Duration) -> Duration {
        let nanos = market.as_nanos() * SCALE / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How long (on tokio's clock) until this clock reads `at_ms`; zero when
    /// it already does. After sleeping that long, `now_ms() >= at_ms`.
    pub fn until(&self, at_ms: u64) -> Duration {
        let Some(ahead) = at_ms.checked_sub(self.base_ms) else {
            return Duration::ZERO;
        };
        // The first tokio nanosecond at which the market reads `at_ms`.
        let per = SCALE * 1_000_000;
        let due = (u128::from(ahead) * per).div_ceil(u128::from(self.rate));
        let elapsed = self.base.elapsed().as_nanos();
        Duration::from_nanos(u64::try_from(due.saturating_sub(elapsed)).unwrap_or(u64::MAX))
    }

    /// The market's speed against tokio's clock.
    pub fn speed(&self) -> f64 {
        self.rate as f64 / SCALE as f64
    }
}

/// Milliseconds since the Unix epoch, read from the system: the base of
/// [`Clock::wall`], and nothing else's.
fn wall_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How long a piece of work took, in real (monotonic) time: for the
/// latency histograms of `/metrics`, never for a decision. Under a replay's
/// paused clock it still measures the machine's time.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    /// Seconds since [`Stopwatch::start`].
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn market_time_runs_at_its_speed_and_until_lands_on_the_time() {
        tokio::time::pause();
        let c = Clock::market(1_000_000, 60.0);
        assert_eq!(c.now_ms(), 1_000_000);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = c.now_ms();
        assert!(
            (1_060_000..1_060_000 + 61).contains(&now),
            "a second of tokio time is a market minute: {now}"
        );
        assert_eq!(c.span(Duration::from_secs(60)), Duration::from_secs(1));
        // Tokio's timers tick in milliseconds: a market time lands within
        // two ticks (60 market ms each at speed 60), never before.
        for at in [1_120_000, 1_234_567, 1_234_600] {
            tokio::time::sleep(c.until(at)).await;
            let now = c.now_ms();
            assert!(
                (at..at + 121).contains(&now),
                "slept until {at}, reads {now}"
            );
        }
        assert_eq!(c.until(5), Duration::ZERO, "the past is due now");
        let w = Clock::market(7, 1.0);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!((1_507..=1_508).contains(&w.now_ms()), "{}", w.now_ms());
    }
}
