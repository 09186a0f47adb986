use super::messages::{Escalate, ResetRisk, RiskError, RiskOutcome};
use crate::events::RISK_CHANGED;
use crate::journal::{JournalError, Store};
use crate::kernel::{Ctx, Handles, Kernel, Worker};
use crate::model::{now_ms, RiskState};
use crate::view::StatusView;
use std::path::PathBuf;
use std::sync::Arc;

/// The journal key of the level (value: the level's name; reason and time kept).
pub const RISK_KEY: &str = "risk.level";
/// The journal key of the account's peak equity (the account drawdown's base).
pub const PEAK_KEY: &str = "account.peak";

/// The account's peak as journaled, if any (an unreadable value is `None`,
/// said by the caller).
pub fn load_peak(store: &Store) -> Result<Option<rust_decimal::Decimal>, JournalError> {
    Ok(store.state(PEAK_KEY)?.and_then(|(v, _)| v.parse().ok()))
}

/// Reads the level from the journal: the one path for a first start, a restart of
/// the worker and a restart of the process after `kill -9`.
pub fn load(store: &Store) -> Result<RiskState, JournalError> {
    match store.state_entry(RISK_KEY)? {
        None => Ok(RiskState::initial(now_ms())),
        Some(e) => Ok(RiskState {
            level: e.value.parse().map_err(|what| JournalError::Corrupt {
                path: store.path().to_owned(),
                what: format!("{RISK_KEY}: {what}"),
            })?,
            since_ms: e.at_ms,
            reason: e.reason,
        }),
    }
}

pub struct PortfolioRisk {
    store: Store,
    kernel: Kernel,
    view: Arc<StatusView>,
    state: RiskState,
    /// The account peak as last journaled.
    saved_peak: rust_decimal::Decimal,
}

impl PortfolioRisk {
    /// The factory for a `ChildSpec`. Opening the journal or reading a corrupt
    /// level is a failure of the worker (the daemon checks both before it starts
    /// the tree, so this is for a journal that breaks while running).
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        view: Arc<StatusView>,
    ) -> impl Fn() -> PortfolioRisk + Send + Sync + 'static {
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let state = load(&store).unwrap_or_else(|e| panic!("{e}"));
            let saved_peak = load_peak(&store).ok().flatten().unwrap_or_default();
            PortfolioRisk {
                store,
                kernel: kernel.clone(),
                view: view.clone(),
                state,
                saved_peak,
            }
        }
    }

    fn apply(&mut self, next: RiskState, who: &str, path: &str) {
        let from = self.state.level;
        self.state = next;
        self.view.set_risk(self.state.clone());
        let detail = format!(
            "{from} -> {} by {who}: {}",
            self.state.level, self.state.reason
        );
        tracing::warn!(actor = path, from = %from, to = %self.state.level, reason = %self.state.reason, "risk level changed");
        self.kernel.events().publish(RISK_CHANGED, path, detail);
    }
}

impl PortfolioRisk {
    /// Journals the account's peak when it rose by more than 0.1 % (or was
    /// rebased): a restart measures the account drawdown from the same peak.
    fn save_peak(&mut self, force: bool) {
        let peak = self.view.peak();
        if !force && peak <= self.saved_peak * rust_decimal::Decimal::new(1001, 3) {
            return;
        }
        match self
            .store
            .put_state_durable(PEAK_KEY, &peak.to_string(), "account peak", now_ms())
        {
            Ok(()) => self.saved_peak = peak,
            Err(e) => tracing::error!(error = %e, "account peak not journaled; trying again"),
        }
    }
}

impl Worker for PortfolioRisk {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.view.set_risk(self.state.clone());
        self.view.seed_peak(self.saved_peak);
        ctx.run_interval(std::time::Duration::from_secs(1), |r, _| r.save_peak(false));
    }
}

impl Handles<Escalate> for PortfolioRisk {
    fn handle(&mut self, m: Escalate, ctx: &mut Ctx<'_, Self>) -> Result<RiskOutcome, RiskError> {
        let Some(next) = self.state.escalated(m.level, &m.reason, now_ms()) else {
            return Ok(RiskOutcome {
                changed: false,
                risk: self.state.clone(),
                message: format!(
                    "risk level stays {}: {} is not above it (only a reset lowers it)",
                    self.state.level, m.level
                ),
            });
        };
        // Journal first. If the journal cannot take it, the escalation still takes
        // effect: a higher level is always the safer side, and refusing it would
        // keep trading at a level somebody found too low.
        let journaled = self.store.put_state_durable(
            RISK_KEY,
            next.level.as_str(),
            &next.reason,
            next.since_ms,
        );
        self.apply(next, &m.source, ctx.path());
        let message = match journaled {
            Ok(()) => format!("risk level raised to {}", self.state.level),
            Err(e) => {
                tracing::error!(error = %e, "risk escalation applied but not journaled");
                format!(
                    "risk level raised to {}, but not journaled ({e}): it will not survive a restart",
                    self.state.level
                )
            }
        };
        Ok(RiskOutcome {
            changed: true,
            risk: self.state.clone(),
            message,
        })
    }
}

impl Handles<ResetRisk> for PortfolioRisk {
    fn handle(&mut self, m: ResetRisk, ctx: &mut Ctx<'_, Self>) -> Result<RiskOutcome, RiskError> {
        let next = self.state.reset(m.level, &m.reason, now_ms());
        // A reset that cannot be journaled does not happen: lowering the level is
        // the one change that must never be lost.
        self.store
            .put_state_durable(RISK_KEY, next.level.as_str(), &next.reason, next.since_ms)
            .map_err(|e| RiskError::Journal(e.to_string()))?;
        let changed = next.level != self.state.level;
        if next.level < self.state.level {
            // The operator accepted the loss so far: the account drawdown is
            // measured from the equity now, or it would ask for the old level
            // again at the next mark.
            self.view.rebase_peak();
            self.save_peak(true);
        }
        self.apply(next, "operator reset", ctx.path());
        Ok(RiskOutcome {
            changed,
            risk: self.state.clone(),
            message: if changed {
                format!("risk level reset to {}", self.state.level)
            } else {
                format!(
                    "risk level stays {}; the reset and its reason are journaled",
                    self.state.level
                )
            },
        })
    }
}
