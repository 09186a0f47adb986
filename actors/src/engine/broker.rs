//! Brokers behind one trait: the paper broker (`paper.rs`); a live adapter implements the
//! same trait (and is refused fault injection by the daemon).
//!
//! A broker is asked four things: submit an order, what it knows of a
//! client order id ([`Broker::lookup`]), to cancel what is left of one
//! ([`Broker::cancel`]), and what it holds for us: positions and the cash
//! our fills moved ([`Broker::holdings`], for the daily reconciliation,
//! `crate::reconcile`). An order works at the broker until it is done: it
//! may fill in parts, over several bars, and a limit order may end
//! unfilled (expired); every answer carries the order's fills so far, each
//! numbered (`Fill::part`), so whoever journals them takes each once. The
//! broker actor hears the market's bars too ([`Market`]; the paper broker
//! fills from them) and tells the executor which orders moved
//! ([`OrdersMoved`]); a lost word is harmless, since the executor also asks
//! about every working order at its re-drives. The executor asks the second before
//! it re-drives an order whose fate it does not know (a crash after sending,
//! a fill it could not journal), so an order is never sent twice: the broker's
//! memory is the broker's own, not our journal's.

use crate::clock::Clock;
use crate::kernel::{Ctx, Handle, Handles, Worker};
use crate::model::{Bar, Fill, Holdings, Order};
use actix::Message;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error("rejected by the broker: {0}")]
    Rejected(String),
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// What a broker knows of a client order id. The fills are every part so
/// far, in order (`Fill::part` 1, 2, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// Never seen: sending it now sends it once.
    Unknown,
    /// Accepted and not yet done (filled in part, or not yet): ask again
    /// later; never send it again.
    Working(Vec<Fill>),
    /// Filled in full: done.
    Filled(Vec<Fill>),
    /// Done before it filled in full (expired, cancelled): what it filled
    /// (maybe nothing), and why it ended.
    Ended { fills: Vec<Fill>, why: String },
    /// Refused, for this reason.
    Rejected(String),
}

impl Known {
    /// The order's fills so far.
    pub fn fills(&self) -> &[Fill] {
        match self {
            Known::Working(f) | Known::Filled(f) | Known::Ended { fills: f, .. } => f,
            Known::Unknown | Known::Rejected(_) => &[],
        }
    }

    /// Whether nothing more will happen to the order at the broker.
    pub fn done(&self) -> bool {
        !matches!(self, Known::Unknown | Known::Working(_))
    }
}

pub trait Broker: Send {
    /// Submits an order; the answer is what the broker knows of it then
    /// (filled at once, working, or refused). Submitting the same client
    /// order id twice must not fill twice (the executor never does, but a
    /// broker checks).
    fn submit(&mut self, order: &Order) -> Result<Known, BrokerError>;

    /// What the broker knows of `client_order_id`, from its own memory (one
    /// that survives our restarts). `Err`: it cannot say now (unreachable);
    /// the caller asks again later and never sends the order meanwhile.
    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError>;

    /// Cancels what is not filled of a working order; the answer is what the
    /// broker knows of it after (an order already done is left as it is).
    fn cancel(&mut self, client_order_id: &str, why: &str) -> Result<Known, BrokerError>;

    /// Its positions and account summary for this engine, from its own
    /// records: net contracts per symbol and the cash the fills moved
    /// (commissions included). `Err`: it cannot say now.
    fn holdings(&mut self) -> Result<Holdings, BrokerError>;

    /// A bar of the market, at its close (market time). The paper broker
    /// fills its working orders from it; a broker with a market of its own
    /// ignores it. The answer: the orders that moved (a fill, an expiry).
    fn market(&mut self, _bar: &Bar) -> Result<Vec<String>, BrokerError> {
        Ok(Vec::new())
    }

    /// Hands a broker that hears of its orders on its own (a live adapter's
    /// connection) the hook that tells the executor which orders moved.
    /// Called once by the broker actor at its every start.
    fn watch(&mut self, _moved: Box<dyn Fn(Vec<String>) + Send + Sync>) {}
}

/// A boxed adapter is an adapter (`SubtreeConfig::broker` builds them).
impl Broker for Box<dyn Broker> {
    fn submit(&mut self, order: &Order) -> Result<Known, BrokerError> {
        (**self).submit(order)
    }

    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError> {
        (**self).lookup(client_order_id)
    }

    fn cancel(&mut self, client_order_id: &str, why: &str) -> Result<Known, BrokerError> {
        (**self).cancel(client_order_id, why)
    }

    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        (**self).holdings()
    }

    fn market(&mut self, bar: &Bar) -> Result<Vec<String>, BrokerError> {
        (**self).market(bar)
    }

    fn watch(&mut self, moved: Box<dyn Fn(Vec<String>) + Send + Sync>) {
        (**self).watch(moved)
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

/// Executor → broker: submit one order; the answer is what the broker
/// knows of it then (its fills, whether it is done). After
/// `deadline` the executor no longer waits (it has journaled the order
/// rejected), so a broker that gets to it later must not send it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Known, BrokerError>")]
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

/// Executor → broker: cancel what is left of this order (PANIC). Asked
/// with a timeout; the answer is what the broker knows of it after.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Known, BrokerError>")]
pub struct Cancel {
    pub client_order_id: String,
    pub why: String,
}

/// Sequencer → broker: a bar of the engine's contract (any month), at its
/// close. Every bar, never conflated: the paper broker fills from each.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Market(pub Bar);

/// Broker → executor: these orders moved at the broker (a fill, an
/// expiry): ask about them.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct OrdersMoved(pub Vec<String>);

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
    /// Told which orders moved at the broker.
    executor: Handle<super::executor::Executor>,
}

impl BrokerActor {
    pub fn factory<B: Broker + 'static>(
        broker: impl Fn() -> B + Send + Sync + 'static,
        clock: Clock,
        executor: Handle<super::executor::Executor>,
    ) -> impl Fn() -> BrokerActor + Send + Sync + 'static {
        move || BrokerActor {
            broker: Box::new(broker()),
            clock,
            executor: executor.clone(),
        }
    }
}

impl BrokerActor {
    pub fn factory_boxed(
        broker: BrokerFactory,
        clock: Clock,
        executor: Handle<super::executor::Executor>,
    ) -> impl Fn() -> BrokerActor + Send + Sync + 'static {
        move || BrokerActor {
            broker: broker(),
            clock,
            executor: executor.clone(),
        }
    }
}

impl Worker for BrokerActor {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        let executor = self.executor.clone();
        self.broker.watch(Box::new(move |moved| {
            // A full or restarting executor asks at its next re-drive.
            let _ = executor.tell(OrdersMoved(moved));
        }));
    }
}

impl Handles<Submit> for BrokerActor {
    fn handle(&mut self, m: Submit, _: &mut Ctx<'_, Self>) -> Result<Known, BrokerError> {
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

impl Handles<Cancel> for BrokerActor {
    fn handle(&mut self, m: Cancel, _: &mut Ctx<'_, Self>) -> Result<Known, BrokerError> {
        self.broker.cancel(&m.client_order_id, &m.why)
    }
}

impl Handles<Market> for BrokerActor {
    /// A broker that cannot take the bar now (its memory unreachable) misses
    /// it: its working orders wait for the next one.
    fn handle(&mut self, Market(bar): Market, ctx: &mut Ctx<'_, Self>) {
        match self.broker.market(&bar) {
            Ok(moved) if moved.is_empty() => {}
            Ok(moved) => {
                // A full or restarting executor asks at its next re-drive.
                let _ = self.executor.tell(OrdersMoved(moved));
            }
            Err(e) => {
                tracing::warn!(actor = ctx.path(), bar = %bar.symbol, at_ms = bar.at_ms, error = %e, "the broker could not take a bar: its working orders wait for the next")
            }
        }
    }
}

impl Handles<AskHoldings> for BrokerActor {
    fn handle(&mut self, _: AskHoldings, _: &mut Ctx<'_, Self>) -> Result<Holdings, BrokerError> {
        self.broker.holdings()
    }
}

pub use super::paper::{paper_broker_path, PaperBroker, PAPER_MEMORY, PAPER_SCHEMA};
