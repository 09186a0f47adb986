//! The engine's ledger: its position (FIFO lots), realized PnL and
//! commissions from the fills, the orders in flight, and which fills it has
//! applied. Pure: the actor feeds it fills and orders; nothing here does I/O.
//!
//! Invariants: a fill is applied once (by its journal id, which only grows:
//! the factory replays the journal's fills in order, and a fill told again or
//! read back from the journal is skipped); an order is in flight from the
//! moment it is journaled until its fill, its rejection, or the journal no
//! longer has it pending.

use crate::model::{ContractSpec, Fill, Position};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Ledger {
    position: Position,
    realized: Decimal,
    commissions: Decimal,
    last_fill_id: u64,
    /// Client order id → signed quantity. The risk step counts them as if
    /// filled.
    in_flight: HashMap<String, Decimal>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A ledger that starts where the journal's archived fills left it (its
    /// carried balance): the fills after `last_fill_id` are applied on top.
    pub fn carried(
        position: Position,
        realized: Decimal,
        commissions: Decimal,
        last_fill_id: u64,
    ) -> Ledger {
        Ledger {
            position,
            realized,
            commissions,
            last_fill_id,
            in_flight: HashMap::new(),
        }
    }

    /// Applies fill `journal_id` unless applied already; `true` when applied.
    pub fn apply_fill(&mut self, journal_id: u64, f: &Fill, spec: &ContractSpec) -> bool {
        if journal_id <= self.last_fill_id {
            return false; // already in the position (read from the journal)
        }
        self.last_fill_id = journal_id;
        self.in_flight.remove(&f.client_order_id);
        self.realized += self.position.apply(f.side, f.qty, f.price, spec);
        self.commissions += f.commission;
        true
    }

    /// Order `id` for `signed_qty` contracts was journaled: in flight.
    pub fn sent(&mut self, id: String, signed_qty: Decimal) {
        self.in_flight.insert(id, signed_qty);
    }

    /// Order `id` ended without a fill (rejected, abandoned).
    pub fn ended(&mut self, id: &str) {
        self.in_flight.remove(id);
    }

    /// The orders in flight that `pending` (the journal's pending orders) no
    /// longer holds: settled without word to the engine. They leave the
    /// ledger; their ids are returned, in order (the same run, the same
    /// order of what follows).
    pub fn settle_missing(&mut self, pending: &HashSet<String>) -> Vec<String> {
        let mut settled: Vec<String> = self
            .in_flight
            .keys()
            .filter(|id| !pending.contains(*id))
            .cloned()
            .collect();
        settled.sort();
        for id in &settled {
            self.in_flight.remove(id);
        }
        settled
    }

    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    /// The position as if every order in flight were filled: two quick
    /// signals cannot both use the same room.
    pub fn projected(&self) -> Position {
        let mut p = Position::default();
        p.qty = self.position.qty + self.in_flight.values().copied().sum::<Decimal>();
        p
    }

    pub fn commissions(&self) -> Decimal {
        self.commissions
    }

    /// Realized PnL net of commissions.
    pub fn realized_net(&self) -> Decimal {
        self.realized - self.commissions
    }

    /// The journal id of the last fill applied.
    pub fn last_fill_id(&self) -> u64 {
        self.last_fill_id
    }

    /// Unrealized PnL at `last` (zero without a price).
    pub fn unrealized(&self, last: Option<Decimal>, spec: &ContractSpec) -> Decimal {
        last.map_or(Decimal::ZERO, |p| self.position.unrealized(p, spec))
    }

    /// Capital + realized PnL − commissions + unrealized PnL at `last`.
    pub fn equity(&self, capital: Decimal, last: Option<Decimal>, spec: &ContractSpec) -> Decimal {
        capital + self.realized_net() + self.unrealized(last, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Side};

    fn fill(id: &str, side: Side, qty: i64, price: &str) -> Fill {
        Fill {
            client_order_id: id.into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::new(250, 2),
            engine: "KC".into(),
            symbol: "KC".into(),
            at_ms: 0,
        }
    }

    #[test]
    fn a_fill_is_applied_once_and_leaves_the_flight() {
        let kc = contract("KC").unwrap();
        let mut l = Ledger::new();
        l.sent("a".into(), Decimal::from(2));
        l.sent("b".into(), Decimal::from(-1));
        assert_eq!(l.projected().qty, Decimal::ONE, "in flight counts");
        assert!(l.apply_fill(7, &fill("a", Side::Buy, 2, "300"), &kc));
        assert!(
            !l.apply_fill(7, &fill("a", Side::Buy, 2, "300"), &kc),
            "again"
        );
        assert!(
            !l.apply_fill(6, &fill("x", Side::Buy, 1, "300"), &kc),
            "older"
        );
        assert_eq!(l.position().qty, Decimal::from(2));
        assert_eq!(l.projected().qty, Decimal::ONE);
        assert_eq!(l.last_fill_id(), 7);
        l.ended("b");
        assert_eq!(l.projected().qty, Decimal::from(2));
        assert!(!l.has_in_flight());
    }

    #[test]
    fn money_is_exact() {
        let kc = contract("KC").unwrap();
        let mut l = Ledger::new();
        l.apply_fill(1, &fill("a", Side::Buy, 2, "300.00"), &kc);
        l.apply_fill(2, &fill("b", Side::Sell, 1, "301.00"), &kc);
        // 1 contract × 1.00 c/lb × $375 = $375 realized, $5 commissions.
        assert_eq!(l.realized_net(), Decimal::from(370));
        let at = Some("302.00".parse().unwrap());
        assert_eq!(l.unrealized(at, &kc), Decimal::from(750));
        assert_eq!(
            l.equity(Decimal::from(1_000), at, &kc),
            Decimal::from(2_120)
        );
        assert_eq!(
            l.equity(Decimal::from(1_000), None, &kc),
            Decimal::from(1_370)
        );
    }

    #[test]
    fn orders_the_journal_no_longer_holds_are_settled() {
        let mut l = Ledger::new();
        l.sent("a".into(), Decimal::ONE);
        l.sent("b".into(), Decimal::ONE);
        let pending: HashSet<String> = ["b".to_owned()].into();
        assert_eq!(l.settle_missing(&pending), vec!["a".to_owned()]);
        assert_eq!(l.projected().qty, Decimal::ONE);
    }
}
