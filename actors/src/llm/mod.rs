//! The LLM path every engine's analyzer shares (seed `000_…`'s SharedContext,
//! without the god object): the limiter (at most `max_concurrency` calls in
//! flight across the process), the budget guard (daily USD spend from token
//! usage), the macro cache (one macro research call per day for all engines),
//! and the client itself (`client.rs`).
//!
//! Invariant: these are plain objects behind one `Arc<LlmServices>`, made at
//! assembly when `llm.enabled` and handed to the analyzers; they have no
//! mailbox and no state worth a restart, so they are not nodes of the tree.
//! Every failure of the path (limiter full, budget spent, the endpoint down or
//! answering nonsense) is an `LlmError`, and the analyzer's rules answer instead.

pub mod client;

use crate::clock::Clock;
use crate::events::BUDGET_EXHAUSTED;
use crate::kernel::Kernel;
use client::{LlmAnswer, LlmClient, LlmError, Usage};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Prices per 1,000 tokens, in dollars.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    pub input_per_1k: Decimal,
    pub output_per_1k: Decimal,
}

/// Daily USD spend from token usage; over budget, callers use the rules analyzer.
pub struct BudgetGuard {
    budget: Decimal,
    prices: Prices,
    state: Mutex<(u64, Decimal, bool)>, // (UTC day, spent, exhaustion notified)
}

impl BudgetGuard {
    pub fn new(budget: Decimal, prices: Prices) -> BudgetGuard {
        BudgetGuard {
            budget,
            prices,
            state: Mutex::new((0, Decimal::ZERO, false)),
        }
    }

    fn today(&self, day: u64) -> std::sync::MutexGuard<'_, (u64, Decimal, bool)> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 != day {
            *s = (day, Decimal::ZERO, false);
        }
        s
    }

    /// Whether a call may start on `day` (days since the epoch, UTC).
    pub fn allows(&self, day: u64) -> bool {
        self.today(day).1 < self.budget
    }

    /// Records a call's usage; returns `true` the first time the day's budget is
    /// spent (to notify once).
    pub fn record(&self, day: u64, usage: Usage) -> bool {
        let cost = self.cost(usage);
        let mut s = self.today(day);
        s.1 += cost;
        if s.1 >= self.budget && !s.2 {
            s.2 = true;
            return true;
        }
        false
    }

    pub fn cost(&self, u: Usage) -> Decimal {
        (Decimal::from(u.prompt_tokens) * self.prices.input_per_1k
            + Decimal::from(u.completion_tokens) * self.prices.output_per_1k)
            / Decimal::from(1000)
    }

    pub fn spent(&self, day: u64) -> Decimal {
        self.today(day).1
    }
}

/// The day's macro summary: fetched once per UTC day for every engine; callers
/// that arrive while it is being fetched wait for that one call.
#[derive(Default)]
pub struct MacroCache {
    inner: tokio::sync::Mutex<MacroSlot>,
    pub calls: AtomicU64,
}

#[derive(Default)]
struct MacroSlot {
    /// The day's summary.
    summary: Option<(u64, String)>,
    /// The last failed attempt (wall ms): not retried for `MACRO_RETRY_MS`, so a
    /// dead endpoint costs one timeout a minute, not one per headline.
    failed_at_ms: Option<u64>,
}

const MACRO_RETRY_MS: u64 = 60_000;

const MACRO_PROMPT: &str = "In three sentences, summarise today's macroeconomic and geopolitical \
conditions that matter for soft commodity futures (coffee, cocoa). Plain text.";

impl MacroCache {
    /// The day's summary, and the usage when this call fetched it (to be
    /// counted against the budget).
    pub async fn get(
        &self,
        day: u64,
        now_ms: u64,
        llm: &LlmClient,
    ) -> Result<(String, Option<Usage>), LlmError> {
        let mut slot = self.inner.lock().await;
        if let Some((d, text)) = slot.summary.as_ref() {
            if *d == day {
                return Ok((text.clone(), None));
            }
        }
        let now = now_ms;
        if slot
            .failed_at_ms
            .is_some_and(|t| now.saturating_sub(t) < MACRO_RETRY_MS)
        {
            return Err(LlmError::Unreachable(
                "the macro call failed less than a minute ago".into(),
            ));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        match llm.complete(MACRO_PROMPT, "Today's summary.").await {
            Ok((text, usage)) => {
                let text: String = text.chars().take(2000).collect();
                slot.summary = Some((day, text.clone()));
                slot.failed_at_ms = None;
                Ok((text, Some(usage)))
            }
            Err(e) => {
                slot.failed_at_ms = Some(now);
                Err(e)
            }
        }
    }
}

/// Counters of the shared LLM path.
#[derive(Default)]
pub struct LlmStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub over_budget: AtomicU64,
    pub busy: AtomicU64,
}

/// Calls waiting for a permit beyond this are refused (`Busy`): the caller falls
/// back to the rules at once instead of queueing without end.
pub const MAX_WAITING: u64 = 256;

/// One caller waiting for a permit; at most `MAX_WAITING` at once.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn enter(n: &'a AtomicU64) -> Option<Waiting<'a>> {
        if n.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            n.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Waiting(n))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Everything an analyzer needs to ask the LLM, shared by all engines.
pub struct LlmServices {
    pub llm: LlmClient,
    pub limiter: Semaphore,
    pub budget: BudgetGuard,
    pub macro_cache: MacroCache,
    pub stats: LlmStats,
    waiting: AtomicU64,
    kernel: Kernel,
    clock: Clock,
}

impl LlmServices {
    pub fn new(
        llm: LlmClient,
        max_concurrency: usize,
        budget: BudgetGuard,
        kernel: Kernel,
        clock: Clock,
    ) -> Arc<LlmServices> {
        Arc::new(LlmServices {
            llm,
            limiter: Semaphore::new(max_concurrency.max(1)),
            budget,
            macro_cache: MacroCache::default(),
            stats: LlmStats::default(),
            waiting: AtomicU64::new(0),
            kernel,
            clock,
        })
    }

    /// Today's spend (UTC day, on the services' clock) and the daily budget,
    /// for `/metrics`.
    pub fn spend_today(&self) -> (Decimal, Decimal) {
        let day = self.clock.now_ms() / 86_400_000;
        (self.budget.spent(day), self.budget.budget)
    }

    fn spend(&self, day: u64, usage: Usage) {
        if self.budget.record(day, usage) {
            tracing::warn!(
                "LLM budget for today spent: the rules analyzer takes over until tomorrow (UTC)"
            );
            self.kernel.events().publish(
                BUDGET_EXHAUSTED,
                crate::paths::MASTER,
                format!("spent {} of the day's LLM budget", self.budget.spent(day)),
            );
        }
    }

    /// One headline through the limiter, the budget and the LLM; an error means
    /// "use the rules" (counted).
    pub async fn analyze(&self, symbol: &str, headline: &str) -> Result<LlmAnswer, LlmError> {
        let now_ms = self.clock.now_ms();
        let day = now_ms / 86_400_000;
        if !self.budget.allows(day) {
            self.stats.over_budget.fetch_add(1, Ordering::Relaxed);
            return Err(LlmError::OverBudget);
        }
        let permit = {
            // Counted while waiting; the guard uncounts it however the wait
            // ends (a permit, or the future dropped with its analyzer).
            let waiting = Waiting::enter(&self.waiting).ok_or_else(|| {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                LlmError::Busy
            })?;
            let p = self.limiter.acquire().await;
            drop(waiting);
            p.map_err(|_| LlmError::Busy)?
        };
        let _permit = permit;
        // Checked again: the budget may have been spent while this call waited.
        if !self.budget.allows(day) {
            self.stats.over_budget.fetch_add(1, Ordering::Relaxed);
            return Err(LlmError::OverBudget);
        }
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let context = match self.macro_cache.get(day, now_ms, &self.llm).await {
            Ok((text, usage)) => {
                if let Some(u) = usage {
                    self.spend(day, u);
                }
                text
            }
            Err(e) => format!("(no macro summary today: {e})"),
        };
        let r = self.llm.analyze(symbol, headline, &context).await;
        match &r {
            Ok(a) => self.spend(day, a.usage),
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "LLM analysis failed: the rules analyzer answers instead");
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_day_and_notifies_once() {
        let b = BudgetGuard::new(
            Decimal::new(1, 2), // $0.01
            Prices {
                input_per_1k: Decimal::new(1, 3),  // $0.001
                output_per_1k: Decimal::new(2, 3), // $0.002
            },
        );
        let u = Usage {
            prompt_tokens: 2000,
            completion_tokens: 1000,
        }; // $0.004
        assert_eq!(b.cost(u), Decimal::new(4, 3));
        assert!(b.allows(1));
        assert!(!b.record(1, u));
        assert!(!b.record(1, u));
        assert!(b.allows(1), "$0.008 < $0.01");
        assert!(b.record(1, u), "$0.012: spent, notify");
        assert!(!b.record(1, u), "notified once");
        assert!(!b.allows(1));
        assert!(b.allows(2), "a new day, a new budget");
    }
}
