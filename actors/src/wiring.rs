//! What actors need from each other, made once when the tree is assembled and
//! handed down: the clock, the account, the look-ahead check, and the watches of the risk level and
//! the mode.
//!
//! Invariant: every watch has one writer, the actor that owns the fact
//! (`portfolio_risk` the level, `mode` the mode); only their factories take
//! the sending side, everyone else a receiver. Each
//! engine writes its own entry of the account. `StatusView` is not among
//! these: it is the operator's read model, and no actor decides from it.

use crate::clock::Clock;
use crate::model::{ModeState, RiskLevel, RiskState};
use crate::risk::Account;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Wiring {
    /// The market clock: what everything decides and stamps by.
    pub clock: Clock,
    /// The wall clock, for the outside world's own time only: webhook
    /// retries, `Retry-After` and rate limits (a desk's chat server counts
    /// real minutes, whatever the market's speed).
    pub wall: Clock,
    pub account: Arc<Account>,
    /// The no-look-ahead check every decision and cross-engine read reports to.
    pub lookahead: Arc<crate::market::Lookahead>,
    /// Where the process aborts on purpose (`faults.crash_at`; none by
    /// default).
    pub crash: crate::kernel::CrashPoint,
    risk_level: watch::Sender<RiskLevel>,
    mode: watch::Sender<ModeState>,
}

impl Wiring {
    /// The level and the mode start as recovered from the journal.
    pub fn new(clock: Clock, risk: &RiskState, mode: &ModeState) -> Wiring {
        Wiring {
            clock,
            wall: Clock::wall(),
            account: Arc::new(Account::new()),
            lookahead: Default::default(),
            crash: Default::default(),
            risk_level: watch::Sender::new(risk.level),
            mode: watch::Sender::new(mode.clone()),
        }
    }

    /// Where the process aborts on purpose (`faults.crash_at`).
    pub fn with_crash(mut self, crash: crate::kernel::CrashPoint) -> Wiring {
        self.crash = crash;
        self
    }

    /// A receiver of every change of the risk level.
    pub fn risk_level(&self) -> watch::Receiver<RiskLevel> {
        self.risk_level.subscribe()
    }

    /// A receiver of every change of the mode.
    pub fn mode(&self) -> watch::Receiver<ModeState> {
        self.mode.subscribe()
    }

    /// For `portfolio_risk`'s factory only (and tests that stand in for it).
    pub fn risk_level_writer(&self) -> watch::Sender<RiskLevel> {
        self.risk_level.clone()
    }

    /// For the mode actor's factory only (and tests that stand in for it).
    pub fn mode_writer(&self) -> watch::Sender<ModeState> {
        self.mode.clone()
    }
}
