//! What one book of trades holds: net contracts per symbol and the cash its
//! fills moved. The journal's fills and the broker's own records each make
//! one, and the daily reconciliation compares the two.
//!
//! Cash is what the trades paid and received: a buy pays `qty × price ×
//! point value`, a sell receives it, and every fill pays its commission. It
//! needs no accounting method (FIFO or average), so two honest books of the
//! same fills agree on it to the cent, and it is the broker's cash ledger
//! with the starting balance left out.

use super::{contract, Fill};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Net contracts per symbol (short < 0); a flat symbol is not listed.
    pub positions: BTreeMap<String, Decimal>,
    /// The cash the fills moved, commissions included.
    pub cash: Decimal,
    /// Commissions paid.
    pub commissions: Decimal,
    /// Fills taken in.
    pub fills: u64,
    /// The broker's cash is the account's, shared by every engine on it
    /// (IB): only positions compare.
    pub account_wide: bool,
}

impl Holdings {
    /// Takes one fill in. `Err` for a symbol without a contract (its point
    /// value is unknown): such a fill cannot be valued, and a book that
    /// skipped it would be wrong.
    pub fn apply(&mut self, f: &Fill) -> Result<(), String> {
        let spec = contract(&f.symbol).ok_or_else(|| {
            format!(
                "fill {} is for {:?}, which has no contract",
                f.client_order_id, f.symbol
            )
        })?;
        let signed = f.side.sign() * f.qty;
        let pos = self.positions.entry(f.symbol.clone()).or_default();
        *pos += signed;
        if pos.is_zero() {
            self.positions.remove(&f.symbol);
        }
        self.cash -= signed * f.price * spec.point_value + f.commission;
        self.commissions += f.commission;
        self.fills += 1;
        Ok(())
    }

    /// The book of these fills.
    pub fn of<'a>(fills: impl IntoIterator<Item = &'a Fill>) -> Result<Holdings, String> {
        let mut h = Holdings::default();
        for f in fills {
            h.apply(f)?;
        }
        Ok(h)
    }

    /// Net contracts of `symbol` (zero when flat).
    pub fn position(&self, symbol: &str) -> Decimal {
        self.positions.get(symbol).copied().unwrap_or_default()
    }

    /// How `broker` differs from this book (ours), one line per difference;
    /// empty when they agree. Positions must agree exactly; cash within
    /// `tolerance` dollars (a broker may round commissions).
    pub fn differences(&self, broker: &Holdings, tolerance: Decimal) -> Vec<String> {
        let mut out = Vec::new();
        let symbols: std::collections::BTreeSet<&String> = self
            .positions
            .keys()
            .chain(broker.positions.keys())
            .collect();
        for s in symbols {
            let (ours, theirs) = (self.position(s), broker.position(s));
            if ours != theirs {
                out.push(format!(
                    "{s}: journal holds {} contracts, the broker {}",
                    ours.normalize(),
                    theirs.normalize()
                ));
            }
        }
        if !broker.account_wide && (self.cash - broker.cash).abs() > tolerance {
            out.push(format!(
                "cash: journal {}, the broker {} (difference {})",
                self.cash.normalize(),
                broker.cash.normalize(),
                (broker.cash - self.cash).normalize()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;

    fn fill(id: &str, symbol: &str, side: Side, qty: i64, price: &str, fee: &str) -> Fill {
        Fill {
            part: 1,
            client_order_id: id.into(),
            engine: "KC".into(),
            symbol: symbol.into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: fee.parse().unwrap(),
            at_ms: 0,
        }
    }

    #[test]
    fn cash_is_what_the_trades_paid_and_received() {
        // KC: $375 per cent/lb. Buy 2 at 300.00, sell 1 at 301.00, $2.50 a fill.
        let h = Holdings::of(&[
            fill("a", "KC", Side::Buy, 2, "300.00", "2.50"),
            fill("b", "KC", Side::Sell, 1, "301.00", "2.50"),
        ])
        .unwrap();
        assert_eq!(h.position("KC"), Decimal::ONE);
        // -2 × 300 × 375 + 1 × 301 × 375 - 5 = -225,000 + 112,875 - 5.
        assert_eq!(h.cash, Decimal::from(-112_130));
        assert_eq!(h.commissions, Decimal::from(5));
        assert_eq!(h.fills, 2);
        // Flat again: the symbol is gone, the cash is the realized PnL.
        let mut flat = h.clone();
        flat.apply(&fill("c", "KC", Side::Sell, 1, "302.00", "2.50"))
            .unwrap();
        assert!(flat.positions.is_empty());
        // (301 - 300) × 375 + (302 - 300) × 375 - 7.50 = 1,117.50.
        assert_eq!(flat.cash, "1117.50".parse::<Decimal>().unwrap());
    }

    #[test]
    fn differences_name_each_symbol_and_the_cash() {
        let ours = Holdings::of(&[fill("a", "KC", Side::Buy, 2, "300.00", "0")]).unwrap();
        assert!(ours.differences(&ours, Decimal::ZERO).is_empty());
        let mut theirs = ours.clone();
        theirs.positions.insert("KC".into(), Decimal::from(3));
        theirs.positions.insert("CC".into(), Decimal::from(-1));
        theirs.cash += "0.02".parse::<Decimal>().unwrap();
        let d = ours.differences(&theirs, "0.01".parse().unwrap());
        assert_eq!(
            d,
            [
                "CC: journal holds 0 contracts, the broker -1",
                "KC: journal holds 2 contracts, the broker 3",
                "cash: journal -225000, the broker -224999.98 (difference 0.02)",
            ]
        );
        // Within the tolerance, the cash agrees.
        theirs.positions = ours.positions.clone();
        assert!(ours
            .differences(&theirs, "0.02".parse().unwrap())
            .is_empty());
    }

    #[test]
    fn a_fill_of_an_unknown_contract_cannot_be_valued() {
        let e = Holdings::of(&[fill("x", "ZZ", Side::Buy, 1, "1", "0")]).unwrap_err();
        assert!(e.contains("\"ZZ\", which has no contract"), "{e}");
    }
}
