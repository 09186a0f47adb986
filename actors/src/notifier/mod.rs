//! `notifier`: tells people what happened. Until the webhooks issue it writes the
//! events an operator must not miss (risk and mode changes, failures, give-ups,
//! operator commands) to the log at a level that stands out.

use crate::kernel::{Ctx, Event, EventKind, Kernel, Worker};
use std::time::Duration;

/// How often it looks at the kernel's retained events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Events read per look; the rest wait for the next one. The kernel retains the
/// last 10,000, so falling behind by more than that loses notifications: counted
/// and logged as a gap.
pub const MAX_PER_POLL: usize = 1024;

pub struct Notifier {
    kernel: Kernel,
    seen: u64,
    missed: u64,
}

impl Notifier {
    /// Starts after the events already published: a restarted notifier does not
    /// repeat what its predecessor sent (it may miss what arrived in between,
    /// until the persisted outbox of the webhooks issue).
    pub fn factory(kernel: Kernel) -> impl Fn() -> Notifier + Send + Sync + 'static {
        move || {
            let seen = kernel
                .events()
                .recent(0, usize::MAX)
                .last()
                .map_or(0, |e| e.seq);
            Notifier {
                kernel: kernel.clone(),
                seen,
                missed: 0,
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
                    "notifier fell behind; events not notified"
                );
            }
        }
        for e in &batch {
            notify(e);
            self.seen = e.seq;
        }
    }
}

/// The events worth a notification, and how loud.
pub fn notable(e: &Event) -> Option<tracing::Level> {
    match e.kind {
        EventKind::GaveUp | EventKind::Escalated => Some(tracing::Level::ERROR),
        EventKind::Failed => Some(tracing::Level::WARN),
        EventKind::Other("risk_changed" | "breaker_opened") => Some(tracing::Level::WARN),
        EventKind::Other("breaker_half_open" | "breaker_closed") => Some(tracing::Level::INFO),
        EventKind::Other("mode_changed" | "operator" | "sentinel") => Some(tracing::Level::INFO),
        _ => None,
    }
}

fn notify(e: &Event) {
    match notable(e) {
        Some(tracing::Level::ERROR) => {
            tracing::error!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "notify")
        }
        Some(tracing::Level::WARN) => {
            tracing::warn!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "notify")
        }
        Some(_) => {
            tracing::info!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "notify")
        }
        None => {}
    }
}

impl Worker for Notifier {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.run_interval(POLL_INTERVAL, |n, _| n.poll());
    }

    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.poll();
    }
}
