//! Rolling a position from its month to the front one (the next listed
//! month, `roll.days_before_first_notice` business days before the first
//! notice day): one journaled operation of two legs, each an ordinary order
//! with its own decision (strategy `roll`): the close leg in the old month,
//! then, once it is filled, the open leg in the new month for the quantity
//! filled.
//!
//! Invariant: **a roll ends rolled or not rolled, never doubled, never
//! lost**, whenever the process dies. The roll is journaled
//! (`engine.<id>.roll`, with its `roll_started` event) before its first leg;
//! each leg is journaled before it is sent and asked of the broker by its
//! client order id after a restart, like any order; and every step is read
//! back from the journal, never remembered ([`step`] is pure: the record and
//! the legs' fates in, what to do out). A restart therefore goes on where
//! the journal says: a close leg refused (or never sent) leaves the position
//! where it was ("not rolled", and the roll is decided again); a close leg
//! filled is followed by its open leg until it fills ("rolled"). The open
//! leg is never sent before the close leg is filled, so the two months are
//! never held at once; a refused open leg is decided again, at most
//! [`MAX_OPEN_ATTEMPTS`] times, then the roll ends flat and says so (an
//! operator decides: the money is safe, the position is not re-opened
//! blind).
//!
//! A roll starts only while the market is open, at NORMAL or WARNING (a new
//! position in the next month is an opening), not paused, on fresh data,
//! with nothing else in flight and the breaker not open; a leg is decided
//! only when it can go at once. The engine opens nothing new while it runs.
//! At PANIC it is abandoned (the flatten closes every month).

use super::actor::Engine;
use super::perform::NewOrder;
use crate::events::{ROLLED, ROLL_FAILED, ROLL_STARTED};
use crate::journal::{Fate, RollRecord, StateKey};
use crate::model::{client_order_id, month_of, Outcome, RiskLevel, Side, Strategy};
use rust_decimal::Decimal;

/// Open legs decided for one roll before it gives up (each refused).
pub const MAX_OPEN_ATTEMPTS: u32 = 3;

/// A leg cleared to go: its price, and whether it is the half-open
/// breaker's trial.
#[derive(Debug, Clone, Copy)]
struct Go {
    price: Decimal,
    trial: bool,
}

/// What the journal says of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// Not journaled: never sent.
    Absent,
    Is(Fate),
}

/// What a roll under way does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A leg is with the broker.
    Wait,
    /// Journal and send the close leg (its decision is the record's).
    PlaceClose,
    /// Journal and send the open leg for `qty` contracts (unsigned).
    PlaceOpen { qty: Decimal },
    /// Decide a new open leg for `qty` contracts (the first, or after a
    /// refused one).
    DecideOpen { qty: Decimal },
    /// Both legs filled.
    Done { qty: Decimal },
    /// The roll ends: the position is where the legs left it.
    Abandon(String),
}

/// The next step of roll `r`, from its legs' fates (`open`: `None` until an
/// open leg is decided) and why every position is closing, if it is (PANIC,
/// an operator's flatten).
pub fn step(r: &RollRecord, close: Leg, open: Option<Leg>, closing: Option<&str>) -> Step {
    if let Some(why) = closing {
        return Step::Abandon(format!("{why}: the flatten closes every month"));
    }
    let filled = match close {
        Leg::Absent => return Step::PlaceClose,
        Leg::Is(Fate::Pending) => return Step::Wait,
        Leg::Is(Fate::Rejected) => {
            return Step::Abandon(format!(
                "its close leg was refused: the position stays in {}",
                r.from
            ))
        }
        Leg::Is(Fate::Filled(q)) => q,
    };
    match open {
        None => Step::DecideOpen { qty: filled },
        Some(Leg::Absent) => Step::PlaceOpen { qty: filled },
        Some(Leg::Is(Fate::Pending)) => Step::Wait,
        Some(Leg::Is(Fate::Filled(_))) => Step::Done { qty: filled },
        Some(Leg::Is(Fate::Rejected)) if r.attempts >= MAX_OPEN_ATTEMPTS => Step::Abandon(format!(
            "its open leg was refused {} times: flat, {filled} contracts of {} not re-opened (closed in {}); an operator decides",
            r.attempts, r.to, r.from
        )),
        Some(Leg::Is(Fate::Rejected)) => Step::DecideOpen { qty: filled },
    }
}

/// The client order ids of a roll's legs: (close, open); open is `None`
/// until decided.
pub fn leg_ids(engine: &str, r: &RollRecord) -> (String, Option<String>) {
    let roll = Strategy::ROLL.as_str();
    let close = client_order_id(engine, roll, r.close_seq, &r.from);
    let open = (r.open_seq > 0).then(|| client_order_id(engine, roll, r.open_seq, &r.to));
    (close, open)
}

impl Engine {
    /// The roll's next step: a roll under way is taken on from what the
    /// journal says; without one, a position in a month other than the
    /// front one starts one when the market allows. Idempotent: run at
    /// start, on every bar, fill and rejection, and every second.
    pub(super) fn advance_roll(&mut self) {
        match self.roll.clone() {
            Some(r) => self.roll_on(r),
            None => self.roll_start(),
        }
    }

    /// The month a roll moves away from: one held that is not the front
    /// month, when the front month is known (orders in flight hold the
    /// roll back: it starts once they are settled).
    fn to_roll(&self, front: &str) -> Option<(String, Decimal)> {
        month_of(front)?;
        self.ledger
            .positions()
            .iter()
            .find(|(i, p)| i.as_str() != front && !p.qty.is_zero())
            .map(|(i, p)| (i.clone(), p.qty))
    }

    fn roll_start(&mut self) {
        let now = self.clock.now_ms();
        // The common case, on every bar: nothing held outside the front month.
        let front = self.front_month.at(now);
        if self.ledger.positions().keys().all(|i| i == front) {
            return;
        }
        let front = front.to_owned();
        let Some((from, qty)) = self.to_roll(&front) else {
            return;
        };
        let level = *self.levels.borrow();
        let paused = self.kernel.registry().is_paused(&self.cfg.path());
        let waits = if level >= RiskLevel::Halt {
            Some(format!("risk level {level}"))
        } else if let Some(why) = self.closing_all() {
            Some(why)
        } else if paused {
            Some("paused".into())
        } else if self.neighbours.data.stale() {
            Some("market data stale".into())
        } else if !self.cfg.spec.is_open(now) {
            Some("market closed".into())
        } else if self.ledger.has_in_flight() {
            // A resting limit entry would hold the roll back until it
            // expires (days, maybe past first notice): what is left of it
            // is cancelled; market orders fill on their own.
            let _ = self.executor.tell(super::messages::CancelLimits {
                reason: "cancelled: a roll is due".into(),
            });
            Some("orders in flight".into())
        } else if self.breaker.state() == crate::risk::BreakerState::Open {
            Some("circuit breaker open".into())
        } else if !self.quotes.contains_key(&front) {
            Some(format!("no price of {front} yet"))
        } else {
            None
        };
        if let Some(why) = waits {
            if self.roll_waiting.as_deref() != Some(why.as_str()) {
                tracing::info!(target: super::ENGINE_LOG, engine = %self.cfg.id, %from, to = %front, %qty, %why, "a position to roll waits");
                self.roll_waiting = Some(why);
            }
            return;
        }
        self.roll_waiting = None;
        self.decision_seq += 1;
        let r = RollRecord {
            from,
            to: front,
            qty,
            close_seq: self.decision_seq,
            open_seq: 0,
            attempts: 0,
        };
        let detail = format!(
            "{} → {}: {} {} ({} at {}, {} at {})",
            r.from,
            r.to,
            if r.qty > Decimal::ZERO {
                "long"
            } else {
                "short"
            },
            r.qty.abs(),
            r.from,
            self.mark_of(&r.from).unwrap_or_default(),
            r.to,
            self.mark_of(&r.to).unwrap_or_default()
        );
        if !self.save_roll(Some(&r), ROLL_STARTED, detail) {
            // Nothing was journaled: the decision number is not used.
            self.decision_seq -= 1;
            return;
        }
        self.crash.reach("roll.decided");
        self.roll_on(r);
    }

    /// Takes roll `r` one step on, as its legs' fates say.
    fn roll_on(&mut self, mut r: RollRecord) {
        let (close_id, open_id) = leg_ids(&self.cfg.id, &r);
        let fate = |id: &str| -> Result<Leg, String> {
            self.store
                .with(|s| s.order_fate(id))
                .map(|f| f.map_or(Leg::Absent, Leg::Is))
                .map_err(|e| e.to_string())
        };
        let legs = fate(&close_id).and_then(|c| Ok((c, open_id.as_deref().map(fate).transpose()?)));
        let (close, open) = match legs {
            Ok(legs) => legs,
            Err(e) => {
                return tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "cannot read the roll's legs: asked again in a second")
            }
        };
        // PANIC, or an operator's flatten: the roll is abandoned.
        let closing = self.closing_all();
        match step(&r, close, open, closing.as_deref()) {
            Step::Wait => {}
            Step::PlaceClose => {
                let qty = r.qty.abs();
                if let Some(go) = self.leg_ready(&r.from) {
                    self.place_reserved(r, false, qty, go);
                }
            }
            Step::DecideOpen { qty } => {
                // Decided only when it can go now: a decision is never left
                // without its order.
                let Some(go) = self.leg_ready(&r.to) else {
                    return;
                };
                self.decision_seq += 1;
                r.open_seq = self.decision_seq;
                r.attempts += 1;
                let value = r.encode();
                let saved = self.store.with(|s| {
                    s.put_state_durable(
                        StateKey::EngineRoll(&self.cfg.id),
                        &value,
                        "open leg decided",
                        self.clock.now_ms(),
                    )
                });
                if let Err(e) = saved {
                    self.decision_seq -= 1;
                    self.leg_not_sent(go);
                    return tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "the roll's open leg not journaled: tried again in a second");
                }
                self.roll = Some(r.clone());
                self.place_reserved(r, true, qty, go);
            }
            Step::PlaceOpen { qty } => {
                if let Some(go) = self.leg_ready(&r.to) {
                    self.place_reserved(r, true, qty, go);
                }
            }
            Step::Done { qty } => {
                let detail = format!("{} → {}: {qty} contracts", r.from, r.to);
                self.save_roll(None, ROLLED, detail);
            }
            Step::Abandon(why) => {
                let detail = format!("{} → {}: {why}", r.from, r.to);
                self.save_roll(None, ROLL_FAILED, detail);
            }
        }
    }

    /// Journals and sends a leg under the decision the record reserved for
    /// it. A restart between the record and the leg may have let later
    /// decisions be journaled first (a decision number only grows): the leg
    /// then takes a new decision, and the reserved one's outcome says why.
    fn place_reserved(&mut self, mut r: RollRecord, open: bool, qty: Decimal, go: Go) {
        let seq = if open { r.open_seq } else { r.close_seq };
        let last = match self.store.with(|s| s.last_decision_seq(&self.cfg.id)) {
            Ok(last) => last,
            Err(e) => {
                self.leg_not_sent(go);
                return tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "cannot read the last decision: the roll's leg waits a second");
            }
        };
        let seq = if seq > last {
            seq
        } else {
            self.decision_seq += 1;
            let new = self.decision_seq;
            let (instrument, what) = if open {
                (r.to.clone(), "open")
            } else {
                (r.from.clone(), "close")
            };
            if open {
                r.open_seq = new;
            } else {
                r.close_seq = new;
            }
            let saved = self.store.with(|s| {
                s.put_state_durable(
                    StateKey::EngineRoll(&self.cfg.id),
                    &r.encode(),
                    "leg decided again",
                    self.clock.now_ms(),
                )
            });
            if let Err(e) = saved {
                self.decision_seq -= 1;
                self.leg_not_sent(go);
                return tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "the roll's leg not journaled: tried again in a second");
            }
            let row = crate::journal::OutcomeRow {
                engine: self.cfg.id.clone(),
                decision_seq: seq,
                symbol: instrument,
                strategy: Strategy::ROLL.as_str().to_owned(),
                outcome: Outcome::Error,
                detail: format!("the roll's {what} leg was not journaled before a restart: decided again as {new}"),
                at_ms: self.clock.now_ms(),
            };
            self.outcomes.record(&self.store, row);
            self.roll = Some(r.clone());
            new
        };
        // The close leg undoes the position, the open leg makes it again.
        let long = r.qty > Decimal::ZERO;
        let (instrument, side) = if open {
            (r.to.clone(), if long { Side::Buy } else { Side::Sell })
        } else {
            (r.from.clone(), if long { Side::Sell } else { Side::Buy })
        };
        self.place_leg(&instrument, seq, side, qty, go);
    }

    /// Whether a leg in `instrument` can go now: its market open, a price
    /// of it, and the breaker's word (asked last: a half-open breaker's
    /// trial is the leg's).
    fn leg_ready(&mut self, instrument: &str) -> Option<Go> {
        if !self.cfg.spec.is_open(self.clock.now_ms()) {
            return None;
        }
        let Some(price) = self.mark_of(instrument) else {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %instrument, "no price for the roll's leg yet");
            return None;
        };
        match self.admit() {
            Ok(trial) => Some(Go { price, trial }),
            Err(why) => {
                tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, %why, "the roll's next leg waits for the breaker");
                None
            }
        }
    }

    /// A leg the breaker let through was not sent after all: its trial,
    /// if it was one, is given back.
    fn leg_not_sent(&mut self, go: Go) {
        if go.trial {
            self.breaker.trial_abandoned();
        }
    }

    /// Journals and sends one leg, as decision `seq`.
    fn place_leg(&mut self, instrument: &str, seq: u64, side: Side, qty: Decimal, go: Go) {
        let Go { price, trial } = go;
        let leg = NewOrder {
            strategy: Strategy::ROLL,
            instrument: instrument.to_owned(),
            side,
            qty,
            price,
            at_ms: self.clock.now_ms(),
            trial,
            note: String::new(),
            limit: None,
        };
        if let Err(why) = self.place_as(leg, seq) {
            tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, %why, "a roll leg was not placed: tried again in a second");
        }
    }

    /// Journals the roll (`None`: no roll under way) with its event, in one
    /// durable transaction; `false` when the journal did not take it.
    fn save_roll(
        &mut self,
        r: Option<&RollRecord>,
        kind: crate::kernel::EventKind,
        detail: String,
    ) -> bool {
        let value = r.map_or_else(|| RollRecord::NONE.to_owned(), RollRecord::encode);
        let (store, now) = (&self.store, self.clock.now_ms());
        let key = StateKey::EngineRoll(&self.cfg.id);
        let why = kind.as_str();
        let saved = self.kernel.events().publish_durably(
            kind,
            &self.cfg.path(),
            detail.clone(),
            |pending| store.with(|s| s.put_state_with_event(pending, key, &value, why, now)),
        );
        if let Err(e) = saved {
            tracing::error!(target: super::ENGINE_LOG, engine = %self.cfg.id, error = %e, "the roll not journaled: tried again in a second");
            return false;
        }
        if kind == ROLL_FAILED {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, "roll failed: {detail}");
        } else {
            tracing::info!(target: super::ENGINE_LOG, engine = %self.cfg.id, "{}: {detail}", kind.as_str());
        }
        self.roll = r.cloned();
        self.publish();
        true
    }

    /// While a roll is under way the engine opens nothing new: the
    /// candidate's outcome, or `None` to go on.
    pub(super) fn rolling(&self) -> Option<(Outcome, String)> {
        self.roll.as_ref().map(|r| {
            (
                Outcome::GateClosed,
                format!(
                    "rolling {} → {}: nothing new until both legs are filled",
                    r.from, r.to
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attempts: u32) -> RollRecord {
        RollRecord {
            from: "KCH26".into(),
            to: "KCK26".into(),
            qty: Decimal::from(2),
            close_seq: 7,
            open_seq: if attempts > 0 { 8 } else { 0 },
            attempts,
        }
    }

    const FILLED: Leg = Leg::Is(Fate::Filled(Decimal::TWO));

    #[test]
    fn every_step_follows_from_the_legs_fates() {
        let r = record(0);
        assert_eq!(step(&r, Leg::Absent, None, None), Step::PlaceClose);
        assert_eq!(step(&r, Leg::Is(Fate::Pending), None, None), Step::Wait);
        assert!(matches!(
            step(&r, Leg::Is(Fate::Rejected), None, None),
            Step::Abandon(why) if why.contains("stays in KCH26")
        ));
        assert_eq!(
            step(&r, FILLED, None, None),
            Step::DecideOpen { qty: Decimal::TWO }
        );
        let r = record(1);
        assert_eq!(
            step(&r, FILLED, Some(Leg::Absent), None),
            Step::PlaceOpen { qty: Decimal::TWO }
        );
        assert_eq!(
            step(&r, FILLED, Some(Leg::Is(Fate::Pending)), None),
            Step::Wait
        );
        assert_eq!(
            step(&r, FILLED, Some(FILLED), None),
            Step::Done { qty: Decimal::TWO }
        );
        assert_eq!(
            step(&r, FILLED, Some(Leg::Is(Fate::Rejected)), None),
            Step::DecideOpen { qty: Decimal::TWO },
            "a refused open leg is decided again"
        );
        let r = record(MAX_OPEN_ATTEMPTS);
        assert!(matches!(
            step(&r, FILLED, Some(Leg::Is(Fate::Rejected)), None),
            Step::Abandon(why) if why.contains("flat") && why.contains("an operator decides")
        ));
    }

    #[test]
    fn a_partial_close_opens_what_it_closed_and_panic_abandons() {
        let r = record(0);
        let one = Leg::Is(Fate::Filled(Decimal::ONE));
        assert_eq!(
            step(&r, one, None, None),
            Step::DecideOpen { qty: Decimal::ONE }
        );
        assert!(matches!(
            step(&r, Leg::Is(Fate::Pending), None, Some("risk level PANIC")),
            Step::Abandon(why) if why.contains("PANIC")
        ));
    }

    #[test]
    fn the_legs_ids_name_their_months() {
        assert_eq!(
            leg_ids("KC", &record(0)),
            ("KC-roll-00000007-KCH26".to_owned(), None)
        );
        assert_eq!(
            leg_ids("KC", &record(1)).1.as_deref(),
            Some("KC-roll-00000008-KCK26")
        );
    }
}
