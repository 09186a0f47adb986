//! What a reload changes: the keys whose values differ between two
//! configurations, and which of them only a restart can apply.
//!
//! Invariant: a diff names keys, never values, so a secret (a webhook's URL)
//! cannot leave through it; a changed secret is still a changed key.

use super::Config;
use toml::Value;

/// Keys (and key prefixes, ending in `.`) that only a restart applies: where
/// the daemon keeps its files, how it is reached and logs, how its tree is
/// supervised, its market clock, its broker connection, and the roll schedule
/// (which month every engine trades: not changed under a roll).
pub const RESTART_ONLY: &[&str] = &[
    "data_dir",
    "control.",
    "log.",
    "supervision.",
    "engine_supervision.",
    "feed.",
    "broker.",
    "faults.",
    "roll.",
];

/// Whether `key` needs a restart.
pub fn needs_restart(key: &str) -> bool {
    RESTART_ONLY
        .iter()
        .any(|k| key == k.trim_end_matches('.') || (k.ends_with('.') && key.starts_with(k)))
}

/// The keys that differ, in order: `section.key`; an engine's keys as
/// `engines.<id>.<key>`, a whole engine added or removed as `engines.<id>`;
/// other arrays (tiers, webhooks, correlations, feeds) as one key.
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (as_table(old), as_table(new));
    let mut out = Vec::new();
    walk("", &a, &b, &mut out);
    // Engines by id, not by place in the array.
    out.retain(|k| k != "engines");
    for e in &new.engines {
        match old.engines.iter().find(|o| o.id == e.id) {
            None => out.push(format!("engines.{}", e.id)),
            Some(o) => {
                let (x, y) = (engine_table(o), engine_table(e));
                walk(&format!("engines.{}", e.id), &x, &y, &mut out);
            }
        }
    }
    for o in &old.engines {
        if !new.engines.iter().any(|e| e.id == o.id) {
            out.push(format!("engines.{}", o.id));
        }
    }
    // A webhook's URL is a secret: serialized redacted, compared here.
    let urls = |c: &Config| -> Vec<Result<String, String>> {
        c.notifier.webhooks.iter().map(|w| w.url()).collect()
    };
    if urls(old) != urls(new) && !out.iter().any(|k| k == "notifier.webhooks") {
        out.push("notifier.webhooks".to_owned());
    }
    out.sort();
    out.dedup();
    out
}

fn as_table(c: &Config) -> toml::Table {
    Value::try_from(c)
        .ok()
        .and_then(|v| v.as_table().cloned())
        .unwrap_or_default()
}

/// An engine's keys as they take effect (`symbol` left empty is its id).
fn engine_table(e: &super::Engine) -> toml::Table {
    let mut t = Value::try_from(e)
        .ok()
        .and_then(|v| v.as_table().cloned())
        .unwrap_or_default();
    t.insert("symbol".into(), Value::String(e.symbol().to_owned()));
    t
}

fn walk(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    for (k, va) in a {
        match (va, b.get(k)) {
            (Value::Table(ta), Some(Value::Table(tb))) => walk(&key(k), ta, tb, out),
            (_, Some(vb)) if vb == va => {}
            _ => out.push(key(k)),
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Config {
        Config::load(&[]).unwrap()
    }

    #[test]
    fn a_diff_names_the_keys_that_changed_and_engines_by_id() {
        let old = defaults();
        assert!(changed_keys(&old, &old).is_empty());
        let mut new = old.clone();
        new.risk.max_order_qty = 3;
        new.engines[1].capital = "300000".parse().unwrap();
        new.engines.remove(0);
        let mut added = new.engines[0].clone();
        added.id = "KC2".into();
        new.engines.push(added);
        new.control.listen = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            changed_keys(&old, &new),
            [
                "control.listen",
                "engines.CC.capital",
                "engines.KC",
                "engines.KC2",
                "risk.max_order_qty"
            ]
        );
    }

    #[test]
    fn a_changed_webhook_url_is_a_key_never_a_value() {
        let old = defaults();
        let mut new = old.clone();
        new.notifier.webhooks.push(
            toml::from_str("kind = \"json\"\nurl = \"https://example.invalid/secret-a\"").unwrap(),
        );
        let mut newer = new.clone();
        newer.notifier.webhooks[0] =
            toml::from_str("kind = \"json\"\nurl = \"https://example.invalid/secret-b\"").unwrap();
        assert_eq!(changed_keys(&old, &new), ["notifier.webhooks"]);
        let keys = changed_keys(&new, &newer);
        assert_eq!(keys, ["notifier.webhooks"]);
        assert!(!format!("{keys:?}").contains("secret"));
    }

    #[test]
    fn restart_only_keys_are_named_by_section() {
        for k in [
            "data_dir",
            "control.listen",
            "log.level",
            "feed.speed",
            "broker.kind",
        ] {
            assert!(needs_restart(k), "{k}");
        }
        for k in [
            "risk.max_order_qty",
            "engines.KC.capital",
            "notifier.webhooks",
            "data_dirx",
        ] {
            assert!(!needs_restart(k), "{k}");
        }
    }
}
