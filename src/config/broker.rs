//! `[broker]`, where orders go (the paper broker, and how it fills:
//! spread, slippage, latency, participation; or Interactive Brokers,
//! `[broker.ib]`), and `[breaker]`, the
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
    /// TWS or IB Gateway, when `kind = "ib"` (its keys are always there,
    /// from the defaults; only `kind = "ib"` checks and uses them).
    pub ib: Ib,
}

/// `[broker.ib]`: where TWS or IB Gateway listens and how commodore talks
/// to it (`commodore_actors::ib`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ib {
    pub host: String,
    pub port: u16,
    /// The account orders go to (`DU…` for a paper account).
    pub account: String,
    /// Engine `i` (in the order of `[[engines]]`) connects as client id
    /// `client_id_base + 1 + i`.
    pub client_id_base: i32,
    pub exchange: String,
    pub max_connections: usize,
    pub messages_per_second: u32,
    pub market_data_lines: u32,
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    #[serde(with = "duration")]
    pub backoff_min: Duration,
    #[serde(with = "duration")]
    pub backoff_max: Duration,
}

impl Ib {
    /// The adapter's settings.
    pub fn settings(&self) -> commodore_actors::ib::IbSettings {
        commodore_actors::ib::IbSettings {
            host: self.host.clone(),
            port: self.port,
            account: self.account.clone(),
            client_id_base: self.client_id_base,
            exchange: self.exchange.clone(),
            max_connections: self.max_connections,
            messages_per_second: self.messages_per_second,
            market_data_lines: self.market_data_lines,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
            heartbeat: self.heartbeat,
        }
    }

    /// Checked only when `broker.kind = "ib"`.
    fn validate(&self) -> Result<(), Invalid> {
        if self.account.trim().is_empty() {
            return invalid(
                "broker.ib.account",
                "is empty: set the IB account orders go to (a paper account is DU followed by digits; TWS shows it top right)",
            );
        }
        self.validate_gateway()
    }

    /// Where the gateway is and how it is talked to (`feed.source = "ib"`
    /// with another broker needs no account).
    pub(super) fn validate_gateway(&self) -> Result<(), Invalid> {
        if self.host.trim().is_empty() {
            return invalid(
                "broker.ib.host",
                "is empty: use where TWS or IB Gateway runs (\"127.0.0.1\")",
            );
        }
        if self.port == 0 {
            return invalid(
                "broker.ib.port",
                "is 0: use the API port of TWS (7497 paper, 7496 live) or IB Gateway (4002 paper, 4001 live)",
            );
        }
        if !(0..=1_000_000).contains(&self.client_id_base) {
            return invalid("broker.ib.client_id_base", "must be from 0 to 1000000");
        }
        if self.exchange.trim().is_empty() {
            return invalid(
                "broker.ib.exchange",
                "is empty: ICE US softs are \"NYBOT\" at IB",
            );
        }
        if !(1..=32).contains(&self.max_connections) {
            return invalid(
                "broker.ib.max_connections",
                "must be from 1 to 32 (TWS takes at most 32 API clients)",
            );
        }
        if !(1..=50).contains(&self.messages_per_second) {
            return invalid(
                "broker.ib.messages_per_second",
                "must be from 1 to 50 (IB disconnects a client beyond 50 a second; 40 leaves room)",
            );
        }
        if self.market_data_lines == 0 || self.market_data_lines > 10_000 {
            return invalid(
                "broker.ib.market_data_lines",
                "must be from 1 to 10000: what the account's market data allows (100 by default at IB)",
            );
        }
        for (key, d, most) in [
            ("broker.ib.connect_timeout", self.connect_timeout, 300),
            ("broker.ib.request_timeout", self.request_timeout, 300),
            ("broker.ib.heartbeat", self.heartbeat, 3_600),
            ("broker.ib.backoff_min", self.backoff_min, 3_600),
            ("broker.ib.backoff_max", self.backoff_max, 3_600),
        ] {
            if d.is_zero() || d > Duration::from_secs(most) {
                return invalid(key, format!("must be above 0 and at most {most}s"));
            }
        }
        if self.backoff_min > self.backoff_max {
            return invalid(
                "broker.ib.backoff_min",
                "must not be above broker.ib.backoff_max",
            );
        }
        Ok(())
    }
}

fn one() -> Decimal {
    Decimal::ONE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    Paper,
    /// Interactive Brokers through TWS or IB Gateway (`[broker.ib]`).
    Ib,
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
        if self.kind == BrokerKind::Ib {
            self.ib.validate()?;
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
