//! Strategies as plug-ins. Each configured strategy (`[[engines.strategies]]`:
//! a name, a kind, a weight, its parameters) is a [`Logic`] the engine runs:
//! it sees every bar of the front month at its close and every headline or
//! alert as the analyzer read it, at market time (the one clock), with its
//! own position, and answers with an [`Intent`]: enter (an opinion on the
//! direction, with a confidence, a size hint and an order type, that goes
//! through the router, the decision and the risk step like every signal;
//! no order type is the strategy's configured one) or exit (close
//! its own position: a reduction, which HALT does not stop).
//!
//! The seed's `should_enter` / `should_exit` are one call here
//! ([`Logic::on_bar`]), because a strategy's window moves once per bar:
//! it answers `Exit` when it holds something it should no longer hold, and
//! `Enter` when it is flat and sees an entry.
//!
//! Invariant: a strategy is pure logic over what it is shown: no clock, no
//! I/O, no other strategy's state; the same bars and readings give the same
//! intents (replay and live alike).

mod breakout;
mod mean_reversion;
mod momentum;
mod news;

use crate::model::{Analyzed, Bar, Kind, Sentiment, Strategy, StrategySpec};
use rust_decimal::Decimal;

/// A strategy's own position in the front month, as the ledger holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Own {
    /// Contracts its lots hold (signed: short < 0).
    pub held: Decimal,
    /// Its orders sent and not yet filled (signed).
    pub pending: Decimal,
    /// The average entry of its lots (moved by each roll's spread: the
    /// price its stops measure from).
    pub avg_price: Option<Decimal>,
    /// Market time its oldest lot first opened (before any roll).
    pub since_ms: Option<u64>,
}

impl Own {
    /// Holds nothing and has nothing on the way.
    pub fn flat(&self) -> bool {
        self.held.is_zero() && self.pending.is_zero()
    }

    /// +1 long, −1 short, 0 flat (what it holds, not what is on the way).
    pub fn direction(&self) -> i8 {
        if self.held > Decimal::ZERO {
            1
        } else if self.held < Decimal::ZERO {
            -1
        } else {
            0
        }
    }
}

/// What a strategy wants after seeing a bar or a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// An opinion on the direction (a neutral one counts against a batch's
    /// consensus), decided like every signal.
    Enter {
        sentiment: Sentiment,
        /// 0.0 to 1.0: at `pipeline.immediate_threshold` or above it is
        /// decided now, else it waits for the batch.
        confidence: f64,
        /// A fraction of what the allocator gives (none: all of it).
        size: Option<Decimal>,
        detail: String,
        /// How it goes to the market; none: the strategy's configured
        /// order type (`order` in its table; market by default).
        order: Option<crate::model::OrderType>,
    },
    /// Close this strategy's own position in the front month.
    Exit { why: String },
}

/// One strategy's logic.
pub trait Logic: Send {
    /// A bar of the front month, at its close.
    fn on_bar(&mut self, bar: &Bar, own: &Own) -> Option<Intent>;

    /// A headline or an alert as the analyzer read it.
    fn on_reading(&mut self, _reading: &Analyzed, _own: &Own) -> Option<Intent> {
        None
    }

    /// The front month changed: windows of closes start afresh (the step
    /// from one month to the next is a spread, not a move).
    fn restart(&mut self);
}

/// The logic of `spec`'s kind with its parameters.
pub fn build(spec: &StrategySpec) -> Box<dyn Logic> {
    let p = &spec.params;
    match spec.kind {
        Kind::News => Box::new(news::News::new(p)),
        Kind::Momentum => Box::new(momentum::MomentumRule::new(p)),
        Kind::MeanReversion => Box::new(mean_reversion::MeanReversion::new(p)),
        Kind::Breakout => Box::new(breakout::Breakout::new(p)),
    }
}

/// An engine's strategies, in configuration order.
pub struct Strategies {
    running: Vec<(Strategy, Box<dyn Logic>)>,
}

impl Strategies {
    pub fn new(specs: &[StrategySpec]) -> Strategies {
        Strategies {
            running: specs.iter().map(|s| (s.name, build(s))).collect(),
        }
    }

    /// Every strategy's intent on a front-month bar, in order.
    pub fn on_bar(&mut self, bar: &Bar, own: impl Fn(Strategy) -> Own) -> Vec<(Strategy, Intent)> {
        self.running
            .iter_mut()
            .filter_map(|(name, logic)| logic.on_bar(bar, &own(*name)).map(|i| (*name, i)))
            .collect()
    }

    /// Every strategy's intent on a reading, in order.
    pub fn on_reading(
        &mut self,
        r: &Analyzed,
        own: impl Fn(Strategy) -> Own,
    ) -> Vec<(Strategy, Intent)> {
        self.running
            .iter_mut()
            .filter_map(|(name, logic)| logic.on_reading(r, &own(*name)).map(|i| (*name, i)))
            .collect()
    }

    pub fn restart(&mut self) {
        for (_, logic) in &mut self.running {
            logic.restart();
        }
    }
}

/// The bars of a window as `f64` statistics (indicators are statistics;
/// prices stay `Decimal` everywhere else).
fn f(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::model::Bar;
    use rust_decimal::Decimal;

    /// A one-minute KC bar closing at `close` (high and low `spread` around it).
    pub fn bar(i: u64, close: f64, spread: f64) -> Bar {
        let d = |x: f64| Decimal::try_from(x).unwrap().round_dp(2);
        Bar {
            symbol: "KC".into(),
            at_ms: i * 60_000,
            open: d(close),
            high: d(close + spread),
            low: d(close - spread),
            close: d(close),
            volume: 100,
        }
    }
}
