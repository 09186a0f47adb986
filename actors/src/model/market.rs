//! Contracts, market data, signals, orders, fills and positions. Money, prices and
//! quantities are `Decimal`; `f64` only for confidences and statistics.

use super::calendar::{calendar, ContractMonth};
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
    /// Regular session open and close, minutes after midnight New York time
    /// (ICE softs trade on New York hours), from the trading calendar
    /// (`config/data/calendar.toml`), which also has the holidays and early
    /// closes ([`ContractSpec::why_closed`]).
    pub open_et_min: u16,
    pub close_et_min: u16,
}

/// The contracts commodore knows; engines trade the one named by their symbol.
/// An instrument's label (`KCH26`) names its contract's spec too.
pub fn contract(symbol: &str) -> Option<ContractSpec> {
    match root(symbol) {
        "KC" => Some(ContractSpec {
            symbol: "KC",
            name: "Coffee C",
            size: Decimal::from(37_500),
            point_value: Decimal::from(375),
            price_unit: "cents/lb",
            tick: Decimal::new(5, 2),
            margin: Decimal::from(12_000),
            open_et_min: hours("KC").0,
            close_et_min: hours("KC").1,
        }),
        "CC" => Some(ContractSpec {
            symbol: "CC",
            name: "Cocoa",
            size: Decimal::from(10),
            point_value: Decimal::from(10),
            price_unit: "USD/t",
            tick: Decimal::ONE,
            margin: Decimal::from(18_000),
            open_et_min: hours("CC").0,
            close_et_min: hours("CC").1,
        }),
        _ => None,
    }
}

pub const KNOWN_SYMBOLS: &[&str] = &["KC", "CC"];

/// The contract of an instrument: `KC` of `KCH26`; a bare symbol is its own
/// (the front month's continuous series, or an order of an earlier build).
pub fn root(instrument: &str) -> &str {
    match ContractMonth::parse(instrument) {
        Some((root, _)) if KNOWN_SYMBOLS.contains(&root.as_str()) => &instrument[..root.len()],
        _ => instrument,
    }
}

/// The delivery month an instrument names (`KCH26`: March 2026); `None` for a
/// bare symbol.
pub fn month_of(instrument: &str) -> Option<ContractMonth> {
    match ContractMonth::parse(instrument) {
        Some((root, m)) if KNOWN_SYMBOLS.contains(&root.as_str()) => Some(m),
        _ => None,
    }
}

/// A known contract's regular hours; the calendar's check requires them.
fn hours(symbol: &str) -> (u16, u16) {
    calendar()
        .hours(symbol)
        .expect("the calendar has every known contract's hours")
}

impl ContractSpec {
    /// Whether the market is open at `at_ms` (Unix ms, UTC).
    pub fn is_open(&self, at_ms: u64) -> bool {
        self.why_closed(at_ms).is_none()
    }

    /// Why the market is closed at `at_ms`, or `None` when it is open: the
    /// calendar's session of that New York day (weekends, holidays, early
    /// closes, a year it does not cover).
    pub fn why_closed(&self, at_ms: u64) -> Option<String> {
        let (day, minute) = new_york(at_ms);
        match calendar().session(self.symbol, day) {
            Err(why) => Some(why),
            Ok((open, close)) if minute < open || minute >= close => {
                Some(format!("{} is closed at that time", self.symbol))
            }
            Ok(_) => None,
        }
    }

    /// Minutes to the close when the market is open at `at_ms`, with the New
    /// York day (days since the epoch) it closes on.
    pub fn minutes_to_close(&self, at_ms: u64) -> Option<(u16, i64)> {
        let (day, minute) = new_york(at_ms);
        match calendar().session(self.symbol, day) {
            Ok((open, close)) if minute >= open && minute < close => Some((close - minute, day)),
            _ => None,
        }
    }

    /// When the session open on the New York day of `at_ms` was (Unix ms),
    /// if that day has a session and it has opened by `at_ms`.
    pub fn session_open_ms(&self, at_ms: u64) -> Option<u64> {
        let (day, minute) = new_york(at_ms);
        let (open, _) = calendar().session(self.symbol, day).ok()?;
        (minute >= open).then(|| at_ms - u64::from(minute - open) * 60_000 - at_ms % 60_000)
    }

    /// The instrument an engine of this contract trades at `at_ms`: its
    /// front month (`KCH26`), rolled to the next listed month
    /// `days_before` business days before the first notice day; the bare
    /// symbol where the calendar names no front month (a year it does not
    /// cover: the market is closed then).
    pub fn front(&self, at_ms: u64, days_before: u16) -> String {
        let (day, _) = new_york(at_ms);
        calendar()
            .front_month(self.symbol, day, days_before)
            .map_or_else(|| self.symbol.to_owned(), |m| m.label(self.symbol))
    }

    /// Whether a bar of `instrument` at `at_ms` is of the month an engine
    /// trades then: a bare symbol is (the front series), a named month only
    /// when it is the front one.
    pub fn is_front(&self, instrument: &str, at_ms: u64, days_before: u16) -> bool {
        month_of(instrument).is_none() || self.front(at_ms, days_before) == instrument
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

/// One contract's front month, worked out once per New York day (the
/// calendar's rules walk the business days: the engine, its analyzer and
/// its sentinel ask on every bar).
#[derive(Debug, Clone)]
pub struct FrontMonth {
    spec: ContractSpec,
    days_before: u16,
    /// The market times `[from, to)` the label holds for: one New York day.
    from: u64,
    to: u64,
    label: String,
}

impl FrontMonth {
    /// `spec`'s front month, rolled `days_before` business days before first
    /// notice ([`ContractSpec::front`]).
    pub fn new(spec: ContractSpec, days_before: u16) -> FrontMonth {
        FrontMonth {
            spec,
            days_before,
            from: 1,
            to: 0,
            label: String::new(),
        }
    }

    /// The front month at `at_ms`.
    pub fn at(&mut self, at_ms: u64) -> &str {
        if !(self.from..self.to).contains(&at_ms) {
            let (_, minute) = new_york(at_ms);
            let into_day = u64::from(minute) * 60_000 + at_ms % 60_000;
            // The New York day around `at_ms` (on a day the clocks change,
            // an hour off at its edge, in the night, with every market shut).
            self.from = at_ms - into_day.min(at_ms);
            self.to = self.from + 86_400_000;
            self.label = self.spec.front(at_ms, self.days_before);
        }
        &self.label
    }

    /// Whether a bar of `instrument` at `at_ms` is the front month's
    /// ([`ContractSpec::is_front`]).
    pub fn is_front(&mut self, instrument: &str, at_ms: u64) -> bool {
        month_of(instrument).is_none() || self.at(at_ms) == instrument
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day since the epoch (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// 0 = Monday (1970-01-01 was a Thursday).
pub(super) fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// New York's offset from UTC at `at_ms`, in minutes (-240 in daylight
/// time, -300 in standard time), from the IANA time zone database: the
/// rules as they were at that date (before 2007 daylight time ran from
/// April to October).
pub fn new_york_offset_min(at_ms: u64) -> i64 {
    use chrono::{Offset, TimeZone};
    let Some(utc) = chrono::DateTime::from_timestamp_millis(at_ms as i64) else {
        return -300;
    };
    let offset = chrono_tz::America::New_York.offset_from_utc_datetime(&utc.naive_utc());
    i64::from(offset.fix().local_minus_utc()) / 60
}

/// (New York day since the epoch, minute of that day) at `at_ms`.
fn new_york(at_ms: u64) -> (i64, u16) {
    let local_ms = at_ms as i64 + new_york_offset_min(at_ms) * 60_000;
    let day = local_ms.div_euclid(86_400_000);
    let minute = (local_ms.rem_euclid(86_400_000) / 60_000) as u16;
    (day, minute)
}

/// The length of a bar: every bar is a 1-minute bar.
pub const BAR_MS: u64 = 60_000;

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Its instrument: a contract month (`KCH26`), or the bare symbol for
    /// the front month's continuous series (data without contract months).
    pub symbol: String,
    /// Its open (the data's time); it is known at [`Bar::closes_at_ms`].
    pub at_ms: u64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: u64,
}

impl Bar {
    /// When the market has said this bar, close included: its open plus
    /// [`BAR_MS`]. Nothing may act on it before.
    pub fn closes_at_ms(&self) -> u64 {
        self.at_ms + BAR_MS
    }

    /// The contract it is a bar of (`KC` of `KCH26`).
    pub fn root(&self) -> &str {
        root(&self.symbol)
    }
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
    /// What it read: a headline, or an alert of the sentinel.
    pub source: Source,
    pub detail: String,
    /// The last price the analyzer had seen when it made the signal (the
    /// engine's price collar compares the quote with it).
    pub price: Option<Decimal>,
}

/// What an [`Analyzed`] reading read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A headline (the `news` strategies take it).
    Headline,
    /// A directional alert of the sentinel (the `momentum` strategies take it).
    Alert,
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

/// A limit order's terms: it fills at `price` or better, and what is not
/// filled when the market reaches `expires_ms` (market time) ends there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub price: Decimal,
    pub expires_ms: u64,
}

impl Limit {
    /// Whether `price` is at this limit or better for a `side` order.
    pub fn allows(&self, side: Side, price: Decimal) -> bool {
        match side {
            Side::Buy => price <= self.price,
            Side::Sell => price >= self.price,
        }
    }
}

/// An order (market, or limit when `limit` says so) with the price it was
/// decided at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// `<engine>-<strategy>-<decision seq>-<instrument>`: deterministic, so a
    /// re-driven order after a restart is recognised, never duplicated.
    pub client_order_id: String,
    pub engine: String,
    pub strategy: String,
    pub decision_seq: u64,
    /// The instrument: its contract month (`KCH26`); a bare symbol in orders
    /// of builds before contract months.
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub ref_price: Decimal,
    pub at_ms: u64,
    /// `None`: a market order.
    pub limit: Option<Limit>,
}

impl Order {
    /// `market` or `limit <price> until <ms>`, as logs and events say it.
    pub fn kind(&self) -> String {
        match &self.limit {
            None => "market".to_owned(),
            Some(l) => format!("limit {} until {}", l.price, l.expires_ms),
        }
    }
}

/// The client order id of decision `decision_seq`'s order in `instrument`.
pub fn client_order_id(
    engine: &str,
    strategy: &str,
    decision_seq: u64,
    instrument: &str,
) -> String {
    format!("{engine}-{strategy}-{decision_seq:08}-{instrument}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub client_order_id: String,
    pub engine: String,
    /// The instrument, as its order's.
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub at_ms: u64,
    /// Its number among its order's fills, from 1: an order may fill in
    /// parts, and the journal takes each part once.
    pub part: u32,
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
#[path = "market_tests.rs"]
mod tests;
