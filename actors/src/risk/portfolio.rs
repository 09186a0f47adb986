//! The portfolio rules, pure: concentration, correlated exposure and
//! parametric value at risk on the book as it would be after a candidate
//! order, and the level the account drawdown calls for.
//!
//! Only orders that add exposure are checked here; an order that reduces is
//! never refused by these rules. Money is `Decimal`; the statistics run in
//! `f64` and come back rounded to cents.

use crate::model::{PortfolioLimits, RiskLevel};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

/// One symbol's exposure in the book (one entry per symbol).
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub symbol: String,
    /// Signed notional in dollars (long > 0).
    pub notional: Decimal,
    /// Standard deviation of one bar's simple return; None if not enough bars
    /// yet.
    pub volatility: Option<f64>,
}

/// The account: equity and the exposures held.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    pub equity: Decimal,
    pub exposures: Vec<Exposure>,
}

/// Sample standard deviation (n - 1) of the simple returns of consecutive
/// closes; None with fewer than 3 closes (2 returns) or any close <= 0.
pub fn volatility(closes: &[Decimal]) -> Option<f64> {
    if closes.len() < 3 || closes.iter().any(|c| *c <= Decimal::ZERO) {
        return None;
    }
    let returns: Vec<f64> = closes
        .windows(2)
        .map(|w| ((w[1] - w[0]) / w[0]).to_f64())
        .collect::<Option<_>>()?;
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let ss: f64 = returns.iter().map(|r| (r - mean) * (r - mean)).sum();
    Some((ss / (n - 1.0)).sqrt())
}

/// The same figure as [`volatility`] over the last `window + 1` closes, kept
/// up to date in O(1) per close (running sums of the returns, in f64): for an
/// engine that sees a bar every few milliseconds in a replay.
#[derive(Debug, Clone)]
pub struct RollingVolatility {
    window: usize,
    last: Option<f64>,
    returns: std::collections::VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
}

impl RollingVolatility {
    /// Over at most `window` returns (at least 2).
    pub fn new(window: usize) -> RollingVolatility {
        RollingVolatility {
            window: window.max(2),
            last: None,
            returns: std::collections::VecDeque::with_capacity(window.max(2) + 1),
            sum: 0.0,
            sum_sq: 0.0,
        }
    }

    pub fn push(&mut self, close: Decimal) {
        let Some(c) = close.to_f64().filter(|c| *c > 0.0) else {
            return;
        };
        if let Some(prev) = self.last {
            let r = (c - prev) / prev;
            self.returns.push_back(r);
            self.sum += r;
            self.sum_sq += r * r;
            if self.returns.len() > self.window {
                let old = self.returns.pop_front().unwrap_or(0.0);
                self.sum -= old;
                self.sum_sq -= old * old;
            }
        }
        self.last = Some(c);
    }

    /// Sample standard deviation of the returns kept; `None` under 2 returns.
    pub fn value(&self) -> Option<f64> {
        let n = self.returns.len();
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let mean = self.sum / nf;
        let var = ((self.sum_sq - nf * mean * mean) / (nf - 1.0)).max(0.0);
        Some(var.sqrt())
    }
}

/// Inverse of the standard normal CDF, by Acklam's rational approximation
/// (relative error below 1.15e-9, so |error| < 1e-8 for p in [1e-6, 1 - 1e-6]).
/// Returns NaN for p outside the open interval (0, 1) (and for NaN); never
/// panics.
pub fn inverse_normal(p: f64) -> f64 {
    #[rustfmt::skip]
    const A: [f64; 6] = [
        -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2,
        1.38357751867269e2, -3.066479806614716e1, 2.506628277459239e0,
    ];
    #[rustfmt::skip]
    const B: [f64; 5] = [
        -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2,
        6.680131188771972e1, -1.328068155288572e1,
    ];
    #[rustfmt::skip]
    const C: [f64; 6] = [
        -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838e0,
        -2.549732539343734e0, 4.374664141464968e0, 2.938163982698783e0,
    ];
    #[rustfmt::skip]
    const D: [f64; 4] = [
        7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996e0,
        3.754408661907416e0,
    ];
    const P_LOW: f64 = 0.02425;
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    // The tails: x = C(q) / D(q) with q = sqrt(-2 ln p), mirrored for p > 1/2.
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Share (0..=1) of gross exposure (sum of |notional|) held by `symbol`; 0
/// when gross is 0.
pub fn concentration(exposures: &[Exposure], symbol: &str) -> f64 {
    let gross: Decimal = exposures.iter().map(|e| e.notional.abs()).sum();
    if gross.is_zero() {
        return 0.0;
    }
    let mine = exposures.iter().filter(|e| e.symbol == symbol);
    let held: Decimal = mine.map(|e| e.notional.abs()).sum();
    to_f64(held / gross)
}

/// sqrt(sum_i sum_j e_i * rho_ij * e_j) in dollars, rounded to cents. A
/// correlation table that is not positive semi-definite could make the sum
/// negative: it then counts as 0.
pub fn correlated_exposure(
    exposures: &[Exposure],
    correlations: &[(String, String, f64)],
) -> Decimal {
    let e: Vec<f64> = exposures.iter().map(|x| to_f64(x.notional)).collect();
    cents(quadratic(exposures, &e, correlations).sqrt())
}

/// Parametric VaR in dollars, rounded to cents:
/// z(confidence) * sqrt(e' S e) * sqrt(horizon_bars), with
/// S_ij = rho_ij * sigma_i * sigma_j. Err names the symbol when a non-zero
/// exposure has no (or a negative or non-finite) volatility, or the confidence
/// when it is outside (0.5, 1).
pub fn value_at_risk(
    exposures: &[Exposure],
    correlations: &[(String, String, f64)],
    confidence: f64,
    horizon_bars: u32,
) -> Result<Decimal, String> {
    if !(confidence > 0.5 && confidence < 1.0) {
        return Err(format!("confidence must be in (0.5, 1), got {confidence}"));
    }
    let mut s = Vec::with_capacity(exposures.len());
    for x in exposures {
        if x.notional.is_zero() {
            s.push(0.0);
            continue;
        }
        match x.volatility {
            Some(v) if v >= 0.0 && v.is_finite() => s.push(to_f64(x.notional) * v),
            Some(v) => return Err(format!("{} has an invalid volatility {v}", x.symbol)),
            None => return Err(format!("{} has no volatility yet", x.symbol)),
        }
    }
    let sigma = quadratic(exposures, &s, correlations).sqrt() * f64::from(horizon_bars).sqrt();
    Ok(cents(inverse_normal(confidence) * sigma))
}

/// The level the account drawdown calls for (Normal below drawdown_warning;
/// reaching a threshold exactly counts).
pub fn drawdown_level(limits: &PortfolioLimits, drawdown: Decimal) -> RiskLevel {
    if drawdown >= limits.drawdown_panic {
        RiskLevel::Panic
    } else if drawdown >= limits.drawdown_halt {
        RiskLevel::Halt
    } else if drawdown >= limits.drawdown_warning {
        RiskLevel::Warning
    } else {
        RiskLevel::Normal
    }
}

/// The portfolio checks on a candidate that adds `delta` (signed notional,
/// dollars) to `symbol`'s exposure in `book`. The symbol may be absent from
/// book.exposures: then its exposure is 0 and its volatility is `volatility`
/// given here (which also fills in when the book's entry has none; entries of
/// one symbol listed twice are netted).
///
/// Applies concentration (only when gross after > concentration_min_gross ×
/// equity), then correlated exposure, then VaR, each on the book AFTER the
/// order; a figure equal to its limit passes. Fails closed: Err when equity
/// <= 0 or the limits do not validate. Err names the rule and the figures.
pub fn check_opening(
    limits: &PortfolioLimits,
    book: &Book,
    symbol: &str,
    delta: Decimal,
    volatility: Option<f64>,
) -> Result<(), String> {
    let equity = book.equity;
    if equity <= Decimal::ZERO {
        let eq = dollars(equity);
        return Err(format!(
            "no account equity ({eq}): cannot open exposure against it"
        ));
    }
    limits
        .validate()
        .map_err(|e| format!("invalid portfolio limits: {e}"))?;
    let candidate = Exposure {
        symbol: symbol.to_string(),
        notional: delta,
        volatility,
    };
    let mut after: Vec<Exposure> = Vec::with_capacity(book.exposures.len() + 1);
    for x in book.exposures.iter().chain(std::iter::once(&candidate)) {
        match after.iter_mut().find(|a| a.symbol == x.symbol) {
            Some(a) => {
                a.notional += x.notional;
                a.volatility = a.volatility.or(x.volatility);
            }
            None => after.push(x.clone()),
        }
    }
    let eq = to_f64(equity);

    let gross: Decimal = after.iter().map(|e| e.notional.abs()).sum();
    if to_f64(gross) > limits.concentration_min_gross * eq {
        let share = concentration(&after, symbol);
        if share > limits.concentration_max {
            let (pct, g) = (share * 100.0, dollars(gross));
            let max = num(limits.concentration_max * 100.0);
            let why = format!("{symbol} would be {pct:.1} % of gross exposure {g} (max {max} %)");
            return Err(format!("concentration: {why}"));
        }
    }

    let corr = correlated_exposure(&after, &limits.correlations);
    let corr_max = cents(limits.correlated_max * eq);
    if corr > corr_max {
        let (c, x, m) = (dollars(corr), limits.correlated_max, dollars(corr_max));
        let eq = dollars(equity);
        return Err(format!(
            "correlated exposure {c} over {x:.1}x equity {eq} = {m}"
        ));
    }

    let (conf, bars) = (limits.var_confidence, limits.var_horizon_bars);
    let var = value_at_risk(&after, &limits.correlations, conf, bars);
    let var = var.map_err(|e| format!("VaR: {e}"))?;
    let var_max = cents(limits.var_max * eq);
    if var > var_max {
        let (c, v, m) = (num(conf * 100.0), dollars(var), dollars(var_max));
        let (f, eq) = (num(limits.var_max * 100.0), dollars(equity));
        return Err(format!(
            "VaR: {c} % over {bars} bars would be {v}, above {f} % of equity {eq} = {m}"
        ));
    }
    Ok(())
}

/// rho between two symbols: 1 with itself, 0 when not listed.
fn rho(correlations: &[(String, String, f64)], a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    correlations
        .iter()
        .find(|(x, y, _)| pair(x, y, a, b))
        .map_or(0.0, |(_, _, r)| *r)
}

/// Whether (x, y) is the pair {a, b} in either order.
fn pair(x: &str, y: &str, a: &str, b: &str) -> bool {
    (x == a && y == b) || (x == b && y == a)
}

/// sum_i sum_j v_i * rho_ij * v_j over the exposures' symbols, at least 0.
fn quadratic(exposures: &[Exposure], v: &[f64], correlations: &[(String, String, f64)]) -> f64 {
    let mut sum = 0.0;
    for (i, a) in exposures.iter().enumerate() {
        for (j, b) in exposures.iter().enumerate() {
            sum += v[i] * rho(correlations, &a.symbol, &b.symbol) * v[j];
        }
    }
    sum.max(0.0)
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Dollars to cents. A figure Decimal cannot hold (NaN, infinite, > 7.9e28)
/// becomes Decimal::MAX, which every limit refuses (fail closed).
fn cents(x: f64) -> Decimal {
    Decimal::from_f64(x)
        .unwrap_or(Decimal::MAX)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// "$1,250,000.00".
fn dollars(d: Decimal) -> String {
    let s = format!("{:.2}", d.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let neg = d.round_dp(2) < Decimal::ZERO;
    let sign = if neg { "-" } else { "" };
    format!("{sign}${grouped}.{frac}")
}

/// Up to 2 decimals, trailing zeros dropped: 50 → "50", 2.5 → "2.5".
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }
    fn x(symbol: &str, notional: &str, volatility: Option<f64>) -> Exposure {
        let (symbol, notional) = (symbol.into(), d(notional));
        Exposure {
            symbol,
            notional,
            volatility,
        }
    }
    fn book(equity: &str, xs: &[Exposure]) -> Book {
        let (equity, exposures) = (d(equity), xs.to_vec());
        Book { equity, exposures }
    }
    fn corr(rho: f64) -> Vec<(String, String, f64)> {
        vec![("KC".into(), "CC".into(), rho)]
    }
    fn within_cent(a: Decimal, b: &str) -> bool {
        (a - d(b)).abs() <= d("0.01")
    }

    #[test]
    fn concentration_of_two_symbols() {
        let xs = [x("KC", "600000", None), x("CC", "-400000", None)];
        // gross = 600k + |-400k| = 1M; KC share = 600k / 1M = 0.6
        assert!((concentration(&xs, "KC") - 0.6).abs() < 1e-12);
        // CC share = 400k / 1M = 0.4 (a short counts by its size)
        assert!((concentration(&xs, "CC") - 0.4).abs() < 1e-12);
        // an absent symbol holds 0; an empty book has gross 0 → 0
        assert_eq!(concentration(&xs, "SB"), 0.0);
        assert_eq!(concentration(&[], "KC"), 0.0);
    }

    #[test]
    fn concentration_floor_and_refusal() {
        let l = PortfolioLimits {
            concentration_min_gross: 1.0,
            ..PortfolioLimits::default()
        };
        let open = |b: &Book, n: &str| check_opening(&l, b, "KC", d(n), Some(0.001));
        let flat = book("1000000", &[]);
        // gross after = 800k <= 1.0 × 1M: not checked though KC is 100 %;
        // corr 800k <= 3M; VaR = 2.326348 × 800 × sqrt(60) ≈ 14,415.85 <= 50k
        assert_eq!(open(&flat, "800000"), Ok(()));
        // exactly at the floor: gross after 1M = 1.0 × 1M, not above → passes
        // (VaR = 2.326348 × 1000 × 7.745967 ≈ 18,019.81 <= 50k)
        assert_eq!(open(&flat, "1000000"), Ok(()));

        let held = [
            x("KC", "300000", Some(0.001)),
            x("CC", "600000", Some(0.001)),
        ];
        let b = book("1000000", &held);
        // KC 300k + 600k = 900k, CC 600k: gross 1.5M > 1M;
        // KC share = 900k / 1.5M = 0.6 > 0.5 → refused
        let e = open(&b, "600000").unwrap_err();
        let want = "concentration: KC would be 60.0 % of gross exposure $1,500,000.00 (max 50 %)";
        assert_eq!(e, want);
        // KC 300k + 300k = 600k, CC 600k: share = 600k / 1.2M = 0.5, not above;
        // corr = 600k × sqrt(1 + 1 + 2 × 0.3) = 600k × sqrt(2.6) ≈ 967,470.93 <= 3M;
        // VaR = 2.326348 × 967.47 × sqrt(60) ≈ 17,433.65 <= 50k
        assert_eq!(open(&b, "300000"), Ok(()));
    }

    #[test]
    fn correlated_exposure_worked() {
        let long = [x("KC", "300000", None), x("CC", "400000", None)];
        // sqrt(300² + 400² + 2 × 0.5 × 300 × 400) k = sqrt(90000 + 160000 + 120000) k
        // = sqrt(370000) k ≈ 608,276.253 → $608,276.25
        assert_eq!(correlated_exposure(&long, &corr(0.5)), d("608276.25"));
        // hedge: sqrt(90000 + 160000 - 120000) k = sqrt(130000) k ≈ 360,555.128
        let hedge = [x("KC", "300000", None), x("CC", "-400000", None)];
        assert_eq!(correlated_exposure(&hedge, &corr(0.5)), d("360555.13"));
        // rho 0 (pair not listed): sqrt(90000 + 160000) k = sqrt(250000) k = 500k
        assert_eq!(correlated_exposure(&long, &[]), d("500000.00"));
    }

    #[test]
    fn correlated_exposure_refused() {
        let concentration_max = 1.0; // off: 100 % of gross allowed
        let l = PortfolioLimits {
            concentration_max,
            ..Default::default()
        };
        // corr = |400k| = 400k > 3.0 × 100k = 300k
        let e = check_opening(&l, &book("100000", &[]), "KC", d("400000"), Some(1e-4));
        let want = "correlated exposure $400,000.00 over 3.0x equity $100,000.00 = $300,000.00";
        assert_eq!(e, Err(want.to_string()));
    }

    #[test]
    fn var_one_symbol() {
        // z(0.99) = 2.326348; sigma$ = 1M × 0.001 = 1000; sqrt(100) = 10
        // VaR = 2.326348 × 1000 × 10 = 23,263.48
        let v = value_at_risk(&[x("KC", "1000000", Some(0.001))], &[], 0.99, 100);
        assert!(within_cent(v.unwrap(), "23263.48"));
    }

    #[test]
    fn var_two_correlated_symbols() {
        let xs = [
            x("KC", "1000000", Some(0.001)),
            x("CC", "-500000", Some(0.002)),
        ];
        // sigma$: KC 1M × 0.001 = 1000, CC -500k × 0.002 = -1000
        // e'Se = 1000² + 1000² + 2 × 0.3 × 1000 × (-1000) = 1.4e6; sqrt ≈ 1183.21596
        // VaR = 2.3263479 × 1183.21596 × 10 ≈ 27,525.72
        let v = value_at_risk(&xs, &corr(0.3), 0.99, 100);
        assert!(within_cent(v.unwrap(), "27525.72"));
    }

    #[test]
    fn var_needs_volatility() {
        let xs = [x("KC", "1000000", Some(0.001)), x("CC", "200000", None)];
        let e = value_at_risk(&xs, &[], 0.99, 60).unwrap_err();
        assert!(e.contains("CC"), "{e}");
        // a zero exposure needs none
        let xs = [x("KC", "1000000", Some(0.001)), x("CC", "0", None)];
        assert!(value_at_risk(&xs, &[], 0.99, 60).is_ok());
        // nor can check_opening open a symbol without one
        let l = PortfolioLimits::default();
        let e = check_opening(&l, &book("1000000", &[]), "SB", d("10000"), None);
        assert!(e.is_err_and(|e| e.starts_with("VaR:") && e.contains("SB")));
    }

    #[test]
    fn var_refused() {
        let l = PortfolioLimits::default();
        let b = book("1000000", &[x("CC", "500000", Some(0.001))]);
        // KC 500k at 1 %, CC 500k at 0.1 %: gross 1M, not above the floor;
        // sigma$: 5000 and 500; e'Se = 5000² + 500² + 2 × 0.3 × 5000 × 500
        // = 25,000,000 + 250,000 + 1,500,000 = 26,750,000; sqrt ≈ 5172.04
        // VaR = 2.326348 × 5172.04 × 7.745967 ≈ 93,199.20 > 5 % × 1M = 50,000
        let e = check_opening(&l, &b, "KC", d("500000"), Some(0.01)).unwrap_err();
        assert!(
            e.starts_with("VaR: 99 % over 60 bars would be $93,199.2"),
            "{e}"
        );
        assert!(
            e.ends_with("5 % of equity $1,000,000.00 = $50,000.00"),
            "{e}"
        );
    }

    #[test]
    fn no_equity_refuses() {
        let l = PortfolioLimits::default();
        let e = check_opening(&l, &book("0", &[]), "KC", d("1"), Some(0.001));
        assert!(e.is_err_and(|e| e.starts_with("no account equity")));
    }

    #[test]
    fn inverse_normal_known_values() {
        assert!(inverse_normal(0.5).abs() < 1e-6);
        assert!((inverse_normal(0.975) - 1.959964).abs() < 1e-6);
        assert!((inverse_normal(0.99) - 2.326348).abs() < 1e-6);
        assert!((inverse_normal(0.01) + 2.326348).abs() < 1e-6);
        // tail, table value z(1e-6) = -4.753424309
        assert!((inverse_normal(1e-6) + 4.753424309).abs() < 1e-8);
        assert!(inverse_normal(0.0).is_nan() && inverse_normal(1.0).is_nan());
        assert!(inverse_normal(f64::NAN).is_nan());
    }

    #[test]
    fn the_rolling_volatility_matches_the_batch_one() {
        let closes: Vec<Decimal> = [100, 110, 99, 99, 104, 101, 97, 103]
            .iter()
            .map(|c| Decimal::from(*c))
            .collect();
        let mut r = RollingVolatility::new(4);
        for (i, c) in closes.iter().enumerate() {
            r.push(*c);
            // The last 4 returns are those of the last 5 closes.
            let from = (i + 1).saturating_sub(5);
            match (r.value(), volatility(&closes[from..=i])) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{i}: {a} vs {b}"),
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "{i}"),
            }
        }
    }

    #[test]
    fn volatility_of_small_series() {
        let closes = [d("100"), d("110"), d("99"), d("99")];
        // returns: 110/100 - 1 = 0.1, 99/110 - 1 = -0.1, 99/99 - 1 = 0
        // mean = 0; squares 0.01 + 0.01 + 0 = 0.02; / (3 - 1) = 0.01; sqrt = 0.1
        assert!((volatility(&closes).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(volatility(&[d("100"), d("101")]), None);
        assert_eq!(volatility(&[d("100"), d("0"), d("101")]), None);
    }

    #[test]
    fn drawdown_level_boundaries() {
        // defaults: warning 0.05, halt 0.10, panic 0.20; reaching one counts
        let l = PortfolioLimits::default();
        let at = |s: &str| drawdown_level(&l, d(s));
        assert_eq!([at("0"), at("0.0499")], [RiskLevel::Normal; 2]);
        assert_eq!([at("0.05"), at("0.0999")], [RiskLevel::Warning; 2]);
        assert_eq!([at("0.10"), at("0.1999")], [RiskLevel::Halt; 2]);
        assert_eq!([at("0.20"), at("0.5")], [RiskLevel::Panic; 2]);
    }
}
