//! Brokers behind one trait: the paper broker (`paper.rs`); a live adapter implements the
//! same trait (and is refused fault injection by the daemon).
//!
//! A broker is asked three things: submit an order, what it knows of a
//! client order id ([`Broker::lookup`]), and what it holds for us: positions
//! and the cash our fills moved ([`Broker::holdings`], for the daily
//! reconciliation, `crate::reconcile`). The executor asks the second before
//! it re-drives an order whose fate it does not know (a crash after sending,
//! a fill it could not journal), so an order is never sent twice: the broker's
//! memory is the broker's own, not our journal's.

use crate::clock::Clock;
use crate::kernel::{Ctx, Handles, Worker};
use crate::model::{Fill, Holdings, Order};
use actix::Message;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error("rejected by the broker: {0}")]
    Rejected(String),
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// What a broker knows of a client order id.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// Never seen: sending it now sends it once.
    Unknown,
    /// Accepted and not yet done: ask again later; never send it again.
    Working,
    /// Filled: this is its fill.
    Filled(Fill),
    /// Refused, for this reason.
    Rejected(String),
}

pub trait Broker: Send {
    /// Submits a market order; the answer is its fill. Submitting the same client
    /// order id twice must not fill twice (the executor never does, but a
    /// broker checks).
    fn submit(&mut self, order: &Order) -> Result<Fill, BrokerError>;

    /// What the broker knows of `client_order_id`, from its own memory (one
    /// that survives our restarts). `Err`: it cannot say now (unreachable);
    /// the caller asks again later and never sends the order meanwhile.
    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError>;

    /// Its positions and account summary for this engine, from its own
    /// records: net contracts per symbol and the cash the fills moved
    /// (commissions included). `Err`: it cannot say now.
    fn holdings(&mut self) -> Result<Holdings, BrokerError>;
}

/// A boxed adapter is an adapter (`SubtreeConfig::broker` builds them).
impl Broker for Box<dyn Broker> {
    fn submit(&mut self, order: &Order) -> Result<Fill, BrokerError> {
        (**self).submit(order)
    }

    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError> {
        (**self).lookup(client_order_id)
    }

    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        (**self).holdings()
    }
}

/// Builds the broker adapter of an engine (a fresh one at every start of its
/// actor).
pub type BrokerFactory = std::sync::Arc<dyn Fn() -> Box<dyn Broker> + Send + Sync>;

impl BrokerError {
    /// Whether this counts toward the circuit breaker: the broker was not
    /// reachable (down, timed out, its actor failing). A refusal of the order
    /// itself does not.
    pub fn is_failure(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}

/// Executor → broker: submit one order; the answer is its fill. After
/// `deadline` the executor no longer waits (it has journaled the order
/// rejected), so a broker that gets to it later must not send it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Fill, BrokerError>")]
pub struct Submit {
    pub order: Order,
    pub deadline: tokio::time::Instant,
}

/// Executor → broker: what do you know of this client order id? Asked with
/// a timeout; it changes nothing, so it needs no deadline.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Known, BrokerError>")]
pub struct Lookup {
    pub client_order_id: String,
}

/// The reconciliation → broker: what do you hold for this engine? Asked
/// with a timeout; it changes nothing.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Holdings, BrokerError>")]
pub struct AskHoldings;

/// The broker as a worker of the engine subtree (`<engine>/broker`): the adapter
/// runs inside it, so a broker that errs, hangs or panics is this actor's fault,
/// supervised like any other and injectable by path. The executor asks it with
/// a timeout and counts what does not answer as a broker failure.
pub struct BrokerActor {
    broker: Box<dyn Broker>,
    /// Reads the order's deadline.
    clock: Clock,
}

impl BrokerActor {
    pub fn factory<B: Broker + 'static>(
        broker: impl Fn() -> B + Send + Sync + 'static,
        clock: Clock,
    ) -> impl Fn() -> BrokerActor + Send + Sync + 'static {
        move || BrokerActor {
            broker: Box::new(broker()),
            clock,
        }
    }
}

impl BrokerActor {
    pub fn factory_boxed(
        broker: BrokerFactory,
        clock: Clock,
    ) -> impl Fn() -> BrokerActor + Send + Sync + 'static {
        move || BrokerActor {
            broker: broker(),
            clock,
        }
    }
}

impl Worker for BrokerActor {}

impl Handles<Submit> for BrokerActor {
    fn handle(&mut self, m: Submit, _: &mut Ctx<'_, Self>) -> Result<Fill, BrokerError> {
        if self.clock.instant() >= m.deadline {
            return Err(BrokerError::Unavailable(format!(
                "{} reached the broker after its deadline: not sent",
                m.order.client_order_id
            )));
        }
        self.broker.submit(&m.order)
    }
}

impl Handles<Lookup> for BrokerActor {
    fn handle(&mut self, m: Lookup, _: &mut Ctx<'_, Self>) -> Result<Known, BrokerError> {
        self.broker.lookup(&m.client_order_id)
    }
}

impl Handles<AskHoldings> for BrokerActor {
    fn handle(&mut self, _: AskHoldings, _: &mut Ctx<'_, Self>) -> Result<Holdings, BrokerError> {
        self.broker.holdings()
    }
}

pub use super::paper::{paper_broker_path, PaperBroker, PAPER_MEMORY, PAPER_SCHEMA};
