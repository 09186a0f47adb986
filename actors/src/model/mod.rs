//! Plain domain types: no actors, no I/O. Imports nothing but std, serde and
//! rust_decimal.

mod breaker;
mod guard;
mod market;
mod mode;
mod portfolio;
mod risk;

pub use breaker::{Admit, Breaker, BreakerState};
pub use guard::{EngineGuard, GuardLimits, Opening};
pub use market::{
    client_order_id, contract, days_from_civil, new_york_offset_min, Analyzed, Bar, ContractSpec,
    Fill, Headline, Order, Outcome, Position, Sentiment, Side, KNOWN_SYMBOLS,
};
pub use mode::{DecodeError, ModeChoice, ModeState, Tier, TierParams, Tiers, MAX_TIERS};
pub use portfolio::{
    check_opening, concentration, correlated_exposure, drawdown_level, inverse_normal,
    value_at_risk, volatility, Book, Exposure, PortfolioLimits, RollingVolatility,
};
pub use risk::{RiskLevel, RiskState};

/// Milliseconds since the Unix epoch, the journal's time unit.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
