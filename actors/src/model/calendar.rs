//! The trading calendar: each contract's session hours, the exchange holidays
//! and the early closes, read from `config/data/calendar.toml` (data, not code)
//! and checked whole: [`Calendar::parse`] names every mistake with its entry.
//!
//! Invariant: a New York day outside the calendar's `years` is closed, so a
//! calendar that has run out stops new positions instead of trading through
//! holidays it does not know.

use super::market::{civil_from_days, days_from_civil, weekday, KNOWN_SYMBOLS};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The calendar `commodore` is built with.
pub const EMBEDDED: &str = include_str!("../../../config/data/calendar.toml");
const EMBEDDED_NAME: &str = "config/data/calendar.toml";

/// The embedded calendar, parsed once. Its tests keep it valid.
pub fn calendar() -> &'static Calendar {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    CAL.get_or_init(|| {
        Calendar::parse(EMBEDDED)
            .unwrap_or_else(|errors| panic!("{EMBEDDED_NAME} is invalid: {}", errors.join("; ")))
    })
}

/// A checked calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    first_year: i64,
    last_year: i64,
    /// Open and close, minutes after New York midnight, by symbol.
    hours: BTreeMap<String, (u16, u16)>,
    /// New York day (days since the epoch) → name.
    holidays: BTreeMap<i64, String>,
    /// New York day → (close minute, symbols it applies to: all when empty, name).
    early: BTreeMap<i64, (u16, Vec<String>, String)>,
    /// By symbol: the listed delivery months (1 to 12, ascending) and the
    /// first notice day's business days before the delivery month.
    delivery: BTreeMap<String, (Vec<u8>, u16)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    years: [i64; 2],
    hours: BTreeMap<String, Hours>,
    #[serde(default)]
    holidays: Vec<Holiday>,
    #[serde(default)]
    early_closes: Vec<EarlyClose>,
    delivery: BTreeMap<String, Delivery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delivery {
    months: String,
    first_notice_business_days: u16,
}

/// The month codes of futures, January (`F`) to December (`Z`).
pub const MONTH_CODES: [char; 12] = ['F', 'G', 'H', 'J', 'K', 'M', 'N', 'Q', 'U', 'V', 'X', 'Z'];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hours {
    open: String,
    close: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    date: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EarlyClose {
    date: String,
    close: String,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    name: String,
}

/// `"HH:MM"` → minutes after midnight.
fn minute(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// `"YYYY-MM-DD"` → days since the epoch.
fn day(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let days = days_from_civil(y, m, d);
    // A date that does not exist (2026-02-30) comes back as another one.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

impl Calendar {
    /// Parses and checks a calendar file; `Err` lists every mistake.
    pub fn parse(text: &str) -> Result<Calendar, Vec<String>> {
        let f: File = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        let [first_year, last_year] = f.years;
        if !(1970..=2200).contains(&first_year) || first_year > last_year || last_year > 2200 {
            errors.push(format!(
                "years = [{first_year}, {last_year}]: must be two years from 1970 to 2200, the first not after the last"
            ));
        }
        let mut hours = BTreeMap::new();
        for (symbol, h) in &f.hours {
            if !KNOWN_SYMBOLS.contains(&symbol.as_str()) {
                errors.push(format!(
                    "hours.{symbol}: unknown contract (known: {})",
                    KNOWN_SYMBOLS.join(", ")
                ));
                continue;
            }
            match (minute(&h.open), minute(&h.close)) {
                (Some(o), Some(c)) if o < c => {
                    hours.insert(symbol.clone(), (o, c));
                }
                (Some(_), Some(_)) => errors.push(format!(
                    "hours.{symbol}: open {} is not before close {}",
                    h.open, h.close
                )),
                _ => errors.push(format!(
                    "hours.{symbol}: open {:?} and close {:?} must be \"HH:MM\" (New York time)",
                    h.open, h.close
                )),
            }
        }
        for s in KNOWN_SYMBOLS {
            if !f.hours.contains_key(*s) {
                errors.push(format!(
                    "hours.{s}: missing: every contract needs its session hours"
                ));
            }
        }
        let covered = |d: i64| {
            let (y, _, _) = civil_from_days(d);
            (first_year..=last_year).contains(&y)
        };
        let mut holidays = BTreeMap::new();
        for (i, h) in f.holidays.iter().enumerate() {
            let at = format!("holidays[{i}] ({})", h.date);
            match day(&h.date) {
                None => errors.push(format!("{at}: date must be an existing YYYY-MM-DD")),
                Some(d) if !covered(d) => {
                    errors.push(format!("{at}: outside years [{first_year}, {last_year}]"))
                }
                Some(d) if weekday(d) >= 5 => errors.push(format!(
                    "{at}: falls on a weekend; list the weekday it is observed on"
                )),
                Some(d) if holidays.contains_key(&d) => errors.push(format!("{at}: listed twice")),
                Some(_) if h.name.trim().is_empty() => {
                    errors.push(format!("{at}: name must not be empty"))
                }
                Some(d) => {
                    holidays.insert(d, h.name.clone());
                }
            }
        }
        let mut early = BTreeMap::new();
        for (i, e) in f.early_closes.iter().enumerate() {
            let at = format!("early_closes[{i}] ({})", e.date);
            let unknown: BTreeSet<&str> = e
                .symbols
                .iter()
                .map(String::as_str)
                .filter(|s| !KNOWN_SYMBOLS.contains(s))
                .collect();
            match (day(&e.date), minute(&e.close)) {
                (None, _) => errors.push(format!("{at}: date must be an existing YYYY-MM-DD")),
                (_, None) => errors.push(format!("{at}: close {:?} must be \"HH:MM\"", e.close)),
                (Some(d), _) if !covered(d) => {
                    errors.push(format!("{at}: outside years [{first_year}, {last_year}]"))
                }
                (Some(d), _) if holidays.contains_key(&d) || weekday(d) >= 5 => {
                    errors.push(format!("{at}: the market is closed all that day"))
                }
                (Some(d), _) if early.contains_key(&d) => {
                    errors.push(format!("{at}: listed twice"))
                }
                _ if !unknown.is_empty() => errors.push(format!(
                    "{at}: unknown contracts {unknown:?} (known: {})",
                    KNOWN_SYMBOLS.join(", ")
                )),
                (Some(d), Some(c)) => {
                    let applies: Vec<&String> = if e.symbols.is_empty() {
                        hours.keys().collect()
                    } else {
                        e.symbols.iter().collect()
                    };
                    let bad: Vec<&str> = applies
                        .iter()
                        .filter(|s| {
                            hours
                                .get(s.as_str())
                                .is_some_and(|&(o, cl)| c <= o || c >= cl)
                        })
                        .map(|s| s.as_str())
                        .collect();
                    if bad.is_empty() {
                        early.insert(d, (c, e.symbols.clone(), e.name.clone()));
                    } else {
                        errors.push(format!(
                            "{at}: close {} is not inside the session of {bad:?}",
                            e.close
                        ));
                    }
                }
            }
        }
        let mut delivery = BTreeMap::new();
        for (symbol, dl) in &f.delivery {
            let at = format!("delivery.{symbol}");
            if !KNOWN_SYMBOLS.contains(&symbol.as_str()) {
                errors.push(format!(
                    "{at}: unknown contract (known: {})",
                    KNOWN_SYMBOLS.join(", ")
                ));
                continue;
            }
            let months: Option<Vec<u8>> = dl
                .months
                .chars()
                .map(|c| {
                    MONTH_CODES
                        .iter()
                        .position(|m| *m == c)
                        .map(|i| i as u8 + 1)
                })
                .collect();
            match months {
                Some(m) if !m.is_empty() && m.windows(2).all(|w| w[0] < w[1]) => {
                    if !(1..=30).contains(&dl.first_notice_business_days) {
                        errors.push(format!(
                            "{at}: first_notice_business_days {} must be 1 to 30",
                            dl.first_notice_business_days
                        ));
                    } else {
                        delivery.insert(symbol.clone(), (m, dl.first_notice_business_days));
                    }
                }
                _ => errors.push(format!(
                    "{at}: months {:?} must be month codes (F G H J K M N Q U V X Z), in calendar order, each once",
                    dl.months
                )),
            }
        }
        for s in KNOWN_SYMBOLS {
            if !f.delivery.contains_key(*s) {
                errors.push(format!(
                    "delivery.{s}: missing: every contract needs its delivery months"
                ));
            }
        }
        if errors.is_empty() {
            Ok(Calendar {
                first_year,
                last_year,
                hours,
                holidays,
                early,
                delivery,
            })
        } else {
            Err(errors)
        }
    }

    /// The session of `symbol` on New York day `day`: (open, close) minutes,
    /// or why there is none.
    pub fn session(&self, symbol: &str, day: i64) -> Result<(u16, u16), String> {
        let (y, _, _) = civil_from_days(day);
        if y < self.first_year || y > self.last_year {
            return Err(format!(
                "{symbol} is treated as closed: the calendar does not cover {y} (update {EMBEDDED_NAME})"
            ));
        }
        let Some(&(open, close)) = self.hours.get(symbol) else {
            return Err(format!("{symbol} has no session hours in the calendar"));
        };
        if weekday(day) >= 5 {
            return Err(format!("{symbol} is closed at the weekend"));
        }
        if let Some(name) = self.holidays.get(&day) {
            return Err(format!("{symbol} is closed: {name}"));
        }
        match self.early.get(&day) {
            Some((c, symbols, _)) if symbols.is_empty() || symbols.iter().any(|s| s == symbol) => {
                Ok((open, *c))
            }
            _ => Ok((open, close)),
        }
    }

    /// The regular hours of `symbol` (open, close), if it has any.
    pub fn hours(&self, symbol: &str) -> Option<(u16, u16)> {
        self.hours.get(symbol).copied()
    }

    /// Whether `symbol` has a session on New York day `day` (a business day).
    pub fn trades(&self, symbol: &str, day: i64) -> bool {
        self.session(symbol, day).is_ok()
    }

    /// The first notice day (New York day) of `symbol`'s `month`; `None`
    /// when the contract does not list that month or the calendar does not
    /// cover the days it needs.
    pub fn first_notice_day(&self, symbol: &str, month: ContractMonth) -> Option<i64> {
        let (months, before) = self.delivery.get(symbol)?;
        if !months.contains(&month.month) {
            return None;
        }
        let first_of_month = days_from_civil(month.year, i64::from(month.month), 1);
        let first_business =
            (first_of_month..first_of_month + 10).find(|&d| self.trades(symbol, d))?;
        self.business_days_before(symbol, first_business, *before)
    }

    /// The New York day `n` business days of `symbol` before `day`.
    pub fn business_days_before(&self, symbol: &str, day: i64, n: u16) -> Option<i64> {
        let mut d = day;
        for _ in 0..n {
            d = (d - 15..d).rev().find(|&x| self.trades(symbol, x))?;
        }
        Some(d)
    }

    /// The day a position in `month` is rolled: `days_before` business days
    /// before its first notice day.
    pub fn roll_day(&self, symbol: &str, month: ContractMonth, days_before: u16) -> Option<i64> {
        let fnd = self.first_notice_day(symbol, month)?;
        self.business_days_before(symbol, fnd, days_before)
    }

    /// The month codes `symbol` lists (`HKNUZ`).
    pub fn months(&self, symbol: &str) -> Option<String> {
        let (months, _) = self.delivery.get(symbol)?;
        Some(
            months
                .iter()
                .map(|m| ContractMonth { year: 0, month: *m }.code())
                .collect(),
        )
    }

    /// The listed month of `symbol` after `month`.
    pub fn next_month(&self, symbol: &str, month: ContractMonth) -> Option<ContractMonth> {
        let (months, _) = self.delivery.get(symbol)?;
        match months.iter().find(|m| **m > month.month) {
            Some(&m) => Some(ContractMonth {
                year: month.year,
                month: m,
            }),
            None => Some(ContractMonth {
                year: month.year + 1,
                month: *months.first()?,
            }),
        }
    }

    /// The month `symbol` trades on New York day `day` (the front month):
    /// the first listed month from `day`'s own whose roll day is still to
    /// come (`day` before it). `None` past what the calendar covers.
    pub fn front_month(&self, symbol: &str, day: i64, days_before: u16) -> Option<ContractMonth> {
        let (months, _) = self.delivery.get(symbol)?;
        let (y, m, _) = civil_from_days(day);
        let mut cm = match months.iter().find(|x| i64::from(**x) >= m) {
            Some(&x) => ContractMonth { year: y, month: x },
            None => ContractMonth {
                year: y + 1,
                month: *months.first()?,
            },
        };
        for _ in 0..months.len() + 1 {
            if day < self.roll_day(symbol, cm, days_before)? {
                return Some(cm);
            }
            cm = self.next_month(symbol, cm)?;
        }
        None
    }

    /// The holiday on New York day `day`, if any.
    pub fn holiday(&self, day: i64) -> Option<&str> {
        self.holidays.get(&day).map(String::as_str)
    }
}

/// A delivery month of a futures contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContractMonth {
    pub year: i64,
    /// 1 to 12.
    pub month: u8,
}

impl ContractMonth {
    /// Its month code (`H` for March).
    pub fn code(self) -> char {
        MONTH_CODES[usize::from(self.month.clamp(1, 12)) - 1]
    }

    /// The contract's name on the exchange, `KCH26`.
    pub fn label(self, symbol: &str) -> String {
        format!("{symbol}{}{:02}", self.code(), self.year.rem_euclid(100))
    }

    /// Reads `KCH26` back: the symbol and the month (years 2000 to 2099).
    pub fn parse(label: &str) -> Option<(String, ContractMonth)> {
        if label.len() < 4 || !label.is_ascii() {
            return None;
        }
        let (rest, yy) = label.split_at(label.len() - 2);
        let (symbol, code) = rest.split_at(rest.len() - 1);
        let code = code.chars().next()?;
        let month = MONTH_CODES.iter().position(|c| *c == code)? as u8 + 1;
        let yy: i64 = yy
            .parse()
            .ok()
            .filter(|_| yy.bytes().all(|b| b.is_ascii_digit()))?;
        (!symbol.is_empty()).then(|| {
            (
                symbol.to_owned(),
                ContractMonth {
                    year: 2000 + yy,
                    month,
                },
            )
        })
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
