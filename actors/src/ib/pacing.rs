//! IB's pacing limits, enforced before IB enforces them, pure (time is
//! passed in). IB disconnects a client that sends more than 50 messages a
//! second, and refuses market data beyond the account's lines (100 by
//! default); commodore stays under both: every message waits for a token
//! of a bucket refilled at `per_second`, and a market data request beyond
//! `lines` is refused here with what to do.

use std::time::Duration;

/// A sliding window: at most `per_second` messages in any second (IB
/// counts that way), so a burst of `per_second` goes at once and the next
/// waits for the oldest to leave the window.
#[derive(Debug, Clone)]
pub struct Pacer {
    per_second: u32,
    /// When the messages of the last second went (micros), oldest first;
    /// at most `per_second` of them.
    sent: std::collections::VecDeque<u64>,
}

impl Pacer {
    /// `per_second` 0 turns pacing off (for a test of IB's own limit).
    pub fn new(per_second: u32) -> Pacer {
        Pacer {
            per_second,
            sent: std::collections::VecDeque::with_capacity(per_second as usize),
        }
    }

    /// Takes a slot at `now` (micros since any fixed start): `None` when
    /// the message may go now, or how long to wait before asking again.
    pub fn take(&mut self, now_micros: u64) -> Option<Duration> {
        if self.per_second == 0 {
            return None;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now_micros.saturating_sub(*t) >= 1_000_000)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.per_second as usize {
            self.sent.push_back(now_micros);
            return None;
        }
        let oldest = self.sent.front().copied().unwrap_or(now_micros);
        Some(Duration::from_micros(
            (oldest + 1_000_000).saturating_sub(now_micros).max(1),
        ))
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
    fn a_burst_then_one_message_as_each_leaves_the_window() {
        let mut p = Pacer::new(10);
        let t0 = 5_000_000;
        for i in 0..10 {
            assert_eq!(p.take(t0 + i * 1000), None);
        }
        // The eleventh waits for the first to be a second old.
        assert_eq!(p.take(t0 + 10_000), Some(Duration::from_millis(990)));
        assert_eq!(p.take(t0 + 999_999), Some(Duration::from_micros(1)));
        assert_eq!(p.take(t0 + 1_000_000), None);
        assert!(p.take(t0 + 1_000_000).is_some());
        // In any second, at most per_second go.
        let mut p = Pacer::new(40);
        let sent: Vec<u64> = (0..3_000_000u64)
            .step_by(700)
            .filter(|t| p.take(*t).is_none())
            .collect();
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|u| **u < t + 1_000_000).count();
            assert!(in_window <= 40, "{in_window} within a second from {t}");
        }
        assert!(sent.len() >= 3 * 40 - 1, "{}", sent.len());
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
