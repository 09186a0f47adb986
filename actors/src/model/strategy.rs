//! The strategies an engine trades, by name: the configuration, the journal
//! (`strategy` columns, client order ids) and the API spell them as
//! [`Strategy::as_str`] gives them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// Headlines read by the analyzer.
    News,
    /// The momentum of recent closes.
    Momentum,
    /// The orders that close a position at PANIC (never configured).
    Flatten,
    /// The two legs that move a position from the front month to the next
    /// (never configured).
    Roll,
}

impl Strategy {
    /// What a configuration may enable (`flatten` and `roll` are the
    /// engine's own).
    pub const CONFIGURABLE: [Strategy; 2] = [Strategy::News, Strategy::Momentum];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::News => "news",
            Strategy::Momentum => "momentum",
            Strategy::Flatten => "flatten",
            Strategy::Roll => "roll",
        }
    }

    /// A configurable strategy by name; the error lists the names accepted.
    pub fn parse(s: &str) -> Result<Strategy, String> {
        Strategy::CONFIGURABLE
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown strategy {s:?}: use news or momentum"))
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_flatten_is_not_configurable() {
        for s in Strategy::CONFIGURABLE {
            assert_eq!(Strategy::parse(s.as_str()), Ok(s));
        }
        assert!(Strategy::parse("flatten").is_err());
        assert!(Strategy::parse("roll").is_err());
        assert!(Strategy::parse("News")
            .unwrap_err()
            .contains("news or momentum"));
    }
}
