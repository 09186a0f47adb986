//! What the engine does with a decision, and with what comes back: the
//! breaker's admission, the order journaled then sent to the executor, the
//! breaker's transitions (journaled, evented), the orders in flight
//! reconciled with the journal, and the PANIC flatten.
//!
//! Invariant: an order is journaled (with its `executed` outcome, durably)
//! before the executor hears of it; an order the journal does not hold does
//! not exist.

use super::actor::{Engine, FLATTEN};
use super::messages::{CancelLimits, CancelPending, Redrive, SubmitOrder};
use super::pipeline::Candidate;
use crate::clock::Stopwatch;
use crate::events::{BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPENED};
use crate::journal::{OutcomeRow, StateKey};
use crate::model::{client_order_id, Order, Outcome, RiskLevel, Side, Strategy};
use crate::risk::{Admit, BreakerState};
use crate::view::Latencies;
use rust_decimal::Decimal;

/// An order the engine decided to send.
pub struct NewOrder {
    pub strategy: Strategy,
    /// Its instrument: the front month for an opening, the month held for
    /// a flatten or a roll's close leg.
    pub instrument: String,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub at_ms: u64,
    /// The half-open breaker's trial.
    pub trial: bool,
    /// Said after the order in its `executed` outcome (` (exit: …)`).
    pub note: String,
    /// `None`: at the market.
    pub limit: Option<crate::model::Limit>,
}

impl Engine {
    /// A strategy's order went over its capital limit: counted, logged,
    /// evented.
    pub(super) fn capital_breach(&mut self, strategy: Strategy, why: &str) {
        *self.breaches.entry(strategy).or_default() += 1;
        tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %strategy, "{why}");
        self.kernel.events().publish(
            crate::events::CAPITAL_BREACH,
            &self.cfg.path(),
            why.to_owned(),
        );
    }

    /// Asks the breaker; `Ok(true)` for its half-open trial.
    pub(super) fn admit(&mut self) -> Result<bool, String> {
        let (admit, changed) = self.breaker.admit(self.clock.now_ms());
        if changed {
            self.breaker_changed("cooldown passed: one trial order goes through");
        }
        match admit {
            Admit::Pass => Ok(false),
            Admit::Trial => Ok(true),
            Admit::Refuse(why) => Err(why),
        }
    }

    /// Journals an order of the current decision (with its `executed`
    /// outcome, durably: the engine's order log) and sends it to the
    /// executor.
    pub(super) fn place(&mut self, p: NewOrder) -> Result<(), String> {
        self.place_as(p, self.decision_seq)
    }

    /// [`place`](Engine::place) as decision `seq`.
    pub(super) fn place_as(&mut self, p: NewOrder, seq: u64) -> Result<(), String> {
        let NewOrder {
            strategy,
            instrument,
            side,
            qty,
            price,
            at_ms,
            trial,
            note,
            limit,
        } = p;
        let order = Order {
            limit,
            client_order_id: client_order_id(&self.cfg.id, strategy.as_str(), seq, &instrument),
            engine: self.cfg.id.clone(),
            strategy: strategy.as_str().to_owned(),
            decision_seq: seq,
            symbol: instrument.clone(),
            side,
            qty,
            ref_price: price,
            at_ms,
        };
        let id = order.client_order_id.clone();
        let row = OutcomeRow {
            engine: self.cfg.id.clone(),
            decision_seq: seq,
            symbol: order.symbol.clone(),
            strategy: strategy.as_str().to_owned(),
            outcome: Outcome::Executed,
            detail: match &limit {
                None => format!("{id}: {} {qty} @ {price}{note}", side.as_str()),
                Some(l) => format!(
                    "{id}: {} {qty} limit {} (ref {price}, until {}){note}",
                    side.as_str(),
                    l.price,
                    l.expires_ms
                ),
            },
            at_ms,
        };
        let append = Stopwatch::start();
        let journaled = self.store.journal_order(&order, &row, self.clock.now_ms());
        Latencies::observe(
            &self.view.latency.journal_append,
            &self.cfg.id,
            append.seconds(),
        );
        if let Err(e) = journaled {
            tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, order = %id, error = %e, "order not journaled: not sent");
            if trial {
                self.breaker.trial_abandoned();
            }
            return Err(format!("not journaled: {e}"));
        }
        if strategy == Strategy::ROLL {
            self.crash.reach("roll.journaled");
        }
        self.outcomes.count(Outcome::Executed);
        self.outcomes.activity.orders += 1;
        self.guard.sent(self.clock.now_ms());
        self.ledger
            .sent_limit(id.clone(), &instrument, side.sign() * qty, order.limit);
        if order.limit.is_some() {
            // A resting order is seen at once (a market order's fill follows).
            self.publish();
        }
        if trial {
            self.breaker.trial_sent(&id);
        }
        // If this message is lost (an executor fault), the executor looks
        // again once the order is REDRIVE_AFTER old in market time.
        let (executor, after) = (
            self.executor.clone(),
            self.clock.span(super::executor::REDRIVE_AFTER) + std::time::Duration::from_millis(1),
        );
        actix_rt::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = executor.tell(Redrive);
        });
        let handed = self.executor.tell(SubmitOrder(order.clone()));
        if let (Some(tick), Ok(())) = (self.tick, &handed) {
            Latencies::observe(
                &self.view.latency.tick_to_order,
                &self.cfg.id,
                tick.seconds(),
            );
        }
        if let Err(e) = handed {
            // Executor down: the order is abandoned (rejected) and the decision
            // ends in `error`, in one durable write; the breaker counts it.
            let error = OutcomeRow {
                outcome: Outcome::Error,
                detail: format!("{id}: executor: {e}"),
                ..row
            };
            match self.store.with(|s| s.abandon_order(&order, &error)) {
                Ok(()) => {
                    self.outcomes.uncount(Outcome::Executed);
                    self.outcomes.count(Outcome::Error);
                    self.outcomes.activity.orders -= 1;
                    self.ledger.ended(&id);
                    self.broker_failed(&id);
                }
                // Still pending: the executor re-drives it when it is back (or
                // rejects it as stale).
                Err(je) => {
                    tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, order = %id, error = %je, "could not abandon the order")
                }
            }
        }
        Ok(())
    }

    /// Orders in flight the journal no longer has pending were settled without
    /// the engine being told (a message lost to a full mailbox or a restart):
    /// filled ones were applied from the journal before this, the others were
    /// rejected. Without this a lost rejection would count as exposure for
    /// ever, and a lost trial would keep the breaker half-open.
    pub(super) fn reconcile_in_flight(&mut self) {
        if !self.ledger.has_in_flight() {
            return;
        }
        let pending = match self
            .store
            .with(|s| s.pending_orders(&self.cfg.id, u64::MAX))
        {
            Ok(p) => p,
            Err(e) => {
                return tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "cannot read pending orders back")
            }
        };
        let pending: std::collections::HashSet<String> = pending
            .into_iter()
            .map(|(_, o)| o.client_order_id)
            .collect();
        for id in self.ledger.settle_missing(&pending) {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, order = %id, "order settled without word to the engine: no longer in flight");
            self.breaker.order_dropped(&id);
        }
    }

    pub(super) fn broker_failed(&mut self, id: &str) {
        if self.breaker.order_failed(id, self.clock.now_ms()).is_some() {
            let why = format!("{} consecutive broker failures", self.breaker.failures());
            self.breaker_changed(&why);
        }
    }

    pub(super) fn broker_succeeded(&mut self, id: &str) {
        if self.breaker.order_filled(id).is_some() {
            self.breaker_changed("its trial order was filled");
        }
    }

    /// Journals the breaker's new state (durably: it must still be open after a
    /// restart), publishes its event and logs it.
    fn breaker_changed(&mut self, why: &str) {
        let state = self.breaker.state();
        let (kind, detail) = match state {
            BreakerState::Open => (BREAKER_OPENED, format!("breaker opened: {why}")),
            BreakerState::HalfOpen => (BREAKER_HALF_OPEN, format!("breaker half-open: {why}")),
            BreakerState::Closed => (BREAKER_CLOSED, format!("breaker closed: {why}")),
        };
        let (key, value, now) = (
            StateKey::EngineBreaker(&self.cfg.id),
            self.breaker.record().encode(),
            self.clock.now_ms(),
        );
        if state == BreakerState::Closed {
            tracing::info!(target: super::ENGINE_LOG, engine = %self.cfg.id, "{detail}");
        } else {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, "{detail}");
        }
        // The state and its event in one transaction; if the journal cannot
        // take them the breaker still changes (it protects the broker) and the
        // event is published for the journal worker to write later.
        let store = &self.store;
        if let Err(e) = self.kernel.events().publish_durably(
            kind,
            &self.cfg.path(),
            detail.clone(),
            |pending| store.with(|s| s.put_state_with_event(pending, key, &value, why, now)),
        ) {
            tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "breaker state not journaled");
            self.kernel.events().publish(kind, &self.cfg.path(), detail);
        }
        self.publish();
    }

    /// Why every position must close now: PANIC, or an operator's flatten.
    pub(super) fn closing_all(&self) -> Option<String> {
        if *self.levels.borrow() == RiskLevel::Panic {
            Some("risk level PANIC".into())
        } else {
            self.flattening
                .as_ref()
                .map(|why| format!("flatten asked: {why}"))
        }
    }

    /// At PANIC (or an operator's flatten): every order not yet sent is
    /// cancelled and every month's position, with what is in flight, is
    /// closed at its last price. Idempotent: run on every level change,
    /// every second and at start, until the engine is flat (a flatten is
    /// then done).
    pub(super) fn enforce_panic(&mut self) {
        self.withdraw_limits();
        let Some(reason) = self.closing_all() else {
            return;
        };
        if self.flattening.is_some()
            && self.ledger.projected_by_instrument().is_empty()
            && self.roll.is_none()
        {
            tracing::info!(target: super::ENGINE_LOG, engine = %self.cfg.id, "flattened: every position closed");
            self.flattening = None;
            return;
        }
        // Orders decided so far; the closing order below comes after.
        let _ = self.executor.tell(CancelPending {
            reason,
            up_to_seq: self.decision_seq,
        });
        // A roll under way is abandoned: the flatten closes every month.
        if self.roll.is_some() {
            self.advance_roll();
        }
        // The position and the flattens on the way: the other orders in
        // flight are being cancelled (a resting limit counted here would be
        // closed once by the flatten and once by its cancel, opening the
        // other way). One that fills before its cancel is closed by the next
        // pass: a flatten may close too little for a second, never too much.
        let closing = self.ledger.projected_counting(|s| s == FLATTEN);
        for (instrument, qty) in closing {
            self.flatten(instrument, qty);
        }
    }

    /// At HALT or above, or paused, a resting limit order (an entry: exits
    /// and the engine's own orders go at market) would open when the market
    /// reaches it: what is left of each is cancelled at the broker. Every
    /// second while it lasts (a lost word is said again).
    fn withdraw_limits(&mut self) {
        if !self.ledger.has_in_flight() {
            return;
        }
        let level = *self.levels.borrow();
        let paused = self.kernel.registry().is_paused(&self.cfg.path());
        if level < RiskLevel::Halt && !paused {
            return;
        }
        let reason = if paused {
            "cancelled: the engine is paused".to_owned()
        } else {
            format!("cancelled: risk level {level}")
        };
        let _ = self.executor.tell(CancelLimits { reason });
    }

    /// Closes `projected` contracts of `instrument` (PANIC).
    fn flatten(&mut self, instrument: String, projected: Decimal) {
        let Some(price) = self.mark_of(&instrument) else {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %instrument, position = %projected, "PANIC: no price yet to flatten at; retrying every second");
            return;
        };
        let side = if projected > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let trial = match self.admit() {
            Ok(trial) => trial,
            Err(why) => {
                tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %why, "PANIC: cannot flatten yet; retrying every second");
                return;
            }
        };
        self.decision_seq += 1;
        let (qty, at_ms) = (projected.abs(), self.last_at_ms);
        tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %instrument, %qty, side = side.as_str(), %price, "PANIC: flattening");
        let flatten = NewOrder {
            strategy: FLATTEN,
            instrument: instrument.clone(),
            side,
            qty,
            price,
            at_ms,
            trial,
            note: String::new(),
            limit: None,
        };
        if let Err(why) = self.place(flatten) {
            tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, %why, "PANIC: flatten order failed; retrying every second");
            let c = Candidate {
                order: None,
                symbol: instrument,
                side,
                confidence: 1.0,
                strategy: FLATTEN,
                at_ms,
                detail: "flatten at PANIC".into(),
                price: Some(price),
                size: None,
            };
            self.record(&c, Outcome::Error, why);
        }
    }
}
