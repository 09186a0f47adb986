//! The market as an engine marks it: the front month's bars move its
//! momentum, volatility and last price, and go to its strategies; every
//! month's bar is that month's price, kept (bounded) to mark a position
//! held there and to price a roll's legs.

use super::actor::Engine;
use super::messages::MarketUpdate;
use super::momentum::Momentum;
use crate::kernel::{Ctx, Handles};
use crate::model::{month_of, CurveStats, Strategy};
use rust_decimal::Decimal;

/// Instruments whose last price an engine keeps at most (the front month,
/// the months it holds, the next one quoted on a roll day).
pub const MAX_QUOTES: usize = 8;

impl Engine {
    /// An instrument's price: its own last one, else the front month's (a
    /// month held with no quote of its own yet, a bare symbol of an earlier
    /// build's orders).
    pub(super) fn mark_of(&self, instrument: &str) -> Option<Decimal> {
        self.quotes.get(instrument).copied().or(self.last)
    }

    /// Keeps `price` as `instrument`'s last, within [`MAX_QUOTES`]: past
    /// it, months neither held nor the front one are forgotten.
    pub(super) fn quote(&mut self, instrument: &str, price: Decimal) {
        if let Some(p) = self.quotes.get_mut(instrument) {
            *p = price;
            return;
        }
        self.quotes.insert(instrument.to_owned(), price);
        if self.quotes.len() > MAX_QUOTES {
            let (held, front) = (self.ledger.positions(), &self.front);
            self.quotes
                .retain(|i, _| held.contains_key(i) || i == front);
        }
    }
}

impl Engine {
    /// Each configured strategy's equity at market time `at_ms` (its share
    /// of the capital, its lots' realized PnL net of its commissions, their
    /// unrealized PnL at the marks), onto its live curve.
    fn push_curves(&mut self, at_ms: u64) {
        let (book, spec) = (self.ledger.book(), &self.cfg.spec);
        let points: Vec<(Strategy, Decimal, Decimal, bool)> = self
            .cfg
            .strategies
            .iter()
            .map(|s| {
                let realized = book.realized_by().get(&s.name).copied().unwrap_or_default();
                let fees = self
                    .ledger
                    .tallies()
                    .get(&s.name)
                    .map_or(Decimal::ZERO, |t| t.fees);
                let unrealized = book.unrealized_of(s.name, |i| self.mark_of(i), spec);
                let base = self.cfg.allocation.capital * s.weight;
                let exposed = !book.held_by(s.name).is_zero();
                (s.name, base, base + realized - fees + unrealized, exposed)
            })
            .collect();
        for (name, base, equity, exposed) in points {
            self.curves
                .entry(name)
                .or_insert_with(|| CurveStats::new(base))
                .push(at_ms, equity, exposed);
        }
    }
}

impl Handles<MarketUpdate> for Engine {
    /// A bar: what it moves, and the orders it leads to (timed from here:
    /// `commodore_tick_to_order_seconds`).
    fn handle(&mut self, m: MarketUpdate, _: &mut Ctx<'_, Self>) {
        self.ticked(|e| e.on_market(m));
    }
}

impl Engine {
    /// A bar of the front month moves the engine's market (its momentum,
    /// volatility and last price); a bar of another month is only that
    /// month's price (a position held there, a roll's leg). A new front
    /// month starts the momentum afresh: the step between two months is a
    /// spread, not a move.
    fn on_market(&mut self, MarketUpdate(bar): MarketUpdate) {
        let named = month_of(&bar.symbol).is_some();
        let front = self.front_month.at(bar.at_ms);
        let is_front = !named || front == bar.symbol;
        if is_front && self.front != front {
            let front = front.to_owned();
            if !self.front.is_empty() {
                tracing::info!(target: super::ENGINE_LOG, engine = %self.cfg.id, from = %self.front, to = %front, "the front month changed");
                self.momentum = Momentum::new();
                self.strategies.restart();
            }
            self.front = front;
            self.publish();
        }
        // A bare symbol's bar is the front month's.
        let instrument = if named {
            bar.symbol.clone()
        } else {
            self.front.clone()
        };
        self.quote(&instrument, bar.close);
        if is_front {
            self.momentum.push(bar.close);
            self.volatility.push(bar.close);
            self.last = Some(bar.close);
            // Known at its close: what the engine marks, publishes and
            // decides on is as of then.
            self.last_at_ms = bar.closes_at_ms();
        }
        self.mark();
        self.advance_roll();
        if is_front {
            self.push_curves(bar.closes_at_ms());
            // The stops first, then the strategies see the front month's
            // bar at its close.
            self.check_stops();
            let ledger = &self.ledger;
            let intents = self
                .strategies
                .on_bar(&bar, |s| super::intents::own_of(ledger, s));
            self.act(intents, bar.root(), bar.closes_at_ms(), Some(bar.close));
        }
    }
}
