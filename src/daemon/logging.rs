//! What the daemon writes to its log besides the actors' own lines: every
//! event of the kernel, and a status line per engine every `log.status_every`.
//!
//! Invariant: every event is logged once, by the logger task while it runs and
//! by [`EventLog::drain`] for those published after its last turn.

use commodore_actors::control;
use commodore_actors::kernel::{Admit, Event, Kernel, Throttle};
use commodore_actors::logsafe::{printable, LOG_CHARS};
use commodore_actors::notifier;
use commodore_actors::view::StatusView;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The task that logs the kernel's events as they are published.
pub struct EventLog {
    /// The sequence number of the last event logged.
    logged: Arc<AtomicU64>,
}

impl EventLog {
    /// Subscribes before the tree starts, so its first events are logged too.
    pub fn spawn(kernel: &Kernel) -> EventLog {
        let logged = Arc::new(AtomicU64::new(0));
        let mut events = kernel.events().subscribe(4096);
        let logged2 = logged.clone();
        actix_rt::spawn(async move {
            while let Some(e) = events.rx.recv().await {
                log_event(&e);
                logged2.store(e.seq, Ordering::Relaxed);
            }
        });
        EventLog { logged }
    }

    /// Logs the events published after the logger's last turn.
    pub fn drain(&self, kernel: &Kernel) {
        for e in kernel
            .events()
            .recent(self.logged.load(Ordering::Relaxed), usize::MAX)
        {
            log_event(&e);
        }
    }
}

/// Panic reports bounded like the kernel's events: per place in the code,
/// the first `kernel::BURST` of a window printed in full (by the standard report,
/// with its backtrace when `RUST_BACKTRACE` asks for one), the rest counted
/// and said in one line at the next report from there. A restart storm of a
/// panicking actor (its failures are events, logged and bounded already)
/// would otherwise write a report, and maybe a backtrace, per restart.
pub fn bound_panic_reports() {
    let standard = std::panic::take_hook();
    let throttle = std::sync::Mutex::new(Throttle::default());
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "(unknown place)".to_owned());
        let (admit, summary) = throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit_now(&place);
        if let Some(s) = summary {
            eprintln!(
                "{} more panics at {place} in {} s were not reported one by one",
                s.counted,
                s.over.as_secs().max(1)
            );
        }
        if admit == Admit::Pass {
            standard(info);
        }
    }));
}

/// Every event goes to the log; the ones the notifier reports loudly are logged
/// there instead of twice.
/// The detail is escaped: it may carry outside text (an operator's reason,
/// a headline).
fn log_event(e: &Event) {
    let detail = printable(&e.detail, LOG_CHARS);
    if notifier::notable(e).is_none() {
        tracing::info!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, %detail, "event");
    } else {
        tracing::debug!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, %detail, "event");
    }
}

/// The status lines every `every` (zero: none).
pub fn spawn_status_lines(
    every: Duration,
    view: Arc<StatusView>,
    kernel: Kernel,
    ids: Arc<std::sync::RwLock<Vec<String>>>,
) {
    if every.is_zero() {
        return;
    }
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let ids = ids.read().unwrap_or_else(|e| e.into_inner()).clone();
            log_status(&view, &kernel, &ids);
        }
    });
}

/// One line per engine for whoever watches the log: what came in, what it decided,
/// where it stands. Logfmt-clean: one `=` per field, no spaces in a value
/// (`outcomes=executed:3,vetoed:1`, `position=+2@345.00`), realized and
/// unrealized PnL each in its own field.
fn log_status(view: &StatusView, kernel: &Kernel, ids: &[String]) {
    let (risk, mode) = (view.risk(), view.mode());
    for id in ids {
        let f = view.engine(id);
        let a = &f.activity;
        let state = kernel
            .registry()
            .state(&control::engine_path(id))
            .map_or("starting".to_owned(), |s| format!("{s:?}").to_lowercase());
        let outcomes: Vec<String> = a.outcomes.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let outcomes = if outcomes.is_empty() {
            "none".to_owned()
        } else {
            outcomes.join(",")
        };
        let position = match f.positions.as_slice() {
            [] => "flat".to_owned(),
            held => held
                .iter()
                .map(|p| format!("{}:{:+}@{}", p.symbol, p.qty, p.avg_price))
                .collect::<Vec<_>>()
                .join(","),
        };
        let unrealized: rust_decimal::Decimal = f.positions.iter().map(|p| p.unrealized_pnl).sum();
        tracing::info!(
            engine = %id,
            state = %state,
            events_in = a.events_in,
            signals = a.signals,
            outcomes = %outcomes,
            orders = a.orders,
            fills = a.fills,
            position = %position,
            last = %f.last_price.map_or("-".to_owned(), |p| p.to_string()),
            pnl = %f.realized_pnl.round_dp(2),
            unrealized_pnl = %unrealized.round_dp(2),
            equity = %f.equity.round_dp(2),
            breaker = %f.breaker.state,
            risk = %risk.level,
            mode = %mode.current,
            "status"
        );
    }
}
