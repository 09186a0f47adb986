//! IB's pacing limits, enforced before IB enforces them, pure (time is
//! passed in). IB disconnects a client that sends more than 50 messages a
//! second, and refuses market data beyond the account's lines (100 by
//! default); commodore stays under both: every message waits for a token
//! of a bucket refilled at `per_second`, and a market data request beyond
//! `lines` is refused here with what to do.

use std::time::Duration;

/// A token bucket: `per_second` messages a second, in bursts of at most
/// `per_second` (one second's worth).
#[derive(Debug, Clone)]
pub struct Pacer {
    per_second: u32,
    /// Tokens, in millionths, so refills are exact.
    tokens_micro: u64,
    last_micros: u64,
}

impl Pacer {
    /// `per_second` 0 turns pacing off (for a test of IB's own limit).
    pub fn new(per_second: u32) -> Pacer {
        Pacer {
            per_second,
            tokens_micro: u64::from(per_second) * 1_000_000,
            last_micros: 0,
        }
    }

    /// Takes a token at `now` (micros since any fixed start): `None` when
    /// the message may go now, or how long to wait before asking again.
    pub fn take(&mut self, now_micros: u64) -> Option<Duration> {
        if self.per_second == 0 {
            return None;
        }
        let full = u64::from(self.per_second) * 1_000_000;
        let elapsed = now_micros.saturating_sub(self.last_micros);
        self.last_micros = self.last_micros.max(now_micros);
        self.tokens_micro = (self.tokens_micro + elapsed * u64::from(self.per_second)).min(full);
        if self.tokens_micro >= 1_000_000 {
            self.tokens_micro -= 1_000_000;
            None
        } else {
            let missing = 1_000_000 - self.tokens_micro;
            Some(Duration::from_micros(
                missing.div_ceil(u64::from(self.per_second)),
            ))
        }
    }
}

/// Market data lines in use, against the account's allowance.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    limit: u32,
    used: u32,
}

impl Lines {
    pub fn new(limit: u32) -> Lines {
        Lines { limit, used: 0 }
    }

    /// Takes a line, or says why not.
    pub fn take(&mut self, what: &str) -> Result<(), String> {
        if self.used >= self.limit {
            return Err(format!(
                "{what}: all {} market data lines are in use (broker.ib.market_data_lines): \
                 raise it to what the IB account allows, or subscribe fewer contracts",
                self.limit
            ));
        }
        self.used += 1;
        Ok(())
    }

    pub fn release(&mut self) {
        self.used = self.used.saturating_sub(1);
    }

    pub fn used(&self) -> u32 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_second_then_one_message_per_slot() {
        let mut p = Pacer::new(10);
        let t0 = 5_000_000;
        for _ in 0..10 {
            assert_eq!(p.take(t0), None);
        }
        // The eleventh waits a tenth of a second.
        assert_eq!(p.take(t0), Some(Duration::from_millis(100)));
        assert_eq!(p.take(t0 + 50_000), Some(Duration::from_millis(50)));
        assert_eq!(p.take(t0 + 100_000), None);
        assert!(p.take(t0 + 100_000).is_some());
        // Over any second, at most per_second + the burst go.
        let mut p = Pacer::new(40);
        let sent = (0..2_000_000u64)
            .step_by(1000)
            .filter(|t| p.take(*t).is_none())
            .count();
        assert!(sent <= 40 + 80, "{sent}");
        assert!(sent >= 40 + 79, "{sent}");
    }

    #[test]
    fn off_lets_everything_go() {
        let mut p = Pacer::new(0);
        assert!((0..1000).all(|_| p.take(0).is_none()));
    }

    #[test]
    fn lines_are_refused_beyond_the_allowance() {
        let mut l = Lines::new(2);
        l.take("KCH26").unwrap();
        l.take("KCK26").unwrap();
        let e = l.take("KCN26").unwrap_err();
        assert!(e.contains("all 2 market data lines are in use"), "{e}");
        l.release();
        l.take("KCN26").unwrap();
        assert_eq!(l.used(), 2);
    }
}
