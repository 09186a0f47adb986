//! What the engine subtree's actors accept.

use crate::model::{Analyzed, Bar, Fill, Headline, Order};
use actix::Message;

/// Collector → sentinel and analyzer: one raw market event; sentinel →
/// analyzer: an alert.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum RawEvent {
    Bar(Bar),
    News(Headline),
    Alert(Alert),
}

/// A sentinel's trigger, for the analyzer.
#[derive(Debug, Clone)]
pub struct Alert {
    pub symbol: String,
    pub at_ms: u64,
    pub kind: &'static str,
    pub text: String,
    pub sentiment: crate::model::Sentiment,
}

/// Analyzer → engine: the latest bar (for marks and momentum).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MarketUpdate(pub Bar);

/// Analyzer → engine: a signal.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SignalReceived(pub Analyzed);

/// Engine → executor: submit this order (journaled first).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SubmitOrder(pub Order);

/// Executor → engine: an order was filled; `journal_id` increases with every fill
/// journaled, so an engine that rebuilt itself from the journal skips the fills it
/// already holds.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct FillReceived {
    pub fill: Fill,
    pub journal_id: u64,
}

/// Executor → engine: the broker refused an order.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct OrderRejected {
    pub client_order_id: String,
    pub reason: String,
    /// The broker was unreachable (counts toward the circuit breaker).
    pub broker_failure: bool,
}

/// Executor → engine: an order that worked at the broker ended before it
/// filled in full (expired, cancelled); its fills came as `FillReceived`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct OrderEnded {
    pub client_order_id: String,
    pub reason: String,
}

/// Engine → executor: cancel every order journaled and not yet sent (PANIC)
/// Engine → its executor: look for journaled orders nobody has handled
/// (sent `REDRIVE_AFTER` of market time after each order, so a message lost
/// to a fault is re-driven before its price goes stale, at any feed speed).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Redrive;

/// whose decision is at or below `up_to_seq` (so the engine's own closing order,
/// decided after, is not cancelled).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CancelPending {
    pub reason: String,
    pub up_to_seq: u64,
}

/// Engine → executor: cancel what is left of every working limit order
/// (HALT, paused: a resting entry must not open). Market orders working
/// (the engine's own, exits, entries on their way) are left to fill.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CancelLimits {
    pub reason: String,
}

/// portfolio_risk → every engine (through the level watch): the level
/// changed.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RiskLevelChanged(pub crate::model::RiskLevel);

/// An operator asked the engine to close every position it holds (it is
/// paused first): as at PANIC, for this engine alone, until it is flat.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Flatten {
    pub reason: String,
}

/// Timer: the engine's batch of buffered messages is due.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct BatchDue;
