//! Fractions and percentages that the model keeps as `Decimal`, written in the
//! config as plain TOML numbers (`collar_pct = 2.0`, `up_margin = 0.10`).
//!
//! Invariant: the `Decimal` is exactly the number the operator wrote. The
//! `config` crate hands every number over as an `f64` (and reads `"0.1"`,
//! `"on"`, `true` or `3` as one, the way it does for any float key); its
//! shortest decimal form is the text written (up to 15 significant digits), so
//! that form is parsed, never the binary value. A number no `Decimal` can hold
//! (NaN, infinity, more than 28 digits) is refused. Printed back as a TOML
//! float, it reads as it was written.

/// `#[serde(with = "as_number")]` for a `Decimal` written as a TOML number.
pub(super) mod as_number {
    use rust_decimal::Decimal;
    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;
    use std::fmt;
    use std::str::FromStr;

    struct Number;

    impl Visitor<'_> for Number {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a floating point")
        }

        fn visit_f64<E: de::Error>(self, x: f64) -> Result<Decimal, E> {
            // `Display` of an f64 is its shortest round-trip form, never with
            // an exponent: what the operator wrote.
            Decimal::from_str(&x.to_string()).map_err(|_| {
                E::custom(format!(
                    "expected a decimal number of at most 28 digits, found floating point `{x:e}`"
                ))
            })
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        // Through `deserialize_f64`: the same inputs, and the same errors for
        // the wrong type, as a float key.
        d.deserialize_f64(Number)
    }

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        // The f64 nearest to the decimal prints as the decimal's own digits.
        let x = f64::from_str(&d.to_string()).map_err(serde::ser::Error::custom)?;
        s.serialize_f64(x)
    }
}

#[cfg(test)]
mod tests {
    use super::as_number;
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};
    use std::str::FromStr;

    #[derive(Deserialize, Serialize)]
    struct T {
        #[serde(with = "as_number")]
        x: Decimal,
    }

    fn read(toml: &str) -> Result<Decimal, String> {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<T>())
            .map(|t| t.x)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_are_read_as_written() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(read("x = 0.1").unwrap().to_string(), "0.1");
        assert_eq!(read("x = 0.03").unwrap().to_string(), "0.03");
        assert_eq!(read("x = 0.0300000001").unwrap(), d("0.0300000001"));
        assert_eq!(read("x = 3").unwrap(), d("3"));
        assert_eq!(read("x = \"2.5\"").unwrap(), d("2.5"));
        assert_eq!(read("x = true").unwrap(), Decimal::ONE);
        assert!(read("x = \"abc\"")
            .unwrap_err()
            .contains("expected a floating point"));
        for bad in ["nan", "inf", "1e300"] {
            let e = read(&format!("x = {bad}")).unwrap_err();
            assert!(e.contains("at most 28 digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn numbers_print_as_toml_floats() {
        for (text, printed) in [("0.1", "0.1"), ("2", "2.0"), ("0.0000001", "0.0000001")] {
            let t = T {
                x: Decimal::from_str(text).unwrap(),
            };
            assert_eq!(toml::to_string(&t).unwrap(), format!("x = {printed}\n"));
        }
    }
}
