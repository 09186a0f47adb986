//! `StatusView`: the one shared, read-mostly snapshot of what the operator sees
//! (`GET /v1/status`, `/metrics`, `/readyz`). Each part has exactly one writer, the
//! actor that owns the state (portfolio_risk writes `risk`, mode writes `mode`,
//! every engine its own entry); readers never wait on an actor, so the status of a
//! daemon with a hung actor can still be read.

use crate::model::{ModeState, RiskState};
use dashmap::DashMap;
use serde::Serialize;
use std::sync::RwLock;

/// What an engine publishes about itself. Engines write it from the engines issue
/// on; until an engine has written anything, it has no positions and no PnL.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineFigures {
    pub positions: Vec<PositionView>,
    /// Decimal strings, as in the API.
    pub realized_pnl: String,
    pub equity: String,
    pub breaker: BreakerView,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub symbol: String,
    pub qty: String,
    pub avg_price: String,
    pub unrealized_pnl: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    pub state: String,
    pub consecutive_failures: u32,
    pub opens: u64,
}

impl Default for BreakerView {
    /// A breaker that has seen no failure is closed.
    fn default() -> Self {
        BreakerView {
            state: "closed".to_owned(),
            consecutive_failures: 0,
            opens: 0,
        }
    }
}

pub struct StatusView {
    risk: RwLock<RiskState>,
    mode: RwLock<ModeState>,
    engines: DashMap<String, EngineFigures>,
}

impl StatusView {
    pub fn new(risk: RiskState, mode: ModeState) -> StatusView {
        StatusView {
            risk: RwLock::new(risk),
            mode: RwLock::new(mode),
            engines: DashMap::new(),
        }
    }

    pub fn risk(&self) -> RiskState {
        self.risk.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For portfolio_risk only.
    pub fn set_risk(&self, s: RiskState) {
        *self.risk.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    pub fn mode(&self) -> ModeState {
        self.mode.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// For the mode actor only.
    pub fn set_mode(&self, s: ModeState) {
        *self.mode.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// An engine's figures (defaults until the engine has published any).
    pub fn engine(&self, id: &str) -> EngineFigures {
        self.engines
            .get(id)
            .map(|e| e.clone())
            .unwrap_or_else(|| EngineFigures {
                realized_pnl: "0".to_owned(),
                equity: "0".to_owned(),
                ..EngineFigures::default()
            })
    }

    /// For engine `id` only.
    pub fn set_engine(&self, id: &str, figures: EngineFigures) {
        self.engines.insert(id.to_owned(), figures);
    }
}
