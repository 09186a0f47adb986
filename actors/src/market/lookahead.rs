//! The no-look-ahead check: whoever decides or reads another engine's state
//! at market time `now` says the newest market time behind what it read; one
//! from after `now` is look-ahead, counted and the first one kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Lookahead {
    checks: AtomicU64,
    violations: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Lookahead {
    /// `who` read, at market time `now_ms`, what the market said at
    /// `seen_ms` (`what`). `false` when that is after `now_ms`.
    pub fn check(&self, who: &str, now_ms: u64, seen_ms: u64, what: &str) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        if seen_ms <= now_ms {
            return true;
        }
        if self.violations.fetch_add(1, Ordering::Relaxed) == 0 {
            let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
            *first = Some(format!(
                "{who} at market time {now_ms} read {what} from {seen_ms} ({} ms ahead)",
                seen_ms - now_ms
            ));
        }
        tracing::error!(
            who,
            now_ms,
            seen_ms,
            what,
            "look-ahead: read the market's future"
        );
        false
    }

    /// How many reads were checked.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// How many reads saw the future.
    pub fn violations(&self) -> u64 {
        self.violations.load(Ordering::Relaxed)
    }

    /// The first read that saw the future, said.
    pub fn first(&self) -> Option<String> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reads_from_the_future_and_keeps_the_first() {
        let l = Lookahead::default();
        assert!(l.check("KC", 100, 100, "its bar"));
        assert!(!l.check("KC", 100, 160, "CC's book"));
        assert!(!l.check("CC", 5, 9, "a headline"));
        assert_eq!((l.checks(), l.violations()), (3, 2));
        assert_eq!(
            l.first().unwrap(),
            "KC at market time 100 read CC's book from 160 (60 ms ahead)"
        );
    }
}
