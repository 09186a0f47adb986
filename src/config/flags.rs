//! `true` or `false`, and nothing else: `#[serde(with = "flag")]` on a switch.
//! The `config` crate would read "yes", "on" or "1" as true; a switch that
//! turns fault injection on must be said plainly. An environment variable
//! (a string) may say `true` or `false`.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(E::custom(format!("{other:?} is not true or false"))),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Err(E::custom(format!("{v} is not true or false")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Err(E::custom(format!("{v} is not true or false")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
            Err(E::custom(format!("{v} is not true or false")))
        }
    }
    d.deserialize_any(Flag)
}

pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v)
}
