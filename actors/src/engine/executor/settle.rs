//! What the broker said of an order, into the journal: its fills (each
//! part once), the order working, filled, ended or rejected, and the word
//! to the engine. A fill the journal cannot take is held, and the order
//! path with it.

use super::{Executor, Job, MAX_QUEUED};
use crate::engine::broker::{BrokerError, Known};
use crate::engine::messages::{FillReceived, OrderEnded, OrderRejected};
use crate::events::{ORDER_ENDED, ORDER_FILLED, ORDER_REJECTED};
use crate::model::{Fill, Order};

impl Executor {
    /// Journals `o` rejected and tells the engine. A journal that cannot take
    /// the rejection leaves the order pending: the broker is asked again at
    /// the next re-drive.
    pub(super) fn reject(&mut self, o: &Order, why: String, broker_failure: bool, path: &str) {
        self.working.remove(&o.client_order_id);
        if let Err(je) = self
            .store
            .with(|s| s.reject_order(&o.client_order_id, &why))
        {
            tracing::error!(actor = path, order = %o.client_order_id, error = %je, "cannot journal the rejection: the order stays pending and is asked about again");
            self.ask_again.insert(o.client_order_id.clone());
            return;
        }
        self.kernel.events().publish(
            ORDER_REJECTED,
            path,
            format!("{}: {why}", o.client_order_id),
        );
        let _ = self.engine.tell(OrderRejected {
            client_order_id: o.client_order_id.clone(),
            reason: why,
            broker_failure,
        });
    }

    /// Journals the broker's answer to a submit: what it knows of the order
    /// (fills, working, done), or the rejection.
    pub(super) fn settle(&mut self, o: &Order, answer: Result<Known, BrokerError>, path: &str) {
        match answer {
            Ok(Known::Rejected(why)) => {
                self.reject(o, format!("rejected by the broker: {why}"), false, path)
            }
            Ok(Known::Unknown) => {
                // A broker that took the order and does not know it: asked
                // again at the next re-drive, never sent blind.
                tracing::error!(actor = path, order = %o.client_order_id, "the broker answered a submit with `unknown`: asked again later");
                self.ask_again.insert(o.client_order_id.clone());
            }
            Ok(known) => self.take(o, known, path),
            // Unavailable or refused, the order ends rejected: re-sending it
            // later, at a stale price, is the engine's decision, not ours.
            Err(e) => {
                let failure = e.is_failure();
                self.reject(o, e.to_string(), failure, path);
                // A limit not answered in time: the broker may have taken it
                // after all, and it would rest there unknown to us. Cancelled
                // there too; a broker that never saw it says so.
                if failure && o.limit.is_some() && self.queue.len() < MAX_QUEUED {
                    self.queue.push_back(Job::Cancel {
                        order: o.clone(),
                        why: "cancelled: not acknowledged in time".into(),
                    });
                }
            }
        }
    }

    /// Takes in what the broker knows of `o`: every fill not yet journaled
    /// (each part once), then the order working, filled or ended.
    pub(super) fn take(&mut self, o: &Order, known: Known, path: &str) {
        let id = o.client_order_id.clone();
        let fills = known.fills().to_vec();
        if !fills.is_empty() && o.strategy == crate::model::Strategy::ROLL.as_str() {
            self.crash.reach("roll.at_broker");
        }
        let filled_in_full = matches!(known, Known::Filled(_));
        let last = fills.len();
        for (i, f) in fills.into_iter().enumerate() {
            if !self.journal_fill(o, f, filled_in_full && i + 1 == last, path) {
                // Held: the order path waits for the journal; the rest is
                // asked for again.
                self.ask_again.insert(id);
                return;
            }
        }
        match known {
            Known::Working(f) => {
                if f.is_empty() && !self.working.contains_key(&id) {
                    if let Err(e) = self.store.with(|s| s.mark_working(&id)) {
                        // Still pending in the journal: a successor asks the
                        // broker first, which knows it.
                        tracing::error!(actor = path, order = %id, error = %e, "cannot journal an order as working");
                    }
                }
                self.working.insert(id, o.clone());
            }
            Known::Ended { why, .. } => self.end(o, why, path),
            _ => {
                self.working.remove(&id);
            }
        }
    }

    /// Journals `o` ended for `why` with what it filled (rejected if
    /// nothing) and tells the engine: what did not fill is no longer in
    /// flight. A journal that cannot take it leaves it asked again.
    pub(super) fn end(&mut self, o: &Order, why: String, path: &str) {
        let id = o.client_order_id.clone();
        match self.store.with(|s| s.end_order(&id, &why)) {
            Ok(false) => {
                self.working.remove(&id);
            }
            Ok(true) => {
                self.working.remove(&id);
                self.kernel
                    .events()
                    .publish(ORDER_ENDED, path, format!("{id}: {why}"));
                let _ = self.engine.tell(OrderEnded {
                    client_order_id: id,
                    reason: why,
                });
            }
            Err(e) => {
                tracing::error!(actor = path, order = %id, error = %e, "cannot journal an order's end: asked again later");
                self.ask_again.insert(id);
            }
        }
    }

    /// Journals a fill (its order `filled` when `done`, else `working`) and
    /// tells the engine; a fill the journal cannot take is held
    /// (`unjournaled`) and the order path with it: `false`.
    pub(super) fn journal_fill(&mut self, o: &Order, fill: Fill, done: bool, path: &str) -> bool {
        // A fill in parts says which (a whole order's one fill, as before).
        let part = match (fill.part, done) {
            (1, true) => String::new(),
            (n, true) => format!(" (part {n}, the last)"),
            (n, false) => format!(" (part {n})"),
        };
        let detail = format!(
            "{} {} {} {} @ {} commission {}{part}",
            o.client_order_id,
            fill.side.as_str(),
            fill.qty,
            fill.symbol,
            fill.price,
            fill.commission,
        );
        // The fill and its `order_filled` event in one transaction: a fill
        // the engine acts on is never without its event (nor its webhook).
        let store = &self.store;
        let journaled =
            self.kernel
                .events()
                .publish_durably_if(ORDER_FILLED, path, detail, |pending| {
                    store.with(|s| s.record_fill_with_event(pending, &fill, done))
                });
        match journaled.map(|published| published.map(|(_, id)| id)) {
            Ok(Some(journal_id)) => {
                if o.strategy == crate::model::Strategy::ROLL.as_str() {
                    self.crash.reach("roll.filled");
                }
                // A full or restarting engine reads this fill from the
                // journal (every second, and at its start).
                let _ = self.engine.tell(FillReceived { fill, journal_id });
            }
            // Journaled before (a re-ask of a working order): nothing new.
            Ok(None) if self.working.contains_key(&o.client_order_id) => {}
            // A fill for an order the journal has settled (rejected after a
            // timeout, then filled by the broker): never applied here; the
            // daily reconciliation shows the difference.
            Ok(None) => {
                tracing::error!(actor = path, order = %o.client_order_id, part = fill.part, "the broker has a fill for an order the journal has settled: not journaled; the reconciliation will show it")
            }
            // Never sent again: held, journaled once the journal takes it (a
            // successor asks the broker for it). The connection is marked
            // failing, so the engine journals no new order meanwhile.
            Err(e) => {
                tracing::error!(actor = path, order = %o.client_order_id, error = %e, "cannot journal a fill: the order path stops (nothing is sent) until it is journaled");
                self.unjournaled.push((o.clone(), fill, done));
                return false;
            }
        }
        true
    }

    /// Tries again to journal the fills the journal could not take, oldest
    /// first; stops at the first that still fails.
    pub(super) fn journal_held(&mut self, path: &str) {
        let held = std::mem::take(&mut self.unjournaled);
        let mut rest = held.into_iter();
        for (o, fill, done) in rest.by_ref() {
            if !self.journal_fill(&o, fill, done, path) {
                break;
            }
        }
        self.unjournaled.extend(rest);
        if self.unjournaled.is_empty() {
            tracing::info!(actor = path, "held fills journaled: the order path goes on");
        }
    }
}
