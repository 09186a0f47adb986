//! `[[engines]]`: one engine per entry, with its contract, capital, limits,
//! strategy weights and HTTP news feeds. Keys left out of an entry take the
//! per-entry defaults in `entries.rs`.
//!
//! Invariant: an engine id is also a path segment (`master/engines/<id>`) and a
//! file name (`<data_dir>/orders/<id>.log`), so it is checked before anything
//! is named after it, and no two engines share one.

use super::durations::duration;
use super::strategies::Strategies;
use super::{entries, invalid, Invalid};
use commodore_actors::model::{contract, StrategySpec, KNOWN_SYMBOLS};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// More feeds than this per engine is a mistake, not a source list.
const MAX_FEEDS: usize = 16;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub id: String,
    /// The contract it trades (KC, CC); empty: the id.
    #[serde(default)]
    pub symbol: String,
    /// Capital the allocator sizes against, in dollars (a decimal string).
    #[serde(default = "entries::engine_capital")]
    pub capital: Decimal,
    /// Largest net position, in contracts.
    #[serde(default = "entries::engine_max_position")]
    pub max_position: u32,
    /// Its strategies (`[[engines.strategies]]`, or the first round's
    /// `{ news = 0.5, momentum = 0.5 }`): each weight 0..=1, at most 1 in
    /// total (`strategies.rs`).
    #[serde(default = "Strategies::default_pair")]
    pub strategies: Strategies,
    /// HTTP news sources polled beside the bundled data.
    #[serde(default)]
    pub feeds: Vec<NewsFeed>,
}

/// One HTTP news source of an engine.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewsFeed {
    /// `json`, `rss` or `atom` (RSS and Atom are both read by one parser).
    pub kind: FeedKind,
    pub url: String,
    #[serde(with = "duration", default = "entries::feed_every")]
    pub every: Duration,
    #[serde(with = "duration", default = "entries::feed_timeout")]
    pub timeout: Duration,
    #[serde(default = "entries::feed_attempts")]
    pub attempts: u32,
    #[serde(default = "entries::feed_max_bytes")]
    pub max_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Json,
    /// RSS or Atom: the document says which.
    Rss,
    /// The same reader as `rss`: the document says which.
    Atom,
}

impl Engine {
    pub fn symbol(&self) -> &str {
        if self.symbol.is_empty() {
            &self.id
        } else {
            &self.symbol
        }
    }

    /// The id alone: 1 to 32 letters, digits, `-` or `_`.
    fn validate_id(&self) -> Result<(), Invalid> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.id.is_empty() || self.id.len() > 32 || !self.id.chars().all(ok_char) {
            return invalid(
                "engines.id",
                format!(
                    "{:?} is not a valid id: 1 to 32 letters, digits, - or _",
                    self.id
                ),
            );
        }
        Ok(())
    }

    /// Everything but the id.
    fn validate(&self) -> Result<(), Invalid> {
        let id = &self.id;
        if contract(self.symbol()).is_none() {
            return invalid(
                "engines.symbol",
                format!(
                    "engine {id:?}: no contract {:?}; use one of {} (or set symbol)",
                    self.symbol(),
                    KNOWN_SYMBOLS.join(", ")
                ),
            );
        }
        if self.capital <= Decimal::ZERO || self.capital > Decimal::from(1_000_000_000_000i64) {
            return invalid(
                "engines.capital",
                format!("engine {id:?}: must be above zero and at most 1000000000000"),
            );
        }
        if self.max_position == 0 || self.max_position > 10_000 {
            return invalid(
                "engines.max_position",
                format!("engine {id:?}: must be between 1 and 10000"),
            );
        }
        for f in &self.feeds {
            f.validate(id)?;
        }
        if self.feeds.len() > MAX_FEEDS {
            return invalid("engines.feeds", format!("engine {id:?}: at most 16 feeds"));
        }
        self.validate_strategies()
    }

    fn validate_strategies(&self) -> Result<(), Invalid> {
        self.strategies.specs(&self.id).map(|_| ())
    }

    /// Its strategies, checked (call after `validate`).
    pub fn strategy_specs(&self) -> Vec<StrategySpec> {
        self.strategies
            .specs(&self.id)
            .unwrap_or_else(|(key, what)| panic!("the config was checked: {key}: {what}"))
    }
}

impl NewsFeed {
    /// `engine` names the owner in the message.
    fn validate(&self, engine: &str) -> Result<(), Invalid> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return invalid(
                "engines.feeds.url",
                format!(
                    "engine {engine:?}: {:?} must start with http:// or https://",
                    self.url
                ),
            );
        }
        if self.every < Duration::from_secs(1)
            || self.timeout.is_zero()
            || self.timeout > self.every.max(Duration::from_secs(1)) * 10
        {
            return invalid(
                "engines.feeds.every",
                format!("engine {engine:?}: every must be at least 1s, timeout above zero"),
            );
        }
        if self.attempts == 0 || self.attempts > 10 {
            return invalid(
                "engines.feeds.attempts",
                format!("engine {engine:?}: must be between 1 and 10"),
            );
        }
        if self.max_bytes < 1024 || self.max_bytes > 64 << 20 {
            return invalid(
                "engines.feeds.max_bytes",
                format!("engine {engine:?}: must be between 1024 and 67108864"),
            );
        }
        Ok(())
    }
}

/// Every engine, in order: its id, that the id is not taken, then the rest.
pub(super) fn validate(engines: &[Engine]) -> Result<(), Invalid> {
    let mut seen = HashSet::new();
    for en in engines {
        en.validate_id()?;
        if !seen.insert(&en.id) {
            return invalid("engines.id", format!("{:?} appears twice", en.id));
        }
        en.validate()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::over_defaults;
    use super::*;

    #[test]
    fn keys_left_out_of_an_entry_take_the_entry_defaults() {
        let c = over_defaults(
            "[[engines]]\nid = \"KC\"\nfeeds = [{ kind = \"rss\", url = \"https://x.example\" }]\n",
        );
        let [e] = &c.engines[..] else {
            panic!("the operator's array replaces the default one")
        };
        assert_eq!(e.symbol(), "KC");
        assert_eq!(e.capital, Decimal::from(250_000));
        assert_eq!(e.max_position, 10);
        assert_eq!(e.strategies, Strategies::default_pair());
        let f = &e.feeds[0];
        assert_eq!(
            (f.every, f.timeout),
            (Duration::from_secs(60), Duration::from_secs(10))
        );
        assert_eq!((f.attempts, f.max_bytes), (3, 1 << 20));
        assert_eq!(validate(&c.engines), Ok(()));
    }

    #[test]
    fn a_taken_id_is_reported_before_the_rest_of_its_engine() {
        let c =
            over_defaults("[[engines]]\nid = \"KC\"\n[[engines]]\nid = \"KC\"\nsymbol = \"ZZ\"\n");
        let (key, what) = validate(&c.engines).unwrap_err();
        assert_eq!(
            (key.as_str(), what.as_str()),
            ("engines.id", "\"KC\" appears twice")
        );
    }
}
