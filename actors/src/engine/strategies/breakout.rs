//! `breakout`: a close above the highest high of the `window` bars before
//! it is an entry upward (below the lowest low: downward), at confidence
//! 0.9 (decided now: a breakout does not wait for a batch); holding, it
//! exits on a close beyond the `exit_window` bars' range the other way (a
//! long exits below their lowest low). The channel rule of the turtle
//! traders.

use super::{Intent, Logic, Own};
use crate::model::{Bar, Params, Sentiment};
use rust_decimal::Decimal;
use std::collections::VecDeque;

pub struct Breakout {
    /// (high, low) of the bars before this one, oldest first.
    bars: VecDeque<(Decimal, Decimal)>,
    window: usize,
    exit_window: usize,
}

impl Breakout {
    pub fn new(p: &Params) -> Breakout {
        let (window, exit_window) = (p.count("window"), p.count("exit_window"));
        Breakout {
            bars: VecDeque::with_capacity(window.max(exit_window) + 1),
            window,
            exit_window,
        }
    }

    /// The highest high and lowest low of the last `n` bars before this
    /// one; none until there are `n`.
    fn range(&self, n: usize) -> Option<(Decimal, Decimal)> {
        if self.bars.len() < n {
            return None;
        }
        let last = self.bars.iter().skip(self.bars.len() - n);
        let high = last.clone().map(|b| b.0).max()?;
        let low = last.map(|b| b.1).min()?;
        Some((high, low))
    }
}

impl Logic for Breakout {
    fn on_bar(&mut self, bar: &Bar, own: &Own) -> Option<Intent> {
        let c = bar.close;
        let intent = match own.direction() {
            1 => self.range(self.exit_window).and_then(|(_, low)| {
                (c < low).then(|| Intent::Exit {
                    why: format!("{c} under the {}-bar low {low}", self.exit_window),
                })
            }),
            -1 => self.range(self.exit_window).and_then(|(high, _)| {
                (c > high).then(|| Intent::Exit {
                    why: format!("{c} over the {}-bar high {high}", self.exit_window),
                })
            }),
            _ if own.flat() => self.range(self.window).and_then(|(high, low)| {
                let (sentiment, detail) = if c > high {
                    (
                        Sentiment::Bullish,
                        format!("{c} over the {}-bar high {high}", self.window),
                    )
                } else if c < low {
                    (
                        Sentiment::Bearish,
                        format!("{c} under the {}-bar low {low}", self.window),
                    )
                } else {
                    return None;
                };
                Some(Intent::Enter {
                    order: None,
                    sentiment,
                    confidence: 0.9,
                    size: None,
                    detail,
                })
            }),
            _ => None,
        };
        self.bars.push_back((bar.high, bar.low));
        if self.bars.len() > self.window.max(self.exit_window) {
            self.bars.pop_front();
        }
        intent
    }

    fn restart(&mut self) {
        self.bars.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::bar;
    use super::*;
    use crate::model::Kind;

    #[test]
    fn a_close_beyond_the_channel_enters_and_the_shorter_channel_exits() {
        let p = Params::new(
            Kind::Breakout,
            &[("window".into(), 3.0), ("exit_window".into(), 2.0)].into(),
        )
        .unwrap();
        let mut b = Breakout::new(&p);
        let flat = Own::default();
        for (i, c) in [300.0, 301.0, 300.5].into_iter().enumerate() {
            assert_eq!(b.on_bar(&bar(i as u64, c, 0.5), &flat), None);
        }
        // The 3-bar high is 301.5; 301.4 is inside, 302 is out.
        assert_eq!(b.on_bar(&bar(3, 301.4, 0.0), &flat), None);
        let Some(Intent::Enter {
            sentiment, detail, ..
        }) = b.on_bar(&bar(4, 302.0, 0.0), &flat)
        else {
            panic!("an entry")
        };
        assert_eq!(sentiment, Sentiment::Bullish);
        assert_eq!(detail, "302 over the 3-bar high 301.5");
        let long = Own {
            held: Decimal::TWO,
            ..Own::default()
        };
        // Exits under the last two bars' lowest low: 301.4, then 302, then 302.1.
        assert_eq!(b.on_bar(&bar(5, 302.5, 0.0), &long), None);
        assert_eq!(b.on_bar(&bar(6, 302.1, 0.0), &long), None);
        assert!(matches!(
            b.on_bar(&bar(7, 301.3, 0.0), &long),
            Some(Intent::Exit { .. })
        ));
    }
}
