//! `[broker]`, where orders go (paper fills today), and `[breaker]`, the
//! circuit breaker that counts the broker's failures. Invariant: a broker
//! answer has a bounded wait (`timeout`), and a timeout is a failure the
//! breaker counts, so a hung broker opens it.

use super::durations::duration;
use super::{invalid, Invalid};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub kind: BrokerKind,
    /// Paper fills: ticks of slippage against every order.
    pub slippage_ticks: u32,
    /// Paper fills: commission per contract, in dollars (a decimal string).
    pub commission: Decimal,
    /// How long the broker has to answer an order; no answer is a broker
    /// failure (the circuit breaker counts it).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    Paper,
}

impl Broker {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.slippage_ticks > 1000 {
            return invalid("broker.slippage_ticks", "must be at most 1000");
        }
        if self.commission < Decimal::ZERO {
            return invalid("broker.commission", "must not be negative");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return invalid("broker.timeout", "must be above 0 and at most 60s");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    pub failure_threshold: u32,
    #[serde(with = "duration")]
    pub cooldown: Duration,
}

impl Breaker {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.failure_threshold == 0 {
            return invalid("breaker.failure_threshold", "must be at least 1");
        }
        if self.cooldown.is_zero() || self.cooldown > Duration::from_secs(86_400) {
            return invalid("breaker.cooldown", "must be above 0 and at most 24h");
        }
        Ok(())
    }
}
