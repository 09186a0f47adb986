//! Capital-tier modes. The automatic controller (hysteresis between tiers) comes
//! with its issue; today the mode is what the operator chose, or `auto`.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    Nano,
    Micro,
    Mini,
    Balanced,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Nano, Tier::Micro, Tier::Mini, Tier::Balanced];

    /// Positions open across the portfolio this tier allows.
    pub fn max_open_positions(self) -> usize {
        match self {
            Tier::Nano => 2,
            Tier::Micro => 3,
            Tier::Mini => 4,
            Tier::Balanced => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Nano => "NANO",
            Tier::Micro => "MICRO",
            Tier::Mini => "MINI",
            Tier::Balanced => "BALANCED",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown mode {s:?}: use one of NANO, MICRO, MINI, BALANCED or auto")
            })
    }
}

/// What the operator asks for: a fixed tier, or the automatic controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    Auto,
    Fixed(Tier),
}

impl FromStr for ModeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            Ok(ModeChoice::Auto)
        } else {
            s.parse().map(ModeChoice::Fixed)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeState {
    pub current: Tier,
    pub auto: bool,
    pub since_ms: u64,
}

impl ModeState {
    /// A fresh daemon starts in the smallest tier, under the automatic controller.
    pub fn initial(now_ms: u64) -> ModeState {
        ModeState {
            current: Tier::Nano,
            auto: true,
            since_ms: now_ms,
        }
    }

    /// The state after the operator's choice, or `None` when nothing changes.
    /// `auto` keeps the current tier until the controller moves it.
    pub fn chosen(&self, choice: ModeChoice, now_ms: u64) -> Option<ModeState> {
        let next = match choice {
            ModeChoice::Auto => ModeState {
                current: self.current,
                auto: true,
                since_ms: now_ms,
            },
            ModeChoice::Fixed(t) => ModeState {
                current: t,
                auto: false,
                since_ms: now_ms,
            },
        };
        (next.current != self.current || next.auto != self.auto).then_some(next)
    }

    /// The journal's form: `auto:NANO` or `manual:MICRO`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}",
            if self.auto { "auto" } else { "manual" },
            self.current
        )
    }

    pub fn decode(s: &str, since_ms: u64) -> Result<ModeState, String> {
        let (how, tier) = s
            .split_once(':')
            .ok_or_else(|| format!("mode {s:?} is not <auto|manual>:<TIER>"))?;
        let auto = match how {
            "auto" => true,
            "manual" => false,
            other => return Err(format!("mode {s:?}: {other:?} is neither auto nor manual")),
        };
        Ok(ModeState {
            current: tier.parse()?,
            auto,
            since_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!("auto".parse(), Ok(ModeChoice::Auto));
        assert_eq!("MINI".parse(), Ok(ModeChoice::Fixed(Tier::Mini)));
        assert!("mini"
            .parse::<ModeChoice>()
            .unwrap_err()
            .contains("or auto"));
    }

    #[test]
    fn choosing_and_encoding() {
        let s = ModeState::initial(0);
        assert_eq!(s.chosen(ModeChoice::Auto, 1), None, "already auto");
        let m = s.chosen(ModeChoice::Fixed(Tier::Micro), 2).unwrap();
        assert_eq!((m.current, m.auto), (Tier::Micro, false));
        assert_eq!(m.encode(), "manual:MICRO");
        assert_eq!(ModeState::decode(&m.encode(), 2), Ok(m.clone()));
        let a = m.chosen(ModeChoice::Auto, 3).unwrap();
        assert_eq!((a.current, a.auto), (Tier::Micro, true));
        assert!(ModeState::decode("sometimes:NANO", 0).is_err());
        assert!(ModeState::decode("auto:HUGE", 0).is_err());
        assert!(ModeState::decode("NANO", 0).is_err());
    }
}
