//! The engine risk guard's rules, pure: per-order limits (quantity, notional,
//! price collar, open positions, order rate) and the drawdown watch (from the
//! day's start and from peak equity) that asks for WARNING or HALT.
//!
//! The rules bound exposure: an order, or the part of it, that only reduces a
//! position is never refused by them (a guard must not trap a position).

use crate::journal::GuardMarks;
use crate::model::{ContractSpec, GuardLimits, RiskLevel};
use rust_decimal::Decimal;
use std::collections::VecDeque;

/// An order's opening part, as the guard sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub qty: Decimal,
    /// The quote it would trade at.
    pub price: Decimal,
    /// The price when its signal was made, if known.
    pub signal_price: Option<Decimal>,
    /// The engine is flat now: this order opens a position.
    pub new_position: bool,
    /// Positions open across the portfolio, and the mode's limit.
    pub open_positions: usize,
    pub max_open_positions: usize,
}

/// The guard's state: recent order times and the drawdown marks.
#[derive(Debug, Clone)]
pub struct EngineGuard {
    pub limits: GuardLimits,
    sent_ms: VecDeque<u64>,
    day: Option<(i64, Decimal)>,
    peak: Decimal,
    asked: RiskLevel,
    /// The portfolio level has been seen at `asked` since it was asked for: a
    /// lower level after that is an operator reset, before it the request is
    /// not applied yet (or was lost) and is asked again.
    applied: bool,
}

impl EngineGuard {
    pub fn new(limits: GuardLimits) -> EngineGuard {
        EngineGuard {
            limits,
            sent_ms: VecDeque::new(),
            day: None,
            peak: Decimal::ZERO,
            asked: RiskLevel::Normal,
            applied: true,
        }
    }

    /// The per-order rules on an opening, in order: quantity, notional, collar,
    /// open positions, rate. `Err` names the rule that fired.
    pub fn check(&self, spec: &ContractSpec, now_ms: u64, o: &Opening) -> Result<(), String> {
        let l = &self.limits;
        if o.qty > l.max_order_qty {
            return Err(format!(
                "max order quantity: {} contracts over {}",
                o.qty, l.max_order_qty
            ));
        }
        let notional = (o.qty * o.price * spec.point_value).round_dp(2);
        if notional > l.max_order_notional {
            return Err(format!(
                "max order notional: ${notional} over ${}",
                l.max_order_notional
            ));
        }
        if let Some(signal) = o.signal_price.filter(|p| *p > Decimal::ZERO) {
            let moved = (o.price - signal).abs();
            let mut max = None::<Decimal>;
            if l.collar_pct > Decimal::ZERO {
                max = Some(signal * l.collar_pct / Decimal::ONE_HUNDRED);
            }
            if l.collar_ticks > 0 {
                let ticks = spec.tick * Decimal::from(l.collar_ticks);
                max = Some(max.map_or(ticks, |m| m.min(ticks)));
            }
            if let Some(max) = max.filter(|m| moved > *m) {
                return Err(format!(
                    "price collar: the quote {} moved {moved} from the signal's {signal} (max {})",
                    o.price,
                    max.round_dp(4).normalize()
                ));
            }
        }
        if o.new_position && o.open_positions >= o.max_open_positions {
            return Err(format!(
                "max open positions: {} open, the mode allows {}",
                o.open_positions, o.max_open_positions
            ));
        }
        if l.max_orders_per_sec > 0 {
            let recent = self
                .sent_ms
                .iter()
                .filter(|t| now_ms.saturating_sub(**t) < 1000)
                .count();
            if recent >= l.max_orders_per_sec as usize {
                return Err(format!(
                    "order rate: {recent} orders in the last second (max {})",
                    l.max_orders_per_sec
                ));
            }
        }
        Ok(())
    }

    /// Records an order sent at `now_ms` (every order counts toward the rate).
    pub fn sent(&mut self, now_ms: u64) {
        while self
            .sent_ms
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= 1000)
        {
            self.sent_ms.pop_front();
        }
        // Bounded by the rate itself (plus orders that reduce).
        if self.sent_ms.len() >= 1024 {
            self.sent_ms.pop_front();
        }
        self.sent_ms.push_back(now_ms);
    }

    /// Marks equity on market day `day` (New York date, days since the epoch).
    /// Returns the level the drawdown calls for, with why, when it is above
    /// what the guard asked for before; `current` is the portfolio level: after
    /// an operator reset below what it asked, the guard starts again from this
    /// equity (the reset accepted the loss so far).
    pub fn mark(
        &mut self,
        day: i64,
        equity: Decimal,
        current: RiskLevel,
    ) -> Option<(RiskLevel, String)> {
        if current >= self.asked {
            self.applied = true;
        } else if self.applied {
            // Reset by the operator below what was asked: start again from here.
            self.asked = current;
            self.peak = equity;
            self.day = Some((day, equity));
        } else {
            // Asked, not applied yet (or lost): ask again below.
            self.asked = current;
        }
        match self.day {
            Some((d, _)) if d == day => {}
            _ => self.day = Some((day, equity)),
        }
        self.peak = self.peak.max(equity);
        let start = self.day.map_or(equity, |(_, e)| e);
        let dd = |from: Decimal| {
            if from > Decimal::ZERO {
                ((from - equity) / from).max(Decimal::ZERO)
            } else {
                Decimal::ZERO
            }
        };
        let (day_dd, peak_dd) = (dd(start), dd(self.peak));
        let l = &self.limits;
        let (level, why) = if day_dd >= l.day_drawdown_halt {
            (RiskLevel::Halt, format!("day drawdown {}", pct(day_dd)))
        } else if peak_dd >= l.peak_drawdown_halt {
            (
                RiskLevel::Halt,
                format!("drawdown from peak {}", pct(peak_dd)),
            )
        } else if day_dd >= l.day_drawdown_warning {
            (RiskLevel::Warning, format!("day drawdown {}", pct(day_dd)))
        } else if peak_dd >= l.peak_drawdown_warning {
            (
                RiskLevel::Warning,
                format!("drawdown from peak {}", pct(peak_dd)),
            )
        } else {
            return None;
        };
        if level <= self.asked {
            return None;
        }
        self.asked = level;
        self.applied = false;
        Some((level, format!("{why} (equity {equity})")))
    }

    /// Day `day` starts at `equity` (the equity reconciled at the previous
    /// session's close), unless the guard has already marked that day or a
    /// later one. Returns whether it took it.
    pub fn start_day(&mut self, day: i64, equity: Decimal) -> bool {
        if self.day.is_some_and(|(d, _)| d >= day) {
            return false;
        }
        self.day = Some((day, equity));
        self.peak = self.peak.max(equity);
        true
    }

    /// The highest level it has asked for (since the last reset).
    pub fn asked(&self) -> RiskLevel {
        self.asked
    }

    /// (day start equity, peak equity) as marked so far.
    pub fn marks(&self) -> (Option<Decimal>, Decimal) {
        (self.day.map(|(_, e)| e), self.peak)
    }

    /// What the journal keeps of it.
    pub fn record(&self) -> GuardMarks {
        GuardMarks {
            day: self.day,
            peak: self.peak,
            asked: self.asked,
            applied: self.applied,
        }
    }

    /// Marks measured on `from` capital, moved to `to` (the day's start and
    /// the peak, as the account's peak is): a capital change is no drawdown.
    pub fn rebase(&mut self, from: Decimal, to: Decimal) {
        self.day = self
            .day
            .map(|(d, e)| (d, super::account::rebased_peak(e, from, to)));
        self.peak = super::account::rebased_peak(self.peak, from, to);
    }

    /// Restores marks as journaled.
    pub fn restore(&mut self, rec: GuardMarks) {
        self.day = rec.day;
        self.peak = rec.peak;
        self.asked = rec.asked;
        self.applied = rec.applied;
    }
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(2).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract;

    fn opening(qty: i64, price: &str) -> Opening {
        Opening {
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            signal_price: None,
            new_position: false,
            open_positions: 0,
            max_open_positions: 2,
        }
    }

    #[test]
    fn each_order_rule_fires_and_names_itself() {
        let kc = contract("KC").unwrap();
        let g = EngineGuard::new(GuardLimits {
            max_order_qty: Decimal::from(5),
            // 4 contracts × 300.00 c/lb × $375 = $450,000.
            max_order_notional: Decimal::from(450_000),
            collar_pct: Decimal::ONE,
            collar_ticks: 10,
            ..GuardLimits::default()
        });
        assert!(g.check(&kc, 0, &opening(4, "300.00")).is_ok());
        let e = g.check(&kc, 0, &opening(6, "300.00")).unwrap_err();
        assert!(e.starts_with("max order quantity"), "{e}");
        // 5 × 300 × 375 = $562,500 > $450,000.
        let e = g.check(&kc, 0, &opening(5, "300.00")).unwrap_err();
        assert!(e.starts_with("max order notional: $562500"), "{e}");
        // 1 % of 300.00 is 3.00; 10 ticks of 0.05 are 0.50: the tighter, 0.50.
        let mut o = opening(1, "300.55");
        o.signal_price = Some("300.00".parse().unwrap());
        let e = g.check(&kc, 0, &o).unwrap_err();
        assert!(
            e.starts_with("price collar") && e.contains("max 0.5"),
            "{e}"
        );
        o.price = "300.50".parse().unwrap();
        assert!(g.check(&kc, 0, &o).is_ok(), "exactly at the collar");
        let mut o = opening(1, "300.00");
        o.new_position = true;
        o.open_positions = 2;
        let e = g.check(&kc, 0, &o).unwrap_err();
        assert!(e.starts_with("max open positions: 2 open"), "{e}");
        o.new_position = false;
        assert!(
            g.check(&kc, 0, &o).is_ok(),
            "adding to a position opens none"
        );
    }

    #[test]
    fn the_rate_counts_a_rolling_second() {
        let kc = contract("KC").unwrap();
        let mut g = EngineGuard::new(GuardLimits {
            max_orders_per_sec: 2,
            ..GuardLimits::default()
        });
        g.sent(1_000);
        g.sent(1_500);
        let e = g.check(&kc, 1_999, &opening(1, "300")).unwrap_err();
        assert!(e.starts_with("order rate: 2 orders"), "{e}");
        assert!(
            g.check(&kc, 2_000, &opening(1, "300")).is_ok(),
            "the first aged out"
        );
    }

    #[test]
    fn drawdowns_ask_once_per_level_and_rearm_after_a_reset() {
        // Defaults: day 3 % / 6 %, from peak 5 % / 10 %.
        let mut g = EngineGuard::new(GuardLimits::default());
        let (n, w) = (RiskLevel::Normal, RiskLevel::Warning);
        let d = Decimal::from;
        assert_eq!(g.mark(1, d(100_000), n), None);
        assert_eq!(g.mark(1, d(102_000), n), None, "a new peak");
        // Day: (100,000 − 97,000) / 100,000 = 3 % → WARNING;
        // peak: 5,000 / 102,000 = 4.9 % (below 5 %).
        let (l, why) = g.mark(1, d(97_000), n).unwrap();
        assert_eq!(l, w);
        assert!(why.starts_with("day drawdown 3%"), "{why}");
        assert_eq!(g.mark(1, d(96_900), w), None, "WARNING asked already");
        // Asked but not applied yet (the level still reads NORMAL): asked again,
        // and the drawdown's baseline is kept.
        let mut lost = EngineGuard::new(GuardLimits::default());
        lost.mark(1, d(100_000), n);
        assert_eq!(lost.mark(1, d(97_000), n).unwrap().0, w);
        assert_eq!(lost.mark(1, d(97_000), n).unwrap().0, w, "asked again");
        assert_eq!(lost.marks(), (Some(d(100_000)), d(100_000)));
        // Day 2 starts at 96,900: peak drawdown 5,100 / 102,000 = 5 %: WARNING,
        // asked already.
        assert_eq!(g.mark(2, d(96_900), w), None);
        // Day: 5,100 / 96,900 = 5.26 % (below 6 %); peak: 10,200 / 102,000 = 10 %:
        // HALT.
        let (l, why) = g.mark(2, d(91_800), w).unwrap();
        assert_eq!(l, RiskLevel::Halt);
        assert!(why.starts_with("drawdown from peak 10%"), "{why}");
        // HALT applied, then the operator resets to NORMAL: the guard starts
        // again from 91,800.
        assert_eq!(g.mark(2, d(91_800), RiskLevel::Halt), None);
        assert_eq!(g.mark(2, d(91_800), n), None);
        assert_eq!(g.marks(), (Some(d(91_800)), d(91_800)));
        // (91,800 − 89,000) / 91,800 = 3.05 % ≥ 3 %: WARNING again.
        assert_eq!(g.mark(2, d(89_000), n).unwrap().0, w);
    }

    #[test]
    fn a_capital_change_moves_the_day_start_and_the_peak() {
        let mut g = EngineGuard::new(GuardLimits::default());
        g.mark(3, Decimal::from(250_000), RiskLevel::Normal);
        g.mark(3, Decimal::from(260_000), RiskLevel::Normal);
        g.rebase(Decimal::from(250_000), Decimal::from(150_000));
        assert_eq!(
            g.marks(),
            (Some(Decimal::from(150_000)), Decimal::from(160_000))
        );
        // The same loss from the peak as before the change: no more.
        assert_eq!(g.mark(3, Decimal::from(158_000), RiskLevel::Normal), None);
    }

    #[test]
    fn the_reconciled_close_starts_the_next_day_so_an_opening_gap_counts() {
        let mut g = EngineGuard::new(GuardLimits::default());
        g.mark(3, Decimal::from(100_000), RiskLevel::Normal);
        // Reconciled after day 3's close: day 6 (Monday) starts at 100,000.
        assert!(g.start_day(6, Decimal::from(100_000)));
        assert!(!g.start_day(6, Decimal::from(1)), "taken once");
        assert!(!g.start_day(5, Decimal::from(1)), "never back");
        // Monday opens 4 % lower: the day's drawdown counts the gap (without
        // the reconciled start, the first mark of the day would be its start).
        let asked = g.mark(6, Decimal::from(96_000), RiskLevel::Normal);
        assert_eq!(
            asked.map(|(l, why)| (l, why.starts_with("day drawdown 4%"))),
            Some((RiskLevel::Warning, true))
        );
        // A guard that has already marked the day keeps its own start.
        let mut g = EngineGuard::new(GuardLimits::default());
        g.mark(6, Decimal::from(90_000), RiskLevel::Normal);
        assert!(!g.start_day(6, Decimal::from(100_000)));
        assert_eq!(g.marks().0, Some(Decimal::from(90_000)));
    }

    #[test]
    fn marks_survive_the_journal() {
        let mut g = EngineGuard::new(GuardLimits::default());
        let restore = |g: &mut EngineGuard, s: &str| match GuardMarks::decode(s) {
            Some(rec) => {
                g.restore(rec);
                true
            }
            None => false,
        };
        let fresh = g.record().encode();
        assert!(restore(&mut g, &fresh), "{fresh}");
        g.mark(3, Decimal::from(100_000), RiskLevel::Normal);
        g.mark(3, Decimal::from(96_000), RiskLevel::Normal);
        let s = g.record().encode();
        assert_eq!(s, "3:100000:100000:WARNING:0");
        let mut r = EngineGuard::new(GuardLimits::default());
        assert!(restore(&mut r, &s));
        assert_eq!(r.marks(), g.marks());
        assert_eq!(
            r.mark(3, Decimal::from(96_000), RiskLevel::Warning),
            None,
            "asked already"
        );
        let before = r.record();
        assert!(!restore(&mut r, "3:x:1:NORMAL:1"));
        assert!(!restore(&mut r, "nonsense"));
        assert_eq!(r.record(), before, "nothing changed");
    }
}
