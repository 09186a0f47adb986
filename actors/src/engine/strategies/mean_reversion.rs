//! `mean_reversion`: a close `entry_z` standard deviations or more from the
//! mean of the last `window` closes is expected back: flat, it enters
//! against the move (below the mean: buy); holding, it exits once the close
//! is back within `exit_z` of the mean on its side. The confidence grows
//! with the distance: 0.7 at `entry_z`, +0.05 per deviation beyond, at most
//! 0.95 (below the default `immediate_threshold` of 0.85 it waits for the
//! batch's consensus).

use super::{f, Intent, Logic, Own};
use crate::model::{Bar, Params, Sentiment};
use std::collections::VecDeque;

pub struct MeanReversion {
    closes: VecDeque<f64>,
    window: usize,
    entry_z: f64,
    exit_z: f64,
}

impl MeanReversion {
    pub fn new(p: &Params) -> MeanReversion {
        let window = p.count("window");
        MeanReversion {
            closes: VecDeque::with_capacity(window + 1),
            window,
            entry_z: p.get("entry_z"),
            exit_z: p.get("exit_z"),
        }
    }

    /// The last close's distance from the window's mean, in standard
    /// deviations; none before the window is full or when it is flat.
    fn z(&self) -> Option<f64> {
        if self.closes.len() < self.window {
            return None;
        }
        let n = self.closes.len() as f64;
        let mean = self.closes.iter().sum::<f64>() / n;
        let var = self.closes.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n;
        let sd = var.sqrt();
        let last = *self.closes.back()?;
        (sd > 1e-12).then(|| (last - mean) / sd)
    }
}

impl Logic for MeanReversion {
    fn on_bar(&mut self, bar: &Bar, own: &Own) -> Option<Intent> {
        self.closes.push_back(f(bar.close));
        if self.closes.len() > self.window {
            self.closes.pop_front();
        }
        let z = self.z()?;
        match own.direction() {
            1 if z >= -self.exit_z => Some(Intent::Exit {
                why: format!("back to the mean: z {z:+.2} (exit at -{})", self.exit_z),
            }),
            -1 if z <= self.exit_z => Some(Intent::Exit {
                why: format!("back to the mean: z {z:+.2} (exit at +{})", self.exit_z),
            }),
            0 if own.flat() && z.abs() >= self.entry_z => Some(Intent::Enter {
                order: None,
                sentiment: if z < 0.0 {
                    Sentiment::Bullish
                } else {
                    Sentiment::Bearish
                },
                confidence: (0.7 + 0.05 * (z.abs() - self.entry_z)).min(0.95),
                size: None,
                detail: format!("z {z:+.2} over {} bars: expected back", self.window),
            }),
            _ => None,
        }
    }

    fn restart(&mut self) {
        self.closes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::bar;
    use super::*;
    use crate::model::Kind;
    use rust_decimal::Decimal;

    #[test]
    fn far_from_the_mean_it_enters_against_the_move_and_exits_near_it() {
        let given = [("window".into(), 5.0), ("entry_z".into(), 1.5)].into();
        let p = Params::new(Kind::MeanReversion, &given).unwrap();
        let mut m = MeanReversion::new(&p);
        let flat = Own::default();
        for (i, c) in [300.0, 300.2, 299.8, 300.0].into_iter().enumerate() {
            assert_eq!(m.on_bar(&bar(i as u64, c, 0.1), &flat), None);
        }
        // 300, 300.2, 299.8, 300, 298: mean 299.6, variance 3.28 / 5 =
        // 0.656, z = -1.6 / 0.80994 = -1.97546; confidence 0.7 + 0.05 × 0.47546.
        let Some(Intent::Enter {
            sentiment,
            confidence,
            ..
        }) = m.on_bar(&bar(4, 298.0, 0.1), &flat)
        else {
            panic!("an entry")
        };
        assert_eq!(sentiment, Sentiment::Bullish, "below the mean: buy");
        assert!((confidence - 0.723773).abs() < 1e-5, "{confidence}");
        let long = Own {
            held: Decimal::ONE,
            avg_price: Some(Decimal::from(298)),
            since_ms: Some(240_000),
            ..Own::default()
        };
        // Still far below (z -1.26, under -0.5): it holds.
        assert_eq!(m.on_bar(&bar(5, 297.9, 0.1), &long), None);
        // Back up at the mean: exit.
        assert!(matches!(
            m.on_bar(&bar(6, 300.0, 0.1), &long),
            Some(Intent::Exit { .. })
        ));
        // Flat with an order on its way: no second entry.
        let sending = Own {
            pending: Decimal::ONE,
            ..Own::default()
        };
        assert_eq!(m.on_bar(&bar(7, 290.0, 0.1), &sending), None);
    }
}
