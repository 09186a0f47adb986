//! The daily reconciliation (`master/reconcile`): once a market day, after
//! the last close of the engines' contracts (the trading calendar) plus
//! `reconcile.after_close`, for every engine:
//!
//! 1. its holdings as the journal's fills make them (net contracts per
//!    symbol, the cash the fills moved) against what its broker holds
//!    ([`crate::engine::Broker::holdings`], asked through the broker actor
//!    with the broker timeout). A difference is a `reconcile_mismatch` event
//!    (notified as `error`), and the risk level is raised to
//!    `reconcile.escalate`; an engine whose broker cannot be asked (stopped,
//!    down) is a `reconcile_incomplete` event (notified as `error` too) and
//!    escalates nothing: what it holds
//!    is unknown, not wrong, and tomorrow's reconciliation covers it (both
//!    books are cumulative, so a difference cannot slip past). A difference
//!    while the engine has orders pending (a restart after a crash between
//!    the broker's fill and the journal's) is compared again every market
//!    minute, up to 30 minutes, while the executor's re-drive settles them;
//! 2. its risk guard is told where the next session starts: the engine's
//!    equity at this close ([`crate::risk::DayStart`]), so a gap at the next
//!    open counts in that day's drawdown;
//! 3. one `daily_summary` event (notified as `summary`): PnL since the last
//!    reconciliation, fills, outcomes, restarts and risk changes of the
//!    period, and what the comparison found; written in one durable
//!    transaction with `reconcile.last` (the day, the time, the equity), so
//!    a day is summed up once, whatever crashes.
//!
//! After the summary, the journal is told to archive the events older than
//! `journal.retention` (`crate::journal::Compact`).
//!
//! Market time only: it checks every market minute which day is due, so a
//! replay and a live run reconcile the same days. A daemon down over a close
//! catches up once, for the latest day due, at its next start; a first start
//! (no `reconcile.last`) begins with the next close, not a past one.

pub mod rules;

use crate::clock::Clock;
use crate::engine::broker::AskHoldings;
use crate::engine::BrokerActor;
use crate::events::{DAILY_SUMMARY, RECONCILE_INCOMPLETE, RECONCILE_MISMATCH};
use crate::journal::{Compact, Journal, ReconcileRecord, StateKey, Store};
use crate::kernel::{Ctx, Handle, Kernel, Worker};
use crate::model::{Holdings, RiskLevel};
use crate::risk::{DayStart, Escalate, Guard, PortfolioRisk};
use crate::view::{ReconcileView, StatusView};
use crate::wiring::Wiring;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long (market time) past its time a reconciliation waits for every
/// running engine to have published its equity, and for pending orders to
/// settle before a difference is reported.
const WAIT_FOR_ENGINES: Duration = Duration::from_secs(30 * 60);

/// One engine, as the reconciliation reaches it.
#[derive(Clone)]
pub struct Target {
    pub engine: String,
    pub symbol: String,
    pub broker: Handle<BrokerActor>,
    pub guard: Handle<Guard>,
}

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Market time after the day's last close.
    pub after_close: Duration,
    /// What a difference raises the level to (`None`: notify only).
    pub escalate: Option<RiskLevel>,
    /// Dollars the cash may differ by.
    pub cash_tolerance: Decimal,
    /// How long a broker has to answer.
    pub broker_timeout: Duration,
    /// The engines' configured capital summed: the first summary's PnL is
    /// measured from it.
    pub capital: Decimal,
    /// `journal.retention`: after each day, the journal archives the events
    /// older than this (zero: never).
    pub retention: Duration,
}

pub struct Reconciler {
    /// The engines, as configured now (a reload adds and removes them).
    engines: watch::Receiver<Vec<Target>>,
    targets: Arc<[Target]>,
    symbols: Vec<String>,
    settings: watch::Receiver<ReconcileConfig>,
    cfg: ReconcileConfig,
    store: Store,
    kernel: Kernel,
    risk: Handle<PortfolioRisk>,
    journal: Handle<Journal>,
    view: Arc<StatusView>,
    wiring: Wiring,
    /// The last day reconciled (from the journal).
    last: Option<ReconcileRecord>,
    /// With no reconciliation journaled yet: the day due at this instance's
    /// first check, which is not reconciled (a first start begins with the
    /// next close).
    floor: Option<i64>,
    /// A reconciliation is under way (its brokers are being asked).
    running: bool,
    runs: u64,
}

/// What one engine's broker answered.
type Answers = Vec<Result<Holdings, String>>;

impl Reconciler {
    pub fn factory(
        journal: PathBuf,
        engines: watch::Receiver<Vec<Target>>,
        settings: watch::Receiver<ReconcileConfig>,
        kernel: Kernel,
        (risk, journal_worker): (Handle<PortfolioRisk>, Handle<Journal>),
        view: Arc<StatusView>,
        wiring: &Wiring,
    ) -> impl Fn() -> Reconciler + Send + Sync + 'static {
        let wiring = wiring.clone();
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let last = match store.state(StateKey::ReconcileLast) {
                Ok(Some((v, _))) => match ReconcileRecord::decode(&v) {
                    Some(r) => Some(r),
                    None => {
                        tracing::error!(key = %StateKey::ReconcileLast, value = %v, "unreadable last reconciliation: the next close is reconciled, no day before it");
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => panic!("{e}"),
            };
            let mut r = Reconciler {
                engines: engines.clone(),
                targets: Arc::from([]),
                symbols: Vec::new(),
                settings: settings.clone(),
                cfg: settings.borrow().clone(),
                store,
                kernel: kernel.clone(),
                risk: risk.clone(),
                journal: journal_worker.clone(),
                view: view.clone(),
                wiring: wiring.clone(),
                last,
                floor: None,
                running: false,
                runs: 0,
            };
            r.refresh();
            r
        }
    }

    /// The engines and settings as configured now.
    fn refresh(&mut self) {
        let targets: Vec<Target> = self.engines.borrow_and_update().clone();
        let mut symbols: Vec<String> = targets.iter().map(|t| t.symbol.clone()).collect();
        symbols.sort();
        symbols.dedup();
        self.targets = targets.into();
        self.symbols = symbols;
        self.cfg = self.settings.borrow_and_update().clone();
    }

    fn clock(&self) -> Clock {
        self.wiring.clock
    }

    /// Reconciles the day due, if it has not been.
    fn check(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.running {
            return;
        }
        self.refresh();
        if self.targets.is_empty() {
            return;
        }
        let now = self.clock().now_ms();
        let Some(day) = rules::due_day(&self.symbols, now, self.cfg.after_close) else {
            return;
        };
        let done = match self.last {
            Some(r) => r.day,
            None => *self.floor.get_or_insert(day),
        };
        if day <= done || self.waiting_for_engines(day, now) {
            return;
        }
        self.running = true;
        let (targets, timeout) = (self.targets.clone(), self.cfg.broker_timeout);
        ctx.spawn_then(
            async move {
                let mut answers: Answers = Vec::with_capacity(targets.len());
                for t in targets.iter() {
                    answers.push(match t.broker.ask_timeout(AskHoldings, timeout).await {
                        Ok(Ok(h)) => Ok(h),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(format!("its broker did not answer ({e})")),
                    });
                }
                answers
            },
            move |r: &mut Reconciler, ctx, answers| {
                r.running = false;
                r.finish(day, answers, ctx.path());
            },
        );
    }

    /// Whether to wait (at most `WAIT_FOR_ENGINES` past the time due) for an
    /// engine that is not stopped and has not published into the account
    /// yet (a daemon started after the close): its equity is the summary's.
    fn waiting_for_engines(&self, day: i64, now: u64) -> bool {
        if self.past_waiting(day, now) {
            return false;
        }
        let registry = self.kernel.registry();
        self.targets.iter().any(|t| {
            !registry.is_stopped(&crate::paths::engine(&t.engine))
                && self
                    .wiring
                    .account
                    .entry(&t.engine)
                    .is_none_or(|e| e.symbol.is_empty())
        })
    }

    /// Whether `WAIT_FOR_ENGINES` has passed since `day` was due.
    fn past_waiting(&self, day: i64, now: u64) -> bool {
        let due = rules::last_close_ms(&self.symbols, day).unwrap_or(0)
            + self.cfg.after_close.as_millis() as u64;
        now >= due + WAIT_FOR_ENGINES.as_millis() as u64
    }

    /// Compares, tells the guards, sums the day up and journals it.
    fn finish(&mut self, day: i64, answers: Answers, path: &str) {
        let now = self.clock().now_ms();
        let registry = self.kernel.registry();
        let (mut matched, mut differ, mut unknown) = (0usize, Vec::new(), Vec::new());
        let mut settling = 0u64;
        for (t, answer) in self.targets.iter().zip(answers) {
            let ours = match self.store.holdings(&t.engine) {
                Ok(h) => h,
                Err(e) => {
                    // Its journal cannot be read: nothing to compare, and
                    // nothing known to be wrong with the broker.
                    unknown.push(format!("{}: its journal cannot be read: {e}", t.engine));
                    continue;
                }
            };
            match answer {
                Ok(theirs) => {
                    let d = ours.differences(&theirs, self.cfg.cash_tolerance);
                    if d.is_empty() {
                        matched += 1;
                        continue;
                    }
                    let pending = self.store.pending_count(&t.engine).unwrap_or(0);
                    settling += pending;
                    let note = if pending > 0 {
                        format!(" ({pending} order(s) pending: their fate is being asked)")
                    } else {
                        String::new()
                    };
                    differ.push(format!("{}: {}{note}", t.engine, d.join("; ")));
                }
                Err(e) if registry.is_stopped(&crate::paths::engine(&t.engine)) => {
                    unknown.push(format!(
                        "{}: stopped by an operator, not asked ({e})",
                        t.engine
                    ));
                }
                Err(e) => unknown.push(format!("{}: not reconciled: {e}", t.engine)),
            }
        }
        if settling > 0 && !self.past_waiting(day, now) {
            // An order whose fate is being asked (a restart after a crash
            // between the broker's fill and the journal's) explains a
            // difference until the executor's re-drive settles it: the day
            // is compared again in a market minute.
            tracing::info!(
                actor = path,
                pending = settling,
                "a difference with orders pending: compared again in a market minute"
            );
            return;
        }
        self.report(day, &differ, &unknown, path);
        self.start_next_days(day);
        let account = &self.wiring.account;
        self.wiring
            .lookahead
            .check(path, now, account.as_of_ms(), "the account's equity");
        let equity = account.equity();
        let since = self.last.map_or(0, |r| r.at_ms);
        let pnl = equity - self.last.map_or(self.cfg.capital, |r| r.equity);
        let counts = match self.store.day_counts(since, now) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(actor = path, error = %e, "the day's counts cannot be read: the summary says none");
                Default::default()
            }
        };
        let line = rules::summary_line(
            day,
            equity,
            pnl,
            &counts,
            matched,
            differ.len(),
            unknown.len(),
        );
        let record = ReconcileRecord {
            day,
            at_ms: now,
            equity,
        };
        let store = &mut self.store;
        let written = self
            .kernel
            .events()
            .publish_durably(DAILY_SUMMARY, path, line, |pending| {
                store.put_state_with_event(
                    pending,
                    StateKey::ReconcileLast,
                    &record.encode(),
                    "daily reconciliation",
                    now,
                )
            });
        match written {
            Ok(_) => self.last = Some(record),
            Err(e) => {
                // Not journaled: the day stays due and is tried again at the
                // next check (a mismatch would be said again; never lost).
                tracing::error!(actor = path, error = %e, "the day's reconciliation could not be journaled: tried again in a market minute");
                return;
            }
        }
        self.runs += 1;
        if !self.cfg.retention.is_zero() {
            // The quiet hour after the close: the journal's old events go
            // to the archive.
            let before_ms = now.saturating_sub(self.cfg.retention.as_millis() as u64);
            let _ = self.journal.tell(Compact { before_ms });
        }
        let mut mismatches = differ;
        mismatches.extend(unknown);
        self.view.set_reconcile(ReconcileView {
            day: Some(rules::date(day)),
            matched: matched as u64,
            mismatches,
            runs: self.runs,
        });
    }

    /// The `reconcile_mismatch` event for the engines whose holdings differ
    /// (journaled before the escalation it causes) and the
    /// `reconcile_incomplete` event for those that could not be compared.
    fn report(&mut self, day: i64, differ: &[String], unknown: &[String], path: &str) {
        for (kind, lines) in [
            (RECONCILE_MISMATCH, differ),
            (RECONCILE_INCOMPLETE, unknown),
        ] {
            if lines.is_empty() {
                continue;
            }
            let detail = format!("{}: {}", rules::date(day), lines.join(" | "));
            let store = &mut self.store;
            if let Err(e) =
                self.kernel
                    .events()
                    .publish_durably(kind, path, detail.clone(), |pending| {
                        store.append_event_durably(pending)
                    })
            {
                // Said in the log; the summary below says how many.
                tracing::error!(actor = path, error = %e, detail = %detail, "the reconciliation's finding could not be journaled");
            }
        }
        if let (false, Some(level)) = (differ.is_empty(), self.cfg.escalate) {
            let _ = self.risk.tell(Escalate {
                level,
                reason: format!(
                    "reconciliation of {}: the journal and the broker differ ({})",
                    rules::date(day),
                    differ.join("; ")
                ),
                source: path.to_owned(),
            });
        }
    }

    /// Tells each engine's guard that its contract's next session starts at
    /// the engine's equity now (at this close); an engine whose position has
    /// no price yet is left to mark its own.
    fn start_next_days(&self, day: i64) {
        for t in self.targets.iter() {
            let Some(next) = rules::next_session(&t.symbol, day) else {
                continue;
            };
            match self.wiring.account.entry(&t.engine) {
                Some(e) if !e.unpriced => {
                    let _ = t.guard.tell(DayStart {
                        day: next,
                        equity: e.equity,
                    });
                }
                _ => {}
            }
        }
    }
}

impl Worker for Reconciler {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        let every = self
            .clock()
            .span(Duration::from_secs(60))
            .max(Duration::from_millis(1));
        self.check(ctx);
        ctx.run_interval(every, |r, ctx| r.check(ctx));
    }
}
