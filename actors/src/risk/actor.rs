//! The `portfolio_risk` worker: the escalation-only level (journaled before it
//! takes effect, sent to every engine through the level watch it alone
//! writes) and the account's drawdown: it measures the account whenever an
//! engine publishes and asks itself for the level the drawdown calls for. It
//! journals the account's peak and rebases it on an operator reset.

use super::account::{rebased_peak, Account};
use super::messages::{AccountChanged, Escalate, Recapitalize, ResetRisk, RiskError, RiskOutcome};
use super::portfolio::drawdown_level;
use crate::clock::Clock;
use crate::events::RISK_CHANGED;
use crate::journal::{DecimalRecord, JournalError, LevelRecord, StateKey, Store};
use crate::kernel::{Ctx, Handles, Kernel, Worker};
use crate::model::{PortfolioLimits, RiskLevel, RiskState};
use crate::view::StatusView;
use crate::wiring::Wiring;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// The account's peak as journaled, if any (an unreadable value is `None`,
/// said by the caller).
pub fn load_peak(store: &Store) -> Result<Option<Decimal>, JournalError> {
    let peak = store.state(StateKey::AccountPeak)?;
    Ok(peak
        .and_then(|(v, _)| DecimalRecord::decode(&v))
        .map(|r| r.0))
}

/// The account's peak as journaled, moved to the configured `capital` when
/// it was measured on another (engines' capital lowered or raised, an engine
/// removed or added while stopped): a capital change is never a drawdown nor
/// a gain. The move and the capital are journaled together, with the reason;
/// a journal that cannot take them leaves the rebase to the next start
/// (nothing journaled changed). A journal from before capital was recorded
/// records it now and keeps its peak.
pub fn rebase_peak_on_capital(
    store: &mut Store,
    peak: Option<Decimal>,
    capital: Decimal,
    now_ms: u64,
) -> Option<Decimal> {
    let journaled = store
        .state(StateKey::AccountCapital)
        .ok()
        .flatten()
        .and_then(|(v, _)| DecimalRecord::decode(&v))
        .map(|r| r.0);
    if journaled == Some(capital) {
        return peak;
    }
    let capital_entry = (StateKey::AccountCapital, DecimalRecord(capital).encode());
    let (entries, reason, rebased) = match (peak, journaled) {
        (Some(p), Some(from)) => {
            let to = rebased_peak(p, from, capital);
            let reason = format!(
                "configured capital changed from {from} to {capital}: the account peak moves from {p} to {to}"
            );
            tracing::warn!(%from, to = %capital, peak_from = %p, peak_to = %to, "configured capital changed: the account peak is rebased, not read as a drawdown");
            (
                vec![
                    (StateKey::AccountPeak, DecimalRecord(to).encode()),
                    capital_entry,
                ],
                reason,
                Some(to),
            )
        }
        _ => (vec![capital_entry], "configured capital".to_owned(), peak),
    };
    match store.put_states_durable(&entries, &reason, now_ms) {
        Ok(()) => rebased,
        Err(e) => {
            tracing::error!(error = %e, "the configured capital could not be journaled: the peak is rebased in memory only");
            rebased
        }
    }
}

/// Reads the level from the journal: the one path for a first start, a restart of
/// the worker and a restart of the process after `kill -9`. `now_ms` dates a
/// first start's level.
pub fn load(store: &Store, now_ms: u64) -> Result<RiskState, JournalError> {
    let key = StateKey::RiskLevel;
    match store.state_entry(key)? {
        None => Ok(RiskState::initial(now_ms)),
        Some(e) => Ok(RiskState {
            level: LevelRecord::decode(&e.value)
                .map_err(|what| JournalError::Corrupt {
                    path: store.path().to_owned(),
                    what: format!("{key}: {what}"),
                })?
                .0,
            since_ms: e.at_ms,
            reason: e.reason,
        }),
    }
}

pub struct PortfolioRisk {
    store: Store,
    kernel: Kernel,
    view: Arc<StatusView>,
    account: Arc<Account>,
    /// The one writer of the level every engine watches.
    level: watch::Sender<RiskLevel>,
    /// The account drawdown thresholds.
    limits: PortfolioLimits,
    /// The limits and the configured capital, as a reload changes them.
    settings: watch::Receiver<Capitalized>,
    clock: Clock,
    lookahead: Arc<crate::market::Lookahead>,
    state: RiskState,
    /// The account peak as last journaled.
    saved_peak: Decimal,
}

impl PortfolioRisk {
    /// The factory for a `ChildSpec`. Opening the journal or reading a corrupt
    /// level is a failure of the worker (the daemon checks both before it starts
    /// the tree, so this is for a journal that breaks while running).
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        view: Arc<StatusView>,
        wiring: &Wiring,
        settings: watch::Receiver<Capitalized>,
    ) -> impl Fn() -> PortfolioRisk + Send + Sync + 'static {
        let (account, level, clock, lookahead) = (
            wiring.account.clone(),
            wiring.risk_level_writer(),
            wiring.clock,
            wiring.lookahead.clone(),
        );
        move || {
            let Capitalized { limits, capital } = settings.borrow().clone();
            let mut store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let state = load(&store, clock.now_ms()).unwrap_or_else(|e| panic!("{e}"));
            let saved_peak = load_peak(&store).ok().flatten();
            let saved_peak =
                rebase_peak_on_capital(&mut store, saved_peak, capital, clock.now_ms())
                    .unwrap_or_default();
            PortfolioRisk {
                store,
                kernel: kernel.clone(),
                view: view.clone(),
                account: account.clone(),
                level: level.clone(),
                limits,
                settings: settings.clone(),
                clock,
                lookahead: lookahead.clone(),
                state,
                saved_peak,
            }
        }
    }

    /// Journals `next` and its `risk_changed` event in one durable
    /// transaction; the event is published only if that commits.
    fn journal(&mut self, next: &RiskState, who: &str, path: &str) -> Result<(), JournalError> {
        let detail = format!(
            "{} -> {} by {who}: {}",
            self.state.level, next.level, next.reason
        );
        let store = &mut self.store;
        self.kernel
            .events()
            .publish_durably(RISK_CHANGED, path, detail, |pending| {
                store.put_state_with_event(
                    pending,
                    StateKey::RiskLevel,
                    &LevelRecord(next.level).encode(),
                    &next.reason,
                    next.since_ms,
                )
            })
            .map(|_| ())
    }

    /// The level takes effect: the watch (engines), the view (operator) and
    /// the log. `event`: its event was not journaled with it, publish it now.
    fn apply(&mut self, next: RiskState, who: &str, path: &str, event: bool) {
        let from = self.state.level;
        self.state = next;
        self.publish_level();
        tracing::warn!(actor = path, from = %from, to = %self.state.level, reason = %self.state.reason, "risk level changed");
        if event {
            let detail = format!(
                "{from} -> {} by {who}: {}",
                self.state.level, self.state.reason
            );
            self.kernel.events().publish(RISK_CHANGED, path, detail);
        }
    }

    fn publish_level(&self) {
        let level = self.state.level;
        self.level
            .send_if_modified(|l| std::mem::replace(l, level) != level);
        self.view.set_risk(self.state.clone());
    }

    /// Raises the level to `level` (if above it), journaled first.
    fn escalate(&mut self, level: RiskLevel, reason: &str, who: &str, path: &str) -> RiskOutcome {
        let Some(next) = self.state.escalated(level, reason, self.clock.now_ms()) else {
            return RiskOutcome {
                changed: false,
                risk: self.state.clone(),
                message: format!(
                    "risk level stays {}: {level} is not above it (only a reset lowers it)",
                    self.state.level
                ),
            };
        };
        // Journal first. If the journal cannot take it, the escalation still takes
        // effect: a higher level is always the safer side, and refusing it would
        // keep trading at a level somebody found too low.
        let journaled = self.journal(&next, who, path);
        self.apply(next, who, path, journaled.is_err());
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
        RiskOutcome {
            changed: true,
            risk: self.state.clone(),
            message,
        }
    }

    /// Measures the account: its figures for the operator, and the level its
    /// drawdown calls for, asked for at once (the one place the account
    /// drawdown escalates).
    fn measure(&mut self, path: &str) {
        let now = self.clock.now_ms();
        self.lookahead
            .check(path, now, self.account.as_of_ms(), "the account's equity");
        let p = self.account.portfolio();
        self.view.set_portfolio(p);
        let level = drawdown_level(&self.limits, p.drawdown);
        if level > self.state.level {
            let reason = format!(
                "account drawdown {}% from its peak",
                (p.drawdown * Decimal::ONE_HUNDRED).round_dp(2).normalize()
            );
            tracing::warn!(actor = path, %level, %reason, "the account drawdown asks for a higher level");
            self.escalate(level, &reason, path, path);
        }
    }

    /// Journals the account's peak when it rose by more than 0.1 % (or was
    /// rebased): a restart measures the account drawdown from the same peak.
    fn save_peak(&mut self, force: bool) {
        let peak = self.account.peak();
        if !force && peak <= self.saved_peak * Decimal::new(1001, 3) {
            return;
        }
        match self.store.put_state_durable(
            StateKey::AccountPeak,
            &DecimalRecord(peak).encode(),
            "account peak",
            self.clock.now_ms(),
        ) {
            Ok(()) => self.saved_peak = peak,
            Err(e) => tracing::error!(error = %e, "account peak not journaled; trying again"),
        }
    }
}

impl Worker for PortfolioRisk {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.publish_level();
        self.account.seed_peak(self.saved_peak);
        self.measure(ctx.path());
        // Every publish into the account, coalesced: a full mailbox loses
        // nothing (the next publish wakes it again, and so does the second).
        let (account, me) = (self.account.clone(), ctx.myself());
        ctx.spawn(async move {
            loop {
                account.changed().await;
                let _ = me.tell(AccountChanged);
            }
        });
        ctx.run_interval(std::time::Duration::from_secs(1), |r, ctx| {
            r.measure(ctx.path());
            r.save_peak(false);
        });
    }
}

/// The portfolio limits and the configured capital of all engines: what
/// `portfolio_risk` is built with, changed by a live reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Capitalized {
    pub limits: PortfolioLimits,
    pub capital: Decimal,
}

impl Handles<Recapitalize> for PortfolioRisk {
    /// A reload changed the engines or their capital (the new settings are
    /// in the watch already): the engines being replaced wait for their
    /// first publish, the removed ones leave the account, and the peak moves
    /// with the capital (journaled), as at a start on a new configuration.
    fn handle(&mut self, m: Recapitalize, ctx: &mut Ctx<'_, Self>) {
        let Capitalized { limits, capital } = self.settings.borrow().clone();
        self.limits = limits;
        // A removed engine takes its equity with it; beyond its capital
        // (its realized PnL) that is no drawdown either.
        let mut beyond = Decimal::ZERO;
        for (id, its_capital) in &m.forget {
            if let Some(equity) = self.account.forget(id) {
                beyond += equity - its_capital;
            }
        }
        for id in &m.wait_for {
            self.account.wait_for(id);
        }
        let now = self.clock.now_ms();
        let peak = self.account.peak() - beyond;
        let rebased =
            rebase_peak_on_capital(&mut self.store, Some(peak), capital, now).unwrap_or(peak);
        self.account.set_peak(rebased.max(Decimal::ZERO));
        self.save_peak(true);
        tracing::info!(actor = ctx.path(), %capital, peak = %rebased, "reconfigured: the account peak follows the configured capital");
        self.measure(ctx.path());
    }
}

impl Handles<AccountChanged> for PortfolioRisk {
    fn handle(&mut self, _: AccountChanged, ctx: &mut Ctx<'_, Self>) {
        self.measure(ctx.path());
    }
}

impl Handles<Escalate> for PortfolioRisk {
    fn handle(&mut self, m: Escalate, ctx: &mut Ctx<'_, Self>) -> Result<RiskOutcome, RiskError> {
        Ok(self.escalate(m.level, &m.reason, &m.source, ctx.path()))
    }
}

impl Handles<ResetRisk> for PortfolioRisk {
    fn handle(&mut self, m: ResetRisk, ctx: &mut Ctx<'_, Self>) -> Result<RiskOutcome, RiskError> {
        let next = self.state.reset(m.level, &m.reason, self.clock.now_ms());
        // A reset that cannot be journaled does not happen: lowering the level is
        // the one change that must never be lost.
        self.journal(&next, "operator reset", ctx.path())
            .map_err(|e| RiskError::Journal(e.to_string()))?;
        let changed = next.level != self.state.level;
        if next.level < self.state.level {
            // The operator accepted the loss so far: the account drawdown is
            // measured from the equity now, or it would ask for the old level
            // again at the next mark.
            self.account.rebase_peak();
            self.save_peak(true);
            self.view.set_portfolio(self.account.portfolio());
        }
        self.apply(next, "operator reset", ctx.path(), false);
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
