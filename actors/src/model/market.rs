//! Contracts, market data, signals, orders, fills and positions. Money, prices and
//! quantities are `Decimal`; `f64` only for confidences and statistics.

use rust_decimal::Decimal;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A futures contract's specification (ICE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSpec {
    pub symbol: &'static str,
    pub name: &'static str,
    /// Units per contract (37,500 lb for KC, 10 t for CC).
    pub size: Decimal,
    /// Dollars per one price unit per contract (KC: $375 per cent/lb; CC: $10 per $/t).
    pub point_value: Decimal,
    pub price_unit: &'static str,
    pub tick: Decimal,
    /// Initial margin per contract, in dollars: what the allocator sizes against.
    pub margin: Decimal,
    /// Session open and close, minutes after midnight UTC, Monday to Friday.
    pub open_utc_min: u16,
    pub close_utc_min: u16,
}

/// The contracts commodore knows; engines trade the one named by their symbol.
pub fn contract(symbol: &str) -> Option<ContractSpec> {
    match symbol {
        "KC" => Some(ContractSpec {
            symbol: "KC",
            name: "Coffee C",
            size: Decimal::from(37_500),
            point_value: Decimal::from(375),
            price_unit: "cents/lb",
            tick: Decimal::new(5, 2),
            margin: Decimal::from(12_000),
            open_utc_min: 9 * 60 + 15,
            close_utc_min: 18 * 60 + 30,
        }),
        "CC" => Some(ContractSpec {
            symbol: "CC",
            name: "Cocoa",
            size: Decimal::from(10),
            point_value: Decimal::from(10),
            price_unit: "USD/t",
            tick: Decimal::ONE,
            margin: Decimal::from(18_000),
            open_utc_min: 9 * 60 + 45,
            close_utc_min: 18 * 60 + 30,
        }),
        _ => None,
    }
}

pub const KNOWN_SYMBOLS: &[&str] = &["KC", "CC"];

impl ContractSpec {
    /// Whether the market is open at `at_ms` (Unix ms, UTC).
    pub fn is_open(&self, at_ms: u64) -> bool {
        let secs = at_ms / 1000;
        let days = secs / 86_400;
        // 1970-01-01 was a Thursday: weekday 0 = Monday.
        let weekday = (days + 3) % 7;
        let minute = ((secs % 86_400) / 60) as u16;
        weekday < 5 && minute >= self.open_utc_min && minute < self.close_utc_min
    }

    /// `price` moved by `ticks` ticks (negative: down).
    pub fn ticks(&self, price: Decimal, ticks: i64) -> Decimal {
        price + self.tick * Decimal::from(ticks)
    }

    /// Dollar value of a price difference on `qty` contracts.
    pub fn pnl(&self, price_diff: Decimal, qty: Decimal) -> Decimal {
        price_diff * qty * self.point_value
    }
}

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub symbol: String,
    pub at_ms: u64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: u64,
}

/// One news headline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headline {
    pub symbol: String,
    pub at_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Bullish,
    Bearish,
    Neutral,
}

impl Sentiment {
    /// +1, -1 or 0.
    pub fn sign(self) -> i32 {
        match self {
            Sentiment::Bullish => 1,
            Sentiment::Bearish => -1,
            Sentiment::Neutral => 0,
        }
    }
}

/// What the analyzer made of a raw event.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyzed {
    pub symbol: String,
    /// Market time of the event (bar or headline time).
    pub at_ms: u64,
    pub sentiment: Sentiment,
    /// 0.0 to 1.0.
    pub confidence: f64,
    /// The strategy it feeds: `news` or `momentum`.
    pub strategy: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "buy" => Ok(Side::Buy),
            "sell" => Ok(Side::Sell),
            other => Err(format!("unknown side {other:?}")),
        }
    }
}

/// A market order with the price it was decided at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// `<engine>-<strategy>-<decision seq>`: deterministic, so a re-driven order
    /// after a restart is recognised, never duplicated.
    pub client_order_id: String,
    pub engine: String,
    pub strategy: String,
    pub decision_seq: u64,
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub ref_price: Decimal,
    pub at_ms: u64,
}

pub fn client_order_id(engine: &str, strategy: &str, decision_seq: u64) -> String {
    format!("{engine}-{strategy}-{decision_seq:08}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub client_order_id: String,
    pub engine: String,
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub at_ms: u64,
}

/// A net position in one contract: signed quantity (short < 0) and average price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub qty: Decimal,
    pub avg_price: Decimal,
}

impl Position {
    /// Applies a fill; returns the realized PnL in dollars (before commission).
    /// Adding to a position averages the price; reducing realizes the difference;
    /// crossing zero realizes the closed part and opens the rest at the fill price.
    pub fn apply(&mut self, side: Side, qty: Decimal, price: Decimal, spec: &ContractSpec) -> Decimal {
        let signed = side.sign() * qty;
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            let total = self.qty + signed;
            self.avg_price = (self.avg_price * self.qty.abs() + price * qty) / total.abs();
            self.qty = total;
            return Decimal::ZERO;
        }
        let closing = qty.min(self.qty.abs());
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        let realized = spec.pnl((price - self.avg_price) * direction, closing);
        let remaining = self.qty + signed;
        if remaining.is_zero() {
            *self = Position::default();
        } else if remaining.is_sign_positive() == self.qty.is_sign_positive() {
            self.qty = remaining;
        } else {
            self.qty = remaining;
            self.avg_price = price;
        }
        realized
    }

    /// Unrealized PnL at `mark`, in dollars.
    pub fn unrealized(&self, mark: Decimal, spec: &ContractSpec) -> Decimal {
        spec.pnl(mark - self.avg_price, self.qty)
    }
}

/// How a candidate ended: exactly one per candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Executed,
    Vetoed,
    LowScore,
    RiskRejected,
    GateClosed,
    BreakerOpen,
    Buffered,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Executed,
        Outcome::Vetoed,
        Outcome::LowScore,
        Outcome::RiskRejected,
        Outcome::GateClosed,
        Outcome::BreakerOpen,
        Outcome::Buffered,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Vetoed => "vetoed",
            Outcome::LowScore => "low_score",
            Outcome::RiskRejected => "risk_rejected",
            Outcome::GateClosed => "gate_closed",
            Outcome::BreakerOpen => "breaker_open",
            Outcome::Buffered => "buffered",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn sessions_follow_the_contract_hours_on_weekdays() {
        let kc = contract("KC").unwrap();
        // 2026-01-05 is a Monday.
        let monday = 1_767_571_200_000u64; // 2026-01-05T00:00:00Z
        let at = |h: u64, m: u64| monday + (h * 3600 + m * 60) * 1000;
        assert!(!kc.is_open(at(9, 14)));
        assert!(kc.is_open(at(9, 15)));
        assert!(kc.is_open(at(18, 29)));
        assert!(!kc.is_open(at(18, 30)));
        assert!(!kc.is_open(at(12, 0) + 5 * 86_400_000), "Saturday");
        assert!(contract("CC").unwrap().is_open(at(9, 45)));
        assert!(contract("ZZ").is_none());
    }

    #[test]
    fn positions_average_realize_and_flip() {
        let kc = contract("KC").unwrap();
        let mut p = Position::default();
        assert_eq!(p.apply(Side::Buy, d("2"), d("300.00"), &kc), d("0"));
        assert_eq!(p.apply(Side::Buy, d("2"), d("302.00"), &kc), d("0"));
        assert_eq!((p.qty, p.avg_price), (d("4"), d("301.00")));
        // Sell 1 at 303: (303 - 301) cents * 1 contract * $375 = $750.
        assert_eq!(p.apply(Side::Sell, d("1"), d("303.00"), &kc), d("750"));
        assert_eq!((p.qty, p.avg_price), (d("3"), d("301.00")));
        // Sell 5 at 300: closes 3 at a 1-cent loss (-$1,125), opens 2 short at 300.
        assert_eq!(p.apply(Side::Sell, d("5"), d("300.00"), &kc), d("-1125"));
        assert_eq!((p.qty, p.avg_price), (d("-2"), d("300.00")));
        assert_eq!(p.unrealized(d("299.00"), &kc), d("750"), "short gains when price falls");
        assert_eq!(p.apply(Side::Buy, d("2"), d("299.50"), &kc), d("375"));
        assert_eq!(p, Position::default());
    }

    #[test]
    fn client_order_ids_are_deterministic() {
        assert_eq!(client_order_id("KC", "news", 42), "KC-news-00000042");
        assert_eq!(client_order_id("KC", "news", 42), client_order_id("KC", "news", 42));
    }
}
