//! The engine's ledger: its book (positions per instrument, each lot owned
//! by the strategy that opened it, realized PnL), the commissions, the
//! orders in flight, and which fills it has applied. Pure: the actor feeds
//! it fills and orders; nothing here does I/O.
//!
//! Invariants: a fill is applied once (by its journal id, which only grows:
//! the factory replays the journal's fills in order, and a fill told again or
//! read back from the journal is skipped), to the position of its own
//! instrument (a roll's two legs move two positions), through
//! [`Book::apply`] as the journal's carried balance and the replay's report
//! apply it; an order is in flight from the moment it is journaled until its
//! fill, its rejection, or the journal no longer has it pending. Risk reads
//! the net of every month: one commodity's exposure, however many months
//! hold it.

use crate::model::{Book, ContractSpec, Fill, Position, Strategy, TradeTally};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug)]
pub struct Ledger {
    /// The engine's id: a fill's strategy is read from its client order id.
    engine: String,
    book: Book,
    commissions: Decimal,
    /// Each strategy's round trips (the lots it owned, closed) and the
    /// commissions of its orders.
    tallies: BTreeMap<Strategy, TradeTally>,
    last_fill_id: u64,
    /// Client order id → (instrument, signed quantity). The risk step counts
    /// them as if filled.
    in_flight: HashMap<String, (String, Decimal)>,
    /// The terms of the limit orders in flight (for the operator's view).
    limits: HashMap<String, crate::model::Limit>,
}

impl Ledger {
    pub fn new(engine: &str) -> Ledger {
        Ledger::carried(
            engine,
            BTreeMap::new(),
            (Decimal::ZERO, Decimal::ZERO),
            BTreeMap::new(),
            0,
        )
    }

    /// A ledger that starts where the journal's archived fills left it (its
    /// carried balance): the fills after `last_fill_id` are applied on top.
    /// `(realized, commissions)` are the totals, `by_strategy` each
    /// strategy's part of them (what they leave is the house's).
    pub fn carried(
        engine: &str,
        positions: BTreeMap<String, Position>,
        (realized, commissions): (Decimal, Decimal),
        by_strategy: BTreeMap<Strategy, (Decimal, TradeTally)>,
        last_fill_id: u64,
    ) -> Ledger {
        let mut tallies: BTreeMap<Strategy, TradeTally> = by_strategy
            .iter()
            .map(|(s, (_, t))| (*s, t.clone()))
            .collect();
        let rest = commissions - tallies.values().map(|t| t.fees).sum::<Decimal>();
        if !rest.is_zero() {
            tallies.entry(Strategy::HOUSE).or_default().fees += rest;
        }
        Ledger {
            engine: engine.to_owned(),
            book: Book::carried(
                positions,
                realized,
                by_strategy.iter().map(|(s, (r, _))| (*s, *r)).collect(),
            ),
            commissions,
            tallies,
            last_fill_id,
            in_flight: HashMap::new(),
            limits: HashMap::new(),
        }
    }

    /// Applies fill `journal_id` unless applied already; `true` when applied.
    pub fn apply_fill(&mut self, journal_id: u64, f: &Fill, spec: &ContractSpec) -> bool {
        if journal_id <= self.last_fill_id {
            return false; // already in the position (read from the journal)
        }
        self.last_fill_id = journal_id;
        // In flight: what is left of the order (it may fill in parts).
        if let Some((_, left)) = self.in_flight.get_mut(&f.client_order_id) {
            *left -= f.side.sign() * f.qty;
            if *left * f.side.sign() <= Decimal::ZERO {
                self.in_flight.remove(&f.client_order_id);
                self.limits.remove(&f.client_order_id);
            }
        }
        let (_, trips) = self.book.apply_trips(&self.engine, f, spec);
        for (owner, trip) in &trips {
            self.tallies.entry(*owner).or_default().add(trip);
        }
        self.commissions += f.commission;
        self.tallies
            .entry(Strategy::of_order(&self.engine, &f.client_order_id))
            .or_default()
            .fees += f.commission;
        true
    }

    /// Order `id` for `signed_qty` contracts of `instrument` was journaled:
    /// in flight.
    pub fn sent(&mut self, id: String, instrument: &str, signed_qty: Decimal) {
        self.in_flight
            .insert(id, (instrument.to_owned(), signed_qty));
    }

    /// Order `id` for `signed_qty` contracts, a limit order: in flight, with
    /// its terms.
    pub fn sent_limit(
        &mut self,
        id: String,
        instrument: &str,
        signed_qty: Decimal,
        limit: Option<crate::model::Limit>,
    ) {
        if let Some(l) = limit {
            self.limits.insert(id.clone(), l);
        }
        self.sent(id, instrument, signed_qty);
    }

    /// Order `id` ended: rejected, abandoned, or what was left of it expired
    /// or was cancelled.
    pub fn ended(&mut self, id: &str) {
        self.in_flight.remove(id);
        self.limits.remove(id);
    }

    /// The orders in flight, by client order id: its instrument, what is
    /// left of it (signed) and its limit, if it is one.
    pub fn in_flight(
        &self,
    ) -> impl Iterator<Item = (&String, &String, Decimal, Option<&crate::model::Limit>)> {
        self.in_flight
            .iter()
            .map(|(id, (i, q))| (id, i, *q, self.limits.get(id)))
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
            self.limits.remove(id);
        }
        settled
    }

    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The open positions by instrument (none flat).
    pub fn positions(&self) -> &BTreeMap<String, Position> {
        self.book.positions()
    }

    /// The net contracts over every month held.
    pub fn net(&self) -> Decimal {
        self.book.net()
    }

    /// `owner`'s position in `instrument`: signed quantity, average price,
    /// when its oldest lot opened.
    pub fn own(&self, owner: Strategy, instrument: &str) -> Option<(Decimal, Decimal, u64)> {
        self.book.own(owner, instrument)
    }

    /// `owner`'s orders in flight in every month, signed.
    pub fn own_in_flight_all(&self, owner: Strategy) -> Decimal {
        self.in_flight
            .iter()
            .filter(|(id, _)| Strategy::of_order(&self.engine, id) == owner)
            .map(|(_, (_, q))| *q)
            .sum()
    }

    /// `owner`'s orders in flight in `instrument` on the side that closes a
    /// position of `held`'s sign, as a quantity.
    pub fn own_closing(&self, owner: Strategy, instrument: &str, held: Decimal) -> Decimal {
        self.in_flight
            .iter()
            .filter(|(id, (i, q))| {
                i == instrument
                    && !q.is_zero()
                    && q.is_sign_positive() != held.is_sign_positive()
                    && Strategy::of_order(&self.engine, id) == owner
            })
            .map(|(_, (_, q))| q.abs())
            .sum()
    }

    /// `owner`'s orders in flight in `instrument`, signed.
    pub fn own_in_flight(&self, owner: Strategy, instrument: &str) -> Decimal {
        self.in_flight
            .iter()
            .filter(|(id, (i, _))| i == instrument && Strategy::of_order(&self.engine, id) == owner)
            .map(|(_, (_, q))| *q)
            .sum()
    }

    /// The net position as if every order in flight were filled: two quick
    /// signals cannot both use the same room.
    pub fn projected(&self) -> Position {
        let mut p = Position::default();
        p.qty = self.net() + self.in_flight.values().map(|(_, q)| *q).sum::<Decimal>();
        p
    }

    /// Each instrument's position as if every order in flight were filled;
    /// flat ones left out.
    pub fn projected_by_instrument(&self) -> BTreeMap<String, Decimal> {
        self.projected_counting(|_| true)
    }

    /// [`projected_by_instrument`](Ledger::projected_by_instrument) counting
    /// only the orders in flight of the strategies `counted` says (a PANIC
    /// flatten counts its own: the others are being cancelled).
    pub fn projected_counting(
        &self,
        counted: impl Fn(Strategy) -> bool,
    ) -> BTreeMap<String, Decimal> {
        let mut by: BTreeMap<String, Decimal> = self
            .positions()
            .iter()
            .map(|(i, p)| (i.clone(), p.qty))
            .collect();
        for (id, (instrument, q)) in &self.in_flight {
            if counted(Strategy::of_order(&self.engine, id)) {
                *by.entry(instrument.clone()).or_default() += *q;
            }
        }
        by.retain(|_, q| !q.is_zero());
        by
    }

    pub fn commissions(&self) -> Decimal {
        self.commissions
    }

    /// The book (positions, lots and their owners, realized PnL).
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Each strategy's round trips and the commissions of its orders.
    pub fn tallies(&self) -> &BTreeMap<Strategy, TradeTally> {
        &self.tallies
    }

    /// Realized PnL net of commissions.
    pub fn realized_net(&self) -> Decimal {
        self.book.realized() - self.commissions
    }

    /// The journal id of the last fill applied.
    pub fn last_fill_id(&self) -> u64 {
        self.last_fill_id
    }

    /// Unrealized PnL, each position at `mark(instrument)` (zero for one
    /// without a price).
    pub fn unrealized(
        &self,
        mark: impl Fn(&str) -> Option<Decimal>,
        spec: &ContractSpec,
    ) -> Decimal {
        self.book.unrealized(mark, spec)
    }

    /// Whether a position has no price at `mark`.
    pub fn unpriced(&self, mark: impl Fn(&str) -> Option<Decimal>) -> bool {
        self.book.unpriced(mark)
    }

    /// Capital + realized PnL − commissions + unrealized PnL at `mark`.
    pub fn equity(
        &self,
        capital: Decimal,
        mark: impl Fn(&str) -> Option<Decimal>,
        spec: &ContractSpec,
    ) -> Decimal {
        capital + self.realized_net() + self.unrealized(mark, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Side};

    fn fill(id: &str, side: Side, qty: i64, price: &str) -> Fill {
        fill_in("KC", id, side, qty, price)
    }

    fn fill_in(instrument: &str, id: &str, side: Side, qty: i64, price: &str) -> Fill {
        Fill {
            part: 1,
            client_order_id: id.into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::new(250, 2),
            engine: "KC".into(),
            symbol: instrument.into(),
            at_ms: 0,
        }
    }

    #[test]
    fn a_fill_is_applied_once_and_leaves_the_flight() {
        let kc = contract("KC").unwrap();
        let mut l = Ledger::new("KC");
        l.sent("a".into(), "KC", Decimal::from(2));
        l.sent("b".into(), "KC", Decimal::from(-1));
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
        assert_eq!(l.net(), Decimal::from(2));
        assert_eq!(l.projected().qty, Decimal::ONE);
        assert_eq!(l.last_fill_id(), 7);
        l.ended("b");
        assert_eq!(l.projected().qty, Decimal::from(2));
        assert!(!l.has_in_flight());
    }

    #[test]
    fn money_is_exact() {
        let kc = contract("KC").unwrap();
        let mut l = Ledger::new("KC");
        l.apply_fill(1, &fill("a", Side::Buy, 2, "300.00"), &kc);
        l.apply_fill(2, &fill("b", Side::Sell, 1, "301.00"), &kc);
        // 1 contract × 1.00 c/lb × $375 = $375 realized, $5 commissions.
        assert_eq!(l.realized_net(), Decimal::from(370));
        let at = |_: &str| Some("302.00".parse().unwrap());
        assert_eq!(l.unrealized(at, &kc), Decimal::from(750));
        assert_eq!(
            l.equity(Decimal::from(1_000), at, &kc),
            Decimal::from(2_120)
        );
        assert_eq!(
            l.equity(Decimal::from(1_000), |_| None, &kc),
            Decimal::from(1_370)
        );
    }

    #[test]
    fn orders_the_journal_no_longer_holds_are_settled() {
        let mut l = Ledger::new("KC");
        l.sent("a".into(), "KC", Decimal::ONE);
        l.sent("b".into(), "KC", Decimal::ONE);
        let pending: HashSet<String> = ["b".to_owned()].into();
        assert_eq!(l.settle_missing(&pending), vec!["a".to_owned()]);
        assert_eq!(l.projected().qty, Decimal::ONE);
    }

    #[test]
    fn each_month_is_a_position_of_its_own_and_risk_reads_their_net() {
        let kc = contract("KC").unwrap();
        let mut l = Ledger::new("KC");
        l.apply_fill(1, &fill_in("KCH26", "a", Side::Buy, 2, "300"), &kc);
        // The roll: H closed at 301, K opened at 299 (K under H: a spread of −2).
        l.sent("c".into(), "KCH26", Decimal::from(-2));
        assert_eq!(l.projected().qty, Decimal::ZERO);
        assert!(l.projected_by_instrument().is_empty());
        l.apply_fill(2, &fill_in("KCH26", "c", Side::Sell, 2, "301"), &kc);
        l.apply_fill(3, &fill_in("KCK26", "o", Side::Buy, 2, "299"), &kc);
        assert_eq!(l.positions().keys().collect::<Vec<_>>(), vec!["KCK26"]);
        assert_eq!(l.net(), Decimal::from(2));
        // 2 × 1.00 c/lb × $375 realized on H; the K lots start at 299.
        assert_eq!(l.realized_net(), Decimal::from(750) - Decimal::new(750, 2));
        let mark = |i: &str| (i == "KCK26").then(|| Decimal::from(300));
        assert_eq!(l.unrealized(mark, &kc), Decimal::from(750));
        assert!(!l.unpriced(mark));
        assert!(l.unpriced(|_| None));
    }

    #[test]
    fn a_strategys_closing_orders_on_the_way_are_those_the_other_side() {
        let mut l = Ledger::new("KC");
        // Long 2 of its own; its next entry (a buy) and an exit (a sell)
        // are on their way: only the sell closes.
        l.sent("KC-news-00000002-KCH26".into(), "KCH26", Decimal::ONE);
        l.sent(
            "KC-news-00000003-KCH26".into(),
            "KCH26",
            Decimal::NEGATIVE_ONE,
        );
        l.sent(
            "KC-momentum-00000004-KCH26".into(),
            "KCH26",
            Decimal::from(-5),
        );
        assert_eq!(
            l.own_closing(Strategy::NEWS, "KCH26", Decimal::TWO),
            Decimal::ONE
        );
        assert_eq!(
            l.own_closing(Strategy::NEWS, "KCK26", Decimal::TWO),
            Decimal::ZERO
        );
    }
}
