//! `StatusView`: the one shared, read-mostly snapshot of what the operator sees
//! (`GET /v1/status`, `/metrics`, `/readyz`). Each part has exactly one writer, the
//! actor that owns the state (portfolio_risk writes `risk`, mode writes `mode`,
//! every engine its own entry); readers never wait on an actor, so the status of a
//! daemon with a hung actor can still be read.

use crate::model::{ModeState, RiskLevel, RiskState};
use dashmap::DashMap;
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::{Mutex, RwLock};

/// What an engine publishes about itself. Engines write it from the engines issue
/// on; until an engine has written anything, it has no positions and no PnL.
/// Money as `Decimal`, serialized as a decimal string (the API's rule).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineFigures {
    /// The contract it trades.
    pub symbol: String,
    pub positions: Vec<PositionView>,
    /// Signed notional of the position at the last price, in dollars.
    pub exposure: Decimal,
    /// Standard deviation of one bar's return over the recent bars (the VaR
    /// input), if there are enough bars.
    pub volatility: Option<f64>,
    pub realized_pnl: Decimal,
    pub equity: Decimal,
    pub breaker: BreakerView,
    pub last_price: Option<Decimal>,
    pub activity: EngineActivity,
    /// Holding a position with no price yet (a restart before its first bar):
    /// its equity is not marked, so the account drawdown is not measured.
    #[serde(skip)]
    pub unpriced: bool,
}

/// What the engine has done since the daemon started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineActivity {
    /// Raw events read by the analyzer (bars and headlines).
    pub events_in: u64,
    pub signals: u64,
    /// Candidates by outcome (`executed`, `vetoed`, ...).
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    pub orders: u64,
    pub fills: u64,
    pub rejected: u64,
    /// Market events or signals dropped at a full mailbox or buffer.
    pub dropped: u64,
    pub commissions: Decimal,
    /// HTTP feeds: items read, malformed items dropped, polls that failed.
    pub feed_items: u64,
    pub feed_malformed: u64,
    pub feed_failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub symbol: String,
    pub qty: Decimal,
    pub avg_price: Decimal,
    pub unrealized_pnl: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    pub state: String,
    pub consecutive_failures: u32,
    pub opens: u64,
    /// When it opened last (ms since the epoch), while open or half-open.
    pub opened_at_ms: Option<u64>,
}

impl Default for BreakerView {
    /// A breaker that has seen no failure is closed.
    fn default() -> Self {
        BreakerView {
            state: "closed".to_owned(),
            consecutive_failures: 0,
            opens: 0,
            opened_at_ms: None,
        }
    }
}

/// What the notifier has done, for `/v1/status` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifierFigures {
    /// Notifications waiting in the journal's outbox.
    pub outbox: u64,
    pub delivered: u64,
    pub retries: u64,
    /// Refused for good by a webhook (4xx other than 429).
    pub failed: u64,
    /// `trade`/`milestone` notifications dropped at the outbox bound.
    pub dropped: u64,
}

pub struct StatusView {
    notifier: RwLock<NotifierFigures>,
    risk: RwLock<RiskState>,
    /// Every change of the level, for the engines (each watches it and acts on
    /// a change at once: PANIC cancels and flattens).
    risk_level: tokio::sync::watch::Sender<RiskLevel>,
    mode: RwLock<ModeState>,
    engines: DashMap<String, EngineFigures>,
    /// The highest portfolio equity seen since the daemon started.
    peak_equity: Mutex<Decimal>,
    /// The engines' equity summed, kept as they publish (O(1) to read with
    /// a thousand engines).
    total_equity: Mutex<(Decimal, usize)>,
}

/// One engine's part of the book, for the portfolio checks.
#[derive(Debug, Clone)]
pub struct BookEntry {
    pub id: String,
    pub symbol: String,
    pub exposure: Decimal,
    pub volatility: Option<f64>,
}

/// Portfolio figures derived from the engines'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Portfolio {
    pub equity: Decimal,
    /// From the peak, as a fraction (0.05 = 5 %), 0 before any equity.
    pub drawdown: Decimal,
}

impl StatusView {
    pub fn new(risk: RiskState, mode: ModeState) -> StatusView {
        StatusView {
            notifier: RwLock::new(NotifierFigures::default()),
            risk_level: tokio::sync::watch::Sender::new(risk.level),
            risk: RwLock::new(risk),
            mode: RwLock::new(mode),
            engines: DashMap::new(),
            peak_equity: Mutex::new(Decimal::ZERO),
            total_equity: Mutex::new((Decimal::ZERO, 0)),
        }
    }

    pub fn risk(&self) -> RiskState {
        self.risk.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For portfolio_risk only.
    pub fn set_risk(&self, s: RiskState) {
        let level = s.level;
        *self.risk.write().unwrap_or_else(|e| e.into_inner()) = s;
        self.risk_level
            .send_if_modified(|l| std::mem::replace(l, level) != level);
    }

    /// For the notifier only.
    pub fn set_notifier(&self, f: NotifierFigures) {
        *self.notifier.write().unwrap_or_else(|e| e.into_inner()) = f;
    }

    pub fn notifier(&self) -> NotifierFigures {
        self.notifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A receiver that sees every change of the risk level.
    pub fn watch_risk(&self) -> tokio::sync::watch::Receiver<RiskLevel> {
        self.risk_level.subscribe()
    }

    /// Every engine's figures (a snapshot; for the portfolio checks).
    pub fn engines(&self) -> Vec<(String, EngineFigures)> {
        self.engines
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// Every engine with a position: its symbol, signed exposure and
    /// volatility (what the portfolio checks need, without the rest).
    pub fn book(&self) -> Vec<BookEntry> {
        self.engines
            .iter()
            .filter(|e| !e.exposure.is_zero())
            .map(|e| BookEntry {
                id: e.key().clone(),
                symbol: e.symbol.clone(),
                exposure: e.exposure,
                volatility: e.volatility,
            })
            .collect()
    }

    pub fn mode(&self) -> ModeState {
        self.mode.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For the mode actor only.
    pub fn set_mode(&self, s: ModeState) {
        *self.mode.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// An engine's figures (zero until the engine has published any).
    pub fn engine(&self, id: &str) -> EngineFigures {
        self.engines.get(id).map(|e| e.clone()).unwrap_or_default()
    }

    /// For engine `id` only.
    pub fn set_engine(&self, id: &str, figures: EngineFigures) {
        let (equity, unpriced) = (figures.equity, figures.unpriced);
        // The totals and the map change together (one writer per engine; the
        // lock orders writers of different engines).
        let mut total = self.total_equity.lock().unwrap_or_else(|e| e.into_inner());
        let (old, was_unpriced) = self
            .engines
            .insert(id.to_owned(), figures)
            .map_or((Decimal::ZERO, false), |f| (f.equity, f.unpriced));
        total.0 += equity - old;
        total.1 = total.1 + usize::from(unpriced) - usize::from(was_unpriced);
        if total.1 == 0 {
            let mut peak = self.peak_equity.lock().unwrap_or_else(|e| e.into_inner());
            *peak = (*peak).max(total.0);
        }
    }

    fn equity(&self) -> Decimal {
        self.total_equity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// The account's highest equity so far.
    pub fn peak(&self) -> Decimal {
        *self.peak_equity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peak as journaled by a previous run (at start, before any engine
    /// publishes).
    pub fn seed_peak(&self, peak: Decimal) {
        let mut p = self.peak_equity.lock().unwrap_or_else(|e| e.into_inner());
        *p = (*p).max(peak);
    }

    /// The account's peak becomes its equity now (after an operator reset).
    pub fn rebase_peak(&self) {
        let equity = self.equity();
        *self.peak_equity.lock().unwrap_or_else(|e| e.into_inner()) = equity;
    }

    /// Equity and drawdown from the peak; the drawdown reads 0 while an
    /// engine's position has no price yet (its equity is not marked).
    pub fn portfolio(&self) -> Portfolio {
        let (equity, unpriced) = *self.total_equity.lock().unwrap_or_else(|e| e.into_inner());
        let peak = *self.peak_equity.lock().unwrap_or_else(|e| e.into_inner());
        let drawdown = if peak > Decimal::ZERO && unpriced == 0 {
            ((peak - equity) / peak).round_dp(6)
        } else {
            Decimal::ZERO
        };
        Portfolio { equity, drawdown }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModeState, RiskState};

    fn figures(equity: i64) -> EngineFigures {
        EngineFigures {
            equity: Decimal::from(equity),
            ..EngineFigures::default()
        }
    }

    #[test]
    fn portfolio_equity_is_the_engines_sum_and_drawdown_is_from_its_peak() {
        let v = StatusView::new(RiskState::initial(0), ModeState::initial(0));
        assert_eq!(
            v.portfolio(),
            Portfolio {
                equity: Decimal::ZERO,
                drawdown: Decimal::ZERO
            }
        );
        assert_eq!(v.engine("KC").equity, Decimal::ZERO, "no figures yet: zero");
        v.set_engine("KC", figures(600));
        v.set_engine("CC", figures(400));
        assert_eq!(v.portfolio().equity, Decimal::from(1000));
        v.set_engine("KC", figures(500));
        let p = v.portfolio();
        assert_eq!(
            (p.equity, p.drawdown),
            (Decimal::from(900), Decimal::new(1, 1))
        );
        v.set_engine("KC", figures(700));
        assert_eq!(v.portfolio().drawdown, Decimal::ZERO, "a new peak");
    }

    #[test]
    fn an_unpriced_engine_suspends_the_drawdown_and_a_reset_rebases_the_peak() {
        let v = StatusView::new(RiskState::initial(0), ModeState::initial(0));
        v.seed_peak(Decimal::from(2000));
        v.set_engine("KC", figures(900));
        v.set_engine("CC", figures(900));
        // Peak 2,000 (journaled), equity 1,800: 10 %.
        assert_eq!(v.portfolio().drawdown, Decimal::new(1, 1));
        let unpriced = EngineFigures {
            unpriced: true,
            ..figures(100)
        };
        v.set_engine("CC", unpriced);
        assert_eq!(v.portfolio().drawdown, Decimal::ZERO, "not measured");
        v.set_engine("CC", figures(1_300));
        assert_eq!(v.peak(), Decimal::from(2_200), "priced again: a new peak");
        v.set_engine("KC", figures(700));
        v.rebase_peak();
        assert_eq!(v.peak(), Decimal::from(2_000));
        assert_eq!(v.portfolio().drawdown, Decimal::ZERO);
    }
}
