//! The momentum window: the last [`MOMENTUM_BARS`] closes and the move over
//! them. One definition for the analyzer (its momentum signals) and the
//! engine (its validator, on the bars it has marked: under conflation those
//! are fewer than the analyzer read, and the validator judges the prices the
//! engine trades at).
//!
//! Invariant: at most its window's closes (`MOMENTUM_BARS` unless a
//! momentum strategy's `window` says otherwise), oldest first.

use rust_decimal::Decimal;
use std::collections::VecDeque;

/// Bars in the momentum window.
pub const MOMENTUM_BARS: usize = 15;

#[derive(Debug, Clone)]
pub struct Momentum {
    closes: VecDeque<Decimal>,
    window: usize,
}

impl Default for Momentum {
    fn default() -> Momentum {
        Momentum::new()
    }
}

impl Momentum {
    /// A window of [`MOMENTUM_BARS`] closes.
    pub fn new() -> Momentum {
        Momentum::with_window(MOMENTUM_BARS)
    }

    /// A window of `window` closes (at least 2).
    pub fn with_window(window: usize) -> Momentum {
        let window = window.max(2);
        Momentum {
            closes: VecDeque::with_capacity(window + 1),
            window,
        }
    }

    /// A new close; the oldest leaves a full window.
    pub fn push(&mut self, close: Decimal) {
        self.closes.push_back(close);
        if self.closes.len() > self.window {
            self.closes.pop_front();
        }
    }

    /// The window holds all its closes.
    pub fn is_full(&self) -> bool {
        self.closes.len() == self.window
    }

    /// The closes in the window, oldest first.
    pub fn closes(&self) -> &VecDeque<Decimal> {
        &self.closes
    }

    /// The latest close.
    pub fn last(&self) -> Option<Decimal> {
        self.closes.back().copied()
    }

    /// The move from the first close to the last, as a fraction; `None` with
    /// fewer than two closes or a first close of zero.
    pub fn value(&self) -> Option<f64> {
        super::pipeline::momentum(&self.closes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_last_bars_and_measures_the_move() {
        let mut m = Momentum::new();
        assert_eq!(m.value(), None);
        m.push(Decimal::from(100));
        assert_eq!(m.value(), None, "one close is no move");
        for i in 1..=MOMENTUM_BARS as i64 {
            m.push(Decimal::from(100 + i));
        }
        assert!(m.is_full());
        // 101 .. 115: the first close left the window.
        assert_eq!(m.last(), Some(Decimal::from(115)));
        let v = m.value().unwrap();
        assert!((v - 14.0 / 101.0).abs() < 1e-12, "{v}");
    }
}
