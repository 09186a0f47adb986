//! `momentum`: the move over the last `window` front-month closes; at least
//! `trigger` (a fraction) either way is an entry its way, at most one per
//! `cooldown` bars, with a confidence that grows with the move
//! (0.5 + 50 × |move|, at most 0.95). The sentinel's directional alerts are
//! entries too (at the analyzer's confidence). It never exits by itself: an
//! opposite entry reduces the position, and the exits of issue 17's second
//! part (stops) close it.

use super::{Intent, Logic, Own};
use crate::engine::momentum::Momentum;
use crate::model::{Analyzed, Bar, Params, Sentiment, Source};

pub struct MomentumRule {
    closes: Momentum,
    window: usize,
    trigger: f64,
    cooldown: u32,
    since_signal: u32,
}

impl MomentumRule {
    pub fn new(p: &Params) -> MomentumRule {
        let (window, cooldown) = (p.count("window"), p.count("cooldown") as u32);
        MomentumRule {
            closes: Momentum::with_window(window),
            window,
            trigger: p.get("trigger"),
            cooldown,
            // The first signal may come as soon as the window is full.
            since_signal: cooldown,
        }
    }
}

impl Logic for MomentumRule {
    fn on_bar(&mut self, bar: &Bar, _: &Own) -> Option<Intent> {
        self.closes.push(bar.close);
        self.since_signal = self.since_signal.saturating_add(1);
        let m = self.closes.value()?;
        if !self.closes.is_full() || m.abs() < self.trigger || self.since_signal < self.cooldown {
            return None;
        }
        self.since_signal = 0;
        Some(Intent::Enter {
            order: None,
            sentiment: if m > 0.0 {
                Sentiment::Bullish
            } else {
                Sentiment::Bearish
            },
            confidence: (0.5 + m.abs() * 50.0).min(0.95),
            size: None,
            detail: format!("{:+.2}% over {} bars", m * 100.0, self.window),
        })
    }

    fn on_reading(&mut self, r: &Analyzed, _: &Own) -> Option<Intent> {
        (r.source == Source::Alert && r.sentiment != Sentiment::Neutral).then(|| Intent::Enter {
            order: None,
            sentiment: r.sentiment,
            confidence: r.confidence,
            size: None,
            detail: r.detail.clone(),
        })
    }

    fn restart(&mut self) {
        self.closes = Momentum::with_window(self.window);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::bar;
    use super::*;
    use crate::model::Kind;

    #[test]
    fn a_move_over_the_window_is_an_entry_then_the_cooldown_holds() {
        let p = Params::new(
            Kind::Momentum,
            &[("window".into(), 3.0), ("cooldown".into(), 2.0)].into(),
        )
        .unwrap();
        let mut m = MomentumRule::new(&p);
        let own = Own::default();
        assert_eq!(m.on_bar(&bar(0, 300.0, 0.0), &own), None);
        assert_eq!(m.on_bar(&bar(1, 300.5, 0.0), &own), None, "window not full");
        // 300 → 301: +0.33 %, above the 0.3 % trigger.
        let Some(Intent::Enter {
            sentiment,
            confidence,
            detail,
            ..
        }) = m.on_bar(&bar(2, 301.0, 0.0), &own)
        else {
            panic!("an entry")
        };
        assert_eq!(sentiment, Sentiment::Bullish);
        assert!(
            (confidence - (0.5 + 50.0 / 300.0)).abs() < 1e-9,
            "{confidence}"
        );
        assert_eq!(detail, "+0.33% over 3 bars");
        assert_eq!(m.on_bar(&bar(3, 302.0, 0.0), &own), None, "cooling down");
        assert!(m.on_bar(&bar(4, 303.0, 0.0), &own).is_some());
        m.restart();
        assert_eq!(
            m.on_bar(&bar(5, 290.0, 0.0), &own),
            None,
            "a new month: a new window"
        );
    }
}
