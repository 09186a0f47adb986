//! Strategies by name and by kind. A strategy's name is what the
//! configuration, the journal (`strategy` columns, client order ids, the
//! owner of each lot) and the API spell; its kind is which logic it runs
//! (`news`, `momentum`, `mean_reversion`, `breakout`) with which parameters.
//! An engine may run two strategies of one kind under two names. Its stops
//! ([`Exits`]) close its position whatever its logic says.
//!
//! Invariant: a name is 1 to 16 of `a-z 0-9 _`, starting with a letter, so it
//! never holds the `-` that separates a client order id's parts; `flatten`,
//! `roll` and `house` are the engine's own and never configured.

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt;

/// The longest name.
pub const MAX_NAME: usize = 16;

/// A strategy's name: small and `Copy` (it travels with every decision,
/// order and lot).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Strategy {
    /// The name, zero-padded (a name holds no zero byte, so the derived
    /// order is the names' order).
    bytes: [u8; MAX_NAME],
    len: u8,
}

impl Strategy {
    /// Headlines read by the analyzer (the default `news` strategy).
    pub const NEWS: Strategy = Strategy::named("news");
    /// The momentum of recent closes (the default `momentum` strategy).
    pub const MOMENTUM: Strategy = Strategy::named("momentum");
    /// The orders that close a position at PANIC or on an operator's
    /// flatten (never configured).
    pub const FLATTEN: Strategy = Strategy::named("flatten");
    /// The two legs that move a position from the front month to the next
    /// (never configured).
    pub const ROLL: Strategy = Strategy::named("roll");
    /// The owner of lots no strategy opened: lots carried by a build that
    /// did not record owners, or opened by a roll whose close leg the
    /// journal no longer holds (never configured).
    pub const HOUSE: Strategy = Strategy::named("house");

    /// The engine's own names.
    pub const RESERVED: [Strategy; 3] = [Strategy::FLATTEN, Strategy::ROLL, Strategy::HOUSE];

    /// A name known to be well formed (the constants above).
    const fn named(s: &str) -> Strategy {
        let b = s.as_bytes();
        let mut bytes = [0u8; MAX_NAME];
        let mut i = 0;
        while i < b.len() {
            bytes[i] = b[i];
            i += 1;
        }
        Strategy {
            bytes,
            len: b.len() as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Built only from checked ASCII: always valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// Any well-formed name, reserved ones included (what a journal or a
    /// client order id may hold).
    pub fn name(s: &str) -> Result<Strategy, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        if !ok {
            return Err(format!(
                "{s:?} is not a strategy name: 1 to {MAX_NAME} of a-z, 0-9 and _, starting with a letter"
            ));
        }
        Ok(Strategy::named(s))
    }

    /// A name a configuration may give a strategy: well formed, not one of
    /// the engine's own.
    pub fn parse(s: &str) -> Result<Strategy, String> {
        let name = Strategy::name(s)?;
        if Strategy::RESERVED.contains(&name) {
            return Err(format!(
                "{s:?} is the engine's own (flatten, roll and house are taken): choose another name"
            ));
        }
        Ok(name)
    }

    /// The strategy that placed client order `id` of engine `engine`
    /// (`<engine>-<strategy>-<seq>[-<month>]`); [`Strategy::HOUSE`] for an
    /// id that does not read so.
    pub fn of_order(engine: &str, id: &str) -> Strategy {
        id.strip_prefix(engine)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
            .and_then(|s| Strategy::name(s).ok())
            .unwrap_or(Strategy::HOUSE)
    }

    /// One of the engine's own (never a configured strategy).
    pub fn is_reserved(&self) -> bool {
        Strategy::RESERVED.contains(self)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The logic a strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Headlines as the analyzer read them (LLM or keywords): enter their way.
    News,
    /// The move over the last `window` closes, and the sentinel's alerts.
    Momentum,
    /// A close far from its `window` mean (in standard deviations) is
    /// expected back: enter against it, exit near the mean.
    MeanReversion,
    /// A close beyond the last `window` bars' range: enter its way; exit
    /// beyond the last `exit_window` bars' range the other way.
    Breakout,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::News,
        Kind::Momentum,
        Kind::MeanReversion,
        Kind::Breakout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::News => "news",
            Kind::Momentum => "momentum",
            Kind::MeanReversion => "mean_reversion",
            Kind::Breakout => "breakout",
        }
    }

    pub fn parse(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown strategy kind {s:?}: use news, momentum, mean_reversion or breakout"
                )
            })
    }

    /// It enters against the recent move by design (mean reversion): the
    /// validator, which vetoes a trade the tape contradicts, does not judge
    /// it.
    pub fn against_the_move(self) -> bool {
        self == Kind::MeanReversion
    }

    /// The parameters this kind takes: (name, default, lowest, highest,
    /// whole number).
    pub fn params(self) -> &'static [Param] {
        match self {
            Kind::News => NEWS_PARAMS,
            Kind::Momentum => MOMENTUM_PARAMS,
            Kind::MeanReversion => MEAN_REVERSION_PARAMS,
            Kind::Breakout => BREAKOUT_PARAMS,
        }
    }
}

const NEWS_PARAMS: &[Param] = &[Param::number("min_confidence", 0.0, 0.0, 1.0)];
const MOMENTUM_PARAMS: &[Param] = &[
    Param::whole("window", 15.0, 2.0, 500.0),
    Param::number("trigger", 0.003, 0.0001, 0.5),
    Param::whole("cooldown", 10.0, 0.0, 100_000.0),
];
const MEAN_REVERSION_PARAMS: &[Param] = &[
    Param::whole("window", 20.0, 5.0, 500.0),
    Param::number("entry_z", 2.0, 0.5, 10.0),
    Param::number("exit_z", 0.5, 0.0, 10.0),
];
const BREAKOUT_PARAMS: &[Param] = &[
    Param::whole("window", 20.0, 2.0, 500.0),
    Param::whole("exit_window", 10.0, 2.0, 500.0),
];

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parameter a kind takes, with its default and its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// A count (bars): a whole number.
    pub whole: bool,
}

impl Param {
    const fn number(name: &'static str, default: f64, min: f64, max: f64) -> Param {
        Param {
            name,
            default,
            min,
            max,
            whole: false,
        }
    }

    const fn whole(name: &'static str, default: f64, min: f64, max: f64) -> Param {
        Param {
            name,
            default,
            min,
            max,
            whole: true,
        }
    }
}

/// A strategy's parameters, each checked against its kind's range; the
/// ones left out take their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    values: BTreeMap<&'static str, f64>,
}

impl Params {
    /// `given` checked for `kind`: an unknown name, a value out of range or a
    /// fraction where a count is due is an error naming what to do.
    pub fn new(kind: Kind, given: &BTreeMap<String, f64>) -> Result<Params, String> {
        let known = kind.params();
        for name in given.keys() {
            if !known.iter().any(|p| p.name == name) {
                let names: Vec<&str> = known.iter().map(|p| p.name).collect();
                return Err(format!(
                    "{kind} takes no parameter {name:?}; it takes {}",
                    names.join(", ")
                ));
            }
        }
        let mut values = BTreeMap::new();
        for p in known {
            let v = given.get(p.name).copied().unwrap_or(p.default);
            if !v.is_finite() || v < p.min || v > p.max || (p.whole && v.fract() != 0.0) {
                let what = if p.whole {
                    "a whole number"
                } else {
                    "a number"
                };
                return Err(format!(
                    "{kind}'s {} is {v}: use {what} from {} to {}",
                    p.name, p.min, p.max
                ));
            }
            values.insert(p.name, v);
        }
        if kind == Kind::MeanReversion && values["exit_z"] >= values["entry_z"] {
            return Err(format!(
                "mean_reversion's exit_z ({}) must be below its entry_z ({})",
                values["exit_z"], values["entry_z"]
            ));
        }
        Ok(Params { values })
    }

    /// Every default of `kind`.
    pub fn defaults(kind: Kind) -> Params {
        Params {
            values: kind.params().iter().map(|p| (p.name, p.default)).collect(),
        }
    }

    /// The value of `name` (a parameter of this kind: checked at build).
    pub fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(f64::NAN)
    }

    /// A count parameter.
    pub fn count(&self, name: &str) -> usize {
        self.get(name).max(0.0) as usize
    }

    /// Every value, by name.
    pub fn values(&self) -> &BTreeMap<&'static str, f64> {
        &self.values
    }
}

/// One strategy of an engine, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySpec {
    pub name: Strategy,
    pub kind: Kind,
    /// Its share of the engine's capital, 0..=1.
    pub weight: Decimal,
    pub params: Params,
    /// Its stops: what closes its position whatever its logic says.
    pub exits: Exits,
    /// How its entries go to the market (its exits always go at market).
    pub order: OrderType,
}

/// How a strategy's entries go to the market.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderType {
    /// At the market.
    #[default]
    Market,
    /// A limit `offset_ticks` better than the decision's price (below it
    /// for a buy, above it for a sell), good for `expiry_ms` of market time.
    Limit { offset_ticks: u32, expiry_ms: u64 },
}

impl OrderType {
    /// The limit of an entry to `side` decided at `price` and `at_ms`;
    /// `None` for a market order.
    pub fn limit(
        &self,
        spec: &super::ContractSpec,
        side: super::Side,
        price: Decimal,
        at_ms: u64,
    ) -> Option<super::Limit> {
        match *self {
            OrderType::Market => None,
            OrderType::Limit {
                offset_ticks,
                expiry_ms,
            } => {
                let better = -i64::from(offset_ticks)
                    * match side {
                        super::Side::Buy => 1,
                        super::Side::Sell => -1,
                    };
                // On the tick (a price off it is rounded toward the market's
                // side: never better than asked).
                let on_tick = (price / spec.tick).round() * spec.tick;
                Some(super::Limit {
                    price: spec.ticks(on_tick, better).max(spec.tick),
                    expires_ms: at_ms.saturating_add(expiry_ms),
                })
            }
        }
    }
}

impl StrategySpec {
    /// A strategy named after its kind, with its kind's defaults and no
    /// stops.
    pub fn default_of(kind: Kind, weight: Decimal) -> StrategySpec {
        StrategySpec {
            name: Strategy::named(kind.as_str()),
            kind,
            weight,
            params: Params::defaults(kind),
            exits: Exits::default(),
            order: OrderType::Market,
        }
    }
}

/// A strategy's stops, each optional, checked at every bar of the front
/// month against its own position: the stop-loss and the take-profit as a
/// fraction of its average entry price, the trailing stop as a fraction of
/// the best close since it opened, the time stop as the market time since
/// its oldest lot opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exits {
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub trailing_stop: Option<Decimal>,
    pub max_hold_ms: Option<u64>,
}

/// A position as the stops judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// +1 long, −1 short.
    pub direction: i8,
    pub avg_price: Decimal,
    /// Market time its oldest lot opened.
    pub since_ms: u64,
    /// The best close since it opened (the highest for a long).
    pub best: Decimal,
}

impl Exits {
    /// Each set stop within its range: the error says which and what to do.
    pub fn check(&self) -> Result<(), String> {
        let frac = |name: &str, v: Option<Decimal>, max: Decimal| match v {
            Some(x) if x <= Decimal::ZERO || x > max => Err(format!(
                "{name} is {x}: use a fraction above 0 and at most {max} (0.02 is 2 %)"
            )),
            _ => Ok(()),
        };
        frac("stop_loss", self.stop_loss, Decimal::ONE)?;
        frac("take_profit", self.take_profit, Decimal::from(10))?;
        frac("trailing_stop", self.trailing_stop, Decimal::ONE)?;
        match self.max_hold_ms {
            Some(ms) if !(60_000..=366 * 86_400_000).contains(&ms) => {
                Err("max_hold must be from 1m to 366d".into())
            }
            _ => Ok(()),
        }
    }

    /// Whether `held` should go at `close`, market time `now_ms`, and why;
    /// the first stop that fires, in the order stop-loss, trailing stop,
    /// take-profit, time stop.
    pub fn fired(&self, held: &Held, close: Decimal, now_ms: u64) -> Option<String> {
        let long = held.direction > 0;
        let pct = |f: Decimal| (f * Decimal::ONE_HUNDRED).normalize();
        if let Some(f) = self.stop_loss {
            let level = if long {
                held.avg_price * (Decimal::ONE - f)
            } else {
                held.avg_price * (Decimal::ONE + f)
            };
            if (long && close <= level) || (!long && close >= level) {
                return Some(format!(
                    "stop-loss: {close} is {} % from the entry {}",
                    pct(f),
                    held.avg_price
                ));
            }
        }
        if let Some(f) = self.trailing_stop {
            let level = if long {
                held.best * (Decimal::ONE - f)
            } else {
                held.best * (Decimal::ONE + f)
            };
            if (long && close <= level) || (!long && close >= level) {
                return Some(format!(
                    "trailing stop: {close} is {} % from the best close {}",
                    pct(f),
                    held.best
                ));
            }
        }
        if let Some(f) = self.take_profit {
            let level = if long {
                held.avg_price * (Decimal::ONE + f)
            } else {
                held.avg_price * (Decimal::ONE - f)
            };
            if (long && close >= level) || (!long && close <= level) {
                return Some(format!(
                    "take-profit: {close} is {} % from the entry {}",
                    pct(f),
                    held.avg_price
                ));
            }
        }
        match self.max_hold_ms {
            Some(max) if now_ms.saturating_sub(held.since_ms) >= max => Some(format!(
                "time stop: held {} min, at most {}",
                now_ms.saturating_sub(held.since_ms) / 60_000,
                max / 60_000
            )),
            _ => None,
        }
    }
}

/// An engine's strategies together: names taken once, weights each 0..=1
/// and at most 1 in total (the error names the total).
pub fn check_set(specs: &[StrategySpec]) -> Result<(), String> {
    let mut total = Decimal::ZERO;
    for (i, s) in specs.iter().enumerate() {
        if specs[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("strategy {:?} is named twice", s.name.as_str()));
        }
        if !(Decimal::ZERO..=Decimal::ONE).contains(&s.weight) {
            return Err(format!(
                "the weight of {} is {}: use 0 to 1",
                s.name, s.weight
            ));
        }
        total += s.weight;
    }
    if total > Decimal::ONE {
        return Err(format!(
            "the weights sum to {}, above 1: lower them so they add up to 1 at most",
            total.normalize()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_the_engines_own_are_not_configurable() {
        assert_eq!(Strategy::parse("news"), Ok(Strategy::NEWS));
        assert_eq!(Strategy::parse("mr_fast2").unwrap().as_str(), "mr_fast2");
        for bad in ["", "News", "2fast", "a-b", "seventeen_letters"] {
            assert!(Strategy::parse(bad).is_err(), "{bad:?}");
        }
        for own in ["flatten", "roll", "house"] {
            let e = Strategy::parse(own).unwrap_err();
            assert!(e.contains("choose another name"), "{e}");
            assert!(Strategy::name(own).unwrap().is_reserved());
        }
        assert!(Strategy::MOMENTUM < Strategy::NEWS, "the names' order");
        assert_eq!(format!("{}", Strategy::ROLL), "roll");
    }

    #[test]
    fn the_strategy_of_an_order_reads_from_its_client_order_id() {
        assert_eq!(
            Strategy::of_order("KC", "KC-news-00000042-KCH26"),
            Strategy::NEWS
        );
        assert_eq!(Strategy::of_order("KC", "KC-roll-7"), Strategy::ROLL);
        assert_eq!(
            Strategy::of_order("KC-2", "KC-2-mr_fast-00000001-KCK26").as_str(),
            "mr_fast",
            "an engine id may hold a dash"
        );
        assert_eq!(Strategy::of_order("KC", "CC-news-1"), Strategy::HOUSE);
        assert_eq!(Strategy::of_order("KC", "KC-News-1"), Strategy::HOUSE);
    }

    #[test]
    fn params_take_defaults_and_refuse_what_their_kind_does_not_take() {
        let p = Params::new(Kind::Momentum, &[("window".into(), 30.0)].into()).unwrap();
        assert_eq!((p.count("window"), p.get("trigger")), (30, 0.003));
        let e = Params::new(Kind::Momentum, &[("windw".into(), 3.0)].into()).unwrap_err();
        assert_eq!(
            e,
            "momentum takes no parameter \"windw\"; it takes window, trigger, cooldown"
        );
        let e = Params::new(Kind::Breakout, &[("window".into(), 2.5)].into()).unwrap_err();
        assert_eq!(
            e,
            "breakout's window is 2.5: use a whole number from 2 to 500"
        );
        let e = Params::new(Kind::MeanReversion, &[("exit_z".into(), 3.0)].into()).unwrap_err();
        assert!(e.contains("below its entry_z (2)"), "{e}");
        assert_eq!(
            Params::new(Kind::News, &BTreeMap::new()).unwrap(),
            Params::defaults(Kind::News)
        );
        assert!(Kind::parse("meanreversion")
            .unwrap_err()
            .contains("mean_reversion"));
    }

    #[test]
    fn stops_fire_at_their_levels_worked_by_hand() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let exits = Exits {
            stop_loss: Some(d("0.01")),
            take_profit: Some(d("0.02")),
            trailing_stop: Some(d("0.005")),
            max_hold_ms: Some(3_600_000),
        };
        let long = Held {
            direction: 1,
            avg_price: d("300"),
            since_ms: 0,
            best: d("303"),
        };
        // Stop-loss at 300 × 0.99 = 297; trailing at 303 × 0.995 = 301.485;
        // take-profit at 300 × 1.02 = 306.
        assert_eq!(exits.fired(&long, d("302"), 60_000), None);
        assert_eq!(
            exits.fired(&long, d("301.48"), 60_000).unwrap(),
            "trailing stop: 301.48 is 0.5 % from the best close 303"
        );
        assert!(exits
            .fired(&long, d("297"), 60_000)
            .unwrap()
            .starts_with("stop-loss: 297 is 1 %"));
        let high = Held {
            best: d("306"),
            ..long
        };
        assert!(exits
            .fired(&high, d("306"), 60_000)
            .unwrap()
            .starts_with("take-profit"));
        assert_eq!(
            exits.fired(&long, d("302"), 3_600_000).unwrap(),
            "time stop: held 60 min, at most 60"
        );
        // A short mirrors it: stop-loss at 303, take-profit at 294.
        let short = Held {
            direction: -1,
            avg_price: d("300"),
            since_ms: 0,
            best: d("299"),
        };
        let none = Exits {
            trailing_stop: None,
            ..exits
        };
        assert_eq!(none.fired(&short, d("302.99"), 0), None);
        assert!(none
            .fired(&short, d("303"), 0)
            .unwrap()
            .starts_with("stop-loss"));
        assert!(none
            .fired(&short, d("294"), 0)
            .unwrap()
            .starts_with("take-profit"));
        assert_eq!(Exits::default().fired(&short, d("1000"), u64::MAX), None);
        assert!(Exits {
            stop_loss: Some(d("0")),
            ..Exits::default()
        }
        .check()
        .is_err());
        assert!(Exits {
            max_hold_ms: Some(1_000),
            ..Exits::default()
        }
        .check()
        .is_err());
        assert_eq!(exits.check(), Ok(()));
    }

    #[test]
    fn a_set_names_each_strategy_once_and_weighs_at_most_one() {
        let w = |s: &str| s.parse::<Decimal>().unwrap();
        let news = StrategySpec::default_of(Kind::News, w("0.5"));
        let mom = StrategySpec::default_of(Kind::Momentum, w("0.5"));
        assert_eq!(check_set(&[news.clone(), mom.clone()]), Ok(()));
        let heavy = StrategySpec {
            weight: w("0.7"),
            ..mom.clone()
        };
        assert_eq!(
            check_set(&[news.clone(), heavy]).unwrap_err(),
            "the weights sum to 1.2, above 1: lower them so they add up to 1 at most"
        );
        assert!(check_set(&[news.clone(), news])
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn a_limit_entry_rests_its_offset_better_than_the_close_on_the_tick() {
        let kc = crate::model::contract("KC").unwrap();
        let p: Decimal = "300.02".parse().unwrap();
        let t = OrderType::Limit {
            offset_ticks: 2,
            expiry_ms: 1_800_000,
        };
        let buy = t.limit(&kc, crate::model::Side::Buy, p, 1_000).unwrap();
        assert_eq!(
            (buy.price, buy.expires_ms),
            ("299.90".parse().unwrap(), 1_801_000)
        );
        let sell = t.limit(&kc, crate::model::Side::Sell, p, 1_000).unwrap();
        assert_eq!(sell.price, "300.10".parse::<Decimal>().unwrap());
        assert_eq!(
            OrderType::Market.limit(&kc, crate::model::Side::Buy, p, 0),
            None
        );
    }
}
