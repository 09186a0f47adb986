//! Brokers behind one trait: the paper broker here; a live adapter implements the
//! same trait (and is refused fault injection by the daemon).

use crate::clock::Clock;
use crate::kernel::{Ctx, Handles, Worker};
use crate::model::{ContractSpec, Fill, Order, Side};
use actix::Message;
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error("rejected by the broker: {0}")]
    Rejected(String),
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

pub trait Broker: Send {
    /// Submits a market order; the answer is its fill. Submitting the same client
    /// order id twice must not fill twice (the executor never does, but a
    /// broker checks).
    fn submit(&mut self, order: &Order) -> Result<Fill, BrokerError>;
}

/// A boxed adapter is an adapter (`SubtreeConfig::broker` builds them).
impl Broker for Box<dyn Broker> {
    fn submit(&mut self, order: &Order) -> Result<Fill, BrokerError> {
        (**self).submit(order)
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

/// Fills every order at once at its reference price moved `slippage_ticks`
/// against it, plus `commission` per contract.
pub struct PaperBroker {
    pub spec: ContractSpec,
    pub slippage_ticks: i64,
    pub commission: Decimal,
    /// Client order ids filled by this instance (bounded: the oldest are
    /// forgotten; the journal is the real guard against duplicates).
    seen: super::recent::Recent<String>,
}

const SEEN_LIMIT: usize = 4096;

impl PaperBroker {
    pub fn new(spec: ContractSpec, slippage_ticks: i64, commission: Decimal) -> PaperBroker {
        PaperBroker {
            spec,
            slippage_ticks,
            commission,
            seen: super::recent::Recent::new(SEEN_LIMIT),
        }
    }
}

impl Broker for PaperBroker {
    fn submit(&mut self, o: &Order) -> Result<Fill, BrokerError> {
        if o.qty <= Decimal::ZERO {
            return Err(BrokerError::Rejected(format!(
                "quantity {} is not positive",
                o.qty
            )));
        }
        if !self.seen.insert(o.client_order_id.clone()) {
            return Err(BrokerError::Rejected(format!(
                "duplicate client order id {}",
                o.client_order_id
            )));
        }
        let slip = match o.side {
            Side::Buy => self.slippage_ticks,
            Side::Sell => -self.slippage_ticks,
        };
        Ok(Fill {
            client_order_id: o.client_order_id.clone(),
            engine: o.engine.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty: o.qty,
            price: self.spec.ticks(o.ref_price, slip),
            commission: self.commission * o.qty,
            at_ms: o.at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract;

    fn order(side: Side) -> Order {
        Order {
            client_order_id: "KC-news-00000001".into(),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: 1,
            symbol: "KC".into(),
            side,
            qty: Decimal::from(2),
            ref_price: "300.00".parse().unwrap(),
            at_ms: 5,
        }
    }

    #[test]
    fn paper_fills_slip_against_the_order_and_charge_per_contract() {
        let kc = contract("KC").unwrap();
        let mut b = PaperBroker::new(kc.clone(), 1, "2.50".parse().unwrap());
        let f = b.submit(&order(Side::Buy)).unwrap();
        assert_eq!(
            (f.price, f.commission),
            ("300.05".parse().unwrap(), Decimal::from(5))
        );
        assert!(
            matches!(b.submit(&order(Side::Buy)), Err(BrokerError::Rejected(_))),
            "same id twice"
        );
        let mut b = PaperBroker::new(kc, 1, Decimal::ZERO);
        assert_eq!(
            b.submit(&order(Side::Sell)).unwrap().price,
            "299.95".parse::<Decimal>().unwrap()
        );
    }
}
