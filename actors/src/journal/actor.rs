//! The `journal` worker: copies kernel events into the store in batches.
//!
//! It pulls from the kernel's retained events (the last 10,000) every
//! `FLUSH_INTERVAL`, at most `MAX_BATCH` per commit, so the publishers never wait on
//! the disk. A write error is a panic: the supervisor restarts the worker, whose
//! factory reopens the file and goes on from the last seq it holds (crash-only).
//! If it ever falls more than the retained window behind, the gap is logged and
//! counted, never papered over.

use super::store::Store;
use crate::kernel::{Ctx, Handles, Kernel, Worker};
use actix::Message;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_BATCH: usize = 4096;

pub struct Journal {
    store: Store,
    kernel: Kernel,
    written: u64,
    gaps: u64,
}

impl Journal {
    /// Opens the journal at `path`; panics (a supervised failure) if it cannot.
    pub fn open(path: &Path, kernel: Kernel) -> Journal {
        let store = Store::open(path).unwrap_or_else(|e| panic!("{e}"));
        let written = store.last_seq().unwrap_or_else(|e| panic!("{e}"));
        Journal {
            store,
            kernel,
            written,
            gaps: 0,
        }
    }

    /// The factory for a `ChildSpec`.
    pub fn factory(path: PathBuf, kernel: Kernel) -> impl Fn() -> Journal + Send + Sync + 'static {
        move || Journal::open(&path, kernel.clone())
    }

    /// Writes every retained event not yet written (a storm that stopped
    /// summed up first).
    pub fn flush(&mut self) {
        self.kernel.events().sum_up_ended();
        loop {
            let batch = self.kernel.events().recent(self.written, MAX_BATCH);
            let Some(first) = batch.first() else { return };
            if first.seq > self.written + 1 {
                self.gaps += first.seq - self.written - 1;
                tracing::error!(
                    from = self.written + 1,
                    to = first.seq - 1,
                    total_missing = self.gaps,
                    "journal fell behind the retained events; these events are not journaled"
                );
            }
            let n = self
                .store
                .append_events(&batch)
                .unwrap_or_else(|e| panic!("{e}"));
            self.written = batch.last().map(|e| e.seq).unwrap_or(self.written);
            tracing::debug!(events = n, up_to_seq = self.written, "journal wrote");
            if batch.len() < MAX_BATCH {
                return;
            }
        }
    }
}

/// Journal retention: archive the events, and the orders, fills and
/// outcomes (each engine's carried balance moved), older than `before_ms`
/// (market time), in passes of `ARCHIVE_PASS` rows, each after the mailbox
/// (the journal's writes go on between them). Sent after each daily
/// reconciliation.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Compact {
    pub before_ms: u64,
}

/// Events archived per pass.
pub const ARCHIVE_PASS: usize = 5_000;

impl Handles<Compact> for Journal {
    fn handle(&mut self, m: Compact, ctx: &mut Ctx<'_, Self>) {
        // Written first: the archive takes only what the journal holds.
        self.flush();
        let orders = match self.store.archive_orders(m.before_ms, ARCHIVE_PASS as u64) {
            Ok(done) => {
                if done.decisions > 0 {
                    tracing::info!(
                        decisions = done.decisions,
                        orders = done.orders,
                        fills = done.fills,
                        "journal retention: orders, fills and outcomes archived"
                    );
                }
                done.decisions > 0
            }
            Err(e) => {
                tracing::error!(error = %e, "journal retention: no orders archived this time");
                false
            }
        };
        match self.store.archive_events(m.before_ms, ARCHIVE_PASS) {
            Ok(done) => {
                if done.events > 0 {
                    tracing::info!(events = done.events, files = ?done.files, "journal retention: events archived");
                }
                if done.more || orders {
                    let before_ms = m.before_ms;
                    ctx.run_later(Duration::ZERO, move |j, ctx| {
                        j.handle(Compact { before_ms }, ctx)
                    });
                }
            }
            // Not a failure of the journal: its writes go on; the next day
            // tries again.
            Err(e) => tracing::error!(error = %e, "journal retention: nothing archived this time"),
        }
    }
}

/// Write everything published so far, now; answers the last `seq` written. For
/// readers that must see every event up to this moment, and only journaled ones
/// (an event served before it is journaled could lose its `seq` to a crash).
#[derive(Debug, Message)]
#[rtype(result = "u64")]
pub struct Flush;

impl Handles<Flush> for Journal {
    fn handle(&mut self, _: Flush, _: &mut Ctx<'_, Self>) -> u64 {
        self.flush();
        self.written
    }
}

impl Worker for Journal {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.flush();
        ctx.run_interval(FLUSH_INTERVAL, |j, _| j.flush());
    }

    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.flush();
    }
}
