use crate::clock::Clock;
use crate::events::MODE_CHANGED;
use crate::journal::{JournalError, StateKey, Store};
use crate::kernel::{Ctx, Handles, Kernel, Worker};
use crate::model::{DecodeError, ModeChoice, ModeState, Tiers};
use crate::risk::Account;
use crate::view::StatusView;
use crate::wiring::Wiring;
use actix::Message;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The operator's choice of mode.
#[derive(Debug, Message)]
#[rtype(result = "Result<ModeOutcome, ModeError>")]
pub struct SetMode {
    pub choice: ModeChoice,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeOutcome {
    pub changed: bool,
    pub mode: ModeState,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("the mode was not changed: {0}")]
    Journal(String),
}

/// Reads the mode from the journal (first start, worker restart and process
/// restart are one path). A journaled tier the configuration no longer has
/// (the operator renamed or removed it) is not a corrupt journal: the mode
/// starts from the lowest tier, the smallest sizes, and says so. `now_ms`
/// dates a mode set now.
pub fn load(store: &Store, tiers: &Tiers, now_ms: u64) -> Result<ModeState, JournalError> {
    match store.state_entry(StateKey::Mode)? {
        None => Ok(ModeState::initial_in(tiers, now_ms)),
        Some(e) => match ModeState::decode(&e.value, e.at_ms, tiers) {
            Ok(m) => Ok(m),
            Err(DecodeError::Unknown { name, auto }) => {
                let m = ModeState {
                    current: tiers.lowest(),
                    auto,
                    since_ms: now_ms,
                };
                tracing::warn!(
                    journaled = %e.value,
                    now = %m.encode(),
                    "the journal's mode names tier {name}, which [mode].tiers no longer has ({}): starting from the lowest tier",
                    tiers.names()
                );
                Ok(m)
            }
            Err(DecodeError::Corrupt(what)) => Err(JournalError::Corrupt {
                path: store.path().to_owned(),
                what: format!("{}: {what}", StateKey::Mode),
            }),
        },
    }
}

pub struct ModeActor {
    store: Store,
    kernel: Kernel,
    view: Arc<StatusView>,
    /// The one writer of the mode every engine watches.
    mode: watch::Sender<ModeState>,
    /// Where the controller reads the account's equity.
    account: Arc<Account>,
    /// Where its reads of the account are checked for look-ahead.
    lookahead: Arc<crate::market::Lookahead>,
    clock: Clock,
    tiers: Tiers,
    check_every: Duration,
    state: ModeState,
}

impl ModeActor {
    /// `tiers`: the thresholds and hysteresis of the automatic controller, which
    /// looks at the account equity every `check_every` while the mode is `auto`.
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        view: Arc<StatusView>,
        wiring: &Wiring,
        settings: tokio::sync::watch::Receiver<(Tiers, Duration)>,
    ) -> impl Fn() -> ModeActor + Send + Sync + 'static {
        let (mode, account, clock) = (wiring.mode_writer(), wiring.account.clone(), wiring.clock);
        let lookahead = wiring.lookahead.clone();
        move || {
            // As configured now (a reload restarts the actor on new tiers).
            let (tiers, check_every) = settings.borrow().clone();
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let state = load(&store, &tiers, clock.now_ms()).unwrap_or_else(|e| panic!("{e}"));
            ModeActor {
                store,
                kernel: kernel.clone(),
                view: view.clone(),
                mode: mode.clone(),
                account: account.clone(),
                clock,
                lookahead: lookahead.clone(),
                tiers,
                check_every,
                state,
            }
        }
    }

    /// The automatic controller: in `auto`, moves to the tier the account equity
    /// calls for (with hysteresis). A fixed mode is never moved; no equity yet
    /// (no engine has published any) moves nothing.
    fn check(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.state.auto {
            return;
        }
        let now = self.clock.now_ms();
        self.lookahead.check(
            crate::paths::MODE,
            now,
            self.account.as_of_ms(),
            "the account's equity",
        );
        let equity = self.account.equity();
        if equity <= Decimal::ZERO {
            return;
        }
        let next = self.tiers.next_tier(self.state.current, equity);
        if next == self.state.current {
            return;
        }
        let reason = self.tiers.reason(self.state.current, next, equity);
        let next = ModeState {
            current: next,
            auto: true,
            since_ms: self.clock.now_ms(),
        };
        if let Err(e) = self.apply(next, &reason, ctx) {
            tracing::error!(
                actor = ctx.path(),
                error = %e,
                reason = %reason,
                "the mode was not changed: the journal refused it (tried again at the next check)"
            );
        }
    }

    /// Journals `next` with its `mode_changed` event (one transaction), then
    /// makes it take effect: the view and the log. Nothing changes, and no
    /// event is published, when the journal refuses.
    fn apply(
        &mut self,
        next: ModeState,
        reason: &str,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<(), JournalError> {
        let detail = format!("{} -> {}: {}", self.state.encode(), next.encode(), reason);
        let store = &mut self.store;
        self.kernel
            .events()
            .publish_durably(MODE_CHANGED, ctx.path(), detail, |pending| {
                store.put_state_with_event(
                    pending,
                    StateKey::Mode,
                    &next.encode(),
                    reason,
                    next.since_ms,
                )
            })?;
        self.state = next;
        self.publish();
        tracing::info!(actor = ctx.path(), mode = %self.state.encode(), reason, "mode changed");
        Ok(())
    }
}

impl ModeActor {
    /// The mode takes effect: the watch (engines) and the view (operator).
    fn publish(&self) {
        let state = self.state.clone();
        self.mode.send_if_modified(|m| {
            let changed = *m != state;
            *m = state.clone();
            changed
        });
        self.view.set_mode(self.state.clone());
    }
}

impl Worker for ModeActor {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.publish();
        ctx.run_interval(self.check_every, |m, ctx| m.check(ctx));
    }
}

impl Handles<SetMode> for ModeActor {
    fn handle(&mut self, m: SetMode, ctx: &mut Ctx<'_, Self>) -> Result<ModeOutcome, ModeError> {
        let Some(next) = self.state.chosen(m.choice, self.clock.now_ms()) else {
            return Ok(ModeOutcome {
                changed: false,
                mode: self.state.clone(),
            });
        };
        self.apply(next, &m.reason, ctx)
            .map_err(|e| ModeError::Journal(e.to_string()))?;
        Ok(ModeOutcome {
            changed: true,
            mode: self.state.clone(),
        })
    }
}
