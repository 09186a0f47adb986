//! The engine risk guard (`<engine>/guard`): watches the engine's equity (from
//! the day's start and from its peak) and asks `portfolio_risk` for WARNING or
//! HALT when a threshold is reached. The account's drawdown is not its
//! business: `portfolio_risk` measures and escalates it, once for the account.
//!
//! The per-order rules (quantity, notional, collar, open positions, rate) are
//! pure functions the engine runs on each order without a hop
//! ([`EngineGuard::check`]); this actor being down means nobody watches the
//! engine's drawdown, so the engine opens nothing until it is back ("risk
//! down → no trade").

use super::guard::EngineGuard;
use super::{DayStart, EquityMark, Escalate, PortfolioRisk};
use crate::clock::Clock;
use crate::journal::{DecimalRecord, GuardMarks, SharedStore, StateKey};
use crate::kernel::{Ctx, Handle, Handles, Worker};
use crate::model::{new_york_offset_min, GuardLimits, RiskLevel};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio::sync::watch;

pub struct Guard {
    engine: String,
    guard: EngineGuard,
    store: Arc<SharedStore>,
    /// The marks as last journaled.
    saved: (Option<Decimal>, Decimal, RiskLevel),
    risk: Handle<PortfolioRisk>,
    /// The portfolio level (its owner is `portfolio_risk`).
    level: watch::Receiver<RiskLevel>,
    clock: Clock,
}

impl Guard {
    /// Its marks (day start, peak, what it asked) are read back from the
    /// journal: a restart does not measure drawdowns from the restart.
    pub fn factory(
        engine: String,
        limits: GuardLimits,
        risk: Handle<PortfolioRisk>,
        level: watch::Receiver<RiskLevel>,
        store: Arc<SharedStore>,
        clock: Clock,
        capital: Decimal,
    ) -> impl Fn() -> Guard + Send + Sync + 'static {
        move || {
            let mut guard = EngineGuard::new(limits.clone());
            let key = StateKey::EngineGuard(&engine);
            match store.with(|s| s.state(key)) {
                Ok(Some((v, _))) => match GuardMarks::decode(&v) {
                    Some(rec) => guard.restore(rec),
                    None => {
                        tracing::error!(engine = %engine, key = %key, value = %v, "unreadable guard marks: drawdowns measured from now")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(engine = %engine, error = %e, "cannot read the guard's marks: drawdowns measured from now")
                }
            }
            rebase_on_capital(&engine, &mut guard, &store, capital, clock.now_ms());
            let (day, peak) = guard.marks();
            Guard {
                engine: engine.clone(),
                saved: (day, peak, guard.asked()),
                guard,
                store: store.clone(),
                risk: risk.clone(),
                level: level.clone(),
                clock,
            }
        }
    }

    /// Journals the marks when the day, the level asked or the peak (by more
    /// than 0.5 %) changed: a handful of writes a day, not one per bar.
    fn save(&mut self) {
        let (day, peak) = self.guard.marks();
        let asked = self.guard.asked();
        let (sday, speak, sasked) = self.saved;
        if day == sday && asked == sasked && peak <= speak * Decimal::new(1005, 3) {
            return;
        }
        let (key, value) = (
            StateKey::EngineGuard(&self.engine),
            self.guard.record().encode(),
        );
        match self
            .store
            .with(|s| s.put_state_durable(key, &value, "guard marks", self.clock.now_ms()))
        {
            Ok(()) => self.saved = (day, peak, asked),
            Err(e) => {
                tracing::error!(engine = %self.engine, error = %e, "guard marks not journaled; trying at the next mark")
            }
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

/// Marks measured on another configured capital than `capital` are moved to
/// it and journaled with it and the reason, in one transaction (see
/// `rebase_peak_on_capital` for the account). A journal that cannot take them
/// leaves the rebase to the next start.
fn rebase_on_capital(
    engine: &str,
    guard: &mut EngineGuard,
    store: &SharedStore,
    capital: Decimal,
    now_ms: u64,
) {
    let key = StateKey::EngineCapital(engine);
    let journaled = store
        .with(|s| s.state(key))
        .ok()
        .flatten()
        .and_then(|(v, _)| DecimalRecord::decode(&v))
        .map(|r| r.0);
    if journaled == Some(capital) {
        return;
    }
    let mut entries = vec![(key, DecimalRecord(capital).encode())];
    let reason = match journaled {
        Some(from) => {
            let before = guard.marks().1;
            guard.rebase(from, capital);
            tracing::warn!(engine, %from, to = %capital, "configured capital changed: the guard's day start and peak are rebased, not read as a drawdown");
            entries.push((StateKey::EngineGuard(engine), guard.record().encode()));
            format!(
                "configured capital changed from {from} to {capital}: the guard's peak moves from {before} to {}",
                guard.marks().1
            )
        }
        None => "configured capital".to_owned(),
    };
    if let Err(e) = store.with(|s| s.put_states_durable(&entries, &reason, now_ms)) {
        tracing::error!(engine, error = %e, "the configured capital could not be journaled: the guard is rebased in memory only");
    }
}

/// The New York trading date of market time `at_ms`, as days since the epoch.
pub fn market_day(at_ms: u64) -> i64 {
    (at_ms as i64 + new_york_offset_min(at_ms) * 60_000).div_euclid(86_400_000)
}

impl Worker for Guard {}

impl Handles<EquityMark> for Guard {
    fn handle(&mut self, m: EquityMark, ctx: &mut Ctx<'_, Self>) {
        let current = *self.level.borrow();
        if let Some((level, why)) = self.guard.mark(market_day(m.at_ms), m.equity, current) {
            self.escalate(level, format!("engine {}: {why}", self.engine), ctx.path());
        }
        self.save();
    }
}

impl Handles<DayStart> for Guard {
    fn handle(&mut self, m: DayStart, ctx: &mut Ctx<'_, Self>) {
        if self.guard.start_day(m.day, m.equity) {
            tracing::info!(actor = ctx.path(), day = m.day, equity = %m.equity, "the next market day starts at the equity reconciled at the close");
            self.save();
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
