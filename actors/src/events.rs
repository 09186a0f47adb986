//! The event kinds of the actors built on the kernel (the kernel has its own:
//! `started`, `failed`, ...). Names are the operator contract's (`GET /v1/events`).

use crate::kernel::EventKind;

/// The portfolio risk level changed (escalation or operator reset).
pub const RISK_CHANGED: EventKind = EventKind::Other("risk_changed");
/// The capital-tier mode changed.
pub const MODE_CHANGED: EventKind = EventKind::Other("mode_changed");
/// An operator command that changed something (pause, resume, shutdown, ...).
pub const OPERATOR: EventKind = EventKind::Other("operator");
/// The configuration was reloaded; the detail lists the keys changed.
pub const CONFIG_RELOADED: EventKind = EventKind::Other("config_reloaded");
/// A sentinel triggered (price move, news keyword, close approaching).
pub const SENTINEL: EventKind = EventKind::Other("sentinel");
/// An engine's market data stopped during trading hours (`staleness.max_gap`).
pub const STALE: EventKind = EventKind::Other("stale");
/// Its market data is back.
pub const RECOVERED: EventKind = EventKind::Other("recovered");
/// The daily reconciliation found the journal and a broker disagree.
pub const RECONCILE_MISMATCH: EventKind = EventKind::Other("reconcile_mismatch");
/// The daily reconciliation could not compare an engine (its broker did not
/// answer, its journal could not be read).
pub const RECONCILE_INCOMPLETE: EventKind = EventKind::Other("reconcile_incomplete");
/// The day's summary after the reconciliation: PnL, fills, outcomes,
/// restarts, risk changes.
pub const DAILY_SUMMARY: EventKind = EventKind::Other("daily_summary");
/// The day's LLM budget is spent: the rules analyzer takes over until tomorrow.
pub const BUDGET_EXHAUSTED: EventKind = EventKind::Other("budget_exhausted");
/// An order was journaled and sent to the broker.
pub const ORDER_SUBMITTED: EventKind = EventKind::Other("order_submitted");
/// An order was filled, in full or in part (and the fill journaled).
pub const ORDER_FILLED: EventKind = EventKind::Other("order_filled");
/// An order working at the broker ended before it filled in full (a limit
/// order's expiry, a cancel): what it filled stays, the rest is gone.
pub const ORDER_ENDED: EventKind = EventKind::Other("order_ended");
/// The broker (or the journal) refused an order.
pub const ORDER_REJECTED: EventKind = EventKind::Other("order_rejected");
/// An engine's circuit breaker opened (consecutive broker failures).
pub const BREAKER_OPENED: EventKind = EventKind::Other("breaker_opened");
/// Its cooldown passed: one trial order goes through.
pub const BREAKER_HALF_OPEN: EventKind = EventKind::Other("breaker_half_open");
/// The trial succeeded: orders flow again.
pub const BREAKER_CLOSED: EventKind = EventKind::Other("breaker_closed");
/// An engine began moving a position from the front month to the next.
pub const ROLL_STARTED: EventKind = EventKind::Other("roll_started");
/// Both legs of a roll are filled: the position is in the next month.
pub const ROLLED: EventKind = EventKind::Other("rolled");
/// A strategy's order would have taken it over its capital limit
/// (`weight × equity` of margin): refused, or cut to the part that reduces.
pub const CAPITAL_BREACH: EventKind = EventKind::Other("capital_breach");
/// A roll ended without moving the position (its close leg was refused, or
/// PANIC), or left it flat (its open leg refused too often).
pub const ROLL_FAILED: EventKind = EventKind::Other("roll_failed");

/// Every kind this project publishes besides the kernel's, plus the contract's
/// kinds that later components publish, so the journal can read them all back.
const DOMAIN_KINDS: &[&str] = &[
    "risk_changed",
    "mode_changed",
    "operator",
    "config_reloaded",
    "sentinel",
    "stale",
    "recovered",
    "reconcile_mismatch",
    "reconcile_incomplete",
    "daily_summary",
    "budget_exhausted",
    "breaker_opened",
    "breaker_half_open",
    "breaker_closed",
    "order_submitted",
    "order_filled",
    "order_rejected",
    "order_ended",
    "roll_started",
    "rolled",
    "roll_failed",
    "capital_breach",
];

/// Looks up a domain kind by name (for the journal reading events back).
pub fn domain_kind(name: &str) -> Option<EventKind> {
    DOMAIN_KINDS
        .iter()
        .find(|k| **k == name)
        .map(|k| EventKind::Other(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constant_is_readable_back() {
        for k in [
            ORDER_ENDED,
            RISK_CHANGED,
            ROLL_STARTED,
            ROLLED,
            ROLL_FAILED,
            CAPITAL_BREACH,
            STALE,
            RECOVERED,
            RECONCILE_MISMATCH,
            RECONCILE_INCOMPLETE,
            DAILY_SUMMARY,
            MODE_CHANGED,
            OPERATOR,
            BREAKER_OPENED,
            BREAKER_HALF_OPEN,
            BREAKER_CLOSED,
        ] {
            assert_eq!(domain_kind(k.as_str()), Some(k));
        }
        assert_eq!(domain_kind("exploded"), None);
    }
}
