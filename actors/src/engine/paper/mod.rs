//! The paper broker: a market of its own, fed the engines' bars, and a
//! memory of its own.
//!
//! It stands in for an exchange. How it fills is `model.rs` (latency,
//! spread, slippage, limit orders that fill only when the market trades
//! through them, expiry, a participation cap, all deterministic under the
//! seed); with the defaults it fills a market order at once, as earlier
//! builds did. What it answered and what works at it is `memory.rs`: a
//! small SQLite file, `<data_dir>/orders/<engine>.paper.sqlite`
//! ([`paper_broker_path`]), every answer, fill and expiry committed there
//! (`synchronous = FULL`) before the broker says it, so it survives a
//! restart and a `kill -9` of the daemon whatever our journal managed to
//! write: a working order goes on working after a restart. It lives in
//! `orders/`, so `run --fresh` (which moves `orders/` aside) sets it aside
//! with the order logs: a fresh journal numbers its decisions from 1 again,
//! and the broker must not take those ids for the old run's.

mod memory;
mod model;

pub use memory::{has_working, paper_broker_path, PAPER_MEMORY, PAPER_SCHEMA};
pub use model::{FillModel, Step, Working};

use super::broker::{Broker, BrokerError, Known};
use crate::journal::Fsync;
use crate::model::{root, Bar, ContractSpec, Fill, Holdings, Order};
use memory::PaperBook;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::PathBuf;

/// The paper broker (see the module's notes).
pub struct PaperBroker {
    pub spec: ContractSpec,
    pub commission: Decimal,
    model: FillModel,
    book: PaperBook,
    /// The last bar of each instrument (the cap of a fill at once).
    last: HashMap<String, Bar>,
    /// When each instrument last had a bar of its own: a bare symbol's bar
    /// prices the months without one in the bar before it (the front series
    /// stands for them; data that names its months prices each its own).
    own_bars: HashMap<String, u64>,
}

impl PaperBroker {
    /// A paper broker whose memory is this instance's only (tests, benches):
    /// gone with it. It fills at once, `slippage_ticks` against the order.
    pub fn new(spec: ContractSpec, slippage_ticks: i64, commission: Decimal) -> PaperBroker {
        PaperBroker {
            spec,
            commission,
            model: FillModel::immediate(slippage_ticks),
            book: PaperBook::new(None, Fsync::Off),
            last: HashMap::new(),
            own_bars: HashMap::new(),
        }
    }

    /// A paper broker whose memory is the SQLite file at `path` (opened at
    /// its first use, and again after an error; it cannot answer meanwhile:
    /// `Unavailable`). `Fsync::Off` only for a replay's.
    pub fn durable(
        path: PathBuf,
        fsync: Fsync,
        spec: ContractSpec,
        slippage_ticks: i64,
        commission: Decimal,
    ) -> PaperBroker {
        let mut b = PaperBroker::new(spec, slippage_ticks, commission);
        b.book = PaperBook::new(Some(path), fsync);
        b
    }

    /// This broker, filling by `model`.
    pub fn with_model(mut self, model: FillModel) -> PaperBroker {
        self.model = model;
        self
    }

    fn unavailable(&mut self, e: String) -> BrokerError {
        self.book.failed();
        BrokerError::Unavailable(format!(
            "the paper broker's memory {}: {e}; check that the directory is writable and the disk is not full",
            self.book.name()
        ))
    }

    fn fill(&self, o: &Order, part: u32, qty: Decimal, price: Decimal, at_ms: u64) -> Fill {
        Fill {
            client_order_id: o.client_order_id.clone(),
            engine: o.engine.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty,
            price,
            commission: self.commission * qty,
            at_ms,
            part,
        }
    }

    /// Why the broker refuses `o` outright, if it does.
    fn refusal(&self, o: &Order) -> Option<String> {
        if o.qty <= Decimal::ZERO {
            return Some(format!("quantity {} is not positive", o.qty));
        }
        let l = o.limit?;
        if l.price <= Decimal::ZERO || !(l.price % self.spec.tick).is_zero() {
            return Some(format!(
                "limit price {} is not a positive multiple of the tick {}",
                l.price, self.spec.tick
            ));
        }
        (l.expires_ms <= o.at_ms).then(|| {
            format!(
                "the limit order expires at {} ms, not after it was decided ({} ms)",
                l.expires_ms, o.at_ms
            )
        })
    }

    /// Whether `bar` prices orders in `instrument`.
    fn prices(&self, bar: &Bar, instrument: &str) -> bool {
        let quoted_lately = |t: &u64| t.saturating_add(crate::model::BAR_MS) >= bar.at_ms;
        bar.symbol == instrument
            || (bar.symbol == root(instrument)
                && !self.own_bars.get(instrument).is_some_and(quoted_lately))
    }
}

impl Broker for PaperBroker {
    fn submit(&mut self, o: &Order) -> Result<Known, BrokerError> {
        let id = &o.client_order_id;
        match self.book.known(id) {
            Ok(Known::Unknown) => {}
            Ok(_) => {
                return Err(BrokerError::Rejected(format!(
                    "duplicate client order id {id}"
                )))
            }
            Err(e) => return Err(self.unavailable(e)),
        }
        if let Some(why) = self.refusal(o) {
            return match self.book.refuse(id, &why) {
                Ok(()) => Err(BrokerError::Rejected(why)),
                Err(e) => Err(self.unavailable(e)),
            };
        }
        let last = self.last.get(&o.symbol);
        let now = self
            .model
            .at_once(&self.spec, o, last)
            .map(|(qty, price)| self.fill(o, 1, qty, price, o.at_ms));
        let w = Working {
            order: o.clone(),
            active_ms: o.at_ms.saturating_add(self.model.latency_ms),
            filled: Decimal::ZERO,
            parts: 0,
        };
        // Taken (durably) before it is answered.
        match self.book.take(w, now) {
            Ok(known) => Ok(known),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError> {
        self.book
            .known(client_order_id)
            .map_err(|e| self.unavailable(e))
    }

    fn cancel(&mut self, client_order_id: &str, why: &str) -> Result<Known, BrokerError> {
        let r = self
            .book
            .end(client_order_id, why)
            .and_then(|_| self.book.known(client_order_id));
        r.map_err(|e| self.unavailable(e))
    }

    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        self.book.holdings().map_err(|e| self.unavailable(e))
    }

    fn market(&mut self, bar: &Bar) -> Result<Vec<String>, BrokerError> {
        if bar.symbol != root(&bar.symbol) {
            self.own_bars.insert(bar.symbol.clone(), bar.at_ms);
        }
        self.last.insert(bar.symbol.clone(), bar.clone());
        let working = match self.book.working() {
            Ok(w) => w,
            Err(e) => return Err(self.unavailable(e)),
        };
        let mut moved = Vec::new();
        for w in working {
            if !self.prices(bar, &w.order.symbol) {
                continue;
            }
            let id = w.order.client_order_id.clone();
            let r = match self.model.on_bar(&self.spec, &w, bar) {
                Step::Wait => continue,
                Step::Expire => {
                    let why = format!(
                        "expired: {} of {} filled",
                        w.filled.normalize(),
                        w.order.qty.normalize()
                    );
                    self.book.end(&id, &why).map(|_| ())
                }
                Step::Fill { qty, price } => {
                    let f = self.fill(&w.order, w.parts + 1, qty, price, bar.closes_at_ms());
                    self.book.filled(&w, &f)
                }
            };
            match r {
                Ok(()) => moved.push(id),
                Err(e) => return Err(self.unavailable(e)),
            }
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests;
