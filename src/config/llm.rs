//! `[llm]`: the LLM analyzer (any OpenAI-compatible chat-completions endpoint).
//! Off in the defaults: the rules analyzer needs no network. Invariant: calls
//! are bounded in number (`max_concurrency`), time (`timeout`), answer size
//! (`max_response_bytes`) and money (`daily_budget_usd`).

use super::durations::duration;
use super::{invalid, Invalid};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Llm {
    #[serde(with = "super::flags")]
    pub enabled: bool,
    pub endpoint: String,
    pub model: String,
    /// Name of the environment variable holding the API key; empty: no key.
    pub api_key_env: String,
    #[serde(with = "duration")]
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub daily_budget_usd: Decimal,
    pub price_input_per_1k: Decimal,
    pub price_output_per_1k: Decimal,
    pub max_response_bytes: usize,
}

impl Llm {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return invalid("llm.endpoint", "must start with http:// or https://");
        }
        if self.max_concurrency == 0 || self.max_concurrency > 256 {
            return invalid("llm.max_concurrency", "must be between 1 and 256");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(600) {
            return invalid("llm.timeout", "must be above zero and at most 10m");
        }
        if self.daily_budget_usd < Decimal::ZERO
            || self.price_input_per_1k < Decimal::ZERO
            || self.price_output_per_1k < Decimal::ZERO
        {
            return invalid(
                "llm.daily_budget_usd",
                "budget and prices must not be negative",
            );
        }
        if self.max_response_bytes < 1024 || self.max_response_bytes > 16 << 20 {
            return invalid(
                "llm.max_response_bytes",
                "must be between 1024 and 16777216",
            );
        }
        // Only when it will be used: a disabled analyzer needs no key.
        if self.enabled
            && !self.api_key_env.is_empty()
            && std::env::var(&self.api_key_env).map_or(true, |v| v.is_empty())
        {
            return invalid(
                "llm.api_key_env",
                format!("the environment variable {} is not set: export it, or set llm.api_key_env = \"\" for an endpoint without a key", self.api_key_env),
            );
        }
        Ok(())
    }
}
