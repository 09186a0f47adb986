//! The executor: journals every order (durably) before it reaches the broker,
//! journals the fill with the order's new status in one durable transaction, and
//! tells the engine. On every start it re-drives the engine's orders that were
//! journaled but never acknowledged, under their original client order id: a
//! crash between "journaled" and "filled" neither loses nor duplicates an order.
//!
//! The SQLite writes run on the engine's own arbiter: a few ms of fsync per order,
//! felt by this engine only.

use super::actor::Engine;
use super::broker::Broker;
use super::messages::{FillReceived, OrderAccepted, OrderRejected, SubmitOrder};
use crate::events::{ORDER_FILLED, ORDER_REJECTED, ORDER_SUBMITTED};
use crate::journal::Store;
use crate::kernel::{Ctx, Handle, Handles, Kernel, Worker};
use crate::model::Order;
use std::path::PathBuf;

pub struct Executor {
    engine_id: String,
    store: Store,
    broker: Box<dyn Broker>,
    engine: Handle<Engine>,
    kernel: Kernel,
}

impl Executor {
    pub fn factory<B: Broker + 'static>(
        engine_id: String,
        journal: PathBuf,
        broker: impl Fn() -> B + Send + Sync + 'static,
        engine: Handle<Engine>,
        kernel: Kernel,
    ) -> impl Fn() -> Executor + Send + Sync + 'static {
        move || Executor {
            engine_id: engine_id.clone(),
            store: Store::open(&journal).unwrap_or_else(|e| panic!("{e}")),
            broker: Box::new(broker()),
            engine: engine.clone(),
            kernel: kernel.clone(),
        }
    }

    /// Sends a journaled order to the broker and journals the answer.
    fn execute(&mut self, o: &Order, path: &str) {
        match self.broker.submit(o) {
            Ok(fill) => match self.store.record_fill(&fill) {
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
                    // If the engine is restarting, its successor reads this fill
                    // from the journal.
                    let _ = self.engine.tell(FillReceived { fill, journal_id });
                }
                Ok(None) => {
                    tracing::warn!(actor = path, order = %o.client_order_id, "fill for an order already acknowledged: ignored")
                }
                // The order stays pending: re-driven on the next start.
                Err(e) => panic!("cannot journal the fill of {}: {e}", o.client_order_id),
            },
            Err(e) => {
                // Unavailable or refused, the order ends rejected: re-sending it
                // later, at a stale price, is the engine's decision, not ours.
                let why = e.to_string();
                if let Err(je) = self.store.reject_order(&o.client_order_id, &why) {
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
                });
            }
        }
    }
}

impl Worker for Executor {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        let pending = self
            .store
            .pending_orders(&self.engine_id)
            .unwrap_or_else(|e| panic!("{e}"));
        for o in pending {
            tracing::info!(actor = ctx.path(), order = %o.client_order_id, "re-driving an order journaled before a restart");
            self.execute(&o, ctx.path());
        }
    }
}

impl Handles<SubmitOrder> for Executor {
    fn handle(&mut self, SubmitOrder(o): SubmitOrder, ctx: &mut Ctx<'_, Self>) {
        // Journal first: an order the journal does not hold is never sent.
        if let Err(e) = self.store.insert_order(&o) {
            tracing::error!(actor = ctx.path(), order = %o.client_order_id, error = %e, "order not journaled: not sent");
            self.kernel.events().publish(
                ORDER_REJECTED,
                ctx.path(),
                format!("{}: not journaled: {e}", o.client_order_id),
            );
            let _ = self.engine.tell(OrderRejected {
                client_order_id: o.client_order_id,
                reason: format!("not journaled: {e}"),
            });
            return;
        }
        let _ = self.engine.tell(OrderAccepted {
            client_order_id: o.client_order_id.clone(),
        });
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
        self.execute(&o, ctx.path());
    }
}
