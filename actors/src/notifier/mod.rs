//! `notifier`: tells people what happened.
//!
//! - **The log**: the kernel events an operator must not miss (risk and mode
//!   changes, failures, give-ups, breakers, operator commands) at a level that
//!   stands out, as they are published.
//! - **Webhooks** (`[[notifier.webhooks]]`: Discord, Slack, generic JSON), each
//!   with its own filter of notification kinds (`webhook::KINDS`). Their source
//!   is the journal, not the kernel's memory: journaled events after a durable
//!   cursor (`notifier.cursor`) become rows of the journal's outbox in the same
//!   durable transaction that moves the cursor, so a notification is queued
//!   exactly once, whatever crashes when. A row leaves the outbox only when the
//!   webhook took it (2xx) or refused it for good (4xx but 429): a webhook that
//!   is down, a restart or `kill -9` lose nothing. Delivery is at least once; a
//!   crash between the webhook's answer and the row's removal sends that one
//!   again, with the same `Idempotency-Key` (the row's dedupe key). What the
//!   outbox drops at its bound and when a row is due is decided in `outbox.rs`.
//! - Every request runs beside the mailbox with a timeout, one at a time per
//!   webhook, under a per-webhook rate limit: a dead or slow webhook delays
//!   only its own notifications, never the engines, risk or the API.

pub mod outbox;
pub mod webhook;

use crate::clock::Clock;
use crate::journal::{CursorRecord, DecimalRecord, OutboxRow, StateKey, Store};
use crate::kernel::{Ctx, Event, EventKind, Kernel, SplitMix64, Worker};
use crate::logsafe::{printable, LOG_CHARS};
use crate::risk::Account;
use crate::view::{NotifierFigures, StatusView};
use crate::wiring::Wiring;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use webhook::{Rate, Target, Verdict};

/// How often it looks at the kernel's retained events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Events read per look; the rest wait for the next one. The kernel retains the
/// last 10,000, so falling behind by more than that loses log lines (not
/// webhook notifications: those come from the journal): counted and logged.
pub const MAX_PER_POLL: usize = 1024;
/// Journaled events turned into notifications per look.
pub const MAX_QUEUED_PER_POLL: usize = 512;

/// What the webhooks side is given.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub targets: Vec<Target>,
    /// Rows the outbox holds before it drops the oldest `trade`/`milestone`.
    pub max_outbox: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Account equity milestones (dollars), ascending.
    pub milestones: Vec<Decimal>,
}

/// A request's answer, back on the notifier.
#[derive(Debug)]
struct Answered {
    webhook: usize,
    row: OutboxRow,
    answer: Result<(u16, Option<String>), String>,
}

pub struct Notifier {
    kernel: Kernel,
    seen: u64,
    missed: u64,
    hooks: Option<Hooks>,
}

struct Hooks {
    cfg: WebhookConfig,
    /// The market clock: stamps (a milestone's time, state changes).
    clock: Clock,
    /// The wall clock: the webhooks' own time (retry times, `Retry-After`,
    /// rate limits, the outbox's `created_ms`).
    wire: Clock,
    store: Store,
    http: reqwest::Client,
    /// Written with the notifier's figures (the operator's read model).
    view: Arc<StatusView>,
    /// The account's equity, for milestones.
    account: Arc<Account>,
    cursor: u64,
    milestone: Option<Decimal>,
    busy: Vec<bool>,
    rates: Vec<Rate>,
    figures: NotifierFigures,
    /// Draws the retries' jitter (seeded from the wall clock at start).
    random: SplitMix64,
}

impl Notifier {
    /// Logs from the events published after it starts (a restarted notifier
    /// does not repeat its predecessor's lines); webhooks from the journal's
    /// cursor. Opening the journal failing is a failure of the worker.
    pub fn factory(
        kernel: Kernel,
        journal: PathBuf,
        settings: tokio::sync::watch::Receiver<WebhookConfig>,
        view: Arc<StatusView>,
        wiring: &Wiring,
    ) -> impl Fn() -> Notifier + Send + Sync + 'static {
        let (clock, wire, account) = (wiring.clock, wiring.wall, wiring.account.clone());
        move || {
            // As configured now (a reload restarts the notifier on new webhooks).
            let cfg = settings.borrow().clone();
            if cfg.targets.is_empty() {
                // Nothing owes a notification: a cursor left by webhooks
                // since removed must not hold back the journal's retention
                // (webhooks added later notify from their start).
                if let Err(e) = crate::journal::Store::open(&journal)
                    .and_then(|mut s| s.forget_state(StateKey::NotifierCursor))
                {
                    tracing::warn!(error = %e, "the notifier's old cursor could not be cleared");
                }
            }
            // The last event published so far (without copying the retained
            // ones to find it).
            let seen = kernel.events().next_seq().saturating_sub(1);
            let hooks = (!cfg.targets.is_empty()).then(|| {
                Hooks::open(
                    &journal,
                    cfg.clone(),
                    view.clone(),
                    account.clone(),
                    clock,
                    wire,
                )
                .unwrap_or_else(|e| panic!("{e}"))
            });
            Notifier {
                kernel: kernel.clone(),
                seen,
                missed: 0,
                hooks,
            }
        }
    }

    fn poll(&mut self) {
        let batch = self.kernel.events().recent(self.seen, MAX_PER_POLL);
        if let Some(first) = batch.first() {
            if self.seen > 0 && first.seq > self.seen + 1 {
                self.missed += first.seq - self.seen - 1;
                tracing::error!(
                    missed_total = self.missed,
                    "notifier fell behind; events not logged"
                );
            }
        }
        for e in &batch {
            notify(e);
            self.seen = e.seq;
        }
    }
}

impl Hooks {
    fn open(
        journal: &std::path::Path,
        cfg: WebhookConfig,
        view: Arc<StatusView>,
        account: Arc<Account>,
        clock: Clock,
        wire: Clock,
    ) -> Result<Hooks, String> {
        let mut store = Store::open(journal).map_err(|e| e.to_string())?;
        let names: Vec<String> = cfg.targets.iter().map(|t| t.name.clone()).collect();
        let forgotten = store
            .outbox_forget_others(&names)
            .map_err(|e| e.to_string())?;
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                "notifications for webhooks no longer configured: dropped"
            );
        }
        // A first start notifies from now, not the whole history.
        // An unreadable cursor or milestone is said and replaced (notifying
        // from the journal's end), never a crash loop of the notifier.
        let end = store.last_seq().map_err(|e| e.to_string())?;
        let key = StateKey::NotifierCursor;
        let cursor = match store.state(key).map_err(|e| e.to_string())? {
            Some((v, _)) => CursorRecord::decode(&v).map_or_else(|| {
                tracing::error!(key = %key, value = %v, "unreadable notifier cursor: notifying from the journal's end");
                end
            }, |r| r.0),
            None => end,
        };
        let key = StateKey::NotifierMilestone;
        let milestone = match store.state(key).map_err(|e| e.to_string())? {
            Some((v, _)) => DecimalRecord::decode(&v).map(|r| r.0).or_else(|| {
                tracing::error!(key = %key, value = %v, "unreadable milestone: milestones start again");
                None
            }),
            None => None,
        };
        let now = wire.now_ms();
        let n = cfg.targets.len();
        let rates = cfg
            .targets
            .iter()
            .map(|t| Rate::new(t.rate_per_min, now))
            .collect();
        let figures = NotifierFigures {
            outbox: store.outbox_len().map_err(|e| e.to_string())?,
            ..NotifierFigures::default()
        };
        Ok(Hooks {
            cfg,
            clock,
            wire,
            store,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?,
            view,
            account,
            cursor,
            milestone,
            busy: vec![false; n],
            rates,
            figures,
            random: SplitMix64::new(now),
        })
    }

    /// The row of notification `kind` about `e` for webhook `i`.
    fn row(&self, i: usize, dedupe: String, kind: &str, e: &Event) -> OutboxRow {
        let t = &self.cfg.targets[i];
        OutboxRow {
            id: 0,
            webhook: t.name.clone(),
            body: webhook::body(
                t.kind,
                &dedupe,
                kind,
                e.kind.as_str(),
                &e.path,
                &e.detail,
                e.at_ms,
            ),
            dedupe,
            kind: kind.to_owned(),
            created_ms: self.wire.now_ms(),
            attempts: 0,
            next_ms: 0,
        }
    }

    /// Journaled events after the cursor, and a milestone reached, into the
    /// outbox (with the cursor, in one durable transaction).
    fn enqueue(&mut self) {
        let events = match self.store.events_since(self.cursor, MAX_QUEUED_PER_POLL) {
            Ok(e) => e,
            Err(e) => {
                return tracing::error!(error = %e, "notifier cannot read the journal; trying again")
            }
        };
        let mut rows = Vec::new();
        let mut cursor = self.cursor;
        for e in &events {
            cursor = e.seq;
            let kinds = webhook::kinds_of(e);
            if kinds.is_empty() {
                continue;
            }
            for i in 0..self.cfg.targets.len() {
                if let Some(kind) = self.cfg.targets[i].kind_for(kinds) {
                    rows.push(self.row(i, format!("event:{}", e.seq), kind, e));
                }
            }
        }
        let mut state = Vec::new();
        if cursor != self.cursor {
            state.push((StateKey::NotifierCursor, CursorRecord(cursor).encode()));
        }
        let equity = self.account.equity();
        let reached = self
            .cfg
            .milestones
            .iter()
            .copied()
            .filter(|m| equity >= *m && self.milestone.is_none_or(|done| *m > done))
            .max();
        if let Some(m) = reached {
            let e = Event {
                seq: 0,
                at_ms: self.clock.now_ms(),
                kind: EventKind::Other("milestone"),
                path: crate::paths::MASTER.to_owned(),
                detail: format!(
                    "account equity ${} reached the ${m} milestone",
                    equity.round_dp(2)
                ),
            };
            for i in 0..self.cfg.targets.len() {
                if self.cfg.targets[i].wants(&["milestone"]) {
                    rows.push(self.row(i, format!("milestone:{m}"), "milestone", &e));
                }
            }
            state.push((StateKey::NotifierMilestone, DecimalRecord(m).encode()));
        }
        if state.is_empty() {
            return;
        }
        match self.store.enqueue_trimmed(
            &rows,
            &state,
            outbox::STATE_REASON,
            outbox::trim(self.cfg.max_outbox),
            self.clock.now_ms(),
        ) {
            Ok((_, dropped)) => {
                self.cursor = cursor;
                if reached.is_some() {
                    self.milestone = reached;
                }
                if dropped > 0 {
                    self.figures.dropped += dropped as u64;
                    tracing::warn!(
                        dropped,
                        dropped_total = self.figures.dropped,
                        max = self.cfg.max_outbox,
                        "outbox full: oldest trade/milestone notifications dropped"
                    );
                }
            }
            // Nothing moved: the next look tries the same events again.
            Err(e) => tracing::error!(error = %e, "notifications not queued; trying again"),
        }
    }

    /// One request per idle webhook with a notification due and a token.
    fn send(&mut self, ctx: &mut Ctx<'_, Notifier>) {
        let now = self.wire.now_ms();
        for i in 0..self.cfg.targets.len() {
            if self.busy[i] {
                continue;
            }
            let row = match outbox::next_due(&self.store, &self.cfg.targets[i].name, now) {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "notifier cannot read its outbox");
                    return;
                }
            };
            if !self.rates[i].take(now) {
                continue;
            }
            self.busy[i] = true;
            let t = &self.cfg.targets[i];
            let request = self
                .http
                .post(&t.url)
                .timeout(t.timeout)
                .header("content-type", "application/json")
                .header("idempotency-key", &row.dedupe)
                .body(row.body.clone());
            ctx.spawn_then(
                async move {
                    match request.send().await {
                        Ok(r) => Ok((
                            r.status().as_u16(),
                            r.headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                        )),
                        // Without the URL: it is a secret.
                        Err(e) => Err(describe(e)),
                    }
                },
                // Straight back on the notifier (no mailbox to be full).
                move |n, _, answer| {
                    if let Some(h) = n.hooks.as_mut() {
                        h.answered(Answered {
                            webhook: i,
                            row,
                            answer,
                        });
                    }
                },
            );
        }
    }

    fn answered(&mut self, m: Answered) {
        let Answered {
            webhook: i,
            row,
            answer,
        } = m;
        self.busy[i] = false;
        let name = self.cfg.targets[i].name.clone();
        let verdict = webhook::verdict(
            answer
                .as_ref()
                .map(|(s, r)| (*s, r.as_deref()))
                .map_err(Clone::clone),
            self.wire.now_ms(),
        );
        match verdict {
            Verdict::Delivered => match self.store.outbox_done(row.id) {
                Ok(()) => {
                    self.figures.delivered += 1;
                    tracing::debug!(webhook = %name, id = %row.dedupe, kind = %row.kind, "notification delivered");
                }
                Err(e) => {
                    tracing::error!(webhook = %name, error = %e, "delivered, but not removed from the outbox: it may be sent again")
                }
            },
            Verdict::Retry { after, why } => {
                let attempts = row.attempts.saturating_add(1);
                let wait = after.unwrap_or_else(|| {
                    let r = self.random.next_f64();
                    webhook::backoff(attempts, self.cfg.backoff_min, self.cfg.backoff_max, r)
                });
                self.figures.retries += 1;
                tracing::warn!(webhook = %name, id = %row.dedupe, attempts, retry_in = ?wait, why = %printable(&why, LOG_CHARS), "notification not delivered; will retry");
                if let Err(e) = self.store.outbox_retry(
                    row.id,
                    attempts,
                    self.wire.now_ms() + wait.as_millis() as u64,
                ) {
                    tracing::error!(webhook = %name, error = %e, "retry not recorded; the row stays due");
                }
            }
            Verdict::GiveUp(why) => {
                self.figures.failed += 1;
                tracing::error!(webhook = %name, id = %row.dedupe, kind = %row.kind, why = %printable(&why, LOG_CHARS), failed_total = self.figures.failed, "notification refused for good; dropped (check the webhook's configuration)");
                if let Err(e) = self.store.outbox_done(row.id) {
                    tracing::error!(webhook = %name, error = %e, "could not drop the refused notification");
                }
            }
        }
    }

    fn publish(&mut self) {
        if let Ok(n) = self.store.outbox_len() {
            self.figures.outbox = n;
        }
        self.view.set_notifier(self.figures.clone());
    }
}

/// A transport error without its URL.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        format!("request failed: {}", e.without_url())
    }
}

/// The events worth a notification, and how loud.
pub fn notable(e: &Event) -> Option<tracing::Level> {
    match e.kind {
        EventKind::GaveUp | EventKind::Escalated => Some(tracing::Level::ERROR),
        EventKind::Failed | EventKind::Suppressed => Some(tracing::Level::WARN),
        EventKind::Other(
            "risk_changed"
            | "breaker_opened"
            | "stale"
            | "reconcile_mismatch"
            | "reconcile_incomplete"
            | "roll_failed",
        ) => Some(tracing::Level::WARN),
        EventKind::Other("breaker_half_open" | "breaker_closed" | "recovered") => {
            Some(tracing::Level::INFO)
        }
        EventKind::Other(
            "mode_changed" | "operator" | "sentinel" | "daily_summary" | "roll_started" | "rolled",
        ) => Some(tracing::Level::INFO),
        _ => None,
    }
}

fn notify(e: &Event) {
    match notable(e) {
        Some(tracing::Level::ERROR) => {
            tracing::error!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %printable(&e.detail, LOG_CHARS), "notify")
        }
        Some(tracing::Level::WARN) => {
            tracing::warn!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %printable(&e.detail, LOG_CHARS), "notify")
        }
        Some(_) => {
            tracing::info!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %printable(&e.detail, LOG_CHARS), "notify")
        }
        None => {}
    }
}

impl Worker for Notifier {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.run_interval(POLL_INTERVAL, |n, ctx| {
            n.poll();
            if let Some(h) = n.hooks.as_mut() {
                h.enqueue();
                h.send(ctx);
                h.publish();
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.poll();
        if let Some(h) = self.hooks.as_mut() {
            h.enqueue();
        }
    }
}
