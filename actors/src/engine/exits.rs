//! A strategy's exit, by its own logic or by its stops (stop-loss,
//! take-profit, trailing, time: `model::Exits`, checked at every bar of the
//! front month before the strategy sees it): one order closing its own
//! position in the front month (what its lots hold, less what its orders on the way already
//! close), decided by `decide::exit` (the gate, the risk step) and placed
//! like every order: journaled first, through the breaker.
//!
//! Invariants: an exit only reduces (its quantity is the strategy's own
//! lots, all on the side of the month's net position), so HALT, a pause and
//! stale data never stop it; at PANIC the engine flattens everything
//! instead, and while a roll moves the position the exit waits (a
//! strategy's exit is asked again at its next bar). An exit already on its
//! way is not sent twice.

use super::actor::Engine;
use super::decide::{self, Decision};
use super::intents::own_of;
use super::perform::NewOrder;
use super::pipeline::Candidate;
use crate::model::{Exits, Held, Outcome, RiskLevel, Side, Strategy};
use rust_decimal::Decimal;

impl Engine {
    /// Every strategy's stops on the front month's close `close`.
    pub(super) fn check_stops(&mut self, close: Decimal) {
        let now_ms = self.clock.now_ms();
        let armed: Vec<(Strategy, Exits)> = self
            .cfg
            .strategies
            .iter()
            .filter(|s| s.exits != Exits::default())
            .map(|s| (s.name, s.exits))
            .collect();
        for (name, exits) in armed {
            let own = own_of(&self.ledger, &self.front, name);
            let (Some(avg_price), Some(since_ms)) = (own.avg_price, own.since_ms) else {
                self.best.remove(&name);
                continue;
            };
            let direction = own.direction();
            // The best close since this position opened (a new position, a
            // new best; after a restart, from the entry price).
            let best = match self.best.get(&name) {
                Some(&(since, best)) if since == since_ms => best,
                _ => avg_price,
            };
            let best = if direction > 0 {
                best.max(close)
            } else {
                best.min(close)
            };
            self.best.insert(name, (since_ms, best));
            let held = Held {
                direction,
                avg_price,
                since_ms,
                best,
            };
            if let Some(why) = exits.fired(&held, close, now_ms) {
                self.exit(name, why);
            }
        }
    }

    /// `strategy` wants out, because `why`.
    pub(super) fn exit(&mut self, strategy: Strategy, why: String) {
        let own = own_of(&self.ledger, &self.front, strategy);
        let left = own.held + own.pending;
        if own.held.is_zero()
            || left.is_zero()
            || left.is_sign_positive() != own.held.is_sign_positive()
        {
            return; // nothing held, or its closing order is on its way
        }
        if *self.levels.borrow() == RiskLevel::Panic || self.rolling().is_some() {
            return; // the flatten or the roll has the position
        }
        self.decision_seq += 1;
        let now_ms = self.clock.now_ms();
        let c = Candidate {
            symbol: self.cfg.spec.symbol.to_owned(),
            side: if left > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            },
            confidence: 1.0,
            strategy,
            at_ms: now_ms,
            detail: format!("exit: {why}"),
            price: self.last,
            size: None,
        };
        self.check_lookahead(&c, now_ms);
        let decision = {
            let steps = self.steps.clone();
            let state = self.decide_state(&steps, now_ms);
            let world = super::actor::Around { engine: self };
            decide::exit(&state, &c, left.abs(), &world)
        };
        let (qty, price) = match decision {
            Decision::Record(outcome, why) => return self.record(&c, outcome, why),
            // An exit never opens: no capital limit applies.
            Decision::OverCapital(why) => return self.record(&c, Outcome::RiskRejected, why),
            Decision::Order { qty, price, .. } => (qty, price),
        };
        let trial = match self.admit() {
            Ok(trial) => trial,
            Err(why) => return self.record(&c, Outcome::BreakerOpen, why),
        };
        let order = NewOrder {
            strategy,
            instrument: self.front.clone(),
            side: c.side,
            qty,
            price,
            at_ms: now_ms,
            trial,
            note: format!(" (exit: {why})"),
        };
        if let Err(e) = self.place(order) {
            self.record(&c, Outcome::Error, e);
        }
    }
}
