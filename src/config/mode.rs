//! `[mode]`: the capital tiers and the hysteresis of the controller's automatic
//! transitions. Invariant: `Mode::tiers` is the one way from the config to the
//! model's `Tiers`, and it only succeeds for tiers the model accepts; the
//! fractions are `Decimal` as written (see `decimals.rs`).

use super::decimals::as_number;
use super::durations::duration;
use super::{invalid, Invalid};
use commodore_actors::model::{Tier, TierParams, Tiers, MAX_TIERS};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mode {
    /// Up when equity >= the next tier's threshold x (1 + up_margin).
    #[serde(with = "as_number")]
    pub up_margin: Decimal,
    /// Down when equity < the current tier's threshold x (1 - down_margin).
    #[serde(with = "as_number")]
    pub down_margin: Decimal,
    /// How often the controller looks at the account equity.
    #[serde(with = "duration")]
    pub check_every: Duration,
    /// The tiers, lowest threshold (0) first: 1 to 16 of them.
    pub tiers: Vec<TierConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    /// Account equity in dollars where the tier starts (a decimal string).
    pub threshold: Decimal,
    /// Order sizes x this.
    #[serde(with = "as_number")]
    pub size_factor: Decimal,
    pub max_open_positions: usize,
    /// Strategies the engines trade in this tier.
    pub strategies: Vec<String>,
}

impl Mode {
    /// The tiers as the model has them; `Err((key, what))` when they do not fit.
    pub fn tiers(&self) -> Result<Tiers, Invalid> {
        let key = |k: &str| format!("mode.{k}");
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            return Err((
                key("tiers"),
                format!(
                    "needs 1 to {MAX_TIERS} tiers, lowest threshold (0) first, got {}",
                    self.tiers.len()
                ),
            ));
        }
        let mut out = Vec::new();
        for c in &self.tiers {
            // Checked before it is interned: only valid names are kept.
            Tier::check_name(&c.name).map_err(|what| (key("tiers.name"), what))?;
            out.push(TierParams {
                tier: Tier::named(&c.name),
                threshold: c.threshold,
                size_factor: c.size_factor,
                max_open_positions: c.max_open_positions,
                strategies: c.strategies.clone(),
            });
        }
        let tiers = Tiers {
            tiers: out,
            up_margin: self.up_margin,
            down_margin: self.down_margin,
        };
        tiers.validate().map_err(|(k, what)| (key(k), what))?;
        Ok(tiers)
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        self.tiers()?;
        if self.check_every.is_zero() || self.check_every > Duration::from_secs(3600) {
            return invalid("mode.check_every", "must be above 0 and at most 1h");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::over_defaults;

    #[test]
    fn the_default_tiers_reach_the_model() {
        let t = over_defaults("").mode.tiers().unwrap();
        let got: Vec<_> = t
            .tiers
            .iter()
            .map(|p| {
                (
                    p.tier.as_str(),
                    p.threshold.to_string(),
                    p.size_factor.to_string(),
                )
            })
            .collect();
        let want = [
            ("NANO", "0", "0.25"),
            ("MICRO", "10000", "0.5"),
            ("MINI", "50000", "0.75"),
            ("BALANCED", "250000", "1"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(n, t, f)| (*n, t.to_string(), f.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            (t.up_margin.to_string(), t.down_margin.to_string()),
            ("0.1".into(), "0.2".into())
        );
    }

    #[test]
    fn a_size_factor_is_not_rounded() {
        let m = over_defaults(
            "[mode]\ntiers = [{ name = \"SEED\", threshold = \"0\", size_factor = 1.0000001, max_open_positions = 2, strategies = [] }]\n",
        )
        .mode;
        let (key, what) = m.validate().unwrap_err();
        assert_eq!(key, "mode.tiers.size_factor");
        assert!(what.ends_with("got 1.0000001"), "{what}");
    }
}
