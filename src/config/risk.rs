//! `[risk]`: the engine guards' limits (every engine) and the portfolio checks
//! (the account), with the pairwise correlations they use.
//!
//! Invariant: `guard_limits` and `portfolio_limits` are the one way from the
//! config to the model's limits, and `validate` accepts exactly what both
//! model types accept. Money and the fractions the model keeps as `Decimal`
//! (collar, drawdowns) stay `Decimal` as written (see `decimals.rs`); the
//! portfolio's statistics are `f64` in the model and here alike.

use super::decimals::as_number;
use super::durations::duration;
use super::{invalid, Invalid};
use commodore_actors::model::{GuardLimits, PortfolioLimits, KNOWN_SYMBOLS};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The bundled bars are one minute apart: the VaR horizon in bars.
const BAR: Duration = Duration::from_secs(60);

/// Fractions are 0..1 (0.05 = 5 %), money is a decimal string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// At WARNING, opening sizes are multiplied by this.
    #[serde(with = "as_number")]
    pub warning_size_factor: Decimal,
    pub max_order_qty: u32,
    pub max_order_notional: Decimal,
    #[serde(with = "as_number")]
    pub collar_pct: Decimal,
    pub collar_ticks: u32,
    pub max_orders_per_sec: u32,
    #[serde(with = "as_number")]
    pub day_drawdown_warning: Decimal,
    #[serde(with = "as_number")]
    pub day_drawdown_halt: Decimal,
    #[serde(with = "as_number")]
    pub peak_drawdown_warning: Decimal,
    #[serde(with = "as_number")]
    pub peak_drawdown_halt: Decimal,
    pub concentration_max: f64,
    pub concentration_min_gross: f64,
    pub correlated_max: f64,
    pub correlations: Vec<Correlation>,
    pub var_confidence: f64,
    #[serde(with = "duration")]
    pub var_horizon: Duration,
    pub var_max: f64,
    #[serde(with = "as_number")]
    pub account_drawdown_warning: Decimal,
    #[serde(with = "as_number")]
    pub account_drawdown_halt: Decimal,
    #[serde(with = "as_number")]
    pub account_drawdown_panic: Decimal,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    pub a: String,
    pub b: String,
    pub rho: f64,
}

impl Risk {
    pub fn guard_limits(&self) -> GuardLimits {
        GuardLimits {
            max_order_qty: self.max_order_qty.into(),
            max_order_notional: self.max_order_notional,
            collar_pct: self.collar_pct,
            collar_ticks: self.collar_ticks,
            max_orders_per_sec: self.max_orders_per_sec,
            day_drawdown_warning: self.day_drawdown_warning,
            day_drawdown_halt: self.day_drawdown_halt,
            peak_drawdown_warning: self.peak_drawdown_warning,
            peak_drawdown_halt: self.peak_drawdown_halt,
        }
    }

    pub fn portfolio_limits(&self) -> PortfolioLimits {
        PortfolioLimits {
            concentration_max: self.concentration_max,
            concentration_min_gross: self.concentration_min_gross,
            correlations: self
                .correlations
                .iter()
                .map(|c| (c.a.clone(), c.b.clone(), c.rho))
                .collect(),
            correlated_max: self.correlated_max,
            var_confidence: self.var_confidence,
            var_horizon_bars: (self.var_horizon.as_secs() / BAR.as_secs()).max(1) as u32,
            var_max: self.var_max,
            drawdown_warning: self.account_drawdown_warning,
            drawdown_halt: self.account_drawdown_halt,
            drawdown_panic: self.account_drawdown_panic,
        }
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let key = |k: &str| format!("risk.{k}");
        if !(self.warning_size_factor > Decimal::ZERO && self.warning_size_factor <= Decimal::ONE) {
            return invalid("risk.warning_size_factor", "must be above 0 and at most 1");
        }
        if self.var_horizon < BAR {
            return invalid("risk.var_horizon", "must be at least 1m (one bar)");
        }
        for c in &self.correlations {
            c.validate()?;
        }
        self.guard_limits()
            .validate()
            .map_err(|(k, what)| (key(k), what))?;
        self.portfolio_limits()
            .validate()
            .map_err(|what| (key("portfolio"), what))?;
        Ok(())
    }
}

impl Correlation {
    /// Known symbols, two different ones; rho's range is the portfolio's check.
    fn validate(&self) -> Result<(), Invalid> {
        for s in [&self.a, &self.b] {
            if !KNOWN_SYMBOLS.contains(&s.as_str()) {
                return invalid(
                    "risk.correlations",
                    format!(
                        "unknown symbol {s:?}; use one of {}",
                        KNOWN_SYMBOLS.join(", ")
                    ),
                );
            }
        }
        if self.a == self.b {
            return invalid(
                "risk.correlations",
                format!("{} with itself is always 1", self.a),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::over_defaults;

    #[test]
    fn fractions_reach_the_limits_as_written() {
        // No f64 on the way: 0.03 stays 0.03, not 0.030000 or 0.0299999...
        let r = over_defaults("[risk]\ncollar_pct = 0.0000001\n").risk;
        let g = r.guard_limits();
        assert_eq!(g.day_drawdown_warning.to_string(), "0.03");
        assert_eq!(g.peak_drawdown_halt.to_string(), "0.1");
        assert_eq!(g.collar_pct.to_string(), "0.0000001");
        let p = r.portfolio_limits();
        assert_eq!(p.drawdown_panic.to_string(), "0.2");
        assert_eq!(p.var_horizon_bars, 60);
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn a_correlation_names_two_known_symbols() {
        let r =
            over_defaults("[risk]\ncorrelations = [{ a = \"CC\", b = \"CC\", rho = 0.1 }]\n").risk;
        assert_eq!(
            r.validate().unwrap_err(),
            (
                "risk.correlations".into(),
                "CC with itself is always 1".into()
            )
        );
    }
}
