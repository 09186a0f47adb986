//! The executor: sends the orders the engine has journaled to the broker and
//! journals each fill with the order's new status in one durable transaction.
//!
//! Nothing is sent twice and nothing journaled is forgotten: an order the
//! executor never handled (lost to a fault in its mailbox, or a crash between
//! "journaled" and "sent") is re-driven from the journal under its original
//! client order id, at every start, when the engine says an order it sent is
//! `REDRIVE_AFTER` old ([`Redrive`], on the market clock, so at any feed speed
//! before the price goes stale) and every second, for orders pending more than
//! `REDRIVE_AFTER`; one older than `MAX_REDRIVE_AGE` (market time) is not sent
//! at a stale price but rejected. Ids handled by this instance are remembered (bounded), so a
//! re-driven order whose message arrives later is not sent again.
//!
//! One order at a time goes to the broker actor (asked with `broker.timeout`,
//! and a deadline the broker keeps: an order it reaches late is not sent); the
//! next wait in a bounded queue while the mailbox stays open, so a slow broker
//! never looks like a hung executor. The SQLite writes run on the engine's own
//! arbiter: a few ms of fsync per order, felt by this engine only.

use super::actor::Engine;
use super::broker::{BrokerActor, BrokerError, Submit};
use super::messages::{CancelPending, FillReceived, OrderRejected, Redrive, SubmitOrder};
use super::recent::Recent;
use crate::clock::Clock;
use crate::events::{ORDER_FILLED, ORDER_REJECTED, ORDER_SUBMITTED};
use crate::journal::SharedStore;
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::model::{Fill, Order};
use std::sync::Arc;
use std::time::Duration;

/// A pending order older than this (since it was journaled) is re-driven.
pub const REDRIVE_AFTER: Duration = Duration::from_secs(2);
/// A pending order older than this is rejected instead of sent.
pub const MAX_REDRIVE_AGE: Duration = Duration::from_secs(60);
/// Client order ids this instance has handled, remembered.
pub const HANDLED_LIMIT: usize = 4096;
/// Orders waiting for the broker to answer the one before; beyond this an
/// order is rejected (the broker is not keeping up: a broker failure).
pub const MAX_QUEUED: usize = 1024;

pub struct Executor {
    engine_id: String,
    store: Arc<SharedStore>,
    broker: Handle<BrokerActor>,
    /// How long the broker has to answer; no answer is a broker failure. Below
    /// the liveness probe's timeout: the executor answers no probe meanwhile.
    broker_timeout: Duration,
    engine: Handle<Engine>,
    kernel: Kernel,
    handled: Recent<String>,
    /// One order at a time goes to the broker; the next wait here, in order.
    queue: std::collections::VecDeque<Order>,
    sending: bool,
    clock: Clock,
}

impl Executor {
    pub fn factory(
        engine_id: String,
        store: Arc<SharedStore>,
        broker: Handle<BrokerActor>,
        broker_timeout: Duration,
        engine: Handle<Engine>,
        kernel: Kernel,
        clock: Clock,
    ) -> impl Fn() -> Executor + Send + Sync + 'static {
        move || Executor {
            engine_id: engine_id.clone(),
            store: store.clone(),
            broker: broker.clone(),
            broker_timeout,
            engine: engine.clone(),
            kernel: kernel.clone(),
            handled: Recent::new(HANDLED_LIMIT),
            queue: Default::default(),
            sending: false,
            clock,
        }
    }

    /// `false` when this instance already handled `id`.
    fn first_time(&mut self, id: &str) -> bool {
        self.handled.insert(id.to_owned())
    }

    fn reject(&mut self, o: &Order, why: String, broker_failure: bool, path: &str) {
        if let Err(je) = self
            .store
            .with(|s| s.reject_order(&o.client_order_id, &why))
        {
            panic!(
                "cannot journal the rejection of {}: {je}",
                o.client_order_id
            );
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

    /// Sends a journaled order to the broker, or queues it behind the one the
    /// broker has not answered yet. The mailbox stays open meanwhile (liveness
    /// probes, cancels): a slow broker is a broker failure, not a hung executor.
    fn execute(&mut self, o: Order, ctx: &mut Ctx<'_, Self>) {
        if !self.sending {
            return self.send(o, ctx);
        }
        if self.queue.len() >= MAX_QUEUED {
            let why = format!("{MAX_QUEUED} orders already wait for the broker");
            let path = ctx.path().to_owned();
            return self.reject(&o, why, true, &path);
        }
        self.queue.push_back(o);
    }

    fn send(&mut self, o: Order, ctx: &mut Ctx<'_, Self>) {
        self.sending = true;
        self.kernel.events().publish(
            ORDER_SUBMITTED,
            ctx.path(),
            format!(
                "{} {} {} {} ref {}",
                o.client_order_id,
                o.side.as_str(),
                o.qty,
                o.symbol,
                o.ref_price
            ),
        );
        let (broker, timeout) = (self.broker.clone(), self.broker_timeout);
        let submit = Submit {
            order: o.clone(),
            deadline: self.clock.instant() + timeout,
        };
        ctx.spawn_then(
            async move {
                match broker.ask_timeout(submit, timeout).await {
                    Ok(answer) => answer,
                    Err(e) => Err(BrokerError::Unavailable(e.to_string())),
                }
            },
            move |x, ctx, answer| {
                let path = ctx.path().to_owned();
                x.settle(&o, answer, &path);
                x.sending = false;
                if let Some(next) = x.queue.pop_front() {
                    x.send(next, ctx);
                }
            },
        );
    }

    /// Journals the broker's answer: the fill with the order's new status, or
    /// the rejection.
    fn settle(&mut self, o: &Order, answer: Result<Fill, BrokerError>, path: &str) {
        match answer {
            Ok(fill) => match self.store.with(|s| s.record_fill(&fill)) {
                Ok(Some(journal_id)) => {
                    self.kernel.events().publish(
                        ORDER_FILLED,
                        path,
                        format!(
                            "{} {} {} {} @ {} commission {}",
                            o.client_order_id,
                            fill.side.as_str(),
                            fill.qty,
                            fill.symbol,
                            fill.price,
                            fill.commission
                        ),
                    );
                    // A full or restarting engine reads this fill from the
                    // journal (every second, and at its start).
                    let _ = self.engine.tell(FillReceived { fill, journal_id });
                }
                Ok(None) => {
                    tracing::warn!(actor = path, order = %o.client_order_id, "fill for an order already acknowledged: ignored")
                }
                // The order stays pending: re-driven by the successor.
                Err(e) => panic!("cannot journal the fill of {}: {e}", o.client_order_id),
            },
            // Unavailable or refused, the order ends rejected: re-sending it
            // later, at a stale price, is the engine's decision, not ours.
            Err(e) => {
                let failure = e.is_failure();
                self.reject(o, e.to_string(), failure, path)
            }
        }
    }

    /// Re-drives the engine's orders that are pending for longer than
    /// `REDRIVE_AFTER` and that this instance has not handled.
    fn redrive(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = self.clock.now_ms();
        let before = now.saturating_sub(REDRIVE_AFTER.as_millis() as u64);
        let pending = self
            .store
            .with(|s| s.pending_orders(&self.engine_id, before))
            .unwrap_or_else(|e| panic!("{e}"));
        let path = ctx.path().to_owned();
        for (created_ms, o) in pending {
            if !self.first_time(&o.client_order_id) {
                continue;
            }
            let age = Duration::from_millis(now.saturating_sub(created_ms));
            if age > MAX_REDRIVE_AGE {
                tracing::warn!(actor = %path, order = %o.client_order_id, ?age, "pending order too old to send: rejected");
                self.reject(
                    &o,
                    format!("not sent within {MAX_REDRIVE_AGE:?} of its decision (stale)"),
                    false,
                    &path,
                );
            } else {
                tracing::info!(actor = %path, order = %o.client_order_id, "re-driving an order journaled but not sent");
                self.execute(o, ctx);
            }
        }
    }
}

impl Worker for Executor {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        // What a predecessor left (its mailbox, a crash): now, and once the
        // orders it was given last are `REDRIVE_AFTER` old in market time
        // (at `feed.speed` 60 that is 33 ms), before they go stale; then
        // every second as a safety net.
        self.redrive(ctx);
        let again = self.clock.span(REDRIVE_AFTER) + Duration::from_millis(1);
        ctx.run_later(again, |x, ctx| x.redrive(ctx));
        ctx.run_interval(Duration::from_secs(1), |x, ctx| x.redrive(ctx));
    }
}

impl Handles<SubmitOrder> for Executor {
    fn handle(&mut self, SubmitOrder(o): SubmitOrder, ctx: &mut Ctx<'_, Self>) {
        // Re-driven already (its message waited longer than REDRIVE_AFTER), or
        // cancelled.
        if !self.first_time(&o.client_order_id) {
            return;
        }
        self.execute(o, ctx);
    }
}

impl Handles<Redrive> for Executor {
    fn handle(&mut self, _: Redrive, ctx: &mut Ctx<'_, Self>) {
        self.redrive(ctx);
    }
}

impl Handles<CancelPending> for Executor {
    /// Cancels the engine's orders journaled and not yet sent, decided at or
    /// before `up_to_seq` (PANIC): each ends rejected with the reason, and its
    /// message, if it comes later, is not sent. A journal that cannot be read
    /// now is logged; the engine asks again every second.
    fn handle(&mut self, m: CancelPending, ctx: &mut Ctx<'_, Self>) {
        let pending = match self
            .store
            .with(|s| s.pending_orders(&self.engine_id, u64::MAX))
        {
            Ok(p) => p,
            Err(e) => {
                return tracing::error!(actor = ctx.path(), error = %e, "cannot read pending orders to cancel them")
            }
        };
        let path = ctx.path().to_owned();
        let why = format!("cancelled: {}", m.reason);
        for (_, o) in pending {
            if o.decision_seq <= m.up_to_seq && self.first_time(&o.client_order_id) {
                self.reject(&o, why.clone(), false, &path);
            }
        }
        // Queued behind the broker's current order: not sent either.
        let (cancel, keep): (Vec<Order>, Vec<Order>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|o| o.decision_seq <= m.up_to_seq);
        self.queue = keep.into();
        for o in cancel {
            self.reject(&o, why.clone(), false, &path);
        }
    }
}
