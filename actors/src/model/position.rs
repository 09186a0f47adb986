//! A net position in one contract month, as lots each owned by the
//! strategy that opened it: FIFO realized PnL (a strategy's own lots
//! first), exact in `Decimal`, and each lot's stop basis carried through
//! rolls. `Book` keeps one per month.

use super::market::{ContractSpec, Side};
use super::Strategy;
use rust_decimal::Decimal;

/// One open lot of a position: what one fill added, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    /// Unsigned quantity still open.
    pub qty: Decimal,
    pub price: Decimal,
    /// The strategy whose order opened it (its PnL is that strategy's).
    pub owner: Strategy,
    /// Market time of the fill that opened it.
    pub at_ms: u64,
    /// The price its owner's stops measure from: its price, moved by the
    /// spread of each roll it went through (a roll is not a new entry).
    pub basis: Decimal,
    /// When its owner first opened it, before any roll.
    pub since_ms: u64,
}

impl Lot {
    /// A new entry: its stop basis is its price, first opened now.
    fn new(owner: Strategy, at_ms: u64, qty: Decimal, price: Decimal) -> Lot {
        Lot {
            qty,
            price,
            owner,
            at_ms,
            basis: price,
            since_ms: at_ms,
        }
    }
}

/// What applying one fill to a position did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Realized PnL in dollars, before commission.
    pub realized: Decimal,
    /// The lots it closed, in the order it closed them.
    pub closed: Vec<Closed>,
}

/// (Part of) one lot a fill closed: a round trip of its owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub owner: Strategy,
    pub qty: Decimal,
    /// Its realized PnL in dollars, before commission.
    pub pnl: Decimal,
    /// When the lot opened (market time).
    pub opened_ms: u64,
    /// +1 a long lot, −1 a short one.
    pub direction: i8,
    /// The lot's price (where it opened, in its month).
    pub price: Decimal,
    /// The lot's stop basis and first opening (carried through a roll).
    pub basis: Decimal,
    pub since_ms: u64,
}

/// A net position in one contract, as lots, each owned by the strategy that
/// opened it: realized PnL is exact (price differences times quantities, no
/// division), so it reconciles to the cent with the journal's fills. `qty`
/// is signed (short < 0).
///
/// Invariant: the lots add up to `|qty|`, all on its side (one net position
/// per contract month, as the broker holds it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub qty: Decimal,
    /// Open lots, oldest first. At most one lot per fill that added
    /// exposure, so bounded by the position limit.
    lots: std::collections::VecDeque<Lot>,
}

impl Position {
    /// The open lots, oldest first.
    pub fn lots(&self) -> impl Iterator<Item = &Lot> + '_ {
        self.lots.iter()
    }

    /// A position of `qty` (signed) held as `lots` (oldest first); `None`
    /// when the lots do not add up to it or a lot is not positive.
    pub fn from_lots(qty: Decimal, lots: Vec<Lot>) -> Option<Position> {
        let held: Decimal = lots.iter().map(|l| l.qty).sum();
        (held == qty.abs() && lots.iter().all(|l| l.qty > Decimal::ZERO)).then(|| Position {
            qty,
            lots: lots.into(),
        })
    }

    /// Average price of the open lots, for display (rounded to 8 places).
    pub fn avg_price(&self) -> Decimal {
        average(self.lots.iter())
    }

    /// `owner`'s part: its signed quantity, the average price and the
    /// opening time of its oldest lot (none when it holds nothing).
    pub fn owned_by(&self, owner: Strategy) -> Option<(Decimal, Decimal, u64)> {
        let mine: Vec<&Lot> = self.lots.iter().filter(|l| l.owner == owner).collect();
        let q: Decimal = mine.iter().map(|l| l.qty).sum();
        if q.is_zero() {
            return None;
        }
        let sign = if self.qty.is_sign_negative() {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        Some((
            sign * q,
            average(mine.into_iter()),
            self.lots
                .iter()
                .find(|l| l.owner == owner)
                .map_or(0, |l| l.at_ms),
        ))
    }

    /// A roll's open leg: `qty` of `owner`'s, filled at `price` at `at_ms`,
    /// keeping the stop `basis` and the first opening `since_ms` it had in
    /// the month it came from. It must add to the position (or open it).
    pub fn open_moved(
        &mut self,
        owner: Strategy,
        at_ms: u64,
        side: Side,
        qty: Decimal,
        price: Decimal,
        (basis, since_ms): (Decimal, u64),
    ) {
        self.qty += side.sign() * qty;
        self.lots.push_back(Lot {
            basis,
            since_ms,
            ..Lot::new(owner, at_ms, qty, price)
        });
    }

    /// `owner`'s stop basis (averaged over its lots) and its first opening.
    pub fn basis_of(&self, owner: Strategy) -> Option<(Decimal, u64)> {
        let mine = self.lots.iter().filter(|l| l.owner == owner);
        let since = mine.clone().map(|l| l.since_ms).min()?;
        Some((weighted(mine, |l| l.basis), since))
    }

    /// Applies a fill whose owner is not known (FIFO); returns the realized
    /// PnL in dollars (before commission).
    pub fn apply(
        &mut self,
        side: Side,
        qty: Decimal,
        price: Decimal,
        spec: &ContractSpec,
    ) -> Decimal {
        self.apply_as(Strategy::HOUSE, 0, side, qty, price, spec)
            .realized
    }

    /// Applies a fill of `owner`'s order at market time `at_ms`. Adding opens
    /// a lot of `owner`'s; reducing closes `owner`'s own lots first (oldest
    /// first), then the others oldest first; crossing zero closes everything
    /// and opens the rest, `owner`'s, at the fill price.
    pub fn apply_as(
        &mut self,
        owner: Strategy,
        at_ms: u64,
        side: Side,
        qty: Decimal,
        price: Decimal,
        spec: &ContractSpec,
    ) -> Applied {
        let signed = side.sign() * qty;
        let lot = |qty| Lot::new(owner, at_ms, qty, price);
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            self.qty += signed;
            self.lots.push_back(lot(qty));
            return Applied::default();
        }
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        let mut left = qty;
        let mut applied = Applied::default();
        // The owner's lots first, then everyone's, each pass oldest first.
        for own_only in [true, false] {
            let mut i = 0;
            while left > Decimal::ZERO && i < self.lots.len() {
                let l = &mut self.lots[i];
                if own_only && l.owner != owner {
                    i += 1;
                    continue;
                }
                let take = left.min(l.qty);
                let pnl = spec.pnl((price - l.price) * direction, take);
                applied.realized += pnl;
                applied.closed.push(Closed {
                    owner: l.owner,
                    qty: take,
                    pnl,
                    opened_ms: l.at_ms,
                    direction: if direction.is_sign_positive() { 1 } else { -1 },
                    price: l.price,
                    basis: l.basis,
                    since_ms: l.since_ms,
                });
                l.qty -= take;
                left -= take;
                if l.qty.is_zero() {
                    self.lots.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        self.qty += signed;
        if left > Decimal::ZERO {
            // Crossed zero: the rest opens a position the other way.
            self.lots.push_back(lot(left));
        }
        applied
    }

    /// Unrealized PnL at `mark`, in dollars (exact: no average involved).
    pub fn unrealized(&self, mark: Decimal, spec: &ContractSpec) -> Decimal {
        self.unrealized_of(mark, spec, |_| true)
    }

    /// Unrealized PnL at `mark` of the lots `which` picks.
    pub fn unrealized_of(
        &self,
        mark: Decimal,
        spec: &ContractSpec,
        which: impl Fn(&Lot) -> bool,
    ) -> Decimal {
        let direction = if self.qty.is_sign_negative() {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        self.lots
            .iter()
            .filter(|l| which(l))
            .map(|l| spec.pnl((mark - l.price) * direction, l.qty))
            .sum()
    }
}

/// The average price of `lots`, rounded to 8 places (zero for none).
fn average<'a>(lots: impl Iterator<Item = &'a Lot> + Clone) -> Decimal {
    weighted(lots, |l| l.price)
}

/// `of` each of `lots`, weighted by their quantities, rounded to 8 places
/// (zero for none).
fn weighted<'a>(
    lots: impl Iterator<Item = &'a Lot> + Clone,
    of: impl Fn(&Lot) -> Decimal,
) -> Decimal {
    let q: Decimal = lots.clone().map(|l| l.qty).sum();
    if q.is_zero() {
        return Decimal::ZERO;
    }
    (lots.map(|l| l.qty * of(l)).sum::<Decimal>() / q)
        .round_dp(8)
        .normalize()
}
