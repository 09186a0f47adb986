//! What the engine does with its strategies' intents: an entry is a
//! signal, routed now (strong) or into the batch (a decision of its own
//! that waits, `buffered`); an exit closes that strategy's own position
//! (`exits.rs`). And what a strategy is shown of its own position.

use super::actor::Engine;
use super::ledger::Ledger;
use super::pipeline::{self, Route, Signal};
use super::strategies::{Intent, Own};
use crate::journal::OutcomeRow;
use crate::model::{Outcome, Strategy};
use rust_decimal::Decimal;

/// Strategy `s`'s position over every month, as the ledger holds it (one
/// month, but two while a roll waits: a strategy holding the old month is
/// not flat in the new one).
pub(super) fn own_of(ledger: &Ledger, s: Strategy) -> Own {
    // Its entries as its stops see them: moved by each roll's spread.
    let book = ledger.book();
    let parts: Vec<(Decimal, Decimal, u64)> = ledger
        .positions()
        .keys()
        .filter_map(|i| {
            let (qty, _, _) = book.own(s, i)?;
            let (basis, since) = book.basis(s, i)?;
            Some((qty, basis, since))
        })
        .collect();
    let held: Decimal = parts.iter().map(|p| p.0).sum();
    let size: Decimal = parts.iter().map(|p| p.0.abs()).sum();
    Own {
        held,
        pending: ledger.own_in_flight_all(s),
        avg_price: (!size.is_zero()).then(|| {
            (parts.iter().map(|p| p.0.abs() * p.1).sum::<Decimal>() / size)
                .round_dp(8)
                .normalize()
        }),
        since_ms: parts.iter().map(|p| p.2).min(),
    }
}

impl Engine {
    /// Lots of a strategy no longer configured (renamed, removed) are
    /// named in a warning, once, at start.
    pub(super) fn warn_orphaned_lots(&self) {
        // No rule and no stop of theirs closes them now.
        let mut orphans: Vec<String> = self
            .ledger
            .positions()
            .values()
            .flat_map(|p| p.lots().map(|l| l.owner))
            .filter(|o| !o.is_reserved() && !self.cfg.strategies.iter().any(|s| s.name == *o))
            .map(|o| o.to_string())
            .collect();
        orphans.sort();
        orphans.dedup();
        if !orphans.is_empty() {
            tracing::warn!(target: super::ENGINE_LOG, engine = %self.cfg.id, strategies = ?orphans, "lots of strategies no longer configured: only a flatten, a roll or another strategy's orders close them (commodore ctl flatten closes them all)");
        }
    }

    /// The strategies' intents on what was seen at market time `at_ms`: an
    /// entry is routed (now, or into the batch), an exit closes that
    /// strategy's own position.
    pub(super) fn act(
        &mut self,
        intents: Vec<(Strategy, Intent)>,
        symbol: &str,
        at_ms: u64,
        price: Option<Decimal>,
    ) {
        for (strategy, intent) in intents {
            match intent {
                Intent::Enter {
                    sentiment,
                    confidence,
                    size,
                    detail,
                    order,
                } => self.route(Signal {
                    symbol: symbol.to_owned(),
                    at_ms,
                    sentiment,
                    confidence,
                    strategy,
                    detail,
                    price,
                    size,
                    order,
                }),
                Intent::Exit { why } => self.exit(strategy, why),
            }
        }
    }

    /// A signal: decided now when strong, else a decision of its own that
    /// waits for the batch.
    fn route(&mut self, a: Signal) {
        let (symbol, strategy, confidence) = (a.symbol.clone(), a.strategy, a.confidence);
        match self.router.route(a) {
            Route::Now(a) => {
                if let Some(c) = pipeline::candidate(&a) {
                    self.on_candidate(c);
                }
            }
            // A decision of its own: it waits for the batch, whose candidate
            // (if its symbol reaches consensus) is the next decision.
            Route::Buffered => {
                self.decision_seq += 1;
                let row = OutcomeRow {
                    engine: self.cfg.id.clone(),
                    decision_seq: self.decision_seq,
                    symbol,
                    strategy: strategy.as_str().to_owned(),
                    outcome: Outcome::Buffered,
                    detail: format!("confidence {confidence:.2}: waits for the batch"),
                    at_ms: self.clock.now_ms(),
                };
                self.outcomes.record(&self.store, row);
            }
        }
    }
}
