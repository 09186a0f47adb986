//! Capital-tier modes: what the operator chose (a fixed tier, or `auto`), and the
//! tiers the automatic controller moves between by account equity, with
//! hysteresis so that equity hovering near a threshold does not flap the mode.
//!
//! The tiers are configured (`[mode].tiers`: names, thresholds, parameters);
//! the defaults are NANO, MICRO, MINI and BALANCED.

use super::{Kind, Strategy};
use crate::journal::ModeRecord;
use rust_decimal::Decimal;
use serde::Serialize;
use std::fmt;

/// A capital tier, by its name: the name is held inline (at most
/// [`Tier::MAX_NAME`] bytes), so it is `Copy` and compares by name without a
/// table of names anywhere. Its place among the tiers (and so "up" and
/// "down") is the configured order, in [`Tiers`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tier {
    len: u8,
    name: [u8; Tier::MAX_NAME],
}

/// The most tiers a configuration may have.
pub const MAX_TIERS: usize = 16;

impl Tier {
    /// The longest tier name, in bytes (see [`Tier::check_name`]).
    pub const MAX_NAME: usize = 32;
    pub const NANO: Tier = Tier::constant("NANO");
    pub const MICRO: Tier = Tier::constant("MICRO");
    pub const MINI: Tier = Tier::constant("MINI");
    pub const BALANCED: Tier = Tier::constant("BALANCED");

    const fn constant(name: &str) -> Tier {
        let bytes = name.as_bytes();
        let mut buf = [0u8; Tier::MAX_NAME];
        let mut i = 0;
        while i < bytes.len() {
            buf[i] = bytes[i];
            i += 1;
        }
        Tier {
            len: bytes.len() as u8,
            name: buf,
        }
    }

    /// The tier called `name` (a configured one: check it with
    /// [`Tier::check_name`] first; a longer name is cut at
    /// [`Tier::MAX_NAME`] bytes on a character boundary).
    pub fn named(name: &str) -> Tier {
        let mut end = name.len().min(Tier::MAX_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Tier::constant(&name[..end])
    }

    /// A tier name: 1 to 32 of A-Z, 0-9 and `_`, starting with a letter (so
    /// never `auto`, and safe in the journal's `auto:<TIER>`).
    pub fn check_name(name: &str) -> Result<(), String> {
        let ok = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "tier name {name:?}: use 1 to 32 capital letters, digits or _, starting with a letter (e.g. MICRO)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut on a character boundary: always UTF-8.
        std::str::from_utf8(&self.name[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What the operator asks for: a fixed tier, or the automatic controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    Auto,
    Fixed(Tier),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeState {
    pub current: Tier,
    pub auto: bool,
    pub since_ms: u64,
}

impl ModeState {
    /// A fresh daemon with the default tiers starts in NANO, under the
    /// automatic controller ([`ModeState::initial_in`] for configured tiers).
    pub fn initial(now_ms: u64) -> ModeState {
        ModeState {
            current: Tier::NANO,
            auto: true,
            since_ms: now_ms,
        }
    }

    /// A fresh daemon starts in the lowest tier, under the automatic controller.
    pub fn initial_in(tiers: &Tiers, now_ms: u64) -> ModeState {
        ModeState {
            current: tiers.lowest(),
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

    /// What the journal keeps of it.
    pub fn record(&self) -> ModeRecord {
        ModeRecord {
            auto: self.auto,
            tier: self.current.to_string(),
        }
    }

    /// The journal's form (`auto:NANO`, `manual:MICRO`), which events and logs
    /// show too.
    pub fn encode(&self) -> String {
        self.record().encode()
    }

    /// A journaled mode against the configured `tiers`. A tier the
    /// configuration no longer has is `Err(Unknown)` with what the journal
    /// said, so the caller can say so and start from the lowest tier.
    pub fn from_record(
        rec: ModeRecord,
        since_ms: u64,
        tiers: &Tiers,
    ) -> Result<ModeState, DecodeError> {
        match tiers.find(&rec.tier) {
            Some(current) => Ok(ModeState {
                current,
                auto: rec.auto,
                since_ms,
            }),
            None => Err(DecodeError::Unknown {
                name: rec.tier,
                auto: rec.auto,
            }),
        }
    }

    /// Reads the journal's form against the configured `tiers`.
    pub fn decode(s: &str, since_ms: u64, tiers: &Tiers) -> Result<ModeState, DecodeError> {
        let rec = ModeRecord::decode(s).map_err(DecodeError::Corrupt)?;
        ModeState::from_record(rec, since_ms, tiers)
    }
}

/// Why a journaled mode does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Corrupt(String),
    /// A tier the configuration no longer has.
    Unknown {
        name: String,
        auto: bool,
    },
}

/// One capital tier's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TierParams {
    pub tier: Tier,
    /// Account equity (dollars) at which this tier starts.
    pub threshold: Decimal,
    /// Order sizes are multiplied by this (0 < f <= 1).
    pub size_factor: Decimal,
    /// Positions open across the portfolio this tier allows (>= 1).
    pub max_open_positions: usize,
    /// Strategies (`news`, `momentum`) the engines may trade in this tier.
    pub strategies: Vec<String>,
}

/// The tiers and the hysteresis of the automatic controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiers {
    /// From the lowest threshold (0) up; 1 to `MAX_TIERS` of them.
    pub tiers: Vec<TierParams>,
    /// Up when equity >= next tier's threshold × (1 + up_margin).
    pub up_margin: Decimal,
    /// Down when equity < current tier's threshold × (1 − down_margin).
    pub down_margin: Decimal,
}

impl Default for Tiers {
    fn default() -> Self {
        let tier = |tier: Tier, threshold: i64, size_factor: Decimal, open: usize| TierParams {
            tier,
            threshold: Decimal::from(threshold),
            size_factor,
            max_open_positions: open,
            strategies: Kind::ALL.iter().map(|k| k.as_str().to_owned()).collect(),
        };
        Tiers {
            tiers: vec![
                tier(Tier::NANO, 0, Decimal::new(25, 2), 2),
                tier(Tier::MICRO, 10_000, Decimal::new(50, 2), 3),
                tier(Tier::MINI, 50_000, Decimal::new(75, 2), 4),
                tier(Tier::BALANCED, 250_000, Decimal::ONE, 6),
            ],
            up_margin: Decimal::new(10, 2),
            down_margin: Decimal::new(20, 2),
        }
    }
}

impl Tiers {
    /// Where `t` is among the tiers (0: the lowest).
    pub fn index(&self, t: Tier) -> Option<usize> {
        self.tiers.iter().position(|p| p.tier == t)
    }

    /// The configured tier called `name`.
    pub fn find(&self, name: &str) -> Option<Tier> {
        self.tiers
            .iter()
            .map(|p| p.tier)
            .find(|t| t.as_str() == name)
    }

    pub fn lowest(&self) -> Tier {
        self.tiers.first().map_or(Tier::NANO, |p| p.tier)
    }

    /// The names, lowest first: `NANO, MICRO, MINI, BALANCED`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.tiers.iter().map(|p| p.tier.as_str()).collect();
        names.join(", ")
    }

    /// An operator's choice: a configured tier's name, or `auto`.
    pub fn choice(&self, s: &str) -> Result<ModeChoice, String> {
        if s == "auto" {
            return Ok(ModeChoice::Auto);
        }
        self.find(s)
            .map(ModeChoice::Fixed)
            .ok_or_else(|| format!("unknown mode {s:?}: use one of {} or auto", self.names()))
    }

    /// `t`'s parameters (a tier not configured reads as the lowest).
    pub fn params(&self, t: Tier) -> &TierParams {
        &self.tiers[self.index(t).unwrap_or(0)]
    }

    /// Equity at or above which the controller moves up into tier `i` (its
    /// threshold × (1 + up_margin)).
    fn up_at(&self, i: usize) -> Decimal {
        self.tiers[i].threshold * (Decimal::ONE + self.up_margin)
    }

    /// Equity below which the controller moves down out of tier `i` (its
    /// threshold × (1 − down_margin)).
    fn down_below(&self, i: usize) -> Decimal {
        self.tiers[i].threshold * (Decimal::ONE - self.down_margin)
    }

    /// The tier the automatic controller moves to from `current` at `equity`,
    /// with hysteresis; it may move several tiers at once (repeat the up rule
    /// while it holds, else repeat the down rule while it holds). No flapping:
    /// between the margins nothing changes.
    pub fn next_tier(&self, current: Tier, equity: Decimal) -> Tier {
        let start = self.index(current).unwrap_or(0);
        let mut t = start;
        while t + 1 < self.tiers.len() && equity >= self.up_at(t + 1) {
            t += 1;
        }
        if t == start {
            while t > 0 && equity < self.down_below(t) {
                t -= 1;
            }
        }
        self.tiers[t].tier
    }

    /// Why the controller moved from `from` to `to` at `equity` (for the journal
    /// and the `mode_changed` event), naming the last rule that applied, e.g.
    /// `auto: equity $11000.00 >= MICRO threshold $10000 × 1.10`.
    pub fn reason(&self, from: Tier, to: Tier, equity: Decimal) -> String {
        let money = equity.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
        let factor = |mut f: Decimal| {
            f = f.normalize();
            if f.scale() < 2 {
                f.rescale(2);
            }
            f
        };
        let (from_i, to_i) = (self.index(from).unwrap_or(0), self.index(to).unwrap_or(0));
        if to_i > from_i {
            format!(
                "auto: equity ${money:.2} >= {to} threshold ${} × {}",
                self.params(to).threshold.normalize(),
                factor(Decimal::ONE + self.up_margin)
            )
        } else {
            // The last tier left on the way down is the one just above `to`.
            let left = &self.tiers[(to_i + 1).min(self.tiers.len() - 1)];
            format!(
                "auto: equity ${money:.2} < {} threshold ${} × {}",
                left.tier,
                left.threshold.normalize(),
                factor(Decimal::ONE - self.down_margin)
            )
        }
    }

    /// Checks the values; the error names the key and what to do.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            return Err((
                "tiers",
                format!(
                    "needs 1 to {MAX_TIERS} tiers, lowest threshold first, got {}",
                    self.tiers.len()
                ),
            ));
        }
        for (i, p) in self.tiers.iter().enumerate() {
            let t = p.tier;
            Tier::check_name(t.as_str()).map_err(|what| ("tiers.name", what))?;
            if self.tiers[..i].iter().any(|q| q.tier == t) {
                return Err(("tiers.name", format!("tier {t} is listed twice")));
            }
            if i == 0 && p.threshold != Decimal::ZERO {
                return Err((
                    "tiers.threshold",
                    format!(
                        "the lowest tier ({t}) starts at 0, got {}: every equity has a tier",
                        p.threshold.normalize()
                    ),
                ));
            }
            if i > 0 && p.threshold <= self.tiers[i - 1].threshold {
                return Err((
                    "tiers.threshold",
                    format!(
                        "thresholds must rise from the first tier to the last: {t}'s {} is not above {}'s {}",
                        p.threshold.normalize(),
                        self.tiers[i - 1].tier,
                        self.tiers[i - 1].threshold.normalize()
                    ),
                ));
            }
            if p.size_factor <= Decimal::ZERO || p.size_factor > Decimal::ONE {
                return Err((
                    "tiers.size_factor",
                    format!(
                        "{t}'s size_factor must be above 0 and at most 1, got {}",
                        p.size_factor.normalize()
                    ),
                ));
            }
            if p.max_open_positions == 0 {
                return Err((
                    "tiers.max_open_positions",
                    format!("{t}'s max_open_positions must be at least 1"),
                ));
            }
            for (j, s) in p.strategies.iter().enumerate() {
                if let Err(why) = Strategy::parse(s) {
                    return Err((
                        "tiers.strategies",
                        format!("{t}'s strategy {why}; list strategy kinds (news, momentum, mean_reversion, breakout) or names"),
                    ));
                }
                if p.strategies[..j].contains(s) {
                    return Err((
                        "tiers.strategies",
                        format!("{t}'s strategies list {s:?} twice"),
                    ));
                }
            }
        }
        for (key, m) in [
            ("up_margin", self.up_margin),
            ("down_margin", self.down_margin),
        ] {
            if m < Decimal::ZERO || m >= Decimal::ONE {
                return Err((
                    key,
                    format!(
                        "must be between 0 and 1 (0 <= margin < 1, 0.10 = 10 %), got {}",
                        m.normalize()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "mode_tests.rs"]
mod tests;
