//! Plain domain types: no actors, no I/O, no clock reads, no mutable global
//! state. Imports nothing but std, serde, rust_decimal, chrono, chrono-tz
//! (New York's time from the time zone database) and toml (the trading
//! calendar is a data file embedded at build, parsed once: `calendar.rs`).

mod book;
pub mod calendar;
mod holdings;
mod limits;
mod market;
mod mode;
mod position;
mod results;
mod risk;
mod strategy;

pub use book::Book;
pub use holdings::Holdings;
pub use limits::{GuardLimits, PortfolioLimits};
pub use market::{
    civil_from_days, client_order_id, contract, days_from_civil, month_of, new_york_offset_min,
    root, Analyzed, Bar, ContractSpec, Fill, FrontMonth, Headline, Limit, Order, Outcome,
    Sentiment, Side, Source, BAR_MS, KNOWN_SYMBOLS,
};
pub use mode::{DecodeError, ModeChoice, ModeState, Tier, TierParams, Tiers, MAX_TIERS};
pub use position::{Applied, Closed, Lot, Position};
pub use results::{
    round_trips, trade_stats, CurveResults, CurveStats, RoundTrip, TradeStats, TradeTally,
};
pub use risk::{RiskLevel, RiskState};
pub use strategy::{
    check_set, Exits, Held, Kind, OrderType, Param, Params, Strategy, StrategySpec, MAX_NAME,
};
