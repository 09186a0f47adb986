//! `[broker]`, where orders go (the paper broker today, and how it fills:
//! spread, slippage, latency, participation), and `[breaker]`, the
//! circuit breaker that counts the broker's failures. Invariant: a broker
//! answer has a bounded wait (`timeout`), and a timeout is a failure the
//! breaker counts, so a hung broker opens it.

use super::decimals::as_number;
use super::durations::duration;
use super::{invalid, Invalid};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub kind: BrokerKind,
    /// Paper fills: ticks of slippage against every market fill.
    pub slippage_ticks: u32,
    /// Paper fills: up to this many ticks more, drawn per fill from the
    /// seed (a replay's `--seed`; 0 in `run`).
    #[serde(default)]
    pub slippage_random_ticks: u32,
    /// Paper fills: the bid-ask spread in ticks; a market order crosses half
    /// of it (rounded up to a tick).
    #[serde(default)]
    pub spread_ticks: u32,
    /// Paper fills: market time from a decision to the market. 0: a market
    /// order fills when it is sent, at its reference price; above 0, at the
    /// open of the first bar that opens after it arrives.
    #[serde(default, with = "duration")]
    pub latency: Duration,
    /// Paper fills: the most of a bar's volume one order fills per bar
    /// (above 0, at most 1; 1: no cap). The rest works on the next bars.
    #[serde(default = "one", with = "as_number")]
    pub participation: Decimal,
    /// Paper fills: commission per contract, in dollars (a decimal string).
    pub commission: Decimal,
    /// How long the broker has to answer an order; no answer is a broker
    /// failure (the circuit breaker counts it).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

fn one() -> Decimal {
    Decimal::ONE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    Paper,
}

impl Broker {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        for (key, ticks) in [
            ("broker.slippage_ticks", self.slippage_ticks),
            ("broker.slippage_random_ticks", self.slippage_random_ticks),
            ("broker.spread_ticks", self.spread_ticks),
        ] {
            if ticks > 1000 {
                return invalid(key, "must be at most 1000 (ticks)");
            }
        }
        if self.latency > Duration::from_secs(3600) {
            return invalid(
                "broker.latency",
                "must be at most 1h of market time (an order is decided at a bar's close; \"250ms\" is a fast link)",
            );
        }
        if self.participation <= Decimal::ZERO || self.participation > Decimal::ONE {
            return invalid(
                "broker.participation",
                format!(
                    "is {}: use a fraction above 0 and at most 1 of a bar's volume (1: no cap)",
                    self.participation
                ),
            );
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
