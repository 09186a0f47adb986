//! The account: every engine's part of it (symbol, signed exposure,
//! volatility, equity) and the account's equity, peak and drawdown.
//!
//! Invariants: each engine writes only its own entry ([`Account::publish`]);
//! the equity is the entries' sum, kept as they publish (O(1) to read with a
//! thousand engines); the peak is the highest equity seen while every
//! position had a price, and only `portfolio_risk` seeds it (from the
//! journal) or rebases it (an operator reset). The drawdown is measured here,
//! once for the account; `portfolio_risk` alone turns it into a level.

use dashmap::DashMap;
use rust_decimal::Decimal;
use std::sync::Mutex;

/// What an engine publishes about itself into the account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountEntry {
    pub symbol: String,
    /// Signed notional of the position at the last price, in dollars.
    pub exposure: Decimal,
    /// Standard deviation of one bar's return (the VaR input), if known.
    pub volatility: Option<f64>,
    pub equity: Decimal,
    /// Holding a position with no price yet (a restart before its first
    /// bar): its equity is not marked, so the drawdown is not measured.
    pub unpriced: bool,
    /// The market time of what the entry says: the close of the last bar
    /// the engine had when it published.
    pub as_of_ms: u64,
}

/// One engine's part of the book, for the portfolio checks.
#[derive(Debug, Clone)]
pub struct BookEntry {
    pub id: String,
    pub symbol: String,
    pub exposure: Decimal,
    pub volatility: Option<f64>,
}

/// The account's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Portfolio {
    pub equity: Decimal,
    /// From the peak, as a fraction (0.05 = 5 %), 0 before any equity and
    /// while an engine's position has no price.
    pub drawdown: Decimal,
}

/// A peak measured on `from` capital, measured on `to`: moved by the
/// difference, so a loss from the peak stays that loss and the capital change
/// itself is none. Never below zero.
pub fn rebased_peak(peak: Decimal, from: Decimal, to: Decimal) -> Decimal {
    (peak + to - from).max(Decimal::ZERO)
}

#[derive(Debug, Default)]
struct Totals {
    equity: Decimal,
    /// Engines holding a position without a price.
    unpriced: usize,
    peak: Decimal,
    /// The newest `as_of_ms` of any entry published.
    as_of_ms: u64,
}

#[derive(Debug, Default)]
pub struct Account {
    entries: DashMap<String, AccountEntry>,
    totals: Mutex<Totals>,
    /// Woken on every publish (coalesced): `portfolio_risk` measures then.
    changed: tokio::sync::Notify,
}

impl Account {
    pub fn new() -> Account {
        Account::default()
    }

    /// Engine `id` is part of the account (at assembly): until it has
    /// published, its equity is not known, so the drawdown is not measured
    /// (a restarted daemon would otherwise measure the journaled peak against
    /// the first engine's equity alone).
    pub fn expect(&self, id: &str) {
        let mut t = self.totals();
        if !self.entries.contains_key(id) {
            let waiting = AccountEntry {
                unpriced: true,
                ..AccountEntry::default()
            };
            self.entries.insert(id.to_owned(), waiting);
            t.unpriced += 1;
        }
    }

    /// Engine `id`'s entry, written by that engine only.
    pub fn publish(&self, id: &str, entry: AccountEntry) {
        let (equity, unpriced, as_of) = (entry.equity, entry.unpriced, entry.as_of_ms);
        {
            // The totals and the map change together (the lock orders the
            // writers of different engines).
            let mut t = self.totals();
            let (old, was_unpriced) = self
                .entries
                .insert(id.to_owned(), entry)
                .map_or((Decimal::ZERO, false), |e| (e.equity, e.unpriced));
            t.equity += equity - old;
            t.as_of_ms = t.as_of_ms.max(as_of);
            t.unpriced = t.unpriced + usize::from(unpriced) - usize::from(was_unpriced);
            if t.unpriced == 0 {
                t.peak = t.peak.max(t.equity);
            }
        }
        self.changed.notify_one();
    }

    /// Engine `id`'s entry as it last published it.
    pub fn entry(&self, id: &str) -> Option<AccountEntry> {
        self.entries.get(id).map(|e| e.clone())
    }

    fn totals(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every other engine holding a position (what the portfolio checks need
    /// of the rest of the account).
    /// In engine order (by id): the statistics over it sum floats, and the
    /// same book must give the same figures, run after run.
    pub fn book_except(&self, id: &str) -> Vec<BookEntry> {
        let mut book: Vec<BookEntry> = self
            .entries
            .iter()
            .filter(|e| e.key() != id && !e.exposure.is_zero())
            .map(|e| BookEntry {
                id: e.key().clone(),
                symbol: e.symbol.clone(),
                exposure: e.exposure,
                volatility: e.volatility,
            })
            .collect();
        book.sort_by(|a, b| a.id.cmp(&b.id));
        book
    }

    /// The equity engine `id` last published (zero before it has), which
    /// stands for it while its position has no price.
    pub fn equity_of(&self, id: &str) -> Decimal {
        self.entries.get(id).map_or(Decimal::ZERO, |e| e.equity)
    }

    /// The engines' equity summed.
    pub fn equity(&self) -> Decimal {
        self.totals().equity
    }

    /// The newest market time behind any entry: whoever reads the account
    /// at market time `t` must find it at or before `t`
    /// (`crate::market::Lookahead`).
    pub fn as_of_ms(&self) -> u64 {
        self.totals().as_of_ms
    }

    /// The account's highest equity so far.
    pub fn peak(&self) -> Decimal {
        self.totals().peak
    }

    /// Equity and drawdown from the peak; the drawdown reads 0 while an
    /// engine's position has no price yet (its equity is not marked).
    pub fn portfolio(&self) -> Portfolio {
        let t = self.totals();
        let drawdown = if t.peak > Decimal::ZERO && t.unpriced == 0 {
            ((t.peak - t.equity) / t.peak).round_dp(6)
        } else {
            Decimal::ZERO
        };
        Portfolio {
            equity: t.equity,
            drawdown,
        }
    }

    /// The peak as journaled by a previous run (at start).
    pub(in crate::risk) fn seed_peak(&self, peak: Decimal) {
        let mut t = self.totals();
        t.peak = t.peak.max(peak);
    }

    /// Engine `id` is no longer part of the account (removed by a reload):
    /// its entry is dropped; what it held was its own. Returns the equity it
    /// last published.
    pub(in crate::risk) fn forget(&self, id: &str) -> Option<Decimal> {
        let mut t = self.totals();
        let (_, e) = self.entries.remove(id)?;
        t.equity -= e.equity;
        t.unpriced -= usize::from(e.unpriced);
        drop(t);
        self.changed.notify_one();
        Some(e.equity)
    }

    /// Engine `id` starts again on a new configuration: its entry waits for
    /// its first publish, as at assembly (the drawdown is not measured
    /// meanwhile, so its old equity on its old capital is never compared
    /// with a peak rebased on the new).
    pub(in crate::risk) fn wait_for(&self, id: &str) {
        let mut t = self.totals();
        let waiting = AccountEntry {
            unpriced: true,
            ..AccountEntry::default()
        };
        let (old, was_unpriced) = self
            .entries
            .insert(id.to_owned(), waiting)
            .map_or((Decimal::ZERO, false), |e| (e.equity, e.unpriced));
        t.equity -= old;
        t.unpriced = t.unpriced + 1 - usize::from(was_unpriced);
    }

    /// The peak is `peak` (a live capital change rebased it).
    pub(in crate::risk) fn set_peak(&self, peak: Decimal) {
        self.totals().peak = peak;
    }

    /// The peak becomes the equity now (after an operator reset).
    pub(in crate::risk) fn rebase_peak(&self) {
        let mut t = self.totals();
        t.peak = t.equity;
    }

    /// Resolves after the next publish (at once if one came since the last
    /// call): one waiter, `portfolio_risk`.
    pub(in crate::risk) async fn changed(&self) {
        self.changed.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capital_change_moves_the_peak_by_the_difference() {
        let d = Decimal::from;
        // 10,000 below a 510,000 peak stays 10,000 below, on 300,000.
        assert_eq!(rebased_peak(d(510_000), d(500_000), d(300_000)), d(310_000));
        assert_eq!(rebased_peak(d(510_000), d(500_000), d(800_000)), d(810_000));
        assert_eq!(rebased_peak(d(510_000), d(500_000), d(500_000)), d(510_000));
        assert_eq!(rebased_peak(d(10_000), d(500_000), d(100_000)), d(0));
    }

    fn entry(equity: i64) -> AccountEntry {
        AccountEntry {
            equity: Decimal::from(equity),
            ..AccountEntry::default()
        }
    }

    #[test]
    fn equity_is_the_engines_sum_and_drawdown_is_from_its_peak() {
        let a = Account::new();
        assert_eq!(a.portfolio(), Portfolio::default());
        a.publish("KC", entry(600));
        a.publish("CC", entry(400));
        assert_eq!(a.portfolio().equity, Decimal::from(1000));
        a.publish("KC", entry(500));
        let p = a.portfolio();
        assert_eq!(
            (p.equity, p.drawdown),
            (Decimal::from(900), Decimal::new(1, 1))
        );
        a.publish("KC", entry(700));
        assert_eq!(a.portfolio().drawdown, Decimal::ZERO, "a new peak");
    }

    #[test]
    fn an_unpriced_engine_suspends_the_drawdown_and_a_reset_rebases_the_peak() {
        let a = Account::new();
        a.seed_peak(Decimal::from(2000));
        a.publish("KC", entry(900));
        a.publish("CC", entry(900));
        // Peak 2,000 (journaled), equity 1,800: 10 %.
        assert_eq!(a.portfolio().drawdown, Decimal::new(1, 1));
        let unpriced = AccountEntry {
            unpriced: true,
            ..entry(100)
        };
        a.publish("CC", unpriced);
        assert_eq!(a.portfolio().drawdown, Decimal::ZERO, "not measured");
        a.publish("CC", entry(1_300));
        assert_eq!(a.peak(), Decimal::from(2_200), "priced again: a new peak");
        a.publish("KC", entry(700));
        a.rebase_peak();
        assert_eq!(a.peak(), Decimal::from(2_000));
        assert_eq!(a.portfolio().drawdown, Decimal::ZERO);
    }

    #[test]
    fn the_drawdown_waits_for_every_expected_engine() {
        let a = Account::new();
        a.seed_peak(Decimal::from(1_000));
        a.expect("KC");
        a.expect("CC");
        a.publish("KC", entry(500));
        assert_eq!(a.portfolio().drawdown, Decimal::ZERO, "CC not heard yet");
        a.publish("CC", entry(400));
        assert_eq!(a.portfolio().drawdown, Decimal::new(1, 1));
        a.expect("CC");
        assert_eq!(a.portfolio().drawdown, Decimal::new(1, 1), "known already");
    }

    #[test]
    fn the_book_holds_the_other_engines_with_a_position() {
        let a = Account::new();
        let held = |symbol: &str, exposure: i64| AccountEntry {
            symbol: symbol.into(),
            exposure: Decimal::from(exposure),
            ..AccountEntry::default()
        };
        a.publish("KC", held("KC", 1_000));
        a.publish("CC", held("CC", -500));
        a.publish("KC2", held("KC", 0));
        let book = a.book_except("KC");
        assert_eq!(book.len(), 1);
        assert_eq!(
            (book[0].id.as_str(), book[0].exposure),
            ("CC", Decimal::from(-500))
        );
    }
}
