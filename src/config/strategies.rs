//! An engine's `strategies`, in either of two forms:
//!
//! ```toml
//! [[engines.strategies]]             # one table per strategy
//! name = "mr_fast"                   # its name in the journal, ids, the API
//! kind = "mean_reversion"            # news | momentum | mean_reversion | breakout
//! weight = 0.3                       # its share of the engine's capital
//! params = { window = 10, entry_z = 1.5 }
//! stop_loss = 0.01                   # stops, each optional: 1 % from the entry,
//! take_profit = 0.03                 # 3 % from the entry,
//! trailing_stop = 0.015              # 1.5 % from the best close since,
//! max_hold = "4h"                    # held 4 hours of market time
//! order = "limit"                    # its entries: "market" (the default) or
//! limit_offset_ticks = 2             # a limit 2 ticks better than the close,
//! limit_expiry = "30m"               # good for 30 minutes of market time
//!
//! strategies = { news = 0.5, momentum = 0.5 }   # the first round's form:
//!                                               # name = kind, default params
//! ```
//!
//! `kind` left out is the name (`name = "breakout"` alone is a breakout);
//! `params` left out take the kind's defaults. Every entry is checked for
//! its kind (`model::Params`), names are taken once, and the weights add up
//! to at most 1 (the error names the total).

use super::decimals::as_number;
use super::durations::parse_duration;
use super::Invalid;
use commodore_actors::model::{check_set, Exits, Kind, OrderType, Params, Strategy, StrategySpec};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One `[[engines.strategies]]` entry as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// Empty: the name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(with = "as_number")]
    pub weight: Decimal,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
    /// Stops, each left out by default: fractions of the entry price (of
    /// the best close since, for the trailing stop) and a market-time
    /// duration (`"4h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_stop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hold: Option<String>,
    /// How its entries go: `market` (left out) or `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// A limit entry's price: this many ticks better than the decision's
    /// price (0, the default: at it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_offset_ticks: Option<u32>,
    /// How long a limit entry rests, in market time (`"30m"`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_expiry: Option<String>,
}

/// A limit entry rests this long when `limit_expiry` is left out.
pub const DEFAULT_LIMIT_EXPIRY_MS: u64 = 30 * 60_000;

impl Entry {
    /// A strategy of the kind `name`, weight 0, defaults, no stops.
    fn named(name: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            kind: String::new(),
            weight: Decimal::ZERO,
            params: BTreeMap::new(),
            stop_loss: None,
            take_profit: None,
            trailing_stop: None,
            max_hold: None,
            order: None,
            limit_offset_ticks: None,
            limit_expiry: None,
        }
    }

    /// Its order type, checked.
    fn order_type(&self) -> Result<OrderType, String> {
        let limit = match self.order.as_deref() {
            None | Some("market") => false,
            Some("limit") => true,
            Some(other) => return Err(format!("order is {other:?}: use \"market\" or \"limit\"")),
        };
        if !limit {
            if self.limit_offset_ticks.is_some() || self.limit_expiry.is_some() {
                return Err(
                    "limit_offset_ticks and limit_expiry apply to limit orders: set order = \"limit\", or remove them"
                        .into(),
                );
            }
            return Ok(OrderType::Market);
        }
        let offset_ticks = self.limit_offset_ticks.unwrap_or(0);
        if offset_ticks > 1000 {
            return Err(format!(
                "limit_offset_ticks is {offset_ticks}: use at most 1000 ticks"
            ));
        }
        let expiry_ms = match self.limit_expiry.as_deref() {
            None => DEFAULT_LIMIT_EXPIRY_MS,
            Some(d) => parse_duration(d)
                .map_err(|why| format!("limit_expiry: {why}"))?
                .as_millis() as u64,
        };
        if expiry_ms == 0 || expiry_ms > 7 * 86_400_000 {
            return Err(format!(
                "limit_expiry is {:?}: use a market-time duration above 0 and at most 7 days, like \"30m\"",
                self.limit_expiry.as_deref().unwrap_or_default()
            ));
        }
        Ok(OrderType::Limit {
            offset_ticks,
            expiry_ms,
        })
    }

    /// Its stops, checked.
    fn exits(&self) -> Result<Exits, String> {
        // The number as written (the shortest form of the f64 the loader
        // gives), never its binary value.
        let frac = |name: &str, v: Option<f64>| -> Result<Option<Decimal>, String> {
            v.map(|x| {
                Decimal::from_str(&x.to_string())
                    .map_err(|_| format!("{name} is {x}: use a fraction like 0.02 (2 %)"))
            })
            .transpose()
        };
        let exits = Exits {
            stop_loss: frac("stop_loss", self.stop_loss)?,
            take_profit: frac("take_profit", self.take_profit)?,
            trailing_stop: frac("trailing_stop", self.trailing_stop)?,
            max_hold_ms: self
                .max_hold
                .as_deref()
                .map(|d| parse_duration(d).map(|d| d.as_millis() as u64))
                .transpose()
                .map_err(|why| format!("max_hold: {why}"))?,
        };
        exits.check()?;
        Ok(exits)
    }

    fn kind(&self) -> &str {
        if self.kind.is_empty() {
            &self.name
        } else {
            &self.kind
        }
    }
}

/// An engine's strategies as written (either form), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies(pub Vec<Entry>);

impl Strategies {
    /// The first round's default: momentum and news, half each (in the
    /// order a table of weights reads: by name).
    pub fn default_pair() -> Strategies {
        let half = Decimal::new(5, 1);
        Strategies(
            ["momentum", "news"]
                .into_iter()
                .map(|n| Entry {
                    weight: half,
                    ..Entry::named(n)
                })
                .collect(),
        )
    }

    /// Every entry checked; the error names the engine, the strategy and
    /// what to do.
    pub fn specs(&self, engine: &str) -> Result<Vec<StrategySpec>, Invalid> {
        let mut specs = Vec::with_capacity(self.0.len());
        for e in &self.0 {
            let at = |what: String| format!("engine {engine:?}: strategy {:?}: {what}", e.name);
            let fail = |key: &str| {
                let key = format!("engines.strategies.{key}");
                move |why: String| (key, at(why))
            };
            let name = Strategy::parse(&e.name).map_err(fail("name"))?;
            let kind = Kind::parse(e.kind()).map_err(fail("kind"))?;
            let params = Params::new(kind, &e.params).map_err(fail("params"))?;
            let exits = e.exits().map_err(fail("exits"))?;
            let order = e.order_type().map_err(fail("order"))?;
            specs.push(StrategySpec {
                name,
                kind,
                weight: e.weight,
                params,
                exits,
                order,
            });
        }
        if specs.len() > MAX_STRATEGIES {
            return Err((
                "engines.strategies".into(),
                format!("engine {engine:?}: at most {MAX_STRATEGIES} strategies"),
            ));
        }
        check_set(&specs).map_err(|why| {
            (
                "engines.strategies.weight".to_owned(),
                format!("engine {engine:?}: {why}"),
            )
        })?;
        Ok(specs)
    }
}

/// More strategies than this on one engine is a mistake.
pub const MAX_STRATEGIES: usize = 16;

impl<'de> Deserialize<'de> for Strategies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strategies, D::Error> {
        struct Either;

        impl<'de> Visitor<'de> for Either {
            type Value = Strategies;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[[engines.strategies]] tables, or a table of weights by name")
            }

            /// `{ news = 0.5, momentum = 0.5 }`: names that are kinds.
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Strategies, A::Error> {
                #[derive(Deserialize)]
                #[serde(transparent)]
                struct Weight(#[serde(with = "as_number")] Decimal);
                let mut out = Vec::new();
                while let Some((name, Weight(weight))) = m.next_entry::<String, Weight>()? {
                    out.push(Entry {
                        weight,
                        ..Entry::named(&name)
                    });
                }
                // A table's keys come in no set order: by name, the same at
                // every load.
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(Strategies(out))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Strategies, A::Error> {
                Vec::<Entry>::deserialize(de::value::SeqAccessDeserializer::new(s)).map(Strategies)
            }
        }

        d.deserialize_any(Either)
    }
}

impl Serialize for Strategies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::over_defaults;
    use super::*;

    fn specs(toml: &str) -> Result<Vec<StrategySpec>, Invalid> {
        let c = over_defaults(toml);
        c.engines[0].strategies.specs("KC")
    }

    #[test]
    fn both_forms_read_and_kinds_default_to_names() {
        let s = specs("[[engines]]\nid = \"KC\"\nstrategies = { news = 0.25, momentum = 0.5 }\n")
            .unwrap();
        let got: Vec<(&str, Kind, String)> = s
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.weight.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("momentum", Kind::Momentum, "0.5".into()),
                ("news", Kind::News, "0.25".into())
            ]
        );
        let s = specs(
            "[[engines]]\nid = \"KC\"\n\
             [[engines.strategies]]\nname = \"mr_fast\"\nkind = \"mean_reversion\"\nweight = 0.3\nparams = { window = 10, entry_z = 1.5 }\n\
             [[engines.strategies]]\nname = \"breakout\"\nweight = 0.2\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].kind),
            ("mr_fast", Kind::MeanReversion)
        );
        assert_eq!(
            (s[0].params.count("window"), s[0].params.get("entry_z")),
            (10, 1.5)
        );
        assert_eq!(s[0].params.get("exit_z"), 0.5, "a default");
        assert_eq!(
            (s[1].kind, s[1].params.count("window")),
            (Kind::Breakout, 20)
        );
        assert_eq!(s[1].exits, Exits::default(), "no stops unless set");
        let s = specs(
            "[[engines]]\nid = \"KC\"\n[[engines.strategies]]\nname = \"breakout\"\nweight = 0.2\n\
             stop_loss = 0.01\ntrailing_stop = 0.015\nmax_hold = \"4h\"\n",
        )
        .unwrap();
        assert_eq!(
            s[0].exits,
            Exits {
                stop_loss: Some(Decimal::new(1, 2)),
                take_profit: None,
                trailing_stop: Some(Decimal::new(15, 3)),
                max_hold_ms: Some(4 * 3_600_000),
            }
        );
        assert_eq!(s[0].order, OrderType::Market, "market unless set");
        let s = specs(
            "[[engines]]\nid = \"KC\"\n[[engines.strategies]]\nname = \"breakout\"\nweight = 0.2\n\
             order = \"limit\"\nlimit_offset_ticks = 2\n\
             [[engines.strategies]]\nname = \"news\"\nweight = 0.2\norder = \"limit\"\nlimit_expiry = \"2h\"\n",
        )
        .unwrap();
        assert_eq!(
            (s[0].order, s[1].order),
            (
                OrderType::Limit {
                    offset_ticks: 2,
                    expiry_ms: DEFAULT_LIMIT_EXPIRY_MS
                },
                OrderType::Limit {
                    offset_ticks: 0,
                    expiry_ms: 2 * 3_600_000
                }
            )
        );
    }

    #[test]
    fn mistakes_name_the_engine_the_strategy_and_what_to_do() {
        let one = |body: &str| {
            specs(&format!(
                "[[engines]]\nid = \"KC\"\n[[engines.strategies]]\n{body}\n"
            ))
            .unwrap_err()
        };
        let (key, what) = one("name = \"mr\"\nkind = \"meanrev\"\nweight = 0.1");
        assert_eq!(key, "engines.strategies.kind");
        assert!(
            what.starts_with("engine \"KC\": strategy \"mr\": unknown strategy kind \"meanrev\""),
            "{what}"
        );
        let (key, what) =
            one("name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\nparams = { window = 3 }");
        assert_eq!(key, "engines.strategies.params");
        assert!(
            what.contains("mean_reversion's window is 3: use a whole number from 5 to 500"),
            "{what}"
        );
        let (key, what) =
            one("name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\nstop_loss = 2");
        assert_eq!(key, "engines.strategies.exits");
        assert!(
            what.ends_with("stop_loss is 2: use a fraction above 0 and at most 1 (0.02 is 2 %)"),
            "{what}"
        );
        let (_, what) =
            one("name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\nmax_hold = \"4 hours\"");
        assert!(
            what.contains("max_hold: \"4 hours\" has no known unit"),
            "{what}"
        );
        let (key, what) =
            one("name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\norder = \"stop\"");
        assert_eq!(key, "engines.strategies.order");
        assert!(
            what.ends_with("order is \"stop\": use \"market\" or \"limit\""),
            "{what}"
        );
        let (_, what) =
            one("name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\nlimit_expiry = \"1h\"");
        assert!(
            what.contains("set order = \"limit\", or remove them"),
            "{what}"
        );
        let (_, what) = one(
            "name = \"mr\"\nkind = \"mean_reversion\"\nweight = 0.1\norder = \"limit\"\nlimit_expiry = \"0s\"",
        );
        assert!(
            what.contains("limit_expiry is \"0s\": use a market-time duration above 0"),
            "{what}"
        );
        let (_, what) = one("name = \"roll\"\nkind = \"momentum\"\nweight = 0.1");
        assert!(what.contains("choose another name"), "{what}");
        let (key, what) =
            specs("[[engines]]\nid = \"KC\"\nstrategies = { news = 0.7, momentum = 0.6 }\n")
                .unwrap_err();
        assert_eq!(key, "engines.strategies.weight");
        assert_eq!(
            what,
            "engine \"KC\": the weights sum to 1.3, above 1: lower them so they add up to 1 at most"
        );
        let (_, what) =
            specs("[[engines]]\nid = \"KC\"\nstrategies = { carry = 0.5 }\n").unwrap_err();
        assert!(what.contains("unknown strategy kind \"carry\""), "{what}");
    }

    #[test]
    fn a_misspelt_key_of_an_entry_is_refused_by_the_loader() {
        let toml =
            "[[engines]]\nid = \"KC\"\n[[engines.strategies]]\nname = \"news\"\nwieght = 0.5\n";
        let e = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<super::super::Config>())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `wieght`"), "{e}");
    }

    #[test]
    fn a_tier_lists_kinds_or_names_an_engine_gives() {
        let with_tier = |list: &str| {
            over_defaults(&format!(
                "[[engines]]\nid = \"KC\"\n[[engines.strategies]]\nname = \"turtle\"\nkind = \"breakout\"\nweight = 0.5\n\
                 [mode]\ntiers = [{{ name = \"ONE\", threshold = \"0\", size_factor = 1.0, max_open_positions = 2, strategies = [{list}] }}]\n"
            ))
        };
        assert_eq!(
            with_tier("\"turtle\", \"news\"").tier_strategies_known(),
            Ok(())
        );
        let (_, what) = with_tier("\"news\"").tier_strategies_known().unwrap_err();
        assert!(
            what.contains(
                "strategy \"turtle\" (breakout) is in no mode tier, so it would never trade"
            ),
            "{what}"
        );
        let (key, what) = with_tier("\"turtle\", \"turtel\"")
            .tier_strategies_known()
            .unwrap_err();
        assert_eq!(key, "mode.tiers.strategies");
        assert!(
            what.starts_with("ONE's \"turtel\" is neither a strategy kind"),
            "{what}"
        );
    }
}
