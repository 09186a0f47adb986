//! `news`: headlines as the analyzer read them (the LLM, or keywords when
//! there is none or it fails), passed on as entries of their direction and
//! confidence. Readings under `min_confidence` are left out; neutral ones go
//! on (they weigh against a batch's consensus).

use super::{Intent, Logic, Own};
use crate::model::{Analyzed, Bar, Params, Source};

pub struct News {
    min_confidence: f64,
}

impl News {
    pub fn new(p: &Params) -> News {
        News {
            min_confidence: p.get("min_confidence"),
        }
    }
}

impl Logic for News {
    fn on_bar(&mut self, _: &Bar, _: &Own) -> Option<Intent> {
        None
    }

    fn on_reading(&mut self, r: &Analyzed, _: &Own) -> Option<Intent> {
        (r.source == Source::Headline && r.confidence >= self.min_confidence).then(|| {
            Intent::Enter {
                order: None,
                sentiment: r.sentiment,
                confidence: r.confidence,
                size: None,
                detail: r.detail.clone(),
            }
        })
    }

    fn restart(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Sentiment};

    fn reading(source: Source, confidence: f64) -> Analyzed {
        Analyzed {
            symbol: "KC".into(),
            at_ms: 1,
            sentiment: Sentiment::Bullish,
            confidence,
            source,
            detail: "Frost".into(),
            price: None,
        }
    }

    #[test]
    fn headlines_pass_alerts_and_weak_readings_do_not() {
        let p = Params::new(Kind::News, &[("min_confidence".into(), 0.6)].into()).unwrap();
        let mut n = News::new(&p);
        let own = Own::default();
        assert!(matches!(
            n.on_reading(&reading(Source::Headline, 0.9), &own),
            Some(Intent::Enter { confidence, .. }) if confidence == 0.9
        ));
        assert_eq!(n.on_reading(&reading(Source::Headline, 0.5), &own), None);
        assert_eq!(n.on_reading(&reading(Source::Alert, 0.9), &own), None);
    }
}
