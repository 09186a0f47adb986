//! Risk limits as configured: plain values with their own `validate()`. The
//! rules that apply them live in `crate::risk`; these types are here so the
//! configuration can build them without depending on the rules.

use rust_decimal::Decimal;

/// The engine guard's per-order limits and drawdown thresholds
/// (`risk::EngineGuard` applies them).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardLimits {
    /// Contracts per order.
    pub max_order_qty: Decimal,
    /// Dollars per order (qty × price × point value).
    pub max_order_notional: Decimal,
    /// Largest move of the quote since the signal, in % of the signal's price;
    /// 0: off.
    pub collar_pct: Decimal,
    /// The same in ticks; 0: off. With both, the tighter wins.
    pub collar_ticks: u32,
    /// Orders per rolling second; 0: off.
    pub max_orders_per_sec: u32,
    /// Drawdown fractions (0.02 = 2 %) at which the guard asks for WARNING and
    /// HALT: from the day's starting equity, and from the peak.
    pub day_drawdown_warning: Decimal,
    pub day_drawdown_halt: Decimal,
    pub peak_drawdown_warning: Decimal,
    pub peak_drawdown_halt: Decimal,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            max_order_qty: Decimal::from(10),
            max_order_notional: Decimal::from(2_000_000),
            collar_pct: Decimal::from(2),
            collar_ticks: 0,
            max_orders_per_sec: 5,
            day_drawdown_warning: Decimal::new(3, 2),
            day_drawdown_halt: Decimal::new(6, 2),
            peak_drawdown_warning: Decimal::new(5, 2),
            peak_drawdown_halt: Decimal::new(10, 2),
        }
    }
}

impl GuardLimits {
    /// Checks the values; the error names the key and what it needs.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let fraction = |d: Decimal| d > Decimal::ZERO && d <= Decimal::ONE;
        if self.max_order_qty <= Decimal::ZERO {
            return Err(("max_order_qty", "must be at least 1 contract".into()));
        }
        if self.max_order_notional <= Decimal::ZERO {
            return Err(("max_order_notional", "must be a positive amount".into()));
        }
        if self.collar_pct < Decimal::ZERO || self.collar_pct > Decimal::from(100) {
            return Err(("collar_pct", "must be between 0 (off) and 100".into()));
        }
        for (key, warn, halt) in [
            (
                "day_drawdown_halt",
                self.day_drawdown_warning,
                self.day_drawdown_halt,
            ),
            (
                "peak_drawdown_halt",
                self.peak_drawdown_warning,
                self.peak_drawdown_halt,
            ),
        ] {
            if !fraction(warn) || !fraction(halt) {
                return Err((
                    key,
                    "drawdowns are fractions between 0 and 1 (0.05 = 5 %)".into(),
                ));
            }
            if warn >= halt {
                return Err((
                    key,
                    format!(
                        "must be above its warning ({}), got {}",
                        warn.normalize(),
                        halt.normalize()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The portfolio limits, checked by `risk::check_opening`; the account
/// drawdown thresholds are applied by `portfolio_risk`.
/// The portfolio limits, checked by [`check_opening`].
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioLimits {
    /// Largest share of gross exposure one symbol may hold (0.5 = 50 %).
    pub concentration_max: f64,
    /// Concentration is only checked once gross exposure after the order
    /// exceeds this multiple of account equity (a book below it cannot be
    /// over-concentrated in a way that matters; otherwise the first trade of a
    /// flat book would always be 100 % concentrated).
    pub concentration_min_gross: f64,
    /// Correlations between symbols: (a, b, rho), symmetric; a pair not listed
    /// is 0, a symbol with itself is 1.
    pub correlations: Vec<(String, String, f64)>,
    /// Largest correlated exposure sqrt(e' R e), as a multiple of account
    /// equity.
    pub correlated_max: f64,
    /// VaR confidence, e.g. 0.99, in (0.5, 1).
    pub var_confidence: f64,
    /// VaR horizon in bars (returns are per bar; square-root-of-time scaling).
    pub var_horizon_bars: u32,
    /// Largest VaR as a fraction of account equity.
    pub var_max: f64,
    /// Account drawdown (fraction from peak) at which the level becomes at
    /// least WARNING / HALT / PANIC.
    pub drawdown_warning: Decimal,
    pub drawdown_halt: Decimal,
    pub drawdown_panic: Decimal,
}

impl Default for PortfolioLimits {
    fn default() -> Self {
        PortfolioLimits {
            concentration_max: 0.5,
            concentration_min_gross: 2.0,
            correlations: vec![("KC".into(), "CC".into(), 0.3)],
            correlated_max: 3.0,
            var_confidence: 0.99,
            var_horizon_bars: 60,
            var_max: 0.05,
            drawdown_warning: Decimal::new(5, 2),
            drawdown_halt: Decimal::new(10, 2),
            drawdown_panic: Decimal::new(20, 2),
        }
    }
}

impl PortfolioLimits {
    /// Checks the values; the error names the field and the range it needs.
    pub fn validate(&self) -> Result<(), String> {
        // Each test is written so that NaN fails it.
        let frac = |x: f64| x > 0.0 && x <= 1.0;
        let mult = |x: f64| x > 0.0 && x.is_finite();
        let need = |ok: bool, field: &str, range: &str, got: f64| match ok {
            true => Ok(()),
            false => Err(format!("{field} must be {range}, got {got}")),
        };
        let (vc, hb) = (self.var_confidence, f64::from(self.var_horizon_bars));
        let cm = self.concentration_max;
        let cg = self.concentration_min_gross;
        let xm = self.correlated_max;
        need(frac(cm), "concentration_max", "in (0, 1]", cm)?;
        need(mult(cg), "concentration_min_gross", "> 0", cg)?;
        need(mult(xm), "correlated_max", "> 0", xm)?;
        need(vc > 0.5 && vc < 1.0, "var_confidence", "in (0.5, 1)", vc)?;
        need(hb >= 1.0, "var_horizon_bars", "at least 1", hb)?;
        need(frac(self.var_max), "var_max", "in (0, 1]", self.var_max)?;
        for (i, (a, b, rho)) in self.correlations.iter().enumerate() {
            let earlier = &self.correlations[..i];
            let why = if !(-1.0..=1.0).contains(rho) {
                "needs rho in [-1, 1]"
            } else if a == b {
                "pairs a symbol with itself (always 1)"
            } else if earlier.iter().any(|(x, y, _)| pair(x, y, a, b)) {
                "is listed twice"
            } else {
                continue;
            };
            return Err(format!("correlations: {a}/{b} {why}, got rho {rho}"));
        }
        let (w, h) = (self.drawdown_warning, self.drawdown_halt);
        let p = self.drawdown_panic;
        if !(Decimal::ZERO < w && w < h && h < p && p <= Decimal::ONE) {
            let got = format!("got {w} / {h} / {p}");
            return Err(format!(
                "drawdown_warning/halt/panic must be 0 < warning < halt < panic <= 1, {got}"
            ));
        }
        Ok(())
    }
}

fn pair(x: &str, y: &str, a: &str, b: &str) -> bool {
    (x == a && y == b) || (x == b && y == a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn corr(rho: f64) -> Vec<(String, String, f64)> {
        vec![("KC".into(), "CC".into(), rho)]
    }

    #[test]
    fn validate_names_the_key() {
        let bad = GuardLimits {
            day_drawdown_warning: Decimal::new(6, 2),
            ..GuardLimits::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "day_drawdown_halt");
        assert!(GuardLimits::default().validate().is_ok());
    }
    #[test]
    fn validate_catches_bad_limits() {
        assert_eq!(PortfolioLimits::default().validate(), Ok(()));
        let bad = |f: &dyn Fn(&mut PortfolioLimits), want: &str| {
            let mut l = PortfolioLimits::default();
            f(&mut l);
            let e = l.validate().unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        bad(
            &|l| l.concentration_max = 0.0,
            "concentration_max must be in (0, 1]",
        );
        bad(
            &|l| l.correlations = corr(1.5),
            "correlations: KC/CC needs rho in [-1, 1]",
        );
        bad(&|l| l.drawdown_warning = d("0.10"), "0 < warning < halt");
        bad(
            &|l| l.var_confidence = 1.0,
            "var_confidence must be in (0.5, 1)",
        );
        bad(
            &|l| l.var_horizon_bars = 0,
            "var_horizon_bars must be at least 1",
        );
    }
}
