//! Risk, all of it: the portfolio level and its owner (`portfolio_risk`), the
//! account (equity, peak, drawdown: measured once, escalated by
//! `portfolio_risk` alone), the portfolio checks on an opening order, the
//! engine guard's rules and its actor, and the circuit breaker.
//!
//! - `messages.rs`: what `portfolio_risk` and the guard accept; `actor.rs`:
//!   the `portfolio_risk` worker.
//! - `account.rs`: the account's book, equity, peak and drawdown.
//! - `portfolio.rs`: concentration, correlation, VaR (pure).
//! - `guard.rs`: the engine guard's per-order rules and drawdown marks (pure);
//!   `guard_actor.rs`: the guard worker beside each engine.
//! - `order.rs`: the risk step on one order (level, pause, position limit,
//!   then the guard's rules and the portfolio checks on what opens exposure).
//! - `breaker.rs`: the circuit breaker, the one owner of its trial order.
//!
//! A new rule goes into the pure file of its scope (an order: `order.rs` or
//! `guard.rs`; the book: `portfolio.rs`; the account: `account.rs` and
//! `actor.rs`), its limit into `model::limits`.

mod account;
mod actor;
pub mod breaker;
pub mod guard;
pub mod guard_actor;
mod messages;
pub mod order;
pub mod portfolio;

pub use account::rebased_peak;
pub use account::{Account, AccountEntry, BookEntry, Portfolio};
pub use actor::{load, load_peak, rebase_peak_on_capital, Capitalized, PortfolioRisk};
pub use breaker::{Admit, Breaker, BreakerState};
pub use guard::{EngineGuard, Opening};
pub use guard_actor::{market_day, Guard};
pub use messages::{
    AccountChanged, DayStart, EquityMark, Escalate, Recapitalize, ResetRisk, RiskError, RiskOutcome,
};
pub use portfolio::{
    check_opening, concentration, correlated_exposure, drawdown_level, inverse_normal,
    value_at_risk, volatility, Book, Exposure, RollingVolatility,
};
