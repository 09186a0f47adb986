//! One engine's positions, one per contract month, each lot owned by the
//! strategy whose order opened it, and the realized PnL of the fills. Pure:
//! the engine's ledger, the journal's carried balance and the replay's
//! report all apply fills through it, so they agree to the cent.
//!
//! Who a fill belongs to is read from its client order id
//! ([`Strategy::of_order`]). A strategy's order closes its own lots first;
//! the engine's own orders close lots oldest first. A roll's close leg
//! remembers whose lots it closed, and its open leg opens them again, for
//! the same owners in the same order, in the new month: a strategy keeps its
//! position across a roll.
//!
//! Invariant: the lots of every month add up to its net position, which is
//! the journal's fills' net (the broker's holdings).

use super::market::{ContractSpec, Fill, Side};
use super::position::Position;
use super::results::RoundTrip;
use super::Strategy;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Book {
    /// Instrument (`KCH26`) → its position; flat ones leave.
    positions: BTreeMap<String, Position>,
    realized: Decimal,
    /// The realized PnL by the owner of the lots closed: adds up to
    /// `realized`.
    realized_by: BTreeMap<Strategy, Decimal>,
    /// A roll under way: the month its close legs closed lots in, their
    /// side, and the owners of those lots, oldest first, not yet opened
    /// again by its open legs (a roll from another month starts afresh: what
    /// a failed roll never reopened is not the next roll's).
    moving: (String, Option<Side>, VecDeque<Moving>),
}

/// (Part of) a lot a roll's close leg closed, to be opened again.
#[derive(Debug, Clone, PartialEq)]
struct Moving {
    owner: Strategy,
    qty: Decimal,
    /// Its stop basis less the close leg's price: the open leg's price plus
    /// this is its basis in the new month.
    offset: Decimal,
    since_ms: u64,
}

impl Book {
    /// A book that starts from `positions` and `realized` (a carried
    /// balance), `realized_by` its owners' parts (what they leave of it is
    /// the house's: a balance from before owners).
    pub fn carried(
        mut positions: BTreeMap<String, Position>,
        realized: Decimal,
        mut realized_by: BTreeMap<Strategy, Decimal>,
    ) -> Book {
        positions.retain(|_, p| !p.qty.is_zero());
        let rest = realized - realized_by.values().copied().sum::<Decimal>();
        if !rest.is_zero() {
            *realized_by.entry(Strategy::HOUSE).or_default() += rest;
        }
        Book {
            positions,
            realized,
            realized_by,
            moving: (String::new(), None, VecDeque::new()),
        }
    }

    /// Applies fill `f` of engine `engine`; returns its realized PnL
    /// (before commission).
    pub fn apply(&mut self, engine: &str, f: &Fill, spec: &ContractSpec) -> Decimal {
        self.apply_trips(engine, f, spec).0
    }

    /// [`Book::apply`], with the round trips the fill closed, each its
    /// lot's owner's.
    pub fn apply_trips(
        &mut self,
        engine: &str,
        f: &Fill,
        spec: &ContractSpec,
    ) -> (Decimal, Vec<(Strategy, RoundTrip)>) {
        let mut trips = Vec::new();
        let owner = Strategy::of_order(engine, &f.client_order_id);
        let position = self.positions.entry(f.symbol.clone()).or_default();
        let signed = f.side.sign() * f.qty;
        let opens =
            position.qty.is_zero() || position.qty.is_sign_positive() == signed.is_sign_positive();
        // A roll's open leg: it opens (or adds), or it goes the other way
        // from the close leg, in another month, with owners moving (into a
        // month held the other way). With none moving it is the house's.
        let open_leg = owner == Strategy::ROLL
            && (opens
                || (f.symbol != self.moving.0
                    && self.moving.1.is_some_and(|s| s != f.side)
                    && !self.moving.2.is_empty()));
        let mut left = f.qty;
        let mut realized = Decimal::ZERO;
        let mut close =
            |position: &mut Position, qty: Decimal, moving: Option<&mut VecDeque<Moving>>| {
                let applied = position.apply_as(owner, f.at_ms, f.side, qty, f.price, spec);
                let mut moving = moving;
                for c in &applied.closed {
                    *self.realized_by.entry(c.owner).or_default() += c.pnl;
                    if let Some(m) = moving.as_deref_mut() {
                        m.push_back(Moving {
                            owner: c.owner,
                            qty: c.qty,
                            offset: c.basis - f.price,
                            since_ms: c.since_ms,
                        });
                    }
                    trips.push((
                        c.owner,
                        RoundTrip {
                            instrument: f.symbol.clone(),
                            direction: c.direction,
                            qty: c.qty,
                            opened_ms: c.opened_ms,
                            closed_ms: f.at_ms,
                            entry_price: c.price,
                            exit_price: f.price,
                            pnl: c.pnl,
                        },
                    ));
                }
                applied.realized
            };
        if open_leg {
            if !opens {
                // The new month held the other way: that is closed first
                // (its owners' PnL), the rest opens for the roll's owners.
                let take = left.min(position.qty.abs());
                realized += close(position, take, None);
                left -= take;
            }
            while left > Decimal::ZERO {
                let (who, take, basis) = match self.moving.2.front_mut() {
                    Some(m) => {
                        let take = left.min(m.qty);
                        m.qty -= take;
                        let piece = (m.owner, take, (f.price + m.offset, m.since_ms));
                        if m.qty.is_zero() {
                            self.moving.2.pop_front();
                        }
                        piece
                    }
                    None => (Strategy::HOUSE, left, (f.price, f.at_ms)),
                };
                position.open_moved(who, f.at_ms, f.side, take, f.price, basis);
                left -= take;
            }
        } else {
            if owner == Strategy::ROLL && self.moving.0 != f.symbol {
                self.moving = (f.symbol.clone(), Some(f.side), VecDeque::new());
            }
            let moving = (owner == Strategy::ROLL).then_some(&mut self.moving.2);
            realized += close(position, left, moving);
        }
        if position.qty.is_zero() {
            self.positions.remove(&f.symbol);
        }
        self.realized += realized;
        (realized, trips)
    }

    /// A roll's close leg closed lots its open leg has not opened again yet.
    pub fn is_moving(&self) -> bool {
        !self.moving.2.is_empty()
    }

    /// The open positions by instrument (none flat).
    pub fn positions(&self) -> &BTreeMap<String, Position> {
        &self.positions
    }

    /// The net contracts over every month held.
    pub fn net(&self) -> Decimal {
        self.positions.values().map(|p| p.qty).sum()
    }

    /// Realized PnL before commissions.
    pub fn realized(&self) -> Decimal {
        self.realized
    }

    /// The realized PnL of the lots each strategy owned (before
    /// commissions); the parts add up to [`Book::realized`].
    pub fn realized_by(&self) -> &BTreeMap<Strategy, Decimal> {
        &self.realized_by
    }

    /// `owner`'s stop basis in `instrument` (its entry, moved by each roll's
    /// spread) and when it first opened there or before a roll.
    pub fn basis(&self, owner: Strategy, instrument: &str) -> Option<(Decimal, u64)> {
        self.positions.get(instrument)?.basis_of(owner)
    }

    /// `owner`'s unrealized PnL, each of its lots at `mark(instrument)`.
    pub fn unrealized_of(
        &self,
        owner: Strategy,
        mark: impl Fn(&str) -> Option<Decimal>,
        spec: &ContractSpec,
    ) -> Decimal {
        self.positions
            .iter()
            .filter_map(|(i, p)| mark(i).map(|m| p.unrealized_of(m, spec, |l| l.owner == owner)))
            .sum()
    }

    /// `owner`'s contracts over every month (signed).
    pub fn held_by(&self, owner: Strategy) -> Decimal {
        self.positions
            .values()
            .filter_map(|p| p.owned_by(owner))
            .map(|o| o.0)
            .sum()
    }

    /// `owner`'s position in `instrument`: signed quantity, average price,
    /// and when its oldest lot opened.
    pub fn own(&self, owner: Strategy, instrument: &str) -> Option<(Decimal, Decimal, u64)> {
        self.positions.get(instrument)?.owned_by(owner)
    }

    /// Unrealized PnL, each position at `mark(instrument)` (zero for one
    /// without a price).
    pub fn unrealized(
        &self,
        mark: impl Fn(&str) -> Option<Decimal>,
        spec: &ContractSpec,
    ) -> Decimal {
        self.positions
            .iter()
            .filter_map(|(i, p)| mark(i).map(|m| p.unrealized(m, spec)))
            .sum()
    }

    /// Whether a position has no price at `mark`.
    pub fn unpriced(&self, mark: impl Fn(&str) -> Option<Decimal>) -> bool {
        self.positions.keys().any(|i| mark(i).is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Side};

    fn fill(id: &str, instrument: &str, side: Side, qty: i64, price: &str) -> Fill {
        Fill {
            part: 1,
            client_order_id: id.into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::ZERO,
            engine: "KC".into(),
            symbol: instrument.into(),
            at_ms: 1,
        }
    }

    fn own(b: &Book, who: Strategy, i: &str) -> Option<Decimal> {
        b.own(who, i).map(|o| o.0)
    }

    #[test]
    fn a_strategys_order_closes_its_own_lots_first() {
        let kc = contract("KC").unwrap();
        let mut b = Book::default();
        b.apply(
            "KC",
            &fill("KC-news-1-KCH26", "KCH26", Side::Buy, 2, "300"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-momentum-2-KCH26", "KCH26", Side::Buy, 1, "310"),
            &kc,
        );
        // Momentum sells its one lot, though news's is older: +0.50 c/lb × $375.
        let r = b.apply(
            "KC",
            &fill("KC-momentum-3-KCH26", "KCH26", Side::Sell, 1, "310.50"),
            &kc,
        );
        assert_eq!(r, Decimal::new(18750, 2));
        assert_eq!(own(&b, Strategy::NEWS, "KCH26"), Some(Decimal::TWO));
        assert_eq!(own(&b, Strategy::MOMENTUM, "KCH26"), None);
        // Momentum sells 3 more: news's 2 lots close (netting, as the broker
        // holds it), and momentum is short 1.
        b.apply(
            "KC",
            &fill("KC-momentum-4-KCH26", "KCH26", Side::Sell, 3, "301"),
            &kc,
        );
        assert_eq!(own(&b, Strategy::NEWS, "KCH26"), None);
        assert_eq!(
            own(&b, Strategy::MOMENTUM, "KCH26"),
            Some(Decimal::NEGATIVE_ONE)
        );
        assert_eq!(b.net(), Decimal::NEGATIVE_ONE);
        // 187.50 + 2 × 1.00 × 375.
        assert_eq!(b.realized(), Decimal::new(93750, 2));
        // The first 187.50 is momentum's own lot; the 750 is news's lots,
        // closed by momentum's sell (netting): the owner's PnL.
        assert_eq!(
            b.realized_by().clone(),
            [
                (Strategy::MOMENTUM, Decimal::new(18750, 2)),
                (Strategy::NEWS, Decimal::from(750))
            ]
            .into()
        );
        let mark = |_: &str| Some(Decimal::from(300));
        // Momentum's short 1 at 301, marked at 300: +$375.
        assert_eq!(
            b.unrealized_of(Strategy::MOMENTUM, mark, &kc),
            Decimal::from(375)
        );
        assert_eq!(b.unrealized_of(Strategy::NEWS, mark, &kc), Decimal::ZERO);
        assert_eq!(b.held_by(Strategy::MOMENTUM), Decimal::NEGATIVE_ONE);
        // A carried balance whose owners' parts fall short: the rest is the house's.
        let c = Book::carried(
            BTreeMap::new(),
            Decimal::from(100),
            [(Strategy::NEWS, Decimal::from(60))].into(),
        );
        assert_eq!(c.realized_by()[&Strategy::HOUSE], Decimal::from(40));
    }

    /// By hand: news buys 2 @ 300 (minute 1), momentum buys 1 @ 310
    /// (minute 1), momentum sells 3 @ 301 (minute 31): its own lot first,
    /// −9.00 × 375 = −3,375 held 30 min; then news's two, +1.00 × 2 × 375 =
    /// +750 held 30 min. Momentum: 1 trip, no win; news: 1 trip, a win.
    #[test]
    fn each_owner_gets_the_round_trips_of_its_lots() {
        let kc = contract("KC").unwrap();
        let mut b = Book::default();
        b.apply(
            "KC",
            &fill("KC-news-1-KCH26", "KCH26", Side::Buy, 2, "300"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-momentum-2-KCH26", "KCH26", Side::Buy, 1, "310"),
            &kc,
        );
        let mut sell = fill("KC-momentum-3-KCH26", "KCH26", Side::Sell, 3, "301");
        sell.at_ms = 1 + 30 * 60_000;
        let (realized, trips) = b.apply_trips("KC", &sell, &kc);
        assert_eq!(realized, Decimal::from(-3_375 + 750));
        let got: Vec<(Strategy, i8, Decimal, Decimal, u64)> = trips
            .iter()
            .map(|(o, t)| (*o, t.direction, t.qty, t.pnl, t.closed_ms - t.opened_ms))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Strategy::MOMENTUM,
                    1,
                    Decimal::ONE,
                    Decimal::from(-3_375),
                    1_800_000
                ),
                (
                    Strategy::NEWS,
                    1,
                    Decimal::TWO,
                    Decimal::from(750),
                    1_800_000
                ),
            ]
        );
        let mut tally = crate::model::TradeTally::default();
        tally.add(&trips[1].1);
        let stats = tally.stats();
        assert_eq!(
            (stats.trades, stats.wins, stats.expectancy),
            (1, 1, Some(Decimal::from(750)))
        );
        assert_eq!(stats.avg_hold_ms, Some(1_800_000));
    }

    #[test]
    fn a_roll_moves_each_owners_lots_into_the_new_month() {
        let kc = contract("KC").unwrap();
        let mut b = Book::default();
        b.apply(
            "KC",
            &fill("KC-news-1-KCH26", "KCH26", Side::Buy, 2, "300"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-momentum-2-KCH26", "KCH26", Side::Buy, 1, "301"),
            &kc,
        );
        // The close leg fills in two parts, the open leg in two others.
        b.apply(
            "KC",
            &fill("KC-roll-3-KCH26", "KCH26", Side::Sell, 1, "302"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-roll-3-KCH26", "KCH26", Side::Sell, 2, "302"),
            &kc,
        );
        assert!(b.positions().is_empty());
        b.apply(
            "KC",
            &fill("KC-roll-4-KCK26", "KCK26", Side::Buy, 2, "299.60"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-roll-4-KCK26", "KCK26", Side::Buy, 1, "299.60"),
            &kc,
        );
        assert_eq!(own(&b, Strategy::NEWS, "KCK26"), Some(Decimal::TWO));
        assert_eq!(own(&b, Strategy::MOMENTUM, "KCK26"), Some(Decimal::ONE));
        assert!(b.moving.2.is_empty());
        // An open leg with nothing moving is the house's.
        b.apply(
            "KC",
            &fill("KC-roll-5-KCN26", "KCN26", Side::Buy, 1, "299"),
            &kc,
        );
        assert_eq!(own(&b, Strategy::HOUSE, "KCN26"), Some(Decimal::ONE));
        // A roll whose open leg never filled (it ended flat) leaves owners
        // moving; the next roll, from another month, is not theirs.
        let at = |id: &str, i: &str, side, p: &str| fill(id, i, side, 1, p);
        b.apply(
            "KC",
            &fill("KC-news-6-KCK26", "KCK26", Side::Sell, 2, "299"),
            &kc,
        );
        b.apply(
            "KC",
            &at("KC-roll-7-KCK26", "KCK26", Side::Sell, "299"),
            &kc,
        );
        assert_eq!(b.moving.2.len(), 1, "momentum's 1, never reopened");
        b.apply(
            "KC",
            &at("KC-roll-8-KCN26", "KCN26", Side::Sell, "298"),
            &kc,
        );
        b.apply("KC", &at("KC-roll-9-KCU26", "KCU26", Side::Buy, "297"), &kc);
        assert_eq!(own(&b, Strategy::HOUSE, "KCU26"), Some(Decimal::ONE));
        assert_eq!(own(&b, Strategy::MOMENTUM, "KCU26"), None);
    }

    /// By hand: news buys 2 KCH26 @ 300 at minute 1; the roll sells them @
    /// 302 and buys 2 KCK26 @ 299.60: the May lots' stop basis is 299.60 +
    /// (300 − 302) = 297.60, first opened at minute 1; the fill price stays
    /// 299.60 for the PnL.
    #[test]
    fn a_roll_keeps_each_lots_stop_basis_and_first_opening() {
        let kc = contract("KC").unwrap();
        let mut b = Book::default();
        b.apply(
            "KC",
            &fill("KC-news-1-KCH26", "KCH26", Side::Buy, 2, "300"),
            &kc,
        );
        let mut close = fill("KC-roll-2-KCH26", "KCH26", Side::Sell, 2, "302");
        close.at_ms = 99;
        b.apply("KC", &close, &kc);
        let mut open = fill("KC-roll-3-KCK26", "KCK26", Side::Buy, 2, "299.60");
        open.at_ms = 100;
        b.apply("KC", &open, &kc);
        assert_eq!(
            b.basis(Strategy::NEWS, "KCK26"),
            Some(("297.6".parse().unwrap(), 1))
        );
        let (qty, avg, at) = b.own(Strategy::NEWS, "KCK26").unwrap();
        assert_eq!(
            (qty, avg, at),
            (Decimal::TWO, "299.6".parse().unwrap(), 100)
        );
    }

    /// A roll's open leg into a month held the other way closes that first
    /// (its owner's PnL), and opens only the rest for the roll's owners.
    #[test]
    fn a_roll_into_a_month_held_the_other_way_nets_it_first() {
        let kc = contract("KC").unwrap();
        let mut b = Book::default();
        b.apply(
            "KC",
            &fill("KC-news-1-KCH26", "KCH26", Side::Buy, 2, "300"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-momentum-2-KCK26", "KCK26", Side::Sell, 1, "299"),
            &kc,
        );
        b.apply(
            "KC",
            &fill("KC-roll-3-KCH26", "KCH26", Side::Sell, 2, "301"),
            &kc,
        );
        // Buy 2 May: 1 closes momentum's short (−0.50 × 375), 1 opens news's.
        let r = b.apply(
            "KC",
            &fill("KC-roll-4-KCK26", "KCK26", Side::Buy, 2, "299.50"),
            &kc,
        );
        assert_eq!(r, Decimal::new(-18750, 2));
        assert_eq!(own(&b, Strategy::MOMENTUM, "KCK26"), None);
        assert_eq!(own(&b, Strategy::NEWS, "KCK26"), Some(Decimal::ONE));
        assert_eq!(
            own(&b, Strategy::ROLL, "KCK26"),
            None,
            "no lot is the roll's"
        );
        assert_eq!(b.net(), Decimal::ONE);
    }
}
