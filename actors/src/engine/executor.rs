//! The executor: sends the orders the engine has journaled to the broker and
//! journals each fill with the order's new status in one durable transaction.
//!
//! Nothing is sent twice and nothing journaled is forgotten. An order the
//! engine hands over ([`SubmitOrder`]) is sent. An order pending in the
//! journal that this instance never handled (lost to a fault in its mailbox,
//! or sent by a predecessor that crashed before journaling the answer, or
//! whose fill could not be journaled) has a fate the executor does not know:
//! it is re-driven by asking the broker first ([`Lookup`]), under its original
//! client order id, and sent only if the broker has never seen it. A fill
//! the broker knows is journaled as the fill; a refusal it knows, as the
//! rejection; a broker that cannot say (unreachable, timed out) or says the
//! order is working leaves the order pending, asked again at the next
//! re-drive, never sent blind. Re-drives run at every start, when the engine
//! says an order it sent is `REDRIVE_AFTER` old ([`Redrive`], on the market
//! clock, so at any feed speed before the price goes stale) and every
//! second, for orders pending more than `REDRIVE_AFTER`; one the broker never
//! saw and older than `MAX_REDRIVE_AGE` (market time) is not sent at a stale
//! price but rejected. Ids handled by this instance are remembered (bounded),
//! so a re-driven order whose message arrives later is not sent again.
//!
//! A fill the journal cannot take (a full disk) is held, not dropped: the
//! order path stops (nothing more is sent by this executor, and the engine's
//! connection, marked failing, journals no new order) until the fill is
//! journaled, retried every second. If the executor dies meanwhile, its
//! successor asks the broker for the order and journals the fill then.
//!
//! One request at a time goes to the broker actor (asked with
//! `broker.timeout`, and for a submit a deadline the broker keeps: an order it
//! reaches late is not sent); the next wait in a bounded queue while the
//! mailbox stays open, so a slow broker never looks like a hung executor. The
//! SQLite writes run on the engine's own arbiter: a few ms of fsync per
//! order, felt by this engine only.

use super::actor::Engine;
use super::broker::{BrokerActor, BrokerError, Known, Lookup, Submit};
use super::messages::{CancelPending, FillReceived, OrderRejected, Redrive, SubmitOrder};
use super::recent::Recent;
use crate::clock::Clock;
use crate::events::{ORDER_FILLED, ORDER_REJECTED, ORDER_SUBMITTED};
use crate::journal::SharedStore;
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::model::{Fill, Order};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// A pending order older than this (since it was journaled) is re-driven.
pub const REDRIVE_AFTER: Duration = Duration::from_secs(2);
/// A pending order the broker never saw and older than this is rejected
/// instead of sent.
pub const MAX_REDRIVE_AGE: Duration = Duration::from_secs(60);
/// Client order ids this instance has handled, remembered.
pub const HANDLED_LIMIT: usize = 4096;
/// Requests waiting for the broker to answer the one before; beyond this an
/// order is rejected (the broker is not keeping up: a broker failure).
pub const MAX_QUEUED: usize = 1024;

/// What the executor has the broker do, one at a time.
#[derive(Debug)]
enum Job {
    /// The engine's order, first seen here: sent.
    Send(Order),
    /// A journaled order this instance did not send (a predecessor may have):
    /// the broker is asked first. `cancel`: unless the broker has it, it
    /// ends rejected for this reason instead of sent.
    Ask {
        order: Order,
        created_ms: u64,
        cancel: Option<String>,
    },
}

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
    /// One request at a time goes to the broker; the next wait here, in order.
    queue: VecDeque<Job>,
    /// A request is with the broker.
    busy: bool,
    /// Pending orders whose fate the broker could not tell yet (unreachable,
    /// working) or whose settlement could not be journaled: asked again at the
    /// next re-drive.
    ask_again: HashSet<String>,
    /// Fills the journal could not take: nothing is sent until they are
    /// journaled (retried every second).
    unjournaled: Vec<(Order, Fill)>,
    clock: Clock,
    /// `faults.crash_at`: a roll's leg answered by the broker but not yet
    /// journaled (`roll.at_broker`), or journaled but not yet told to the
    /// engine (`roll.filled`).
    crash: crate::kernel::CrashPoint,
}

impl Executor {
    pub fn factory(
        engine_id: String,
        store: Arc<SharedStore>,
        broker: Handle<BrokerActor>,
        broker_timeout: Duration,
        engine: Handle<Engine>,
        kernel: Kernel,
        (clock, crash): (Clock, crate::kernel::CrashPoint),
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
            busy: false,
            ask_again: HashSet::new(),
            unjournaled: Vec::new(),
            clock,
            crash: crash.clone(),
        }
    }

    /// `false` when this instance already handled `id`.
    fn first_time(&mut self, id: &str) -> bool {
        self.handled.insert(id.to_owned())
    }

    /// Journals `o` rejected and tells the engine. A journal that cannot take
    /// the rejection leaves the order pending: the broker is asked again at
    /// the next re-drive.
    fn reject(&mut self, o: &Order, why: String, broker_failure: bool, path: &str) {
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

    /// Queues `job` behind the request the broker has not answered yet. The
    /// mailbox stays open meanwhile (liveness probes, cancels): a slow broker
    /// is a broker failure, not a hung executor.
    fn execute(&mut self, job: Job, ctx: &mut Ctx<'_, Self>) {
        if self.queue.len() >= MAX_QUEUED {
            let path = ctx.path().to_owned();
            match job {
                Job::Send(o) => {
                    let why = format!("{MAX_QUEUED} orders already wait for the broker");
                    self.reject(&o, why, true, &path);
                }
                // Its fate is unknown: not rejected, asked again later.
                Job::Ask { order, .. } => {
                    self.ask_again.insert(order.client_order_id);
                }
            }
            return;
        }
        self.queue.push_back(job);
        self.pump(ctx);
    }

    /// Gives the broker the next request, unless one is with it or a fill
    /// is waiting for the journal (then the order path holds).
    fn pump(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.busy {
            return;
        }
        if !self.unjournaled.is_empty() {
            let path = ctx.path().to_owned();
            self.journal_held(&path);
            if !self.unjournaled.is_empty() {
                return;
            }
        }
        match self.queue.pop_front() {
            Some(Job::Send(o)) => self.send(o, ctx),
            Some(Job::Ask {
                order,
                created_ms,
                cancel,
            }) => self.ask(order, created_ms, cancel, ctx),
            None => {}
        }
    }

    fn send(&mut self, o: Order, ctx: &mut Ctx<'_, Self>) {
        self.busy = true;
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
                x.busy = false;
                x.pump(ctx);
            },
        );
    }

    /// Asks the broker what it knows of `o`, then settles it by the answer
    /// (sends it only if the broker never saw it).
    fn ask(&mut self, o: Order, created_ms: u64, cancel: Option<String>, ctx: &mut Ctx<'_, Self>) {
        self.busy = true;
        let (broker, timeout) = (self.broker.clone(), self.broker_timeout);
        let lookup = Lookup {
            client_order_id: o.client_order_id.clone(),
        };
        ctx.spawn_then(
            async move {
                match broker.ask_timeout(lookup, timeout).await {
                    Ok(answer) => answer,
                    Err(e) => Err(BrokerError::Unavailable(e.to_string())),
                }
            },
            move |x, ctx, answer| {
                x.busy = false;
                if x.known(o, created_ms, cancel, answer, ctx) {
                    x.pump(ctx);
                }
            },
        );
    }

    /// What the broker said of a re-driven order. `false`: it is being sent
    /// (the executor is busy with it).
    fn known(
        &mut self,
        o: Order,
        created_ms: u64,
        cancel: Option<String>,
        answer: Result<Known, BrokerError>,
        ctx: &mut Ctx<'_, Self>,
    ) -> bool {
        let path = ctx.path().to_owned();
        let id = o.client_order_id.clone();
        match answer {
            Ok(Known::Unknown) => {
                let age = Duration::from_millis(self.clock.now_ms().saturating_sub(created_ms));
                if let Some(why) = cancel {
                    self.reject(&o, why, false, &path);
                } else if age > MAX_REDRIVE_AGE {
                    tracing::warn!(actor = %path, order = %id, ?age, "pending order the broker never saw, too old to send: rejected");
                    let why =
                        format!("not sent within {MAX_REDRIVE_AGE:?} of its decision (stale)");
                    self.reject(&o, why, false, &path);
                } else {
                    tracing::info!(actor = %path, order = %id, "re-driving an order journaled but not sent (the broker never saw it)");
                    self.send(o, ctx);
                    return false;
                }
            }
            Ok(Known::Filled(fill)) => {
                tracing::warn!(actor = %path, order = %id, "the broker had filled a pending order: its fill is journaled, the order not sent again");
                self.settle(&o, Ok(fill), &path);
            }
            Ok(Known::Rejected(why)) => {
                tracing::warn!(actor = %path, order = %id, %why, "the broker had refused a pending order: journaled rejected");
                self.reject(&o, format!("rejected by the broker: {why}"), false, &path);
            }
            Ok(Known::Working) => {
                tracing::info!(actor = %path, order = %id, "the broker is still working a pending order: asked again later");
                self.ask_again.insert(id);
            }
            Err(e) => {
                tracing::warn!(actor = %path, order = %id, error = %e, "the broker cannot say what it knows of a pending order: it stays pending, asked again later, not sent");
                self.ask_again.insert(id);
            }
        }
        true
    }

    /// Journals the broker's answer: the fill with the order's new status, or
    /// the rejection.
    fn settle(&mut self, o: &Order, answer: Result<Fill, BrokerError>, path: &str) {
        let roll = o.strategy == crate::model::Strategy::ROLL.as_str();
        match answer {
            Ok(fill) => {
                if roll {
                    self.crash.reach("roll.at_broker");
                }
                self.journal_fill(o, fill, path);
            }
            // Unavailable or refused, the order ends rejected: re-sending it
            // later, at a stale price, is the engine's decision, not ours.
            Err(e) => {
                let failure = e.is_failure();
                self.reject(o, e.to_string(), failure, path)
            }
        }
    }

    /// Journals a fill and tells the engine; a fill the journal cannot take
    /// is held (`unjournaled`) and the order path with it.
    fn journal_fill(&mut self, o: &Order, fill: Fill, path: &str) {
        let detail = format!(
            "{} {} {} {} @ {} commission {}",
            o.client_order_id,
            fill.side.as_str(),
            fill.qty,
            fill.symbol,
            fill.price,
            fill.commission
        );
        // The fill and its `order_filled` event in one transaction: a fill
        // the engine acts on is never without its event (nor its webhook).
        let store = &self.store;
        let journaled =
            self.kernel
                .events()
                .publish_durably_if(ORDER_FILLED, path, detail, |pending| {
                    store.with(|s| s.record_fill_with_event(pending, &fill))
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
            Ok(None) => {
                tracing::warn!(actor = path, order = %o.client_order_id, "fill for an order already acknowledged: ignored")
            }
            // Never sent again: held, journaled once the journal takes it (a
            // successor asks the broker for it). The connection is marked
            // failing, so the engine journals no new order meanwhile.
            Err(e) => {
                tracing::error!(actor = path, order = %o.client_order_id, error = %e, "cannot journal a fill: the order path stops (nothing is sent) until it is journaled");
                self.unjournaled.push((o.clone(), fill));
            }
        }
    }

    /// Tries again to journal the fills the journal could not take, oldest
    /// first; stops at the first that still fails.
    fn journal_held(&mut self, path: &str) {
        let held = std::mem::take(&mut self.unjournaled);
        let mut rest = held.into_iter();
        for (o, fill) in rest.by_ref() {
            self.journal_fill(&o, fill, path);
            if !self.unjournaled.is_empty() {
                break;
            }
        }
        self.unjournaled.extend(rest);
        if self.unjournaled.is_empty() {
            tracing::info!(actor = path, "held fills journaled: the order path goes on");
        }
    }

    /// Asks the broker about the engine's orders that are pending for longer
    /// than `REDRIVE_AFTER` and that this instance has not handled (or could
    /// not settle), and retries the held fills.
    fn redrive(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = self.clock.now_ms();
        let before = now.saturating_sub(REDRIVE_AFTER.as_millis() as u64);
        let pending = match self
            .store
            .with(|s| s.pending_orders(&self.engine_id, before))
        {
            Ok(p) => p,
            Err(e) => {
                // Read again at the next re-drive (every second).
                return tracing::error!(actor = ctx.path(), error = %e, "cannot read pending orders to re-drive them");
            }
        };
        for (created_ms, o) in pending {
            let again = self.ask_again.remove(&o.client_order_id);
            if !self.first_time(&o.client_order_id) && !again {
                continue;
            }
            self.execute(
                Job::Ask {
                    order: o,
                    created_ms,
                    cancel: None,
                },
                ctx,
            );
        }
        self.pump(ctx);
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
        self.execute(Job::Send(o), ctx);
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
    /// message, if it comes later, is not sent. An order this instance did
    /// not send itself may have been sent by a predecessor: the broker is
    /// asked first (a fill it has is journaled, not cancelled). A journal
    /// that cannot be read now is logged; the engine asks again every second.
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
        // Queued behind the broker's current request: a fresh order is not
        // sent; a re-driven one is still asked about, then cancelled.
        let mut cancel = Vec::new();
        for job in std::mem::take(&mut self.queue) {
            match job {
                Job::Send(o) if o.decision_seq <= m.up_to_seq => cancel.push(o),
                Job::Ask {
                    order,
                    created_ms,
                    cancel: None,
                } if order.decision_seq <= m.up_to_seq => self.queue.push_back(Job::Ask {
                    order,
                    created_ms,
                    cancel: Some(why.clone()),
                }),
                other => self.queue.push_back(other),
            }
        }
        for o in cancel {
            self.reject(&o, why.clone(), false, &path);
        }
        for (created_ms, o) in pending {
            let again = self.ask_again.remove(&o.client_order_id);
            if o.decision_seq <= m.up_to_seq && (self.first_time(&o.client_order_id) || again) {
                self.execute(
                    Job::Ask {
                        order: o,
                        created_ms,
                        cancel: Some(why.clone()),
                    },
                    ctx,
                );
            } else if again {
                self.ask_again.insert(o.client_order_id);
            }
        }
    }
}
