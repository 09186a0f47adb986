//! Capital-tier modes: what the operator chose (a fixed tier, or `auto`), and the
//! tiers the automatic controller moves between by account equity, with
//! hysteresis so that equity hovering near a threshold does not flap the mode.

use rust_decimal::Decimal;
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

    /// Positions open across the portfolio this tier allows by default (the same
    /// numbers as [`Tiers::default`]); the configured tiers override it.
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

/// The strategies a tier may allow.
const STRATEGIES: [&str; 2] = ["news", "momentum"];

/// The tiers and the hysteresis of the automatic controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiers {
    /// In Tier order: NANO, MICRO, MINI, BALANCED.
    pub tiers: [TierParams; 4],
    /// Up when equity >= next tier's threshold × (1 + up_margin).
    pub up_margin: Decimal,
    /// Down when equity < current tier's threshold × (1 − down_margin).
    pub down_margin: Decimal,
}

impl Default for Tiers {
    fn default() -> Self {
        let tier = |tier: Tier, threshold: i64, size_factor: Decimal| TierParams {
            tier,
            threshold: Decimal::from(threshold),
            size_factor,
            max_open_positions: tier.max_open_positions(),
            strategies: STRATEGIES.iter().map(|s| s.to_string()).collect(),
        };
        Tiers {
            tiers: [
                tier(Tier::Nano, 0, Decimal::new(25, 2)),
                tier(Tier::Micro, 10_000, Decimal::new(50, 2)),
                tier(Tier::Mini, 50_000, Decimal::new(75, 2)),
                tier(Tier::Balanced, 250_000, Decimal::ONE),
            ],
            up_margin: Decimal::new(10, 2),
            down_margin: Decimal::new(20, 2),
        }
    }
}

impl Tiers {
    pub fn params(&self, t: Tier) -> &TierParams {
        &self.tiers[t as usize]
    }

    /// Equity at or above which the controller moves up into `t` (its threshold
    /// × (1 + up_margin)).
    fn up_at(&self, t: Tier) -> Decimal {
        self.params(t).threshold * (Decimal::ONE + self.up_margin)
    }

    /// Equity below which the controller moves down out of `t` (its threshold
    /// × (1 − down_margin)).
    fn down_below(&self, t: Tier) -> Decimal {
        self.params(t).threshold * (Decimal::ONE - self.down_margin)
    }

    /// The tier the automatic controller moves to from `current` at `equity`,
    /// with hysteresis; it may move several tiers at once (repeat the up rule
    /// while it holds, else repeat the down rule while it holds). No flapping:
    /// between the margins nothing changes.
    pub fn next_tier(&self, current: Tier, equity: Decimal) -> Tier {
        let mut t = current as usize;
        while t + 1 < Tier::ALL.len() && equity >= self.up_at(Tier::ALL[t + 1]) {
            t += 1;
        }
        if t == current as usize {
            while t > 0 && equity < self.down_below(Tier::ALL[t]) {
                t -= 1;
            }
        }
        Tier::ALL[t]
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
        if to > from {
            format!(
                "auto: equity ${money:.2} >= {to} threshold ${} × {}",
                self.params(to).threshold.normalize(),
                factor(Decimal::ONE + self.up_margin)
            )
        } else {
            // The last tier left on the way down is the one just above `to`.
            let left = Tier::ALL[to as usize + 1];
            format!(
                "auto: equity ${money:.2} < {left} threshold ${} × {}",
                self.params(left).threshold.normalize(),
                factor(Decimal::ONE - self.down_margin)
            )
        }
    }

    /// Checks the values; the error names the key and what to do.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (i, p) in self.tiers.iter().enumerate() {
            let t = Tier::ALL[i];
            if p.tier != t {
                return Err((
                    "tiers",
                    format!("must list NANO, MICRO, MINI, BALANCED in that order: got {} in {t}'s place", p.tier),
                ));
            }
            if p.threshold < Decimal::ZERO
                || (i == 0 && p.threshold != Decimal::ZERO)
                || (i > 0 && p.threshold <= self.tiers[i - 1].threshold)
            {
                return Err((
                    "tiers",
                    format!(
                        "thresholds must rise from NANO to BALANCED, NANO's must be 0: {t}'s is {}",
                        p.threshold.normalize()
                    ),
                ));
            }
            if p.size_factor <= Decimal::ZERO || p.size_factor > Decimal::ONE {
                return Err((
                    "tiers",
                    format!(
                        "{t}'s size_factor must be above 0 and at most 1, got {}",
                        p.size_factor.normalize()
                    ),
                ));
            }
            if p.max_open_positions == 0 {
                return Err((
                    "tiers",
                    format!("{t}'s max_open_positions must be at least 1"),
                ));
            }
            for (j, s) in p.strategies.iter().enumerate() {
                if !STRATEGIES.contains(&s.as_str()) {
                    return Err((
                        "tiers",
                        format!("{t}'s strategy {s:?} is unknown: use news and/or momentum"),
                    ));
                }
                if p.strategies[..j].contains(s) {
                    return Err(("tiers", format!("{t}'s strategies list {s:?} twice")));
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

    fn d(units: i64, scale: u32) -> Decimal {
        Decimal::new(units, scale)
    }

    #[test]
    fn defaults_are_valid_and_match_the_tier_limits() {
        let t = Tiers::default();
        assert_eq!(t.validate(), Ok(()));
        for tier in Tier::ALL {
            assert_eq!(t.params(tier).tier, tier);
            assert_eq!(t.params(tier).max_open_positions, tier.max_open_positions());
        }
        assert_eq!(t.params(Tier::Mini).threshold, Decimal::from(50_000));
    }

    #[test]
    fn walking_across_the_micro_threshold_has_hysteresis() {
        let t = Tiers::default();
        // Up into MICRO at 10,000 × (1 + 0.10) = 11,000.
        assert_eq!(t.next_tier(Tier::Nano, d(10_999, 0)), Tier::Nano);
        assert_eq!(t.next_tier(Tier::Nano, d(1_099_999, 2)), Tier::Nano);
        assert_eq!(t.next_tier(Tier::Nano, d(11_000, 0)), Tier::Micro);
        // Down out of MICRO below 10,000 × (1 − 0.20) = 8,000.
        assert_eq!(t.next_tier(Tier::Micro, d(10_999, 0)), Tier::Micro);
        assert_eq!(t.next_tier(Tier::Micro, d(8_001, 0)), Tier::Micro);
        assert_eq!(
            t.next_tier(Tier::Micro, d(8_000, 0)),
            Tier::Micro,
            "not below"
        );
        assert_eq!(t.next_tier(Tier::Micro, d(799_999, 2)), Tier::Nano);
        // NANO's threshold is 0: nothing is below it.
        assert_eq!(t.next_tier(Tier::Nano, d(1, 2)), Tier::Nano);
        assert_eq!(t.next_tier(Tier::Nano, d(-500, 0)), Tier::Nano);
    }

    #[test]
    fn oscillating_equity_never_flaps() {
        let t = Tiers::default();
        // 9,000 .. 10,500 lies between 8,000 (down out of MICRO) and 11,000 (up
        // into MICRO): from either tier, nothing changes.
        let walk = [9_000, 10_500, 9_000, 10_000, 9_500, 10_500, 9_000, 10_499];
        for start in [Tier::Nano, Tier::Micro] {
            let mut cur = start;
            for e in walk {
                cur = t.next_tier(cur, Decimal::from(e));
                assert_eq!(cur, start, "at {e}");
            }
        }
    }

    #[test]
    fn large_moves_cross_several_tiers_at_once() {
        let t = Tiers::default();
        // 300,000 >= 250,000 × 1.10 = 275,000: straight to BALANCED.
        assert_eq!(t.next_tier(Tier::Nano, d(300_000, 0)), Tier::Balanced);
        // 60,000 >= 50,000 × 1.10 = 55,000 but < 275,000: MINI.
        assert_eq!(t.next_tier(Tier::Nano, d(60_000, 0)), Tier::Mini);
        // 54,999 < 55,000: MICRO only.
        assert_eq!(t.next_tier(Tier::Nano, d(54_999, 0)), Tier::Micro);
        // 5,000 < 250,000 × 0.80, < 50,000 × 0.80, < 10,000 × 0.80 = 8,000: NANO.
        assert_eq!(t.next_tier(Tier::Balanced, d(5_000, 0)), Tier::Nano);
        // 30,000 < 40,000 (out of MINI) but >= 8,000 (MICRO stays): MICRO.
        assert_eq!(t.next_tier(Tier::Balanced, d(30_000, 0)), Tier::Micro);
        // 210,000 >= 200,000 (250,000 × 0.80): BALANCED stays.
        assert_eq!(t.next_tier(Tier::Balanced, d(210_000, 0)), Tier::Balanced);
    }

    #[test]
    fn reasons_name_the_rule() {
        let t = Tiers::default();
        assert_eq!(
            t.reason(Tier::Nano, Tier::Micro, d(11_000, 0)),
            "auto: equity $11000.00 >= MICRO threshold $10000 × 1.10"
        );
        assert_eq!(
            t.reason(Tier::Micro, Tier::Nano, d(799_999, 2)),
            "auto: equity $7999.99 < MICRO threshold $10000 × 0.80"
        );
        // Several tiers down: the last rule was leaving MICRO.
        assert_eq!(
            t.reason(Tier::Balanced, Tier::Nano, d(5_000, 0)),
            "auto: equity $5000.00 < MICRO threshold $10000 × 0.80"
        );
        // Truncated, not rounded: 7,999.999 must not read as 8,000.00.
        assert!(t
            .reason(Tier::Micro, Tier::Nano, d(7_999_999, 3))
            .contains("$7999.99 <"));
    }

    #[test]
    fn validate_catches_bad_tiers() {
        let mut t = Tiers::default();
        t.tiers[2].threshold = Decimal::from(5_000);
        let (key, what) = t.validate().unwrap_err();
        assert_eq!(key, "tiers");
        assert!(what.contains("thresholds must rise"), "{what}");

        let mut t = Tiers::default();
        t.tiers[0].threshold = Decimal::from(100);
        assert!(t.validate().unwrap_err().1.contains("NANO's must be 0"));

        let mut t = Tiers::default();
        t.tiers[1].size_factor = Decimal::ZERO;
        let (key, what) = t.validate().unwrap_err();
        assert_eq!(key, "tiers");
        assert!(what.contains("MICRO's size_factor"), "{what}");

        let mut t = Tiers::default();
        t.tiers[3].strategies.push("arbitrage".into());
        assert!(t
            .validate()
            .unwrap_err()
            .1
            .contains("\"arbitrage\" is unknown"));

        let mut t = Tiers::default();
        t.tiers[3].strategies = vec!["news".into(), "news".into()];
        assert!(t.validate().unwrap_err().1.contains("twice"));

        let mut t = Tiers::default();
        t.tiers[0].strategies.clear();
        assert_eq!(t.validate(), Ok(()), "a tier may trade nothing");

        let mut t = Tiers::default();
        t.tiers[0].max_open_positions = 0;
        assert!(t.validate().is_err());

        let mut t = Tiers::default();
        t.tiers.swap(0, 1);
        assert!(t.validate().unwrap_err().1.contains("in that order"));

        let t = Tiers {
            up_margin: Decimal::ONE,
            ..Tiers::default()
        };
        assert_eq!(t.validate().unwrap_err().0, "up_margin");
        let t = Tiers {
            down_margin: Decimal::from(-1),
            ..Tiers::default()
        };
        assert_eq!(t.validate().unwrap_err().0, "down_margin");
    }
}
