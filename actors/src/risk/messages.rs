use crate::model::{RiskLevel, RiskState};
use actix::Message;

/// Raise the level (a guard or the operator). At or below the current level it
/// changes nothing and says so.
#[derive(Debug, Message)]
#[rtype(result = "Result<RiskOutcome, RiskError>")]
pub struct Escalate {
    pub level: RiskLevel,
    pub reason: String,
    /// Who asks: `operator`, or the path of the guard.
    pub source: String,
}

/// Set the level to any value, the only way down. Operator only; journaled with
/// its reason before it takes effect.
#[derive(Debug, Message)]
#[rtype(result = "Result<RiskOutcome, RiskError>")]
pub struct ResetRisk {
    pub level: RiskLevel,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskOutcome {
    pub changed: bool,
    pub risk: RiskState,
    /// One line for the operator: what happened.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error("the risk level was not changed: {0}")]
    Journal(String),
}

/// Engine → its risk guard: equity marked at market time `at_ms`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct EquityMark {
    pub at_ms: u64,
    pub equity: rust_decimal::Decimal,
}

/// The daily reconciliation → an engine's risk guard: the engine's equity at
/// the close of the market day reconciled is where market day `day` (the
/// contract's next session) starts. A guard already on that day or later
/// keeps its own mark.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct DayStart {
    pub day: i64,
    pub equity: rust_decimal::Decimal,
}

/// A live reload → `portfolio_risk`: the limits and capital changed (read
/// from its settings watch); `wait_for`: engines restarting on a new
/// configuration; `forget`: engines removed, with their configured capital.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Recapitalize {
    pub wait_for: Vec<String>,
    pub forget: Vec<(String, rust_decimal::Decimal)>,
}

/// Some engine published into the account: `portfolio_risk` measures the
/// account's drawdown. Sent by `portfolio_risk` to itself (coalesced).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AccountChanged;
