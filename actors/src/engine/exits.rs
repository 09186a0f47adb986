//! A strategy's exit, by its own logic or by its stops (stop-loss,
//! take-profit, trailing, time: `model::Exits`, checked at every bar of the
//! front month before the strategy sees it): one order closing its own
//! position in the front month (what its lots hold, less what its orders on the way already
//! close), decided by `decide::exit` (the gate, the risk step) and placed
//! like every order: journaled first, through the breaker.
//!
//! Invariants: an exit only reduces: its quantity is the strategy's own
//! lots in one month (all on the side of that month's net position), less
//! its orders on the way that close them, and `decide::exit` cuts it to the
//! part that reduces the projected position (orders of others on the way
//! may already close those lots: then it sends nothing), so HALT, a pause and
//! stale data never stop it, and it never opens; it goes in the month the
//! lots are in (two while a roll waits); at PANIC the engine flattens everything
//! instead, and while a roll moves the position the exit waits (a
//! strategy's exit is asked again at its next bar). An exit already on its
//! way is not sent twice.

use super::actor::Engine;
use super::decide::{self, Decision};
use super::perform::NewOrder;
use super::pipeline::Candidate;
use crate::model::{Exits, Held, Outcome, RiskLevel, Side, Strategy};
use rust_decimal::Decimal;

impl Engine {
    /// Every strategy's stops on its lots, in each month it holds them, at
    /// that month's price.
    pub(super) fn check_stops(&mut self) {
        let now_ms = self.clock.now_ms();
        let mut armed: Vec<(Strategy, Exits, String, Decimal, Decimal, u64)> = Vec::new();
        for s in self
            .cfg
            .strategies
            .iter()
            .filter(|s| s.exits != Exits::default())
        {
            for instrument in self.ledger.positions().keys() {
                // Measured from the stop basis (the entry, moved by each
                // roll's spread) and the first opening: a roll is no new entry.
                let book = self.ledger.book();
                if let (Some((qty, _, _)), Some((basis, since))) =
                    (book.own(s.name, instrument), book.basis(s.name, instrument))
                {
                    armed.push((s.name, s.exits, instrument.clone(), qty, basis, since));
                }
            }
        }
        // The best close since each position opened (a new position, a new
        // best; after a restart, from the entry price); gone with the
        // position.
        let held: Vec<(Strategy, String)> = armed.iter().map(|a| (a.0, a.2.clone())).collect();
        self.best.retain(|k, _| held.contains(k));
        for (name, exits, instrument, qty, avg_price, since_ms) in armed {
            let Some(close) = self.mark_of(&instrument) else {
                continue;
            };
            let direction = if qty > Decimal::ZERO { 1 } else { -1 };
            let key = (name, instrument.clone());
            let best = match self.best.get(&key) {
                Some(&(since, best)) if since == since_ms => best,
                _ => avg_price,
            };
            let best = if direction > 0 {
                best.max(close)
            } else {
                best.min(close)
            };
            self.best.insert(key, (since_ms, best));
            let held = Held {
                direction,
                avg_price,
                since_ms,
                best,
            };
            if let Some(why) = exits.fired(&held, close, now_ms) {
                self.exit_in(name, &instrument, qty, &why);
            }
        }
    }

    /// `strategy` wants out, because `why`: its lots in each month it holds
    /// them.
    pub(super) fn exit(&mut self, strategy: Strategy, why: String) {
        let months: Vec<(String, Decimal)> = self
            .ledger
            .positions()
            .keys()
            .filter_map(|i| self.ledger.own(strategy, i).map(|o| (i.clone(), o.0)))
            .collect();
        for (instrument, held) in months {
            self.exit_in(strategy, &instrument, held, &why);
        }
    }

    /// One order closing `strategy`'s `held` contracts of `instrument`, less
    /// what its orders on the way already close there.
    fn exit_in(&mut self, strategy: Strategy, instrument: &str, held: Decimal, why: &str) {
        if *self.levels.borrow() == RiskLevel::Panic || self.rolling().is_some() {
            return; // the flatten or the roll has the position
        }
        let left = held.abs() - self.ledger.own_closing(strategy, instrument, held);
        if left <= Decimal::ZERO {
            return; // its closing order is on its way
        }
        self.decision_seq += 1;
        let now_ms = self.clock.now_ms();
        let price = self.mark_of(instrument);
        let c = Candidate {
            order: None,
            symbol: instrument.to_owned(),
            side: if held > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            },
            confidence: 1.0,
            strategy,
            at_ms: now_ms,
            detail: format!("exit: {why}"),
            price,
            size: None,
        };
        self.check_lookahead(&c, now_ms);
        let decision = {
            let steps = self.steps.clone();
            let state = self.decide_state(&steps, now_ms);
            let world = super::actor::Around { engine: self };
            decide::exit(&state, &c, left, price, &world)
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
            instrument: instrument.to_owned(),
            side: c.side,
            qty,
            price,
            at_ms: now_ms,
            trial,
            note: format!(" (exit: {why})"),
            limit: None,
        };
        if let Err(e) = self.place(order) {
            self.record(&c, Outcome::Error, e);
        }
    }
}
