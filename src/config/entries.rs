//! Per-entry defaults of the arrays of tables: `[[engines]]`, an engine's
//! `feeds`, and `[[notifier.webhooks]]`.
//!
//! Invariant: these are the only default values in code. Every other key has
//! its default in `config/default.toml`, which is always loaded first; but an
//! operator's array replaces the default array whole, so an entry cannot
//! inherit a key from it, and a key left out of an entry is filled from here
//! (`#[serde(default = "entries::...")]`). Keys whose absence means "not set"
//! (an engine's `symbol` and `feeds`, a webhook's `url`, `url_env`, `events`,
//! `name`) are empty instead and resolved where they are read.

use rust_decimal::Decimal;
use std::time::Duration;

/// `[[engines]]`: dollars the allocator sizes against.
pub(super) fn engine_capital() -> Decimal {
    Decimal::from(250_000)
}

/// `[[engines]]`: largest net position, in contracts.
pub(super) fn engine_max_position() -> u32 {
    10
}

/// An engine's `feeds`: poll once a minute.
pub(super) fn feed_every() -> Duration {
    Duration::from_secs(60)
}

/// An engine's `feeds`: one request's time limit.
pub(super) fn feed_timeout() -> Duration {
    Duration::from_secs(10)
}

/// An engine's `feeds`: tries per poll.
pub(super) fn feed_attempts() -> u32 {
    3
}

/// An engine's `feeds`: largest answer read, in bytes (1 MiB).
pub(super) fn feed_max_bytes() -> usize {
    1 << 20
}

/// `[[notifier.webhooks]]`: requests a minute at most.
pub(super) fn webhook_rate_per_min() -> u32 {
    30
}

/// `[[notifier.webhooks]]`: one request's time limit.
pub(super) fn webhook_timeout() -> Duration {
    Duration::from_secs(5)
}
