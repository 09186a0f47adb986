//! Configuration: the embedded `config/default.toml`, then each `--config FILE`,
//! then `COMMODORE__SECTION__KEY` environment variables. Typed and strict: an
//! unknown key is an error, so a typo never silently changes nothing.
//!
//! Every error names where it came from and what to do:
//! `error: <file>: <key>: <what is wrong>`. To know the file, each file is first
//! checked on its own over the (valid) defaults; whatever fails only once all
//! sources are merged comes from the environment.
//!
//! Layout: one file per section, each with its type(s) and its own `validate`;
//! `Config::validate` only runs them in order. Defaults: every key's default is
//! in `config/default.toml` (always loaded first, so a section type needs no
//! `Default` and no serde default), except the per-entry defaults of the arrays
//! of tables (`[[engines]]`, their `feeds`, `[[notifier.webhooks]]`), which an
//! operator's array would replace whole: those live in `entries.rs`, and only
//! there. A new key: its field in the section's file, its check in that file's
//! `validate`, its default (and comment) in `config/default.toml`.

mod broker;
mod control;
mod decimals;
pub mod diff;
mod durations;
mod engines;
mod entries;
mod flags;
mod journal;
mod llm;
mod log;
mod mode;
mod notifier;
mod pipeline;
mod reconcile;
mod risk;
mod roll;
mod secrets;
mod sentinels;
mod staleness;
mod strategies;
mod supervision;

pub use broker::{Breaker, Broker, BrokerKind};
pub use control::{Control, Faults};
pub use engines::{Engine, FeedKind};
pub use journal::Journal;
pub use llm::Llm;
pub use log::{Log, LogFormat};
pub use mode::Mode;
pub use notifier::{Notifier, WebhookKind};
pub use pipeline::{Feed, FeedSource, Pipeline};
pub use reconcile::Reconcile;
pub use risk::Risk;
pub use roll::Roll;
pub use sentinels::Sentinels;
pub use staleness::Staleness;
pub use supervision::{EngineSupervision, Supervision};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const DEFAULT_NAME: &str = "config/default.toml (embedded)";
const ENV_NAME: &str = "environment (COMMODORE__*)";

/// Field order is the order `check-config` prints.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub control: Control,
    pub log: Log,
    pub supervision: Supervision,
    pub engine_supervision: EngineSupervision,
    pub engines: Vec<Engine>,
    pub feed: Feed,
    pub pipeline: Pipeline,
    pub breaker: Breaker,
    pub risk: Risk,
    pub mode: Mode,
    pub notifier: Notifier,
    pub broker: Broker,
    pub faults: Faults,
    pub sentinels: Sentinels,
    pub staleness: Staleness,
    pub roll: Roll,
    pub reconcile: Reconcile,
    pub journal: Journal,
    pub llm: Llm,
}

/// A section's verdict on a value that parses but makes no sense: the key
/// (`section.key`) and what is wrong. `Config::validate` adds the origin.
pub type Invalid = (String, String);

fn invalid(key: &str, what: impl Into<String>) -> Result<(), Invalid> {
    Err((key.to_owned(), what.into()))
}

/// A configuration error, already worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(origin: &str, key: &str, what: impl fmt::Display) -> ConfigError {
    ConfigError(format!("error: {origin}: {key}: {what}"))
}

impl Config {
    /// Loads the defaults, then `files` in order, then the environment; the
    /// first error.
    pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
        Config::load_all(files).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Config::load`], with every error it finds (never empty on `Err`):
    /// one per file that does not read, one per section that does not
    /// validate (in each file, and once all sources are merged). A live
    /// reload answers with all of them at once.
    pub fn load_all(files: &[PathBuf]) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        // Each file on its own over the defaults: its errors are its own.
        for f in files {
            let name = f.display().to_string();
            if !f.is_file() {
                errors.push(error(
                    &name,
                    "-",
                    "the file does not exist or is not a file",
                ));
                continue;
            }
            match build(&[f.as_path()], false) {
                Ok(cfg) => errors.extend(cfg.invalid(&name)),
                Err(e) => errors.push(reword(e, &name)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let cfg = build(&refs, true).map_err(|e| vec![reword(e, ENV_NAME)])?;
        let origin = if files.is_empty() && !env_is_set() {
            DEFAULT_NAME
        } else {
            ENV_NAME
        };
        let errors = cfg.invalid(origin);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Every section's verdict, each failing section once.
    fn invalid(&self, origin: &str) -> Vec<ConfigError> {
        self.checks()
            .into_iter()
            .filter_map(Result::err)
            .map(|(key, what)| error(origin, &key, what))
            .collect()
    }

    /// Every section's own checks, in this order.
    fn checks(&self) -> Vec<Result<(), Invalid>> {
        vec![
            self.log.validate(),
            self.supervision.validate(),
            self.engine_supervision.validate(),
            engines::validate(&self.engines),
            self.feed.validate(),
            self.pipeline.validate(),
            self.llm.validate(),
            self.sentinels.validate(),
            self.staleness.validate(),
            self.roll.validate(),
            self.faults.validate(),
            self.reconcile.validate(),
            self.journal.validate(),
            self.broker.validate(),
            self.ib_engines(),
            self.breaker.validate(),
            self.risk.validate(),
            self.mode.validate(),
            self.tier_strategies_known(),
            self.notifier.validate(),
        ]
    }

    /// With IB, each engine has a connection of the pool, and trades a
    /// contract no other engine does: IB's positions are the account's, so
    /// two engines on one contract could not be told apart.
    fn ib_engines(&self) -> Result<(), Invalid> {
        if self.broker.kind != BrokerKind::Ib {
            if self.feed.source == FeedSource::Ib {
                // IB's bars only: the gateway's address, not an account.
                return self.broker.ib.validate_gateway();
            }
            return Ok(());
        }
        let most = self.broker.ib.max_connections;
        if self.engines.len() > most {
            return invalid(
                "broker.ib.max_connections",
                format!(
                    "is {most}, and there are {} engines: each engine needs its own IB connection; raise it (at most 32)",
                    self.engines.len()
                ),
            );
        }
        for (i, e) in self.engines.iter().enumerate() {
            if let Some(o) = self.engines[..i].iter().find(|o| o.symbol() == e.symbol()) {
                return invalid(
                    "engines",
                    format!(
                        "engines {:?} and {:?} both trade {}: with broker.kind = \"ib\" an account's positions in a contract are one, so give each contract one engine",
                        o.id,
                        e.id,
                        e.symbol()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Each tier's strategies are kinds, or names some engine gives a
    /// strategy: a typo must not silently disable nothing.
    fn tier_strategies_known(&self) -> Result<(), Invalid> {
        use commodore_actors::model::Kind;
        let named = |s: &str| {
            Kind::parse(s).is_ok()
                || self
                    .engines
                    .iter()
                    .any(|e| e.strategies.0.iter().any(|x| x.name == s))
        };
        // And each strategy is in a tier: one in none would never trade.
        for e in &self.engines {
            for s in &e.strategies.0 {
                let kind = if s.kind.is_empty() { &s.name } else { &s.kind };
                let listed =
                    |t: &mode::TierConfig| t.strategies.iter().any(|x| x == &s.name || x == kind);
                if !self.mode.tiers.iter().any(listed) {
                    return invalid(
                        "mode.tiers.strategies",
                        format!(
                            "engine {:?}: strategy {:?} ({kind}) is in no mode tier, so it would never trade: add {kind:?} or {:?} to a tier's strategies",
                            e.id, s.name, s.name
                        ),
                    );
                }
            }
        }
        for t in &self.mode.tiers {
            if let Some(s) = t.strategies.iter().find(|s| !named(s)) {
                return invalid(
                    "mode.tiers.strategies",
                    format!(
                        "{}'s {s:?} is neither a strategy kind (news, momentum, mean_reversion, breakout) nor the name of an engine's strategy",
                        t.name
                    ),
                );
            }
        }
        Ok(())
    }

    /// The resolved configuration as TOML, secrets redacted (`check-config`).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }
}

fn env_is_set() -> bool {
    std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("COMMODORE__"))
}

fn build(files: &[&Path], with_env: bool) -> Result<Config, config::ConfigError> {
    use config::{Environment, File, FileFormat};
    let mut b =
        config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
    for f in files {
        b = b.add_source(File::from(*f).format(FileFormat::Toml));
    }
    if with_env {
        b = b.add_source(
            Environment::with_prefix("COMMODORE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
    }
    b.build()?.try_deserialize()
}

/// Turns the `config` crate's error into `error: <origin>: <key>: <what>`.
fn reword(e: config::ConfigError, origin: &str) -> ConfigError {
    use config::ConfigError as E;
    match e {
        E::FileParse { cause, .. } => {
            // The crate's uri is a shortened path; ours is the path as given.
            let what = cause.to_string().lines().next().unwrap_or("").to_owned();
            error(origin, "-", format!("not valid TOML: {what}"))
        }
        E::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let key = dotted(&key.unwrap_or_else(|| "-".to_owned()));
            error(
                &origin_for(origin, &key),
                &key,
                format!("expected {expected}, found {unexpected}"),
            )
        }
        // The crate's origin is a shortened path; ours is the path as given.
        E::At {
            error: inner, key, ..
        } => {
            let what = match *inner {
                E::Message(m) => m,
                other => other.to_string(),
            };
            let (key, what) = unknown_key(&dotted(key.as_deref().unwrap_or("")), &what);
            error(&origin_for(origin, &key), &key, what)
        }
        E::Message(m) => {
            let (key, what) = unknown_key("", &m);
            error(origin, &key, what)
        }
        other => error(origin, "-", other),
    }
}

/// `engines[0]capital` (the `config` crate's spelling) → `engines[0].capital`.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut after_index = false;
    for c in key.chars() {
        if after_index && c != '.' && c != '[' {
            out.push('.');
        }
        after_index = c == ']';
        out.push(c);
    }
    out
}

/// For the environment, name the variable that holds `key`.
fn origin_for(origin: &str, key: &str) -> String {
    if origin == ENV_NAME && key != "-" {
        format!(
            "environment (COMMODORE__{})",
            key.to_uppercase().replace('.', "__")
        )
    } else {
        origin.to_owned()
    }
}

/// serde's "unknown field `x`, expected one of ..." → key `section.x` and a message
/// that says what to do.
fn unknown_key(section: &str, msg: &str) -> (String, String) {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let key = if section.is_empty() {
                field.to_owned()
            } else {
                format!("{section}.{field}")
            };
            let known = expected.trim_start_matches(", ").replace('`', "");
            return (key, format!("unknown key ({known})"));
        }
    }
    let key = if section.is_empty() {
        "-".to_owned()
    } else {
        section.to_owned()
    };
    (key, msg.to_owned())
}

/// The embedded defaults with `toml` over them, unchecked (for the sections'
/// unit tests).
#[cfg(test)]
fn over_defaults(toml: &str) -> Config {
    use config::{File, FileFormat};
    config::Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .add_source(File::from_str(toml, FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::kernel::Strategy;

    #[test]
    fn embedded_defaults_load_and_validate() {
        let c = build(&[], false).unwrap();
        assert_eq!(c.invalid(DEFAULT_NAME), Vec::<ConfigError>::new());
        assert_eq!(
            c.engines.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["KC", "CC"]
        );
        assert_eq!(c.engine_supervision().strategy, Strategy::RestForOne);
        assert_eq!(c.root_supervision().intensity.max_restarts, 10);
        assert_eq!(c.control.listen, "127.0.0.1:7421".parse().unwrap());
    }

    /// What IB needs, checked only when it is used: an account to trade at
    /// IB, the gateway alone for IB's bars; one engine per contract and a
    /// connection each.
    #[test]
    fn ib_is_checked_only_when_used_and_then_fully() {
        let keys = |toml: &str| -> Vec<String> {
            over_defaults(toml)
                .checks()
                .into_iter()
                .filter_map(Result::err)
                .map(|(k, _)| k)
                .collect()
        };
        // The defaults' empty account is fine on the paper broker.
        assert!(keys("").is_empty());
        assert_eq!(keys("[broker]\nkind = \"ib\""), ["broker.ib.account"]);
        let ok = "[broker]\nkind = \"ib\"\n[broker.ib]\naccount = \"DU1\"";
        assert!(keys(ok).is_empty());
        // IB's bars with the paper broker: no account, but a gateway.
        assert!(keys("[feed]\nsource = \"ib\"").is_empty());
        assert_eq!(
            keys("[feed]\nsource = \"ib\"\n[broker.ib]\nport = 0"),
            ["broker.ib.port"]
        );
        for (key, toml) in [
            ("broker.ib.messages_per_second", "messages_per_second = 51"),
            ("broker.ib.max_connections", "max_connections = 1"),
            ("broker.ib.backoff_min", "backoff_min = \"2m\""),
            ("broker.ib.heartbeat", "heartbeat = \"0s\""),
        ] {
            let got = keys(&format!("{ok}\n{toml}"));
            assert_eq!(got, [key], "{toml}");
        }
        let c = over_defaults(&format!("{ok}\nmax_connections = 1"));
        let (_, what) = c.ib_engines().unwrap_err();
        assert!(what.contains("there are 2 engines"), "{what}");
        let mut two = over_defaults(ok);
        two.engines[1] = two.engines[0].clone();
        two.engines[1].id = "KC2".into();
        let (key, what) = two.ib_engines().unwrap_err();
        assert_eq!(key, "engines");
        assert!(what.contains("both trade KC"), "{what}");
    }

    #[test]
    fn unknown_key_wording() {
        let (k, w) = unknown_key(
            "supervision",
            "unknown field `max_restartz`, expected one of `max_restarts`, `period`",
        );
        assert_eq!(k, "supervision.max_restartz");
        assert!(
            w.starts_with("unknown key (expected one of max_restarts, period"),
            "{w}"
        );
    }
}
