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
//! An order may work at the broker (a limit order resting, a market order
//! filling in parts over several bars): every answer carries its fills so
//! far, and each part is journaled once (`Fill::part`), with the order
//! `working` until it is done. A working order is never sent again. The
//! broker says when one moved ([`OrdersMoved`]); the executor asks about it
//! then, and about every working order at each re-drive, so a lost word
//! only delays a fill. An order that ends before it filled in full (a limit
//! order's expiry, a cancel at PANIC) is journaled with what it filled, and
//! the engine is told ([`OrderEnded`]) so what did not fill is no longer in
//! flight. At most [`MAX_WORKING`] orders work at once; beyond that a new
//! one is rejected.
//!
//! One request at a time goes to the broker actor (asked with
//! `broker.timeout`, and for a submit a deadline the broker keeps: an order it
//! reaches late is not sent); the next wait in a bounded queue while the
//! mailbox stays open, so a slow broker never looks like a hung executor. The
//! SQLite writes run on the engine's own arbiter: a few ms of fsync per
//! order, felt by this engine only.

use super::actor::Engine;
use super::broker::{BrokerActor, BrokerError, Cancel, Known, Lookup, OrdersMoved, Submit};
use super::messages::{CancelLimits, CancelPending, Redrive, SubmitOrder};
use super::recent::Recent;

mod settle;
use crate::clock::Clock;
use crate::events::ORDER_SUBMITTED;
use crate::journal::SharedStore;
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::model::{Fill, Order};
use std::collections::{HashMap, HashSet, VecDeque};
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
/// Orders working at the broker at once; beyond this a new order is
/// rejected (a broker that never finishes them is not a reason to pile up
/// exposure).
pub const MAX_WORKING: usize = 256;

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
    /// A working order: what is left of it is cancelled at the broker.
    Cancel { order: Order, why: String },
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
    /// Fills the journal could not take (with whether each is its order's
    /// last): nothing is sent until they are journaled (retried every
    /// second).
    unjournaled: Vec<(Order, Fill, bool)>,
    /// Orders working at the broker (the journal says `working`, or the
    /// broker said so), by client order id.
    working: HashMap<String, Order>,
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
            working: HashMap::new(),
            clock,
            crash: crash.clone(),
        }
    }

    /// `false` when this instance already handled `id`.
    fn first_time(&mut self, id: &str) -> bool {
        self.handled.insert(id.to_owned())
    }

    /// Queues `job` behind the request the broker has not answered yet. The
    /// mailbox stays open meanwhile (liveness probes, cancels): a slow broker
    /// is a broker failure, not a hung executor.
    fn execute(&mut self, job: Job, ctx: &mut Ctx<'_, Self>) {
        if let Job::Send(o) = &job {
            // The engine's own orders (a PANIC flatten, a roll's legs) are
            // never refused for room.
            let own = [
                crate::model::Strategy::FLATTEN,
                crate::model::Strategy::ROLL,
            ]
            .iter()
            .any(|s| o.strategy == s.as_str());
            if self.working.len() >= MAX_WORKING && !own {
                let why = format!("{MAX_WORKING} orders already work at the broker");
                let path = ctx.path().to_owned();
                return self.reject(o, why, false, &path);
            }
        }
        if self.queue.len() >= MAX_QUEUED {
            let path = ctx.path().to_owned();
            match job {
                Job::Send(o) => {
                    let why = format!("{MAX_QUEUED} orders already wait for the broker");
                    self.reject(&o, why, true, &path);
                }
                // Its fate is unknown: not rejected, asked again later.
                Job::Ask { order, .. } | Job::Cancel { order, .. } => {
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
            Some(Job::Cancel { order, why }) => self.cancel(order, why, ctx),
            None => {}
        }
    }

    /// Cancels what is left of working order `o` at the broker, then takes
    /// in what the broker says of it.
    fn cancel(&mut self, o: Order, why: String, ctx: &mut Ctx<'_, Self>) {
        self.busy = true;
        let (broker, timeout) = (self.broker.clone(), self.broker_timeout);
        let m = Cancel {
            client_order_id: o.client_order_id.clone(),
            why,
        };
        ctx.spawn_then(
            async move {
                match broker.ask_timeout(m, timeout).await {
                    Ok(answer) => answer,
                    Err(e) => Err(BrokerError::Unavailable(e.to_string())),
                }
            },
            move |x, ctx, answer| {
                x.busy = false;
                let path = ctx.path().to_owned();
                match answer {
                    Ok(known) => x.take(&o, known, &path),
                    Err(e) => {
                        // Asked again (and cancelled) at the next PANIC check.
                        tracing::warn!(actor = %path, order = %o.client_order_id, error = %e, "the broker could not cancel a working order: asked again later");
                        x.ask_again.insert(o.client_order_id.clone());
                    }
                }
                x.pump(ctx);
            },
        );
    }

    fn send(&mut self, o: Order, ctx: &mut Ctx<'_, Self>) {
        self.busy = true;
        self.kernel.events().publish(
            ORDER_SUBMITTED,
            ctx.path(),
            format!(
                "{} {} {} {} {} ref {}",
                o.client_order_id,
                o.kind(),
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
            Ok(Known::Unknown) if self.working.contains_key(&id) => {
                // Acknowledged once, now unknown: the broker lost it. Never
                // sent again; what it filled is journaled already.
                tracing::error!(actor = %path, order = %id, "the broker no longer knows a working order: it ends here, not sent again");
                self.end(&o, "the broker no longer knows it".into(), &path);
            }
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
            Ok(Known::Rejected(why)) => {
                tracing::warn!(actor = %path, order = %id, %why, "the broker had refused a pending order: journaled rejected");
                self.reject(&o, format!("rejected by the broker: {why}"), false, &path);
            }
            Ok(Known::Working(_)) if cancel.is_some() => {
                let why = cancel.unwrap_or_default();
                self.execute(Job::Cancel { order: o, why }, ctx);
            }
            Ok(known) => {
                if !self.working.contains_key(&id) && !known.fills().is_empty() {
                    tracing::warn!(actor = %path, order = %id, "the broker had filled a pending order: its fills are journaled, the order not sent again");
                }
                self.take(&o, known, &path);
            }
            Err(e) => {
                tracing::warn!(actor = %path, order = %id, error = %e, "the broker cannot say what it knows of a pending order: it stays pending, asked again later, not sent");
                self.ask_again.insert(id);
            }
        }
        true
    }

    /// Asks the broker about the engine's orders that are pending for longer
    /// than `REDRIVE_AFTER` and that this instance has not handled (or could
    /// not settle), and retries the held fills.
    fn redrive(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = self.clock.now_ms();
        let before = now.saturating_sub(REDRIVE_AFTER.as_millis() as u64);
        // Nothing pending, nothing working: one query (every second, for
        // months).
        let read = self.store.with(|s| {
            let pending = s.pending_orders(&self.engine_id, before)?;
            let working = if pending.is_empty() {
                Default::default()
            } else {
                s.working_orders(&self.engine_id)?
            };
            Ok((pending, working))
        });
        let (pending, working) = match read {
            Ok(p) => p,
            Err(e) => {
                // Read again at the next re-drive (every second).
                return tracing::error!(actor = ctx.path(), error = %e, "cannot read pending orders to re-drive them");
            }
        };
        let asked: HashSet<String> = self
            .queue
            .iter()
            .map(|j| match j {
                Job::Send(o) | Job::Ask { order: o, .. } | Job::Cancel { order: o, .. } => {
                    o.client_order_id.clone()
                }
            })
            .collect();
        for (created_ms, o) in pending {
            let id = &o.client_order_id;
            let again = self.ask_again.remove(id);
            if working.contains_key(id) {
                self.working.insert(id.clone(), o.clone());
            }
            // Every working order is asked about at each re-drive (the
            // broker's word that it moved may have been lost).
            let first = self.first_time(id);
            let ask_working = working.contains_key(id) && !asked.contains(id);
            if !(first || again || ask_working) {
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

impl Handles<CancelLimits> for Executor {
    fn handle(&mut self, m: CancelLimits, ctx: &mut Ctx<'_, Self>) {
        let queued: HashSet<String> = self
            .queue
            .iter()
            .filter_map(|j| match j {
                Job::Cancel { order, .. } => Some(order.client_order_id.clone()),
                _ => None,
            })
            .collect();
        let limits: Vec<Order> = self
            .working
            .values()
            .filter(|o| o.limit.is_some() && !queued.contains(&o.client_order_id))
            .cloned()
            .collect();
        for order in limits {
            let why = m.reason.clone();
            self.execute(Job::Cancel { order, why }, ctx);
        }
    }
}

impl Handles<OrdersMoved> for Executor {
    /// Asks the broker about each working order it says moved; one this
    /// instance does not know as working is asked about at the re-drive.
    fn handle(&mut self, OrdersMoved(ids): OrdersMoved, ctx: &mut Ctx<'_, Self>) {
        for id in ids {
            if let Some(o) = self.working.get(&id).cloned() {
                self.execute(
                    Job::Ask {
                        order: o,
                        created_ms: 0,
                        cancel: None,
                    },
                    ctx,
                );
            }
        }
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
            let flatten = o.strategy == crate::model::Strategy::FLATTEN.as_str();
            if o.decision_seq <= m.up_to_seq
                && self.working.contains_key(&o.client_order_id)
                && !flatten
            {
                // At the broker: what is left of it is cancelled there (a
                // flatten working is the PANIC's own: it goes on).
                self.execute(
                    Job::Cancel {
                        order: o,
                        why: why.clone(),
                    },
                    ctx,
                );
            } else if o.decision_seq <= m.up_to_seq
                && (self.first_time(&o.client_order_id) || again)
            {
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
