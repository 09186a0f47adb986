//! `portfolio_risk`: holds the escalation-only portfolio risk level and journals
//! every change before it takes effect. Its checks (concentration, correlation,
//! VaR, account drawdown) come with the risk issue.
//!
//! - `messages.rs`: what it accepts.
//! - `actor.rs`: the worker (thin); the level's rules are `model::RiskState`.

mod actor;
mod messages;

pub use actor::{load, PortfolioRisk, RISK_KEY};
pub use messages::{Escalate, ResetRisk, RiskError, RiskOutcome};
