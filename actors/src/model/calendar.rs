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
}

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
        if errors.is_empty() {
            Ok(Calendar {
                first_year,
                last_year,
                hours,
                holidays,
                early,
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

    /// The holiday on New York day `day`, if any.
    pub fn holiday(&self, day: i64) -> Option<&str> {
        self.holidays.get(&day).map(String::as_str)
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
