//! The engine risk guard (`<engine>/guard`): watches the engine's equity (from
//! the day's start and from its peak) and the account's drawdown, and asks
//! `portfolio_risk` for WARNING, HALT or PANIC when a threshold is reached.
//!
//! The per-order rules (quantity, notional, collar, open positions, rate) are
//! pure functions the engine runs on each order without a hop
//! (`model::EngineGuard::check`); this actor being down means those rules have
//! nobody watching the drawdown, so the engine opens nothing until it is back
//! ("risk down → no trade").

use super::messages::EquityMark;
use crate::kernel::{Ctx, Handle, Handles, Worker};
use crate::model::{
    drawdown_level, new_york_offset_min, EngineGuard, GuardLimits, PortfolioLimits, RiskLevel,
};
use crate::risk::{Escalate, PortfolioRisk};
use crate::view::StatusView;
use std::sync::Arc;

pub struct Guard {
    engine: String,
    guard: EngineGuard,
    portfolio: PortfolioLimits,
    risk: Handle<PortfolioRisk>,
    view: Arc<StatusView>,
}

impl Guard {
    pub fn factory(
        engine: String,
        limits: GuardLimits,
        portfolio: PortfolioLimits,
        risk: Handle<PortfolioRisk>,
        view: Arc<StatusView>,
    ) -> impl Fn() -> Guard + Send + Sync + 'static {
        move || Guard {
            engine: engine.clone(),
            guard: EngineGuard::new(limits.clone()),
            portfolio: portfolio.clone(),
            risk: risk.clone(),
            view: view.clone(),
        }
    }

    fn escalate(&self, level: RiskLevel, reason: String, path: &str) {
        tracing::warn!(actor = path, level = %level, reason = %reason, "risk guard asks for a higher level");
        // A full or restarting portfolio_risk: the next mark asks again.
        let _ = self.risk.tell(Escalate {
            level,
            reason,
            source: path.to_owned(),
        });
    }
}

/// The New York trading date of market time `at_ms`, as days since the epoch.
pub fn market_day(at_ms: u64) -> i64 {
    (at_ms as i64 + new_york_offset_min(at_ms) * 60_000).div_euclid(86_400_000)
}

impl Worker for Guard {}

impl Handles<EquityMark> for Guard {
    fn handle(&mut self, m: EquityMark, ctx: &mut Ctx<'_, Self>) {
        let current = self.view.risk().level;
        if let Some((level, why)) = self.guard.mark(market_day(m.at_ms), m.equity, current) {
            self.escalate(level, format!("engine {}: {why}", self.engine), ctx.path());
        }
        let dd = self.view.portfolio().drawdown;
        let account = drawdown_level(&self.portfolio, dd);
        if account > current {
            self.escalate(
                account,
                format!(
                    "account drawdown {}% from its peak",
                    (dd * rust_decimal::Decimal::ONE_HUNDRED)
                        .round_dp(2)
                        .normalize()
                ),
                ctx.path(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_market_day_turns_at_new_york_midnight() {
        // 2026-01-05 04:59 UTC is 23:59 on the 4th in New York (EST, UTC−5).
        let jan5 = crate::model::days_from_civil(2026, 1, 5);
        let at = |h: u64, m: u64| (jan5 as u64) * 86_400_000 + (h * 60 + m) * 60_000;
        assert_eq!(market_day(at(4, 59)), jan5 - 1);
        assert_eq!(market_day(at(5, 0)), jan5);
    }
}
