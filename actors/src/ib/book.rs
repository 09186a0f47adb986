//! What IB has told us of one engine's orders, pure: keyed by our client
//! order id (IB's order reference), fed by order statuses, executions,
//! commission reports and errors, and read as a [`Known`] (what the broker
//! knows of an order). No I/O and no clock: the connection task feeds it
//! and the broker actor reads it.
//!
//! The rules:
//! - an execution is a part of its order's fills once its commission report
//!   is in (a fill is journaled once, with its commission, never amended);
//!   parts are numbered in the order of IB's cumulative quantity (each
//!   execution carries the order's filled quantity after it), so a restart
//!   that learns the executions again from `reqExecutions`, in whatever
//!   order IB lists them, numbers them as the live stream did (the journal
//!   takes each part number once);
//! - an execution IB reports twice (the live stream, then a
//!   reconciliation) is taken once, by its execution id; a correction
//!   (same id but the last digits) is logged and not taken;
//! - an order is `Filled` when IB says so and its parts add up to its
//!   quantity; `Ended` when IB cancelled it (or made it inactive) and the
//!   parts add up to what IB says it filled; `Rejected` when IB refused it
//!   before any fill;
//! - an order we handed the connection that never reached IB (the link fell
//!   first), or that IB had no record of after a reconnect, ends: it is not
//!   sent again (the executor never re-sends a working order).

use crate::engine::broker::Known;
use crate::model::{Fill, Order, Side};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// The most orders one engine's book keeps; the oldest done ones go first
/// (the journal has them; IB's reconciliation would bring a live one back).
pub const MAX_ORDERS: usize = 4096;

/// Where an order stands between us and IB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Handed to the connection, not yet written to IB.
    Queued,
    /// Written to IB (with its order id), no word back yet.
    Placed,
    /// IB has it and it is live (submitted, pre-submitted, pending).
    Live,
    /// IB filled all of it.
    Filled,
    /// IB ended it before it filled in full: cancelled, inactive.
    Ended(String),
    /// IB refused it (no fill), or it never reached IB.
    Refused(String),
}

impl Stage {
    fn done(&self) -> bool {
        matches!(self, Stage::Filled | Stage::Ended(_) | Stage::Refused(_))
    }
}

/// One execution of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    pub id: String,
    /// The order's filled quantity after this execution (IB's `cumQty`):
    /// the parts' order. 0 when IB does not say (then: arrival order).
    pub cum: Decimal,
    pub qty: Decimal,
    pub price: Decimal,
    pub at_ms: u64,
    pub commission: Option<Decimal>,
}

/// One order as IB reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub instrument: String,
    pub side: Side,
    pub qty: Decimal,
    /// IB's order id, once placed (or learned from IB).
    pub ib_id: Option<i32>,
    pub stage: Stage,
    /// What IB's last status said was filled.
    pub filled: Decimal,
    pub execs: Vec<Exec>,
    /// Sequence of the last change, for pruning the oldest.
    touched: u64,
}

/// One engine's orders at IB.
#[derive(Debug, Default)]
pub struct Book {
    engine: String,
    orders: BTreeMap<String, Entry>,
    /// IB's order id → our client order id.
    by_ib_id: HashMap<i32, String>,
    /// Execution id → client order id: the commission report names only
    /// the execution.
    by_exec: HashMap<String, String>,
    /// Commission reports that came before their execution.
    early_commissions: HashMap<String, Decimal>,
    seq: u64,
}

/// IB's word on an order's state, as the adapter reads its status names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Submitted, pre-submitted, pending submit or cancel, API pending.
    Live,
    Filled,
    /// Cancelled (by us, IB or the exchange), or inactive; with IB's words.
    Ended(String),
}

impl Status {
    /// Reads IB's status name (`Submitted`, `Filled`, `Cancelled`, ...).
    pub fn of(name: &str, why_held: &str) -> Status {
        match name {
            "Filled" => Status::Filled,
            "Cancelled" | "ApiCancelled" => Status::Ended(format!("cancelled at IB ({name})")),
            "Inactive" => Status::Ended(if why_held.is_empty() {
                "made inactive by IB".to_owned()
            } else {
                format!("made inactive by IB: {why_held}")
            }),
            _ => Status::Live,
        }
    }
}

impl Book {
    pub fn new(engine: &str) -> Book {
        Book {
            engine: engine.to_owned(),
            ..Book::default()
        }
    }

    /// Whether an order reference is one of this engine's client order ids
    /// (`<engine>-<strategy>-<seq>-<instrument>`).
    pub fn owns(&self, order_ref: &str) -> bool {
        order_ref
            .strip_prefix(self.engine.as_str())
            .is_some_and(|rest| rest.starts_with('-') && rest.matches('-').count() == 3)
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.orders.get(id)
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Orders IB has not finished with (handed over, placed, live).
    pub fn open_ids(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|(_, e)| !e.stage.done())
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn touch(&mut self, id: &str) {
        self.seq += 1;
        if let Some(e) = self.orders.get_mut(id) {
            e.touched = self.seq;
        }
    }

    /// An order handed to the connection: queued until written to IB.
    pub fn queue(&mut self, o: &Order) {
        self.orders.insert(
            o.client_order_id.clone(),
            Entry {
                instrument: o.symbol.clone(),
                side: o.side,
                qty: o.qty,
                ib_id: None,
                stage: Stage::Queued,
                filled: Decimal::ZERO,
                execs: Vec::new(),
                touched: 0,
            },
        );
        self.touch(&o.client_order_id);
        self.prune();
    }

    /// Forgets an order that could not even be queued.
    pub fn unqueue(&mut self, id: &str) {
        if self
            .orders
            .get(id)
            .is_some_and(|e| e.stage == Stage::Queued)
        {
            self.orders.remove(id);
        }
    }

    /// The order was written to IB under `ib_id`.
    pub fn placed(&mut self, id: &str, ib_id: i32) {
        if let Some(e) = self.orders.get_mut(id) {
            e.ib_id = Some(ib_id);
            if e.stage == Stage::Queued {
                e.stage = Stage::Placed;
            }
            self.by_ib_id.insert(ib_id, id.to_owned());
        }
        self.touch(id);
    }

    /// The order could not be placed, or IB refused it: it ends unless it
    /// has fills (then IB's status decides).
    pub fn refuse(&mut self, id: &str, why: &str) {
        if let Some(e) = self.orders.get_mut(id) {
            if e.execs.is_empty() && !e.stage.done() {
                e.stage = Stage::Refused(why.to_owned());
            }
        }
        self.touch(id);
    }

    /// IB refused one of its order ids (an order rejection notice): it
    /// refuses an order IB has not acknowledged yet. An order IB holds live
    /// ends by IB's own status (cancelled, inactive), never by a notice, so
    /// a notice about a live order (a cancel that came too late) changes
    /// nothing. Returns our id when it refused ours.
    pub fn error_for(&mut self, ib_id: i32, code: i32, message: &str) -> Option<String> {
        let id = self.by_ib_id.get(&ib_id)?.clone();
        let e = self.orders.get(&id)?;
        if !matches!(e.stage, Stage::Queued | Stage::Placed) || !e.execs.is_empty() {
            return None;
        }
        self.refuse(&id, &format!("IB error {code}: {message}"));
        Some(id)
    }

    /// An order IB reported (an open or completed order, live or after a
    /// reconnect): learned if we did not have it, its stage updated.
    pub fn learn(&mut self, id: &str, ib_id: Option<i32>, o: Learned) {
        let e = self.orders.entry(id.to_owned()).or_insert_with(|| Entry {
            instrument: o.instrument.clone(),
            side: o.side,
            qty: o.qty,
            ib_id,
            stage: Stage::Live,
            filled: Decimal::ZERO,
            execs: Vec::new(),
            touched: 0,
        });
        if ib_id.is_some() {
            e.ib_id = ib_id;
        }
        if matches!(e.stage, Stage::Queued | Stage::Placed) {
            e.stage = Stage::Live;
        }
        if let Some(ib) = e.ib_id {
            self.by_ib_id.insert(ib, id.to_owned());
            if let Some(s) = o.status {
                self.status(ib, s, o.filled);
            }
        } else if let (Some(s), Some(e)) = (o.status, self.orders.get_mut(id)) {
            // A completed order of an earlier session has no order id here.
            e.filled = e.filled.max(o.filled);
            e.stage = match s {
                Status::Live => Stage::Live,
                Status::Filled => Stage::Filled,
                Status::Ended(why) => Stage::Ended(why),
            };
        }
        self.touch(id);
    }

    /// An order status of IB's order id `ib_id`. Returns our id when ours.
    pub fn status(&mut self, ib_id: i32, s: Status, filled: Decimal) -> Option<String> {
        let id = self.by_ib_id.get(&ib_id)?.clone();
        let e = self.orders.get_mut(&id)?;
        e.filled = e.filled.max(filled);
        e.stage = match (s, &e.stage) {
            // A word that comes late does not undo an end.
            (_, Stage::Filled) => Stage::Filled,
            (Status::Live, Stage::Ended(w)) => Stage::Ended(w.clone()),
            // IB holds it: whatever we had concluded, it is live.
            (Status::Live, _) => Stage::Live,
            (Status::Filled, _) => Stage::Filled,
            (Status::Ended(_), Stage::Refused(w)) if e.filled.is_zero() => {
                Stage::Refused(w.clone())
            }
            (Status::Ended(why), _) => Stage::Ended(why),
        };
        self.touch(&id);
        Some(id)
    }

    /// An execution of one of our orders that IB lists without the order
    /// (no longer open, and gone from its completed orders after a gateway
    /// restart): the order is learned from it, its size unknown, so it
    /// stays working (in flight, never sent again) while its parts are
    /// journaled.
    pub fn execution_of_unheard(
        &mut self,
        order_ref: &str,
        instrument: &str,
        side: Side,
        x: Exec,
    ) -> bool {
        if !self.orders.contains_key(order_ref) {
            tracing::warn!(order = order_ref, "IB has executions of an order it no longer lists: learned from them (its size unknown: it stays working)");
            self.orders.insert(
                order_ref.to_owned(),
                Entry {
                    instrument: instrument.to_owned(),
                    side,
                    qty: Decimal::ZERO,
                    ib_id: None,
                    stage: Stage::Live,
                    filled: Decimal::ZERO,
                    execs: Vec::new(),
                    touched: 0,
                },
            );
        }
        self.execution(order_ref, x)
    }

    /// An execution of the order `order_ref` (ours, checked by the caller).
    /// Returns whether it was new.
    pub fn execution(&mut self, order_ref: &str, x: Exec) -> bool {
        if self.by_exec.contains_key(&x.id) {
            return false;
        }
        // A correction repeats an execution id but for its last digits.
        let base = x.id.rsplit_once('.').map_or(x.id.as_str(), |(b, _)| b);
        let Some(e) = self.orders.get_mut(order_ref) else {
            return false;
        };
        if e.execs
            .iter()
            .any(|p| p.id.rsplit_once('.').map_or(p.id.as_str(), |(b, _)| b) == base)
        {
            tracing::warn!(order = order_ref, exec = %x.id, "IB corrected an execution: the first report stands (the reconciliation shows a difference)");
            return false;
        }
        let mut x = x;
        if x.commission.is_none() {
            x.commission = self.early_commissions.remove(&x.id);
        }
        self.by_exec.insert(x.id.clone(), order_ref.to_owned());
        if let Some(e) = self.orders.get_mut(order_ref) {
            // In the order of the cumulative quantity (equal: as they came).
            let at = e.execs.partition_point(|p| p.cum <= x.cum);
            if at < e.execs.len() {
                tracing::warn!(order = order_ref, exec = %x.id, "IB reported an execution before one it had reported earlier: parts are numbered by IB's cumulative quantity");
            }
            e.execs.insert(at, x);
            if matches!(e.stage, Stage::Queued | Stage::Placed | Stage::Refused(_)) {
                e.stage = Stage::Live;
            }
        }
        self.touch(order_ref);
        true
    }

    /// A commission report: its execution's part becomes a fill. Returns the
    /// order it belongs to when known.
    pub fn commission(&mut self, exec_id: &str, commission: Decimal) -> Option<String> {
        let Some(id) = self.by_exec.get(exec_id).cloned() else {
            if self.early_commissions.len() < MAX_ORDERS {
                self.early_commissions
                    .insert(exec_id.to_owned(), commission);
            }
            return None;
        };
        if let Some(x) = self
            .orders
            .get_mut(&id)
            .and_then(|e| e.execs.iter_mut().find(|x| x.id == exec_id))
        {
            x.commission.get_or_insert(commission);
        }
        self.touch(&id);
        Some(id)
    }

    /// After a reconnect's reconciliation: what we placed that IB has no
    /// record of never reached it; what was queued when the link fell was
    /// never written. Both end. Returns their ids.
    pub fn unseen_after_reconnect(&mut self, seen: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for (id, e) in self.orders.iter_mut() {
            match e.stage {
                Stage::Queued => {
                    e.stage = Stage::Refused(
                        "not sent: the connection to IB fell before it was written".into(),
                    )
                }
                Stage::Placed | Stage::Live if !seen(id) && e.execs.is_empty() => {
                    e.stage = Stage::Refused(
                        "IB has no record of it after the reconnect: it never reached IB".into(),
                    )
                }
                _ => continue,
            }
            out.push(id.clone());
        }
        out
    }

    /// Queued orders, to be written once the link is up.
    pub fn queued(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|(_, e)| e.stage == Stage::Queued)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// What IB knows of `id`, as the executor reads it.
    pub fn known(&self, id: &str) -> Known {
        let Some(e) = self.orders.get(id) else {
            return Known::Unknown;
        };
        let fills = self.fills(id, e);
        let complete = fills.len() == e.execs.len();
        let filled: Decimal = fills.iter().map(|f| f.qty).sum();
        match &e.stage {
            Stage::Refused(why) if fills.is_empty() && e.execs.is_empty() => {
                Known::Rejected(why.clone())
            }
            // IB does not always say "Filled" of a market order: its parts
            // adding up to the order are enough.
            _ if complete && e.qty > Decimal::ZERO && filled >= e.qty => Known::Filled(fills),
            Stage::Ended(why) | Stage::Refused(why) if complete && filled >= e.filled => {
                Known::Ended {
                    fills,
                    why: why.clone(),
                }
            }
            _ => Known::Working(fills),
        }
    }

    /// The parts that can be numbered for good: in the order of IB's
    /// cumulative quantity, each starting where the one before it ended
    /// (from 0), each with its commission in. A gap (an execution not heard
    /// of yet) holds back the parts after it, so a part's number never
    /// changes once it was said: a history IB no longer lists (older than
    /// the reconciliation's days) leaves the order working, never
    /// renumbered.
    fn fills(&self, id: &str, e: &Entry) -> Vec<Fill> {
        let mut reached = Decimal::ZERO;
        e.execs
            .iter()
            .map_while(|x| {
                let chained = x.cum.is_zero() || x.cum - x.qty == reached;
                let c = x.commission.filter(|_| chained)?;
                if !x.cum.is_zero() {
                    reached = x.cum;
                }
                Some((x, c))
            })
            .enumerate()
            .map(|(i, (x, commission))| Fill {
                client_order_id: id.to_owned(),
                engine: self.engine.clone(),
                symbol: e.instrument.clone(),
                side: e.side,
                qty: x.qty,
                price: x.price,
                commission,
                at_ms: x.at_ms,
                part: i as u32 + 1,
            })
            .collect()
    }

    /// Keeps at most [`MAX_ORDERS`]: the oldest done orders go.
    fn prune(&mut self) {
        while self.orders.len() > MAX_ORDERS {
            let Some(oldest) = self
                .orders
                .iter()
                .filter(|(_, e)| e.stage.done())
                .min_by_key(|(_, e)| e.touched)
                .map(|(id, _)| id.clone())
            else {
                return;
            };
            if let Some(e) = self.orders.remove(&oldest) {
                if let Some(ib) = e.ib_id {
                    self.by_ib_id.remove(&ib);
                }
                for x in e.execs {
                    self.by_exec.remove(&x.id);
                }
            }
        }
    }
}

/// An order as IB reports it (open or completed orders).
#[derive(Debug, Clone)]
pub struct Learned {
    pub instrument: String,
    pub side: Side,
    pub qty: Decimal,
    pub status: Option<Status>,
    pub filled: Decimal,
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
