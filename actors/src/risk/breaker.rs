//! The execution circuit breaker of one engine: `threshold` consecutive broker
//! failures open it; `cooldown` later one trial order is let through (half-open);
//! the trial's success closes it, its failure opens it again. Times are the
//! engine clock's milliseconds, so the machine runs the same on paused time.
//!
//! The breaker alone knows which order is its trial (reserved when admitted,
//! named once sent): the engine asks it, never keeps its own copy.

use crate::journal::BreakerRecord;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What the breaker says about the next order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    Pass,
    /// The one order a half-open breaker lets through.
    Trial,
    Refuse(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    state: BreakerState,
    failures: u32,
    opened_at_ms: u64,
    trial: Trial,
    opens: u64,
}

/// The half-open breaker's one trial order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trial {
    None,
    /// Admitted, not sent yet.
    Reserved,
    /// Sent under this client order id.
    Sent(String),
}

impl Breaker {
    pub fn new(threshold: u32, cooldown_ms: u64) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown_ms,
            state: BreakerState::Closed,
            failures: 0,
            opened_at_ms: 0,
            trial: Trial::None,
            opens: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }
    pub fn failures(&self) -> u32 {
        self.failures
    }
    pub fn opens(&self) -> u64 {
        self.opens
    }
    /// When it opened last, while it is open or half-open.
    pub fn opened_at_ms(&self) -> Option<u64> {
        (self.state != BreakerState::Closed).then_some(self.opened_at_ms)
    }

    /// What the journal keeps of it (a half-open breaker is journaled open:
    /// after a restart its cooldown has passed and the next order is its
    /// trial again).
    pub fn record(&self) -> BreakerRecord {
        BreakerRecord {
            opened_at_ms: (self.state != BreakerState::Closed).then_some(self.opened_at_ms),
            opens: self.opens,
        }
    }

    /// A breaker as journaled: an open one has seen `threshold` failures.
    pub fn from_record(threshold: u32, cooldown_ms: u64, rec: BreakerRecord) -> Breaker {
        let mut b = Breaker::new(threshold, cooldown_ms);
        b.opens = rec.opens;
        if let Some(at) = rec.opened_at_ms {
            b.state = BreakerState::Open;
            b.opened_at_ms = at;
            b.failures = b.threshold;
        }
        b
    }

    /// Asks to send one order at `now_ms`. Returns the answer and whether the
    /// state changed (open → half-open when the cooldown has passed).
    pub fn admit(&mut self, now_ms: u64) -> (Admit, bool) {
        match self.state {
            BreakerState::Closed => (Admit::Pass, false),
            BreakerState::Open => {
                let due = self.opened_at_ms.saturating_add(self.cooldown_ms);
                if now_ms >= due {
                    self.state = BreakerState::HalfOpen;
                    self.trial = Trial::Reserved;
                    (Admit::Trial, true)
                } else {
                    let wait_s = (due - now_ms).div_ceil(1000);
                    (
                        Admit::Refuse(format!(
                            "breaker open after {} consecutive broker failures; a trial order in {wait_s} s",
                            self.failures
                        )),
                        false,
                    )
                }
            }
            BreakerState::HalfOpen if self.trial != Trial::None => (
                Admit::Refuse("breaker half-open: its trial order is in flight".to_owned()),
                false,
            ),
            BreakerState::HalfOpen => {
                self.trial = Trial::Reserved;
                (Admit::Trial, false)
            }
        }
    }

    /// The broker accepted an order. Returns the new state if it changed.
    pub fn on_success(&mut self) -> Option<BreakerState> {
        self.failures = 0;
        if self.state == BreakerState::HalfOpen {
            self.state = BreakerState::Closed;
            self.trial = Trial::None;
            return Some(BreakerState::Closed);
        }
        None
    }

    /// The broker failed an order (unavailable, timed out, or its executor was
    /// down). Returns the new state if it changed.
    pub fn on_failure(&mut self, now_ms: u64) -> Option<BreakerState> {
        self.failures = self.failures.saturating_add(1);
        let open = match self.state {
            BreakerState::Closed => self.failures >= self.threshold,
            BreakerState::HalfOpen => true,
            // Orders sent before it opened, failing late: it stays open from
            // its first opening.
            BreakerState::Open => false,
        };
        if open {
            self.state = BreakerState::Open;
            self.opened_at_ms = now_ms;
            self.trial = Trial::None;
            self.opens += 1;
            return Some(BreakerState::Open);
        }
        None
    }

    /// A trial order that ended without reaching the broker (refused before
    /// it): the next order is the trial.
    pub fn trial_abandoned(&mut self) {
        self.trial = Trial::None;
    }

    /// The admitted trial was sent as order `id`.
    pub fn trial_sent(&mut self, id: &str) {
        if self.trial == Trial::Reserved {
            self.trial = Trial::Sent(id.to_owned());
        }
    }

    /// Order `id` is the trial in flight.
    pub fn is_trial(&self, id: &str) -> bool {
        matches!(&self.trial, Trial::Sent(t) if t == id)
    }

    /// Order `id` was filled. Half-open, only the trial's result counts (an
    /// order sent before it opened may settle late). Returns the new state if
    /// it changed.
    pub fn order_filled(&mut self, id: &str) -> Option<BreakerState> {
        if self.state == BreakerState::HalfOpen && !self.is_trial(id) {
            return None;
        }
        self.on_success()
    }

    /// Order `id` failed at the broker (or its executor was down); as
    /// [`Breaker::order_filled`], half-open only the trial counts.
    pub fn order_failed(&mut self, id: &str, now_ms: u64) -> Option<BreakerState> {
        if self.state == BreakerState::HalfOpen && !self.is_trial(id) {
            return None;
        }
        self.on_failure(now_ms)
    }

    /// Order `id` ended without reaching the broker's verdict (refused for
    /// itself, or settled without word): if it was the trial, the next order
    /// is the trial.
    pub fn order_dropped(&mut self, id: &str) {
        if self.is_trial(id) {
            self.trial_abandoned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_closes_on_a_trial_success() {
        let mut b = Breaker::new(3, 60_000);
        assert_eq!(b.on_failure(1), None);
        assert_eq!(b.on_success(), None, "a success resets the count");
        assert_eq!((b.on_failure(2), b.on_failure(3)), (None, None));
        assert_eq!(b.on_failure(10), Some(BreakerState::Open));
        assert!(matches!(b.admit(60_009), (Admit::Refuse(_), false)));
        assert_eq!(b.admit(60_010), (Admit::Trial, true));
        assert!(matches!(b.admit(60_011).0, Admit::Refuse(_)), "one trial");
        assert_eq!(b.on_success(), Some(BreakerState::Closed));
        assert_eq!(b.admit(60_012), (Admit::Pass, false));
        assert_eq!(b.opens(), 1);
    }

    #[test]
    fn a_failed_trial_opens_it_again_from_then() {
        let mut b = Breaker::new(1, 1_000);
        assert_eq!(b.on_failure(0), Some(BreakerState::Open));
        assert_eq!(
            b.on_failure(500),
            None,
            "late failures keep the first opening"
        );
        assert_eq!(b.admit(1_000).0, Admit::Trial);
        assert_eq!(b.on_failure(1_200), Some(BreakerState::Open));
        assert!(matches!(b.admit(2_199).0, Admit::Refuse(_)));
        assert_eq!(b.admit(2_200).0, Admit::Trial);
        b.trial_abandoned();
        assert_eq!(
            b.admit(2_201).0,
            Admit::Trial,
            "an abandoned trial is retried"
        );
        assert_eq!(b.opens(), 2);
    }

    #[test]
    fn the_journal_form_keeps_an_open_breaker_open_until_its_cooldown() {
        let mut b = Breaker::new(2, 60_000);
        b.on_failure(5);
        b.on_failure(7);
        let s = b.record().encode();
        assert_eq!(s, "open:7:1");
        let decode = |s: &str| BreakerRecord::decode(s).map(|r| Breaker::from_record(2, 60_000, r));
        let mut r = decode(&s).unwrap();
        assert_eq!(r.state(), BreakerState::Open);
        assert_eq!(r.failures(), 2);
        assert!(matches!(r.admit(60_006).0, Admit::Refuse(_)));
        assert_eq!(r.admit(60_007).0, Admit::Trial);
        let closed = decode("closed:4").unwrap();
        assert_eq!((closed.opens(), closed.state()), (4, BreakerState::Closed));
        assert_eq!(decode("ajar"), None);
        assert_eq!(decode("open:x:1"), None);
    }

    #[test]
    fn only_the_trial_counts_while_half_open() {
        let mut b = Breaker::new(1, 1_000);
        assert_eq!(b.on_failure(0), Some(BreakerState::Open));
        assert_eq!(b.admit(1_000), (Admit::Trial, true));
        b.trial_sent("KC-news-00000002");
        assert!(b.is_trial("KC-news-00000002"));
        assert_eq!(b.order_failed("KC-news-00000001", 1_001), None, "late");
        assert_eq!(b.order_filled("KC-news-00000001"), None, "late");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.order_dropped("KC-news-00000001");
        assert!(
            matches!(b.admit(1_002).0, Admit::Refuse(_)),
            "still in flight"
        );
        b.order_dropped("KC-news-00000002");
        assert_eq!(
            b.admit(1_003).0,
            Admit::Trial,
            "dropped: the next is the trial"
        );
        b.trial_sent("KC-news-00000003");
        assert_eq!(
            b.order_filled("KC-news-00000003"),
            Some(BreakerState::Closed)
        );
        assert!(!b.is_trial("KC-news-00000003"));
    }
}
